/**
 * A recording fake of the `Cluster` port (src/k8s/cluster.ts), for unit tests of the shell only — like upstream's
 * fakePodControl. It holds objects in arrays, answers reads from them, records every call, and can be told to fail a
 * call. Integration tests and benchmarks never use it: they run against the real API server.
 */
import type { V1ControllerRevision, V1DaemonSet, V1DaemonSetStatus, V1Node, V1Pod } from '@kubernetes/client-node';
import { readAt, type Cluster } from '../../src/k8s/cluster.ts';
import { isTransient } from '../../src/errors.ts';
import type { BackoffState, EventToRecord, ObjectRef } from '../../src/core/model.ts';
import { getTargetNodeName } from '../../src/core/pod-template.ts';
import { matchesLabelQuery } from './label-query.ts';

export interface FakeState {
  nodes: V1Node[];
  daemonSets: V1DaemonSet[];
  pods: V1Pod[];
  backoffs?: Map<string, BackoffState>;
  revisions?: V1ControllerRevision[];
  /** The resourceVersion lists answer with and pods are created at (default 1); tests move it to order two lists. */
  resourceVersion?: number;
  /** DaemonSet UID → holder and expiry (epoch ms), for the rollout lock. */
  leases?: Map<string, { holder: string; until: number }>;
}

export interface FakeCluster extends Cluster {
  calls: string[];
  created: V1Pod[];
  deleted: { pod: ObjectRef; gracePeriodSeconds: number | undefined }[];
  events: EventToRecord[];
  statuses: { name: string; status: V1DaemonSetStatus }[];
  /** Ownership patches: `adopt|release <resource> <name>`. */
  ownership: string[];
  /** Make the named call (e.g. 'createPod') throw this error; `times` defaults to forever. */
  failOn(call: keyof Cluster, error: unknown, times?: number): void;
}

