/**
 * A local SQS event source mapping with Lambda's semantics, speaking the real SQS API (ElasticMQ locally) through the
 * AWS SDK v3:
 *  - pollers long-poll ReceiveMessage (20 s, up to 10 messages, all attributes);
 *  - a batch is invoked when it holds `batchSize` messages, or `maximumBatchingWindow` seconds after its first message
 *    arrived (0: as soon as a receive returns messages);
 *  - at most `maximumConcurrency` invocations run at once (ScalingConfig.MaximumConcurrency; one poller per slot, each
 *    invoking synchronously), and never more than the function's own concurrency (a throttled batch is retried while
 *    its messages are still invisible);
 *  - success deletes the batch (DeleteMessageBatch); with ReportBatchItemFailures only the listed items stay; a
 *    function error or timeout deletes nothing: the messages reappear after the queue's visibility timeout, and the
 *    queue's redrive policy moves them to the DLQ after maxReceiveCount receives (ElasticMQ does that, as SQS does).
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeleteMessageBatchCommand, GetQueueUrlCommand, ReceiveMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import { TooManyRequestsError, type FunctionPool } from './function-pool.ts';
import { judgeBatch, toSqsRecord } from './sqs-event.ts';
import type { SqsEventSource } from './serverless-config.ts';

export interface MappingStats {
  batches: number;
  messages: number;
  deleted: number;
  failedBatches: number;
  partialBatches: number;
  throttledRetries: number;
  inFlightNow: number;
  inFlightMax: number;
  /** From a message's SentTimestamp to the start of the invocation that carried it (ms), last ones. */
  deliveryLatenciesMs: number[];
  batchSizes: number[];
}

export interface MappingOptions {
  sqs: SQSClient;
  pool: FunctionPool;
  source: SqsEventSource;
  queueArn: string;
  region: string;
  log: (line: string) => void;
  /** Long-poll wait (s); Lambda uses 20. */
  waitTimeSeconds?: number;
}

const DEFAULT_POLLERS = 5;

export class SqsMapping {
  private running = false;
  private readonly abort = new AbortController();
  private readonly pollers: Promise<void>[] = [];
  private queueUrl: string | undefined;
  readonly stats: MappingStats = {
    batches: 0,
    messages: 0,
    deleted: 0,
    failedBatches: 0,
    partialBatches: 0,
    throttledRetries: 0,
    inFlightNow: 0,
    inFlightMax: 0,
    deliveryLatenciesMs: [],
    batchSizes: [],
  };

  private readonly options: MappingOptions;

  constructor(options: MappingOptions) {
    this.options = options;
  }

  async start(): Promise<void> {
    const { sqs, source } = this.options;
    this.queueUrl = (await sqs.send(new GetQueueUrlCommand({ QueueName: source.queueName }))).QueueUrl;
    if (!this.queueUrl) throw new Error(`queue ${source.queueName} not found`);
    this.running = true;
    const pollers = source.maximumConcurrency ?? DEFAULT_POLLERS;
    for (let i = 0; i < pollers; i += 1) this.pollers.push(this.poll());
  }

  async stop(): Promise<void> {
    this.running = false;
    this.abort.abort();
    await Promise.allSettled(this.pollers);
  }

  /** One slot: gather a batch, invoke, settle it, repeat. */
  private async poll(): Promise<void> {
    while (this.running) {
      try {
        const batch = await this.gather();
        if (batch.length === 0 || !this.running) continue;
        await this.deliver(batch);
      } catch (error) {
        if (!this.running) return;
        this.options.log(`sqs mapping ${this.options.source.queueName}: ${error instanceof Error ? error.message : String(error)}`);
        await sleep(1_000).catch(() => undefined);
      }
    }
  }

  private async gather(): Promise<Message[]> {
    const { source, sqs } = this.options;
    const batch: Message[] = [];
    let windowEnds: number | undefined;
    while (this.running && batch.length < source.batchSize) {
      const remainingWindowMs = windowEnds === undefined ? undefined : windowEnds - Date.now();
      if (remainingWindowMs !== undefined && remainingWindowMs <= 0) break;
      const wait =
        remainingWindowMs === undefined ? (this.options.waitTimeSeconds ?? 20) : Math.min(20, Math.floor(remainingWindowMs / 1000));
      const output = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: this.queueUrl,
          MaxNumberOfMessages: Math.min(10, source.batchSize - batch.length),
          WaitTimeSeconds: wait,
          MessageSystemAttributeNames: ['All'],
          MessageAttributeNames: ['All'],
        }),
        { abortSignal: this.abort.signal },
      );
      const messages = output.Messages ?? [];
      batch.push(...messages);
      if (batch.length === 0) continue;
      if (source.maximumBatchingWindowSeconds === 0) break;
      windowEnds ??= Date.now() + source.maximumBatchingWindowSeconds * 1000;
      // A sub-second remainder cannot be long-polled (WaitTimeSeconds is whole seconds): wait it out, then try once.
      if (messages.length === 0 && windowEnds - Date.now() < 1000) {
        await sleep(Math.max(0, windowEnds - Date.now()));
      }
    }
    return batch;
  }

  private async deliver(batch: Message[]): Promise<void> {
    const { pool, source, sqs } = this.options;
    const started = Date.now();
    for (const message of batch) {
      const sent = Number(message.Attributes?.SentTimestamp);
      if (Number.isFinite(sent)) this.remember(this.stats.deliveryLatenciesMs, started - sent);
    }
    const event = { Records: batch.map((m) => toSqsRecord(m, this.options.queueArn, this.options.region)) };
    const payload = JSON.stringify(event);
    this.stats.batches += 1;
    this.stats.messages += batch.length;
    this.remember(this.stats.batchSizes, batch.length);
    this.stats.inFlightNow += 1;
    this.stats.inFlightMax = Math.max(this.stats.inFlightMax, this.stats.inFlightNow);
    let outcome;
    try {
      for (;;) {
        try {
          outcome = await pool.invoke(payload, randomUUID());
          break;
        } catch (error) {
          if (!(error instanceof TooManyRequestsError) || !this.running) throw error;
          // Throttled: Lambda keeps the batch and retries; the messages stay invisible meanwhile.
          this.stats.throttledRetries += 1;
          await sleep(100);
        }
      }
    } finally {
      this.stats.inFlightNow -= 1;
    }
    const verdict = judgeBatch(outcome.kind === 'ok' ? outcome : { kind: 'error' }, source.reportBatchItemFailures, batch.map((m) => m.MessageId ?? ''));
    if (verdict.kind === 'all-failed') {
      this.stats.failedBatches += 1;
      this.options.log(`sqs mapping ${source.queueName}: batch of ${batch.length} failed (${verdict.reason}); redelivered after the visibility timeout`);
      return;
    }
    const failed = new Set(verdict.kind === 'partial' ? verdict.failedIds : []);
    if (failed.size > 0) this.stats.partialBatches += 1;
    const done = batch.filter((m) => !failed.has(m.MessageId ?? ''));
    for (let i = 0; i < done.length; i += 10) {
      const chunk = done.slice(i, i + 10);
      const result = await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: this.queueUrl,
          Entries: chunk.map((m, index) => ({ Id: String(index), ReceiptHandle: m.ReceiptHandle })),
        }),
      );
      this.stats.deleted += result.Successful?.length ?? 0;
    }
  }

  private remember(list: number[], value: number): void {
    list.push(value);
    if (list.length > 1000) list.shift();
  }
}
