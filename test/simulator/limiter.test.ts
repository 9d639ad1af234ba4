import { describe, expect, it } from 'vitest';
import { createLimiter, mapLimit } from '../../devcluster/simulator/limiter.ts';

describe('createLimiter', () => {
  it('never runs more than the limit at once, and reports idle', async () => {
    const limiter = createLimiter(3);
    let active = 0;
    let peak = 0;
    const task = async () => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, 1));
      active--;
    };
    const all = Array.from({ length: 20 }, () => limiter.run(task));
    expect(limiter.pending).toBe(20);
    await limiter.idle();
    await Promise.all(all);
    expect(peak).toBe(3);
    expect(limiter.pending).toBe(0);
  });

  // One slot held by a blocker; what is queued behind it starts in the order recorded.
  const orderOf = async (queue: readonly { label: string; priority: number; at: number }[], promoteAfterMs?: number) => {
    let clock = 0;
    const limiter = createLimiter(1, { now: () => clock, ...(promoteAfterMs !== undefined ? { promoteAfterMs } : {}) });
    let release!: () => void;
    const blocker = limiter.run(() => new Promise<void>((r) => (release = r)));
    const order: string[] = [];
    const runs = queue.map(({ label, priority, at }) => {
      clock = at;
      return limiter.run(async () => void order.push(label), priority);
    });
    clock = 1_000;
    release();
    await Promise.all([blocker, ...runs]);
    return order;
  };

  it.each([
    {
      rule: 'lower priority number first, arrival order within one priority',
      queue: [
        { label: 'lease-1', priority: 2, at: 0 },
        { label: 'pod-1', priority: 1, at: 1 },
        { label: 'node-1', priority: 0, at: 2 },
        { label: 'pod-2', priority: 1, at: 3 },
        { label: 'lease-2', priority: 2, at: 4 },
      ],
      promoteAfterMs: undefined,
      expected: ['node-1', 'pod-1', 'pod-2', 'lease-1', 'lease-2'],
    },
    {
      rule: 'a task queued longer than promoteAfterMs goes first, then priorities again',
      queue: [
        { label: 'lease-old', priority: 2, at: 0 },
        { label: 'pod-1', priority: 1, at: 900 },
        { label: 'lease-new', priority: 2, at: 950 },
        { label: 'node-1', priority: 0, at: 990 },
      ],
      promoteAfterMs: 500,
      expected: ['lease-old', 'node-1', 'pod-1', 'lease-new'],
    },
    {
      rule: 'nothing waited long enough: plain priority order',
      queue: [
        { label: 'lease-1', priority: 2, at: 800 },
        { label: 'pod-1', priority: 1, at: 900 },
      ],
      promoteAfterMs: 500,
      expected: ['pod-1', 'lease-1'],
    },
  ])('$rule', async ({ queue, promoteAfterMs, expected }) => {
    expect(await orderOf(queue, promoteAfterMs)).toEqual(expected);
  });
});

describe('mapLimit', () => {
  it('keeps input order and surfaces the first failure after all settle', async () => {
    expect(await mapLimit([3, 1, 2], 2, async (n) => n * 2)).toEqual([6, 2, 4]);
    const seen: number[] = [];
    await expect(
      mapLimit([1, 2, 3], 1, async (n) => {
        seen.push(n);
        if (n === 2) throw new Error('boom');
        return n;
      }),
    ).rejects.toThrow('boom');
    expect(seen).toEqual([1, 2, 3]);
  });
});
