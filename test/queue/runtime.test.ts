/**
 * The queue runtime's pure and in-process parts: how follow-ups and re-queues are scheduled, how a batch of SQS
 * records is consumed, how hints become SQS messages. ElasticMQ and the local Lambda runtime are exercised in
 * test/integration (the Lambda runtime suite).
 */
import { describe, expect, it } from 'vitest';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { RejectedError, TransientError } from '../../src/errors.ts';
import type { HandleResult, Hint, HintHandler } from '../../src/hints.ts';
import { nextPassAt, type PassScheduler } from '../../src/k8s/leases.ts';
import { silentLogger } from '../../src/log.ts';
import { MAX_FAILED_RESENDS, consumeBatch } from '../../src/queue/consumer.ts';
import { encodeMessage } from '../../src/queue/message.ts';
import type { HintQueue } from '../../src/queue/port.ts';
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
    };
    return { s, asked };
  }
  const options = (queue: HintQueue, s: PassScheduler) => ({ queue, scheduler: () => s, intervalMs: 1000, now: () => NOW, log: silentLogger });

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

  it('a re-queue becomes a message delayed to when it is due: DaemonSet hints through the scheduler, node hints directly', async () => {
    const { queue, sent } = recordingQueue();
    const { s, asked } = scheduler(new Map([['a', 11]]));
    const { h } = handler({ requeueAfterSeconds: 10.2 });
    await withQueuedFollowUps(h, options(queue, s)).handle([ds('a'), node('n1')]);
    expect(asked).toEqual([{ name: 'a', at: NOW + 10_200 }]);
    expect(sent).toEqual(expect.arrayContaining([{ hints: [ds('a')], delay: 11 }, { hints: [node('n1')], delay: 10.2 }]));
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
    const a = record(encodeMessage([node('n1')], undefined, failuresBefore));
    expect(await consumeBatch(event(a), deps(h, queue))).toEqual({ batchItemFailures: [] });
    expect(sent).toEqual([{ hints: [node('n1')], delay, failures: failuresAfter }]);
  });

  it(`after ${MAX_FAILED_RESENDS} such re-sends every record is reported failed (SQS redelivers, then dead-letters)`, async () => {
    const { h } = handler(async () => {
      throw new RejectedError('403 forbidden', 403);
    });
    const { queue, sent } = recordingQueue();
    const a = record(encodeMessage([node('n1')], undefined, MAX_FAILED_RESENDS));
    const b = record(encodeMessage([node('n2')]));
    expect(await consumeBatch(event(a, b), deps(h, queue))).toEqual({ batchItemFailures: [{ itemIdentifier: a.messageId }, { itemIdentifier: b.messageId }] });
    expect(sent).toEqual([]);
  });

  it('a transient failure keeps the count of earlier failures; a message not yet due keeps it too', async () => {
    const sent: { delay: number; failures?: number }[] = [];
    const queue: HintQueue = { send: async (_hints, d = 0, options) => void sent.push({ delay: d, failures: options?.failures }) };
    const { h } = handler(async () => {
      throw new TransientError('503');
    });
    await consumeBatch(event(record(encodeMessage([node('n1')], undefined, 2))), deps(h, queue));
    await consumeBatch(event(record(encodeMessage([node('n1')], NOW + 1_200_000, 3))), deps(h, queue));
    expect(sent).toEqual([{ delay: 2, failures: 2 }, { delay: 1200, failures: 3 }]);
  });
});

describe('createSqsQueue', () => {
  function fakeSdk(fail?: Error) {
    const commands: { QueueUrl: string; MessageBody: string; DelaySeconds?: number }[] = [];
    const sdk: SqsSdk = {
      SQSClient: class {
        async send(command: unknown) {
          if (fail) throw fail;
          commands.push((command as { input: (typeof commands)[number] }).input);
          return { MessageId: 'x' };
        }
      },
      SendMessageCommand: class {
        input: unknown;
        constructor(input: unknown) {
          this.input = input;
        }
      },
    };
    return { sdk, commands };
  }

  it('carries the count of failed reconciles in the message', async () => {
    const { sdk, commands } = fakeSdk();
    await createSqsQueue({ queueUrl: 'http://q', sdk: () => sdk, now: () => NOW }).send([node('n1')], 4, { failures: 2 });
    expect(JSON.parse(commands[0]!.MessageBody)).toEqual({ v: 1, hints: [node('n1')], failures: 2 });
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
});
