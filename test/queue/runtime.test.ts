/**
 * The queue runtime's pure and in-process parts: how follow-ups and re-queues are scheduled, how a batch of SQS
 * records is consumed, how hints become SQS messages. ElasticMQ and the local Lambda runtime are exercised in
 * test/integration (the Lambda runtime suite).
 */
import { describe, expect, it } from 'vitest';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { DeferredError, RejectedError, TransientError } from '../../src/errors.ts';
import { dedupeHints, withPartialResult, type HandleResult, type Hint, type HintHandler } from '../../src/hints.ts';
import { nextPassAt, type PassScheduler } from '../../src/k8s/leases.ts';
import { createLogger, silentLogger } from '../../src/log.ts';
import { MAX_FAILED_RESENDS, MAX_TRANSIENT_RESENDS, consumeBatch } from '../../src/queue/consumer.ts';
import { encodeMessage } from '../../src/queue/message.ts';
import type { HintQueue, QueueDrain, ReceivedMessage } from '../../src/queue/port.ts';
import { enqueueingHandler, withQueuedFollowUps } from '../../src/queue/runtime.ts';
import { createSqsQueue, type SqsSdk } from '../../src/queue/sqs.ts';

const NOW = 1_800_000_000_000;
const ds = (name: string): Extract<Hint, { kind: 'daemonSet' }> => ({ kind: 'daemonSet', namespace: 'kube-system', name });
const node = (name: string): Hint => ({ kind: 'node', name });

function recordingQueue(fail?: unknown) {
  const sent: { hints: Hint[]; delay: number }[] = [];
  const queue: HintQueue = {
    async send(hints, delaySeconds = 0) {
      if (fail) throw fail;
      sent.push({ hints: [...hints], delay: delaySeconds });
    },
  };
  return { queue, sent };
}

function handler(result: Partial<HandleResult> | ((hints: readonly Hint[]) => Promise<HandleResult>)) {
  const calls: Hint[][] = [];
  const h: HintHandler = {
    async handle(hints) {
      calls.push([...hints]);
      if (typeof result === 'function') return result(hints);
      return { hints: hints.length, created: 0, deleted: 0, apiRequests: 0, ...result };
    },
  };
  return { h, calls };
}

describe('nextPassAt: at most one DaemonSet-wide pass per interval, none skipped', () => {
  it.each([
    { name: 'nothing scheduled yet: now', scheduled: NaN, at: NOW, want: NOW },
    { name: 'a pass scheduled later within the interval covers it', scheduled: NOW + 500, at: NOW, want: null },
    { name: 'a pass scheduled exactly now covers it', scheduled: NOW, at: NOW, want: null },
    // The earlier pass may have read the cluster before this change: one more, but not closer than the interval.
    { name: 'a pass scheduled 300 ms ago: one more, 1 s after it', scheduled: NOW - 300, at: NOW, want: NOW + 700 },
    { name: 'a pass long ago: now', scheduled: NOW - 60_000, at: NOW, want: NOW },
    // A re-queue for minReadySeconds far ahead does not hold up a status pass wanted now.
    { name: 'a pass far in the future does not cover one wanted now', scheduled: NOW + 30_000, at: NOW, want: NOW },
    { name: 'a re-queue wanted in 10 s, nothing nearer scheduled', scheduled: NOW - 300, at: NOW + 10_000, want: NOW + 10_000 },
  ])('$name', ({ scheduled, at, want }) => {
    expect(nextPassAt(scheduled, at, 1000)).toBe(want);
  });
});

