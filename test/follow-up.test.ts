import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { withCoalescing, withInlineFollowUps, withTimers } from '../src/follow-up.ts';
import { mayWriteOnlyStatus, withPartialResult, type HandleResult, type Hint, type HintHandler } from '../src/hints.ts';
import { RejectedError, TransientError } from '../src/errors.ts';
import { silentLogger } from '../src/log.ts';

const ds: Hint = { kind: 'daemonSet', namespace: 'ns', name: 'agent' };
const node: Hint = { kind: 'node', name: 'n0' };

/** A handler recording its calls: node hints ask for the DaemonSet follow-up; a follow-up takes `passMs`. */
function recording(passMs = 0, extra: Partial<HandleResult> = {}) {
  const calls: string[][] = [];
  const inner: HintHandler = {
    async handle(hints) {
      calls.push(hints.map((h) => (h.kind === 'node' ? `node/${h.name}` : h.kind === 'daemonSet' ? `ds/${h.name}` : 'resync')));
      if (hints[0]?.kind === 'daemonSet' && passMs > 0) await new Promise((r) => setTimeout(r, passMs));
      const base: HandleResult = { hints: hints.length, created: 0, deleted: 0, apiRequests: 1 };
      return hints[0]?.kind === 'node' ? { ...base, followUp: [ds], ...extra } : base;
    },
  };
  return { inner, calls };
}

