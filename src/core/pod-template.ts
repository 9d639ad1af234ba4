/**
 * Daemon pod construction: upstream `util.CreatePodTemplate` + `controller_utils.GetPodFromTemplate` +
 * `util.ReplaceDaemonSetPodNodeNameNodeAffinity`, with a deterministic name instead of `generateName`.
 */
import type { V1Affinity, V1DaemonSet, V1OwnerReference, V1Pod } from '@kubernetes/client-node';
import { annotations, labels } from './model.ts';
import { shortHash } from './hash.ts';
import { parseInt64 } from './label-selector.ts';
import { daemonSetKindOf } from './refs.ts';
import { addOrUpdateDaemonPodTolerations } from './tolerations.ts';

/** The longest pod name we generate: a DNS label, so it also fits a hostname and a label value. */
export const MAX_POD_NAME_LENGTH = 63;

/**
 * `<DaemonSet name, truncated>-<10-char hash of (DaemonSet UID, node, revision hash[, salt])>`, at most 63 characters.
 * The same DaemonSet, node and revision always give the same name, so concurrent or repeated invocations creating
 * "the" pod for a node collide on AlreadyExists instead of creating two pods. The UID (not the name) keeps a recreated
 * DaemonSet of the same name from adopting its predecessor's pods by name. The name is cut to 52 characters and any
 * trailing `-`/`.` removed, so the result stays a valid DNS name. `salt` (the UID of a pod already holding the plain
 * name) gives the next name of the sequence: see `freeDaemonPodName`.
 */
export function daemonPodName(ds: V1DaemonSet, nodeName: string, hash: string, salt?: string): string {
  const suffix = shortHash(`${ds.metadata?.uid ?? ''}/${nodeName}/${hash}${salt === undefined ? '' : `/${salt}`}`);
  const prefix = (ds.metadata?.name ?? 'daemon')
    .slice(0, MAX_POD_NAME_LENGTH - suffix.length - 1)
    .replace(/[-.]+$/, '');
  return `${prefix}-${suffix}`;
}

/** Pods are compared by name and UID only (metadata-only reads suffice). */
export interface NamedPod {
  metadata?: { name?: string; uid?: string } | undefined;
}

/**
 * The name a new pod for (ds, node, revision) gets: the plain deterministic name, unless a pod in `present` still
 * holds it (a Failed pod kept by a finalizer, a terminating pod, a pod relabelled out of the selector); then the name
 * salted with that pod's UID, and so on. Every invocation that sees the same blocking pod picks the same next name,
 * so concurrent creates still collide on AlreadyExists, while a replacement never has to wait for its predecessor's
 * name to be free (upstream, with generateName, creates it at once). A replacement also never reuses the name of the
 * pod it replaces, which callers watching a pod by name (the conformance suite) rely on.
 */
export function freeDaemonPodName(ds: V1DaemonSet, nodeName: string, hash: string, present: readonly NamedPod[]): string {
  let name = daemonPodName(ds, nodeName, hash);
  for (let i = 0; i < 8; i++) {
    const holder = present.find((p) => p.metadata?.name === name);
    if (holder === undefined) return name;
    name = daemonPodName(ds, nodeName, hash, holder.metadata?.uid ?? name);
  }
  return name;
}

/**
 * `metav1.NewControllerRef(ds, <its kind>)`: the DaemonSet's own apiVersion and kind (apps/v1 DaemonSet unless the
 * object says otherwise, e.g. a custom resource with the same spec).
 */
export function controllerRefFor(ds: V1DaemonSet): V1OwnerReference {
  return {
    apiVersion: ds.apiVersion || 'apps/v1',
    kind: ds.kind || 'DaemonSet',
    name: ds.metadata?.name ?? '',
    uid: ds.metadata?.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

/**
 * The `deprecated.daemonset.template.generation` annotation when it parses as an int64 (upstream `GetTemplateGeneration`).
 * Only an apps/v1 DaemonSet's: its API server raises it with every template change. Nothing raises it on a
 * ServerlessDaemonSet, so one copied there (a DaemonSet exported with its kind changed) would name every later
 * template as the current one, and no rollout would replace a pod.
 */
export function templateGeneration(ds: V1DaemonSet): string | undefined {
  if (daemonSetKindOf(ds) !== 'DaemonSet') return undefined;
  const raw = ds.metadata?.annotations?.[annotations.templateGeneration];
  if (raw === undefined) return undefined;
  const parsed = parseInt64(raw);
  return parsed === undefined ? undefined : parsed.toString();
}

/**
 * Upstream `ReplaceDaemonSetPodNodeNameNodeAffinity`: ALL required node selector terms become the single term
 * `matchFields metadata.name In [nodeName]`, so kube-scheduler can only bind the pod to that node; preferred terms and
 * pod (anti-)affinity are kept. Returns a new object.
 */
export function replaceNodeNameAffinity(affinity: V1Affinity | undefined, nodeName: string): V1Affinity {
  const copy: V1Affinity = structuredClone(affinity ?? {});
  copy.nodeAffinity = {
    ...copy.nodeAffinity,
    requiredDuringSchedulingIgnoredDuringExecution: {
      nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [nodeName] }] }],
    },
  };
  return copy;
}