describe('withQueuedFollowUps', () => {
  function scheduler(delays: Map<string, number | null>) {
    const asked: { name: string; at: number }[] = [];
    const s: PassScheduler = {
      async schedule(d, at) {
        asked.push({ name: d.name, at });
        return delays.has(d.name) ? (delays.get(d.name) as number | null) : 0;
      },
      async scheduleMany(requests, interval, now) {
        return Promise.all(requests.map((r) => this.schedule(r.daemonSet, r.atMs, interval, now)));
      },
    };
    return { s, asked };
  }
  const options = (queue: HintQueue, s: PassScheduler) => ({ queue, scheduler: () => s, intervalMs: 1000, followUpDelayMs: 1000, now: () => NOW, log: silentLogger });

  it('schedules each follow-up the reconcile asks for, and sends only those not already covered', async () => {
    const { queue, sent } = recordingQueue();
    const { s, asked } = scheduler(new Map([['a', 0], ['b', null], ['c', 1]]));
    const { h } = handler({ followUp: [ds('a'), ds('b'), ds('c')] });
    const result = await withQueuedFollowUps(h, options(queue, s)).handle([node('n1')]);
    expect(asked).toEqual([{ name: 'a', at: NOW }, { name: 'b', at: NOW }, { name: 'c', at: NOW }]);
    expect(sent).toEqual([{ hints: [ds('a')], delay: 0 }, { hints: [ds('c')], delay: 1 }]);
    // Nothing is left for the caller to run after the answer.
    expect(result.followUp).toBeUndefined();
  });

  it("joins' follow-ups that a later pass may cover (Hint `after`) go out together a follow-up delay later, without the Lease; the others through it", async () => {
    const { queue, sent } = recordingQueue();
    const { s, asked } = scheduler(new Map([['b', 0]]));
    const joined = (name: string) => ({ ...ds(name), pods: [`${name}-x`], after: { nodes: '10', pods: '12' } });
    const { h } = handler({ followUp: [joined('a'), ds('b'), joined('c')] });
    await withQueuedFollowUps(h, { ...options(queue, s), followUpDelayMs: 1500 }).handle([node('n1')]);
    expect(asked).toEqual([{ name: 'b', at: NOW }]);
    expect(sent).toEqual(expect.arrayContaining([{ hints: [joined('a'), joined('c')], delay: 2 }, { hints: [ds('b')], delay: 0 }]));
    expect(sent).toHaveLength(2);
  });

  it('a re-queue becomes a message delayed to when it is due: DaemonSet hints through the scheduler, node hints directly', async () => {
    const { queue, sent } = recordingQueue();
    const { s, asked } = scheduler(new Map([['a', 11]]));
    const { h } = handler({ requeueAfterSeconds: 10.2 });
    await withQueuedFollowUps(h, options(queue, s)).handle([ds('a'), node('n1')]);
    expect(asked).toEqual([{ name: 'a', at: NOW + 10_200 }]);
    expect(sent).toEqual(expect.arrayContaining([{ hints: [ds('a')], delay: 11 }, { hints: [node('n1')], delay: 10.2 }]));
  });

  // A re-queue is for what time alone changes (a backoff expiring, minReadySeconds): the status that pass wrote records
  // lists no earlier than the join's, so a re-queue keeping the join's `after` was covered and ended after one GET.
  it("a re-queued join follow-up goes without its `after`: the status its own pass wrote does not cover it", async () => {
    const { queue, sent } = recordingQueue();
    const { s } = scheduler(new Map([['a', 11]]));
    const joined = { ...ds('a'), pods: ['a-x'], after: { nodes: '10', pods: '12' } };
    const { h } = handler({ requeueAfterSeconds: 10 });
    await withQueuedFollowUps(h, options(queue, s)).handle([joined]);
    expect(sent).toEqual([{ hints: [{ ...ds('a'), pods: ['a-x'] }], delay: 11 }]);
  });

  it('a re-queue covers the hints the call took on once it ran (a drained backlog) as well as its own', async () => {
    const { queue, sent } = recordingQueue();
    const { s, asked } = scheduler(new Map([['a', 11], ['b', 11]]));
    const h: HintHandler = {
      async handle(_hints, _signal, more) {
        await more?.({ waited: false });
        return { hints: 3, created: 0, deleted: 0, apiRequests: 0, requeueAfterSeconds: 10.2 };
      },
    };
    await withQueuedFollowUps(h, options(queue, s)).handle([ds('a')], undefined, async () => [ds('b'), node('n2')]);
    expect(asked.map((a) => a.name).sort()).toEqual(['a', 'b']);
    expect(sent).toEqual(expect.arrayContaining([{ hints: [node('n2')], delay: 10.2 }]));
  });

  it('admitted node changes the pass did not see yet go back to the queue: at once the first time, then after 1 s; past their time, not', async () => {
    const { queue, sent } = recordingQueue();
    const { s } = scheduler(new Map());
    const fresh: Hint = { kind: 'node', name: 'n1', pending: { before: null, until: NOW + 3000 } };
    const again: Hint = { kind: 'node', name: 'n2', pending: { before: 'x', until: NOW + 3000, retries: 1 } };
    const late: Hint = { kind: 'node', name: 'n3', pending: { before: 'x', until: NOW + 500, retries: 2 } };
    const created: Hint = { ...ds('new'), pending: { before: null, until: NOW + 3000 } };
    const { h } = handler({ unsettled: [fresh, again, late, created] });
    const result = await withQueuedFollowUps(h, options(queue, s)).handle([fresh, again, late, created]);
    expect(sent).toEqual([
      { hints: [{ ...fresh, pending: { before: null, until: NOW + 3000, retries: 1 } }, { ...created, pending: { before: null, until: NOW + 3000, retries: 1 } }], delay: 0 },
      { hints: [{ ...again, pending: { before: 'x', until: NOW + 3000, retries: 2 } }], delay: 1 },
    ]);
    expect(result.unsettled).toBeUndefined();
  });

  // A DaemonSet's hint had no pass while its admitted change waited; what was merged into it (a pod turning Ready, a
  // follow-up) must still run once the change is taken as refused (another webhook denied it).
  it("a DaemonSet's admitted change past its time: sent once more without pending, for a last pass on the DaemonSet as stored", async () => {
    const { queue, sent } = recordingQueue();
    const { s } = scheduler(new Map());
    const refusedDs: Hint = { ...ds('edited'), pods: ['edited-abc'], pending: { before: 'g1', until: NOW + 500, retries: 2 } };
    const refusedNode: Hint = { kind: 'node', name: 'n3', pending: { before: 'x', until: NOW + 500, retries: 2 } };
    const { h } = handler({ unsettled: [refusedDs, refusedNode] });
    await withQueuedFollowUps(h, options(queue, s)).handle([refusedDs, refusedNode]);
    expect(sent).toEqual([{ hints: [{ ...ds('edited'), pods: ['edited-abc'] }], delay: 0 }]);
  });

  // One DaemonSet that keeps failing must not take the others' status passes and re-queues with it: the consumer
  // sends the batch's hints again, but their passes fail the same way.
  it("a pass that fails on one DaemonSet: the others' follow-ups and re-queue are scheduled, and the call fails with the same error", async () => {
    const { queue, sent } = recordingQueue();
    const { s, asked } = scheduler(new Map([['a', 0], ['b', 21]]));
    const refused = new RejectedError('403 forbidden', 403);
    const { h } = handler(async (hints) => {
      throw withPartialResult(refused, { hints: hints.length, created: 0, deleted: 0, apiRequests: 4, followUp: [ds('a')], requeueAfterSeconds: 21 });
    });
    await expect(withQueuedFollowUps(h, options(queue, s)).handle([ds('b'), node('n1')])).rejects.toBe(refused);
    expect(asked).toEqual([{ name: 'a', at: NOW }, { name: 'b', at: NOW + 21_000 }]);
    expect(sent).toEqual(expect.arrayContaining([{ hints: [ds('a')], delay: 0 }, { hints: [ds('b')], delay: 21 }, { hints: [node('n1')], delay: 21 }]));
    expect(sent).toHaveLength(3);
  });

  it('a failed pass that asked for nothing schedules nothing; one whose follow-ups cannot be scheduled still fails with its own error', async () => {
    const refused = new RejectedError('403 forbidden', 403);
    const { queue, sent } = recordingQueue();
    const { s, asked } = scheduler(new Map());
    const { h } = handler(async () => {
      throw refused;
    });
    await expect(withQueuedFollowUps(h, options(queue, s)).handle([ds('b')])).rejects.toBe(refused);
    expect([asked, sent]).toEqual([[], []]);
    const down = recordingQueue(new TransientError('SQS throttled'));
    const { h: partial } = handler(async () => {
      throw withPartialResult(refused, { hints: 1, created: 0, deleted: 0, apiRequests: 1, followUp: [ds('a')] });
    });
    await expect(withQueuedFollowUps(partial, options(down.queue, s)).handle([ds('b')])).rejects.toBe(refused);
  });

  it('a follow-up that cannot be scheduled fails the call transiently, so the batch is handled again', async () => {
    const { queue } = recordingQueue(new TransientError('SQS throttled'));
    const { s } = scheduler(new Map());
    const { h } = handler({ followUp: [ds('a')] });
    await expect(withQueuedFollowUps(h, options(queue, s)).handle([node('n1')])).rejects.toBeInstanceOf(TransientError);
  });
});