describe('withTimers (long-lived server)', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('a burst of node events costs one follow-up pass, started within milliseconds', async () => {
    const { inner, calls } = recording();
    const handler = withTimers(inner, silentLogger, { followUpIntervalMs: 250 });
    for (let i = 0; i < 10; i++) await handler.handle([node]);
    await vi.advanceTimersByTimeAsync(25);
    expect(calls.filter((c) => c[0] === 'ds/agent')).toHaveLength(1);
  });

  it('asked again while a pass runs: one more pass after it, not before the interval', async () => {
    const { inner, calls } = recording(100);
    const handler = withTimers(inner, silentLogger, { followUpIntervalMs: 250 });
    await handler.handle([node]);
    await vi.advanceTimersByTimeAsync(30); // the first pass is running
    await handler.handle([node]);
    await handler.handle([node]);
    await vi.advanceTimersByTimeAsync(150);
    expect(calls.filter((c) => c[0] === 'ds/agent')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(200);
    expect(calls.filter((c) => c[0] === 'ds/agent')).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(calls.filter((c) => c[0] === 'ds/agent')).toHaveLength(2);
  });

  it('a follow-up is dropped when a pass of its DaemonSet started after it was asked for (one status pass per join)', async () => {
    const { inner, calls } = recording();
    const handler = withTimers(inner, silentLogger, { followUpIntervalMs: 250, followUpDelayMs: 1_000 });
    await handler.handle([node]); // asks for ds/agent in 1 s
    await vi.advanceTimersByTimeAsync(300);
    await handler.handle([ds]); // the new pod's own event, delivered
    await vi.advanceTimersByTimeAsync(2_000);
    expect(calls.filter((c) => c[0] === 'ds/agent')).toHaveLength(1);
  });

  // Asks merge into the pending follow-up: a pass covers it only when it started after the last of them.
  it('a pass that started between two asks covers the first only: the follow-up still runs', async () => {
    const { inner, calls } = recording();
    const handler = withTimers(inner, silentLogger, { followUpIntervalMs: 250, followUpDelayMs: 1_000 });
    await handler.handle([node]); // asks for ds/agent in 1 s
    await vi.advanceTimersByTimeAsync(300);
    await handler.handle([ds]); // a pass of the DaemonSet, delivered: it read after the first ask
    await vi.advanceTimersByTimeAsync(100);
    await handler.handle([node]); // asks again: a change after that pass read
    await vi.advanceTimersByTimeAsync(2_000);
    expect(calls.filter((c) => c[0] === 'ds/agent')).toHaveLength(2);
  });

  it('a pass that started before the ask does not cover it', async () => {
    const { inner, calls } = recording(100);
    const handler = withTimers(inner, silentLogger, { followUpIntervalMs: 250, followUpDelayMs: 1_000 });
    const delivered = handler.handle([ds]); // runs for 100 ms
    await vi.advanceTimersByTimeAsync(10);
    await handler.handle([node]); // asks while that pass runs: it may have read before the change
    await vi.advanceTimersByTimeAsync(200);
    await delivered;
    await vi.advanceTimersByTimeAsync(2_000);
    expect(calls.filter((c) => c[0] === 'ds/agent')).toHaveLength(2);
  });

  it('follow-ups asked while one is pending merge: one naming no pod keeps the pass reading the revisions', async () => {
    const seen: (readonly Hint[])[] = [];
    let asks: Hint[] = [];
    const inner: HintHandler = {
      async handle(hints) {
        seen.push(hints);
        const base: HandleResult = { hints: hints.length, created: 0, deleted: 0, apiRequests: 1 };
        return hints[0]?.kind === 'node' ? { ...base, followUp: asks } : base;
      },
    };
    const handler = withTimers(inner, silentLogger, { followUpIntervalMs: 250 });
    asks = [{ ...ds, pods: ['p1'] }];
    await handler.handle([node]);
    asks = [{ ...ds, pods: ['p2'] }];
    await handler.handle([{ kind: 'node', name: 'n1' }]);
    await vi.advanceTimersByTimeAsync(25);
    expect(seen.at(-1)).toEqual([{ ...ds, pods: ['p1', 'p2'] }]);
    asks = [{ ...ds, pods: ['p3'] }];
    await handler.handle([node]);
    asks = [{ ...ds, pods: [] }];
    await handler.handle([{ kind: 'node', name: 'n1' }]);
    await vi.advanceTimersByTimeAsync(300);
    expect(seen.at(-1)).toEqual([{ ...ds, pods: [] }]);
  });

  it("a re-queued join follow-up goes without its `after`: the status its own pass wrote does not cover it", async () => {
    const seen: Hint[][] = [];
    const inner: HintHandler = {
      async handle(hints) {
        seen.push([...hints]);
        return { hints: hints.length, created: 0, deleted: 0, apiRequests: 1, ...(seen.length === 1 ? { requeueAfterSeconds: 1 } : {}) };
      },
    };
    const handler = withTimers(inner, silentLogger, { followUpIntervalMs: 250 });
    await handler.handle([{ ...ds, pods: ['p1'], after: { nodes: '10', pods: '12' } }]);
    await vi.advanceTimersByTimeAsync(1_100);
    expect(seen).toEqual([[{ ...ds, pods: ['p1'], after: { nodes: '10', pods: '12' } }], [{ ...ds, pods: ['p1'] }]]);
  });

  it("a pass that fails on one DaemonSet: the others' follow-up and re-queue still run (hints.ts `withPartialResult`), and the call fails", async () => {
    const calls: string[] = [];
    const refused = new RejectedError('403 forbidden', 403);
    let first = true;
    const inner: HintHandler = {
      async handle(hints) {
        calls.push(hints.map((h) => (h.kind === 'node' ? `node/${h.name}` : h.kind === 'daemonSet' ? `ds/${h.name}` : 'resync')).join());
        if (first) {
          first = false;
          throw withPartialResult(refused, { hints: 1, created: 0, deleted: 0, apiRequests: 3, followUp: [ds], requeueAfterSeconds: 1 });
        }
        return { hints: hints.length, created: 0, deleted: 0, apiRequests: 1 };
      },
    };
    const handler = withTimers(inner, silentLogger, { followUpIntervalMs: 250 });
    await expect(handler.handle([node])).rejects.toBe(refused);
    await vi.advanceTimersByTimeAsync(1_100);
    expect(calls).toEqual(['node/n0', 'ds/agent', 'node/n0']);
  });

  it('re-queues the hints after a backoff, once', async () => {
    const { inner, calls } = recording(0, { requeueAfterSeconds: 1, followUp: [] });
    const handler = withTimers(inner, silentLogger, { followUpIntervalMs: 250 });
    await handler.handle([node]);
    await handler.handle([node]); // replaces the timer rather than adding one
    await vi.advanceTimersByTimeAsync(1_100);
    expect(calls.filter((c) => c[0] === 'node/n0')).toHaveLength(3);
  });
});

