/**
 * Typed errors. The k8s layer maps API failures to these; src/http maps them to HTTP status codes in one place.
 * Messages of errors with status < 500 are shown to the caller; 5xx messages are logged, never returned.
 */
export class DaemonlessError extends Error {
  override name = 'DaemonlessError';
  readonly status: number = 500;
}

/** The request is malformed: 400, naming the zod path and message. Nothing was written. */
export class BadRequestError extends DaemonlessError {
  override name = 'BadRequestError';
  override readonly status = 400;
}

export class UnauthorizedError extends DaemonlessError {
  override name = 'UnauthorizedError';
  override readonly status = 401;
}

export class PayloadTooLargeError extends DaemonlessError {
  override name = 'PayloadTooLargeError';
  override readonly status = 413;
}

/** The object is gone (404, 410 Gone on a precondition). Usually not an error for a reconciler. */
export class NotFoundError extends DaemonlessError {
  override name = 'NotFoundError';
  override readonly status = 404;
}

/** 409: AlreadyExists on create, or a failed precondition / resourceVersion conflict. */
export class ConflictError extends DaemonlessError {
  override name = 'ConflictError';
  override readonly status = 409;
  readonly reason: 'AlreadyExists' | 'Conflict';
  constructor(message: string, reason: 'AlreadyExists' | 'Conflict') {
    super(message);
    this.reason = reason;
  }
}

/** The API server refused for a reason that will not change on retry (403, 422, other 4xx). */
export class RejectedError extends DaemonlessError {
  override name = 'RejectedError';
  override readonly status = 502;
  readonly apiStatus: number;
  constructor(message: string, apiStatus: number) {
    super(message);
    this.apiStatus = apiStatus;
  }
}

/**
 * A create refused because its namespace is being deleted. Upstream's syncNodes ignores these (no Event, no error):
 * the namespace and everything in it is going away.
 */
export class NamespaceTerminatingError extends RejectedError {
  override name = 'NamespaceTerminatingError';
}

/**
 * Worth retrying: 429, 5xx, timeouts, connection errors. After the in-invocation retries the request answers 503 so
 * the sender redelivers (the audit webhook and Knative both retry on 5xx).
 */
export class TransientError extends DaemonlessError {
  override name = 'TransientError';
  override readonly status = 503;
  readonly retryAfterSeconds: number | undefined;
  constructor(message: string, retryAfterSeconds?: number) {
    super(message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/**
 * Work put off, not failed: the pass lock was held by another pass, or a pass spent its time budget after making
 * progress. Redelivered like a transient failure, but not counted as one (a queued message is not dead-lettered for
 * waiting its turn).
 */
export class DeferredError extends TransientError {
  override name = 'DeferredError';
}

export function isTransient(error: unknown): error is TransientError {
  return error instanceof TransientError;
}
