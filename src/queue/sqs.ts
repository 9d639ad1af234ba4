/**
 * `HintQueue` and `QueueDrain` on Amazon SQS through the AWS SDK v3 that the nodejs22.x runtime provides (on
 * NODE_PATH, which only `require` honours: loaded with createRequire, kept out of the bundle). Locally the same SDK
 * talks to ElasticMQ (AWS_ENDPOINT_URL_SQS). Loaded on the first request, so cold starts that never enqueue do not pay
 * for it.
 */
import { createRequire } from 'node:module';
import { AWS_CALL_TIMEOUT_MS, callWithin } from '../aws-call.ts';
import { TransientError } from '../errors.ts';
import type { Hint } from '../hints.ts';
import { MAX_DELAY_SECONDS, encodeMessages } from './message.ts';
import type { HintQueue, QueueDrain, ReceivedMessage } from './port.ts';

interface SqsMessage {
  MessageId?: string;
  ReceiptHandle?: string;
  Body?: string;
}

/** The slice of `@aws-sdk/client-sqs` used here. */
export interface SqsSdk {
  SQSClient: new (config: object) => {
    send(command: unknown, options?: { abortSignal?: AbortSignal }): Promise<{ MessageId?: string; Messages?: SqsMessage[]; Failed?: { Id?: string }[] }>;
  };
  SendMessageCommand: new (input: { QueueUrl: string; MessageBody: string; DelaySeconds?: number }) => unknown;
  ReceiveMessageCommand: new (input: { QueueUrl: string; MaxNumberOfMessages: number; WaitTimeSeconds: number }) => unknown;
  DeleteMessageBatchCommand: new (input: { QueueUrl: string; Entries: { Id: string; ReceiptHandle: string }[] }) => unknown;
}

let runtimeSdk: SqsSdk | undefined;

export function loadRuntimeSqsSdk(): SqsSdk {
  runtimeSdk ??= createRequire(import.meta.url)('@aws-sdk/client-sqs') as SqsSdk;
  return runtimeSdk;
}

/** SQS's largest ReceiveMessage and DeleteMessageBatch. */
const SQS_BATCH = 10;

/**
 * The longest one SQS call may take (src/aws-call.ts): past it an intake's sender gets a 5xx naming the enqueue. A send
 * that timed out may still have landed: the hints come twice, which a reconcile takes as once.
 */
export const SQS_TIMEOUT_MS = AWS_CALL_TIMEOUT_MS;

export function createSqsQueue(options: { queueUrl: string; sdk?: () => SqsSdk; now?: () => number; timeoutMs?: number }): HintQueue & QueueDrain {
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? SQS_TIMEOUT_MS;
  const call = <T>(what: string, run: (abortSignal: AbortSignal) => Promise<T>) => callWithin(what, timeoutMs, run);
  let client: { sdk: SqsSdk; sqs: InstanceType<SqsSdk['SQSClient']> } | undefined;
  const connect = () => {
    if (!client) {
      const sdk = (options.sdk ?? loadRuntimeSqsSdk)();
      client = { sdk, sqs: new sdk.SQSClient({}) };
    }
    return client;
  };
  return {
    async send(hints: readonly Hint[], delaySeconds = 0, sendOptions = {}) {
      if (hints.length === 0) return;
      const { sdk, sqs } = connect();
      const delay = Math.max(0, Math.ceil(delaySeconds));
      const notBefore = delay > MAX_DELAY_SECONDS ? now() + delay * 1000 : undefined;
      // One message, unless the hints would not fit in one (message.ts `encodeMessages`).
      const commands = encodeMessages(hints, notBefore, sendOptions).map(
        (body) => new sdk.SendMessageCommand({ QueueUrl: options.queueUrl, MessageBody: body, DelaySeconds: Math.min(delay, MAX_DELAY_SECONDS) }),
      );
      try {
        await Promise.all(commands.map((command) => call('SendMessage', (abortSignal) => sqs.send(command, { abortSignal }))));
      } catch (error) {
        // Throttling, a network error, a queue that is briefly unavailable: the sender retries (5xx, redelivery).
        throw new TransientError(`enqueue ${hints.length} hint(s): ${error instanceof Error ? error.message : String(error)}`);
      }
    },

    async receive(max) {
      const { sdk, sqs } = connect();
      const out: ReceivedMessage[] = [];
      // Short polls (no wait) until the queue has no more visible messages or `max` are taken.
      while (out.length < max) {
        const want = Math.min(SQS_BATCH, max - out.length);
        const command = new sdk.ReceiveMessageCommand({ QueueUrl: options.queueUrl, MaxNumberOfMessages: want, WaitTimeSeconds: 0 });
        const answer = await call('ReceiveMessage', (abortSignal) => sqs.send(command, { abortSignal }));
        const messages = answer.Messages ?? [];
        for (const m of messages) {
          if (m.MessageId && m.ReceiptHandle && m.Body !== undefined) out.push({ id: m.MessageId, receipt: m.ReceiptHandle, body: m.Body });
        }
        if (messages.length < want) break;
      }
      return out;
    },

    async delete(messages) {
      const { sdk, sqs } = connect();
      const failed: string[] = [];
      const chunks: ReceivedMessage[][] = [];
      for (let i = 0; i < messages.length; i += SQS_BATCH) chunks.push(messages.slice(i, i + SQS_BATCH));
      await Promise.all(
        chunks.map(async (chunk) => {
          // Entry ids only need to be unique within one request.
          const entries = chunk.map((m, i) => ({ Id: String(i), ReceiptHandle: m.receipt }));
          try {
            const command = new sdk.DeleteMessageBatchCommand({ QueueUrl: options.queueUrl, Entries: entries });
            const answer = await call('DeleteMessageBatch', (abortSignal) => sqs.send(command, { abortSignal }));
            for (const f of answer.Failed ?? []) failed.push(chunk[Number(f.Id)]?.id ?? '?');
          } catch {
            failed.push(...chunk.map((m) => m.id));
          }
        }),
      );
      return failed;
    },
  };
}