/**
 * The pod to create for `ds` on `nodeName`: template labels (+ controller-revision-hash, + pod-template-generation
 * when the annotation parses), template annotations and finalizers, the template spec with the default daemon
 * tolerations and the node-name affinity, and the controllerRef. `spec.nodeName` is left empty so kube-scheduler binds
 * the pod, as upstream; a template that pins `spec.nodeName` keeps it (upstream does too, and eligibility only lets such
 * a template run on that very node).
 */
export function newDaemonPod(ds: V1DaemonSet, nodeName: string, hash: string, name: string = daemonPodName(ds, nodeName, hash)): V1Pod {
  const template = ds.spec?.template;
  const spec = structuredClone(template?.spec ?? { containers: [] });
  const podLabels: Record<string, string> = { ...template?.metadata?.labels };
  const generation = templateGeneration(ds);
  if (generation !== undefined) podLabels[labels.templateGeneration] = generation;
  // Upstream `CreatePodTemplate`: no label for an empty hash (a hand-made revision labelled "").
  if (hash !== '') podLabels[labels.revisionHash] = hash;

  spec.tolerations = addOrUpdateDaemonPodTolerations(spec.tolerations, spec.hostNetwork ?? false);
  spec.affinity = replaceNodeNameAffinity(spec.affinity, nodeName);
  if (!spec.nodeName) delete spec.nodeName;

  const pod: V1Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: ds.metadata?.namespace ?? 'default',
      labels: podLabels,
      ownerReferences: [controllerRefFor(ds)],
    },
    spec,
  };
  const templateAnnotations = template?.metadata?.annotations;
  if (templateAnnotations && Object.keys(templateAnnotations).length > 0) pod.metadata!.annotations = { ...templateAnnotations };
  const finalizers = template?.metadata?.finalizers;
  if (finalizers && finalizers.length > 0) pod.metadata!.finalizers = [...finalizers];
  return pod;
}

/**
 * Upstream `util.GetTargetNodeName`: the node a daemon pod is for: `spec.nodeName` once bound, else the value of the
 * first required-affinity `matchFields` entry `metadata.name In [one value]`. Undefined when neither exists.
 */
export function getTargetNodeName(pod: V1Pod): string | undefined {
  if (pod.spec?.nodeName) return pod.spec.nodeName;
  const terms = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  for (const term of terms) {
    for (const req of term.matchFields ?? []) {
      if (req.key === 'metadata.name' && req.operator === 'In') {
        return req.values?.length === 1 ? req.values[0] : undefined;
      }
    }
  }
  return undefined;
}

/**
 * A create answered AlreadyExists and a read of that name found `existing` (null: it is gone again). Is it the very pod
 * `planned` stands for — another invocation created it: nothing to do — or a pod that merely holds the name (a Failed
 * pod kept by a finalizer, a terminating one, one relabelled out of the selector, another owner's)? Then the next name
 * of the sequence, salted with the holder's UID (as `freeDaemonPodName` would have chosen had the pass seen it).
 */
export function resolveNameConflict(
  planned: V1Pod,
  daemonSet: { name: string; uid: string },
  nodeName: string,
  existing: V1Pod | null,
): { kind: 'same' } | { kind: 'retry'; pod: V1Pod } {
  if (existing === null) return { kind: 'retry', pod: planned };
  const plannedLabels = planned.metadata?.labels ?? {};
  const labelsKept = Object.entries(plannedLabels).every(([k, v]) => existing.metadata?.labels?.[k] === v);
  const ours = existing.metadata?.ownerReferences?.some((o) => o.controller === true && o.uid === daemonSet.uid) ?? false;
  const live = !existing.metadata?.deletionTimestamp && existing.status?.phase !== 'Failed' && existing.status?.phase !== 'Succeeded';
  if (ours && labelsKept && live && getTargetNodeName(existing) === nodeName) return { kind: 'same' };
  const hash = plannedLabels[labels.revisionHash] ?? '';
  const ds = { metadata: { name: daemonSet.name, uid: daemonSet.uid } } as V1DaemonSet;
  const name = daemonPodName(ds, nodeName, hash, existing.metadata?.uid ?? existing.metadata?.name ?? '');
  return { kind: 'retry', pod: { ...planned, metadata: { ...planned.metadata, name } } };
}
