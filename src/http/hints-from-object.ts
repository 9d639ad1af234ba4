/**
 * The mapping rules, written once: a changed Kubernetes object (or a reference to one) becomes a hint, or is ignored
 * with a reason. Every intake format reduces its input to `(KubeObject, Operation)` and calls `hintFromObject`.
 */
import { daemonSetKinds, type DaemonSetKind } from '../core/model.ts';
import { daemonSetNameError, namespaceError, podNameError } from '../core/refs.ts';
import type { Hint } from '../hints.ts';
import type { KubeObject, ObjectReference, PodSpecFields } from './schemas.ts';

/**
 * What happened to the object. `added`: it appeared in a watch or an informer, which is a creation or, when the watch
 * (re)started, an object that already existed (a watch from no resourceVersion, an ApiServerSource's informer
 * listing): handled as a change, never as a creation.
 */
export type Operation = 'create' | 'added' | 'update' | 'delete';

export type Mapped = { hint: Hint } | { ignored: string };

export const reasons = {
  podWithoutNode: 'pod targets no node',
  orphanGone: 'orphan targeting no node deleted or being deleted: nothing to adopt',
  orphanWithoutLabels: 'orphan targeting no node has no labels: no DaemonSet selects it',
  revisionOfAnotherController: (kind: string) => `ControllerRevision controlled by a ${kind}, not a DaemonSet`,
  revisionOfNoDaemonSet: 'ControllerRevision controlled by a DaemonSet of a name no DaemonSet can have',
  revisionCreatedOwned: "ControllerRevision created by its DaemonSet's own pass",
  orphanRevisionGone: 'orphan ControllerRevision deleted or being deleted: nothing to adopt',
  orphanRevisionWithoutLabels: 'orphan ControllerRevision has no labels: no DaemonSet selects it',
  orphanRevisionUnnamed: 'orphan ControllerRevision names no namespace or no valid name',
  podOfAnotherController: (kind: string) => `pod controlled by a ${kind}, not a DaemonSet`,
  podOfNoDaemonSet: 'pod controlled by a DaemonSet of a name no DaemonSet can have',
  daemonSetDeleted: 'left to the garbage collector (ownerReferences)',
  daemonSetWithoutNamespace: 'DaemonSet names no namespace',
  unhandledKind: (obj: { apiVersion: string; kind: string }) => `${obj.apiVersion} ${obj.kind} is not handled`,
} as const;

/**
 * A creation hint carries the node's labels and taints up to this size (JSON); a larger one (hundreds of labels) has
 * its pass read the node instead, so that queue messages stay small.
 */
export const MAX_REGISTERED_BYTES = 8192;

