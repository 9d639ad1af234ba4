/**
 * One pass at a time where reconciles can overlap (src/k8s/leases.ts `PassLock`): every pass reads and writes under
 * the lock, so each reads after the previous one's writes, as in the local server's in-process queue. A pass that
 * finds the lock held waits for it a little (a pass usually takes well under a second), then gives up with a
 * transient error: the queue consumer sends its hints again shortly, an HTTP sender gets 503 and retries. The lock is
 * held for `holdMs` and renewed every `renewEveryMs` while the pass runs, so a holder that dies blocks the others for
 * `holdMs` at most (not for its whole time budget: the first reliability run in the Lambda runtime found a resync
 * killed mid-pass blocking every reconcile for minutes). Hints the handler can settle without it (HintHandler
 * `settleUnlocked`: reads alone, or reads and a status write, reconcile/status-only.ts) take no lock.
 */
import { DeferredError } from './errors.ts';
import { dedupeHints, type HintHandler } from './hints.ts';
import type { PassLock } from './k8s/leases.ts';
import type { Logger } from './log.ts';

export interface PassLockOptions {
  /** The lock (each of its operations bounds its own requests: src/k8s/leases.ts `PassLockTiming`). */
  lock: () => PassLock;
  /** How long one take or renewal holds it: more than `renewEveryMs` plus the longest request, so a live holder keeps it. */
  holdMs: number;
  /** How often a running pass renews it. */
  renewEveryMs: number;
  /** Runs `fn` every `ms` until the returned function is called (setInterval; tests pass their own). */
  every?: (fn: () => void, ms: number) => () => void;
  /** How long a pass waits for a held lock before giving up (transient). */
  waitMs: number;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  newId: () => string;
  log: Logger;
}

function every(fn: () => void, ms: number): () => void {
  const timer = setInterval(fn, ms);
  return () => clearInterval(timer);
}

/** First retry after this long, doubling up to `MAX_POLL_MS`. */
const FIRST_POLL_MS = 50;
const MAX_POLL_MS = 400;

export function withPassLock(inner: HintHandler, options: PassLockOptions): HintHandler {
  return {
    async handle(hints, signal, more) {
      // Nothing to write, as reads alone showed: no lock to take and give back (two writes saved per such call).
      const settled = await inner.settleUnlocked?.(hints);
      if (settled !== undefined) return settled;
      const started = options.now();
      const port = options.lock();
      const holder = options.newId();
      let poll = FIRST_POLL_MS;
      let held = await port.tryAcquire(holder, options.now() + options.holdMs, options.now());
      while (held === null) {
        const waited = options.now() - started;
        if (waited + poll > options.waitMs || signal?.aborted) {
          options.log.info('pass lock held by another pass; hints handed back', { hints: hints.length, waitedMs: waited });
          throw new DeferredError(`another pass holds the pass lock (waited ${waited} ms); redeliver`, 1);
        }
        await options.sleep(poll);
        poll = Math.min(MAX_POLL_MS, poll * 2);
        held = await port.tryAcquire(holder, options.now() + options.holdMs, options.now());
      }
      const waited = poll > FIRST_POLL_MS;
      if (waited) options.log.debug('pass lock taken after waiting', { waitedMs: options.now() - started });
      const lock = held;
      let renewing = false;
      let lost = false;
      // Aborted when the lock is lost: the pass then launches no more pod writes (another pass may run beside it) and
      // fails transiently, to be handled again (src/reconcile/deps.ts `viewIsFresh`).
      const lossOfLock = new AbortController();
      const stop = (options.every ?? every)(() => {
        if (renewing || lost) return;
        renewing = true;
        lock
          .renew(options.now() + options.holdMs, options.now())
          .then((ok) => {
            // Only when renewals failed for longer than holdMs: another pass may now run beside this one.
            if (!ok) options.log.error('pass lock lost while the pass runs: it expired and was taken over; no more pod writes', {});
            lost = !ok;
            if (lost) lossOfLock.abort();
          })
          .catch((error: unknown) => options.log.warn('pass lock not renewed; trying again', { error: String(error) }))
          .finally(() => (renewing = false));
      }, options.renewEveryMs);
      try {
        // Only now, holding the lock, does the call take on more (a drained backlog): a pass that waits for the lock
        // and gives up must not have taken messages another pass could have worked off meanwhile.
        const passLockMs = Math.round(options.now() - started);
        const extra = more ? await more({ waited }) : [];
        const passSignal = signal ? AbortSignal.any([signal, lossOfLock.signal]) : lossOfLock.signal;
        const result = await inner.handle(extra.length > 0 ? dedupeHints([...hints, ...extra]) : hints, passSignal, undefined);
        return { ...result, passLockMs };
      } finally {
        stop();
        // Not given back (API server unreachable): the next pass takes it over after its hold time.
        if (!lost) await lock.release(options.now()).catch((error: unknown) => options.log.warn('pass lock not given back; it expires', { error: String(error) }));
      }
    },
  };
}
