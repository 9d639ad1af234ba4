/**
 * The RollingUpdate strategy as a pure plan: upstream `rollingUpdate`, `updatedDesiredNodeCounts` and
 * `findUpdatedPodsOnNode` (pkg/controller/daemon/update.go); the budget arithmetic is in budget.ts.
 *
 * The budget is GLOBAL: `planRollingUpdate` must see every node and every pod of the DaemonSet, and its decisions are
 * only safe if no other invocation applies a rollout step for the same DaemonSet from another view at the same time
 * (the shell serialises rollout steps per DaemonSet).
 *
 * Deterministic order (a deliberate deviation): upstream walks its node→pods map in Go's random map order, so which
 * nodes get the budget first is random. Here nodes are walked in ascending name order (UTF-16 code units), so the
 * same snapshot always gives the same plan and concurrent invocations that see the same snapshot agree.
 */
import type { V1DaemonSet, V1Pod } from '@kubernetes/client-node';
import { updateBudget, updateStrategyType, type UpdateBudget } from './budget.ts';
import { claimPodsOnNode } from './claim.ts';
import { nodeShouldRunDaemonPod } from './eligibility.ts';
import { isSyncable } from './daemonset.ts';
import { isEmptySelector, selectorError } from './label-selector.ts';
import type { CreateAction, DeleteAction, NodeState } from './model.ts';
import { freeDaemonPodName, newDaemonPod, templateGeneration } from './pod-template.ts';
import { isBeingDeleted, isPodAvailable, isPodReady, isPodUpdated, timeOf } from './pods.ts';
import { compareStrings, daemonSetRef, refOf } from './refs.ts';

/** What `findUpdatedPodsOnNode` found: at most one new and one old pod, or `ok: false` when there are more. */
export type UpdatedPodsOnNode = { ok: true; newPod?: V1Pod; oldPod?: V1Pod } | { ok: false };

/**
 * Upstream `findUpdatedPodsOnNode`: among the pods not being deleted (terminating pods never count, so a rollout makes
 * progress while deletions drag on), the updated one (revision hash or template generation, `isPodUpdated`) and the
 * outdated one; `ok: false` when there are two of either kind (the per-node plan prunes those first).
 */
export function findUpdatedPodsOnNode(pods: readonly V1Pod[], hash: string, generation: string | undefined): UpdatedPodsOnNode {
  let newPod: V1Pod | undefined;
  let oldPod: V1Pod | undefined;
  for (const pod of pods) {
    if (isBeingDeleted(pod)) continue;
    if (isPodUpdated(pod, hash, generation)) {
      if (newPod !== undefined) return { ok: false };
      newPod = pod;
    } else {
      if (oldPod !== undefined) return { ok: false };
      oldPod = pod;
    }
  }
  const found: UpdatedPodsOnNode = { ok: true };
  if (newPod !== undefined) found.newPod = newPod;
  if (oldPod !== undefined) found.oldPod = oldPod;
  return found;
}

/**
 * One rollout step for one DaemonSet. The shell (reconcile/apply.ts) deletes before it creates, unlike upstream's
 * `syncNodes` (creates first); the order cannot matter here, since a step never plans a create and a delete on the same
 * node (with maxSurge 0 it only deletes: the per-node plan creates the replacement on a later pass).
 */
export interface RollingUpdatePlan {
  creates: CreateAction[];
  deletes: DeleteAction[];
  /** What was decided and why, with the numbers that decided it. */
  summary: string;
  /** The budget resolved against `desired`. */
  budget: UpdateBudget;
  /** Nodes that should run the pod. */
  desired: number;
  /**
   * Call again after this long: the soonest moment a Ready pod becomes Available (minReadySeconds), plus 1 s as
   * upstream's requeue after a pod turns Ready. Nothing else would trigger the next step: no pod changes when
   * minReadySeconds elapse. Undefined when no pod is waiting for that.
   */
  requeueAfterSeconds?: number;
}

interface NodeEntry {
  name: string;
  shouldRun: boolean;
  /** The node object is gone: its bound pods can only be force-deleted (as `planNode` does). */
  gone: boolean;
  pods: V1Pod[];
  /** Every pod aimed at the node, claimed or not, terminating or not: the names a new pod must not take. */
  present: V1Pod[];
}

/**
 * Upstream `getNodesToDaemonPods` + `updatedDesiredNodeCounts`: every node with at least one claimed pod (terminal
 * pods being deleted dropped), plus every node that should run the pod even without one; sorted by name. A node that
 * should not run the pod and has no pod is not in the map, so it counts for nothing.
 */
