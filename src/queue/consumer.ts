/**
 * The reconcile function's side of the queue: a batch of SQS records (Lambda's event source mapping with
 * ReportBatchItemFailures) becomes one reconcile of all their hints, like the local server's coalescing.
 *
 * - A record that is not a valid message is reported as a batch item failure (and nothing else is): SQS redelivers it
 *   alone and, after the queue's maxReceiveCount, moves it to the dead-letter queue where it can be inspected.
 * - A record whose `notBefore` is still ahead (a delay beyond SQS's 900 s) is sent again with the rest of its delay.
 * - A transient failure of the reconcile (API server overloaded, time budget spent) sends the batch's hints again
 *   with a short delay (the API server's Retry-After when it gave one) and reports success, so the retry does not
 *   wait for the visibility timeout; when even that send fails, every record is reported failed and SQS redelivers.
 * - Any other failure (a 403 while kube-apiserver's authorizer starts after a restart, a bug) sends the hints again
 *   with a growing delay (2, 4, 8, 16 s: upstream re-queues every failed sync with backoff), counting the failures in
 *   the message; after that it is reported for every record, and SQS redelivers after the visibility timeout, then
 *   dead-letters.
 */
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { isTransient } from '../errors.ts';
import { dedupeHints, type Hint, type HintHandler } from '../hints.ts';
import { serializeError, type Logger } from '../log.ts';
import { QueueMessageSchema } from './message.ts';
import type { HintQueue } from './port.ts';

export interface ConsumerDeps {
  handler: HintHandler;
  queue: HintQueue;
  log: Logger;
  now: () => number;
}

/** Delay of a retried batch when the API server named none: short, since the queue already spaces deliveries. */
const RETRY_DELAY_SECONDS = 2;
/** Re-sends after a failure that is not transient, before the records are left to SQS's redrive. */
export const MAX_FAILED_RESENDS = 4;

export async function consumeBatch(event: SQSEvent, deps: ConsumerDeps): Promise<SQSBatchResponse> {
  const failures: string[] = [];
  const due: { record: SQSRecord; hints: Hint[]; failures: number }[] = [];
  await Promise.all(
    event.Records.map(async (record) => {
      const message = parseRecord(record);
      if (message === undefined) {
        deps.log.warn('queue message refused', { messageId: record.messageId, receiveCount: record.attributes?.ApproximateReceiveCount });
        failures.push(record.messageId);
        return;
      }
      const wait = message.notBefore === undefined ? 0 : (message.notBefore - deps.now()) / 1000;
      if (wait > 1) {
        try {
          await deps.queue.send(message.hints, wait, { failures: message.failures ?? 0 });
        } catch {
          failures.push(record.messageId);
        }
        return;
      }
      due.push({ record, hints: message.hints, failures: message.failures ?? 0 });
    }),
  );
  if (due.length === 0) return batchResponse(failures);

  const hints = dedupeHints(due.flatMap((d) => d.hints));
  try {
    const result = await deps.handler.handle(hints);
    deps.log.info('queue batch reconciled', { records: event.Records.length, hints: hints.length, result });
  } catch (error) {
    deps.log.warn('queue batch not reconciled', { records: due.length, hints: hints.length, error: serializeError(error) });
    const failed = Math.max(...due.map((d) => d.failures));
    let requeued = false;
    if (isTransient(error)) {
      const delay = Math.min(60, Math.max(1, Math.ceil(error.retryAfterSeconds ?? RETRY_DELAY_SECONDS)));
      requeued = await deps.queue.send(hints, delay, { failures: failed }).then(() => true, () => false);
    } else if (failed < MAX_FAILED_RESENDS) {
      requeued = await deps.queue.send(hints, RETRY_DELAY_SECONDS * 2 ** failed, { failures: failed + 1 }).then(() => true, () => false);
    }
    if (!requeued) failures.push(...due.map((d) => d.record.messageId));
  }
  return batchResponse(failures);
}

function parseRecord(record: SQSRecord): { hints: Hint[]; notBefore?: number; failures?: number } | undefined {
  let body: unknown;
  try {
    body = JSON.parse(record.body) as unknown;
  } catch {
    return undefined;
  }
  const parsed = QueueMessageSchema.safeParse(body);
  return parsed.success ? parsed.data : undefined;
}

function batchResponse(failures: string[]): SQSBatchResponse {
  return { batchItemFailures: failures.map((itemIdentifier) => ({ itemIdentifier })) };
}
