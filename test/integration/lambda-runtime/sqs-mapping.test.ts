/**
 * The local SQS event source mapping against ElasticMQ: the event shape, batching, partial batch failures, redrive to
 * the DLQ, the maximum concurrency bound and per-message DelaySeconds. The fixture mapping: fixture-queue → consumer,
 * batchSize 5, maximumBatchingWindow 1 s, maximumConcurrency 2, ReportBatchItemFailures; the queue's visibility
 * timeout is 3 s and its redrive policy sends a message to fixture-dlq after 2 receives.
 */
import { GetQueueUrlCommand, ReceiveMessageCommand, SendMessageBatchCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SqsRecord } from '../../../devcluster/lambda/sqs-event.ts';
import { eventually, startFixtureService, type FixtureService } from './fixture-service.ts';

let service: FixtureService;
let queueUrl: string;
let dlqUrl: string;

beforeAll(async () => {
  service = await startFixtureService();
  queueUrl = (await service.sqs.send(new GetQueueUrlCommand({ QueueName: 'fixture-queue' }))).QueueUrl!;
  dlqUrl = (await service.sqs.send(new GetQueueUrlCommand({ QueueName: 'fixture-dlq' }))).QueueUrl!;
});
afterAll(async () => {
  await service?.stop();
});

interface Batch {
  started: number;
  ended: number;
  records: SqsRecord[];
}

const batches = () => service.lines<Batch>('batches');
const deliveriesOf = (test: string) =>
  batches().flatMap((b) => b.records.filter((r) => (JSON.parse(r.body) as { test: string }).test === test).map((r) => ({ batch: b, record: r })));

async function send(test: string, bodies: Record<string, unknown>[]): Promise<void> {
  for (let i = 0; i < bodies.length; i += 10) {
    await service.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: bodies.slice(i, i + 10).map((body, j) => ({
          Id: String(i + j),
          MessageBody: JSON.stringify({ test, ...body }),
          MessageAttributes: { kind: { DataType: 'String', StringValue: 'fixture' } },
        })),
      }),
    );
  }
}

