/**
 * createCalls' retries: transient failures are counted, and a request decided from a reconcile pass's view
 * (`fromView`: pod creates and deletes) is retried only while `mayRetryFromView` allows.
 */
import { describe, expect, it } from 'vitest';
import { TransientError } from '../../src/errors.ts';
import { createCalls } from '../../src/k8s/calls.ts';
import type { Request, Transport } from '../../src/k8s/transport.ts';

/** Fails the first `failures` sends transiently, then answers `{}`. */
function flaky(failures: number): Transport & { sent: number } {
  const t = {
    sent: 0,
    counter: { requests: 0 },
    async send<T>(_request: Request): Promise<T> {
      t.sent += 1;
      if (t.sent <= failures) throw new TransientError('connection reset');
      return {} as T;
    },
  };
  return t;
}

const timing = { deadline: Date.now() + 60_000, sleep: async () => undefined, random: () => 0 };
const create: Request = { method: 'POST', path: 'api/v1/namespaces/ns/pods', body: {}, what: 'create pod ns/p', fromView: true };

describe('createCalls', () => {
  it.each([
    ['a pod write, its view fresh: retried', create, true, 2, 'resolves'],
    ['a pod write, its view stale: not retried, the failure surfaces', create, false, 1, 'rejects'],
    ['a request not from a view (a Lease, a status): retried whatever the view', { ...create, fromView: false }, false, 2, 'resolves'],
  ] as const)('%s', async (_name, request, fresh, sends, outcome) => {
    const transport = flaky(1);
    const calls = createCalls(transport, { ...timing, mayRetryFromView: () => fresh });
    const result = calls.call(request);
    if (outcome === 'resolves') await expect(result).resolves.toEqual({});
    else await expect(result).rejects.toBeInstanceOf(TransientError);
    expect(transport.sent).toBe(sends);
    expect(calls.failures()).toBe(1);
  });
});
