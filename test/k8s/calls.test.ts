/**
 * createCalls' retries: transient failures are counted, and a request decided from a reconcile pass's view
 * (`fromView`: pod creates and deletes) is retried only while `mayRetryFromView` allows.
 */
import { describe, expect, it } from 'vitest';
import { TransientError } from '../../src/errors.ts';
import { COLLECT_ABOVE_HEAP_BYTES, collectBetweenPages, createCalls, listAll } from '../../src/k8s/calls.ts';
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

describe('listAll', () => {
  /** Answers `pages` pages of one item each, with continue tokens between them. */
  function paged(pages: number): Transport & { queries: Record<string, string | undefined>[] } {
    const t = {
      queries: [] as Record<string, string | undefined>[],
      counter: { requests: 0 },
      async send<T>(request: Request): Promise<T> {
        t.queries.push(request.query ?? {});
        const n = t.queries.length;
        return { items: [{ n, big: 'x' }], metadata: n < pages ? { continue: `c${n}` } : {} } as T;
      },
    };
    return t;
  }

  it.each([
    // Below COLLECT_ABOVE_HEAP_BYTES in use, no collection between pages (first: before any ballast).
    { pages: 3, large: false, collections: 0 },
    { pages: 1, large: true, collections: 0 },
    { pages: 3, large: true, collections: 2 },
  ])('follows continue tokens, projects every item, and collects garbage between pages where gc is exposed: $pages page(s), large heap $large', async ({ pages, large, collections }) => {
    // A heap in use above the threshold: 48 MB held until the list is done.
    const ballast = large ? Array.from({ length: 48 }, () => new Array<number>(128 * 1024).fill(1.5)) : [];
    if (large) expect(process.memoryUsage().heapUsed).toBeGreaterThan(COLLECT_ABOVE_HEAP_BYTES);
    if (!large) expect(process.memoryUsage().heapUsed).toBeLessThan(COLLECT_ABOVE_HEAP_BYTES);
    const transport = paged(pages);
    const calls = createCalls(transport, timing);
    let collected = 0;
    const g = globalThis as { gc?: () => void };
    const before = g.gc;
    g.gc = () => void (collected += 1);
    try {
      const items = await listAll<{ n: number; big?: string }>(transport, calls, { what: 'list nodes', path: 'api/v1/nodes', query: {} }, ({ n }) => ({ n }));
      expect(items).toEqual(Array.from({ length: pages }, (_, i) => ({ n: i + 1 })));
    } finally {
      if (before) g.gc = before;
      else delete g.gc;
    }
    expect(ballast.length).toBe(large ? 48 : 0);
    expect(collected).toBe(collections);
    expect(transport.queries.map((q) => q['continue'])).toEqual([undefined, ...Array.from({ length: pages - 1 }, (_, i) => `c${i + 1}`)]);
    expect(transport.queries.every((q) => q['limit'] === '500')).toBe(true);
  });
});

describe('collectBetweenPages: a full collection between pages only where the collector is exposed and the heap is large', () => {
  const MB = 1024 * 1024;
  it.each([
    ['collector exposed, heap above the threshold: collects', 33 * MB, true, true],
    ['collector exposed, heap below it (a 1,000-node list): does not', 31 * MB, true, false],
    ['no collector (the local server): does not', 500 * MB, false, false],
  ])('%s', (_name, heap, exposed, collects) => {
    let collections = 0;
    const gc = exposed ? () => void collections++ : null;
    expect(collectBetweenPages(() => heap, gc)).toBe(collects);
    expect(collections).toBe(collects ? 1 : 0);
  });
});
