/**
 * DaemonSet status counters: upstream `updateDaemonSetStatus` / `storeDaemonSetStatus`
 * (pkg/controller/daemon/daemon_controller.go), over the nodes given. A node whose Node object is gone (`node: null`)
 * is not in upstream's node list and counts for nothing.
 */
import type { V1DaemonSet, V1DaemonSetCondition, V1DaemonSetStatus } from '@kubernetes/client-node';
import { claimPodsOnNode } from './claim.ts';
import { revisionCondition, revisionConditionFor } from './history.ts';
import { nodeShouldRunDaemonPod } from './eligibility.ts';
import type { NodeState, StatusCounters } from './model.ts';
import { templateGeneration } from './pod-template.ts';
import { compareDaemonPods, isPodAvailable, isPodReady, isPodUpdated } from './pods.ts';
import { readNoEarlier } from './versions.ts';
import type { SeenAt } from '../hints.ts';

/**
 * Per node with `shouldRun`: desired; with at least one pod (an unbound pod aimed at it counts): current; its first pod
 * in upstream's order (possibly failed or terminating) decides ready, available (minReadySeconds against `now`) and
 * updated (revision hash or template generation). A node without `shouldRun` but with pods is misscheduled, even when
 * only a NoSchedule taint keeps new pods off it (upstream's known quirk, kept).
 */
export function computeStatus(ds: V1DaemonSet, nodes: readonly NodeState[], hash: string, now: Date): StatusCounters {
  const counters: StatusCounters = {
    desiredNumberScheduled: 0,
    currentNumberScheduled: 0,
    numberMisscheduled: 0,
    numberReady: 0,
    numberAvailable: 0,
    updatedNumberScheduled: 0,
    numberUnavailable: 0,
  };
  const minReadySeconds = ds.spec?.minReadySeconds ?? 0;
  const generation = templateGeneration(ds);
  for (const nodeState of nodes) {
    if (nodeState.node === null) continue;
    const { shouldRun } = nodeShouldRunDaemonPod(nodeState.node, ds);
    const pods = claimPodsOnNode(ds, nodeState).owned;
    if (!shouldRun) {
      if (pods.length > 0) counters.numberMisscheduled++;
      continue;
    }
    counters.desiredNumberScheduled++;
    const first = [...pods].sort(compareDaemonPods)[0];
    if (first === undefined) continue;
    counters.currentNumberScheduled++;
    if (isPodReady(first)) {
      counters.numberReady++;
      if (isPodAvailable(first, minReadySeconds, now)) counters.numberAvailable++;
    }
    if (isPodUpdated(first, hash, generation)) counters.updatedNumberScheduled++;
  }
  counters.numberUnavailable = counters.desiredNumberScheduled - counters.numberAvailable;
  return counters;
}

const counterNames = [
  'desiredNumberScheduled',
  'currentNumberScheduled',
  'numberMisscheduled',
  'numberReady',
  'numberAvailable',
  'updatedNumberScheduled',
  'numberUnavailable',
] as const satisfies ReadonlyArray<keyof StatusCounters>;

/**
 * Upstream skips the status write when all seven counters are unchanged and observedGeneration ≥ generation. With
 * `conditions` (`conditionsToWrite`), also when they read the same.
 */
export function statusNeedsUpdate(old: V1DaemonSetStatus | undefined, next: StatusCounters, generation: number, conditions?: V1DaemonSetCondition[]): boolean {
  if ((old?.observedGeneration ?? 0) < generation) return true;
  if (conditions !== undefined && !sameConditions(old?.conditions, conditions)) return true;
  return counterNames.some((name) => (old?.[name] ?? 0) !== next[name]);
}

/** The status to write: the counters, `observedGeneration`, conditions when given, and the rest kept as it was. */
export function nextStatus(old: V1DaemonSetStatus | undefined, next: StatusCounters, generation: number, conditions?: V1DaemonSetCondition[]): V1DaemonSetStatus {
  return { ...old, ...next, observedGeneration: generation, ...(conditions === undefined ? {} : { conditions }) };
}

