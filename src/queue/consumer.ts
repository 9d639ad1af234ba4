/**
 * The reconcile function's side of the queue: a batch of SQS records (Lambda's event source mapping with
 * ReportBatchItemFailures) becomes one reconcile of all their hints, like the local server's coalescing.
 *
 * - A record that is not a valid message is reported as a batch item failure (and nothing else is): SQS redelivers it
 *   alone and, after the queue's maxReceiveCount, moves it to the dead-letter queue where it can be inspected.
 * - A record whose `notBefore` is still ahead (a delay beyond SQS's 900 s) is sent again with the rest of its delay.
 * - A transient failure of the reconcile (API server overloaded or unreachable, a stale view) or a deferral (the pass
 *   lock held by another pass, a time budget spent after writes were made) sends the batch's hints again, in one
 *   message per count (usually one: each message keeps its own counts), with a short delay (the API server's
 *   Retry-After when it gave one) and reports success, so the retry does not wait for the visibility timeout; when even
 *   that send fails, its records are reported failed and SQS redelivers. Transient failures are counted in each message
 *   (deferrals are not): past `MAX_TRANSIENT_RESENDS` that message's are handled as the failures below, so a condition
 *   that never clears reaches the dead-letter queue.
 * - Any other failure (a 403 while kube-apiserver's authorizer starts after a restart, a bug, one DaemonSet's step that
 *   keeps failing) sends each message of the pass again on its own, with its own count and a delay growing with it
 *   (2, 4, 8, 16 s: upstream re-queues every failed sync with backoff): the pass cannot tell which hint failed, and the
 *   others, parted from it by their delays, succeed on their own. A message that failed `MAX_FAILED_RESENDS` times is
 *   reported failed (a drained one is left in the queue): SQS redelivers it after the visibility timeout, then
 *   dead-letters it.
 * - With `drain`, the messages already waiting in the queue (up to `drain.max`, short polls) join the batch's pass once
 *   it holds the pass lock (HintHandler's `more`): a backlog (a burst of joins, status passes of several DaemonSets) is
 *   worked off in one pass per batch instead of one per 10 messages, each waiting for the lock. Only a full batch, or
 *   one whose pass waited for the lock, drains: a short batch means the queue was empty. Drained before the
 *   lock, they were held by a pass that then gave up waiting and sent them back delayed (the first N = 1,000 run:
 *   (b) 110 s instead of 64 s). They are deleted once their hints are reconciled or sent again, as the batch's records
 *   are; otherwise (or when the delete fails) SQS delivers them again after their visibility timeout. A drained message
 *   that is not valid is left alone: it comes back through the event source mapping, which reports it and, after
 *   maxReceiveCount, dead-letters it.
 */
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { DeferredError, isTransient } from '../errors.ts';
import { dedupeHints, summarizeHints, type Hint, type HintHandler, type MoreHints } from '../hints.ts';
import { serializeError, type Logger } from '../log.ts';
import { issuesOf, shortened } from '../http/invalid-input.ts';
import { QueueMessageSchema, type QueueMessage } from './message.ts';
import type { HintQueue, QueueDrain, ReceivedMessage } from './port.ts';

export interface ConsumerDeps {
  handler: HintHandler;
  queue: HintQueue;
  log: Logger;
  now: () => number;
  /**
   * Messages already waiting join the batch's pass, up to `max` of them (absent or 0: the batch alone). `batchSize` is
   * the event source mapping's: a batch that came shorter found the queue empty, so unless its pass then waited for
   * the lock there is nothing to drain, and the pass does not wait for a receive to learn it (the latency of a join).
   */
  drain?: { queue: QueueDrain; max: number; batchSize: number };
}

interface Due {
  hints: Hint[];
  failures: number;
  transients: number;
  /** The batch's record, or a message this invocation took from the queue itself. */
  from: { record: SQSRecord } | { drained: ReceivedMessage };
}

