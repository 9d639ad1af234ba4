/**
 * The per-node decision: upstream `podsShouldBeOnNode` (pkg/controller/daemon/daemon_controller.go) for one DaemonSet
 * on one node, plus the early exits of `syncDaemonSet`, as data. Nothing here writes, reads the clock or records an
 * event; the shell applies the plan and calls `eventForAction` for each write's outcome.
 */
import type { V1DaemonSet, V1Pod } from '@kubernetes/client-node';
import { claimPodsOnNode } from './claim.ts';
import { nodeShouldRunDaemonPod } from './eligibility.ts';
import { revisionHash } from './hash.ts';
import { isEmptySelector, selectorError } from './label-selector.ts';
import {
  defaultPlanOptions,
  labels,
  type Action,
  type ActionOutcome,
  type BackoffState,
  type Eligibility,
  type EventToRecord,
  type NodeState,
  type ObjectRef,
  type Plan,
  type PlanOptions,
  type Snapshot,
} from './model.ts';
import { newDaemonPod } from './pod-template.ts';
import { compareDaemonPods, isBeingDeleted, isPodAvailable, isPodReady, podRef } from './pods.ts';
import { allowsSurge, secondsUntilAvailable } from './rollout.ts';

export function daemonSetRef(ds: V1DaemonSet): ObjectRef {
  return { namespace: ds.metadata?.namespace ?? '', name: ds.metadata?.name ?? '', uid: ds.metadata?.uid ?? '' };
}

/** `namespace/name`. */
export function daemonSetKey(ds: V1DaemonSet): string {
  return `${ds.metadata?.namespace ?? ''}/${ds.metadata?.name ?? ''}`;
}

/**
 * Where the failed-pod backoff of (DaemonSet, node) is kept. Upstream keys it `uid/observedGeneration/node`; the
 * generation lives inside `BackoffState` instead, so a new generation resets the backoff without leaving stale keys.
 */
export function backoffKey(ds: V1DaemonSet, nodeName: string): string {
  return `${ds.metadata?.uid ?? ''}/${nodeName}`;
}

export function emptyPlan(): Plan {
  return { actions: [], events: [], decisions: [] };
}