export function hintFromObject(obj: KubeObject, operation: Operation): Mapped {
  const { apiVersion, kind, metadata } = obj;
  if (apiVersion === 'v1' && kind === 'Node') {
    // Any operation, deletes included: a deleted node's daemon pods must go. A creation says so (Hint `created`): an
    // audit event or AdmissionReview of the create, never a watch's ADDED (see `Operation`).
    // With the creation, what eligibility reads of the node as stored (Hint `registered`), unless unusually large.
    if (operation !== 'create') return { hint: { kind: 'node', name: metadata.name } };
    const registered = obj.node !== undefined && fitsHint(obj.node) ? { registered: obj.node } : {};
    return { hint: { kind: 'node', name: metadata.name, created: true, ...registered } };
  }
  if (apiVersion === 'v1' && kind === 'Pod') {
    // A DaemonSet's pod changed: a DaemonSet-wide pass decides for its node, counts status and takes the next rollout
    // step, all of which the change may affect; a node-scoped pass would read the node only to ask for that pass.
    // The hint names the pod (Hint `pods`): only if it left the selector does the pass need the namespace's other pods.
    // A pod deleted or being deleted is named by none: it needs no release (it is going; the resync releases one that
    // lingers), and naming it would send the pass to read the namespace whenever the pod is gone by then (every old
    // pod of a rollout).
    const owner = obj.controller;
    if (owner && metadata.namespace) {
      const ownerKind = daemonSetKindOfOwner(owner);
      if (ownerKind === null) return { ignored: reasons.podOfAnotherController(owner.kind) };
      // The API server stores any non-empty owner name; one no DaemonSet can have resolves to none (upstream ignores
      // a pod whose controller reference resolves to nothing).
      if (daemonSetNameError(owner.name) !== null) return { ignored: reasons.podOfNoDaemonSet };
      const pods = operation === 'delete' || obj.terminating ? { pods: [] } : podNameError(metadata.name) === null ? { pods: [metadata.name] } : {};
      return { hint: { kind: 'daemonSet', namespace: metadata.namespace, name: owner.name, ...typeOf(ownerKind), ...pods } };
    }
    // An orphan: a DaemonSet may adopt it, or it may stand in a daemon pod's way on its node.
    const node = podTargetNode(obj.podSpec);
    if (node !== null) return { hint: { kind: 'node', name: node } };
    return orphanWithoutNode(obj, operation);
  }
  if (apiVersion === 'apps/v1' && kind === 'ControllerRevision') return revisionHint(obj, operation);
  if (apiVersion === 'v1' && kind === 'Binding') {
    // The scheduler binding a pod (pods/binding): the pod now runs on the target node.
    const target = obj.bindingTarget;
    if (!target || (target.kind !== undefined && target.kind !== 'Node')) return { ignored: reasons.podWithoutNode };
    return { hint: { kind: 'node', name: target.name } };
  }
  const sds = apiVersion === daemonSetKinds.ServerlessDaemonSet.apiVersion && kind === 'ServerlessDaemonSet';
  if ((apiVersion === 'apps/v1' && kind === 'DaemonSet') || sds) {
    if (operation === 'delete') return { ignored: reasons.daemonSetDeleted };
    if (!metadata.namespace) return { ignored: reasons.daemonSetWithoutNamespace };
    // `pods: []`: none of its pods changed. The selector is immutable (apps/v1, and the CRD's validation rule), so a
    // change to the DaemonSet cannot take an owned pod out of it: the pass needs no release check (Hint `pods`).
    return { hint: { kind: 'daemonSet', namespace: metadata.namespace, name: metadata.name, ...(sds ? { type: 'ServerlessDaemonSet' as const } : {}), pods: [] } };
  }
  return { ignored: reasons.unhandledKind(obj) };
}

/**
 * An orphan that targets no node: the DaemonSets of its namespace that select it may adopt it (Hint `orphan`). Only a
 * pod as stored counts (a reference carries no spec and stays ignored: it cannot tell a bound pod from an unbound one),
 * and only one that can still be adopted (not going) and selected (labelled).
 */
function orphanWithoutNode(obj: KubeObject, operation: Operation): Mapped {
  const { name, namespace } = obj.metadata;
  if (obj.podSpec === undefined || obj.podSpec === null || !namespace || namespaceError(namespace) !== null || podNameError(name) !== null) return { ignored: reasons.podWithoutNode };
  if (operation === 'delete' || obj.terminating) return { ignored: reasons.orphanGone };
  if (obj.labels === undefined) return { ignored: reasons.orphanWithoutLabels };
  return { hint: { kind: 'orphan', namespace, name, ...(fitsHint(obj.labels) ? { labels: obj.labels } : {}) } };
}

/**
 * A ControllerRevision, as upstream's history handlers take it: one its DaemonSet controls brings that DaemonSet's pass
 * when it changes or goes (the pass makes the current revision again if that was it, and releases one relabelled out of
 * the selector), not when it is created (its DaemonSet's own pass made it); an orphan brings the passes of the
 * DaemonSets that select it (Hint `orphan`), which adopt it. Revisions of other controllers (StatefulSets) are ignored.
 */