describe('SQS event source mapping', () => {
  it('delivers records in Lambda’s SQS event shape', async () => {
    const sentAt = Date.now();
    await send('shape', [{ n: 1 }]);
    const { record } = (await eventually(() => (deliveriesOf('shape').length === 1 ? deliveriesOf('shape') : undefined), 10_000, 'the delivery'))[0]!;
    expect(Object.keys(record!).sort()).toEqual(
      ['attributes', 'awsRegion', 'body', 'eventSource', 'eventSourceARN', 'md5OfBody', 'md5OfMessageAttributes', 'messageAttributes', 'messageId', 'receiptHandle'].sort(),
    );
    expect(record).toMatchObject({
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:fixture-queue',
      awsRegion: 'us-east-1',
      messageAttributes: { kind: { stringValue: 'fixture', stringListValues: [], binaryListValues: [], dataType: 'String' } },
    });
    expect(record!.attributes.ApproximateReceiveCount).toBe('1');
    expect(Number(record!.attributes.SentTimestamp)).toBeGreaterThanOrEqual(sentAt - 1_000);
    expect(Number(record!.attributes.ApproximateFirstReceiveTimestamp)).toBeGreaterThanOrEqual(Number(record!.attributes.SentTimestamp));
    expect(record!.md5OfBody).toMatch(/^[0-9a-f]{32}$/);
  });

  it('batches up to batchSize within the batching window and deletes what succeeded', async () => {
    await send('batching', Array.from({ length: 5 }, (_, n) => ({ n })));
    const delivered = await eventually(() => (deliveriesOf('batching').length >= 5 ? deliveriesOf('batching') : undefined), 10_000, 'five deliveries');
    expect(delivered).toHaveLength(5);
    const sizes = [...new Set(delivered.map((d) => d.batch))].map((b) => b.records.length);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(5);
    // With a 1 s window, the 5 messages sent together arrive in few batches (two pollers may split them).
    expect(sizes.length).toBeLessThanOrEqual(2);
    // Deleted: nothing comes back after the visibility timeout.
    await new Promise((r) => setTimeout(r, 3_500));
    expect(deliveriesOf('batching')).toHaveLength(5);
  });

  it('keeps only the reported batch item failures, and redrives them to the DLQ after maxReceiveCount', async () => {
    await send('partial', [{ id: 'ok-1' }, { id: 'bad', fail: true }, { id: 'ok-2' }]);
    // The failed one is received twice (receive count 1, then 2 after the 3 s visibility timeout), then moved.
    const bad = await eventually(() => {
      const list = deliveriesOf('partial').filter((d) => (JSON.parse(d.record.body) as { id: string }).id === 'bad');
      return list.length >= 2 ? list : undefined;
    }, 15_000, 'two deliveries of the failing message');
    expect(bad.map((d) => d.record.attributes.ApproximateReceiveCount)).toEqual(['1', '2']);
    const moved = await eventually(async () => {
      const out = await service.sqs.send(new ReceiveMessageCommand({ QueueUrl: dlqUrl, WaitTimeSeconds: 1, MaxNumberOfMessages: 10 }));
      const mine = (out.Messages ?? []).filter((m) => (JSON.parse(m.Body!) as { test: string }).test === 'partial');
      return mine.length > 0 ? mine : undefined;
    }, 15_000, 'the message in the DLQ');
    expect(moved.map((m) => (JSON.parse(m.Body!) as { id: string }).id)).toEqual(['bad']);
    const oks = deliveriesOf('partial').filter((d) => (JSON.parse(d.record.body) as { id: string }).id !== 'bad');
    expect(oks.map((d) => (JSON.parse(d.record.body) as { id: string }).id).sort()).toEqual(['ok-1', 'ok-2']);
  });

  it('redelivers the whole batch when the function fails', async () => {
    await send('crash', [{ id: 'c', crash: true }]);
    const seen = await eventually(() => (deliveriesOf('crash').length >= 2 ? deliveriesOf('crash') : undefined), 15_000, 'a redelivery');
    expect(seen[1]!.record.attributes.ApproximateReceiveCount).toBe('2');
    expect(seen[1]!.batch.started - seen[0]!.batch.ended).toBeGreaterThanOrEqual(2_000);
  });

  it('never runs more than maximumConcurrency invocations at once', async () => {
    await send('concurrency', Array.from({ length: 30 }, (_, n) => ({ n, sleepMs: 400 })));
    const delivered = await eventually(() => (deliveriesOf('concurrency').length >= 30 ? deliveriesOf('concurrency') : undefined), 30_000, 'thirty deliveries');
    const mine = [...new Set(delivered.map((d) => d.batch))];
    // Overlap from the handlers' own start/end times.
    const points = mine.flatMap((b) => [
      { t: b.started, d: 1 },
      { t: b.ended, d: -1 },
    ]);
    points.sort((a, b) => a.t - b.t || a.d - b.d);
    let now = 0;
    let max = 0;
    for (const p of points) max = Math.max(max, (now += p.d));
    expect(max).toBeLessThanOrEqual(2);
    expect(max).toBe(2);
    const stats = (await service.stats()).mappings[0] as { inFlightMax: number };
    expect(stats.inFlightMax).toBeLessThanOrEqual(2);
  });

  it('honours per-message DelaySeconds', async () => {
    const sentAt = Date.now();
    await service.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify({ test: 'delay' }), DelaySeconds: 2 }));
    const { batch } = (await eventually(() => (deliveriesOf('delay').length === 1 ? deliveriesOf('delay') : undefined), 10_000, 'the delayed delivery'))[0]!;
    expect(batch!.started - sentAt).toBeGreaterThanOrEqual(2_000);
    expect(batch!.started - sentAt).toBeLessThan(4_500);
    const latencies = ((await service.stats()).mappings[0] as { deliveryLatenciesMs: number[] }).deliveryLatenciesMs;
    process.stderr.write(`[local-cloud] sqs: delivery latency (SentTimestamp → invoke) median ${median(latencies)} ms over ${latencies.length} messages (window 1 s)\n`);
  });
});

describe('SQS event source mapping without a batching window', () => {
  it('invokes as soon as a long poll returns (latency from SentTimestamp to the invocation)', async () => {
    const url = (await service.sqs.send(new GetQueueUrlCommand({ QueueName: 'fixture-fast' }))).QueueUrl!;
    const latencies: number[] = [];
    for (let i = 0; i < 10; i += 1) {
      const sentAt = Date.now();
      await service.sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: JSON.stringify({ test: 'fast', i }) }));
      const batch = await eventually(() => service.lines<Batch>('fast-batches').find((b) => b.records.some((r) => (JSON.parse(r.body) as { i: number }).i === i)), 5_000, `message ${i}`);
      latencies.push(batch.started - sentAt);
    }
    process.stderr.write(`[local-cloud] sqs (window 0): send → handler start median ${median(latencies)} ms, max ${Math.max(...latencies)} ms\n`);
    expect(median(latencies)).toBeLessThan(1_000);
  });
});

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}
