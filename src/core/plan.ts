/**
 * The per-node decision: upstream `podsShouldBeOnNode` (pkg/controller/daemon/daemon_controller.go) for one DaemonSet
 * on one node, plus the early exits of `syncDaemonSet`, as data. Nothing here writes, reads the clock or records an
 * event; the shell applies the plan and calls `eventForAction` for each write's outcome.
 */
import type { V1DaemonSet, V1Pod } from '@kubernetes/client-node';
import { claimObjects, claimPodsOnNode, type Claimable } from './claim.ts';
import { isSyncable, selectsTemplate } from './daemonset.ts';
import { nodeShouldRunDaemonPod } from './eligibility.ts';
import { revisionHash } from './hash.ts';
import { isEmptySelector, selectorError } from './label-selector.ts';
import {
  defaultPlanOptions,
  type Action,
  type BackoffState,
  type Eligibility,
  type NodeState,
  type Plan,
  type PlanOptions,
  type Snapshot,
} from './model.ts';
import { controllerRefFor, freeDaemonPodName, getTargetNodeName, newDaemonPod } from './pod-template.ts';
import { compareDaemonPods, isBeingDeleted } from './pods.ts';
import { compareStrings, daemonSetRef, keyOf, refOf } from './refs.ts';
import { backoffKey, backoffRemainingSeconds, nextBackoff } from './backoff.ts';
import { allowsSurge } from './budget.ts';
import { planSurgePods } from './surge.ts';


export function emptyPlan(): Plan {
  return { actions: [], events: [], decisions: [] };
}

/** Concatenates plans; the requeue is the soonest one asked for. */
export function mergePlans(plans: readonly Plan[]): Plan {
  const merged = emptyPlan();
  for (const plan of plans) appendPlan(merged, plan);
  return merged;
}

/** Adds `plan` to `into` (mergePlans, one plan at a time). */
function appendPlan(into: Plan, plan: Plan): void {
  into.actions.push(...plan.actions);
  into.events.push(...plan.events);
  into.decisions.push(...plan.decisions);
  if (plan.requeueAfterSeconds !== undefined) {
    into.requeueAfterSeconds = Math.min(into.requeueAfterSeconds ?? Number.POSITIVE_INFINITY, plan.requeueAfterSeconds);
  }
}

/**
 * One DaemonSet on one node (upstream `podsShouldBeOnNode`, with its surge branch when `allowsSurge(ds)`: RollingUpdate
 * with a positive maxSurge). `backoff` is the stored state for `backoffKey(ds, nodeState.name)`.
 * `hash` defaults to `revisionHash(ds)`; pass it when planning many nodes.
 */
