/** The surge branch of the per-node decision (plan.ts `planNode`), when a node runs two or more pods. */
import type { V1DaemonSet, V1Pod } from '@kubernetes/client-node';
import { labels, type Plan } from './model.ts';
import { compareDaemonPods, isPodAvailable, isPodReady } from './pods.ts';
import { secondsUntilAvailable } from './rollout.ts';

/**
 * The surge branch of upstream `podsShouldBeOnNode` for two or more running pods: in upstream's order, keep the first
 * pod whose `controller-revision-hash` is `hash` ("new"; unlike `isPodUpdated`, the template generation does not count
 * here, as upstream) and the first with any other hash ("old"), delete every other pod. If both are kept, the old one
 * goes when it is not Ready, or when the new one is Available (minReadySeconds against `now`); otherwise both stay,
 * and when the new pod is Ready but not yet Available the plan asks to be called again once it is (+1 s, as upstream's
 * requeue after a pod turns Ready).
 */
export function planSurgePods(
  ds: V1DaemonSet,
  running: readonly V1Pod[],
  hash: string,
  now: Date,
  deletePod: (pod: V1Pod, why: string) => void,
  plan: Plan,
): void {
  let oldestNew: V1Pod | undefined;
  let oldestOld: V1Pod | undefined;
  const extra: V1Pod[] = [];
  for (const pod of [...running].sort(compareDaemonPods)) {
    const isNew = hasRevisionHash(pod, hash);
    if (isNew && oldestNew === undefined) oldestNew = pod;
    else if (!isNew && oldestOld === undefined) oldestOld = pod;
    else extra.push(pod);
  }
  for (const pod of extra) {
    const isNew = hasRevisionHash(pod, hash);
    deletePod(pod, `surge: duplicate ${isNew ? 'new' : 'old'} pod, ${(isNew ? oldestNew : oldestOld)?.metadata?.name} is kept`);
  }
  if (oldestNew === undefined || oldestOld === undefined) return;
  const minReadySeconds = ds.spec?.minReadySeconds ?? 0;
  if (!isPodReady(oldestOld)) {
    deletePod(oldestOld, `surge: old pod is not ready, new pod ${oldestNew.metadata?.name} replaces it`);
  } else if (isPodAvailable(oldestNew, minReadySeconds, now)) {
    deletePod(oldestOld, `surge: new pod ${oldestNew.metadata?.name} is available, old pod replaced`);
  } else {
    const wait = secondsUntilAvailable(oldestNew, minReadySeconds, now);
    if (wait !== undefined) plan.requeueAfterSeconds = Math.min(plan.requeueAfterSeconds ?? Number.POSITIVE_INFINITY, wait);
  }
}

/** Upstream compares the label as a Go map reads it: a missing label is "", which an empty hash matches. */
function hasRevisionHash(pod: V1Pod, hash: string): boolean {
  return (pod.metadata?.labels?.[labels.revisionHash] ?? '') === hash;
}