function nodeEntries(ds: V1DaemonSet, nodes: readonly NodeState[]): NodeEntry[] {
  const entries: NodeEntry[] = [];
  for (const nodeState of nodes) {
    const pods = claimPodsOnNode(ds, nodeState).owned;
    const shouldRun = nodeState.node !== null && nodeShouldRunDaemonPod(nodeState.node, ds).shouldRun;
    if (shouldRun || pods.length > 0) entries.push({ name: nodeState.name, shouldRun, gone: nodeState.node === null, pods, present: nodeState.pods });
  }
  return entries.sort((a, b) => compareStrings(a.name, b.name));
}

/**
 * Seconds until a Ready, not yet Available pod becomes Available, + 1 s (upstream requeues minReadySeconds + 1 s after
 * a pod turns Ready); undefined when the pod is not waiting for that (not Ready, already Available, terminating).
 */
export function secondsUntilAvailable(pod: V1Pod, minReadySeconds: number, now: Date): number | undefined {
  if (minReadySeconds <= 0 || isBeingDeleted(pod) || !isPodReady(pod) || isPodAvailable(pod, minReadySeconds, now)) return undefined;
  const since = timeOf(pod.status?.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime);
  if (!Number.isFinite(since)) return undefined;
  return Math.max(0, (since + minReadySeconds * 1000 - now.getTime()) / 1000) + 1;
}

/**
 * Upstream `rollingUpdate` for one DaemonSet over ALL its nodes, as data (§5 of the semantics reference):
 *
 * - maxSurge == 0: delete old pods, never create (the per-node plan creates the replacements on a later pass). An old
 *   pod that is not Available is deleted regardless of the budget; available old pods are deleted while
 *   `maxUnavailable - numUnavailable` allows, where a node counts unavailable when it has no pod, both an old and a
 *   new pod, duplicates, or only a new pod that is not Available.
 * - maxSurge > 0: create new pods next to old ones: at once where the old pod is not Available, and on up to
 *   `maxSurge - numSurge` further nodes; delete an old pod once the new one beside it is Available; delete old pods on
 *   nodes that no longer should run the pod only while more pods are Available than desired.
 *
 * Only for RollingUpdate (the default); OnDelete, an unknown type, an invalid budget, a DaemonSet being deleted or an
 * empty/invalid selector give an empty plan. Nodes are walked in name order (see the module comment). A node whose
 * Node object is gone (`node: null`) counts as one that should not run the pod; its bound pods are deleted with grace
 * period 0, as in `planNode`. Should run with the same `hash` as the per-node plan, and (as upstream) only when the
 * per-node plan for this DaemonSet wrote nothing.
 */
