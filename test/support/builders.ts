/**
 * Small builders for Kubernetes objects in tests, in the spirit of upstream's `newNode`/`newDaemonSet`/`newPod`:
 * sensible defaults plus a deep-partial `overrides` merged in (plain objects merge, arrays and Dates replace, an
 * explicit `undefined` removes the field). Deterministic: fixed UIDs and timestamps, no clock.
 */
import type { V1ControllerRevision, V1DaemonSet, V1Node, V1Pod, V1PodCondition, V1Taint } from '@kubernetes/client-node';
import type { NodeState } from '../../src/core/model.ts';
import { revisionHash } from '../../src/core/hash.ts';
import { newRevision, revisionConditionFor } from '../../src/core/history.ts';
import { newDaemonPod } from '../../src/core/pod-template.ts';

/** The fixed "now" of unit tests, and the default creationTimestamp. */
export const T0 = new Date('2026-01-01T00:00:00.000Z');

/** `T0 + seconds`. */
export function at(seconds: number, base: Date = T0): Date {
  return new Date(base.getTime() + seconds * 1000);
}

export type DeepPartial<T> = T extends Date
  ? T
  : T extends ReadonlyArray<unknown>
    ? T
    : T extends object
      ? { [K in keyof T]?: DeepPartial<T[K]> | undefined }
      : T;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date);
}

/** Deep merge: plain objects merge key by key; anything else in `overrides` replaces; `undefined` deletes. */
export function merge<T>(base: T, overrides: DeepPartial<T> | undefined): T {
  if (overrides === undefined) return base;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [key, value] of Object.entries(overrides as Record<string, unknown>)) {
    if (value === undefined) delete out[key];
    else if (isPlainObject(value) && isPlainObject(out[key])) out[key] = merge(out[key], value);
    else out[key] = value;
  }
  return out as T;
}

/** A Ready node labelled with its hostname, untainted. */
export function newNode(name: string, overrides?: DeepPartial<V1Node>): V1Node {
  return merge<V1Node>(
    {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name,
        uid: `node-uid-${name}`,
        creationTimestamp: T0,
        labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux' },
      },
      spec: {},
      status: { conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: T0 }] },
    },
    overrides,
  );
}

/** `{ key, value?, effect }` */
export function taint(key: string, effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute', value?: string): V1Taint {
  return value === undefined ? { key, effect } : { key, value, effect };
}

/**
 * A DaemonSet `default/<name>` selecting `app=<name>`, template labelled the same, one pause container, generation 1
 * with the template-generation annotation, RollingUpdate maxUnavailable 1, as the API server would default it.
 */
export function newDaemonSet(name = 'fluentd', overrides?: DeepPartial<V1DaemonSet>): V1DaemonSet {
  return merge<V1DaemonSet>(
    {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: {
        name,
        namespace: 'default',
        uid: `ds-uid-${name}`,
        generation: 1,
        creationTimestamp: T0,
        annotations: { 'deprecated.daemonset.template.generation': '1' },
      },
      spec: {
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: { containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }] },
        },
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } },
        revisionHistoryLimit: 10,
      },
      status: { currentNumberScheduled: 0, desiredNumberScheduled: 0, numberMisscheduled: 0, numberReady: 0 },
    },
    overrides,
  );
}

/** A bare Pending pod `default/<name>` with one container, no owner, no node. */
export function newPod(name: string, overrides?: DeepPartial<V1Pod>): V1Pod {
  return merge<V1Pod>(
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'default', uid: `pod-uid-${name}`, creationTimestamp: T0, labels: {} },
      spec: { containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }] },
      status: { phase: 'Pending' },
    },
    overrides,
  );
}

export function readyCondition(since: Date = T0, status: 'True' | 'False' = 'True'): V1PodCondition {
  return { type: 'Ready', status, lastTransitionTime: since };
}

/**
 * The pod `ds` would create on `nodeName` (core `newDaemonPod` with the current revision hash), as the API server and
 * kubelet would have it afterwards: a UID, creationTimestamp T0, bound to the node, Running and Ready since T0.
 * Overrides apply last, e.g. `{ spec: { nodeName: undefined } }` for a pod still waiting for the scheduler.
 */
