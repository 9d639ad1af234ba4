/**
 * Bounded concurrency, in one place: `settleAll` and `mapLimit` for plain fan-out, `slowStart` for creates (upstream
 * syncNodes' batches of 1, 2, 4, … without the batch barriers), `slowStartEach` for one slow start per DaemonSet.
 */

/** Runs tasks with at most `limit` in flight; resolves to their settled outcomes in input order. */
export async function settleAll<T, R>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<R>): Promise<PromiseSettledResult<R>[]> {
  const results: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      try {
        results[index] = { status: 'fulfilled', value: await task(items[index] as T, index) };
      } catch (reason) {
        results[index] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Maps with at most `limit` calls in flight; results in input order. Rejects with the first error once all settled. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const settled = await settleAll(items, limit, fn);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<R>).value);
}

/**
 * Upstream's syncNodes creates in batches of 1, 2, 4, ... and stops after a batch with an error, so a rejected create
 * (quota, admission) is not repeated a thousand times. The same protection without the batch barriers: the number of
 * tasks in flight starts at 1 and grows by one per success (doubling per round trip, like TCP's slow start) up to
 * `limit`; a failure for which `stopsLaunching(error)` holds stops launching more, and so does `mayLaunch()` turning
 * false. Returns how many were never launched.
 */
export async function slowStart<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<R>,
  done: (item: T, settled: PromiseSettledResult<R>) => void,
  stopsLaunching: (error: unknown) => boolean,
  /** Checked before each launch: false stops launching (the invocation's time budget). */
  mayLaunch: () => boolean = () => true,
): Promise<number> {
  let window = 1;
  let inFlight = 0;
  let next = 0;
  let stopped = false;
  await new Promise<void>((resolve) => {
    const launch = (): void => {
      while (!stopped && inFlight < window && next < items.length && mayLaunch()) {
        const item = items[next++] as T;
        inFlight += 1;
        task(item)
          .then(
            (value) => {
              window = Math.min(limit, window + 1);
              done(item, { status: 'fulfilled', value });
            },
            (reason: unknown) => {
              if (stopsLaunching(reason)) stopped = true;
              done(item, { status: 'rejected', reason });
            },
          )
          .finally(() => {
            inFlight -= 1;
            launch();
          });
      }
      if (inFlight === 0) resolve();
    };
    launch();
  });
  return items.length - next;
}

/**
 * One `slowStart` per group, all at once, with at most `limit` tasks in flight over all of them. Upstream syncs each
 * DaemonSet on its own, so a pass over several (a node joining under four DaemonSets, a resync) starts each group's
 * creates at 1 in flight together, and a group whose create is refused (its quota, its template) stops only itself.
 * Returns how many of each group were never launched.
 */
export async function slowStartEach<T, R>(
  groups: readonly (readonly T[])[],
  limit: number,
  task: (item: T) => Promise<R>,
  done: (item: T, settled: PromiseSettledResult<R>) => void,
  stopsLaunching: (error: unknown) => boolean,
  mayLaunch: () => boolean = () => true,
): Promise<number[]> {
  const slot = semaphore(limit);
  const bounded = async (item: T): Promise<R> => {
    const release = await slot();
    try {
      return await task(item);
    } finally {
      release();
    }
  };
  return Promise.all(groups.map((items) => slowStart(items, limit, bounded, done, stopsLaunching, mayLaunch)));
}

/** At most `limit` holders at once; the waiters are served in order. */
function semaphore(limit: number): () => Promise<() => void> {
  let held = 0;
  const waiting: (() => void)[] = [];
  const release = (): void => {
    const next = waiting.shift();
    if (next) next();
    else held -= 1;
  };
  return () => {
    if (held < limit) {
      held += 1;
      return Promise.resolve(release);
    }
    return new Promise((resolve) => waiting.push(() => resolve(release)));
  };
}
