/**
 * Bounded concurrency: at most `limit` tasks in flight, the rest queued.
 *
 * Queued tasks start by priority (0 first), in arrival order within one priority. A task that has waited longer
 * than `promoteAfterMs` starts before any other, so a low priority is served late but never starved.
 *
 * The simulator stands for a thousand kubelets behind one connection pool. A real kubelet's pod status write never
 * waits behind another node's Lease renewal; with one first-in-first-out queue it did (2,500 requests queued during a
 * 1,000-node join burst, pods reported Ready 20–30 s after binding instead of 0.5 s). So node and pod writes come
 * first and Lease renewals, which have minutes of slack (`--node-monitor-grace-period`), fill the gaps.
 */
export interface Limiter {
  run<T>(task: () => Promise<T>, priority?: number): Promise<T>;
  /** Tasks running plus queued. */
  readonly pending: number;
  /** Resolves once nothing is running or queued. */
  idle(): Promise<void>;
}

export interface LimiterOptions {
  /** A task queued this long starts next, whatever its priority. Default: never promoted. */
  promoteAfterMs?: number;
  now?: () => number;
}

interface Queued {
  start: () => void;
  at: number;
}

export function createLimiter(limit: number, options: LimiterOptions = {}): Limiter {
  const now = options.now ?? Date.now;
  const promoteAfterMs = options.promoteAfterMs ?? Infinity;
  let active = 0;
  let queued = 0;
  const queues: Queued[][] = []; // by priority
  let waiters: (() => void)[] = [];

  const take = (): Queued | undefined => {
    if (queued === 0) return undefined;
    let oldest: Queued[] | undefined;
    let first: Queued[] | undefined;
    for (const queue of queues) {
      if (!queue || queue.length === 0) continue;
      first ??= queue;
      if (!oldest || queue[0]!.at < oldest[0]!.at) oldest = queue;
    }
    const from = oldest && now() - oldest[0]!.at >= promoteAfterMs ? oldest : first;
    queued--;
    return from!.shift();
  };

  const next = () => {
    active--;
    const task = take();
    if (task) task.start();
    else if (active === 0) {
      for (const w of waiters) w();
      waiters = [];
    }
  };

  return {
    run<T>(task: () => Promise<T>, priority = 0): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const start = () => {
          active++;
          task().then(resolve, reject).finally(next);
        };
        if (active < limit) start();
        else {
          const p = Math.max(0, Math.floor(priority));
          (queues[p] ??= []).push({ start, at: now() });
          queued++;
        }
      });
    },
    get pending() {
      return active + queued;
    },
    idle() {
      return active === 0 && queued === 0 ? Promise.resolve() : new Promise((r) => waiters.push(r));
    },
  };
}

export { mapLimit } from '../../src/concurrency.ts';