/**
 * `ds` as its DaemonSet-wide pass leaves it: the status observed its generation and records `hash` (default: the
 * template's, `revisionHash(ds)`) as the current revision (core/history.ts `revisionCondition`).
 */
export function recordedDaemonSet(ds: V1DaemonSet, hash: string = revisionHash(ds)): V1DaemonSet {
  const conditions = [...(ds.status?.conditions ?? []), revisionConditionFor(hash, undefined, '2026-01-01T00:00:00Z')];
  return { ...ds, status: { ...ds.status, observedGeneration: ds.metadata?.generation ?? 1, conditions } } as V1DaemonSet;
}

export function newDaemonSetPod(ds: V1DaemonSet, nodeName: string, overrides?: DeepPartial<V1Pod>): V1Pod {
  const pod = newDaemonPod(ds, nodeName, revisionHash(ds));
  return merge<V1Pod>(
    {
      ...pod,
      metadata: { ...pod.metadata, uid: `pod-uid-${pod.metadata?.name}`, creationTimestamp: T0 },
      spec: { ...pod.spec!, nodeName },
      status: { phase: 'Running', conditions: [readyCondition()] },
    },
    overrides,
  );
}

/** A NodeState for `node` (a name means a node built with `newNode`). */
export function nodeState(node: V1Node | string, pods: V1Pod[] = []): NodeState {
  const n = typeof node === 'string' ? newNode(node) : node;
  return { name: n.metadata?.name ?? '', node: n, pods };
}

/** A NodeState whose Node object no longer exists, with the pods still aimed at it. */
export function deletedNodeState(name: string, pods: V1Pod[] = []): NodeState {
  return { name, node: null, pods };
}

/**
 * `ds` after a template change to `image`, as the API server leaves it: generation and the template-generation
 * annotation bumped by one. Overrides apply last.
 */
export function updatedDaemonSet(ds: V1DaemonSet, image: string, overrides?: DeepPartial<V1DaemonSet>): V1DaemonSet {
  const generation = (ds.metadata?.generation ?? 1) + 1;
  const template = ds.spec?.template;
  const containers = (template?.spec?.containers ?? []).map((c, i) => (i === 0 ? { ...c, image } : c));
  return merge<V1DaemonSet>(
    {
      ...ds,
      metadata: {
        ...ds.metadata,
        generation,
        annotations: { ...ds.metadata?.annotations, 'deprecated.daemonset.template.generation': String(generation) },
      },
      spec: { ...ds.spec!, template: { ...template, spec: { ...template?.spec, containers } } },
    },
    overrides,
  );
}

/** `ds` with RollingUpdate `maxSurge`/`maxUnavailable` (and optionally minReadySeconds). */
export function withRollingUpdate(
  ds: V1DaemonSet,
  rollingUpdate: { maxSurge?: number | string; maxUnavailable?: number | string },
  minReadySeconds?: number,
): V1DaemonSet {
  return merge<V1DaemonSet>(ds, {
    spec: { updateStrategy: { type: 'RollingUpdate', rollingUpdate }, ...(minReadySeconds === undefined ? {} : { minReadySeconds }) },
  });
}

/**
 * The ControllerRevision `ds` stores (core `newRevision` with its current revision hash) as the API server returns it:
 * a UID, creationTimestamp T0, and `data` as parsed JSON. Overrides apply last.
 */
export function newControllerRevision(ds: V1DaemonSet, revision: number, overrides?: DeepPartial<V1ControllerRevision>): V1ControllerRevision {
  const rev = newRevision(ds, revisionHash(ds), revision);
  return merge<V1ControllerRevision>(
    {
      ...rev,
      metadata: { ...rev.metadata, uid: `rev-uid-${rev.metadata?.name}`, creationTimestamp: T0 },
      data: JSON.parse(JSON.stringify(rev.data)),
    },
    overrides,
  );
}
