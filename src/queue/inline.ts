/**
 * The intake's inline path (INTAKE_RECONCILE=idle, docs/adr/0003-queue.md "Inline when idle"): an intake function
 * reconciles the hints of node and pod changes itself when the cluster is quiet, and enqueues them otherwise. A quiet
 * cluster's node join then costs its webhook deliveries and nothing more: no queue round trip before the pod is
 * created, no reconcile invocation. Under load everything goes through the queue, whose consumer merges what waits
 * into few passes and bounds the load on the API server, as before.
 *
 * Quiet means all of:
 * - the delivery has only node hints and DaemonSet hints naming pods, and at most `maxHints` of them (a DaemonSet's own
 *   change, a pass that may create a pod on every node, goes to the reconcile function, sized for it);
 * - the queue holds no message waiting or being worked on (`backlog`; delayed ones, future follow-ups, do not count):
 *   otherwise the consumer is at work, and these hints join one of its passes instead of costing a pass of their own
 *   (at 1,000 joining nodes the intake's own passes doubled the reads: docs/benchmarks.md);
 * - the pass lock is free (tried once, without waiting).
 * Only a load heuristic: which path a hint takes never changes what the pass decides.
 *
 * The pass and the follow-ups the pass scheduler allows at once run under the lock; later ones are delayed messages.
 * A pass that fails hands its hints to the queue (after the API server's Retry-After, else 2 s; counted as a failure
 * when it was not transient, as the consumer counts them) and the webhook is answered 200: the queue has them. Only
 * when that send fails too does the error reach the sender (503: it retries). The API server refusing the function's
 * identity (401/403: no access entry for the intake's role on EKS, or no token) turns the inline path off in this
 * instance for `authBackoffMs`, with one warning, and the hints go to the queue at once: the reconcile function has
 * its own identity.
 */
import { isTransient, RejectedError } from '../errors.ts';
import type { HandleResult, Hint, HintHandler } from '../hints.ts';
import { serializeError, type Logger } from '../log.ts';
import { PassLockHeldError } from '../pass-lock.ts';
import type { HintQueue, QueueBacklog } from './port.ts';

export interface InlineWhenIdleOptions {
  /**
   * The reconciler under the pass lock, taking it without waiting (PassLockHeldError when held), follow-ups due at
   * once run in the same call. Built on first use, so a cold start that only answers a health check does not load it.
   */
  reconciler: () => Promise<HintHandler>;
  queue: HintQueue & QueueBacklog;
  log: Logger;
  now: () => number;
  /** Deliveries with more hints than this are enqueued (a burst). */
  maxHints: number;
  /** How long the inline path stays off after the API server refused the identity. */
  authBackoffMs?: number;
}

/** Delay of hints handed to the queue after a failed inline pass, when the API server named none. */
const RETRY_DELAY_SECONDS = 2;
const AUTH_BACKOFF_MS = 5 * 60_000;

/** Hints of node and pod changes; a DaemonSet's own change (no `pods`) is a pass over every node. */
export function inlineable(hint: Hint): boolean {
  return hint.kind === 'node' || (hint.kind === 'daemonSet' && hint.pods !== undefined);
}

export function inlineWhenIdle(options: InlineWhenIdleOptions): HintHandler {
  let offUntil = 0;
  const enqueue = async (hints: readonly Hint[], delaySeconds: number, failures?: number): Promise<HandleResult> => {
    await options.queue.send(hints, delaySeconds, failures === undefined ? undefined : { failures });
    return { hints: hints.length, created: 0, deleted: 0, apiRequests: 0, queued: hints.length };
  };
  const authBackoffMs = options.authBackoffMs ?? AUTH_BACKOFF_MS;
  return {
    async handle(hints, signal) {
      if (options.now() < offUntil || hints.length > options.maxHints || !hints.every(inlineable)) return enqueue(hints, 0);
      // Whether the queue is at work, and the reconciler (loaded on the first call), at once.
      const [backlog, loaded] = await Promise.all([
        options.queue.backlog().catch(() => Infinity),
        options.reconciler().then(
          (reconciler) => ({ reconciler }),
          (error: unknown) => ({ error }),
        ),
      ]);
      if ('error' in loaded) {
        options.log.error('inline reconciler not loaded; hints queued', { error: serializeError(loaded.error) });
        offUntil = options.now() + authBackoffMs;
        return enqueue(hints, 0);
      }
      if (backlog > 0) return enqueue(hints, 0);
      try {
        const result = await loaded.reconciler.handle(hints, signal);
        return { ...result, inline: hints.length };
      } catch (error) {
        if (error instanceof PassLockHeldError) return enqueue(hints, 0);
        if (error instanceof RejectedError && (error.apiStatus === 401 || error.apiStatus === 403)) {
          offUntil = options.now() + authBackoffMs;
          options.log.warn('the API server refused this function; hints go to the queue for a while', { error: error.message, offForMs: authBackoffMs });
          return enqueue(hints, 0);
        }
        options.log.warn('inline pass failed; hints queued', { hints: hints.length, error: serializeError(error) });
        if (isTransient(error)) return enqueue(hints, Math.min(60, Math.max(1, Math.ceil(error.retryAfterSeconds ?? RETRY_DELAY_SECONDS))));
        return enqueue(hints, RETRY_DELAY_SECONDS, 1);
      }
    },
  };
}