/**
 * The conditions of a ServerlessDaemonSet (upstream's DaemonSet has none; `kubectl rollout status` does not know
 * custom resources, so `kubectl wait --for=condition=RolloutComplete sds/NAME` stands in for it):
 * - `Available`: every node that should run the pod has an available one (`numberAvailable ≥ desired`);
 * - `RolloutComplete`: what `kubectl rollout status` would call done: every desired node updated and available (the
 *   conditions are written with observedGeneration, so the spec is observed).
 * A condition keeps its lastTransitionTime while its status stays the same.
 */
export function statusConditions(counters: StatusCounters, old: V1DaemonSetStatus | undefined, now: Date): V1DaemonSetCondition[] {
  const desired = counters.desiredNumberScheduled;
  const available = counters.numberAvailable >= desired;
  const complete = available && counters.updatedNumberScheduled >= desired;
  const rollout = complete
    ? { status: 'True', reason: 'RolloutComplete', message: `${desired} of ${desired} pods updated and available` }
    : counters.updatedNumberScheduled < desired
      ? { status: 'False', reason: 'RolloutInProgress', message: `${counters.updatedNumberScheduled} of ${desired} pods updated` }
      : { status: 'False', reason: 'RolloutInProgress', message: `${counters.numberAvailable} of ${desired} updated pods available` };
  const wanted = [
    { type: 'Available', status: available ? 'True' : 'False', reason: available ? 'PodsAvailable' : 'PodsUnavailable', message: `${counters.numberAvailable} of ${desired} pods available` },
    { type: 'RolloutComplete', ...rollout },
  ];
  return wanted.map((c) => {
    const before = old?.conditions?.find((o) => o.type === c.type);
    const since = before && before.status === c.status && before.lastTransitionTime ? before.lastTransitionTime : rfc3339(now);
    return { ...c, lastTransitionTime: since as unknown as Date };
  });
}

/**
 * The conditions a status write carries: a ServerlessDaemonSet's own (`statusConditions`) or, for an apps/v1
 * DaemonSet, those others wrote (kept as they are); and for both, the current revision (core/history.ts
 * `revisionCondition`), which node-scoped passes read instead of the revisions.
 */
export function conditionsToWrite(serverless: boolean, counters: StatusCounters, hash: string, old: V1DaemonSetStatus | undefined, now: Date): V1DaemonSetCondition[] {
  const revision = revisionConditionFor(hash, old?.conditions, rfc3339(now));
  if (serverless) return [...statusConditions(counters, old, now), revision, ...(old?.conditions ?? []).filter((c) => c.type === countedCondition.type)];
  return [...(old?.conditions ?? []).filter((c) => c.type !== revisionCondition.type), revision];
}

/**
 * The status condition in which a DaemonSet-wide pass records the node and pod lists it counted from, as their
 * resourceVersions: `message` is `nodes at resourceVersion <n>, pods at resourceVersion <p>`. Written only with a status
 * that is written anyway (a counter, observedGeneration or another condition changed), never on its own, and only by a
 * pass that did all it planned for the DaemonSet. A follow-up asked for after a join (Hint `after`) whose node and
 * pods these lists include is covered by that pass (`coveredBy`): its DaemonSet is read, and nothing else. Upstream's
 * DaemonSet has no conditions; this one is ours (docs/design.md, deliberate differences).
 */
export const countedCondition = { type: 'daemonless.dev/Counted', reason: 'ListsCounted' } as const;

const COUNTED_MESSAGE = /^nodes at resourceVersion (\d+), pods at resourceVersion (\d+)$/;

/**
 * `conditions` with the counted condition for lists read at `seen` in place of the one they carry. Its
 * lastTransitionTime is when a pass first recorded one (kept while its status stays True).
 */
