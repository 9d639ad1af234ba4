/**
 * Parsing at the edge: every failure becomes an `InvalidInputError` (400) naming the path of each problem inside the
 * request, e.g. `items.0.objectRef.name`, so the sender can tell which event of a batch was wrong.
 */
import type * as z from '../zod.ts';
import { BadRequestError } from '../errors.ts';

export interface InputIssue {
  /** Dotted path inside the request body (or `headers.ce-type` for a header); empty for the body itself. */
  path: string;
  message: string;
}

/** At most this many issues are kept, each path and message cut to `MAX_ISSUE_CHARS`: a 400 names the problem
 * without echoing a large input back (or into the log). */
export const MAX_ISSUES = 20;
export const MAX_ISSUE_CHARS = 256;

export class InvalidInputError extends BadRequestError {
  override name = 'InvalidInputError';
  readonly issues: InputIssue[];

  constructor(message: string, issues: InputIssue[]) {
    super(message);
    const kept = issues.slice(0, MAX_ISSUES).map((issue) => ({ path: shortened(issue.path), message: shortened(issue.message) }));
    if (issues.length > MAX_ISSUES) kept.push({ path: '', message: `${issues.length - MAX_ISSUES} more issues` });
    this.issues = kept;
  }
}

/** `text`, cut to `max` characters with an ellipsis. */
export function shortened(text: string, max = MAX_ISSUE_CHARS): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export type PathSegment = string | number;

export function issuesOf(error: z.core.$ZodError, prefix: readonly PathSegment[] = []): InputIssue[] {
  return error.issues.map((issue) => ({
    path: [...prefix, ...issue.path].map(String).join('.'),
    message: issue.message,
  }));
}

/** Parses `value` with `schema`, or throws an `InvalidInputError` whose paths start with `prefix`. */
export function parseAt<S extends z.ZodMiniType>(
  schema: S,
  value: unknown,
  prefix: readonly PathSegment[],
  what: string,
): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new InvalidInputError(`invalid ${what}`, issuesOf(result.error, prefix));
}

/** JSON.parse, with a 400 instead of a SyntaxError. */
export function parseJson(text: string, what: string, prefix: readonly PathSegment[] = []): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new InvalidInputError(`invalid ${what}: not JSON`, [{ path: prefix.map(String).join('.'), message }]);
  }
}
