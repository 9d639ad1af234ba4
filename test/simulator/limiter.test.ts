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
