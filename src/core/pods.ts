/**
 * Pod predicates shared by the plan and the status: phase, readiness, availability, update state, and upstream's
 * `podByCreationTimestampAndPhase` order.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { labels } from './model.ts';

/** Milliseconds since the epoch; a missing timestamp sorts first, like Go's zero time. Tolerates ISO strings. */
export function timeOf(time: Date | string | undefined | null): number {
  if (time === undefined || time === null) return Number.NEGATIVE_INFINITY;
  const ms = time instanceof Date ? time.getTime() : Date.parse(time);
  return Number.isNaN(ms) ? Number.NEGATIVE_INFINITY : ms;
}

export function isBeingDeleted(obj: { metadata?: { deletionTimestamp?: Date | undefined } | undefined }): boolean {
  return obj.metadata?.deletionTimestamp !== undefined && obj.metadata.deletionTimestamp !== null;
}

export function isTerminal(pod: V1Pod): boolean {
  return pod.status?.phase === 'Failed' || pod.status?.phase === 'Succeeded';
}

function readyCondition(pod: V1Pod) {
  return pod.status?.conditions?.find((c) => c.type === 'Ready');
}

/** Upstream `podutil.IsPodReady`: condition Ready is True. */
export function isPodReady(pod: V1Pod): boolean {
  return readyCondition(pod)?.status === 'True';
}

/**
 * Upstream `podutil.IsPodAvailable`: Ready, and either minReadySeconds is 0 or the Ready condition turned true at least
 * minReadySeconds before `now` (`lastTransitionTime + minReadySeconds <= now` since Kubernetes 1.34,
 * kubernetes/kubernetes#132122; strictly before until then, as daemonset-semantics.md §4 still has it).
 */
export function isPodAvailable(pod: V1Pod, minReadySeconds: number, now: Date): boolean {
  const ready = readyCondition(pod);
  if (ready?.status !== 'True') return false;
  if (minReadySeconds <= 0) return true;
  const since = timeOf(ready.lastTransitionTime);
  return Number.isFinite(since) && since + minReadySeconds * 1000 <= now.getTime();
}

/** Upstream `util.IsPodUpdated`: the pod carries the current revision hash, or the current template generation. */
export function isPodUpdated(pod: V1Pod, hash: string, templateGeneration: string | undefined): boolean {
  const podLabels = pod.metadata?.labels ?? {};
  const hashMatches = hash !== '' && podLabels[labels.revisionHash] === hash;
  const generationMatches = templateGeneration !== undefined && podLabels[labels.templateGeneration] === templateGeneration;
  return hashMatches || generationMatches;
}

/**
 * Upstream `podByCreationTimestampAndPhase`: scheduled pods (spec.nodeName set) first, then older creationTimestamp,
 * then lower name. Use with `Array.prototype.sort` (stable) on a copy.
 */
export function compareDaemonPods(a: V1Pod, b: V1Pod): number {
  const aScheduled = Boolean(a.spec?.nodeName);
  const bScheduled = Boolean(b.spec?.nodeName);
  if (aScheduled !== bScheduled) return aScheduled ? -1 : 1;
  const ta = timeOf(a.metadata?.creationTimestamp);
  const tb = timeOf(b.metadata?.creationTimestamp);
  if (ta !== tb) return ta < tb ? -1 : 1;
  const na = a.metadata?.name ?? '';
  const nb = b.metadata?.name ?? '';
  return na < nb ? -1 : na > nb ? 1 : 0;
}