/** Concatenates plans; the requeue is the soonest one asked for. */
export function mergePlans(plans: readonly Plan[]): Plan {
  const merged = emptyPlan();
  for (const plan of plans) {
    merged.actions.push(...plan.actions);
    merged.events.push(...plan.events);
    merged.decisions.push(...plan.decisions);
    if (plan.requeueAfterSeconds !== undefined) {
      merged.requeueAfterSeconds = Math.min(merged.requeueAfterSeconds ?? Number.POSITIVE_INFINITY, plan.requeueAfterSeconds);
    }
  }
  return merged;
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
  const decide = (eligibility: Eligibility, summary: string): Plan => {
    plan.decisions.push({ daemonSet: daemonSetKey(ds), nodeName, eligibility, summary });
    return plan;
  };
  const notPlanned: Eligibility = { shouldRun: false, shouldContinueRunning: false, reason: null };

  // syncDaemonSet's early exits: planSnapshot skips these DaemonSets too, and emits SelectingAll once per DaemonSet.
  if (isBeingDeleted(ds)) return decide(notPlanned, 'DaemonSet is being deleted: its pods are left to the garbage collector');
  if (isEmptySelector(ds.spec?.selector)) return decide(notPlanned, 'empty selector refused (SelectingAll): nothing done');
  const invalid = selectorError(ds.spec?.selector);
  if (invalid !== null) return decide(notPlanned, `invalid selector (${invalid}): nothing done`);

  const claim = claimPodsOnNode(ds, nodeState);
  for (const pod of claim.adopt) plan.actions.push({ kind: 'adopt', daemonSet: dsRef, pod: podRef(pod) });
  for (const pod of claim.release) plan.actions.push({ kind: 'release', daemonSet: dsRef, pod: podRef(pod) });
  const pods = claim.owned;
  const notes: string[] = [];

  const deletePod = (pod: V1Pod, why: string, gracePeriodSeconds?: number) => {
    const action: Action = { kind: 'delete', daemonSet: dsRef, nodeName, pod: podRef(pod), why };
    if (gracePeriodSeconds !== undefined) action.gracePeriodSeconds = gracePeriodSeconds;
    plan.actions.push(action);
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
    return decide(eligibility, `node no longer exists: ${summarize()}`);
  }

  const eligibility = nodeShouldRunDaemonPod(nodeState.node, ds);
  const { shouldRun, shouldContinueRunning } = eligibility;
  // `exists` still counts non-terminal pods being deleted and terminal pods not (yet) being deleted, as upstream.
  const exists = pods.length > 0;

  if (shouldRun && !exists) {
    const pod = newDaemonPod(ds, nodeName, hash);
    plan.actions.push({ kind: 'create', daemonSet: dsRef, nodeName, pod, why: `node ${nodeName} has no daemon pod` });
  } else if (shouldContinueRunning) {
    const generation = ds.metadata?.generation ?? 0;
    let state = backoff !== undefined && backoff.generation === generation ? backoff : undefined;
    let recorded: BackoffState | undefined;
    const deletes: Array<() => void> = [];
    const running: V1Pod[] = [];
    for (const pod of pods) {
      const name = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
      if (isBeingDeleted(pod)) continue; // neither counted nor replaced until it is gone
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
      } else {
        running.push(pod);
      }
    }
    // The backoff is stored before the failed pod is deleted: if the delete happened without it, the replacement's
    // failure would be deleted again at once, which is the hot loop the backoff exists to prevent.
    if (recorded !== undefined) plan.actions.push({ kind: 'recordBackoff', daemonSet: dsRef, nodeName, state: recorded });
    for (const d of deletes) d();

    if (!allowsSurge(ds)) {
      // Without surge (OnDelete, or RollingUpdate with maxSurge 0): keep the first running pod, delete the rest. No pod
      // is created while only terminating or failed pods remain; creation waits for them to be gone.
      if (running.length > 1) {
        const [keep, ...extra] = [...running].sort(compareDaemonPods);
        for (const pod of extra) deletePod(pod, `duplicate: ${keep?.metadata?.name} is kept`);
      }
    } else if (running.length === 0) {
      // Surge: the node must always have a pod that is not going away, so create one at once even while a terminating
      // (or failed, or succeeded) pod is still there. Pitfall: pod names are deterministic per (DaemonSet UID, node,
      // revision hash), so if the pod still there is of the same revision, this create answers AlreadyExists (outcome
      // `unchanged`) until that pod is gone; its DELETED event triggers the reconcile that creates the replacement.
      if (shouldRun) {
        const pod = newDaemonPod(ds, nodeName, hash);
        plan.actions.push({ kind: 'create', daemonSet: dsRef, nodeName, pod, why: `surge: no running daemon pod on node ${nodeName}` });
      }
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
  return decide(eligibility, summarize());
}

/**
 * The surge branch of upstream `podsShouldBeOnNode` for two or more running pods: in upstream's order, keep the first
 * pod whose `controller-revision-hash` is `hash` ("new"; unlike `isPodUpdated`, the template generation does not count
 * here, as upstream) and the first with any other hash ("old"), delete every other pod. If both are kept, the old one
 * goes when it is not Ready, or when the new one is Available (minReadySeconds against `now`); otherwise both stay,
 * and when the new pod is Ready but not yet Available the plan asks to be called again once it is (+1 s, as upstream's
 * requeue after a pod turns Ready).
 */
function planSurgePods(
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

function hasRevisionHash(pod: V1Pod, hash: string): boolean {
  return pod.metadata?.labels?.[labels.revisionHash] === hash;
}

/**
 * Every DaemonSet on every node of the snapshot, in a deterministic order (DaemonSets by namespace/name, nodes by
 * name). DaemonSets being deleted are skipped (their pods go through the garbage collector via ownerReferences); an
 * empty selector yields only the Warning SelectingAll, as upstream.
 */
export function planSnapshot(snapshot: Snapshot, now: Date, options: PlanOptions = defaultPlanOptions): Plan {
  const plans: Plan[] = [];
  const daemonSets = [...snapshot.daemonSets].sort((a, b) => compareStrings(daemonSetKey(a), daemonSetKey(b)));
  const nodes = [...snapshot.nodes].sort((a, b) => compareStrings(a.name, b.name));
  for (const ds of daemonSets) {
    if (isBeingDeleted(ds)) continue;
    if (isEmptySelector(ds.spec?.selector)) {
      plans.push({
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
    const hash = revisionHash(ds);
    for (const nodeState of nodes) {
      plans.push(planNode(ds, nodeState, snapshot.backoffs.get(backoffKey(ds, nodeState.name)), now, options, hash));
    }
  }
  return mergePlans(plans);
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The Event to record once a write has ended, with upstream's reasons and messages (`RealPodControl`): SuccessfulCreate
 * "Created pod: NAME", FailedCreate "Error creating: ERR", SuccessfulDelete "Deleted pod: NAME", FailedDelete
 * "Error deleting: ERR". Null when upstream records nothing: adopt, release, backoff bookkeeping, and `unchanged`.
 */
export function eventForAction(action: Action, outcome: ActionOutcome): EventToRecord | null {
  if (outcome.kind === 'unchanged') return null;
  const daemonSet = action.daemonSet;
  switch (action.kind) {
    case 'create':
      return outcome.kind === 'succeeded'
        ? { daemonSet, type: 'Normal', reason: 'SuccessfulCreate', message: `Created pod: ${action.pod.metadata?.name}` }
        : { daemonSet, type: 'Warning', reason: 'FailedCreate', message: `Error creating: ${outcome.message}` };
    case 'delete':
      return outcome.kind === 'succeeded'
        ? { daemonSet, type: 'Normal', reason: 'SuccessfulDelete', message: `Deleted pod: ${action.pod.name}` }
        : { daemonSet, type: 'Warning', reason: 'FailedDelete', message: `Error deleting: ${outcome.message}` };
    default:
      return null;
  }
}