describe('enqueueingHandler', () => {
  it('hands the hints to the queue at once and says so', async () => {
    const { queue, sent } = recordingQueue();
    expect(await enqueueingHandler(queue).handle([node('n1'), ds('a')])).toEqual({ hints: 2, created: 0, deleted: 0, apiRequests: 0, queued: 2 });
    expect(sent).toEqual([{ hints: [node('n1'), ds('a')], delay: 0 }]);
  });
});

describe('consumeBatch', () => {
  let id = 0;
  const record = (body: string): SQSRecord =>
    ({ messageId: `m${++id}`, receiptHandle: 'r', body, attributes: { ApproximateReceiveCount: '1' }, messageAttributes: {}, md5OfBody: '', eventSource: 'aws:sqs', eventSourceARN: 'arn', awsRegion: 'us-east-1' }) as unknown as SQSRecord;
  const event = (...records: SQSRecord[]): SQSEvent => ({ Records: records });
  const deps = (h: HintHandler, queue: HintQueue) => ({ handler: h, queue, log: silentLogger, now: () => NOW });

  it('reconciles the hints of every record in one pass, duplicates merged', async () => {
    const { h, calls } = handler({});
    const { queue } = recordingQueue();
    const out = await consumeBatch(event(record(encodeMessage([node('n1')])), record(encodeMessage([node('n1'), ds('a')]))), deps(h, queue));
    expect(calls).toEqual([[node('n1'), ds('a')]]);
    expect(out).toEqual({ batchItemFailures: [] });
  });

  it.each([
    ['not JSON', '{nope'],
    ['not a message', JSON.stringify({ hints: [] })],
    ['a node name that is not one', encodeMessage([node('n1,spec.nodeName=n1')])],
    ['a DaemonSet UID that would change a label selector', encodeMessage([{ ...ds('a'), uid: 'u1,daemonless.dev/x' }])],
  ])('a record that is %s fails alone (redelivered, then dead-lettered); the rest are reconciled', async (_name, body) => {
    const { h, calls } = handler({});
    const { queue } = recordingQueue();
    const bad = record(body);
    const out = await consumeBatch(event(bad, record(encodeMessage([node('n2')]))), deps(h, queue));
    expect(out).toEqual({ batchItemFailures: [{ itemIdentifier: bad.messageId }] });
    expect(calls).toEqual([[node('n2')]]);
  });

  it('a record not yet due (a delay beyond 15 minutes) is sent again with the rest of its delay', async () => {
    const { h, calls } = handler({});
    const { queue, sent } = recordingQueue();
    const out = await consumeBatch(event(record(encodeMessage([node('n1')], NOW + 1_200_000))), deps(h, queue));
    expect(calls).toEqual([]);
    expect(sent).toEqual([{ hints: [node('n1')], delay: 1200 }]);
    expect(out.batchItemFailures).toEqual([]);
  });

  it('a transient failure sends the hints again after the Retry-After and reports success', async () => {
    const { h } = handler(async () => {
      throw new TransientError('429 TooManyRequests', 3);
    });
    const { queue, sent } = recordingQueue();
    const out = await consumeBatch(event(record(encodeMessage([node('n1')]))), deps(h, queue));
    expect(sent).toEqual([{ hints: [node('n1')], delay: 3 }]);
    expect(out.batchItemFailures).toEqual([]);
  });

  // docs/deploy.md: transient failures do not alarm; the log line is how an operator tells them from the others.
  it.each([
    ['a transient failure', new TransientError('429 TooManyRequests', 3), true],
    ['any other failure', new RejectedError('403 forbidden', 403), false],
  ])('%s is logged as a batch not reconciled, saying whether it was transient', async (_name, error, transient) => {
    const { h } = handler(async () => {
      throw error;
    });
    const { queue } = recordingQueue();
    const lines: Record<string, unknown>[] = [];
    const log = createLogger('info', (line) => lines.push(JSON.parse(line) as Record<string, unknown>));
    await consumeBatch(event(record(encodeMessage([node('n1')]))), { ...deps(h, queue), log });
    expect(lines).toEqual([expect.objectContaining({ level: 'warn', msg: 'queue batch not reconciled', records: 1, hints: 1, transient })]);
  });

  it('when even that send fails, every record is reported failed (SQS redelivers)', async () => {
    const { h } = handler(async () => {
      throw new TransientError('503');
    });
    const { queue } = recordingQueue(new TransientError('SQS down'));
    const a = record(encodeMessage([node('n1')]));
    const b = record(encodeMessage([node('n2')]));
    expect(await consumeBatch(event(a, b), deps(h, queue))).toEqual({ batchItemFailures: [{ itemIdentifier: a.messageId }, { itemIdentifier: b.messageId }] });
  });

  // Upstream re-queues a failed sync with backoff whatever the error; a 403 for a moment after an API-server restart
  // (its authorizer starting) must not wait for the queue's 360 s visibility timeout.
  it.each([
    { failuresBefore: undefined, delay: 2, failuresAfter: 1 },
    { failuresBefore: 1, delay: 4, failuresAfter: 2 },
    { failuresBefore: 3, delay: 16, failuresAfter: 4 },
  ])('any other failure sends the hints again with a growing delay (failures so far $failuresBefore → delay $delay s)', async ({ failuresBefore, delay, failuresAfter }) => {
    const { h } = handler(async () => {
      throw new RejectedError('403 forbidden', 403);
    });
    const sent: { hints: Hint[]; delay: number; failures?: number }[] = [];
    const queue: HintQueue = { send: async (hints, d = 0, options) => void sent.push({ hints: [...hints], delay: d, failures: options?.failures }) };
    const a = record(encodeMessage([node('n1')], undefined, { failures: failuresBefore }));
    expect(await consumeBatch(event(a), deps(h, queue))).toEqual({ batchItemFailures: [] });
    expect(sent).toEqual([{ hints: [node('n1')], delay, failures: failuresAfter }]);
  });

  it(`after ${MAX_FAILED_RESENDS} such re-sends a message is reported failed (SQS redelivers, then dead-letters); the others of its pass are sent again on their own`, async () => {
    const { h } = handler(async () => {
      throw new RejectedError('403 forbidden', 403);
    });
    const { queue, sent } = recordingQueue();
    const a = record(encodeMessage([node('n1')], undefined, { failures: MAX_FAILED_RESENDS }));
    const b = record(encodeMessage([node('n2')]));
    expect(await consumeBatch(event(a, b), deps(h, queue))).toEqual({ batchItemFailures: [{ itemIdentifier: a.messageId }] });
    expect(sent).toEqual([{ hints: [node('n2')], delay: 2 }]);
  });

  // One DaemonSet whose step always fails must not take the hints that shared its passes to the dead-letter queue.
  it('a failure that is not transient sends each message of the pass again on its own, with its own count and delay', async () => {
    const { h } = handler(async () => {
      throw new RejectedError('422 Invalid', 422);
    });
    const sent: { hints: Hint[]; delay: number; failures?: number }[] = [];
    const queue: HintQueue = { send: async (hints, d = 0, options) => void sent.push({ hints: [...hints], delay: d, failures: options?.failures }) };
    const poison = record(encodeMessage([ds('poison')], undefined, { failures: 3 }));
    const out = await consumeBatch(event(poison, record(encodeMessage([node('n1')])), record(encodeMessage([node('n2'), ds('a')]))), deps(h, queue));
    expect(out).toEqual({ batchItemFailures: [] });
    expect(sent).toEqual([
      { hints: [ds('poison')], delay: 16, failures: 4 },
      { hints: [node('n1')], delay: 2, failures: 1 },
      { hints: [node('n2'), ds('a')], delay: 2, failures: 1 },
    ]);
  });

  it('a transient failure keeps the count of earlier failures and counts itself; a message not yet due keeps both', async () => {
    const sent: { delay: number; failures?: number; transients?: number }[] = [];
    const queue: HintQueue = { send: async (_hints, d = 0, options) => void sent.push({ delay: d, ...options }) };
    const { h } = handler(async () => {
      throw new TransientError('503');
    });
    await consumeBatch(event(record(encodeMessage([node('n1')], undefined, { failures: 2 }))), deps(h, queue));
    await consumeBatch(event(record(encodeMessage([node('n1')], NOW + 1_200_000, { failures: 3, transients: 5 }))), deps(h, queue));
    expect(sent).toEqual([{ delay: 2, failures: 2, transients: 1 }, { delay: 1200, failures: 3, transients: 5 }]);
  });

  it.each([
    ['a transient failure', new TransientError('503'), { delay: 2, failures: 0, transients: MAX_TRANSIENT_RESENDS }],
    // Waiting for the pass lock, or a long rollout continuing, is not failing: never counted.
    ['a deferral', new DeferredError('another pass holds the pass lock', 1), { delay: 1, failures: 0, transients: MAX_TRANSIENT_RESENDS - 1 }],
  ])(`%s after ${MAX_TRANSIENT_RESENDS - 1} transient re-sends`, async (_name, error, want) => {
    const sent: { delay: number; failures?: number; transients?: number }[] = [];
    const queue: HintQueue = { send: async (_hints, d = 0, options) => void sent.push({ delay: d, ...options }) };
    const { h } = handler(async () => {
      throw error;
    });
    await consumeBatch(event(record(encodeMessage([node('n1')], undefined, { transients: MAX_TRANSIENT_RESENDS - 1 }))), deps(h, queue));
    expect(sent).toEqual([want]);
  });

  // Each message's counts are its own: merged into one re-send, a hint that only shared a pass (or a wait for the pass
  // lock) with a DaemonSet that keeps failing took on its count and went to the dead-letter queue with it.
  it.each([
    {
      name: 'a deferral: each message keeps its own failure count',
      error: new DeferredError('another pass holds the pass lock', 1),
      batch: [{ hints: [ds('poison')], failures: 3 }, { hints: [node('n1')] }],
      want: [{ hints: [ds('poison')], delay: 1, failures: 3, transients: 0 }, { hints: [node('n1')], delay: 1, failures: 0, transients: 0 }],
    },
    {
      name: 'a transient failure: each message keeps its own counts and counts it',
      error: new TransientError('503', 2),
      batch: [{ hints: [ds('poison')], failures: 3, transients: 4 }, { hints: [node('n1')] }],
      want: [{ hints: [ds('poison')], delay: 2, failures: 3, transients: 5 }, { hints: [node('n1')], delay: 2, failures: 0, transients: 1 }],
    },
    {
      name: `a transient failure past ${MAX_TRANSIENT_RESENDS} re-sends counts as a failure for that message only`,
      error: new TransientError('503', 2),
      batch: [{ hints: [node('n1')], transients: MAX_TRANSIENT_RESENDS }, { hints: [node('n2')] }],
      want: [{ hints: [node('n1')], delay: 2, failures: 1, transients: MAX_TRANSIENT_RESENDS + 1 }, { hints: [node('n2')], delay: 2, failures: 0, transients: 1 }],
    },
  ])('$name', async ({ error, batch, want }) => {
    const sent: { hints: Hint[]; delay: number; failures: number; transients: number }[] = [];
    const queue: HintQueue = { send: async (hints, d = 0, options) => void sent.push({ hints: [...hints], delay: d, failures: options?.failures ?? 0, transients: options?.transients ?? 0 }) };
    const { h } = handler(async () => {
      throw error;
    });
    const records = batch.map(({ hints, ...counts }) => record(encodeMessage(hints, undefined, counts)));
    expect(await consumeBatch(event(...records), deps(h, queue))).toEqual({ batchItemFailures: [] });
    expect(sent).toEqual(expect.arrayContaining(want));
    expect(sent).toHaveLength(want.length);
  });

  it(`past ${MAX_TRANSIENT_RESENDS} transient re-sends the next transient failure counts as a failure: a condition that never clears reaches the dead-letter queue`, async () => {
    const sent: { delay: number; failures?: number; transients?: number }[] = [];
    const queue: HintQueue = { send: async (_hints, d = 0, options) => void sent.push({ delay: d, ...options }) };
    const { h } = handler(async () => {
      throw new TransientError('404 the server could not find the requested resource', 1);
    });
    const a = record(encodeMessage([node('n1')], undefined, { transients: MAX_TRANSIENT_RESENDS }));
    expect(await consumeBatch(event(a), deps(h, queue))).toEqual({ batchItemFailures: [] });
    // The transient count goes with it: the next transient failure counts as a failure again, not as 1 of 30 more.
    expect(sent).toEqual([{ delay: 2, failures: 1, transients: MAX_TRANSIENT_RESENDS + 1 }]);
    sent.length = 0;
    const again = record(encodeMessage([node('n1')], undefined, { transients: MAX_TRANSIENT_RESENDS + 1, failures: 1 }));
    expect(await consumeBatch(event(again), deps(h, queue))).toEqual({ batchItemFailures: [] });
    expect(sent).toEqual([{ delay: 4, failures: 2, transients: MAX_TRANSIENT_RESENDS + 2 }]);
    sent.length = 0;
    const b = record(encodeMessage([node('n1')], undefined, { transients: MAX_TRANSIENT_RESENDS, failures: MAX_FAILED_RESENDS }));
    expect(await consumeBatch(event(b), deps(h, queue))).toEqual({ batchItemFailures: [{ itemIdentifier: b.messageId }] });
    expect(sent).toEqual([]);
  });
});