describe('withInlineFollowUps (Lambda)', () => {
  it('runs the follow-up in the same invocation and adds up the results', async () => {
    const { inner, calls } = recording();
    const result = await withInlineFollowUps(inner).handle([node]);
    expect(calls).toEqual([['node/n0'], ['ds/agent']]);
    expect(result).toEqual({ hints: 2, created: 0, deleted: 0, apiRequests: 2 });
  });
});

describe('withInlineFollowUps (Lambda), a failed pass', () => {
  it("runs the follow-ups the others asked for, then fails with the pass's error", async () => {
    const calls: string[] = [];
    const refused = new RejectedError('403 forbidden', 403);
    const inner: HintHandler = {
      async handle(hints) {
        calls.push(hints[0]?.kind ?? '');
        if (hints[0]?.kind === 'node') throw withPartialResult(refused, { hints: 1, created: 0, deleted: 0, apiRequests: 3, followUp: [ds] });
        throw new TransientError('the follow-up fails too');
      },
    };
    await expect(withInlineFollowUps(inner).handle([node])).rejects.toBe(refused);
    expect(calls).toEqual(['node', 'daemonSet']);
  });
});

describe('withCoalescing (long-lived server)', () => {
  it('at most `concurrency` reconciles at once; hints arriving meanwhile are merged into the next', async () => {
    const calls: number[] = [];
    let release: () => void = () => {};
    const inner: HintHandler = {
      async handle(hints) {
        calls.push(hints.length);
        if (calls.length === 1) await new Promise<void>((r) => (release = r));
        return { hints: hints.length, created: 0, deleted: 0, apiRequests: 1 };
      },
    };
    const handler = withCoalescing(inner, { concurrency: 1 });
    const first = handler.handle([node]);
    const others = [1, 2, 3, 4].map((i) => handler.handle([{ kind: 'node', name: `n${i}` }, node]));
    expect(calls).toEqual([1]);
    release();
    const results = await Promise.all([first, ...others]);
    // One more reconcile carrying the 4 callers' hints, deduplicated: n1..n4 and n0.
    expect(calls).toEqual([1, 5]);
    expect(results.slice(1).every((r) => r.hints === 5)).toBe(true);
  });

  it('hints merged into the next reconcile keep what each says: every pod name, and a creation only if all say so', async () => {
    const calls: Hint[][] = [];
    let release: () => void = () => {};
    const inner: HintHandler = {
      async handle(hints) {
        calls.push([...hints]);
        if (calls.length === 1) await new Promise<void>((r) => (release = r));
        return { hints: hints.length, created: 0, deleted: 0, apiRequests: 1 };
      },
    };
    const handler = withCoalescing(inner, { concurrency: 1 });
    const first = handler.handle([node]);
    const others = [
      handler.handle([{ ...ds, pods: ['p1'] }, { kind: 'node', name: 'n1' }]),
      handler.handle([{ ...ds, pods: ['p2'] }, { kind: 'node', name: 'n1', created: true }, { kind: 'node', name: 'n2', created: true }]),
    ];
    release();
    await Promise.all([first, ...others]);
    expect(calls[1]).toEqual([{ ...ds, pods: ['p1', 'p2'] }, { kind: 'node', name: 'n1' }, { kind: 'node', name: 'n2', created: true }]);
  });

  it('a failed reconcile fails every caller merged into it (each answers 503, each sender redelivers)', async () => {
    const inner: HintHandler = {
      async handle() {
        throw new Error('boom');
      },
    };
    const handler = withCoalescing(inner, { concurrency: 1 });
    const outcomes = await Promise.allSettled([handler.handle([node]), handler.handle([ds])]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
  });
});

describe('withCoalescing: status-only passes beside the others (`beside`)', () => {
  const podsReady: Hint = { ...ds, pods: ['p1'] };
  /** Each call held until released, in call order; `settles`: what settleUnlocked answers (undefined: refused). */
  function gated(settles: (hints: readonly Hint[]) => boolean) {
    const log: string[] = [];
    const gates: (() => void)[] = [];
    const hold = () => new Promise<void>((r) => gates.push(r));
    const result = (hints: readonly Hint[]): HandleResult => ({ hints: hints.length, created: 0, deleted: 0, apiRequests: 1 });
    const inner: HintHandler = {
      async settleUnlocked(hints) {
        log.push(`settle ${hints.map((h) => h.kind).join(',')}`);
        if (!settles(hints)) return undefined;
        await hold();
        return result(hints);
      },
      async handle(hints) {
        log.push(`pass ${hints.map((h) => h.kind).join(',')}`);
        await hold();
        return result(hints);
      },
    };
    const releaseAll = async () => {
      while (gates.length > 0) {
        gates.shift()?.();
        await new Promise((r) => setTimeout(r, 0));
      }
    };
    return { inner, log, releaseAll };
  }

  it('a node delivery starts its pass at once while a status-only pass runs beside it', async () => {
    const { inner, log, releaseAll } = gated(() => true);
    const handler = withCoalescing(inner, { concurrency: 1, beside: mayWriteOnlyStatus });
    const status = handler.handle([podsReady]);
    await Promise.resolve();
    const join = handler.handle([node]);
    await new Promise((r) => setTimeout(r, 0));
    // Without `beside`, the node's pass would wait for the status pass to end.
    expect(log).toEqual(['settle daemonSet', 'pass node']);
    await releaseAll();
    expect((await Promise.all([status, join])).map((r) => r.hints)).toEqual([1, 1]);
  });

  it('while an ordinary pass runs or waits, status-only hints merge into the next ordinary pass, as before', async () => {
    const { inner, log, releaseAll } = gated(() => true);
    const handler = withCoalescing(inner, { concurrency: 1, beside: mayWriteOnlyStatus });
    const first = handler.handle([node]);
    const merged = [handler.handle([{ kind: 'node', name: 'n1' }]), handler.handle([podsReady])];
    await releaseAll();
    await Promise.all([first, ...merged]);
    expect(log).toEqual(['pass node', 'pass node,daemonSet']);
  });

  it('one status-only pass at a time: those arriving meanwhile merge into the next one beside, leaving the ordinary lane free', async () => {
    const { inner, log, releaseAll } = gated(() => true);
    const handler = withCoalescing(inner, { concurrency: 1, beside: mayWriteOnlyStatus });
    const outcomes = [handler.handle([podsReady])];
    await Promise.resolve();
    outcomes.push(handler.handle([{ ...ds, name: 'other', pods: ['q1'] }]), handler.handle([{ ...ds, name: 'third', pods: ['r1'] }]));
    outcomes.push(handler.handle([node]));
    await new Promise((r) => setTimeout(r, 0));
    expect(log).toEqual(['settle daemonSet', 'pass node']);
    await releaseAll();
    const results = await Promise.all(outcomes);
    expect(log).toEqual(['settle daemonSet', 'pass node', 'settle daemonSet,daemonSet']);
    expect(results.map((r) => r.hints)).toEqual([1, 2, 2, 1]);
  });

  it('refused (the pass would write more than a status): the hints become an ordinary pass', async () => {
    const { inner, log, releaseAll } = gated(() => false);
    const handler = withCoalescing(inner, { concurrency: 1, beside: mayWriteOnlyStatus });
    const outcome = handler.handle([podsReady]);
    await releaseAll();
    await new Promise((r) => setTimeout(r, 0));
    await releaseAll();
    expect((await outcome).hints).toBe(1);
    expect(log).toEqual(['settle daemonSet', 'pass daemonSet']);
  });

  it.each([
    ['a DaemonSet hint naming no pods (the DaemonSet changed)', [ds]],
    ['naming more pods than a status-only pass takes', [{ ...ds, pods: ['p1', 'p2', 'p3', 'p4', 'p5'] }]],
    ['beside a node hint', [podsReady, node]],
  ] as [string, Hint[]][])('not tried beside: %s', async (_, hints) => {
    const { inner, log, releaseAll } = gated(() => true);
    const handler = withCoalescing(inner, { concurrency: 1, beside: mayWriteOnlyStatus });
    const outcome = handler.handle(hints);
    await releaseAll();
    await outcome;
    expect(log.every((l) => l.startsWith('pass'))).toBe(true);
  });
});