function revisionHint(obj: KubeObject, operation: Operation): Mapped {
  const { name, namespace } = obj.metadata;
  const owner = obj.controller;
  if (owner) {
    const ownerKind = daemonSetKindOfOwner(owner);
    if (ownerKind === null) return { ignored: reasons.revisionOfAnotherController(owner.kind) };
    if (daemonSetNameError(owner.name) !== null || !namespace) return { ignored: reasons.revisionOfNoDaemonSet };
    if (operation === 'create' || operation === 'added') return { ignored: reasons.revisionCreatedOwned };
    return { hint: { kind: 'daemonSet', namespace, name: owner.name, ...typeOf(ownerKind), pods: [] } };
  }
  if (!namespace || namespaceError(namespace) !== null || podNameError(name) !== null) return { ignored: reasons.orphanRevisionUnnamed };
  if (operation === 'delete' || obj.terminating) return { ignored: reasons.orphanRevisionGone };
  if (obj.labels === undefined) return { ignored: reasons.orphanRevisionWithoutLabels };
  return { hint: { kind: 'orphan', resource: 'controllerrevisions', namespace, name, ...(fitsHint(obj.labels) ? { labels: obj.labels } : {}) } };
}

/** Whether what an object carries (a node's labels and taints, an orphan's labels) is small enough to ride on its hint. */
function fitsHint(carried: object): boolean {
  return JSON.stringify(carried).length <= MAX_REGISTERED_BYTES;
}

/** The DaemonSet kind an owner reference names, or null for any other controller. */
function daemonSetKindOfOwner(owner: { apiVersion: string; kind: string }): DaemonSetKind | null {
  if (owner.apiVersion === daemonSetKinds.ServerlessDaemonSet.apiVersion && owner.kind === 'ServerlessDaemonSet') return 'ServerlessDaemonSet';
  return owner.apiVersion === 'apps/v1' && owner.kind === 'DaemonSet' ? 'DaemonSet' : null;
}

/** A DaemonSet hint's `type` for that kind (absent: apps/v1). */
function typeOf(kind: DaemonSetKind): { type?: 'ServerlessDaemonSet' } {
  return kind === 'ServerlessDaemonSet' ? { type: 'ServerlessDaemonSet' } : {};
}

/**
 * The node a pod targets: `spec.nodeName` once bound, else the node named by its required node affinity
 * (`matchFields metadata.name In [node]`, which is how DaemonSet pods are pinned before kube-scheduler binds them).
 * Null when there is no single such node.
 */
export function podTargetNode(spec: PodSpecFields | null | undefined): string | null {
  if (spec?.nodeName) return spec.nodeName;
  const terms = spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  const named = new Set<string>();
  for (const term of terms) {
    for (const field of term.matchFields ?? []) {
      const values = field.values ?? [];
      if (field.key === 'metadata.name' && field.operator === 'In' && values.length === 1 && values[0]) {
        named.add(values[0]);
      }
    }
  }
  return named.size === 1 ? [...named][0]! : null;
}

/**
 * A reference carries no spec, so it goes through the same rules as a bare object: a Node or DaemonSet maps by name;
 * a Pod names no node and is ignored.
 */
export function objectFromReference(ref: ObjectReference): KubeObject {
  return { apiVersion: ref.apiVersion, kind: ref.kind, metadata: { name: ref.name, namespace: ref.namespace } };
}

/** Hints and ignore reasons gathered from one request. */
export interface Intake {
  hints: Hint[];
  ignored: string[];
  /** Input items skipped silently (audit events for resources or stages daemonless does not use). */
  skipped: number;
  /** What produced the hints, where the source says (audit: `verb resource[/subresource] by user`), for the debug log. */
  sources?: string[];
  /** Epoch ms of the oldest change that produced a hint, where the source says (audit stageTimestamp). */
  oldestChangeAt?: number;
}

export function emptyIntake(): Intake {
  return { hints: [], ignored: [], skipped: 0 };
}

export function addMapped(intake: Intake, mapped: Mapped): void {
  if ('hint' in mapped) intake.hints.push(mapped.hint);
  else intake.ignored.push(mapped.ignored);
}
