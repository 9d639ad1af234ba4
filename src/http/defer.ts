/**
 * Work that must happen after the HTTP response: an admission request is answered before its object is stored, so
 * its hints are reconciled a little later (after `ADMISSION_SETTLE_MS`). Two implementations:
 *  - a long-lived process (`npm start`) runs the task in the background (`createBackgroundDefer`);
 *  - Lambda freezes the instance once it has answered, so there the hints are handed to an asynchronous invocation of
 *    the same function (`createSelfInvokeDefer`). See docs/adr/0001-admission-on-lambda.md.
 */
import type { Hint } from '../hints.ts';
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
