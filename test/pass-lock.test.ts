/**
 * The pass-lock decorator (src/pass-lock.ts): waits, gives up with a transient error, always gives the lock back. The
 * lock itself is an in-memory holder here (the decorator's port); its API protocol runs against the real API server
 * in test/integration/least-privilege.test.ts and its requests are checked in test/k8s/rbac.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { TransientError } from '../src/errors.ts';
import type { HandleResult, HintHandler } from '../src/hints.ts';
import type { PassLock } from '../src/k8s/leases.ts';
import { createLogger } from '../src/log.ts';
import { withPassLock } from '../src/pass-lock.ts';

/** A lock held by at most one holder; `busyFor` attempts are refused first (another holder). */
function memoryLock(busyFor = 0, failRelease = false, renewals: boolean[] = []) {
  const state = { holder: null as string | null, attempts: 0, releases: 0, renewals: 0 };
  const lock: PassLock = {
    async tryAcquire(holder) {
      state.attempts++;
      if (state.attempts <= busyFor || state.holder !== null) return null;
      state.holder = holder;
      return {
        async renew() {
          state.renewals++;
          const ok = renewals.shift() ?? true;
          if (!ok) state.holder = 'taken over';
          return ok;
        },
        async release() {
          state.releases++;
          if (failRelease) throw new Error('connection reset');
          state.holder = null;
        },
      };
    },
  };
  return { lock, state };
}

const result: HandleResult = { hints: 1, created: 0, deleted: 0, apiRequests: 0 };
const log = createLogger('error');

/** A clock that only moves when the decorator sleeps. */
function clock() {
  let now = 0;
  return { now: () => now, sleep: async (ms: number) => void (now += ms) };
}

function locked(inner: HintHandler, lock: PassLock, waitMs = 3000, c = clock()) {
  let id = 0;
  return withPassLock(inner, { lock: () => lock, holdMs: 20_000, renewEveryMs: 5_000, every: () => () => {}, waitMs, now: c.now, sleep: c.sleep, newId: () => `h${++id}`, log });
}

