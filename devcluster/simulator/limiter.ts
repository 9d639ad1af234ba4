/** Bounded concurrency: at most `limit` tasks in flight, the rest queued in arrival order. */
export interface Limiter {
  run<T>(task: () => Promise<T>): Promise<T>;
  /** Tasks running plus queued. */
  readonly pending: number;
  /** Resolves once nothing is running or queued. */
  idle(): Promise<void>;
}

export function createLimiter(limit: number): Limiter {
  let active = 0;
  const queue: (() => void)[] = [];
  let waiters: (() => void)[] = [];

  const next = () => {
    active--;
    const start = queue.shift();
    if (start) start();
    else if (active === 0) {
      for (const w of waiters) w();
      waiters = [];
    }
  };

  return {
    run<T>(task: () => Promise<T>): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const start = () => {
          active++;
          task().then(resolve, reject).finally(next);
        };
        if (active < limit) start();
        else queue.push(start);
      });
    },
    get pending() {
      return active + queue.length;
    },
    idle() {
      return active === 0 && queue.length === 0 ? Promise.resolve() : new Promise((r) => waiters.push(r));
    },
  };
}

export { mapLimit } from '../../src/concurrency.ts';
