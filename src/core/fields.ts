/**
 * The fields of nodes and pods the core reads, and nothing else. A pass that lists every node and every daemon pod of a
 * large cluster keeps only these (the Cluster port projects each page as it arrives), so its memory grows with the
 * few fields a decision needs, not with whole objects (managed fields, container statuses, images, volumes, ...).
 *
 * Whatever reads a node or a pod in src/core must find its field here: test/core/fields.test.ts plans, rolls out and
 * counts on projected and on whole objects and expects the same.
 */
import type { V1DaemonSet, V1Node, V1Pod } from '@kubernetes/client-node';
import { canonicalJson, shortHash } from './hash.ts';

/** A node as eligibility reads it: name and labels (nodeSelector, affinity, matchFields), taints. */
export function projectNode(node: V1Node): V1Node {
  const m = node.metadata;
  return {
    ...(node.apiVersion ? { apiVersion: node.apiVersion } : {}),
    ...(node.kind ? { kind: node.kind } : {}),
    metadata: pick(m, ['name', 'uid', 'labels', 'creationTimestamp', 'deletionTimestamp']),
    spec: pick(node.spec, ['taints', 'unschedulable']),
  };
}

/**
 * What daemonless reads of a node, as a short hash: its identity (uid), labels, taints (key, value, effect),
 * `unschedulable` and whether it is being deleted. Two versions with the same fingerprint decide alike; a change to
 * any of these changes it. A node as its GET returns it and as a projected list (JSON or protobuf) carries it have the
 * same fingerprint. Null: no node. Lenient, for objects from webhooks too: what is not of the expected type counts as
 * absent.
 */
export function nodeFingerprint(node: V1Node | null): string | null {
  if (node === null) return null;
  const m = node.metadata ?? {};
  const labels = m.labels !== null && typeof m.labels === 'object' ? m.labels : {};
  const taints = (Array.isArray(node.spec?.taints) ? node.spec.taints : []).map((t) => [t.key ?? '', t.value ?? '', t.effect ?? '']);
  return shortHash(canonicalJson({ uid: m.uid ?? '', labels, taints, unschedulable: node.spec?.unschedulable === true, deleting: Boolean(m.deletionTimestamp) }));
}

/**
 * What a change to a DaemonSet (apps/v1 or ServerlessDaemonSet) that matters to daemonless changes, as a short hash:
 * its identity (uid), `metadata.generation` (which the API server raises with every change to the spec, before
 * admission) and whether it is being deleted. Null: no DaemonSet.
 */
export function daemonSetFingerprint(ds: V1DaemonSet | null): string | null {
  if (ds === null) return null;
  const m = ds.metadata ?? {};
  return shortHash(canonicalJson({ uid: m.uid ?? '', generation: typeof m.generation === 'number' ? m.generation : 0, deleting: Boolean(m.deletionTimestamp) }));
}

/**
 * A pod as claims, plans, the rolling update and the status read it: identity, labels and owners, its target node
 * (spec.nodeName, or the required node-affinity matchFields of an unbound daemon pod), phase and the Ready condition's
 * status and lastTransitionTime. src/k8s/protobuf.ts decodes exactly these fields from a list in protobuf.
 */
export function projectPod(pod: V1Pod): V1Pod {
  const m = pod.metadata;
  const required = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  // Of the Ready condition, what availability reads (core/pods.ts): its status and since when.
  const ready = pod.status?.conditions
    ?.filter((c) => c.type === 'Ready')
    .map((c) => ({ type: c.type, status: c.status, ...(c.lastTransitionTime ? { lastTransitionTime: c.lastTransitionTime } : {}) }));
  return {
    ...(pod.apiVersion ? { apiVersion: pod.apiVersion } : {}),
    ...(pod.kind ? { kind: pod.kind } : {}),
    metadata: pick(m, ['name', 'namespace', 'uid', 'labels', 'ownerReferences', 'creationTimestamp', 'deletionTimestamp', 'finalizers']),
    spec: {
      containers: [],
      ...(pod.spec?.nodeName ? { nodeName: pod.spec.nodeName } : {}),
      ...(required ? { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: required } } } : {}),
    },
    status: { ...(pod.status?.phase ? { phase: pod.status.phase } : {}), ...(ready && ready.length > 0 ? { conditions: ready } : {}) },
  };
}

function pick<T extends object, K extends keyof T>(obj: T | undefined, keys: readonly K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  if (obj === undefined) return out;
  for (const key of keys) if (obj[key] !== undefined) out[key] = obj[key];
  return out;
}
