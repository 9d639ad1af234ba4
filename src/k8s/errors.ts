/**
 * Maps failures of API calls to the typed errors of src/errors.ts. The only place that knows ApiException.
 */
import { ApiException } from '@kubernetes/client-node';
import {
  ConflictError,
  DaemonlessError,
  NotFoundError,
  RejectedError,
  TransientError,
} from '../errors.ts';

interface StatusBody {
  reason?: string;
  message?: string;
}

function statusBody(body: unknown): StatusBody {
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as StatusBody;
    } catch {
      return { message: body.slice(0, 200) };
    }
  }
  return (body ?? {}) as StatusBody;
}

/** Node's network errors and aborted (timed-out) requests: worth a retry. */
function isNetworkError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'AbortError' || error.name === 'TimeoutError') return true;
  const code = (error as { code?: unknown }).code ?? (error.cause as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && /^(ECONN|ETIMEDOUT|EPIPE|EAI_AGAIN|UND_ERR|ENOTFOUND|EHOSTUNREACH)/.test(code);
}

export function mapApiError(error: unknown, what: string): DaemonlessError {
  if (error instanceof DaemonlessError) return error;
  if (error instanceof ApiException) {
    const code = error.code;
    const body = statusBody(error.body);
    const detail = `${what}: ${code}${body.reason ? ` ${body.reason}` : ''}${body.message ? `: ${body.message}` : ''}`;
    if (code === 404) return new NotFoundError(detail);
    if (code === 409) return new ConflictError(detail, body.reason === 'AlreadyExists' ? 'AlreadyExists' : 'Conflict');
    // 410 Gone on a list continue token or watch: the caller should start over, which a retry does.
    if (code === 410 || code === 429 || code >= 500) {
      const retryAfter = Number(error.headers?.['retry-after']);
      return new TransientError(detail, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined);
    }
    return new RejectedError(detail, code);
  }
  if (isNetworkError(error)) return new TransientError(`${what}: ${(error as Error).message}`);
  const wrapped = new DaemonlessError(`${what}: ${error instanceof Error ? error.message : String(error)}`);
  return wrapped;
}