export function planNode(
  ds: V1DaemonSet,
  nodeState: NodeState,
  backoff: BackoffState | undefined,
  now: Date,
  options: PlanOptions = defaultPlanOptions,
  hash: string = revisionHash(ds),
): Plan {
  const plan = emptyPlan();
  const dsRef = daemonSetRef(ds);
  const nodeName = nodeState.name;
  // The summary is only written when decisions are recorded (PlanOptions.recordDecisions).
  const decide = (eligibility: Eligibility, summary: () => string): Plan => {
    if (options.recordDecisions !== false) plan.decisions.push({ daemonSet: keyOf(ds), nodeName, eligibility, summary: summary() });
    return plan;
  };
  const notPlanned: Eligibility = { shouldRun: false, shouldContinueRunning: false, reason: null };

  // syncDaemonSet's early exits: planSnapshot skips these DaemonSets too, and emits SelectingAll once per DaemonSet.
  if (isBeingDeleted(ds)) return decide(notPlanned, () => 'DaemonSet is being deleted: its pods are left to the garbage collector');
  if (isEmptySelector(ds.spec?.selector)) return decide(notPlanned, () => 'empty selector refused (SelectingAll): nothing done');
  const invalid = selectorError(ds.spec?.selector);
  if (invalid !== null) return decide(notPlanned, () => `invalid selector (${invalid}): nothing done`);
  if (!selectsTemplate(ds)) return decide(notPlanned, () => "the selector does not match the template's labels: nothing done");

  const claim = claimPodsOnNode(ds, nodeState);
  for (const pod of claim.adopt) plan.actions.push({ kind: 'adopt', daemonSet: dsRef, pod: refOf(pod), owner: controllerRefFor(ds) });
  for (const pod of claim.release) plan.actions.push({ kind: 'release', daemonSet: dsRef, pod: refOf(pod) });
  const pods = claim.owned;
  const notes: string[] = [];

  const deletePod = (pod: V1Pod, why: string, gracePeriodSeconds?: number) => {
    const action: Action = { kind: 'delete', daemonSet: dsRef, nodeName, pod: refOf(pod), why };
    if (gracePeriodSeconds !== undefined) action.gracePeriodSeconds = gracePeriodSeconds;
    plan.actions.push(action);
  };
  // Every pod aimed at the node, whoever owns it and whatever its state, may hold the plain name (freeDaemonPodName).
  const createPod = (why: string) => {
    const pod = newDaemonPod(ds, nodeName, hash, freeDaemonPodName(ds, nodeName, hash, nodeState.pods));
    plan.actions.push({ kind: 'create', daemonSet: dsRef, nodeName, pod, why });
  };
  const summarize = () => {
    const parts = plan.actions.map((a) => {
      switch (a.kind) {
        case 'create':
          return `create ${a.pod.metadata?.name} (${a.why})`;
        case 'delete':
          return `delete ${a.pod.name} (${a.why})`;
        case 'adopt':
          return `adopt ${a.pod.name}`;
        case 'release':
          return `release ${a.pod.name}`;
        case 'recordBackoff':
          return `back off failed pods for ${a.state.delaySeconds}s`;
      }
    });
    parts.push(...notes);
    return parts.length === 0 ? `${pods.length} pod(s), nothing to do` : parts.join('; ');
  };

  if (nodeState.node === null) {
    // Deviation from upstream, which deletes only unbound pods here and leaves bound ones to PodGC after a 40 s
    // quarantine: daemonless promises that a deleted node's pod goes away, and a bound pod on a vanished node can never
    // finish a graceful deletion (no kubelet confirms it), so bound pods are force-deleted, terminating ones included.
    const eligibility: Eligibility = { shouldRun: false, shouldContinueRunning: false, reason: `node ${nodeName} no longer exists` };
    for (const pod of pods) {
      const bound = Boolean(pod.spec?.nodeName);
      if (bound) deletePod(pod, `node ${nodeName} no longer exists`, 0);
      else if (!isBeingDeleted(pod)) deletePod(pod, `node ${nodeName} no longer exists`);
    }
    return decide(eligibility, () => `node no longer exists: ${summarize()}`);
  }

  const eligibility = nodeShouldRunDaemonPod(nodeState.node, ds);
  const { shouldRun, shouldContinueRunning } = eligibility;
  // `exists` still counts non-terminal pods being deleted and terminal pods not (yet) being deleted, as upstream.
  const exists = pods.length > 0;

  if (shouldRun && !exists) {
    createPod(`node ${nodeName} has no daemon pod`);
  } else if (shouldContinueRunning) {
    // Upstream keys the backoff by `status.observedGeneration`: a spec change resets it once a pass has synced that spec.
    const generation = ds.status?.observedGeneration ?? 0;
    let state = backoff !== undefined && backoff.generation === generation ? backoff : undefined;
    let recorded: BackoffState | undefined;
    const deletes: Array<() => void> = [];
    const running: V1Pod[] = [];
    let terminating = 0;
    for (const pod of pods) {
      const name = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
      if (isBeingDeleted(pod)) {
        terminating++; // neither counted nor replaced until it is gone
        continue;
      }
      if (pod.status?.phase === 'Failed') {
        // Kubelets may reject a pod over and over (upstream #65240): deleting failed pods is rate-limited per node.
        const remaining = backoffRemainingSeconds(state, now);
        if (remaining > 0) {
          plan.requeueAfterSeconds = Math.min(plan.requeueAfterSeconds ?? Number.POSITIVE_INFINITY, remaining);
          notes.push(`failed pod ${pod.metadata?.name} waits ${remaining}s (backoff)`);
          continue;
        }
        state = recorded = nextBackoff(state, now, generation, options);
        plan.events.push({
          daemonSet: dsRef,
          type: 'Warning',
          reason: 'FailedDaemonPod',
          message: `Found failed daemon pod ${name} on node ${nodeName}, will try to kill it`,
        });
        deletes.push(() => deletePod(pod, 'pod failed'));
      } else if (pod.status?.phase === 'Succeeded') {
        plan.events.push({
          daemonSet: dsRef,
          type: 'Normal',
          reason: 'SucceededDaemonPod',
          message: `Found succeeded daemon pod ${name} on node ${nodeName}, will try to delete it`,
        });
        deletes.push(() => deletePod(pod, 'pod succeeded'));
      } else if (!shouldRun && !pod.spec?.nodeName) {
        // Beyond upstream, which keeps such a pod for ever (a surge or an unavailable slot spent, the rollout stuck):
        // kube-scheduler honours the taints that make shouldRun false, so a pod it has not bound can never start.
        deletes.push(() => deletePod(pod, `never bound, and node ${nodeName} takes no new pods (${eligibility.reason ?? 'it no longer qualifies'})`));
      } else {
        running.push(pod);
      }
    }
    // The backoff is stored before the failed pod is deleted: if the delete happened without it, the replacement's
    // failure would be deleted again at once, which is the hot loop the backoff exists to prevent.
    if (recorded !== undefined) plan.actions.push({ kind: 'recordBackoff', daemonSet: dsRef, nodeName, state: recorded });
    for (const d of deletes) d();

    // Terminal pods deleted in this pass (not waiting out a backoff): once deleted they are terminal pods being deleted,
    // which count for nothing, and upstream's next sync creates the replacement. It is created in this pass instead
    // (after the delete), under another name than the pod it replaces: the same outcome without waiting for the
    // delete's event, so a node is never left without its daemon for an event's round trip.
    const replacedNow = deletes.length > 0 && deletes.length + running.length + terminating === pods.length;

    if (!allowsSurge(ds)) {
      // Without surge (OnDelete, or RollingUpdate with maxSurge 0): keep the first running pod, delete the rest. No pod
      // is created while a running pod is terminating or a failed pod waits out its backoff; creation waits for them.
      if (running.length > 1) {
        const [keep, ...extra] = [...running].sort(compareDaemonPods);
        for (const pod of extra) deletePod(pod, `duplicate: ${keep?.metadata?.name} is kept`);
      } else if (running.length === 0 && terminating === 0 && replacedNow && shouldRun) {
        createPod(`replaces the terminal pod(s) deleted on node ${nodeName}`);
      }
    } else if (running.length === 0) {
      // Surge: the node must always have a pod that is not going away, so create one at once even while a terminating
      // (or failed, or succeeded) pod is still there; its name differs from theirs (freeDaemonPodName).
      if (shouldRun) createPod(`surge: no running daemon pod on node ${nodeName}`);
    } else if (running.length > 1) {
      planSurgePods(ds, running, hash, now, deletePod, plan);
    }
    if (shouldRun === false) notes.push(`existing pods stay (${eligibility.reason})`);
  } else if (exists) {
    for (const pod of pods) {
      if (!isBeingDeleted(pod)) deletePod(pod, `node no longer qualifies: ${eligibility.reason}`);
    }
  } else {
    notes.push(`not eligible (${eligibility.reason})`);
  }
  return decide(eligibility, summarize);
}

