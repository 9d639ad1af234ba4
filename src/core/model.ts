/**
 * The vocabulary shared by the pure core and the shell: what a reconcile reads (a snapshot), and what it decides
 * (a plan). The Kubernetes object shapes are client-node's generated models, imported as types only: the core never
 * calls the client. Timestamps are `Date`, as client-node deserialises them.
 */
import type { V1DaemonSet, V1Node, V1OwnerReference, V1Pod } from '@kubernetes/client-node';

export type { V1DaemonSet as DaemonSet, V1Node as Node, V1Pod as Pod };

/** Why a node does or does not get a daemon pod (upstream `NodeShouldRunDaemonPod`, with a reason). */
export interface Eligibility {
  /** A new daemon pod should be created on this node. */
  shouldRun: boolean;
  /** An existing daemon pod may stay (false evicts it). */
  shouldContinueRunning: boolean;
  /** Null when eligible; otherwise names the blocking nodeName, selector term or taint. */
  reason: string | null;
}

/** One node as a reconcile sees it. `node` is null when the Node object no longer exists. */
export interface NodeState {
  name: string;
  node: V1Node | null;
  /** Every pod targeting this node (bound via spec.nodeName, or unbound via the required matchFields affinity). */
  pods: V1Pod[];
}

/** Failed-pod backoff, kept in the cluster (one Lease per DaemonSet and node) so it survives invocations. */
export interface BackoffState {
  /** When the last failed pod was deleted. */
  lastDeletion: Date;
  /** How long to wait after lastDeletion before deleting the next failed pod. */
  delaySeconds: number;
  /** DaemonSet generation the backoff belongs to (upstream keys it by observedGeneration); a new one resets it. */
  generation: number;
}

export interface Snapshot {
  daemonSets: V1DaemonSet[];
  nodes: NodeState[];
  /** Keyed by `backoffKey(ds, nodeName)`; absent means no backoff. */
  backoffs: ReadonlyMap<string, BackoffState>;
  /**
   * The revision hash of each DaemonSet for this pass, by UID: the label of the ControllerRevision that matches its
   * template (see history.ts `currentRevision`). One hash per pass, used by creates, the surge branch, the rolling
   * update and the status alike. A DaemonSet missing here gets `revisionHash(ds)`.
   */
  hashes: ReadonlyMap<string, string>;
}

export interface ObjectRef {
  namespace: string;
  name: string;
  uid: string;
  /** In a reference to a DaemonSet: its kind, when it is not upstream's apps/v1 DaemonSet. */
  kind?: DaemonSetKind;
}

/**
 * The kinds daemonless reconciles, with the same spec, status and semantics: upstream's apps/v1 DaemonSet (clusters
 * whose built-in controller is off), and the custom resource ServerlessDaemonSet (clusters where it cannot be switched
 * off, e.g. EKS; infra/crd-serverlessdaemonset.json). Pods and ControllerRevisions are owned by whichever it is.
 */
export const daemonSetKinds = {
  DaemonSet: { apiVersion: 'apps/v1', group: 'apps', version: 'v1', plural: 'daemonsets' },
  ServerlessDaemonSet: { apiVersion: 'daemonless.dev/v1alpha1', group: 'daemonless.dev', version: 'v1alpha1', plural: 'serverlessdaemonsets' },
} as const;

export type DaemonSetKind = keyof typeof daemonSetKinds;

export type EventType = 'Normal' | 'Warning';

/** A Kubernetes Event to record on a DaemonSet, as upstream records them (reason strings are upstream's). */
export interface EventToRecord {
  daemonSet: ObjectRef;
  type: EventType;
  reason:
    | 'SuccessfulCreate'
    | 'FailedCreate'
    | 'SuccessfulDelete'
    | 'FailedDelete'
    | 'FailedDaemonPod'
    | 'SucceededDaemonPod'
    | 'SelectingAll'
    /** Not upstream's (its API server refuses such a DaemonSet): a ServerlessDaemonSet whose selector misses its template. */
    | 'InvalidSelector';
  message: string;
}

