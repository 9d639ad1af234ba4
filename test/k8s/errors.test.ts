/**
 * How API answers map to typed errors (src/k8s/errors.ts). The Status bodies are the API server's own, as
 * kube-apiserver v1.37 answers them (captured with curl from the local control plane).
 */
import { describe, expect, it } from 'vitest';
import { ConflictError, NamespaceTerminatingError, NotFoundError, RejectedError, TransientError } from '../../src/errors.ts';
import { mapHttpError, mapNetworkError } from '../../src/k8s/errors.ts';

const status = (code: number, reason: string, message: string, details?: object) =>
  JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code });

// A create in a namespace being deleted (NamespaceLifecycle admission). StatusCause's type is "reason" in JSON.
const terminating = status(403, 'Forbidden', 'configmaps "e" is forbidden: unable to create new content in namespace tt because it is being terminated', {
  name: 'e',
  kind: 'configmaps',
  causes: [{ reason: 'NamespaceTerminating', message: 'namespace tt is being terminated', field: 'metadata.namespace' }],
});

describe('mapHttpError', () => {
  it.each([
    ['403 namespace being terminated', 403, terminating, NamespaceTerminatingError],
    ['403 any other refusal', 403, status(403, 'Forbidden', 'pods is forbidden: exceeded quota'), RejectedError],
    ['404', 404, status(404, 'NotFound', 'pods "p" not found'), NotFoundError],
    ['409 AlreadyExists', 409, status(409, 'AlreadyExists', 'pods "p" already exists'), ConflictError],
    ['422', 422, status(422, 'Invalid', 'Pod "p" is invalid'), RejectedError],
    ['429', 429, status(429, 'TooManyRequests', 'too many requests'), TransientError],
    ['500', 500, status(500, 'InternalError', 'etcd leader changed'), TransientError],
    ['410 (an expired continue token)', 410, status(410, 'Expired', 'continue token expired'), TransientError],
    ['a body that is not JSON', 502, 'Bad Gateway', TransientError],
  ])('%s', (_name, code, body, type) => {
    const error = mapHttpError(code, body, {}, 'create something');
    expect(error).toBeInstanceOf(type);
    if (type === RejectedError) expect(error).not.toBeInstanceOf(NamespaceTerminatingError);
  });

  it('AlreadyExists and Conflict are told apart; Retry-After is kept', () => {
    expect((mapHttpError(409, status(409, 'AlreadyExists', 'x'), {}, 'w') as ConflictError).reason).toBe('AlreadyExists');
    expect((mapHttpError(409, status(409, 'Conflict', 'x'), {}, 'w') as ConflictError).reason).toBe('Conflict');
    expect((mapHttpError(429, '', { 'retry-after': '3' }, 'w') as TransientError).retryAfterSeconds).toBe(3);
  });
});

/** undici's fetch rejects every network failure as `TypeError: fetch failed`; the reason is its cause (shapes as undici 8 gives them). */
const fetchFailed = (message: string, code: string) => new TypeError('fetch failed', { cause: Object.assign(new Error(message), { code }) });

describe('mapNetworkError', () => {
  it.each([
    // A wrong KUBE_CA_DATA, or an endpoint serving another certificate: the reason is all an operator has to go on.
    ['a certificate the CA does not vouch for', fetchFailed('self-signed certificate', 'DEPTH_ZERO_SELF_SIGNED_CERT'), false, 'list nodes: fetch failed: self-signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT)'],
    ['a refused connection', fetchFailed('connect ECONNREFUSED 10.0.0.1:443', 'ECONNREFUSED'), true, 'list nodes: fetch failed: connect ECONNREFUSED 10.0.0.1:443'],
    ['a name that does not resolve', fetchFailed('getaddrinfo ENOTFOUND api.example', 'ENOTFOUND'), true, 'list nodes: fetch failed: getaddrinfo ENOTFOUND api.example'],
    ['a timeout (the abort signal)', new DOMException('The operation was aborted due to timeout', 'TimeoutError'), true, 'list nodes: The operation was aborted due to timeout'],
  ])('%s: the message says why', (_name, error, transient, message) => {
    const mapped = mapNetworkError(error, 'list nodes');
    expect(mapped.message).toBe(message);
    expect(mapped instanceof TransientError).toBe(transient);
  });
});
