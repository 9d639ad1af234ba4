/**
 * Projected nodes and pods (src/core/fields.ts) must decide exactly as whole ones: the same plan, the same rolling
 * update, the same status, the same revision history cleanup, over a mix of every kind of pod and node.
 */
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { daemonSetFingerprint, nodeFingerprint, projectNode, projectPod } from '../../src/core/fields.ts';
import { planHistory } from '../../src/core/history.ts';
import { revisionHash } from '../../src/core/hash.ts';
import type { NodeState } from '../../src/core/model.ts';
import { planSnapshot } from '../../src/core/plan.ts';
import { planRollingUpdate } from '../../src/core/rollout.ts';
import { computeStatus } from '../../src/core/status.ts';
import { at, merge, newControllerRevision, newDaemonSet, newDaemonSetPod, newNode, newPod, readyCondition, taint, updatedDaemonSet, withRollingUpdate } from '../support/builders.ts';

const v1 = newDaemonSet('agent');
const v2 = updatedDaemonSet(v1, 'registry.example/agent:2');
/** Everything a real API server adds that the core never reads. */
const noisy = <T extends { metadata?: object; spec?: object; status?: object }>(obj: T): T =>
  merge(obj as never, {
    metadata: { managedFields: [{ manager: 'kubelet', operation: 'Update' }], annotations: { big: 'x'.repeat(1000) }, resourceVersion: '42' },
    status: { hostIP: '10.0.0.1', podIPs: [{ ip: '10.1.0.1' }], containerStatuses: [{ name: 'main', ready: true, restartCount: 0, image: 'i', imageID: 'id' }] },
  } as never) as T;

function states(ds = v2): NodeState[] {
  const pod = (node: string, overrides: Parameters<typeof newDaemonSetPod>[2] = {}, template = v1) => noisy(newDaemonSetPod(template, node, overrides));
  const pods: [string, V1Pod[]][] = [
    ['n-old-ready', [pod('n-old-ready')]],
    ['n-new-ready', [pod('n-new-ready', {}, ds)]],
    ['n-old-unready', [pod('n-old-unready', { status: { phase: 'Running', conditions: [readyCondition(at(0), 'False'), { type: 'ContainersReady', status: 'False' }] } })]],
    ['n-failed', [pod('n-failed', { status: { phase: 'Failed', conditions: [] } })]],
    ['n-terminating', [pod('n-terminating', { metadata: { deletionTimestamp: at(-1) } })]],
    ['n-pending', [pod('n-pending', { spec: { nodeName: undefined }, status: { phase: 'Pending', conditions: [] } }, ds)]],
    ['n-duplicate', [pod('n-duplicate'), pod('n-duplicate', { metadata: { name: 'dup', uid: 'dup', creationTimestamp: at(5) } })]],
    ['n-orphan', [noisy(newPod('orphan', { metadata: { labels: { app: 'agent' } }, spec: { nodeName: 'n-orphan' } }))]],
    ['n-foreign', [noisy(newPod('foreign', { metadata: { labels: { app: 'agent' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'rs', controller: true }] }, spec: { nodeName: 'n-foreign' } }))]],
    ['n-empty', []],
    ['n-tainted', [pod('n-tainted')]],
  ];
  return pods.map(([name, list]) => ({
    name,
    node: noisy(newNode(name, name === 'n-tainted' ? { spec: { taints: [taint('x', 'NoExecute')] } } : {})),
    pods: list,
  }));
}

const project = (list: NodeState[]): NodeState[] => list.map((s) => ({ name: s.name, node: s.node && projectNode(s.node), pods: s.pods.map(projectPod) }));