export function withCounted(conditions: readonly V1DaemonSetCondition[], seen: SeenAt, now: Date): V1DaemonSetCondition[] {
  const before = conditions.find((c) => c.type === countedCondition.type);
  const since = before?.status === 'True' && before.lastTransitionTime ? before.lastTransitionTime : rfc3339(now);
  const counted = {
    type: countedCondition.type,
    status: 'True',
    reason: countedCondition.reason,
    message: `nodes at resourceVersion ${seen.nodes}, pods at resourceVersion ${seen.pods}`,
    lastTransitionTime: since as unknown as Date,
  };
  return [...conditions.filter((c) => c.type !== countedCondition.type), counted];
}

/**
 * Whether the DaemonSet's status, as read, already counts everything `after` names: a DaemonSet-wide pass wrote it for
 * the current generation from node and pod lists read no earlier. False for a DaemonSet being deleted, a spec not yet
 * observed, no (or an unreadable) counted condition, or versions that do not compare.
 */
export function coveredBy(ds: V1DaemonSet, after: SeenAt): boolean {
  const generation = ds.metadata?.generation;
  if (ds.metadata?.deletionTimestamp || generation === undefined || ds.status?.observedGeneration !== generation) return false;
  const counted = ds.status?.conditions?.find((c) => c.type === countedCondition.type);
  const recorded = counted?.status === 'True' ? COUNTED_MESSAGE.exec(counted.message ?? '') : null;
  if (!recorded) return false;
  return readNoEarlier(recorded[1], after.nodes) && readNoEarlier(recorded[2], after.pods);
}

/**
 * The status condition in which a DaemonSet-wide pass records that the API server refused some of the DaemonSet's pod
 * writes (a ResourceQuota, an admission policy, validation), as a ReplicaSet's `ReplicaFailure` does: status True,
 * `message` the first refusal, `lastTransitionTime` when the refusals began. Removed by the first pass that does all it
 * planned for the DaemonSet. Upstream's DaemonSet has no conditions and requeues a failed sync with an in-memory backoff;
 * the condition is where a stateless one keeps when the refusals began (`refusedRetryAfterSeconds`).
 */
export const refusedCondition = { type: 'daemonless.dev/ReplicaFailure', reason: 'WritesRefused' } as const;

/** What a pass learned about refused writes: one was refused (`refused`, its message), none was (`clear`), or it cannot say (`keep`). */
export type Refusal = { refused: string } | 'clear' | 'keep';

/**
 * `conditions` with the refused-writes condition as `refusal` says, from the status as read (`old`): kept as it was
 * while refusals go on (one status write when they begin, none after), gone once a pass did everything it planned.
 */
export function withRefusal(conditions: readonly V1DaemonSetCondition[], refusal: Refusal, old: V1DaemonSetStatus | undefined, now: Date): V1DaemonSetCondition[] {
  const rest = conditions.filter((c) => c.type !== refusedCondition.type);
  const before = old?.conditions?.find((c) => c.type === refusedCondition.type && c.status === 'True');
  if (refusal === 'clear') return rest;
  if (refusal === 'keep' || before !== undefined) return before === undefined ? rest : [...rest, before];
  const message = refusal.refused.length > 1024 ? `${refusal.refused.slice(0, 1021)}...` : refusal.refused;
  return [...rest, { type: refusedCondition.type, status: 'True', reason: refusedCondition.reason, message, lastTransitionTime: rfc3339(now) as unknown as Date }];
}

/** The last retry of refused writes comes this long after they began; the resync takes over from there. */
export const REFUSED_RETRY_SPAN_SECONDS = 256;

/**
 * Seconds until a DaemonSet whose writes were refused is tried again, on a grid anchored where the refusals began
 * (the refused-writes condition's lastTransitionTime; now, when not yet recorded): 1, 2, 4, … 256 s after it. Every pass
 * that meets a refusal asks for the next point of the same grid, so the passes that retry coincide and the re-queues
 * merge (one timer per DaemonSet in a server; one scheduled pass per interval through the queue), whatever events come
 * meanwhile; upstream's workqueue doubles its delay per failure in memory. Undefined past the grid's end: the resync
 * retries from there on.
 */