/** Delay of a retried batch when the API server named none: short, since the queue already spaces deliveries. */
const RETRY_DELAY_SECONDS = 2;
/** Re-sends after a failure that is not transient, before the records are left to SQS's redrive. */
export const MAX_FAILED_RESENDS = 4;
/**
 * Re-sends after transient failures (not deferrals) before they count as a failure: at their delays (the API server's
 * Retry-After, else 2 s) a few minutes of an unreachable or refusing API server; what outlasts that is heading for
 * the dead-letter queue (and its alarm), as a configuration problem would (a CRD missing: every list answers 404).
 */
export const MAX_TRANSIENT_RESENDS = 30;

/** `signal`: aborted when the invocation's time is nearly up; the pass then stops launching writes and fails transiently. */
export async function consumeBatch(event: SQSEvent, deps: ConsumerDeps, signal?: AbortSignal): Promise<SQSBatchResponse> {
  const failures: string[] = [];
  const due: Due[] = [];
  /** Drained messages done with before the pass (sent again for later): deleted with the others. */
  const handled: ReceivedMessage[] = [];
  await Promise.all(
    event.Records.map(async (record) => {
      const message = parseBody(record.body);
      if (typeof message === 'string') {
        deps.log.warn('queue message refused', { messageId: record.messageId, receiveCount: record.attributes?.ApproximateReceiveCount, problem: message });
        failures.push(record.messageId);
        return;
      }
      try {
        if (await sentForLater(message, deps)) return;
      } catch {
        failures.push(record.messageId);
        return;
      }
      due.push({ hints: message.hints, failures: message.failures ?? 0, transients: message.transients ?? 0, from: { record } });
    }),
  );
  if (due.length === 0) return batchResponse(failures);

  const { drain } = deps;
  const more: MoreHints | undefined =
    drain && drain.max > 0
      ? async ({ waited }) => {
          if (!waited && event.Records.length < drain.batchSize) return [];
          const before = due.length;
          await drainInto(due, handled, drain, deps);
          return due.slice(before).flatMap((d) => d.hints);
        }
      : undefined;
  const hintsOfDue = () => dedupeHints(due.flatMap((d) => d.hints));
  const drainedOfDue = () => due.flatMap((d) => ('drained' in d.from ? [d.from.drained] : []));
  let done = false;
  try {
    const result = await deps.handler.handle(hintsOfDue(), signal, more);
    done = true;
    const drained = drainedOfDue().length;
    deps.log.info('queue batch reconciled', { records: event.Records.length, ...(drained > 0 ? { drained } : {}), hints: summarizeHints(hintsOfDue()), result });
  } catch (error) {
    // Every hint the pass had, drained ones included, is sent again.
    const hints = hintsOfDue();
    const transient = isTransient(error);
    deps.log.warn('queue batch not reconciled', { records: due.length, hints: hints.length, transient, error: serializeError(error) });
    const deferred = error instanceof DeferredError;
    // Each message keeps its own counts: merged, a hint that only shared a pass (or a wait for the pass lock) with a
    // DaemonSet that keeps failing took on its count and went to the dead-letter queue with it.
    const counted = (d: Due) => d.transients + (transient && !deferred ? 1 : 0);
    const again = transient ? due.filter((d) => deferred || counted(d) <= MAX_TRANSIENT_RESENDS) : [];
    // Together, one message per count (usually one): the next pass takes them all again.
    const delay = transient ? Math.min(60, Math.max(1, Math.ceil(error.retryAfterSeconds ?? RETRY_DELAY_SECONDS))) : 0;
    const together = new Map<string, Due[]>();
    for (const d of again) {
      const key = `${d.failures}/${counted(d)}`;
      together.set(key, [...(together.get(key) ?? []), d]);
    }
    const left = await Promise.all([
      ...[...together.values()].map(async (group) => {
        const [first] = group as [Due, ...Due[]];
        const sent = await deps.queue.send(dedupeHints(group.flatMap((d) => d.hints)), delay, { failures: first.failures, transients: counted(first) }).then(() => true, () => false);
        return sent ? [] : group;
      }),
      // Any other failure, or transient ones past the bound: each message on its own, with its own count and delay: the
      // hint that fails is not known, and hints that only shared its pass must not share its fate (the dead-letter
      // queue); their delays part them.
      ...due
        .filter((d) => !again.includes(d))
        .map(async (d) => {
          if (d.failures >= MAX_FAILED_RESENDS) return [d];
          // The transient count goes with it: past the bound, every further transient failure counts as a failure.
          const sent = await deps.queue.send(d.hints, RETRY_DELAY_SECONDS * 2 ** d.failures, { failures: d.failures + 1, transients: counted(d) }).then(() => true, () => false);
          return sent ? [] : [d];
        }),
    ]);
    const kept = left.flat();
    failures.push(...recordsOf(kept));
    // Drained messages sent again are done with; the others stay in the queue (their visibility timeout).
    handled.push(...due.filter((d) => !kept.includes(d)).flatMap((d) => ('drained' in d.from ? [d.from.drained] : [])));
  }
  // Not done: the drained messages stay in the queue and come back after their visibility timeout. Those sent again
  // for later are done with either way.
  const finished = done ? [...handled, ...drainedOfDue()] : handled;
  if (deps.drain && finished.length > 0) {
    const left = await deps.drain.queue.delete(finished).catch(() => finished.map((m) => m.id));
    if (left.length > 0) deps.log.warn('drained messages not deleted; they come back after their visibility timeout', { messageIds: left });
  }
  return batchResponse(failures);
}

