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
 * - Any other failure is reported for every record (SQS redelivers, then dead-letters).
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

export async function consumeBatch(event: SQSEvent, deps: ConsumerDeps): Promise<SQSBatchResponse> {
  const failures: string[] = [];
  const due: { record: SQSRecord; hints: Hint[] }[] = [];
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
          await deps.queue.send(message.hints, wait);
        } catch {
          failures.push(record.messageId);
        }
        return;
      }
      due.push({ record, hints: message.hints });
    }),
  );
  if (due.length === 0) return batchResponse(failures);

  const hints = dedupeHints(due.flatMap((d) => d.hints));
  try {
    const result = await deps.handler.handle(hints);
    deps.log.info('queue batch reconciled', { records: event.Records.length, hints: hints.length, result });
  } catch (error) {
    deps.log.warn('queue batch not reconciled', { records: due.length, hints: hints.length, error: serializeError(error) });
    const retryable = isTransient(error);
    const delay = retryable ? Math.min(60, Math.max(1, Math.ceil(error.retryAfterSeconds ?? RETRY_DELAY_SECONDS))) : 0;
    const requeued = retryable && (await deps.queue.send(hints, delay).then(() => true, () => false));
    if (!requeued) failures.push(...due.map((d) => d.record.messageId));
  }
  return batchResponse(failures);
}

function parseRecord(record: SQSRecord): { hints: Hint[]; notBefore?: number } | undefined {
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
