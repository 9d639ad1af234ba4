/**
 * What happens to the follow-up passes and re-queues a reconcile asks for (HandleResult.followUp /
 * requeueAfterSeconds). Two strategies, chosen by the entry point:
 *
 * - `withTimers` (a long-lived local server): follow-ups are debounced per hint, so a burst of node events costs one
 *   DaemonSet-wide pass per window rather than one per event; backoff re-queues are timers. Losing these timers (a
 *   restart) loses nothing durable: the next event or the resync redoes the work.
 * - `withInlineFollowUps` (Lambda, where nothing runs after the response): follow-ups run at the end of the same
 *   invocation, once; backoff expiry is left to the next event or the scheduled resync.
 */
import { hintKey, type HandleResult, type Hint, type HintHandler } from './hints.ts';
import type { Logger } from './log.ts';

export interface TimerOptions {
  /** Debounce window of follow-up passes. */
  followUpDelayMs: number;
}

export function withTimers(inner: HintHandler, log: Logger, options: TimerOptions): HintHandler {
  const timers = new Map<string, NodeJS.Timeout>();
  const schedule = (hint: Hint, delayMs: number, replace: boolean): void => {
    const key = hintKey(hint);
    if (timers.has(key)) {
      if (!replace) return; // debounce: the pass already scheduled will see this change too
      clearTimeout(timers.get(key));
    }
    const timer = setTimeout(() => {
      timers.delete(key);
      handler.handle([hint]).catch((error: unknown) => log.warn('scheduled reconcile failed', { hint: key, error: String(error) }));
    }, delayMs);
    timer.unref();
    timers.set(key, timer);
  };
  const handler: HintHandler = {
    async handle(hints, signal) {
      const result = await inner.handle(hints, signal);
      if (result.requeueAfterSeconds !== undefined) {
        const delayMs = Math.max(100, Math.ceil(result.requeueAfterSeconds * 1000) + 50);
        for (const hint of hints) schedule(hint, delayMs, true);
      }
      for (const hint of result.followUp ?? []) schedule(hint, options.followUpDelayMs, false);
      return result;
    },
  };
  return handler;
}

export function withInlineFollowUps(inner: HintHandler): HintHandler {
  return {
    async handle(hints, signal) {
      const first = await inner.handle(hints, signal);
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
      return merged;
    },
  };
}
