/**
 * The intake's inline path (src/queue/inline.ts): node and pod changes reconciled in the intake function when no other
 * pass holds the pass lock, the DaemonSet-wide passes of pod changes rate-limited by the pass scheduler; otherwise, or
 * when the pass fails, the queue has the hints and the webhook gets its 200.
 */
import { describe, expect, it } from 'vitest';
import { RejectedError, TransientError } from '../../src/errors.ts';
import type { HandleResult, Hint, HintHandler } from '../../src/hints.ts';
import { silentLogger } from '../../src/log.ts';
import { PassLockHeldError } from '../../src/pass-lock.ts';
import type { HintQueue, QueueBacklog, SendOptions } from '../../src/queue/port.ts';
import { inlineable, inlineWhenIdle } from '../../src/queue/inline.ts';

const NOW = 1_800_000_000_000;
const node = (name: string): Hint => ({ kind: 'node', name });
const dsChanged: Hint = { kind: 'daemonSet', namespace: 'kube-system', name: 'fluentd' };
const podOf = (ds: string, pod = `${ds}-abcde`): Hint => ({ kind: 'daemonSet', namespace: 'kube-system', name: ds, pods: [pod] });
const podGone: Hint = { kind: 'daemonSet', namespace: 'kube-system', name: 'fluentd', pods: [] };

interface Setup {
  /** The pass's outcome, by call number. */
  pass?: (call: number) => HandleResult | Error;
  /** What the queue holds (waiting or in flight), or an error asking for it. */
  backlog?: number | Error;
  sendFails?: boolean;
  loadFails?: boolean;
}

function setup(config: Setup = {}) {
  const sent: { hints: Hint[]; delay: number; options?: SendOptions }[] = [];
  const calls: Hint[][] = [];
  let loads = 0;
  let clock = NOW;
  const queue: HintQueue & QueueBacklog = {
    async send(hints, delaySeconds = 0, sendOptions) {
      if (config.sendFails) throw new TransientError('SQS unreachable');
      sent.push({ hints: [...hints], delay: delaySeconds, ...(sendOptions ? { options: sendOptions } : {}) });
    },
    async backlog() {
      if (config.backlog instanceof Error) throw config.backlog;
      return config.backlog ?? 0;
    },
  };
  const pass: HintHandler = {
    async handle(hints) {
      calls.push([...hints]);
      const out = (config.pass ?? (() => reconciled(hints.length)))(calls.length);
      if (out instanceof Error) throw out;
      return out;
    },
  };
  const handler = inlineWhenIdle({
    reconciler: async () => {
      loads += 1;
      if (config.loadFails) throw new Error('cannot load');
      return pass;
    },
    queue,
    log: silentLogger,
    now: () => clock,
    maxHints: 4,
    authBackoffMs: 60_000,
  });
  return { handler, sent, calls, loads: () => loads, advance: (ms: number) => (clock += ms) };
}

const reconciled = (hints: number): HandleResult => ({ hints, created: 1, deleted: 0, apiRequests: 7 });
const queued = (hints: number): HandleResult => ({ hints, created: 0, deleted: 0, apiRequests: 0, queued: hints });

describe('inlineable: node and pod changes, not a DaemonSet\'s own change', () => {
  it.each([
    { name: 'a node hint', hint: node('n1'), want: true },
    { name: 'a pod created, bound or Ready (its DaemonSet, naming it)', hint: podOf('fluentd'), want: true },
    { name: 'a pod deleted (its DaemonSet, naming none)', hint: podGone, want: true },
    { name: 'the DaemonSet itself changed: a pass that may create a pod on every node', hint: dsChanged, want: false },
    { name: 'the resync', hint: { kind: 'resync' } as Hint, want: false },
  ])('$name → $want', ({ hint, want }) => {
    expect(inlineable(hint)).toBe(want);
  });
});

