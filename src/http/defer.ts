/**
 * Work that must happen after the HTTP response: an admission request is answered before its object is stored, so
 * its hints are reconciled a little later: a node's or DaemonSet's at once and again until the pass sees the change
 * stored (`handleUntilSeen`), others after `ADMISSION_SETTLE_MS`. Two implementations:
 *  - a long-lived process (`npm start`) runs the task in the background (`createBackgroundDefer`);
 *  - Lambda freezes the instance once it has answered, so there the hints are handed to an asynchronous invocation of
 *    the same function (`createSelfInvokeDefer`). See docs/adr/0001-admission-on-lambda.md.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { hintKey, lastPassForRefused, pendingOf, type HandleResult, type Hint } from '../hints.ts';
import type { Logger } from '../log.ts';

/** What a deferred task will do, as data, for implementations that cannot carry a closure across processes. */
export interface DeferredWork {
  hints: Hint[];
  /** Wait this long before reconciling. */
  delayMs: number;
}

/**
 * Hands over work to run after the response. The task never rejects (the route catches and logs inside it). A
 * returned promise is awaited, within a short bound, before the response is sent: it means "handed over", not "done".
 */
export type Defer = (task: () => Promise<void>, work: DeferredWork) => void | Promise<void>;

/** The first wait before an admitted change not seen yet is handed in again; it doubles up to `maxSeenWaitMs`. */
export const firstSeenWaitMs = 5;
export const maxSeenWaitMs = 250;

/**
 * Handles the hints, then hands in again those whose admitted change the pass did not see stored yet (HandleResult
 * `unsettled`, Hint `pending`): after 5 ms, then 10, 20, … up to 250 ms apart, each until its `until`. Returns the last
 * result and the hints still unseen at their `until` (taken as refused; a DaemonSet's gets one last pass without its
 * `pending`: hints.ts `lastPassForRefused`). Only the hints given count: a coalesced pass
 * also reports other callers' hints. For a process that may wait (the local server's background task, Lambda's
 * asynchronous self-invocation); the queue runtime sends such hints again as messages instead (src/queue/runtime.ts).
 */
export async function handleUntilSeen(
  handle: (hints: Hint[]) => Promise<HandleResult>,
  hints: Hint[],
  options: { now?: () => number; wait?: (ms: number) => Promise<unknown> } = {},
): Promise<{ result: HandleResult; unseen: Hint[] }> {
  const now = options.now ?? Date.now;
  const wait = options.wait ?? ((ms: number) => sleep(ms));
  const given = new Set(hints.map(hintKey));
  const unsettled = (r: HandleResult) => (r.unsettled ?? []).filter((h) => given.has(hintKey(h)));
  let result = await handle(hints);
  let waiting = unsettled(result);
  const unseen: Hint[] = [];
  for (let delay = firstSeenWaitMs; waiting.length > 0; delay = Math.min(delay * 2, maxSeenWaitMs)) {
    const due = (h: Hint) => (pendingOf(h)?.until ?? -Infinity) >= now() + delay;
    unseen.push(...waiting.filter((h) => !due(h)));
    waiting = waiting.filter(due);
    if (waiting.length === 0) break;
    await wait(delay);
    result = await handle(waiting);
    waiting = unsettled(result);
  }
  const last = lastPassForRefused(unseen);
  if (last.length > 0) result = await handle(last);
  return { result, unseen };
}

export interface BackgroundDefer {
  defer: Defer;
  /** Resolves once every task started so far has finished (graceful shutdown, tests). */
  drain(): Promise<void>;
  readonly pending: number;
}

export function createBackgroundDefer(log: Logger): BackgroundDefer {
  const running = new Set<Promise<void>>();
  return {
    defer(task) {
      const run: Promise<void> = task()
        .catch((error: unknown) => log.error('deferred task failed', { error }))
        .finally(() => running.delete(run));
      running.add(run);
    },
    async drain() {
      while (running.size > 0) await Promise.allSettled([...running]);
    },
    get pending() {
      return running.size;
    },
  };
}

/** Marks a Lambda invocation that carries deferred hints rather than an HTTP request. */
export const deferredInvocationMarker = 'deferred-hints';

export interface DeferredInvocation {
  daemonless: typeof deferredInvocationMarker;
  hints: Hint[];
  /** Epoch milliseconds before which the hints must not be reconciled. */
  notBefore: number;
}

/** Invokes a function asynchronously (Lambda `InvocationType: Event`) with a JSON payload. */
export type AsyncInvoke = (functionName: string, payload: string) => Promise<void>;

export function createSelfInvokeDefer(options: {
  functionName: string;
  invoke: AsyncInvoke;
  now?: () => number;
}): Defer {
  const now = options.now ?? Date.now;
  return async (_task, work) => {
    const payload: DeferredInvocation = {
      daemonless: deferredInvocationMarker,
      hints: work.hints,
      notBefore: now() + work.delayMs,
    };
    await options.invoke(options.functionName, JSON.stringify(payload));
  };
}
