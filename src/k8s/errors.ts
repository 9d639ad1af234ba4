/**
 * Maps failed API requests to the typed errors of src/errors.ts. The only place that reads HTTP status codes and
 * Kubernetes Status bodies.
 */
import { ConflictError, DaemonlessError, NamespaceTerminatingError, NotFoundError, RejectedError, TransientError } from '../errors.ts';

interface StatusBody {
  reason?: string;
  message?: string;
  /** StatusCause: its Go field `Type` is `reason` in JSON. */
  details?: { causes?: { reason?: string }[] };
}

function statusBody(text: string): StatusBody {
  try {
    const parsed = JSON.parse(text) as unknown;
    return typeof parsed === 'object' && parsed !== null ? (parsed as StatusBody) : {};
  } catch {
    return { message: text.slice(0, 200) };
  }
}

/** An answer with status ≥ 400: 404 NotFound, 409 Conflict/AlreadyExists, 410/429/5xx transient, other 4xx rejected. */
export function mapHttpError(status: number, text: string, headers: Record<string, string>, what: string): DaemonlessError {
  const body = statusBody(text);
  const detail = `${what}: ${status}${body.reason ? ` ${body.reason}` : ''}${body.message ? `: ${body.message}` : ''}`;
  if (status === 404) return new NotFoundError(detail);
  if (status === 409) return new ConflictError(detail, body.reason === 'AlreadyExists' ? 'AlreadyExists' : 'Conflict');
  // 410 Gone on a list continue token: the caller should start over, which a retry does.
  if (status === 410 || status === 429 || status >= 500) {
    const retryAfter = Number(headers['retry-after']);
    return new TransientError(detail, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined);
  }
  if (body.details?.causes?.some((c) => c.reason === 'NamespaceTerminating')) return new NamespaceTerminatingError(detail, status);
  return new RejectedError(detail, status);
}

/** Node's network errors and aborted (timed-out) requests are worth a retry; anything else is a plain error. */
export function mapNetworkError(error: unknown, what: string): DaemonlessError {
  if (error instanceof DaemonlessError) return error;
  if (isNetworkError(error)) return new TransientError(`${what}: ${describe(error)}`);
  return new DaemonlessError(`${what}: ${describe(error)}`);
}

/**
 * fetch rejects every network failure as `fetch failed`; the reason (a certificate the CA does not vouch for, a
 * refused connection, a name that does not resolve) is its cause's message and code, which name hosts, addresses and
 * certificates, never a header.
 */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause;
  if (!(cause instanceof Error)) return error.message;
  const code = (cause as { code?: unknown }).code;
  const reason = [cause.message, typeof code === 'string' && !cause.message.includes(code) ? `(${code})` : ''].filter((s) => s !== '').join(' ');
  return reason === '' ? error.message : `${error.message}: ${reason}`;
}

function isNetworkError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'AbortError' || error.name === 'TimeoutError') return true;
  const code = (error as { code?: unknown }).code ?? (error.cause as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && /^(ECONN|ETIMEDOUT|EPIPE|EAI_AGAIN|UND_ERR|ENOTFOUND|EHOSTUNREACH)/.test(code);
}