describe('consumeBatch with drain: what already waits in the queue joins the batch\'s pass', () => {
  let id = 0;
  const record = (body: string): SQSRecord =>
    ({ messageId: `m${++id}`, receiptHandle: 'r', body, attributes: { ApproximateReceiveCount: '1' }, messageAttributes: {}, md5OfBody: '', eventSource: 'aws:sqs', eventSourceARN: 'arn', awsRegion: 'us-east-1' }) as unknown as SQSRecord;
  const waiting = (body: string): ReceivedMessage => ({ id: `w${++id}`, receipt: `rh${id}`, body });

  /** A queue whose visible messages are `visible`; records what was received (max asked) and deleted. */
  function drainQueue(visible: ReceivedMessage[], options: { receiveFails?: boolean; deleteFails?: boolean } = {}) {
    const asked: number[] = [];
    const deleted: string[] = [];
    const drain: QueueDrain = {
      async receive(max) {
        asked.push(max);
        if (options.receiveFails) throw new Error('SQS unreachable');
        return visible.splice(0, max);
      },
      async delete(messages) {
        if (options.deleteFails) return messages.map((m) => m.id);
        deleted.push(...messages.map((m) => m.id));
        return [];
      },
    };
    return { drain, asked, deleted };
  }
  /** batchSize 1 by default: the one-record batches below are full ones. */
  const deps = (h: HintHandler, queue: HintQueue, drain: QueueDrain, max = 100, batchSize = 1) => ({
    handler: h,
    queue,
    log: silentLogger,
    now: () => NOW,
    drain: { queue: drain, max, batchSize },
  });
  /**
   * Like the pass lock: takes on the `more` hints once it may run (`waited`: after waiting for the lock), then handles
   * all of them (or fails with `result`).
   */
  function handler(result: Partial<HandleResult> | (() => Promise<HandleResult>), waited = false) {
    const calls: Hint[][] = [];
    const h: HintHandler = {
      async handle(hints, _signal, more) {
        const extra = more ? await more({ waited }) : [];
        calls.push(dedupeHints([...hints, ...extra]));
        if (typeof result === 'function') return result();
        return { hints: hints.length + extra.length, created: 0, deleted: 0, apiRequests: 0, ...result };
      },
    };
    return { h, calls };
  }

  it('one pass for the batch and the waiting messages, duplicates merged; the drained messages are deleted after it', async () => {
    const { h, calls } = handler({});
    const { queue } = recordingQueue();
    const a = waiting(encodeMessage([ds('a')]));
    const b = waiting(encodeMessage([node('n1'), ds('b')]));
    const { drain, asked, deleted } = drainQueue([a, b]);
    const out = await consumeBatch({ Records: [record(encodeMessage([node('n1')]))] }, deps(h, queue, drain, 50));
    expect(asked).toEqual([50]);
    expect(calls).toHaveLength(1);
    expect(new Set(calls[0])).toEqual(new Set([node('n1'), ds('a'), ds('b')]));
    expect(deleted).toEqual([a.id, b.id]);
    expect(out.batchItemFailures).toEqual([]);
  });

  it.each([
    { name: 'a short batch whose pass took the lock at once: the queue was empty, no receive', records: 3, waited: false, asked: [100] as number[], drained: false },
    { name: 'a short batch whose pass waited for the lock: work may have piled up, drains', records: 3, waited: true, asked: [100], drained: true },
    { name: 'a full batch: drains', records: 10, waited: false, asked: [100], drained: true },
  ])('$name', async ({ records, waited, asked, drained }) => {
    const { h, calls } = handler({}, waited);
    const { queue } = recordingQueue();
    const { drain, asked: receives } = drainQueue([waiting(encodeMessage([ds('a')]))]);
    const batch = Array.from({ length: records }, (_, i) => record(encodeMessage([node(`n${i}`)])));
    await consumeBatch({ Records: batch }, deps(h, queue, drain, 100, 10));
    expect(receives).toEqual(drained ? asked : []);
    expect(calls[0]?.some((hint) => hint.kind === 'daemonSet')).toBe(drained);
  });

  it('no drain with max 0', async () => {
    const max = 0;
    const { h, calls } = handler({});
    const { queue } = recordingQueue();
    const { drain, asked } = drainQueue([waiting(encodeMessage([ds('a')]))]);
    await consumeBatch({ Records: [record(encodeMessage([node('n1')]))] }, deps(h, queue, drain, max));
    expect(asked).toEqual([]);
    expect(calls).toEqual([[node('n1')]]);
  });

  it('nothing is drained for a batch with nothing due', async () => {
    const { h, calls } = handler({});
    const { queue } = recordingQueue();
    const { drain, asked } = drainQueue([waiting(encodeMessage([ds('a')]))]);
    await consumeBatch({ Records: [record(encodeMessage([node('n1')], NOW + 1_200_000))] }, deps(h, queue, drain));
    expect(asked).toEqual([]);
    expect(calls).toEqual([]);
  });

  it('a drained message that is not valid is left in the queue (the mapping reports it, then dead-letters it); the rest go on', async () => {
    const { h, calls } = handler({});
    const { queue } = recordingQueue();
    const bad = waiting('{nope');
    const good = waiting(encodeMessage([ds('a')]));
    const { drain, deleted } = drainQueue([bad, good]);
    const out = await consumeBatch({ Records: [record(encodeMessage([node('n1')]))] }, deps(h, queue, drain));
    expect(calls).toEqual([[node('n1'), ds('a')]]);
    expect(deleted).toEqual([good.id]);
    expect(out.batchItemFailures).toEqual([]);
  });

  it('a drained message not yet due is sent again with the rest of its delay and deleted, even when the pass fails for good', async () => {
    const { h, calls } = handler(async () => {
      throw new RejectedError('403 forbidden', 403);
    });
    const { queue, sent } = recordingQueue();
    const later = waiting(encodeMessage([ds('later')], NOW + 1_200_000));
    const now = waiting(encodeMessage([ds('now')]));
    const batch = record(encodeMessage([node('n1')], undefined, { failures: MAX_FAILED_RESENDS }));
    const spent = waiting(encodeMessage([ds('spent')], undefined, { failures: MAX_FAILED_RESENDS }));
    const { drain, deleted } = drainQueue([later, now, spent]);
    const out = await consumeBatch({ Records: [batch] }, deps(h, queue, drain));
    expect(calls).toEqual([[node('n1'), ds('now'), ds('spent')]]);
    expect(sent).toEqual([{ hints: [ds('later')], delay: 1200 }, { hints: [ds('now')], delay: 2 }]);
    // The pass failed: the batch's record, out of re-sends, is redelivered, and so is the drained one out of re-sends
    // (it comes back after its visibility timeout); the drained one sent again on its own and the one sent for later
    // are deleted.
    expect(deleted).toEqual([later.id, now.id]);
    expect(out.batchItemFailures).toEqual([{ itemIdentifier: batch.messageId }]);
  });

  it('a transient failure sends every hint again, drained ones included, and deletes the drained messages', async () => {
    const { h } = handler(async () => {
      throw new TransientError('503', 2);
    });
    const { queue, sent } = recordingQueue();
    const a = waiting(encodeMessage([ds('a')]));
    const { drain, deleted } = drainQueue([a]);
    const out = await consumeBatch({ Records: [record(encodeMessage([node('n1')]))] }, deps(h, queue, drain));
    expect(sent).toEqual([{ hints: [node('n1'), ds('a')], delay: 2 }]);
    expect(deleted).toEqual([a.id]);
    expect(out.batchItemFailures).toEqual([]);
  });

  it('nothing is drained by a pass that never runs (the pass lock held elsewhere): what waits stays for the pass that holds it', async () => {
    const h: HintHandler = {
      async handle() {
        throw new TransientError('another pass holds the pass lock', 1);
      },
    };
    const { queue, sent } = recordingQueue();
    const { drain, asked, deleted } = drainQueue([waiting(encodeMessage([ds('a')]))]);
    const out = await consumeBatch({ Records: [record(encodeMessage([node('n1')]))] }, deps(h, queue, drain));
    expect(asked).toEqual([]);
    expect(deleted).toEqual([]);
    expect(sent).toEqual([{ hints: [node('n1')], delay: 1 }]);
    expect(out.batchItemFailures).toEqual([]);
  });

  it('a drain that fails leaves the batch to be reconciled alone', async () => {
    const { h, calls } = handler({});
    const { queue } = recordingQueue();
    const { drain } = drainQueue([], { receiveFails: true });
    const out = await consumeBatch({ Records: [record(encodeMessage([node('n1')]))] }, deps(h, queue, drain));
    expect(calls).toEqual([[node('n1')]]);
    expect(out.batchItemFailures).toEqual([]);
  });

  it('drained messages that cannot be deleted are not reported as the batch\'s failures (they come back and are reconciled again, harmlessly)', async () => {
    const { h } = handler({});
    const { queue } = recordingQueue();
    const { drain } = drainQueue([waiting(encodeMessage([ds('a')]))], { deleteFails: true });
    const out = await consumeBatch({ Records: [record(encodeMessage([node('n1')]))] }, deps(h, queue, drain));
    expect(out.batchItemFailures).toEqual([]);
  });
});

