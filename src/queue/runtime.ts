/**
 * The queue runtime (docs/adr/0003-queue.md): intake functions enqueue hints instead of reconciling; the reconcile
 * function consumes them in batches; follow-up passes and re-queues become delayed messages, DaemonSet-wide ones
 * rate-limited per DaemonSet by a Lease (src/k8s/leases.ts `PassScheduler`). Nothing waits inside an invocation.
 */
import { isTransient, TransientError } from '../errors.ts';
import { dedupeHints, forRequeue, hintKey, lastPassForRefused, partialResultOf, type HandleResult, type Hint, type HintHandler, type MoreHints } from '../hints.ts';
import type { PassScheduler } from '../k8s/leases.ts';
import type { Logger } from '../log.ts';
import type { HintQueue } from './port.ts';

/** The intake side: hints go to the queue; the webhook is answered as soon as the queue has them. */
export function enqueueingHandler(queue: HintQueue): HintHandler {
  return {
    async handle(hints) {
      await queue.send(hints, 0);
      return { hints: hints.length, created: 0, deleted: 0, apiRequests: 0, queued: hints.length };
    },
  };
}

export interface QueuedFollowUpOptions {
  queue: HintQueue;
  /** A scheduler whose API calls stop retrying at `deadline` (epoch ms). */
  scheduler: (deadline: number) => PassScheduler;
  /** Least time between two scheduled DaemonSet-wide passes of one DaemonSet (SQS delays have 1 s granularity). */
  intervalMs: number;
  /**
   * A follow-up that a later pass may cover (Hint `after`: a join's status) is sent this much later (whole seconds), so
   * that the new pod's own change (turning Ready) brings that pass first; the follow-up then ends after one read.
   */
  followUpDelayMs: number;
  now: () => number;
  log: Logger;
}

/**
 * After each reconcile: every DaemonSet-wide follow-up it asks for is scheduled (at most one per DaemonSet per
 * interval, whatever the event rate), and a re-queue (failed-pod backoff expiry, minReadySeconds) becomes a message
 * delayed to the second it is due, instead of waiting for the next event or the resync. A failure to schedule is
 * transient: the batch is handled again, and the reconcile, being idempotent, does no harm twice.
 */
export function withQueuedFollowUps(inner: HintHandler, options: QueuedFollowUpOptions): HintHandler {
  /** Schedules what a reconcile of `hints` asks for: its follow-ups, a re-queue, the unsettled hints handed in again. */
  const schedule = async (result: HandleResult, hints: readonly Hint[]): Promise<void> => {
    const now = options.now();
    const scheduler = options.scheduler(now + 5_000);
    // A join's follow-up (Hint `after`) goes out a follow-up delay later without the Lease: a pass that runs counts
    // every join before it, and the follow-ups of those joins, delayed as much, end after one read; so these passes
    // space themselves at least a delay apart (docs/adr/0003-queue.md), and the Lease's read and write are saved.
    const joins = (result.followUp ?? []).filter((h) => h.kind === 'daemonSet' && h.after !== undefined);
    const wanted: { hint: Extract<Hint, { kind: 'daemonSet' }>; at: number }[] = (result.followUp ?? []).flatMap((h) =>
      h.kind === 'daemonSet' && h.after === undefined ? [{ hint: h, at: now }] : [],
    );
    const others: Hint[] = [];
    // Admitted changes the pass read too early to see (Hint `pending`): at once again the first time (the change
    // is usually stored within milliseconds of the admission answer), then each second, until their `until`.
    const { again, refused } = unsettledAgain(result.unsettled ?? [], now);
    if (refused.length > 0) options.log.info('admitted change not seen stored in time: taken as refused', { hints: refused.map(hintKey) });
    if (result.requeueAfterSeconds !== undefined) {
      const at = now + result.requeueAfterSeconds * 1000;
      for (const hint of hints.map(forRequeue)) {
        if (hint.kind === 'daemonSet') wanted.push({ hint, at });
        else others.push(hint);
      }
    }
    try {
      await Promise.all([
        (async () => {
          // Together: one read of their Leases for several DaemonSets (a join under four asks for four).
          const delays = await scheduler.scheduleMany(wanted.map(({ hint, at }) => ({ daemonSet: hint, atMs: at })), options.intervalMs, now);
          await Promise.all(
            wanted.map(({ hint }, i) => {
              const delay = delays[i] ?? null;
              return delay === null ? undefined : options.queue.send([hint], delay);
            }),
          );
        })(),
        others.length > 0 ? options.queue.send(others, result.requeueAfterSeconds ?? 0) : Promise.resolve(),
        joins.length > 0 ? options.queue.send(joins, Math.ceil(options.followUpDelayMs / 1000)) : Promise.resolve(),
        ...again.map(({ hints: some, delaySeconds }) => options.queue.send(some, delaySeconds)),
      ]);
    } catch (error) {
      options.log.warn('follow-ups not scheduled', { error: String(error) });
      throw isTransient(error) ? error : new TransientError(`follow-ups not scheduled: ${String(error)}`);
    }
  };
  return {
    async handle(batch, signal, more) {
      // Hints the call took on once it could run (a drained backlog) are re-queued like the batch's own.
      const gathered: Hint[] = [];
      const tracked: MoreHints | undefined =
        more &&
        (async (context) => {
          const extra = await more(context);
          gathered.push(...extra);
          return extra;
        });
      const hints = () => (gathered.length > 0 ? dedupeHints([...batch, ...gathered]) : batch);
      let result: HandleResult;
      try {
        result = await inner.handle(batch, signal, tracked);
      } catch (error) {
        // A pass that failed on one DaemonSet: what the others asked for is scheduled all the same (hints.ts
        // `withPartialResult`); the failure then goes to the consumer, which sends the hints again.
        const partial = partialResultOf(error);
        if (partial !== undefined) await schedule(partial, hints()).catch(() => undefined);
        throw error;
      }
      await schedule(result, hints());
      // Scheduled here: nothing is left for the caller to run after the answer.
      const out: HandleResult = { ...result };
      delete out.followUp;
      delete out.unsettled;
      return out;
    },
  };
}

/**
 * Unsettled hints (HandleResult `unsettled`) as the messages that hand them in again: those never handed in again at
 * once (no delay), the others after a second (SQS's least delay but none), each counting its retries; those whose
 * `until` has passed are refused, and a DaemonSet's among them is sent once more without its `pending` for a last
 * pass (hints.ts `lastPassForRefused`).
 */
export function unsettledAgain(unsettled: readonly Hint[], now: number): { again: { hints: Hint[]; delaySeconds: number }[]; refused: Hint[] } {
  const first: Hint[] = [];
  const later: Hint[] = [];
  const refused: Hint[] = [];
  for (const hint of unsettled) {
    if ((hint.kind !== 'node' && hint.kind !== 'daemonSet') || hint.pending === undefined) continue;
    const retries = hint.pending.retries ?? 0;
    const delayMs = retries === 0 ? 0 : 1000;
    if (now + delayMs > hint.pending.until) refused.push(hint);
    else (retries === 0 ? first : later).push({ ...hint, pending: { ...hint.pending, retries: retries + 1 } });
  }
  const last = lastPassForRefused(refused);
  const again = [
    ...(first.length > 0 || last.length > 0 ? [{ hints: [...first, ...last], delaySeconds: 0 }] : []),
    ...(later.length > 0 ? [{ hints: later, delaySeconds: 1 }] : []),
  ];
  return { again, refused };
}
