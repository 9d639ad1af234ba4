/**
 * `HintQueue` on Amazon SQS through the AWS SDK v3 that the nodejs22.x runtime provides (on NODE_PATH, which only
 * `require` honours: loaded with createRequire, kept out of the bundle). Locally the same SDK talks to ElasticMQ
 * (AWS_ENDPOINT_URL_SQS). Loaded on the first send, so cold starts that never enqueue do not pay for it.
 */
import { createRequire } from 'node:module';
import { TransientError } from '../errors.ts';
import type { Hint } from '../hints.ts';
import { MAX_DELAY_SECONDS, encodeMessage } from './message.ts';
import type { HintQueue } from './port.ts';

/** The slice of `@aws-sdk/client-sqs` used here. */
export interface SqsSdk {
  SQSClient: new (config: object) => { send(command: unknown): Promise<{ MessageId?: string }> };
  SendMessageCommand: new (input: { QueueUrl: string; MessageBody: string; DelaySeconds?: number }) => unknown;
}

let runtimeSdk: SqsSdk | undefined;

export function loadRuntimeSqsSdk(): SqsSdk {
  runtimeSdk ??= createRequire(import.meta.url)('@aws-sdk/client-sqs') as SqsSdk;
  return runtimeSdk;
}

export function createSqsQueue(options: { queueUrl: string; sdk?: () => SqsSdk; now?: () => number }): HintQueue {
  const now = options.now ?? Date.now;
  let client: { sdk: SqsSdk; sqs: InstanceType<SqsSdk['SQSClient']> } | undefined;
  return {
    async send(hints: readonly Hint[], delaySeconds = 0, sendOptions = {}) {
      if (hints.length === 0) return;
      if (!client) {
        const sdk = (options.sdk ?? loadRuntimeSqsSdk)();
        client = { sdk, sqs: new sdk.SQSClient({}) };
      }
      const delay = Math.max(0, Math.ceil(delaySeconds));
      const notBefore = delay > MAX_DELAY_SECONDS ? now() + delay * 1000 : undefined;
      const command = new client.sdk.SendMessageCommand({
        QueueUrl: options.queueUrl,
        MessageBody: encodeMessage(hints, notBefore, sendOptions.failures),
        DelaySeconds: Math.min(delay, MAX_DELAY_SECONDS),
      });
      try {
        await client.sqs.send(command);
      } catch (error) {
        // Throttling, a network error, a queue that is briefly unavailable: the sender retries (5xx, redelivery).
        throw new TransientError(`enqueue ${hints.length} hint(s): ${error instanceof Error ? error.message : String(error)}`);
      }
    },
  };
}