describe('createSqsQueue', () => {
  type Input = Record<string, unknown>;
  /** An SDK slice that records each command's input by name and answers with `answer` (default: a message id). */
  function fakeSdk(fail?: Error, answer: (name: string, input: Input) => object = () => ({ MessageId: 'x' })) {
    const commands: Input[] = [];
    const calls: { name: string; input: Input }[] = [];
    const command = (name: string) =>
      class {
        name = name;
        input: Input;
        constructor(input: Input) {
          this.input = input;
        }
      };
    const sdk: SqsSdk = {
      SQSClient: class {
        async send(c: unknown) {
          if (fail) throw fail;
          const { name, input } = c as { name: string; input: Input };
          if (name === 'send') commands.push(input);
          calls.push({ name, input });
          return answer(name, input);
        }
      },
      SendMessageCommand: command('send'),
      ReceiveMessageCommand: command('receive'),
      DeleteMessageBatchCommand: command('delete'),
    };
    return { sdk, commands, calls };
  }

  describe('a call that gets no answer fails within its timeout, naming it, instead of holding the invocation until Lambda kills it', () => {
    /** An SDK slice whose calls answer only by honouring their abort signal, as the real one does. */
    const silentSdk: SqsSdk = {
      ...fakeSdk().sdk,
      SQSClient: class {
        send(_c: unknown, options?: { abortSignal?: AbortSignal }) {
          return new Promise<never>((_resolve, reject) => options?.abortSignal?.addEventListener('abort', () => reject(new Error('Request aborted'))));
        }
      },
    };
    const queue = () => createSqsQueue({ queueUrl: 'http://q', sdk: () => silentSdk, now: () => NOW, timeoutMs: 30 });

    it('send: a transient error (the sender gets a 5xx and retries)', async () => {
      const sent = queue().send([node('n1')]);
      await expect(sent).rejects.toBeInstanceOf(TransientError);
      await expect(sent).rejects.toThrow(/enqueue 1 hint\(s\): SendMessage: no answer within 30 ms/);
    });

    it('receive: rejects, naming the call', async () => {
      await expect(queue().receive(5)).rejects.toThrow(/ReceiveMessage: no answer within 30 ms/);
    });

    it('delete: every message reported not deleted', async () => {
      const messages = [{ id: 'm1', receipt: 'r1', body: '' }, { id: 'm2', receipt: 'r2', body: '' }];
      expect(await queue().delete(messages)).toEqual(['m1', 'm2']);
    });
  });

  it('carries the count of failed reconciles in the message', async () => {
    const { sdk, commands } = fakeSdk();
    await createSqsQueue({ queueUrl: 'http://q', sdk: () => sdk, now: () => NOW }).send([node('n1')], 4, { failures: 2 });
    expect(JSON.parse(commands[0]!['MessageBody'] as string)).toEqual({ v: 1, hints: [node('n1')], failures: 2 });
  });

  it('sends one message with the hints, the delay rounded up to whole seconds', async () => {
    const { sdk, commands } = fakeSdk();
    await createSqsQueue({ queueUrl: 'http://q', sdk: () => sdk, now: () => NOW }).send([node('n1')], 0.3);
    expect(commands).toEqual([{ QueueUrl: 'http://q', MessageBody: encodeMessage([node('n1')]), DelaySeconds: 1 }]);
  });

  it('a delay beyond 900 s travels as notBefore', async () => {
    const { sdk, commands } = fakeSdk();
    await createSqsQueue({ queueUrl: 'http://q', sdk: () => sdk, now: () => NOW }).send([node('n1')], 3600);
    expect(commands[0]).toEqual({ QueueUrl: 'http://q', MessageBody: encodeMessage([node('n1')], NOW + 3_600_000), DelaySeconds: 900 });
  });

  it('a failed send is a TransientError (the webhook answers 503 and is retried)', async () => {
    const { sdk } = fakeSdk(new Error('ThrottlingException'));
    await expect(createSqsQueue({ queueUrl: 'http://q', sdk: () => sdk }).send([node('n1')])).rejects.toBeInstanceOf(TransientError);
  });

  const waiting = (n: number) => Array.from({ length: n }, (_, i) => ({ MessageId: `w${i}`, ReceiptHandle: `r${i}`, Body: encodeMessage([node(`n${i}`)]) }));

  it.each([
    { name: 'an empty queue: one short poll', queued: 0, max: 100, polls: [10], taken: 0 },
    { name: 'fewer than a page: one poll', queued: 4, max: 100, polls: [10], taken: 4 },
    { name: 'full pages until one comes back short', queued: 25, max: 100, polls: [10, 10, 10], taken: 25 },
    { name: 'never more than max', queued: 40, max: 15, polls: [10, 5], taken: 15 },
  ])('receive: $name', async ({ queued, max, polls, taken }) => {
    const left = waiting(queued);
    const { sdk, calls } = fakeSdk(undefined, (name, input) => (name === 'receive' ? { Messages: left.splice(0, input['MaxNumberOfMessages'] as number) } : {}));
    const got = await createSqsQueue({ queueUrl: 'http://q', sdk: () => sdk }).receive(max);
    expect(got.map((m) => m.id)).toEqual(waiting(taken).map((m) => m.MessageId));
    expect(calls.map((c) => c.input)).toEqual(polls.map((n) => ({ QueueUrl: 'http://q', MaxNumberOfMessages: n, WaitTimeSeconds: 0 })));
  });

  it('delete: batches of 10 by receipt handle; answers the ids SQS did not delete, and whole batches whose request failed', async () => {
    const messages = waiting(23).map((m) => ({ id: m.MessageId, receipt: m.ReceiptHandle, body: m.Body }));
    let batch = 0;
    const { sdk, calls } = fakeSdk(undefined, () => {
      batch += 1;
      if (batch === 1) return { Failed: [{ Id: '3' }] };
      if (batch === 3) throw new Error('reset');
      return {};
    });
    const failed = await createSqsQueue({ queueUrl: 'http://q', sdk: () => sdk }).delete(messages);
    expect(calls.map((c) => (c.input['Entries'] as { ReceiptHandle: string }[]).map((e) => e.ReceiptHandle).length)).toEqual([10, 10, 3]);
    expect((calls[0]!.input['Entries'] as { Id: string; ReceiptHandle: string }[])[3]).toEqual({ Id: '3', ReceiptHandle: 'r3' });
    expect(failed.sort()).toEqual(['w20', 'w21', 'w22', 'w3'].sort());
  });
});
