/**
 * The failed-pod backoff (upstream's flowcontrol.Backoff as `podsShouldBeOnNode` uses it) as pure steps over the state
 * kept in the cluster (src/k8s/leases.ts).
 */
import type { V1DaemonSet } from '@kubernetes/client-node';
import type { BackoffState, PlanOptions } from './model.ts';

/**
 * Where the failed-pod backoff of (DaemonSet, node) is kept. Upstream keys it `uid/observedGeneration/node`; the
 * generation lives inside `BackoffState` instead, so a new generation resets the backoff without leaving stale keys.
 */
export function backoffKey(ds: V1DaemonSet, nodeName: string): string {
  return `${ds.metadata?.uid ?? ''}/${nodeName}`;
}

/**
 * Upstream's flowcontrol.Backoff as used for failed pods, as a pure step: the delay after this deletion is `initial` the
 * first time (or when the previous deletion is more than 2×max old, upstream's expiry), else double the previous delay,
 * capped at `max`. A state from another DaemonSet generation counts as none.
 */
export function nextBackoff(previous: BackoffState | undefined, now: Date, generation: number, options: PlanOptions): BackoffState {
  const { initialSeconds, maxSeconds } = options.failedPodBackoff;
  const expired = previous === undefined || now.getTime() - previous.lastDeletion.getTime() > 2 * maxSeconds * 1000;
  const delaySeconds = expired ? initialSeconds : Math.min(2 * previous.delaySeconds, maxSeconds);
  return { lastDeletion: now, delaySeconds, generation };
}

/** Seconds left before the next failed pod may be deleted, or 0 when not in backoff. */
export function backoffRemainingSeconds(state: BackoffState | undefined, now: Date): number {
  if (state === undefined) return 0;
  const until = state.lastDeletion.getTime() + state.delaySeconds * 1000;
  return Math.max(0, (until - now.getTime()) / 1000);
}