/** A message whose `notBefore` is still ahead (a delay beyond SQS's 900 s) is sent again with the rest of its delay. */
async function sentForLater(message: QueueMessage, deps: ConsumerDeps): Promise<boolean> {
  const wait = message.notBefore === undefined ? 0 : (message.notBefore - deps.now()) / 1000;
  if (wait <= 1) return false;
  await deps.queue.send(message.hints, wait, { failures: message.failures ?? 0, transients: message.transients ?? 0 });
  return true;
}

async function drainInto(due: Due[], handled: ReceivedMessage[], drain: NonNullable<ConsumerDeps['drain']>, deps: ConsumerDeps): Promise<void> {
  let received: ReceivedMessage[];
  try {
    received = await drain.queue.receive(drain.max);
  } catch (error) {
    // The batch alone is still worth reconciling; what waits comes in later batches.
    deps.log.warn('queue not drained', { error: serializeError(error) });
    return;
  }
  await Promise.all(
    received.map(async (drained) => {
      const message = parseBody(drained.body);
      if (typeof message === 'string') {
        deps.log.warn('drained queue message refused; left for the event source mapping', { messageId: drained.id, problem: message });
        return;
      }
      try {
        if (await sentForLater(message, deps)) {
          handled.push(drained);
          return;
        }
      } catch {
        return; // left in the queue: it comes back after its visibility timeout
      }
      due.push({ hints: message.hints, failures: message.failures ?? 0, transients: message.transients ?? 0, from: { drained } });
    }),
  );
}

/** The message, or what is wrong with it (for the log; short: the first problems, cut). */
function parseBody(text: string): QueueMessage | string {
  let body: unknown;
  try {
    body = JSON.parse(text) as unknown;
  } catch {
    return 'not JSON';
  }
  const parsed = QueueMessageSchema.safeParse(body);
  if (parsed.success) return parsed.data;
  return shortened(issuesOf(parsed.error).slice(0, 3).map((i) => `${i.path}: ${i.message}`).join('; '));
}

function recordsOf(due: readonly Due[]): string[] {
  return due.flatMap((d) => ('record' in d.from ? [d.from.record.messageId] : []));
}

function batchResponse(failures: string[]): SQSBatchResponse {
  return { batchItemFailures: failures.map((itemIdentifier) => ({ itemIdentifier })) };
}
