/**
 * The nine places where daemonless did something upstream's DaemonSet controller would not (issue 12), each as a
 * test of the shell with the recording fake of the Cluster port. Every test here failed before its fix. The pure
 * decisions behind them also have rows in test/core; the API server side is in test/integration.
 */
import { describe, expect, it } from 'vitest';
import { createReconciler, type ReconcilerOptions } from '../../src/reconcile/index.ts';
import { ConflictError } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { T0, at, newControllerRevision, newDaemonSet, newDaemonSetPod, newNode, readyCondition, updatedDaemonSet, withRollingUpdate } from '../support/builders.ts';
import { fakeCluster, type FakeState } from '../support/fake-cluster.ts';
import { shellTestOptions } from '../support/reconciler-options.ts';

const options: ReconcilerOptions = { ...shellTestOptions, eventsPerReason: 5 };

function setup(state: FakeState, now: Date = T0) {
  const cluster = fakeCluster(state);
  let ids = 0;
  const reconciler = createReconciler({ cluster: () => cluster, now: () => now, newId: () => `id-${ids++}`, log: silentLogger, options });
  return { cluster, reconciler };
}

const dsHint = (name = 'agent') => ({ kind: 'daemonSet' as const, namespace: 'default', name });
const nodeHint = (name: string) => ({ kind: 'node' as const, name });

describe('1. observedGeneration after a status conflict', () => {
  it('never writes a newer generation with counters computed for the older template', async () => {
    const v1 = newDaemonSet('agent');
    const v2 = updatedDaemonSet(v1, 'registry.example/agent:2');
    // The pass plans generation 1: its pod runs generation 1's image and counts as updated.
    const state: FakeState = { nodes: [newNode('n0')], daemonSets: [v1], pods: [newDaemonSetPod(v1, 'n0')] };
    const { cluster, reconciler } = setup(state);
    // Meanwhile the user changes the template: the status write conflicts, and a re-read shows generation 2.
    cluster.failOn('updateDaemonSetStatus', new ConflictError('409 Conflict', 'Conflict'), 1);
    const getDaemonSet = cluster.getDaemonSet.bind(cluster);
    let reads = 0;
    cluster.getDaemonSet = async (ns, name) => (reads++ === 0 ? getDaemonSet(ns, name) : v2);
    await reconciler.handle([dsHint()]);
    for (const { status } of cluster.statuses) {
      // Mixing would claim generation 2 is rolled out (kubectl rollout status exits 0) while the pod runs generation 1.
      expect(status.observedGeneration === 2 && status.updatedNumberScheduled === 1).toBe(false);
    }
  });
});

describe('3. one revision hash per pass', () => {
  it('a surge pod carrying the matched revision hash is not deleted as a duplicate', async () => {
    const old = withRollingUpdate(newDaemonSet('agent'), { maxSurge: 1, maxUnavailable: 0 });
    const next = updatedDaemonSet(old, 'registry.example/agent:2');
    // The current template's revision exists under another hash (e.g. created by the upstream controller, or before a
    // collisionCount change): its label, not revisionHash(next), is the hash of this revision.
    const matched = newControllerRevision(next, 2, { metadata: { name: 'agent-upstream', labels: { 'controller-revision-hash': 'upstream' } } });
    const oldPod = newDaemonSetPod(old, 'n0');
    const surgePod = newDaemonSetPod(next, 'n0', {
      metadata: { name: 'agent-surge', uid: 'surge-uid', creationTimestamp: at(10), labels: { app: 'agent', 'controller-revision-hash': 'upstream' } },
      status: { phase: 'Running', conditions: [readyCondition(at(10), 'False')] },
    });
    const state: FakeState = {
      nodes: [newNode('n0')],
      daemonSets: [next],
      pods: [oldPod, surgePod],
      revisions: [newControllerRevision(old, 1), matched],
    };
    const { cluster, reconciler } = setup(state, at(20));
    await reconciler.handle([dsHint()]);
    await reconciler.handle([nodeHint('n0')]);
    expect(cluster.deleted.map((d) => d.pod.name)).not.toContain('agent-surge');
  });
});

describe('4. node-scoped passes see pending pods', () => {
  it('an unbound pod of an older revision aimed at the node prevents a second pod there', async () => {
    const old = newDaemonSet('agent');
    const next = updatedDaemonSet(old, 'registry.example/agent:2');
    const pending = newDaemonSetPod(old, 'n0', { spec: { nodeName: undefined }, status: { phase: 'Pending', conditions: [] } });
    const state: FakeState = { nodes: [newNode('n0')], daemonSets: [next], pods: [pending], revisions: [newControllerRevision(old, 1), newControllerRevision(next, 2)] };
    const { cluster, reconciler } = setup(state);
    await reconciler.handle([nodeHint('n0')]);
    expect(cluster.created).toEqual([]);
  });
});