describe('projected nodes and pods decide as whole ones', () => {
  it.each([
    ['RollingUpdate, maxUnavailable 2', withRollingUpdate(v2, { maxUnavailable: 2 })],
    ['RollingUpdate with surge and minReadySeconds', withRollingUpdate(v2, { maxSurge: 2, maxUnavailable: 0 }, 30)],
    ['OnDelete', merge(v2, { spec: { updateStrategy: { type: 'OnDelete', rollingUpdate: undefined } } })],
  ])('%s: plan, rolling update, status', (_name, ds) => {
    const now = at(60);
    const hash = revisionHash(ds);
    const full = states(ds);
    const slim = project(full);
    const snapshot = (s: NodeState[]) => ({ daemonSets: [ds], nodes: s, backoffs: new Map(), hashes: new Map([[ds.metadata!.uid!, hash]]) });
    expect(planSnapshot(snapshot(slim), now)).toEqual(planSnapshot(snapshot(full), now));
    expect(planRollingUpdate(ds, slim, hash, now)).toEqual(planRollingUpdate(ds, full, hash, now));
    expect(computeStatus(ds, slim, hash, now)).toEqual(computeStatus(ds, full, hash, now));
  });

  it('revision history: the same plan (claims, dedup relabelling, cleanup by the hashes pods carry)', () => {
    const ds = merge(v2, { spec: { revisionHistoryLimit: 0 } });
    const revisions = [newControllerRevision(v1, 1), newControllerRevision(ds, 2)];
    const pods = states(ds).flatMap((s) => s.pods);
    expect(planHistory(ds, revisions, pods.map(projectPod), revisionHash(ds))).toEqual(planHistory(ds, revisions, pods, revisionHash(ds)));
  });

  it('projection drops what the core never reads', () => {
    const pod = noisy(newDaemonSetPod(v1, 'n1'));
    const slim = projectPod(pod);
    expect(JSON.stringify(slim).length).toBeLessThan(JSON.stringify(pod).length / 3);
    expect(slim.metadata).not.toHaveProperty('managedFields');
    expect(slim.status).not.toHaveProperty('containerStatuses');
  });
});

describe('nodeFingerprint: what daemonless reads of a node, to see an admitted change stored', () => {
  const base = () => newNode('n1', { metadata: { uid: 'u1', labels: { zone: 'a' } }, spec: { taints: [taint('node.kubernetes.io/not-ready', 'NoSchedule')] } });
  const fp = nodeFingerprint(base());
  it.each<[string, V1Node | null, boolean]>([
    ['the same node', base(), true],
    ['projected (as listed)', projectNode(base()), true],
    ['with what the core never reads (annotations, status, resourceVersion, managed fields)', noisy(base()), true],
    ['a taint with its timeAdded, an empty value', merge(base(), { spec: { taints: [{ key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule', value: '', timeAdded: at(0) }] } } as never), true],
    ['unschedulable: false written out', merge(base(), { spec: { unschedulable: false } } as never), true],
    ['a label more', merge(base(), { metadata: { labels: { zone: 'a', disk: 'ssd' } } } as never), false],
    ['a label changed', merge(base(), { metadata: { labels: { zone: 'b' } } } as never), false],
    ['the taint gone', merge(base(), { spec: { taints: [] } } as never), false],
    ['the taint with another effect', merge(base(), { spec: { taints: [taint('node.kubernetes.io/not-ready', 'NoExecute')] } } as never), false],
    ['cordoned', merge(base(), { spec: { unschedulable: true } } as never), false],
    ['being deleted', merge(base(), { metadata: { deletionTimestamp: at(1) } } as never), false],
    ['another node of that name (uid)', merge(base(), { metadata: { uid: 'u2' } } as never), false],
    ['no node', null, false],
  ])('%s: same fingerprint %s', (_name, node, same) => {
    expect(nodeFingerprint(node) === fp).toBe(same);
  });

  it('no node has none', () => {
    expect(nodeFingerprint(null)).toBeNull();
  });
});

describe('daemonSetFingerprint: what a change to a DaemonSet that matters changes', () => {
  const base = () => merge(newDaemonSet('agent'), { metadata: { uid: 'u1', generation: 3 } } as never);
  const fp = daemonSetFingerprint(base());
  it.each<[string, ReturnType<typeof base> | null, boolean]>([
    ['the same DaemonSet', base(), true],
    ['its labels, annotations or status changed (same generation)', merge(base(), { metadata: { labels: { team: 'a' }, annotations: { note: 'x' } }, status: { numberReady: 3 } } as never), true],
    ['a spec change (the next generation)', merge(base(), { metadata: { generation: 4 } } as never), false],
    ['being deleted', merge(base(), { metadata: { deletionTimestamp: at(1) } } as never), false],
    ['another DaemonSet of that name (uid)', merge(base(), { metadata: { uid: 'u2' } } as never), false],
    ['no DaemonSet', null, false],
  ])('%s: same fingerprint %s', (_name, ds, same) => {
    expect(daemonSetFingerprint(ds) === fp).toBe(same);
  });
});
