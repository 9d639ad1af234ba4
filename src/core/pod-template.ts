/**
 * Daemon pod construction: upstream `util.CreatePodTemplate` + `controller_utils.GetPodFromTemplate` +
 * `util.ReplaceDaemonSetPodNodeNameNodeAffinity`, with a deterministic name instead of `generateName`.
 */
import type { V1Affinity, V1DaemonSet, V1OwnerReference, V1Pod } from '@kubernetes/client-node';
import { annotations, labels } from './model.ts';
import { shortHash } from './hash.ts';
import { parseInt64 } from './label-selector.ts';
import { addOrUpdateDaemonPodTolerations } from './tolerations.ts';

/** The longest pod name we generate: a DNS label, so it also fits a hostname and a label value. */
export const MAX_POD_NAME_LENGTH = 63;

/**
 * `<DaemonSet name, truncated>-<10-char hash of (DaemonSet UID, node, revision hash)>`, at most 63 characters.
 * The same DaemonSet, node and revision always give the same name, so concurrent or repeated invocations creating
 * "the" pod for a node collide on AlreadyExists instead of creating two pods. The UID (not the name) keeps a recreated
 * DaemonSet of the same name from adopting its predecessor's pods by name. The name is cut to 52 characters and any
 * trailing `-`/`.` removed, so the result stays a valid DNS name.
 * Consequence: a replacement for a pod that is still terminating (same node, same revision) gets the same name; its
 * create fails with AlreadyExists until the old pod is gone, and the pod's DELETED event triggers the reconcile that
 * creates it.
 */
export function daemonPodName(ds: V1DaemonSet, nodeName: string, hash: string): string {
  const suffix = shortHash(`${ds.metadata?.uid ?? ''}/${nodeName}/${hash}`);
  const prefix = (ds.metadata?.name ?? 'daemon')
    .slice(0, MAX_POD_NAME_LENGTH - suffix.length - 1)
    .replace(/[-.]+$/, '');
  return `${prefix}-${suffix}`;
}

/** `metav1.NewControllerRef(ds, apps/v1 DaemonSet)`. */
export function controllerRefFor(ds: V1DaemonSet): V1OwnerReference {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    name: ds.metadata?.name ?? '',
    uid: ds.metadata?.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** The `deprecated.daemonset.template.generation` annotation when it parses as an int64 (upstream `GetTemplateGeneration`). */
export function templateGeneration(ds: V1DaemonSet): string | undefined {
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
export function newDaemonPod(ds: V1DaemonSet, nodeName: string, hash: string): V1Pod {
  const template = ds.spec?.template;
  const spec = structuredClone(template?.spec ?? { containers: [] });
  const podLabels: Record<string, string> = { ...template?.metadata?.labels };
  const generation = templateGeneration(ds);
  if (generation !== undefined) podLabels[labels.templateGeneration] = generation;
  podLabels[labels.revisionHash] = hash;

  spec.tolerations = addOrUpdateDaemonPodTolerations(spec.tolerations, spec.hostNetwork ?? false);
  spec.affinity = replaceNodeNameAffinity(spec.affinity, nodeName);
  if (!spec.nodeName) delete spec.nodeName;

  const pod: V1Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: daemonPodName(ds, nodeName, hash),
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