export function refusedRetryAfterSeconds(ds: V1DaemonSet, now: Date): number | undefined {
  const recorded = ds.status?.conditions?.find((c) => c.type === refusedCondition.type && c.status === 'True')?.lastTransitionTime;
  const began = recorded === undefined ? Number.NaN : new Date(recorded as unknown as string).getTime();
  const elapsed = Number.isFinite(began) ? Math.max(0, (now.getTime() - began) / 1000) : 0;
  for (let point = 1; point <= REFUSED_RETRY_SPAN_SECONDS; point *= 2) {
    if (point > elapsed + 0.5) return point - elapsed;
  }
  return undefined;
}

function sameConditions(a: V1DaemonSetCondition[] | undefined, b: V1DaemonSetCondition[]): boolean {
  const key = (c: V1DaemonSetCondition) => `${c.type}|${c.status}|${c.reason ?? ''}|${c.message ?? ''}`;
  return (a ?? []).map(key).sort().join('\n') === b.map(key).sort().join('\n');
}

function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Upstream `updateDaemonSetStatus`'s last line of defence against clock skew: with minReadySeconds, while some Ready
 * pods are not yet Available, look again after minReadySeconds. Undefined when nothing is waiting.
 */
export function statusRequeueAfterSeconds(ds: V1DaemonSet, counters: StatusCounters): number | undefined {
  const minReadySeconds = ds.spec?.minReadySeconds ?? 0;
  return minReadySeconds > 0 && counters.numberReady !== counters.numberAvailable ? minReadySeconds : undefined;
}

/** Where a rollout stands, as `kubectl rollout status daemonset/NAME` reports it. */
export interface RolloutStatus {
  /** kubectl would exit 0. */
  done: boolean;
  /** kubectl's line (without the trailing newline). */
  message: string;
  /** False for OnDelete (and unknown types): kubectl refuses to watch those. */
  supported: boolean;
}

/**
 * kubectl's `DaemonSetStatusViewer`: only for RollingUpdate (the default when the type is missing); done when
 * `observedGeneration ≥ generation`, `updatedNumberScheduled ≥ desiredNumberScheduled` and
 * `numberAvailable ≥ desiredNumberScheduled`. Missing counters read as 0.
 */
export function rolloutStatus(ds: V1DaemonSet, status: V1DaemonSetStatus | undefined = ds.status): RolloutStatus {
  const name = ds.metadata?.name ?? '';
  const type = ds.spec?.updateStrategy?.type || 'RollingUpdate';
  if (type !== 'RollingUpdate') {
    return { done: false, supported: false, message: 'rollout status is only available for RollingUpdate strategy type' };
  }
  const desired = status?.desiredNumberScheduled ?? 0;
  const updated = status?.updatedNumberScheduled ?? 0;
  const available = status?.numberAvailable ?? 0;
  if ((ds.metadata?.generation ?? 0) > (status?.observedGeneration ?? 0)) {
    return { done: false, supported: true, message: 'Waiting for daemon set spec update to be observed...' };
  }
  if (updated < desired) {
    return { done: false, supported: true, message: `Waiting for daemon set "${name}" rollout to finish: ${updated} out of ${desired} new pods have been updated...` };
  }
  if (available < desired) {
    return { done: false, supported: true, message: `Waiting for daemon set "${name}" rollout to finish: ${available} of ${desired} updated pods are available...` };
  }
  return { done: true, supported: true, message: `daemon set "${name}" successfully rolled out` };
}

/** `kubectl rollout status` would report the rollout done (RollingUpdate only; OnDelete is never "complete"). */
export function rolloutComplete(ds: V1DaemonSet, status: V1DaemonSetStatus | undefined = ds.status): boolean {
  return rolloutStatus(ds, status).done;
}