export function planRollingUpdate(ds: V1DaemonSet, nodes: readonly NodeState[], hash: string, now: Date): RollingUpdatePlan {
  const entries = isSyncable(ds) ? nodeEntries(ds, nodes) : [];
  const desired = entries.filter((e) => e.shouldRun).length;
  const budget = updateBudget(ds, desired);
  const plan: RollingUpdatePlan = { creates: [], deletes: [], summary: '', budget, desired };

  if (isBeingDeleted(ds)) return { ...plan, summary: 'DaemonSet is being deleted: no rollout' };
  if (isEmptySelector(ds.spec?.selector) || selectorError(ds.spec?.selector) !== null) return { ...plan, summary: 'invalid or empty selector: no rollout' };
  const type = updateStrategyType(ds);
  if (type !== 'RollingUpdate') return { ...plan, summary: `update strategy ${type}: pods are replaced only when deleted` };
  if (budget.invalid !== undefined) return { ...plan, summary: `invalid rolling update (${budget.invalid}): no rollout` };

  const dsRef = daemonSetRef(ds);
  const minReadySeconds = ds.spec?.minReadySeconds ?? 0;
  const generation = templateGeneration(ds);
  const available = (pod: V1Pod) => isPodAvailable(pod, minReadySeconds, now);
  const deletion = (entry: NodeEntry, pod: V1Pod, why: string): DeleteAction => {
    const action: DeleteAction = { kind: 'delete', daemonSet: dsRef, nodeName: entry.name, pod: refOf(pod), why };
    if (entry.gone && pod.spec?.nodeName) action.gracePeriodSeconds = 0;
    return action;
  };
  const creation = (entry: NodeEntry, why: string): CreateAction => ({
    kind: 'create',
    daemonSet: dsRef,
    nodeName: entry.name,
    pod: newDaemonPod(ds, entry.name, hash, freeDaemonPodName(ds, entry.name, hash, entry.present)),
    why,
  });

  for (const entry of entries) {
    for (const pod of entry.pods) {
      const wait = secondsUntilAvailable(pod, minReadySeconds, now);
      if (wait !== undefined) plan.requeueAfterSeconds = Math.min(plan.requeueAfterSeconds ?? Number.POSITIVE_INFINITY, wait);
    }
  }

  const { maxUnavailable, maxSurge } = budget;
  if (maxSurge === 0) {
    let numUnavailable = 0;
    const replacements: Array<[NodeEntry, V1Pod]> = [];
    const candidates: Array<[NodeEntry, V1Pod]> = [];
    for (const entry of entries) {
      const found = findUpdatedPodsOnNode(entry.pods, hash, generation);
      if (!found.ok) {
        numUnavailable++; // duplicates: the per-node plan prunes them; the node counts as unavailable meanwhile
        continue;
      }
      const { newPod, oldPod } = found;
      if ((oldPod === undefined) === (newPod === undefined)) {
        numUnavailable++; // no pod, or an old and a new one: the per-node plan creates or prunes
      } else if (newPod !== undefined) {
        if (!available(newPod)) numUnavailable++;
      } else if (oldPod !== undefined) {
        if (!available(oldPod)) {
          replacements.push([entry, oldPod]);
          numUnavailable++;
        } else if (numUnavailable < maxUnavailable) {
          candidates.push([entry, oldPod]);
        }
      }
    }
    const allowed = Math.min(Math.max(maxUnavailable - numUnavailable, 0), candidates.length);
    for (const [entry, pod] of replacements) {
      plan.deletes.push(deletion(entry, pod, 'rolling update: old pod is not available, replaced regardless of maxUnavailable'));
    }
    for (const [entry, pod] of candidates.slice(0, allowed)) {
      plan.deletes.push(deletion(entry, pod, `rolling update: replacing old pod (maxUnavailable ${maxUnavailable}, unavailable ${numUnavailable})`));
    }
    plan.summary =
      `rolling update, maxUnavailable ${maxUnavailable} of ${desired}: ${numUnavailable} unavailable; ` +
      `${replacements.length} unavailable old pod(s) replaced, ${allowed} of ${candidates.length} candidate(s) deleted`;
    return plan;
  }

  let numSurge = 0;
  let numAvailable = 0;
  const allowedNewNodes: NodeEntry[] = [];
  const candidateNewNodes: NodeEntry[] = [];
  const shouldNotRun: Array<[NodeEntry, V1Pod]> = [];
  for (const entry of entries) {
    const found = findUpdatedPodsOnNode(entry.pods, hash, generation);
    if (!found.ok) {
      numSurge++; // duplicates: the per-node plan prunes them; the node counts as surging meanwhile
      continue;
    }
    const { newPod, oldPod } = found;
    // Availability is counted on every node, including those no longer targeted.
    if (oldPod !== undefined) {
      if (available(oldPod)) numAvailable++;
    } else if (newPod !== undefined && available(newPod)) {
      numAvailable++;
    }
    if (oldPod === undefined) continue; // nothing old here: the per-node plan handles it
    if (newPod === undefined) {
      if (!available(oldPod)) {
        if (!entry.shouldRun) plan.deletes.push(deletion(entry, oldPod, 'rolling update: old pod not available on a node that should not run it'));
        else allowedNewNodes.push(entry);
      } else if (!entry.shouldRun) {
        shouldNotRun.push([entry, oldPod]);
      } else if (numSurge < maxSurge) {
        candidateNewNodes.push(entry);
      }
    } else if (!available(newPod)) {
      numSurge++; // surged here already, waiting for the new pod to become available
    } else {
      plan.deletes.push(deletion(entry, oldPod, `rolling update: new pod ${newPod.metadata?.name} is available, old pod replaced`));
    }
  }

  // With surge the owner expects full availability: pods on nodes no longer targeted go only once enough pods are
  // available elsewhere.
  const deletable = Math.min(Math.max(numAvailable - desired, 0), shouldNotRun.length);
  for (const [entry, pod] of shouldNotRun.slice(0, deletable)) {
    plan.deletes.push(deletion(entry, pod, `rolling update: node should not run the pod and ${numAvailable} of ${desired} desired are available`));
  }
  const remainingSurge = Math.min(Math.max(maxSurge - numSurge, 0), candidateNewNodes.length);
  for (const entry of allowedNewNodes) {
    plan.creates.push(creation(entry, 'rolling update (surge): old pod is not available, new pod created regardless of maxSurge'));
  }
  for (const entry of candidateNewNodes.slice(0, remainingSurge)) {
    plan.creates.push(creation(entry, `rolling update (surge): new pod next to the old one (maxSurge ${maxSurge}, surging ${numSurge})`));
  }
  plan.summary =
    `rolling update, maxSurge ${maxSurge} of ${desired}: ${numSurge} surging, ${numAvailable} available; ` +
    `${allowedNewNodes.length} replacement(s) for unavailable old pods, ${remainingSurge} of ${candidateNewNodes.length} candidate(s) surged, ` +
    `${plan.deletes.length} old pod(s) deleted`;
  return plan;
}