describe('5. a replacement is not blocked by a pod of the same name', () => {
  it('a Failed pod held by a finalizer is replaced at once, under another name', async () => {
    const d = newDaemonSet('agent');
    const held = newDaemonSetPod(d, 'n0', {
      metadata: { deletionTimestamp: at(1), finalizers: ['example.com/keep'] },
      status: { phase: 'Failed', conditions: [] },
    });
    const state: FakeState = { nodes: [newNode('n0')], daemonSets: [d], pods: [held], revisions: [newControllerRevision(d, 1)] };
    const { cluster, reconciler } = setup(state, at(2));
    await reconciler.handle([nodeHint('n0')]);
    expect(cluster.created).toHaveLength(1);
    expect(cluster.created[0]!.metadata?.name).not.toBe(held.metadata?.name);
  });

  it('a Failed pod is deleted and its replacement never takes its name', async () => {
    const d = newDaemonSet('agent');
    const failed = newDaemonSetPod(d, 'n0', { status: { phase: 'Failed', conditions: [] } });
    const state: FakeState = { nodes: [newNode('n0')], daemonSets: [d], pods: [failed], revisions: [newControllerRevision(d, 1)] };
    const { cluster, reconciler } = setup(state, at(2));
    await reconciler.handle([nodeHint('n0')]);
    await reconciler.handle([nodeHint('n0')]);
    expect(cluster.deleted.map((x) => x.pod.name)).toEqual([failed.metadata?.name]);
    expect(state.pods.map((p) => p.metadata?.name)).toHaveLength(1);
    expect(state.pods[0]!.metadata?.name).not.toBe(failed.metadata?.name);
  });

  it('with surge, a terminating pod of the current revision does not block the new one', async () => {
    const d = withRollingUpdate(newDaemonSet('agent'), { maxSurge: 1, maxUnavailable: 0 });
    const terminating = newDaemonSetPod(d, 'n0', { metadata: { deletionTimestamp: at(1) } });
    const state: FakeState = { nodes: [newNode('n0')], daemonSets: [d], pods: [terminating], revisions: [newControllerRevision(d, 1)] };
    const { cluster, reconciler } = setup(state, at(2));
    await reconciler.handle([nodeHint('n0')]);
    expect(cluster.created).toHaveLength(1);
    expect(cluster.created[0]!.metadata?.name).not.toBe(terminating.metadata?.name);
  });
});

describe('8. force-deleting pods of a deleted node', () => {
  it('does not trust a node list read in parallel: the node is confirmed gone first', async () => {
    const d = newDaemonSet('agent');
    // n1 joined after the node list was read but before the pod list: its pod looks like one of a deleted node.
    const joined = newNode('n1');
    const pod = newDaemonSetPod(d, 'n1');
    const state: FakeState = { nodes: [newNode('n0'), joined], daemonSets: [d], pods: [newDaemonSetPod(d, 'n0'), pod], revisions: [newControllerRevision(d, 1)] };
    const { cluster, reconciler } = setup(state);
    cluster.listNodes = async () => [newNode('n0')];
    await reconciler.handle([dsHint()]);
    expect(cluster.deleted.map((x) => x.pod.name)).not.toContain(pod.metadata?.name);
  });
});

describe('9. node names are checked before they reach a field selector', () => {
  it('a hint naming an invalid node is refused, and nothing is read or written', async () => {
    const d = newDaemonSet('agent');
    const { cluster, reconciler } = setup({ nodes: [newNode('n0')], daemonSets: [d], pods: [newDaemonSetPod(d, 'n0')] });
    await expect(reconciler.handle([nodeHint('n0,spec.nodeName=n0')])).rejects.toThrow(/^node hint "node\/n0,spec.nodeName=n0" /);
    expect(cluster.calls).toEqual([]);
  });

  it.each([
    ['a namespace that is a path segment', '..', 'agent'],
    ['a name that is a path segment', 'default', '..'],
    ['a name with a selector in it', 'default', 'a,b=c'],
  ])('a DaemonSet hint with %s is refused, and nothing is read or written', async (_name, namespace, name) => {
    const d = newDaemonSet('agent');
    const { cluster, reconciler } = setup({ nodes: [newNode('n0')], daemonSets: [d], pods: [newDaemonSetPod(d, 'n0')] });
    await expect(reconciler.handle([{ kind: 'daemonSet', namespace, name }])).rejects.toThrow(/^daemonSet hint /);
    expect(cluster.calls).toEqual([]);
  });
});