/** The hash of `ds` for this pass (Snapshot.hashes), or `revisionHash(ds)` when the snapshot has none. */
export function hashFor(snapshot: Pick<Snapshot, 'hashes'>, ds: V1DaemonSet): string {
  return snapshot.hashes.get(ds.metadata?.uid ?? '') ?? revisionHash(ds);
}

/**
 * Every DaemonSet on every node of the snapshot, in a deterministic order (DaemonSets by namespace/name, nodes by
 * name). DaemonSets being deleted are skipped (their pods go through the garbage collector via ownerReferences); an
 * empty selector yields only the Warning SelectingAll, as upstream.
 */
export function planSnapshot(snapshot: Snapshot, now: Date, options: PlanOptions = defaultPlanOptions): Plan {
  // Merged as it goes: one plan per DaemonSet and node kept until the end was most of a large pass's memory.
  const merged = emptyPlan();
  const daemonSets = [...snapshot.daemonSets].sort((a, b) => compareStrings(keyOf(a), keyOf(b)));
  const nodes = [...snapshot.nodes].sort((a, b) => compareStrings(a.name, b.name));
  for (const ds of daemonSets) {
    if (isBeingDeleted(ds)) continue;
    if (isEmptySelector(ds.spec?.selector)) {
      appendPlan(merged, {
        ...emptyPlan(),
        events: [
          {
            daemonSet: daemonSetRef(ds),
            type: 'Warning',
            reason: 'SelectingAll',
            message: 'This daemon set is selecting all pods. A non-empty selector is required.',
          },
        ],
      });
      continue;
    }
    if (selectorError(ds.spec?.selector) === null && !selectsTemplate(ds)) {
      const message = "The selector does not match the pod template's labels: no pod would belong to it, so none is created.";
      appendPlan(merged, { ...emptyPlan(), events: [{ daemonSet: daemonSetRef(ds), type: 'Warning', reason: 'InvalidSelector', message }] });
      continue;
    }
    const hash = hashFor(snapshot, ds);
    for (const nodeState of nodes) {
      appendPlan(merged, planNode(ds, nodeState, snapshot.backoffs.get(backoffKey(ds, nodeState.name)), now, options, hash));
    }
  }
  return merged;
}


