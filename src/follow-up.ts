/**
 * What happens to the follow-up passes and re-queues a reconcile asks for (HandleResult.followUp /
 * requeueAfterSeconds). Two strategies, chosen by the entry point:
 *
 * - `withTimers` (a long-lived local server): follow-ups are coalesced and rate-limited per hint, so a burst of node
 *   events costs one DaemonSet-wide pass per interval rather than one per event; backoff re-queues are timers. Losing these timers (a
 *   restart) loses nothing durable: the next event or the resync redoes the work.
 * - `withInlineFollowUps` (Lambda, where nothing runs after the response): follow-ups run at the end of the same
 *   invocation, once; backoff expiry is left to the next event or the scheduled resync.
 */
import { isTransient } from './errors.ts';
import { dedupeHints, forRequeue, hintKey, mergeFollowUps, partialResultOf, type HandleResult, type Hint, type HintHandler } from './hints.ts';
import type { Logger } from './log.ts';

export interface TimerOptions {
  /** Least time between the starts of two follow-up passes for the same hint (a rate limit, not a delay). */
  followUpIntervalMs: number;
  /**
   * A follow-up starts this long after it is first asked for, so one pass covers a whole burst of deliveries; and it
   * is dropped when a pass of the same DaemonSet, for whatever reason, started after it was last asked for (that pass read
   * the cluster after the change that asked). A node join asks for one (status) and, within this delay, the new pod's
   * own events (bound, Ready) bring a DaemonSet-wide pass that covers it: one status pass per join instead of two.
   */
  followUpDelayMs?: number;
}

/**
 * Per hint: a follow-up asked for while none is pending starts after `followUpDelayMs` (or when the interval since the
 * last start allows); asked for while one is pending, it is already covered; asked for while one is running, one more
 * runs after it, since the running pass may have read the cluster before the change that asked. So a rollout step
 * follows a pod turning Ready within milliseconds, while a burst costs one pass per interval.
 */
export function withTimers(inner: HintHandler, log: Logger, options: TimerOptions): HintHandler {
  interface Slot {
    timer?: NodeJS.Timeout;
    running: boolean;
    again: boolean;
    lastStart: number;
    /** When the pending follow-up was last asked for. */
    askedAt: number;
    /** What the pending (or next) follow-up runs with: every request for it merged (hints.ts `mergeFollowUps`). */
    hint?: Hint;
  }
  const slots = new Map<string, Slot>();
  const requeues = new Map<string, NodeJS.Timeout>();
  /** Per DaemonSet hint: when the latest pass naming it started (follow-up, delivery or re-queue alike). */
  const lastPass = new Map<string, number>();
  const delay = options.followUpDelayMs ?? 20;

  const run = (key: string, slot: Slot): void => {
    slot.timer = undefined;
    const hint = slot.hint as Hint;
    slot.hint = undefined;
    if ((lastPass.get(key) ?? -Infinity) > slot.askedAt) {
      log.debug('follow-up covered by a later pass', { hint: key });
      return;
    }
    slot.running = true;
    slot.lastStart = Date.now();
    handler
      .handle([hint])
      .catch((error: unknown) => {
        log.warn('follow-up reconcile failed', { hint: key, error: String(error) });
        // Transient (API server overloaded, time budget spent): try again after the interval rather than drop it.
        if (isTransient(error)) slot.again = true;
      })
      .finally(() => {
        slot.running = false;
        if (slot.again) {
          slot.again = false;
          const next = slot.hint ?? hint;
          slot.hint = undefined;
          followUp(next);
        }
      });
  };
  const followUp = (hint: Hint): void => {
    const key = hintKey(hint);
    const slot: Slot = slots.get(key) ?? { running: false, again: false, lastStart: 0, askedAt: 0 };
    slots.set(key, slot);
    slot.hint = mergeFollowUps(slot.hint, hint);
    if (slot.running) {
      slot.again = true;
      return;
    }
    // The last ask: a later pass covers the follow-up only if it started after every ask merged into it.
    slot.askedAt = Date.now();
    if (slot.timer) return;
    const wait = Math.max(delay, slot.lastStart + options.followUpIntervalMs - Date.now());
    slot.timer = setTimeout(() => run(key, slot), wait);
    slot.timer.unref();
  };
  const requeue = (hint: Hint, delayMs: number): void => {
    const key = hintKey(hint);
    clearTimeout(requeues.get(key));
    const timer = setTimeout(() => {
      requeues.delete(key);
      handler.handle([hint]).catch((error: unknown) => log.warn('requeued reconcile failed', { hint: key, error: String(error) }));
    }, delayMs);
    timer.unref();
    requeues.set(key, timer);
  };
  const handler: HintHandler = {
    async handle(hints, signal) {
      const started = Date.now();
      for (const hint of hints) if (hint.kind === 'daemonSet') lastPass.set(hintKey(hint), started);
      let result: HandleResult;
      try {
        result = await inner.handle(hints, signal);
      } catch (error) {
        // Failed on one DaemonSet: what the others asked for is scheduled all the same (hints.ts `withPartialResult`).
        const partial = partialResultOf(error);
        if (partial !== undefined) schedule(hints, partial);
        throw error;
      }
      schedule(hints, result);
      return result;
    },
  };
  const schedule = (hints: readonly Hint[], result: HandleResult): void => {
    if (result.requeueAfterSeconds !== undefined) {
      const delayMs = Math.max(100, Math.ceil(result.requeueAfterSeconds * 1000) + 50);
      for (const hint of hints) requeue(forRequeue(hint), delayMs);
    }
    for (const hint of result.followUp ?? []) followUp(hint);
  };
  return handler;
}