export function fakeCluster(state: FakeState): FakeCluster {
  const calls: string[] = [];
  const failures = new Map<string, { error: unknown; times: number }>();
  let transient = 0;
  const record = (name: keyof Cluster): void => {
    calls.push(name);
    const failure = failures.get(name);
    if (failure && failure.times > 0) {
      failure.times -= 1;
      if (isTransient(failure.error)) transient += 1;
      throw failure.error;
    }
  };
  const fake: FakeCluster = {
    calls,
    created: [],
    deleted: [],
    events: [],
    statuses: [],
    ownership: [],
    failOn(call, error, times = Infinity) {
      failures.set(call, { error, times });
    },
    async getNode(name) {
      record('getNode');
      return state.nodes.find((n) => n.metadata?.name === name) ?? null;
    },
    async listNodes() {
      record('listNodes');
      return readAt([...state.nodes], String(state.resourceVersion ?? 1));
    },
    async getDaemonSet(namespace, name) {
      record('getDaemonSet');
      return state.daemonSets.find((d) => d.metadata?.namespace === namespace && d.metadata?.name === name) ?? null;
    },
    async listDaemonSets(scope = {}) {
      record('listDaemonSets');
      return state.daemonSets.filter(
        (d) => (scope.namespace === undefined || d.metadata?.namespace === scope.namespace) && (scope.kind === undefined || (d.kind ?? 'DaemonSet') === scope.kind),
      );
    },
    async listPodsOnNode(nodeName) {
      record('listPodsOnNode');
      return { pods: state.pods.filter((p) => p.spec?.nodeName === nodeName), resourceVersion: String(state.resourceVersion ?? 1) };
    },
    async listUnscheduledPods() {
      record('listUnscheduledPods');
      return { pods: state.pods.filter((p) => !p.spec?.nodeName), resourceVersion: String(state.resourceVersion ?? 1) };
    },
    async listPods(namespace, labelSelector) {
      record('listPods');
      return readAt(
        state.pods.filter((p) => (namespace === undefined || p.metadata?.namespace === namespace) && matchesLabelQuery(labelSelector, p.metadata?.labels)),
        String(state.resourceVersion ?? 1),
      );
    },
    async listPodMetadata(namespace, labelSelector) {
      record('listPodMetadata');
      return state.pods.filter((p) => p.metadata?.namespace === namespace && matchesLabelQuery(labelSelector, p.metadata?.labels)).map((p) => ({ metadata: p.metadata }));
    },
    async getPod(namespace, name) {
      record('getPod');
      return state.pods.find((p) => p.metadata?.namespace === namespace && p.metadata?.name === name) ?? null;
    },
    async getBackoff(daemonSet, nodeName) {
      record('getBackoff');
      return state.backoffs?.get(`${daemonSet.uid}/${nodeName}`);
    },
    async createPod(pod) {
      record('createPod');
      if (state.pods.some((p) => p.metadata?.name === pod.metadata?.name && p.metadata?.namespace === pod.metadata?.namespace)) return { outcome: 'exists' };
      fake.created.push(pod);
      const resourceVersion = String(state.resourceVersion ?? 1);
      state.pods.push({ ...pod, metadata: { ...pod.metadata, uid: `uid-${pod.metadata?.name}`, resourceVersion } });
      return { outcome: 'created', resourceVersion };
    },
    async deletePod(pod, gracePeriodSeconds) {
      record('deletePod');
      const index = state.pods.findIndex((p) => p.metadata?.uid === pod.uid);
      if (index < 0) return 'gone';
      state.pods.splice(index, 1);
      fake.deleted.push({ pod, gracePeriodSeconds });
      return 'deleted';
    },
    async adopt(resource, obj) {
      record('adopt');
      fake.ownership.push(`adopt ${resource} ${obj.name}`);
      return 'done';
    },
    async release(resource, obj) {
      record('release');
      fake.ownership.push(`release ${resource} ${obj.name}`);
      return 'done';
    },
    async writeBackoff(daemonSet, nodeName, backoff) {
      record('writeBackoff');
      state.backoffs ??= new Map();
      state.backoffs.set(`${daemonSet.uid}/${nodeName}`, backoff);
    },
    async recordEvent(event) {
      record('recordEvent');
      fake.events.push(event);
    },
    async updateDaemonSetStatus(ds, status) {
      record('updateDaemonSetStatus');
      fake.statuses.push({ name: `${ds.metadata?.namespace}/${ds.metadata?.name}`, status });
    },
    async listControllerRevisions(namespace) {
      record('listControllerRevisions');
      return (state.revisions ?? []).filter((r) => namespace === undefined || r.metadata?.namespace === namespace);
    },
    async createControllerRevision(revision) {
      record('createControllerRevision');
      state.revisions ??= [];
      const existing = state.revisions.find((r) => r.metadata?.name === revision.metadata?.name);
      if (existing) return { created: false, existing };
      state.revisions.push(revision);
      return { created: true };
    },
    async patchControllerRevision() {
      record('patchControllerRevision');
      return 'done';
    },
    async deleteControllerRevision(_namespace, name) {
      record('deleteControllerRevision');
      const before = state.revisions?.length ?? 0;
      state.revisions = (state.revisions ?? []).filter((r) => r.metadata?.name !== name);
      return state.revisions.length < before ? 'deleted' : 'gone';
    },
    async labelPod() {
      record('labelPod');
      return 'done';
    },
    async bumpCollisionCount() {
      record('bumpCollisionCount');
    },
    async acquireRolloutLock(daemonSet, holder, ttlSeconds, now) {
      record('acquireRolloutLock');
      state.leases ??= new Map();
      const lease = state.leases.get(daemonSet.uid);
      if (lease && lease.holder !== holder && lease.until > now.getTime()) return false;
      state.leases.set(daemonSet.uid, { holder, until: now.getTime() + ttlSeconds * 1000 });
      return true;
    },
    async cleanUpLeases() {
      record('cleanUpLeases');
      return 0;
    },
    async releaseRolloutLock(daemonSet, holder) {
      record('releaseRolloutLock');
      if (state.leases?.get(daemonSet.uid)?.holder === holder) state.leases.delete(daemonSet.uid);
    },
    requestCount: () => calls.length,
    transientFailures: () => transient,
    requestsByKind: () => Object.fromEntries([...new Set(calls)].map((c) => [c, calls.filter((x) => x === c).length])),
  };
  return fake;
}

/** Pods of the fake aimed at `node`, bound or not. */
export function podsAimedAt(state: FakeState, node: string): V1Pod[] {
  return state.pods.filter((p) => getTargetNodeName(p) === node);
}