describe('withPassLock', () => {
  it.each([
    { name: 'free: runs at once', busyFor: 0, waitMs: 3000, runs: true, attempts: 1, lockMs: 0 },
    { name: 'held for a while: waits (50, 100, 200 ms) and runs', busyFor: 3, waitMs: 3000, runs: true, attempts: 4, lockMs: 350 },
    { name: 'held longer than the wait: hands the hints back (transient), never runs', busyFor: 1000, waitMs: 3000, runs: false, attempts: 10, lockMs: 0 },
    { name: 'no wait allowed: one attempt', busyFor: 1, waitMs: 0, runs: false, attempts: 1, lockMs: 0 },
  ])('$name', async ({ busyFor, waitMs, runs, attempts, lockMs }) => {
    const { lock, state } = memoryLock(busyFor);
    let calls = 0;
    const handler = locked({ handle: async () => (calls++, result) }, lock, waitMs);
    if (runs) {
      // The result says how long the pass took to hold the lock (the clock moves only while it waits).
      await expect(handler.handle([{ kind: 'node', name: 'n1' }])).resolves.toEqual({ ...result, passLockMs: lockMs });
      expect(state.releases).toBe(1);
      expect(state.holder).toBeNull();
    } else {
      const error = await handler.handle([{ kind: 'node', name: 'n1' }]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TransientError);
      expect((error as TransientError).retryAfterSeconds).toBe(1);
    }
    expect(calls).toBe(runs ? 1 : 0);
    expect(state.attempts).toBe(attempts);
  });

  it.each([
    { name: 'the lock taken: the more hints join the pass (duplicates merged), asked for while the lock is held', busyFor: 0, asked: [false], passed: ['node/n1', 'node/n2'] },
    { name: 'the lock taken after waiting for it: asked for, saying it waited', busyFor: 2, asked: [true], passed: ['node/n1', 'node/n2'] },
    { name: 'the lock never taken: never asked for, the pass never runs', busyFor: 1000, asked: [], passed: null },
  ])('more hints (a drained backlog): $name', async ({ busyFor, asked, passed }) => {
    const { lock, state } = memoryLock(busyFor);
    let seen: string[] | null = null;
    const heldWhenAsked: (string | null)[] = [];
    const waited: boolean[] = [];
    const handler = locked({ handle: async (hints) => ((seen = hints.map((h) => (h.kind === 'node' ? `node/${h.name}` : h.kind))), result) }, lock);
    const more = async (context: { waited: boolean }) => {
      heldWhenAsked.push(state.holder);
      waited.push(context.waited);
      return [{ kind: 'node' as const, name: 'n1' }, { kind: 'node' as const, name: 'n2' }];
    };
    await handler.handle([{ kind: 'node', name: 'n1' }], undefined, more).catch(() => undefined);
    expect(waited).toEqual(asked);
    expect(heldWhenAsked.every((h) => h !== null)).toBe(true);
    expect(seen).toEqual(passed);
  });

  it('hints that reads alone settle take no lock and run no pass; the others do', async () => {
    const { lock, state } = memoryLock();
    let passes = 0;
    const settledResult: HandleResult = { hints: 1, created: 0, deleted: 0, apiRequests: 2 };
    const inner: HintHandler = {
      handle: async () => (passes++, result),
      settleUnlocked: async (hints) => (hints[0]?.kind === 'node' && hints[0].created ? settledResult : undefined),
    };
    const handler = locked(inner, lock);
    await expect(handler.handle([{ kind: 'node', name: 'n1', created: true }])).resolves.toEqual(settledResult);
    expect({ attempts: state.attempts, passes }).toEqual({ attempts: 0, passes: 0 });
    await expect(handler.handle([{ kind: 'node', name: 'n1' }])).resolves.toEqual({ ...result, passLockMs: 0 });
    expect({ attempts: state.attempts, releases: state.releases, passes }).toEqual({ attempts: 1, releases: 1, passes: 1 });
  });

  it('gives the lock back when the pass fails, and the failure goes on', async () => {
    const { lock, state } = memoryLock();
    const handler = locked({ handle: async () => Promise.reject(new TransientError('apiserver 503')) }, lock);
    await expect(handler.handle([{ kind: 'resync' }])).rejects.toThrow('apiserver 503');
    expect(state.releases).toBe(1);
    expect(state.holder).toBeNull();
  });

  it('a lock not given back does not fail a pass that succeeded (it expires)', async () => {
    const { lock, state } = memoryLock(0, true);
    const handler = locked({ handle: async () => result }, lock);
    await expect(handler.handle([{ kind: 'resync' }])).resolves.toEqual({ ...result, passLockMs: 0 });
    expect(state.holder).not.toBeNull();
  });

  it('a pass longer than the renewal period renews the lock while it runs, and stops renewing after it', async () => {
    const { lock, state } = memoryLock();
    let tick: (() => void) | undefined;
    let stopped = false;
    const handler = withPassLock(
      {
        async handle() {
          tick!();
          // A tick while a renewal is still in flight is skipped: three ticks, the second at once.
          tick!();
          await new Promise((resolve) => setTimeout(resolve, 1));
          tick!();
          await new Promise((resolve) => setTimeout(resolve, 1));
          return result;
        },
      },
      { lock: () => lock, holdMs: 20_000, renewEveryMs: 5_000, every: (fn) => ((tick = fn), () => void (stopped = true)), waitMs: 0, now: () => 0, sleep: async () => {}, newId: () => 'h', log },
    );
    await handler.handle([{ kind: 'resync' }]);
    expect(state.renewals).toBe(2);
    expect(stopped).toBe(true);
    expect(state.releases).toBe(1);
  });

  it('a lock lost while the pass runs (expired, taken over) is not given back, and the pass is told to write no more', async () => {
    const { lock, state } = memoryLock(0, false, [false]);
    let tick: (() => void) | undefined;
    const seen: boolean[] = [];
    const handler = withPassLock(
      {
        async handle(_hints, signal) {
          seen.push(signal?.aborted ?? false);
          tick!();
          await new Promise((resolve) => setTimeout(resolve, 1));
          seen.push(signal?.aborted ?? false);
          tick!();
          return result;
        },
      },
      { lock: () => lock, holdMs: 20_000, renewEveryMs: 5_000, every: (fn) => ((tick = fn), () => {}), waitMs: 0, now: () => 0, sleep: async () => {}, newId: () => 'h', log },
    );
    await expect(handler.handle([{ kind: 'resync' }])).resolves.toEqual({ ...result, passLockMs: 0 });
    expect(state.renewals).toBe(1);
    expect(state.releases).toBe(0);
    expect(state.holder).toBe('taken over');
    expect(seen).toEqual([false, true]);
  });

  it('passes started together never overlap: each reads after the previous one wrote', async () => {
    const { lock } = memoryLock();
    let running = 0;
    let most = 0;
    const inner: HintHandler = {
      async handle() {
        most = Math.max(most, ++running);
        await new Promise((resolve) => setTimeout(resolve, 5));
        running--;
        return result;
      },
    };
    // Real time here: the passes really interleave.
    let id = 0;
    const handler = withPassLock(inner, {
      lock: () => lock,
      holdMs: 20_000,
      renewEveryMs: 5_000,
      waitMs: 5_000,
      now: Date.now,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      newId: () => `h${++id}`,
      log,
    });
    await Promise.all(Array.from({ length: 6 }, () => handler.handle([{ kind: 'node', name: 'n1' }])));
    expect(most).toBe(1);
  });
});