/**
 * Adoptions of orphans `ds` selects that target no node (no `spec.nodeName`, no single-node affinity term). Upstream's
 * `getDaemonPods` claims every pod of the namespace before `getNodesToDaemonPods` maps them to nodes, so such a pod is
 * adopted and then skipped (`GetTargetNodeName` fails for it): it counts for nothing, but is owned, and so goes with
 * the DaemonSet when that is deleted. Planning per node never sees these pods; the DaemonSet-wide pass plans them
 * here, from its selector's pod list. A targetless pod `ds` controls that left the selector is released by
 * `planReleases` (the list outside the selector).
 */
export function planTargetlessAdoptions(ds: V1DaemonSet, pods: readonly V1Pod[]): Plan {
  const plan = emptyPlan();
  if (!isSyncable(ds)) return plan;
  const dsRef = daemonSetRef(ds);
  const targetless = pods.filter((pod) => getTargetNodeName(pod) === undefined);
  for (const pod of claimObjects(ds, targetless).adopt) plan.actions.push({ kind: 'adopt', daemonSet: dsRef, pod: refOf(pod), owner: controllerRefFor(ds) });
  return plan;
}

/**
 * Releases for pods known only by their metadata (a metadata-only list of the namespace): pods `ds` controls whose
 * labels left its selector. The DaemonSet-wide pass reads pods by selector, which never returns these.
 */
export function planReleases(ds: V1DaemonSet, pods: readonly Claimable[]): Plan {
  const plan = emptyPlan();
  if (!isSyncable(ds)) return plan;
  const dsRef = daemonSetRef(ds);
  for (const pod of claimObjects(ds, pods).release) plan.actions.push({ kind: 'release', daemonSet: dsRef, pod: refOf(pod) });
  return plan;
}