describe('inlineWhenIdle', () => {
  it('quiet (the queue empty, the pass lock free): the intake reconciles node and pod changes itself, nothing goes to the queue', async () => {
    const t = setup();
    expect(await t.handler.handle([node('n1'), podOf('fluentd')])).toEqual({ ...reconciled(2), inline: 2 });
    expect(t.calls).toEqual([[node('n1'), podOf('fluentd')]]);
    expect(t.sent).toEqual([]);
  });

  it('the queue at work (messages waiting or being reconciled): the hints join it, undelayed, and no pass runs here', async () => {
    const t = setup({ backlog: 1 });
    expect(await t.handler.handle([node('n1')])).toEqual(queued(1));
    expect(t.calls).toEqual([]);
    expect(t.sent).toEqual([{ hints: [node('n1')], delay: 0 }]);
  });

  it('the queue cannot say what it holds: taken as busy, the hints join it', async () => {
    const t = setup({ backlog: new TransientError('GetQueueAttributes: 500') });
    expect(await t.handler.handle([node('n1')])).toEqual(queued(1));
    expect(t.calls).toEqual([]);
  });

  it('the pass lock held by another pass: the hints go to the queue at once, undelayed', async () => {
    const t = setup({ pass: () => new PassLockHeldError('another pass holds the pass lock (waited 0 ms); redeliver', 1) });
    expect(await t.handler.handle([node('n1')])).toEqual(queued(1));
    expect(t.sent).toEqual([{ hints: [node('n1')], delay: 0 }]);
  });

  it('a DaemonSet change among the hints: all of them go to the queue, the reconciler is not even loaded', async () => {
    const t = setup();
    expect(await t.handler.handle([node('n1'), dsChanged])).toEqual(queued(2));
    expect(t.sent).toEqual([{ hints: [node('n1'), dsChanged], delay: 0 }]);
    expect(t.loads()).toBe(0);
  });

  it('a delivery with more hints than maxHints (a burst): all of them go to the queue', async () => {
    const t = setup();
    const five = ['n1', 'n2', 'n3', 'n4', 'n5'].map(node);
    expect(await t.handler.handle(five)).toEqual(queued(5));
    expect(t.calls).toEqual([]);
    expect(await t.handler.handle(five.slice(0, 4))).toEqual({ ...reconciled(4), inline: 4 });
  });

  it('a transient failure of the pass: queued after the API server\'s Retry-After, and the webhook is answered', async () => {
    const t = setup({ pass: () => new TransientError('429 TooManyRequests', 3) });
    expect(await t.handler.handle([node('n1')])).toEqual(queued(1));
    expect(t.sent).toEqual([{ hints: [node('n1')], delay: 3 }]);
  });

  it('any other failure: queued after 2 s, counted as a failure (the consumer backs off from there)', async () => {
    const t = setup({ pass: () => new Error('a bug') });
    await t.handler.handle([node('n1')]);
    expect(t.sent).toEqual([{ hints: [node('n1')], delay: 2, options: { failures: 1 } }]);
  });

  it('the pass failed and the queue cannot take the hints either: the error reaches the sender, which retries', async () => {
    const t = setup({ pass: () => new TransientError('503'), sendFails: true });
    await expect(t.handler.handle([node('n1')])).rejects.toBeInstanceOf(TransientError);
  });

  it.each([401, 403])('the API server refuses the function (%i): queued at once, and the inline path rests for the backoff', async (status) => {
    const t = setup({ pass: (call) => (call === 1 ? new RejectedError(`create lease: ${status}`, status) : reconciled(1)) });
    expect(await t.handler.handle([node('n1')])).toEqual(queued(1));
    expect(t.sent).toEqual([{ hints: [node('n1')], delay: 0 }]);
    // Within the backoff: straight to the queue, the reconciler not called.
    expect(await t.handler.handle([node('n2')])).toEqual(queued(1));
    expect(t.calls).toHaveLength(1);
    // After it: inline again.
    t.advance(60_001);
    expect(await t.handler.handle([node('n3')])).toEqual({ ...reconciled(1), inline: 1 });
  });

  it('a reconciler that cannot be loaded: queued, and loading is tried again after the backoff', async () => {
    const t = setup({ loadFails: true });
    expect(await t.handler.handle([node('n1')])).toEqual(queued(1));
    await t.handler.handle([node('n2')]);
    expect(t.loads()).toBe(1);
    t.advance(60_001);
    await t.handler.handle([node('n3')]);
    expect(t.loads()).toBe(2);
    expect(t.sent.map((s) => s.hints)).toEqual([[node('n1')], [node('n2')], [node('n3')]]);
  });
});