export function withInlineFollowUps(inner: HintHandler): HintHandler {
  return {
    async handle(hints, signal) {
      let first: HandleResult;
      try {
        first = await inner.handle(hints, signal);
      } catch (error) {
        // Failed on one DaemonSet: the follow-ups the others asked for still run (hints.ts `withPartialResult`); the
        // call fails with the first error whatever they do, so the sender redelivers.
        const followUp = partialResultOf(error)?.followUp ?? [];
        if (followUp.length > 0) await inner.handle(followUp, signal).catch(() => undefined);
        throw error;
      }
      if (!first.followUp?.length) return first;
      const second = await inner.handle(first.followUp, signal);
      const merged: HandleResult = {
        hints: first.hints + second.hints,
        created: first.created + second.created,
        deleted: first.deleted + second.deleted,
        apiRequests: first.apiRequests + second.apiRequests,
      };
      const requeue = [first.requeueAfterSeconds, second.requeueAfterSeconds].filter((x) => x !== undefined);
      if (requeue.length > 0) merged.requeueAfterSeconds = Math.min(...requeue);
      // A follow-up never waits for an admitted change (Hint `pending`): only the first pass's hints can.
      if (first.unsettled?.length) merged.unsettled = first.unsettled;
      return merged;
    },
  };
}

/**
 * For a long-lived server: at most `concurrency` reconciles at once; hints that arrive meanwhile are merged into the
 * next one. Every caller waits for the reconcile that includes its hints and gets its result (or its error, so a
 * transient failure still answers 503 and the sender redelivers). Without this, a burst of deliveries (1,000 nodes
 * joining) started one reconcile per delivery, each reading the cluster, until the API server timed out.
 *
 * `beside`: hints whose pass may write nothing but a status (hints.ts `mayWriteOnlyStatus`) that arrive while no
 * ordinary pass runs or waits are settled by the inner handler's `settleUnlocked` (a port that refuses every other
 * write, reconcile/status-only.ts) instead: one such pass at a time, such hints arriving meanwhile merged into the next.
 * A delivery coming meanwhile (a node joining) then starts its own pass at once instead of waiting behind a status
 * recount, which reads every node and pod (0.1-0.4 s at 1,000 nodes). Refused (it would write more), the hints join
 * the queue of ordinary passes. While ordinary passes run or wait, such hints merge into them as before, so a burst
 * still costs one pass at a time.
 */
export function withCoalescing(inner: HintHandler, options: { concurrency: number; beside?: (hints: readonly Hint[]) => boolean }): HintHandler {
  interface Batch {
    hints: Hint[];
    waiters: { resolve: (r: HandleResult) => void; reject: (e: unknown) => void }[];
  }
  let pending: Batch | undefined;
  let running = 0;
  const start = (): void => {
    while (running < options.concurrency && pending) {
      const batch = pending;
      pending = undefined;
      running += 1;
      inner
        .handle(batch.hints)
        .then(
          (result) => batch.waiters.forEach((w) => w.resolve(result)),
          (error: unknown) => batch.waiters.forEach((w) => w.reject(error)),
        )
        .finally(() => {
          running -= 1;
          start();
        });
    }
  };
  /**
   * `hints` merged into the batch that waits (a new one if none), with a waiter for its result. Merged as the intake
   * merges one delivery's hints (hints.ts `dedupeHints`): the pod names of a DaemonSet's hints joined, a node's creation
   * only if every delivery says so. Keeping the last per key instead lost the others' pod names (a pod that left the
   * selector went unreleased) and could take a change for a creation.
   */
  const joined = (batch: Batch | undefined, hints: readonly Hint[], waiter: Batch['waiters'][number]): Batch => ({
    hints: dedupeHints([...(batch?.hints ?? []), ...hints]),
    waiters: [...(batch?.waiters ?? []), waiter],
  });
  const enqueue = (hints: readonly Hint[]): Promise<HandleResult> =>
    new Promise<HandleResult>((resolve, reject) => {
      pending = joined(pending, hints, { resolve, reject });
      start();
    });
  // Passes beside the ordinary ones: one at a time, hints arriving meanwhile merged into the next, as above.
  let besidePending: Batch | undefined;
  let besideRunning = false;
  const settle = inner.settleUnlocked?.bind(inner);
  const startBeside = (): void => {
    if (besideRunning || besidePending === undefined || settle === undefined) return;
    const batch = besidePending;
    besidePending = undefined;
    besideRunning = true;
    const settling = settle(batch.hints);
    // The lane is free once the pass beside ends; hints it refused wait for an ordinary pass without holding it.
    settling
      .finally(() => {
        besideRunning = false;
        startBeside();
      })
      .catch(() => undefined);
    settling
      .then((settled) => settled ?? enqueue(batch.hints))
      .then(
        (result) => batch.waiters.forEach((w) => w.resolve(result)),
        (error: unknown) => batch.waiters.forEach((w) => w.reject(error)),
      );
  };
  return {
    handle(hints) {
      if (settle === undefined || running > 0 || pending !== undefined || !options.beside?.(hints)) return enqueue(hints);
      return new Promise<HandleResult>((resolve, reject) => {
        besidePending = joined(besidePending, hints, { resolve, reject });
        startBeside();
      });
    },
  };
}
