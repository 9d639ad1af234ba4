/**
 * Serverless Framework variables (`${source:address, fallback}`), resolved the way the framework does at package
 * time, for the local Lambda service. Pure: the sources are arguments.
 *
 * Supported sources: `env:` (the environment), `self:` (a path into the same file), `sls:stage`, `opt:stage` /
 * `opt:region`, `aws:region` / `aws:accountId` (the local account), `ssm:` (a local parameter store: a map the caller
 * fills), `param:` (the file's `params.default`, then `params.<stage>`, then the caller's `--param`s). A fallback after the first comma is a quoted string, a number, or another variable. Anything else is left
 * unresolved (the value becomes '') and reported, so the caller can say what is missing instead of guessing.
 */

export interface VariableSources {
  env: Record<string, string | undefined>;
  stage: string;
  region: string;
  accountId: string;
  /** Local SSM Parameter Store: parameter name → value. */
  ssm: Record<string, string>;
  /** The whole parsed file, for `${self:a.b.c}`. */
  self: unknown;
  /** `${param:name}`: `params.default` and `params.<stage>` of the file, overridden by these (`--param name=value`). */
  params?: Record<string, unknown>;
}

export interface Resolution<T> {
  value: T;
  /** One entry per variable that could not be resolved (with no fallback), e.g. `ssm:/daemonless/dev/kube-token`. */
  unresolved: string[];
}

const MAX_DEPTH = 10;

/** Resolves every `${…}` in every string of a parsed YAML tree. */
export function resolveTree<T>(tree: T, sources: VariableSources): Resolution<T> {
  const unresolved: string[] = [];
  const walk = (node: unknown, depth: number): unknown => {
    if (typeof node === 'string') return resolveString(node, sources, unresolved, depth);
    if (Array.isArray(node)) return node.map((item) => walk(item, depth));
    if (node !== null && typeof node === 'object') {
      return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, walk(value, depth)]));
    }
    return node;
  };
  return { value: walk(tree, 0) as T, unresolved: [...new Set(unresolved)] };
}

/**
 * One string. A string that is exactly one variable keeps the type of what it resolves to (`${self:custom.n}` may be
 * a number or an object); variables inside a longer string are interpolated as text. Innermost variables resolve
 * first (`${ssm:/x/${sls:stage}/y}`).
 */
export function resolveString(input: string, sources: VariableSources, unresolved: string[] = [], depth = 0): unknown {
  if (depth > MAX_DEPTH) throw new Error(`variables nested deeper than ${MAX_DEPTH} levels in ${JSON.stringify(input)}`);
  let text = input;
  for (let guard = 0; guard < 100; guard += 1) {
    const inner = innermost(text);
    if (!inner) return text;
    const value = resolveExpression(inner.body, sources, unresolved, depth);
    if (inner.start === 0 && inner.end === text.length) return value;
    text = text.slice(0, inner.start) + stringify(value) + text.slice(inner.end);
  }
  throw new Error(`too many variables in ${JSON.stringify(input)}`);
}

/** The first `${…}` that contains no other `${`. */
function innermost(text: string): { start: number; end: number; body: string } | undefined {
  const open = /\$\{/g;
  let match: RegExpExecArray | null;
  while ((match = open.exec(text))) {
    const start = match.index;
    const close = text.indexOf('}', start + 2);
    if (close < 0) return undefined;
    const nextOpen = text.indexOf('${', start + 2);
    if (nextOpen < 0 || nextOpen > close) return { start, end: close + 1, body: text.slice(start + 2, close) };
  }
  return undefined;
}

function stringify(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined || value === null) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** `source:address, fallback` → value. */
function resolveExpression(body: string, sources: VariableSources, unresolved: string[], depth: number): unknown {
  const comma = splitFallback(body);
  const reference = comma.reference.trim();
  const found = lookup(reference, sources, depth, unresolved);
  if (found !== undefined) return found;
  if (comma.fallback !== undefined) return literal(comma.fallback.trim(), sources, unresolved, depth);
  unresolved.push(reference);
  return '';
}

function splitFallback(body: string): { reference: string; fallback?: string } {
  // The address may itself hold quotes (`self:custom['a,b']` is not supported): the first top-level comma splits.
  let quote: string | undefined;
  for (let i = 0; i < body.length; i += 1) {
    const c = body[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === ',') return { reference: body.slice(0, i), fallback: body.slice(i + 1) };
  }
  return { reference: body };
}

function literal(text: string, sources: VariableSources, unresolved: string[], depth: number): unknown {
  const quoted = /^'(.*)'$/s.exec(text) ?? /^"(.*)"$/s.exec(text);
  if (quoted) return quoted[1];
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  if (text === 'true' || text === 'false') return text === 'true';
  if (text === 'null') return null;
  // A bare reference as fallback: `${env:A, env:B}`.
  if (/^[a-zA-Z]+:/.test(text)) return resolveExpression(text, sources, unresolved, depth + 1);
  return text;
}

function lookup(reference: string, sources: VariableSources, depth: number, unresolved: string[]): unknown {
  const colon = reference.indexOf(':');
  if (colon < 0) return undefined;
  const source = reference.slice(0, colon);
  const address = reference.slice(colon + 1);
  switch (source) {
    case 'env': {
      const value = sources.env[address];
      return value === undefined ? undefined : value;
    }
    case 'sls':
      return address === 'stage' ? sources.stage : undefined;
    case 'opt':
      return address === 'stage' ? sources.stage : address === 'region' ? sources.region : undefined;
    case 'aws':
      return address === 'region' ? sources.region : address === 'accountId' ? sources.accountId : undefined;
    case 'ssm':
      return Object.hasOwn(sources.ssm, address) ? sources.ssm[address] : undefined;
    case 'param': {
      const self = sources.self as { params?: Record<string, Record<string, unknown> | undefined> } | undefined;
      const params = { ...self?.params?.['default'], ...self?.params?.[sources.stage], ...sources.params };
      if (!Object.hasOwn(params, address)) return undefined;
      const value = params[address];
      // A param's value may hold variables of its own (`/daemonless/${sls:stage}/bearer-token`).
      return typeof value === 'string' ? resolveString(value, sources, unresolved, depth + 1) : value;
    }
    case 'self': {
      let node: unknown = sources.self;
      for (const key of address.split('.').filter(Boolean)) {
        if (node === null || typeof node !== 'object') return undefined;
        node = (node as Record<string, unknown>)[key];
      }
      if (node === undefined) return undefined;
      // The referenced value may hold variables of its own.
      return typeof node === 'string' ? resolveString(node, sources, unresolved, depth + 1) : resolveTree(node, sources).value;
    }
    default:
      return undefined;
  }
}