/** One write. Each is idempotent or guarded by a precondition, so any of them may be retried or duplicated. */
export type Action =
  | { kind: 'create'; daemonSet: ObjectRef; nodeName: string; pod: V1Pod; why: string }
  | {
      kind: 'delete';
      daemonSet: ObjectRef;
      nodeName: string;
      pod: ObjectRef;
      why: string;
      /**
       * 0 for a pod bound to a Node that no longer exists: no kubelet will ever confirm a graceful deletion (PodGC
       * force-deletes such pods too). Undefined: the pod's own grace period.
       */
      gracePeriodSeconds?: number;
    }
  | { kind: 'adopt'; daemonSet: ObjectRef; pod: ObjectRef; /** The controller reference to add. */ owner: V1OwnerReference }
  | { kind: 'release'; daemonSet: ObjectRef; pod: ObjectRef }
  | { kind: 'recordBackoff'; daemonSet: ObjectRef; nodeName: string; state: BackoffState };

export type CreateAction = Extract<Action, { kind: 'create' }>;
export type DeleteAction = Extract<Action, { kind: 'delete' }>;

/** What one reconcile decided. The shell applies `actions`, then records `events` for those that succeeded. */
export interface Plan {
  actions: Action[];
  /** Events that do not depend on a write's outcome (SelectingAll, FailedDaemonPod, ...). */
  events: EventToRecord[];
  /** Ask to be called again after this long (failed-pod backoff). Undefined: nothing pending. */
  requeueAfterSeconds?: number;
  /** Per (DaemonSet, node): what was decided and why, for logs and the explain view. */
  decisions: Decision[];
}

/**
 * How one write ended, as the shell reports it to `eventForAction`:
 * - `succeeded`: the write took effect;
 * - `unchanged`: someone already did it (AlreadyExists on a deterministic create, NotFound on delete) or upstream
 *   stays silent about it (create refused because the namespace is terminating): no event;
 * - `failed`: any other error, with its message.
 */
export type ActionOutcome =
  | { kind: 'succeeded'; /** The created pod's name when it differs from the planned one (see `freeDaemonPodName`). */ name?: string }
  | { kind: 'unchanged' }
  | { kind: 'failed'; message: string };

/** The seven counters of a DaemonSet's status (upstream `updateDaemonSetStatus`); see core/status.ts. */
export interface StatusCounters {
  desiredNumberScheduled: number;
  currentNumberScheduled: number;
  numberMisscheduled: number;
  numberReady: number;
  numberAvailable: number;
  updatedNumberScheduled: number;
  numberUnavailable: number;
}

export interface Decision {
  daemonSet: string; // namespace/name
  nodeName: string;
  eligibility: Eligibility;
  summary: string;
}

export interface PlanOptions {
  /** Upstream's failed-pod backoff: first delay and cap. */
  failedPodBackoff: { initialSeconds: number; maxSeconds: number };
  /**
   * Record a Decision (eligibility and a summary) for every DaemonSet on every node: why a pod is or is not there.
   * Default true. The reconcile passes turn it off, since nothing they do reads it: at 5,000 nodes and 4 DaemonSets the
   * decisions of one pass were 28 MB of its peak memory (docs/benchmarks.md, memory).
   */
  recordDecisions?: boolean;
}

export const defaultPlanOptions: PlanOptions = {
  failedPodBackoff: { initialSeconds: 1, maxSeconds: 15 * 60 },
};

/** Labels and annotations daemonless reads or writes. Upstream's names where upstream has one. */
export const labels = {
  revisionHash: 'controller-revision-hash',
  templateGeneration: 'pod-template-generation',
} as const;

export const annotations = {
  templateGeneration: 'deprecated.daemonset.template.generation',
} as const;
