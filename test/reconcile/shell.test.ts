/**
 * The shell (src/reconcile/) with a recording fake of the Cluster port: which reads each kind of hint costs, how
 * plans are applied (order, slow start, errors), events, status and follow-ups. The decisions themselves are tested in
 * test/core; the real API server is exercised in test/integration.
 */
import { describe, expect, it } from 'vitest';
import { createReconciler, type ReconcilerOptions } from '../../src/reconcile/index.ts';
import { slowStart, slowStartEach } from '../../src/concurrency.ts';
import { ConflictError, NamespaceTerminatingError, NotFoundError, RejectedError, TransientError, isTransient } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import type { V1DaemonSet } from '@kubernetes/client-node';
import { T0, at, merge, newControllerRevision, newDaemonSet, newDaemonSetPod, newNode, newPod, readyCondition, recordedDaemonSet, taint, updatedDaemonSet } from '../support/builders.ts';
import { partialResultOf } from '../../src/hints.ts';
import { refusedCondition } from '../../src/core/status.ts';
import { revisionHash } from '../../src/core/hash.ts';
import { daemonSetFingerprint, nodeFingerprint } from '../../src/core/fields.ts';
import { fakeCluster, podsAimedAt, type FakeState } from '../support/fake-cluster.ts';
import { shellTestOptions } from '../support/reconciler-options.ts';

const options: ReconcilerOptions = shellTestOptions;

function setup(state: FakeState, overrides: Partial<ReconcilerOptions> = {}) {
  const cluster = fakeCluster(state);
  let ids = 0;
  const reconciler = createReconciler({ cluster: () => cluster, now: () => T0, newId: () => `id-${ids++}`, log: silentLogger, options: { ...options, ...overrides } });
  return { cluster, reconciler };
}

const ds = () => newDaemonSet('agent');
/** The current revisions of these DaemonSets, as their DaemonSet-wide pass wrote them. */
const written = (...daemonSets: V1DaemonSet[]) => daemonSets.map((d) => newControllerRevision(d, 1));

describe('an admitted node change the pass may read too early (Hint `pending`)', () => {
  const tainted = () => newNode('n0', { spec: { taints: [taint('node.kubernetes.io/not-ready', 'NoSchedule')] } });
  const untainted = () => newNode('n0');
  const pending = (before: string | null) => ({ before, until: Date.now() + 3000 });

  it.each<[string, () => FakeState, string | null, boolean]>([
    // The taint's removal admitted: the node still has it (not stored yet), or has lost it (stored).
    ['an update, the node as before it: unsettled', () => ({ nodes: [tainted()], daemonSets: [ds()], pods: [], revisions: written(ds()) }), nodeFingerprint(tainted()), true],
    ['an update, the node changed: settled, and its pod made', () => ({ nodes: [untainted()], daemonSets: [ds()], pods: [], revisions: written(ds()) }), nodeFingerprint(tainted()), false],
    // A creation admitted: the node is not there yet, or is.
    ['a creation, no node yet: unsettled', () => ({ nodes: [], daemonSets: [ds()], pods: [], revisions: written(ds()) }), null, true],
    ['a creation, the node there: settled', () => ({ nodes: [untainted()], daemonSets: [ds()], pods: [], revisions: written(ds()) }), null, false],
    // A deletion admitted: the node still there as it was, or gone.
    ['a deletion, the node still there: unsettled', () => ({ nodes: [untainted()], daemonSets: [ds()], pods: [], revisions: written(ds()) }), nodeFingerprint(untainted()), true],
    ['a deletion, the node gone: settled', () => ({ nodes: [], daemonSets: [ds()], pods: [], revisions: written(ds()) }), nodeFingerprint(untainted()), false],
  ])('%s', async (_name, state, before, unsettled) => {
    const { reconciler } = setup(state());
    const hint = { kind: 'node' as const, name: 'n0', pending: pending(before) };
    const result = await reconciler.handle([hint]);
    if (unsettled) expect(result.unsettled).toEqual([hint]);
    else expect(result.unsettled).toBeUndefined();
  });

  it('many nodes read at once (one node list): only the node still as before is unsettled', async () => {
    const d = ds();
    const nodes = [tainted(), newNode('n1'), newNode('n2'), newNode('n3')];
    const { cluster, reconciler } = setup({ nodes, daemonSets: [d], pods: [], revisions: written(d) });
    const hints = nodes.map((n) => ({ kind: 'node' as const, name: n.metadata!.name!, pending: pending(nodeFingerprint(tainted())) }));
    const result = await reconciler.handle(hints);
    expect(cluster.calls).toContain('listNodes');
    expect(result.unsettled).toEqual([hints[0]]);
  });

  it.each<[string, (d: V1DaemonSet) => V1DaemonSet | null, boolean]>([
    // A DaemonSet's change admitted: its pass runs only once it reads the change (generation, uid, deletion).
    ['a DaemonSet created, not stored yet: unsettled, and no pass (no node or pod read)', () => null, true],
    ['a DaemonSet created, there: its pass, its pods', (d) => d, false],
  ])('%s', async (_name, stored, unsettled) => {
    const d = newDaemonSet('agent');
    const there = stored(d);
    const { cluster, reconciler } = setup({ nodes: [untainted()], daemonSets: there ? [there] : [], pods: [], revisions: there ? written(there) : [] });
    const hint = { kind: 'daemonSet' as const, namespace: 'default', name: 'agent', pods: [], pending: pending(null) };
    const result = await reconciler.handle([hint]);
    if (unsettled) {
      expect(result.unsettled).toEqual([hint]);
      expect(cluster.calls.filter((c) => c === 'listNodes' || c === 'listPods')).toEqual([]);
    } else {
      expect(result.unsettled).toBeUndefined();
      expect(result.created).toBe(1);
    }
  });

  it('a DaemonSet spec change admitted, its old generation still read: unsettled, no pass; its new one: the pass', async () => {
    const old = merge(newDaemonSet('agent'), { metadata: { generation: 1 } } as never);
    const hint = { kind: 'daemonSet' as const, namespace: 'default', name: 'agent', pods: [], pending: pending(daemonSetFingerprint(old)) };
    const early = setup({ nodes: [untainted()], daemonSets: [old], pods: [], revisions: written(old) });
    expect((await early.reconciler.handle([hint])).unsettled).toEqual([hint]);
    expect(early.cluster.calls).not.toContain('listNodes');
    const changed = merge(updatedDaemonSet(old, 'registry.example/agent:2'), { metadata: { generation: 2 } } as never);
    const late = setup({ nodes: [untainted()], daemonSets: [changed], pods: [], revisions: written(changed) });
    const result = await late.reconciler.handle([hint]);
    expect(result.unsettled).toBeUndefined();
    expect(late.cluster.calls).toContain('listNodes');
  });

  it('the pod is made by the pass that sees the change', async () => {
    const d = ds();
    const { reconciler } = setup({ nodes: [untainted()], daemonSets: [d], pods: [], revisions: written(d) });
    const result = await reconciler.handle([{ kind: 'node', name: 'n0', pending: pending(nodeFingerprint(tainted())) }]);
    expect(result.created).toBe(1);
  });

  it('a creation decided on the node as created (Hint `registered`) waits for nothing: nothing would be done once stored either', async () => {
    const registered = { taints: [{ key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' }] };
    const { reconciler } = setup({ nodes: [], daemonSets: [ds()], pods: [], revisions: written(ds()) });
    const hint = { kind: 'node' as const, name: 'n0', created: true as const, registered, pending: pending(null) };
    const result = await reconciler.handle([hint]);
    expect(result.unsettled).toBeUndefined();
    expect(result.created).toBe(0);
  });
});

describe('reads per hint', () => {
  it.each([
    // One node: GET node, LIST pods on it, LIST pods not yet bound (a pending pod aimed at it counts), LIST
    // DaemonSets, LIST ControllerRevisions of their namespace (the revision hash).
    ['one node', 1, ['getNode', 'listPodsOnNode', 'listUnscheduledPods', 'listDaemonSets', 'listControllerRevisions']],
    ['three nodes (at the threshold): per-node reads', 3, ['getNode', 'listPodsOnNode', 'listUnscheduledPods', 'listDaemonSets', 'listControllerRevisions']],
    // Past the threshold one node list and one pod list serve the whole batch.
    ['four nodes (past the threshold): one wide read', 4, ['listNodes', 'listPods', 'listDaemonSets', 'listControllerRevisions']],
  ])('%s', async (_name, count, expectedReads) => {
    const nodes = Array.from({ length: count }, (_, i) => newNode(`n${i}`));
    const d = ds();
    const { cluster, reconciler } = setup({ nodes, daemonSets: [d], pods: nodes.map((n) => newDaemonSetPod(d, n.metadata!.name!)) });
    await reconciler.handle(nodes.map((n) => ({ kind: 'node' as const, name: n.metadata!.name! })));
    const reads = new Set(cluster.calls);
    expect([...reads].sort()).toEqual([...new Set(expectedReads)].sort());
  });

  describe('a node no DaemonSet should run a pod on yet: no pods of it read where it was just created, no revisions unless pods are there', () => {
    const notReady = () => newNode('n0', { spec: { taints: [taint('node.kubernetes.io/not-ready', 'NoSchedule')] } });
    const toleratingAll = () => newDaemonSet('cni', { spec: { template: { spec: { tolerations: [{ operator: 'Exists' }] } } } });

    it('created with the not-ready taint: the DaemonSets and the node only; nothing written or asked', async () => {
      const d = ds();
      const { cluster, reconciler } = setup({ nodes: [notReady()], daemonSets: [d], pods: [], revisions: written(d) });
      const result = await reconciler.handle([{ kind: 'node', name: 'n0', created: true }]);
      expect([...cluster.calls].sort()).toEqual(['getNode', 'listDaemonSets']);
      expect(result).toMatchObject({ created: 0, deleted: 0 });
      expect(result.followUp).toBeUndefined();
    });

    it('created, and one DaemonSet tolerates the taint: every read, and its pod created', async () => {
      const d = ds();
      const cni = toleratingAll();
      const { cluster, reconciler } = setup({ nodes: [notReady()], daemonSets: [d, cni], pods: [], revisions: written(d, cni) });
      const result = await reconciler.handle([{ kind: 'node', name: 'n0', created: true }]);
      expect(new Set(cluster.calls)).toEqual(new Set(['getNode', 'listDaemonSets', 'listUnscheduledPods', 'listPodsOnNode', 'listControllerRevisions', 'createPod', 'recordEvent']));
      // The pods not yet bound are still listed before the node's.
      expect(cluster.calls.indexOf('listUnscheduledPods')).toBeLessThan(cluster.calls.indexOf('listPodsOnNode'));
      expect(result.created).toBe(1);
    });

    it('created, but the same node also changed in the batch: its pods are read (a pod of it is kept, and counted)', async () => {
      const d = ds();
      const { cluster, reconciler } = setup({ nodes: [notReady()], daemonSets: [d], pods: [newDaemonSetPod(d, 'n0')], revisions: written(d) });
      const result = await reconciler.handle([{ kind: 'node', name: 'n0', created: true }, { kind: 'node', name: 'n0' }]);
      expect(cluster.calls).toContain('listPodsOnNode');
      // Found after the pods: read then, for the pod's hash.
      expect(cluster.calls.indexOf('listControllerRevisions')).toBeGreaterThan(cluster.calls.indexOf('listPodsOnNode'));
      expect(result.followUp).toEqual([expect.objectContaining({ name: 'agent' })]);
      expect(cluster.deleted).toEqual([]);
    });

    it('two nodes created, one of them ready: the pods not yet bound are read once, the ready node\'s pods only', async () => {
      const d = ds();
      const { cluster, reconciler } = setup({ nodes: [notReady(), newNode('n1')], daemonSets: [d], pods: [], revisions: written(d) });
      const result = await reconciler.handle([
        { kind: 'node', name: 'n0', created: true },
        { kind: 'node', name: 'n1', created: true },
      ]);
      expect(cluster.calls.filter((c) => c === 'listUnscheduledPods' || c === 'listPodsOnNode')).toEqual(['listUnscheduledPods', 'listPodsOnNode']);
      expect(result.created).toBe(1);
    });

    it('settled without a pass (so without the pass lock): only creations, on nodes nothing should run on yet', async () => {
      const d = ds();
      const cni = toleratingAll();
      const { cluster, reconciler } = setup({ nodes: [notReady(), newNode('n1')], daemonSets: [d], pods: [], revisions: written(d) });
      await expect(reconciler.settleUnlocked!([{ kind: 'node', name: 'n0', created: true }])).resolves.toEqual({ hints: 1, created: 0, deleted: 0, apiRequests: 2 });
      expect([...cluster.calls].sort()).toEqual(['getNode', 'listDaemonSets']);
      // A ready node, a node already gone, any other hint: a pass (none read for the last).
      await expect(reconciler.settleUnlocked!([{ kind: 'node', name: 'n0', created: true }, { kind: 'node', name: 'n1', created: true }])).resolves.toBeUndefined();
      await expect(reconciler.settleUnlocked!([{ kind: 'node', name: 'gone', created: true }])).resolves.toBeUndefined();
      const before = cluster.calls.length;
      await expect(reconciler.settleUnlocked!([{ kind: 'node', name: 'n0', created: true }, { kind: 'node', name: 'n0' }])).resolves.toBeUndefined();
      await expect(reconciler.settleUnlocked!([{ kind: 'node', name: 'n0', created: true }, { kind: 'daemonSet', namespace: 'default', name: 'agent' }])).resolves.toBeUndefined();
      expect(cluster.calls.length).toBe(before);
      // One DaemonSet tolerating the taint: its pod is to be made, so a pass.
      const tolerating = setup({ nodes: [notReady()], daemonSets: [d, cni], pods: [], revisions: written(d, cni) });
      await expect(tolerating.reconciler.settleUnlocked!([{ kind: 'node', name: 'n0', created: true }])).resolves.toBeUndefined();
    });

    describe('the hint carries the node as created (Hint `registered`)', () => {
      const registered = { labels: { 'kubernetes.io/hostname': 'n0' }, taints: [{ key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' }] };
      const hint = { kind: 'node' as const, name: 'n0', created: true as const, registered };

      it('nothing should run on it: the DaemonSets only, with and without the pass lock', async () => {
        const d = ds();
        const { cluster, reconciler } = setup({ nodes: [notReady()], daemonSets: [d], pods: [], revisions: written(d) });
        const result = await reconciler.handle([hint]);
        expect(cluster.calls).toEqual(['listDaemonSets']);
        expect(result).toMatchObject({ created: 0, deleted: 0 });
        await expect(reconciler.settleUnlocked!([hint])).resolves.toMatchObject({ hints: 1, created: 0, deleted: 0 });
        expect(cluster.calls).toEqual(['listDaemonSets', 'listDaemonSets']);
      });

      it('one DaemonSet tolerates the taint: the node is read after all, then its pods, and the pod created', async () => {
        const d = ds();
        const cni = toleratingAll();
        const { cluster, reconciler } = setup({ nodes: [notReady()], daemonSets: [d, cni], pods: [], revisions: written(d, cni) });
        await expect(reconciler.settleUnlocked!([hint])).resolves.toBeUndefined();
        const result = await reconciler.handle([hint]);
        expect(cluster.calls.filter((c) => c === 'getNode')).toHaveLength(1);
        expect(cluster.calls.indexOf('getNode')).toBeLessThan(cluster.calls.indexOf('listPodsOnNode'));
        expect(result.created).toBe(1);
      });

      it('the node as read decides once it is read: tainted NoExecute since its creation, nothing is created', async () => {
        const d = ds();
        const cni = newDaemonSet('cni', { spec: { template: { spec: { tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists' }] } } } });
        const tainted = newNode('n0', { spec: { taints: [taint('node.kubernetes.io/not-ready', 'NoSchedule'), taint('dedicated', 'NoExecute')] } });
        const { cluster, reconciler } = setup({ nodes: [tainted], daemonSets: [d, cni], pods: [], revisions: written(d, cni) });
        const result = await reconciler.handle([hint]);
        expect(cluster.calls).toContain('getNode');
        expect(result.created).toBe(0);
      });

      it('the node is gone by now: nothing read but the DaemonSets (its deletion brings a pass of its own)', async () => {
        const d = ds();
        const { cluster, reconciler } = setup({ nodes: [], daemonSets: [d], pods: [], revisions: written(d) });
        await expect(reconciler.settleUnlocked!([hint])).resolves.toMatchObject({ hints: 1, created: 0 });
        expect(cluster.calls).toEqual(['listDaemonSets']);
      });
    });

    it('changed, nothing should run and nothing is there: the pods are read, the revisions are not', async () => {
      const d = ds();
      const { cluster, reconciler } = setup({ nodes: [notReady()], daemonSets: [d], pods: [], revisions: written(d) });
      const result = await reconciler.handle([{ kind: 'node', name: 'n0' }]);
      expect([...cluster.calls].sort()).toEqual(['getNode', 'listDaemonSets', 'listPodsOnNode', 'listUnscheduledPods']);
      expect(result.followUp).toBeUndefined();
    });

    it('created but already gone: its pods are read (a pod aimed at it must go)', async () => {
      const d = ds();
      const pending = newDaemonSetPod(d, 'gone', { spec: { nodeName: undefined }, status: { phase: 'Pending', conditions: [] } });
      const { cluster, reconciler } = setup({ nodes: [], daemonSets: [d], pods: [pending], revisions: written(d) });
      await reconciler.handle([{ kind: 'node', name: 'gone', created: true }]);
      expect(cluster.deleted.map((x) => x.pod.name)).toEqual([pending.metadata!.name]);
    });
  });

  describe('a DaemonSet whose status records its current revision (core/history.ts `recordedRevisionHash`): no revisions read', () => {
    it.each([
      ['one node joining', 1, ['getNode', 'listPodsOnNode', 'listUnscheduledPods', 'listDaemonSets']],
      ['four nodes (one wide read)', 4, ['listNodes', 'listPods', 'listDaemonSets']],
    ])('%s: its pods are created with the recorded hash', async (_name, count, expectedReads) => {
      const d = recordedDaemonSet(ds());
      const nodes = Array.from({ length: count }, (_, i) => newNode(`n${i}`));
      const { cluster, reconciler } = setup({ nodes, daemonSets: [d], pods: [], revisions: written(d) });
      await reconciler.handle(nodes.map((n) => ({ kind: 'node' as const, name: n.metadata!.name! })));
      const reads = [...new Set(cluster.calls)].filter((c) => c.startsWith('get') || c.startsWith('list'));
      expect(reads.sort()).toEqual([...expectedReads].sort());
      expect(cluster.created.map((p) => p.metadata?.labels?.['controller-revision-hash'])).toEqual(nodes.map(() => revisionHash(d)));
    });

    it('a status recording another DaemonSet of the namespace does not spare the revisions of one that records none', async () => {
      const recorded = recordedDaemonSet(newDaemonSet('agent'));
      const plain = newDaemonSet('logs', { status: { observedGeneration: 1 } });
      const { cluster, reconciler } = setup({ nodes: [newNode('n0')], daemonSets: [recorded, plain], pods: [], revisions: written(recorded, plain) });
      await reconciler.handle([{ kind: 'node', name: 'n0' }]);
      expect(cluster.calls.filter((c) => c === 'listControllerRevisions')).toHaveLength(1);
      expect(cluster.created).toHaveLength(2);
    });

    it('a template edited since the status was written: the revisions are read, and no pod is made before its revision exists', async () => {
      const edited = { ...updatedDaemonSet(recordedDaemonSet(ds()), 'registry.k8s.io/pause:3.11') };
      edited.metadata = { ...edited.metadata, generation: 2 };
      const { cluster, reconciler } = setup({ nodes: [newNode('n0')], daemonSets: [edited], pods: [], revisions: written(ds()) });
      await reconciler.handle([{ kind: 'node', name: 'n0' }]);
      expect(cluster.calls).toContain('listControllerRevisions');
      // Its DaemonSet-wide pass writes the revision first (withoutHistory): the node pass creates nothing for it.
      expect(cluster.created).toEqual([]);
    });
  });

  describe('a node\'s pods and the pods not yet bound are listed at once; the node\'s again when its list is the older (core/versions.ts `readNoEarlier`)', () => {
    /** A pending pod of `d` aimed at n0 that kube-scheduler binds between the two lists, which answer at these resourceVersions. */
    function race(onNodeVersion: string, unboundVersion: string) {
      const d = ds();
      const pending = newDaemonSetPod(d, 'n0', { spec: { nodeName: undefined }, status: { phase: 'Pending', conditions: [] } });
      const { cluster, reconciler } = setup({ nodes: [newNode('n0')], daemonSets: [d], pods: [pending], revisions: written(d) });
      const listOnNode = cluster.listPodsOnNode.bind(cluster);
      const listUnscheduled = cluster.listUnscheduledPods.bind(cluster);
      let onNodeLists = 0;
      // The node's list is read before the binding (the pod is on neither list's answer but the later one's) ...
      cluster.listPodsOnNode = async (name) => {
        onNodeLists += 1;
        const answer = await listOnNode(name);
        return onNodeLists === 1 ? { pods: answer.pods, resourceVersion: onNodeVersion } : { pods: answer.pods, resourceVersion: '100' };
      };
      // ... and the unbound list after it: the pod is bound by then.
      cluster.listUnscheduledPods = async () => {
        pending.spec!.nodeName = 'n0';
        return { pods: (await listUnscheduled()).pods, resourceVersion: unboundVersion };
      };
      return { cluster, reconciler, lists: () => onNodeLists };
    }

    it('the node\'s list answered at an older resourceVersion: listed again, the bound pod found, no second pod', async () => {
      const { cluster, reconciler, lists } = race('5', '7');
      // Without the second list, the pod bound in between would be in neither list, and the pass would create another.
      await reconciler.handle([{ kind: 'node', name: 'n0' }]);
      expect(lists()).toBe(2);
      expect(cluster.created).toEqual([]);
    });

    it.each([
      ['the same resourceVersion', '7', '7', 1],
      ['a later resourceVersion', '8', '7', 1],
      ['resourceVersions that are not integers: listed again, in order', 'abc', '7', 2],
    ])('%s', async (_name, onNode, unbound, want) => {
      const { reconciler, lists } = race(onNode, unbound);
      await reconciler.handle([{ kind: 'node', name: 'n0' }]);
      expect(lists()).toBe(want);
    });

    it('both lists go out in the first round, beside the node and the DaemonSets', async () => {
      const d = ds();
      const { cluster, reconciler } = setup({ nodes: [newNode('n0')], daemonSets: [d], pods: [], revisions: written(d) });
      const getNode = cluster.getNode.bind(cluster);
      cluster.getNode = async (name) => {
        const answer = await getNode(name);
        await new Promise((resolve) => setTimeout(resolve, 5));
        cluster.calls.push('(node answered)');
        return answer;
      };
      await reconciler.handle([{ kind: 'node', name: 'n0' }]);
      const first = cluster.calls.slice(0, cluster.calls.indexOf('(node answered)'));
      expect(first).toEqual(expect.arrayContaining(['getNode', 'listDaemonSets', 'listUnscheduledPods', 'listPodsOnNode']));
    });
  });

  it('a pod bound between the two reads is in both: counted once, no second pod created and none deleted', async () => {
    const d = ds();
    const pending = newDaemonSetPod(d, 'n0', { spec: { nodeName: undefined }, status: { phase: 'Pending', conditions: [] } });
    const { cluster, reconciler } = setup({ nodes: [newNode('n0')], daemonSets: [d], pods: [pending], revisions: written(d) });
    // kube-scheduler binds the pod right after the list of pods not yet bound was answered.
    const listUnscheduled = cluster.listUnscheduledPods.bind(cluster);
    cluster.listUnscheduledPods = async () => {
      const answer = structuredClone(await listUnscheduled());
      pending.spec!.nodeName = 'n0';
      return answer;
    };
    await reconciler.handle([{ kind: 'node', name: 'n0' }]);
    expect(cluster.created).toEqual([]);
    expect(cluster.deleted).toEqual([]);
  });

  it('an unbound pod aimed at a node that is gone is deleted (it was read with the pods not yet bound)', async () => {
    const d = ds();
    const pending = newDaemonSetPod(d, 'gone', { spec: { nodeName: undefined }, status: { phase: 'Pending', conditions: [] } });
    const { cluster, reconciler } = setup({ nodes: [newNode('n0')], daemonSets: [d], pods: [pending], revisions: written(d) });
    await reconciler.handle([{ kind: 'node', name: 'gone' }]);
    expect(cluster.deleted.map((d) => d.pod.name)).toEqual([pending.metadata!.name]);
    // Not a force-delete: an unbound pod has no kubelet to wait for anyway.
    expect(cluster.deleted[0]!.gracePeriodSeconds).toBeUndefined();
  });

  it('a DaemonSet hint reads the DaemonSet, its nodes, pods and revisions once, creates the revision, writes status', async () => {
    const d = ds();
    const nodes = [newNode('n0'), newNode('n1')];
    const state: FakeState = { nodes, daemonSets: [d], pods: [] };
    const { cluster, reconciler } = setup(state);
    // As the intake maps a created DaemonSet (http/hints-from-object.ts): no pod changed.
    const result = await reconciler.handle([{ kind: 'daemonSet', namespace: 'default', name: 'agent', pods: [] }]);
    expect(cluster.calls.filter((c) => !['createPod', 'recordEvent', 'updateDaemonSetStatus'].includes(c))).toEqual([
      'getDaemonSet',
      'listNodes',
      'listPods',
      'listControllerRevisions',
      'createControllerRevision',
    ]);
    expect(state.revisions?.map((r) => r.metadata?.name)).toEqual([`agent-${revisionHash(d)}`]);
    expect(result.created).toBe(2);
    expect(cluster.statuses).toHaveLength(1);
    expect(cluster.statuses[0]!.status).toMatchObject({ desiredNumberScheduled: 2, observedGeneration: d.metadata?.generation ?? 0 });
  });

  it('a selected orphan that targets no node is adopted by the DaemonSet-wide pass and counted nowhere (upstream claims it, then skips it)', async () => {
    const d = ds();
    const loose = newPod('loose', { metadata: { namespace: 'default', uid: 'uid-loose', labels: { ...d.spec?.selector?.matchLabels } } });
    const state: FakeState = { nodes: [newNode('n0')], daemonSets: [d], pods: [newDaemonSetPod(d, 'n0'), loose], revisions: written(d) };
    const { cluster, reconciler } = setup(state);
    const result = await reconciler.handle([{ kind: 'daemonSet', namespace: 'default', name: 'agent', pods: [] }]);
    expect(cluster.ownership).toEqual(['adopt pods loose']);
    expect(result.created).toBe(0);
    expect(cluster.statuses[0]!.status).toMatchObject({ desiredNumberScheduled: 1, currentNumberScheduled: 1, numberMisscheduled: 0 });
  });

  describe("an orphan's own change (Hint `orphan`): a DaemonSet-wide pass for each DaemonSet of its namespace selecting it", () => {
    const d = () => ds();
    const selected = () => ({ ...d().spec?.selector?.matchLabels });
    const loose = (over: Parameters<typeof newPod>[1] = {}) =>
      newPod('loose', merge({ metadata: { namespace: 'default', uid: 'uid-loose', labels: selected() } }, over));
    const other = () => newDaemonSet('other', { metadata: { namespace: 'elsewhere' } });
    const reads = (calls: string[]) => calls.filter((c) => c.startsWith('get') || c.startsWith('list'));
    const pass = ['listNodes', 'listPods', 'listControllerRevisions'];

    it.each<[string, () => FakeState, { kind: 'orphan'; namespace: string; name: string; labels?: Record<string, string> }, string[], string[]]>([
      // The labels ride on the hint: the namespace's DaemonSets are the one read before the pass.
      ['labels carried, selected: the pass adopts it', () => ({ nodes: [newNode('n0')], daemonSets: [d(), other()], pods: [newDaemonSetPod(d(), 'n0'), loose()], revisions: written(d()) }), { kind: 'orphan', namespace: 'default', name: 'loose', labels: selected() }, ['listDaemonSets', ...pass], ['adopt pods loose']],
      ['labels carried, selected by none: no pass', () => ({ nodes: [newNode('n0')], daemonSets: [d()], pods: [loose({ metadata: { labels: { app: 'web' } } })], revisions: written(d()) }), { kind: 'orphan', namespace: 'default', name: 'loose', labels: { app: 'web' } }, ['listDaemonSets'], []],
      // A DaemonSet in another namespace cannot own it.
      ['selected only by a DaemonSet of another namespace: no pass', () => ({ nodes: [newNode('n0')], daemonSets: [newDaemonSet('agent', { metadata: { namespace: 'elsewhere' } })], pods: [loose()], revisions: [] }), { kind: 'orphan', namespace: 'default', name: 'loose', labels: selected() }, ['listDaemonSets'], []],
      // Upstream's sync stops early for a DaemonSet being deleted: it adopts nothing.
      ['selected by a DaemonSet being deleted: no pass', () => ({ nodes: [newNode('n0')], daemonSets: [newDaemonSet('agent', { metadata: { deletionTimestamp: T0 } })], pods: [loose()], revisions: [] }), { kind: 'orphan', namespace: 'default', name: 'loose', labels: selected() }, ['listDaemonSets'], []],
      // Without labels (they did not fit) the pod is read, fresh.
      ['no labels carried: the pod read, then the pass', () => ({ nodes: [newNode('n0')], daemonSets: [d()], pods: [newDaemonSetPod(d(), 'n0'), loose()], revisions: written(d()) }), { kind: 'orphan', namespace: 'default', name: 'loose' }, ['listDaemonSets', 'getPod', ...pass], ['adopt pods loose']],
      ['no labels carried, the pod gone: no pass', () => ({ nodes: [newNode('n0')], daemonSets: [d()], pods: [], revisions: written(d()) }), { kind: 'orphan', namespace: 'default', name: 'loose' }, ['listDaemonSets', 'getPod'], []],
      ['no labels carried, the pod bound since (its node has its pass): no pass', () => ({ nodes: [newNode('n0')], daemonSets: [d()], pods: [loose({ spec: { nodeName: 'n0' } })], revisions: written(d()) }), { kind: 'orphan', namespace: 'default', name: 'loose' }, ['listDaemonSets', 'getPod'], []],
      ['no labels carried, the pod owned since: no pass', () => ({ nodes: [newNode('n0')], daemonSets: [d()], pods: [loose({ metadata: { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: 'rs', controller: true }] } })], revisions: written(d()) }), { kind: 'orphan', namespace: 'default', name: 'loose' }, ['listDaemonSets', 'getPod'], []],
      ['no labels carried, the pod being deleted: no pass', () => ({ nodes: [newNode('n0')], daemonSets: [d()], pods: [loose({ metadata: { deletionTimestamp: T0 } })], revisions: written(d()) }), { kind: 'orphan', namespace: 'default', name: 'loose' }, ['listDaemonSets', 'getPod'], []],
    ])('%s', async (_name, state, hint, expectedReads, ownership) => {
      const s = state();
      const { cluster, reconciler } = setup(s);
      const result = await reconciler.handle([hint]);
      expect(reads(cluster.calls).sort()).toEqual([...expectedReads].sort());
      expect(cluster.ownership).toEqual(ownership);
      expect(result.created).toBe(0);
      expect(cluster.statuses).toHaveLength(ownership.length > 0 ? 1 : 0);
    });

    it('with the DaemonSet\'s own hint in the same batch: one pass, which adopts it', async () => {
      const state: FakeState = { nodes: [newNode('n0')], daemonSets: [d()], pods: [newDaemonSetPod(d(), 'n0'), loose()], revisions: written(d()) };
      const { cluster, reconciler } = setup(state);
      await reconciler.handle([{ kind: 'orphan', namespace: 'default', name: 'loose', labels: selected() }, { kind: 'daemonSet', namespace: 'default', name: 'agent', pods: [] }]);
      expect(cluster.ownership).toEqual(['adopt pods loose']);
      expect(cluster.calls.filter((c) => c === 'listNodes')).toHaveLength(1);
      expect(cluster.statuses).toHaveLength(1);
    });

    it('two DaemonSets selecting it: a pass for each', async () => {
      const second = newDaemonSet('second', { spec: { selector: { matchLabels: selected() }, template: { metadata: { labels: selected() } } } });
      const state: FakeState = { nodes: [newNode('n0')], daemonSets: [d(), second], pods: [loose()], revisions: [...written(d()), ...written(second)] };
      const { cluster, reconciler } = setup(state);
      await reconciler.handle([{ kind: 'orphan', namespace: 'default', name: 'loose', labels: selected() }]);
      expect(cluster.ownership).toContain('adopt pods loose');
      expect(cluster.statuses.map((s) => s.name).sort()).toEqual(['default/agent', 'default/second']);
    });

    // An orphan ControllerRevision (Hint `orphan`, `resource`): the pass that may adopt it reads the revisions.
    const looseRevision = () => {
      const current = written(d())[0]!;
      return { ...current, metadata: { ...current.metadata, name: 'agent-old', uid: 'rev-loose', ownerReferences: [] } };
    };
    it.each<[string, { labels?: Record<string, string> }, string[]]>([
      ['labels carried: the DaemonSets, then the pass, which reads the revisions', { labels: selected() }, ['listDaemonSets', 'getDaemonSet', ...pass]],
      ["no labels carried: the namespace's revisions read, then the pass", {}, ['listDaemonSets', 'listControllerRevisions', 'getDaemonSet', ...pass]],
    ])('an orphan revision, %s, and it is adopted', async (_name, carried, expectedReads) => {
      // Its status observed the generation: a pass only pods asked for would take the hash from them, not the revisions.
      const state: FakeState = { nodes: [newNode('n0')], daemonSets: [recordedDaemonSet(d())], pods: [newDaemonSetPod(d(), 'n0', { metadata: { name: 'agent-n0' } })], revisions: [...written(d()), looseRevision()] };
      const { cluster, reconciler } = setup(state);
      // With a pod turning Ready named by the DaemonSet's own hint: the pass still reads the revisions (the full pass).
      await reconciler.handle([{ kind: 'orphan', resource: 'controllerrevisions', namespace: 'default', name: 'agent-old', ...carried }, { kind: 'daemonSet', namespace: 'default', name: 'agent', pods: ['agent-n0'] }]);
      expect(cluster.ownership).toEqual(['adopt controllerrevisions agent-old']);
      expect(reads(cluster.calls).sort()).toEqual([...expectedReads, 'listPodMetadata'].sort());
    });

    it('an orphan revision alone: a pass naming no pod, which reads the revisions and adopts it', async () => {
      const state: FakeState = { nodes: [newNode('n0')], daemonSets: [d()], pods: [newDaemonSetPod(d(), 'n0')], revisions: [...written(d()), looseRevision()] };
      const { cluster, reconciler } = setup(state);
      await reconciler.handle([{ kind: 'orphan', resource: 'controllerrevisions', namespace: 'default', name: 'agent-old', labels: selected() }]);
      expect(cluster.ownership).toEqual(['adopt controllerrevisions agent-old']);
      expect(reads(cluster.calls).sort()).toEqual(['listDaemonSets', ...pass].sort());
    });

    it('a hint that is not a pod name is refused before anything is read', async () => {
      const { cluster, reconciler } = setup({ nodes: [], daemonSets: [], pods: [], revisions: [] });
      await expect(reconciler.handle([{ kind: 'orphan', namespace: 'default', name: 'Not_A_Pod' }])).rejects.toThrow(/orphan hint/);
      expect(cluster.calls).toEqual([]);
    });
  });

  describe('the namespace pod metadata (releases) is read only when the hint cannot say which pods changed or a named pod left the selector', () => {
    const reads = ['getDaemonSet', 'listNodes', 'listPods', 'listControllerRevisions'];
    it.each([
      ['the sender cannot say which pods changed (no `pods`)', undefined, [...reads.slice(0, 3), 'listPodMetadata', reads[3]]],
      ['the DaemonSet changed, or a follow-up (`pods: []`): its immutable selector let no pod out', [], reads],
      ['a pod still matching the selector changed', ['agent-n0'], reads],
      // The named pod is missing from the selector's list: read after it, so the release check comes second.
      ['a pod that left the selector changed', ['relabelled'], [...reads, 'listPodMetadata']],
      ['one of several pods left the selector', ['agent-n0', 'relabelled'], [...reads, 'listPodMetadata']],
    ])('%s', async (_name, pods, expected) => {
      const d = ds();
      const nodes = [newNode('n0'), newNode('n1')];
      const relabelled = newDaemonSetPod(d, 'n1', { metadata: { name: 'relabelled', labels: { app: 'other' } } });
      const state: FakeState = { nodes, daemonSets: [d], pods: [newDaemonSetPod(d, 'n0', { metadata: { name: 'agent-n0' } }), relabelled], revisions: written(d) };
      const { cluster, reconciler } = setup(state);
      await reconciler.handle([{ kind: 'daemonSet', namespace: 'default', name: 'agent', ...(pods ? { pods } : {}) }]);
      expect(cluster.calls.filter((c) => c.startsWith('get') || c.startsWith('list'))).toEqual(expected);
      // The relabelled pod is released exactly when its metadata was read.
      expect(cluster.ownership).toEqual(expected.includes('listPodMetadata') ? ['release pods relabelled'] : []);
    });
  });

  describe('the revisions are read unless the hint names pods and they prove the hash (core/history.ts `provenRevisionHash`)', () => {
    /** Synced (status observed generation 1), its pods on n0 and n1 carrying its hash; a pod on n1 just turned Ready. */
    function synced(podOverrides?: Parameters<typeof newDaemonSetPod>[2]) {
      const d = newDaemonSet('agent', { status: { observedGeneration: 1 } });
      const pods = ['n0', 'n1'].map((n) => newDaemonSetPod(d, n, podOverrides));
      const state: FakeState = { nodes: [newNode('n0'), newNode('n1')], daemonSets: [d], pods, revisions: written(d) };
      return { d, state, ready: pods[1]!.metadata!.name! };
    }
    const reads = (calls: string[]) => calls.filter((c) => c.startsWith('get') || c.startsWith('list') || c.startsWith('('));
    /** Marks in the calls the moment the pod lists were answered. */
    function markPodsAnswered(cluster: ReturnType<typeof setup>['cluster']) {
      const listPods = cluster.listPods.bind(cluster);
      cluster.listPods = async (...args) => {
        const answer = await listPods(...args);
        cluster.calls.push('(pods answered)');
        return answer;
      };
    }

    it('a pod turning Ready, pods carrying the hash: no revisions read; a pod created meanwhile carries that hash', async () => {
      const { d, state, ready } = synced();
      state.nodes.push(newNode('n2'));
      const { cluster, reconciler } = setup(state);
      await reconciler.handle([{ kind: 'daemonSet', namespace: 'default', name: 'agent', pods: [ready] }]);
      expect(reads(cluster.calls)).toEqual(['getDaemonSet', 'listNodes', 'listPods']);
      expect(cluster.calls).not.toContain('createControllerRevision');
      expect(cluster.created.map((p) => p.metadata?.labels?.['controller-revision-hash'])).toEqual([revisionHash(d)]);
      expect(cluster.statuses[0]!.status).toMatchObject({ desiredNumberScheduled: 3, updatedNumberScheduled: 2, numberReady: 2 });
    });

    it.each<[string, { pods?: string[] }, string[]]>([
      // A change to the DaemonSet may change its history; a deleted pod or a follow-up may let cleanup delete one.
      ['the DaemonSet changed, a pod was deleted, a follow-up (`pods: []`)', { pods: [] }, ['getDaemonSet', 'listNodes', 'listPods', 'listControllerRevisions', '(pods answered)']],
      ['the hint cannot say (no `pods`)', {}, ['getDaemonSet', 'listNodes', 'listPods', 'listPodMetadata', 'listControllerRevisions', '(pods answered)']],
    ])('%s: the revisions are read beside the others', async (_name, hint, expected) => {
      const { state } = synced();
      const { cluster, reconciler } = setup(state);
      markPodsAnswered(cluster);
      await reconciler.handle([{ kind: 'daemonSet', namespace: 'default', name: 'agent', ...hint }]);
      expect(reads(cluster.calls)).toEqual(expected);
    });

    it('pods carrying another hash (made by upstream): the proof fails and the revisions are read after the pods', async () => {
      const { state, ready } = synced({ metadata: { labels: { 'controller-revision-hash': '7d9f8c6b5' } } });
      const { cluster, reconciler } = setup(state);
      markPodsAnswered(cluster);
      await reconciler.handle([{ kind: 'daemonSet', namespace: 'default', name: 'agent', pods: [ready] }]);
      expect(reads(cluster.calls)).toEqual(['getDaemonSet', 'listNodes', 'listPods', '(pods answered)', 'listControllerRevisions']);
    });

    it('pods carrying another hash, but the status records the template\'s (core/history.ts `recordedRevisionHash`): no revisions read', async () => {
      const { state, ready } = synced({ metadata: { labels: { 'controller-revision-hash': '7d9f8c6b5' } } });
      state.daemonSets = [recordedDaemonSet(state.daemonSets[0]!)];
      const { cluster, reconciler } = setup(state);
      await reconciler.handle([{ kind: 'daemonSet', namespace: 'default', name: 'agent', pods: [ready] }]);
      expect(reads(cluster.calls)).toEqual(['getDaemonSet', 'listNodes', 'listPods']);
    });

    it('a template changed and not yet synced (generation ahead of status): the revisions are read and written first', async () => {
      const { d, state, ready } = synced();
      state.daemonSets = [newDaemonSet('agent', { metadata: { generation: 2 }, status: { observedGeneration: 1 }, spec: { template: { spec: { containers: [{ name: 'main', image: 'registry.example/agent:2' }] } } } })];
      const { cluster, reconciler } = setup(state);
      await reconciler.handle([{ kind: 'daemonSet', namespace: 'default', name: 'agent', pods: [ready] }]);
      expect(reads(cluster.calls)).toContain('listControllerRevisions');
      expect(cluster.calls).toContain('createControllerRevision');
      expect(state.revisions?.map((r) => r.metadata?.name)).toContain(`agent-${revisionHash(state.daemonSets[0]!)}`);
      expect(revisionHash(state.daemonSets[0]!)).not.toBe(revisionHash(d));
    });

    it('two DaemonSets of one namespace, one of which needs its revisions: the namespace is read once, for both', async () => {
      const { state, ready } = synced();
      const logs = newDaemonSet('logs', { status: { observedGeneration: 1 } });
      state.daemonSets.push(logs);
      state.revisions!.push(...written(logs));
      const { cluster, reconciler } = setup(state);
      await reconciler.handle([
        { kind: 'daemonSet', namespace: 'default', name: 'agent', pods: [ready] },
        { kind: 'daemonSet', namespace: 'default', name: 'logs', pods: [] },
      ]);
      expect(cluster.calls.filter((c) => c === 'listControllerRevisions')).toHaveLength(1);
    });
  });

  it('several DaemonSet hints in one namespace read their DaemonSets with one list of it, not one GET each', async () => {
    const agent = ds();
    const logs = newDaemonSet('logs');
    const { cluster, reconciler } = setup({ nodes: [newNode('n0')], daemonSets: [agent, logs], pods: [] });
    await reconciler.handle([
      { kind: 'daemonSet', namespace: 'default', name: 'agent', pods: [] },
      { kind: 'daemonSet', namespace: 'default', name: 'logs', pods: [] },
    ]);
    expect(cluster.calls.filter((c) => c === 'getDaemonSet' || c === 'listDaemonSets')).toEqual(['listDaemonSets']);
    expect(cluster.statuses.map((s) => s.name).sort()).toEqual(['default/agent', 'default/logs']);
  });

  it('DaemonSet hints across namespaces: one list of every namespace, each DaemonSet found by namespace and name', async () => {
    const here = ds();
    const there = newDaemonSet('agent', { metadata: { namespace: 'other', uid: 'ds-uid-other-agent' } });
    const elsewhere = newDaemonSet('unhinted', { metadata: { namespace: 'third' } });
    const { cluster, reconciler } = setup({ nodes: [newNode('n0')], daemonSets: [here, there, elsewhere], pods: [] });
    await reconciler.handle([
      { kind: 'daemonSet', namespace: 'default', name: 'agent', pods: [] },
      { kind: 'daemonSet', namespace: 'other', name: 'agent', pods: [] },
      // Gone since: skipped, as a GET answering NotFound would be.
      { kind: 'daemonSet', namespace: 'default', name: 'gone', pods: [] },
    ]);
    expect(cluster.calls.filter((c) => c === 'getDaemonSet' || c === 'listDaemonSets')).toEqual(['listDaemonSets']);
    expect(cluster.statuses.map((s) => s.name).sort()).toEqual(['default/agent', 'other/agent']);
  });

  it('several DaemonSets of one namespace with one-label selectors on one key: one pod list for them, each counting only its own', async () => {
    const agent = ds();
    const logs = newDaemonSet('logs');
    // A selector of two labels: its own list.
    const metrics = newDaemonSet('metrics', { spec: { selector: { matchLabels: { tier: 'metrics' } }, template: { metadata: { labels: { tier: 'metrics' } } } } });
    const nodes = [newNode('n0'), newNode('n1')];
    const pods = [newDaemonSetPod(agent, 'n0'), newDaemonSetPod(logs, 'n0'), newDaemonSetPod(logs, 'n1')];
    const { cluster, reconciler } = setup({ nodes, daemonSets: [agent, logs, metrics], pods, revisions: written(agent, logs, metrics) });
    const queries: (string | undefined)[] = [];
    const listPods = cluster.listPods.bind(cluster);
    cluster.listPods = (namespace, labelSelector) => (queries.push(labelSelector), listPods(namespace, labelSelector));
    await reconciler.handle(['agent', 'logs', 'metrics'].map((name) => ({ kind: 'daemonSet' as const, namespace: 'default', name, pods: [] })));
    expect(queries.sort()).toEqual(['app in (agent,logs)', 'app=metrics,tier=metrics']);
    const status = (name: string) => cluster.statuses.find((s) => s.name === `default/${name}`)?.status;
    expect(status('agent')).toMatchObject({ desiredNumberScheduled: 2, currentNumberScheduled: 1 });
    expect(status('logs')).toMatchObject({ desiredNumberScheduled: 2, currentNumberScheduled: 2 });
    expect(status('metrics')).toMatchObject({ desiredNumberScheduled: 2, currentNumberScheduled: 0 });
  });

  it('a hint for a DaemonSet that no longer exists reads it and stops', async () => {
    const { cluster, reconciler } = setup({ nodes: [newNode('n0')], daemonSets: [], pods: [] });
    await reconciler.handle([{ kind: 'daemonSet', namespace: 'default', name: 'gone' }]);
    expect(cluster.calls).toEqual(['getDaemonSet']);
  });
});

describe('status', () => {
  it('a status conflict is retried on a fresh read of the DaemonSet', async () => {
    const d = ds();
    const { cluster, reconciler } = setup({ nodes: [newNode('n0')], daemonSets: [d], pods: [newDaemonSetPod(d, 'n0')] });
    cluster.failOn('updateDaemonSetStatus', new ConflictError('409 Conflict: the object has been modified', 'Conflict'), 1);
    await reconciler.handle([{ kind: 'daemonSet', namespace: 'default', name: 'agent' }]);
    expect(cluster.calls.filter((c) => c === 'updateDaemonSetStatus')).toHaveLength(2);
    expect(cluster.calls.filter((c) => c === 'getDaemonSet')).toHaveLength(2);
    expect(cluster.statuses[0]!.status).toMatchObject({ desiredNumberScheduled: 1, numberReady: 1, updatedNumberScheduled: 1 });
  });

  it('no write when nothing changed', async () => {
    const d = recordedDaemonSet(ds());
    d.status = { ...d.status, desiredNumberScheduled: 1, currentNumberScheduled: 1, numberMisscheduled: 0, numberReady: 1, numberAvailable: 1, updatedNumberScheduled: 1, numberUnavailable: 0, observedGeneration: 1 };
    const { cluster, reconciler } = setup({ nodes: [newNode('n0')], daemonSets: [d], pods: [newDaemonSetPod(d, 'n0')], revisions: [] });
    await reconciler.handle([{ kind: 'daemonSet', namespace: 'default', name: 'agent' }]);
    expect(cluster.calls).not.toContain('updateDaemonSetStatus');
  });

  it('a status with the same counters that does not record the current revision yet is written once, recording it', async () => {
    const d = ds();
    d.status = { desiredNumberScheduled: 1, currentNumberScheduled: 1, numberMisscheduled: 0, numberReady: 1, numberAvailable: 1, updatedNumberScheduled: 1, numberUnavailable: 0, observedGeneration: 1 };
    const { cluster, reconciler } = setup({ nodes: [newNode('n0')], daemonSets: [d], pods: [newDaemonSetPod(d, 'n0')], revisions: [] });
    await reconciler.handle([{ kind: 'daemonSet', namespace: 'default', name: 'agent' }]);
    expect(cluster.statuses).toHaveLength(1);
    expect(cluster.statuses[0]!.status.conditions).toEqual([
      expect.objectContaining({ type: 'daemonless.dev/CurrentRevision', message: `controller-revision-hash=${revisionHash(d)}` }),
      // Written anyway, so it records the lists it counted from (core/status.ts `countedCondition`).
      expect.objectContaining({ type: 'daemonless.dev/Counted', message: 'nodes at resourceVersion 1, pods at resourceVersion 1' }),
    ]);
  });
});

describe('applying a plan', () => {
  it('a node pass leaves a DaemonSet whose current revision is not written yet to its DaemonSet-wide pass (history before pods)', async () => {
    const d = ds();
    const state: FakeState = { nodes: [newNode('n0')], daemonSets: [d], pods: [], revisions: [] };
    const { cluster, reconciler } = setup(state);
    const result = await reconciler.handle([{ kind: 'node', name: 'n0' }]);
    expect(state.pods).toEqual([]);
    expect(cluster.calls).not.toContain('createControllerRevision');
    expect(result.followUp).toEqual([expect.objectContaining({ kind: 'daemonSet', name: 'agent' })]);
    // The follow-up writes the revision, then the pod.
    await reconciler.handle(result.followUp!);
    expect(cluster.calls.indexOf('createControllerRevision')).toBeLessThan(cluster.calls.indexOf('createPod'));
    expect(state.pods.map((p) => p.spec?.affinity?.nodeAffinity ? 'n0' : p.spec?.nodeName)).toEqual(['n0']);
  });

  it('creates the missing pod, records SuccessfulCreate, asks for a DaemonSet-wide follow-up', async () => {
    const d = ds();
    const state: FakeState = { nodes: [newNode('n0')], daemonSets: [d], pods: [], revisions: written(d) };
    const { cluster, reconciler } = setup(state);
    const result = await reconciler.handle([{ kind: 'node', name: 'n0' }]);
    expect(result).toMatchObject({ created: 1, deleted: 0, apiRequests: cluster.calls.length });
    expect(cluster.events.map((e) => e.reason)).toEqual(['SuccessfulCreate']);
    // Named: the follow-up may take the revision hash from the pod it created (read.ts `mayProveHash`).
    expect(result.followUp).toEqual([{ kind: 'daemonSet', namespace: 'default', name: 'agent', uid: 'ds-uid-agent', pods: [state.pods[0]!.metadata!.name] }]);
  });

  it('a node pass that deletes a pod of a DaemonSet asks for a follow-up naming none (it reads the revisions: cleanup)', async () => {
    const d = ds();
    const state: FakeState = { nodes: [newNode('ne', { spec: { taints: [taint('x', 'NoExecute')] } })], daemonSets: [d], pods: [newDaemonSetPod(d, 'ne')], revisions: written(d) };
    const { cluster, reconciler } = setup(state);
    const result = await reconciler.handle([{ kind: 'node', name: 'ne' }]);
    expect(cluster.deleted).toHaveLength(1);
    expect(result.followUp).toEqual([expect.objectContaining({ name: 'agent', pods: [] })]);
  });

  it('a create answered AlreadyExists is success without an event (another invocation made it)', async () => {
    const d = ds();
    const state: FakeState = { nodes: [newNode('n0')], daemonSets: [d], pods: [] };
    const { cluster, reconciler } = setup(state);
    // The same pod, created meanwhile by another invocation but not in the list this call read.
    cluster.createPod = async (pod) => {
      state.pods.push({ ...pod, metadata: { ...pod.metadata, uid: 'made-by-another' }, spec: { ...pod.spec!, nodeName: 'n0' } });
      return { outcome: 'exists' };
    };
    const result = await reconciler.handle([{ kind: 'node', name: 'n0' }]);
    expect(result.created).toBe(0);
    expect(cluster.events).toEqual([]);
  });

  it('a transient failure is re-thrown after the other writes are done, so the sender redelivers', async () => {
    const d = ds();
    const nodes = [newNode('n0'), newNode('n1')];
    const { cluster, reconciler } = setup({ nodes, daemonSets: [d], pods: [] });
    cluster.failOn('createPod', new TransientError('429 TooManyRequests'), 1);
    await expect(reconciler.handle([{ kind: 'daemonSet', namespace: 'default', name: 'agent' }])).rejects.toBeInstanceOf(TransientError);
    expect(cluster.created).toHaveLength(1);
  });

  it('slow start: a rejected first create stops the rest (1, then stop), like upstream syncNodes; no 5xx', async () => {
    const d = ds();
    const nodes = Array.from({ length: 6 }, (_, i) => newNode(`n${i}`));
    const { cluster, reconciler } = setup({ nodes, daemonSets: [d], pods: [] });
    cluster.failOn('createPod', new RejectedError('403 exceeded quota', 403));
    const result = await reconciler.handle([{ kind: 'daemonSet', namespace: 'default', name: 'agent' }]);
    expect(result.created).toBe(0);
    expect(cluster.calls.filter((c) => c === 'createPod')).toHaveLength(1);
    expect(cluster.events.map((e) => e.reason)).toEqual(['FailedCreate']);
  });

  // Upstream requeues a sync whose writes failed, with backoff; daemonless keeps when the refusals began in a status
  // condition and retries on a grid from there (core/status.ts `refusedRetryAfterSeconds`).
  describe('refused writes: recorded in the status, retried on a backoff, cleared once everything is done', () => {
    const refusedAt = (seconds: number) => ({
      type: refusedCondition.type,
      status: 'True',
      reason: refusedCondition.reason,
      message: '403 exceeded quota',
      lastTransitionTime: new Date(T0.getTime() - seconds * 1000).toISOString() as unknown as Date,
    });
    const condition = (status: { conditions?: { type: string }[] } | undefined) => status?.conditions?.find((c) => c.type === refusedCondition.type);

    it('the first refusal: the condition written, the DaemonSet tried again a second later', async () => {
      const d = ds();
      const { cluster, reconciler } = setup({ nodes: [newNode('n0'), newNode('n1')], daemonSets: [d], pods: [], revisions: written(d) });
      cluster.failOn('createPod', new RejectedError('403 Forbidden: exceeded quota: pods', 403));
      const result = await reconciler.handle([{ kind: 'daemonSet', namespace: 'default', name: 'agent', pods: [] }]);
      expect(result.requeueAfterSeconds).toBe(1);
      expect(condition(cluster.statuses[0]?.status)).toMatchObject({ status: 'True', reason: refusedCondition.reason, message: expect.stringContaining('exceeded quota') });
    });

    it('refusals going on for 100 s: the 128 s point, and no status write for the condition alone', async () => {
      const d = merge(recordedDaemonSet(ds()), { status: { desiredNumberScheduled: 1, numberMisscheduled: 0, currentNumberScheduled: 0, numberReady: 0, updatedNumberScheduled: 0, numberAvailable: 0, numberUnavailable: 1 } });
      d.status!.conditions = [...(d.status!.conditions ?? []), refusedAt(100)];
      const { cluster, reconciler } = setup({ nodes: [newNode('n0')], daemonSets: [d], pods: [], revisions: written(d) });
      cluster.failOn('createPod', new RejectedError('403 Forbidden: exceeded quota: pods', 403));
      const result = await reconciler.handle([{ kind: 'daemonSet', namespace: 'default', name: 'agent', pods: [] }]);
      expect(result.requeueAfterSeconds).toBeCloseTo(28, 6);
      expect(cluster.statuses).toEqual([]);
    });

    it('the refusals over (the create goes through): the condition removed, no retry', async () => {
      const d = recordedDaemonSet(ds());
      d.status!.conditions = [...(d.status!.conditions ?? []), refusedAt(30)];
      const { cluster, reconciler } = setup({ nodes: [newNode('n0')], daemonSets: [d], pods: [], revisions: written(d) });
      const result = await reconciler.handle([{ kind: 'daemonSet', namespace: 'default', name: 'agent', pods: [] }]);
      expect(result.created).toBe(1);
      expect(result.requeueAfterSeconds).toBeUndefined();
      expect(condition(cluster.statuses[0]?.status)).toBeUndefined();
    });

    it('a node pass refused: no retry of its own, the DaemonSet-wide follow-up retries and records it', async () => {
      const d = recordedDaemonSet(ds());
      const { cluster, reconciler } = setup({ nodes: [newNode('n0')], daemonSets: [d], pods: [], revisions: written(d) });
      cluster.failOn('createPod', new RejectedError('403 Forbidden: exceeded quota: pods', 403));
      const result = await reconciler.handle([{ kind: 'node', name: 'n0' }]);
      expect(result.requeueAfterSeconds).toBeUndefined();
      expect(result.followUp).toEqual([expect.objectContaining({ kind: 'daemonSet', name: 'agent' })]);
      expect(cluster.statuses).toEqual([]);
    });

    it('a transient failure is no refusal: the pass fails for redelivery, nothing recorded', async () => {
      const d = ds();
      const { cluster, reconciler } = setup({ nodes: [newNode('n0')], daemonSets: [d], pods: [], revisions: written(d) });
      cluster.failOn('createPod', new TransientError('503 ServiceUnavailable'));
      await expect(reconciler.handle([{ kind: 'daemonSet', namespace: 'default', name: 'agent', pods: [] }])).rejects.toBeInstanceOf(TransientError);
      expect(cluster.statuses.map((s) => condition(s.status))).toEqual(cluster.statuses.map(() => undefined));
    });
  });

  it('a create refused because the namespace is being deleted: no Event, no error, the other creates go on (upstream)', async () => {
    const d = ds();
    const nodes = Array.from({ length: 3 }, (_, i) => newNode(`n${i}`));
    const { cluster, reconciler } = setup({ nodes, daemonSets: [d], pods: [] });
    cluster.failOn('createPod', new NamespaceTerminatingError('403 Forbidden: unable to create new content in namespace default because it is being terminated', 403), 1);
    const result = await reconciler.handle([{ kind: 'daemonSet', namespace: 'default', name: 'agent' }]);
    expect(cluster.events.filter((e) => e.reason === 'FailedCreate')).toEqual([]);
    expect(result.created).toBe(2);
  });

  it('caps Events per DaemonSet and reason, summarising the rest in one', async () => {
    const d = ds();
    const nodes = Array.from({ length: 5 }, (_, i) => newNode(`n${i}`));
    const { cluster, reconciler } = setup({ nodes, daemonSets: [d], pods: [] });
    await reconciler.handle([{ kind: 'daemonSet', namespace: 'default', name: 'agent' }]);
    const creates = cluster.events.filter((e) => e.reason === 'SuccessfulCreate');
    expect(creates).toHaveLength(3);
    expect(creates[2]!.message).toMatch(/^3 more like: Created pod: /);
  });

  it('a node deleted → its bound pod is force-deleted (grace 0): no kubelet will confirm', async () => {
    const d = ds();
    const bound = newDaemonSetPod(d, 'gone');
    const state: FakeState = { nodes: [], daemonSets: [d], pods: [bound], revisions: written(d) };
    const { cluster, reconciler } = setup(state);
    await reconciler.handle([{ kind: 'node', name: 'gone' }]);
    expect(cluster.deleted).toEqual([{ pod: expect.objectContaining({ name: bound.metadata!.name }), gracePeriodSeconds: 0 }]);
    expect(podsAimedAt(state, 'gone')).toEqual([]);
  });

  it('a failed pod: the backoff is stored before the delete, and read back on the next failure', async () => {
    const d = ds();
    const failed = newDaemonSetPod(d, 'n0', { status: { phase: 'Failed', conditions: [] } });
    const state: FakeState = { nodes: [newNode('n0')], daemonSets: [d], pods: [failed], revisions: written(d) };
    const { cluster, reconciler } = setup(state);
    await reconciler.handle([{ kind: 'node', name: 'n0' }]);
    const writes = cluster.calls.filter((c) => ['writeBackoff', 'deletePod'].includes(c));
    expect(writes).toEqual(['writeBackoff', 'deletePod']);
    // Fails again within the 1 s backoff: no delete, a requeue instead.
    state.pods = [newDaemonSetPod(d, 'n0', { metadata: { uid: 'second' }, status: { phase: 'Failed', conditions: [] } })];
    const again = await reconciler.handle([{ kind: 'node', name: 'n0' }]);
    expect(cluster.calls).toContain('getBackoff');
    expect(again.deleted).toBe(0);
    expect(again.requeueAfterSeconds).toBeGreaterThan(0);
  });

  // As any write: a transient failure fails the pass (handled again), a refused one is retried by the next event or
  // the resync (design.md).
  it.each([
    ['refused', () => new RejectedError('404 namespaces "daemonless-system" not found', 404), false],
    ['transiently', () => new TransientError('503 Service Unavailable', 503), true],
  ])('a failed pod whose backoff cannot be stored (%s) is neither deleted nor replaced', async (_name, error, fails) => {
    const d = ds();
    const failed = newDaemonSetPod(d, 'n0', { status: { phase: 'Failed', conditions: [] } });
    const state: FakeState = { nodes: [newNode('n0')], daemonSets: [d], pods: [failed], revisions: written(d) };
    const { cluster, reconciler } = setup(state);
    cluster.failOn('writeBackoff', error(), 10);
    const outcome = await reconciler.handle([{ kind: 'node', name: 'n0' }]).then(() => undefined, (e: unknown) => e);
    expect(outcome !== undefined).toBe(fails);
    expect(cluster.calls.filter((c) => ['deletePod', 'createPod'].includes(c))).toEqual([]);
    expect(state.pods.map((p) => p.metadata?.uid)).toEqual([failed.metadata?.uid]);
  });

  it('a NoExecute taint deletes the pod; NoSchedule keeps it', async () => {
    const d = ds();
    const state: FakeState = {
      nodes: [newNode('ns', { spec: { taints: [taint('x', 'NoSchedule')] } }), newNode('ne', { spec: { taints: [taint('x', 'NoExecute')] } })],
      daemonSets: [d],
      pods: [newDaemonSetPod(d, 'ns'), newDaemonSetPod(d, 'ne')],
      revisions: written(d),
    };
    const { cluster, reconciler } = setup(state);
    await reconciler.handle([{ kind: 'node', name: 'ns' }, { kind: 'node', name: 'ne' }]);
    expect(cluster.deleted.map((x) => x.pod.name)).toEqual([state.pods.length === 1 ? expect.stringContaining('agent') : '']);
    expect(state.pods.map((p) => p.spec?.nodeName)).toEqual(['ns']);
  });
});

describe('rolling update steps', () => {
  /** Three nodes running the old template; the DaemonSet now has a new image. */
  function rolled(strategy: object) {
    const old = ds();
    const pods = ['n0', 'n1', 'n2'].map((n) => newDaemonSetPod(old, n));
    // As the API server does on a template change: generation and the template-generation annotation go up.
    const next = newDaemonSet('agent', {
      metadata: { generation: 2, annotations: { 'deprecated.daemonset.template.generation': '2' } },
      spec: { updateStrategy: strategy, template: { spec: { containers: [{ name: 'main', image: 'registry.example/agent:2' }] } } },
    });
    return { state: { nodes: ['n0', 'n1', 'n2'].map((n) => newNode(n)), daemonSets: [next], pods } as FakeState, next };
  }

  it('deletes at most maxUnavailable old pods, under the DaemonSet lock, from pods read after taking it', async () => {
    const { state } = rolled({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
    const { cluster, reconciler } = setup(state);
    await reconciler.handle([{ kind: 'daemonSet', namespace: 'default', name: 'agent' }]);
    expect(cluster.deleted).toHaveLength(1);
    const order = cluster.calls.filter((c) => ['acquireRolloutLock', 'listPods', 'deletePod', 'releaseRolloutLock'].includes(c));
    expect(order).toEqual(['listPods', 'acquireRolloutLock', 'listPods', 'deletePod', 'releaseRolloutLock']);
  });

  it('passes that never overlap (pass lock, one at a time): no rollout lock, still a fresh read before the step', async () => {
    const { state } = rolled({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
    // A Lease left by some earlier holder does not matter here: no other pass can be running.
    state.leases = new Map([['ds-uid-agent', { holder: 'other', until: Infinity }]]);
    const { cluster, reconciler } = setup(state, { passesSerialized: true });
    await reconciler.handle([{ kind: 'daemonSet', namespace: 'default', name: 'agent' }]);
    expect(cluster.deleted).toHaveLength(1);
    const order = cluster.calls.filter((c) => ['acquireRolloutLock', 'listPods', 'deletePod', 'releaseRolloutLock'].includes(c));
    expect(order).toEqual(['listPods', 'listPods', 'deletePod']);
  });

  it('the fresh read counts what changed since the pass read: a pod no longer Ready uses up the budget', async () => {
    const { state } = rolled({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
    const { cluster, reconciler } = setup(state, { passesSerialized: true });
    // The pass's own read sees every old pod Ready; by the step's read, n2's pod is not.
    let lists = 0;
    const unready = state.pods[2]!.metadata!.name;
    const listPods = cluster.listPods.bind(cluster);
    cluster.listPods = async (...args) => {
      lists += 1;
      if (lists === 2) state.pods[2] = newDaemonSetPod(ds(), 'n2', { status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }] } });
      return listPods(...args);
    };
    await reconciler.handle([{ kind: 'daemonSet', namespace: 'default', name: 'agent' }]);
    expect(lists).toBe(2);
    // Upstream: an old pod that is not available is replaced whatever the budget; no available one is deleted.
    expect(cluster.deleted.map((d) => d.pod.name)).toEqual([unready]);
  });

  it('takes no lock and makes no extra read when the snapshot shows no step to take', async () => {
    const { state, next } = rolled({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
    state.pods = ['n0', 'n1', 'n2'].map((n) => newDaemonSetPod(next, n));
    const { cluster, reconciler } = setup(state);
    await reconciler.handle([{ kind: 'daemonSet', namespace: 'default', name: 'agent' }]);
    expect(cluster.calls).not.toContain('acquireRolloutLock');
    expect(cluster.calls.filter((c) => c === 'listPods')).toHaveLength(1);
  });

  it('skips the step when another invocation holds the lock', async () => {
    const { state } = rolled({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
    state.leases = new Map([['ds-uid-agent', { holder: 'other', until: Infinity }]]);
    const { cluster, reconciler } = setup(state);
    await reconciler.handle([{ kind: 'daemonSet', namespace: 'default', name: 'agent' }]);
    expect(cluster.deleted).toHaveLength(0);
  });

  it('OnDelete: no rollout step, old pods stay', async () => {
    const { state } = rolled({ type: 'OnDelete' });
    const { cluster, reconciler } = setup(state);
    await reconciler.handle([{ kind: 'daemonSet', namespace: 'default', name: 'agent' }]);
    expect(cluster.calls).not.toContain('acquireRolloutLock');
    expect(cluster.deleted).toHaveLength(0);
  });

  it('no step in a pass where manage wrote something (upstream: expectations not yet satisfied)', async () => {
    const { state } = rolled({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 3 } });
    state.nodes.push(newNode('n3'));
    const { cluster, reconciler } = setup(state);
    await reconciler.handle([{ kind: 'daemonSet', namespace: 'default', name: 'agent' }]);
    expect(cluster.created).toHaveLength(1);
    expect(cluster.calls).not.toContain('acquireRolloutLock');
  });
});

/** A task that takes a millisecond, and the number in flight each time one starts. */
function inFlightProbe() {
  let inFlight = 0;
  const seen: number[] = [];
  const task = async () => {
    inFlight += 1;
    seen.push(inFlight);
    await new Promise((r) => setTimeout(r, 1));
    inFlight -= 1;
    return 'done';
  };
  return { seen, task };
}

describe('slowStart', () => {
  it('starts with one in flight and grows by one per success, up to the limit', async () => {
    const { seen, task } = inFlightProbe();
    const skipped = await slowStart(Array.from({ length: 40 }, (_, i) => i), 8, task, () => {}, (e) => !isTransient(e));
    expect(skipped).toBe(0);
    expect(seen[0]).toBe(1);
    expect(Math.max(...seen)).toBe(8);
  });

  it('a rejected create stops launching more; a transient one does not', async () => {
    const outcomes: string[] = [];
    const rejectedAt3 = await slowStart([1, 2, 3, 4, 5, 6], 1, async (i) => {
      if (i === 3) throw new RejectedError('403 quota', 403);
      return 'done';
    }, (i, s) => outcomes.push(`${i}:${s.status}`), (e) => !isTransient(e));
    expect(outcomes).toEqual(['1:fulfilled', '2:fulfilled', '3:rejected']);
    expect(rejectedAt3).toBe(3);
    const transient = await slowStart([1, 2, 3], 1, async (i) => {
      if (i === 1) throw new TransientError('429');
      return 'done';
    }, () => {}, (e) => !isTransient(e));
    expect(transient).toBe(0);
  });
});

describe('slowStartEach', () => {
  it('starts every group at one in flight together, and bounds all of them by the limit', async () => {
    const { seen, task } = inFlightProbe();
    const groups = [0, 1, 2].map((g) => Array.from({ length: 20 }, (_, i) => `${g}-${i}`));
    const skipped = await slowStartEach(groups, 4, task, () => {}, (e) => !isTransient(e));
    expect(skipped).toEqual([0, 0, 0]);
    expect(seen.slice(0, 3)).toEqual([1, 2, 3]);
    expect(Math.max(...seen)).toBe(4);
  });

  it("a group's rejected item stops only that group", async () => {
    const outcomes: string[] = [];
    const skipped = await slowStartEach([['a1', 'a2', 'a3'], ['b1', 'b2', 'b3']], 4, async (item) => {
      if (item === 'a1') throw new RejectedError('403 quota', 403);
      return 'done';
    }, (item, s) => outcomes.push(`${item}:${s.status}`), (e) => !isTransient(e));
    expect(skipped).toEqual([2, 0]);
    expect(outcomes.sort()).toEqual(['a1:rejected', 'b1:fulfilled', 'b2:fulfilled', 'b3:fulfilled']);
  });
});

describe('creates of several DaemonSets in one pass (upstream: one sync, one slow start each)', () => {
  const two = () => {
    const broken = newDaemonSet('a-broken');
    const agent = newDaemonSet('b-agent');
    const { cluster, reconciler } = setup({ nodes: [newNode('n0'), newNode('n1')], daemonSets: [broken, agent], pods: [], revisions: written(broken, agent) });
    return { cluster, reconciler };
  };

  it("a DaemonSet whose creates are refused does not hold up another's on the same node", async () => {
    const { cluster, reconciler } = two();
    const createPod = cluster.createPod.bind(cluster);
    cluster.createPod = async (pod) => {
      if (pod.metadata?.labels?.app === 'a-broken') throw new RejectedError('403 exceeded quota', 403);
      return createPod(pod);
    };
    const result = await reconciler.handle([{ kind: 'node', name: 'n0' }]);
    expect(cluster.created.map((p) => p.metadata?.labels?.app)).toEqual(['b-agent']);
    expect(result.created).toBe(1);
    expect(cluster.events.map((e) => e.reason)).toContain('FailedCreate');
  });

  it('a node joining under two DaemonSets gets both pods in one round trip', async () => {
    const { cluster, reconciler } = two();
    const createPod = cluster.createPod.bind(cluster);
    let inFlight = 0;
    let most = 0;
    cluster.createPod = async (pod) => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 2));
      inFlight -= 1;
      return createPod(pod);
    };
    await reconciler.handle([{ kind: 'node', name: 'n0' }]);
    expect(cluster.created).toHaveLength(2);
    expect(most).toBe(2);
  });
});

describe('time budget', () => {
  it('creates stop being launched when the budget is nearly spent; the call fails transiently so it is redelivered', async () => {
    const d = ds();
    const nodes = Array.from({ length: 10 }, (_, i) => newNode(`n${i}`));
    const state: FakeState = { nodes, daemonSets: [d], pods: [] };
    const cluster = fakeCluster(state);
    let now = T0.getTime();
    const createPod = cluster.createPod.bind(cluster);
    // Each create takes 200 ms of a 1 s budget: after ~4 the 80 % mark is passed.
    cluster.createPod = async (pod) => {
      now += 200;
      return createPod(pod);
    };
    const reconciler = createReconciler({ cluster: () => cluster, now: () => new Date(now), newId: () => 'id', log: silentLogger, options: { ...options, writeConcurrency: 1 } });
    await expect(reconciler.handle([{ kind: 'daemonSet', namespace: 'default', name: 'agent' }])).rejects.toBeInstanceOf(TransientError);
    expect(cluster.created.length).toBeGreaterThan(0);
    expect(cluster.created.length).toBeLessThan(10);
    // Redelivered: the pods made so far are found, the rest are created.
    now = T0.getTime();
    cluster.createPod = createPod;
    await reconciler.handle([{ kind: 'daemonSet', namespace: 'default', name: 'agent' }]);
    expect(state.pods).toHaveLength(10);
  });
});

describe('stale view', () => {
  /** Ten nodes to create pods on, one create at a time, each taking `eachMs`; the first (when `fails`) fails transiently after `failAfterMs`. */
  function slowFirstFailure(failAfterMs: number, eachMs = 0, fails = true) {
    const d = ds();
    const state: FakeState = { nodes: Array.from({ length: 10 }, (_, i) => newNode(`n${i}`)), daemonSets: [d], pods: [], revisions: written(d) };
    const cluster = fakeCluster(state);
    if (fails) cluster.failOn('createPod', new TransientError('create pod: the operation was aborted due to timeout'), 1);
    let now = T0.getTime();
    let first = true;
    const createPod = cluster.createPod.bind(cluster);
    cluster.createPod = async (pod) => {
      now += first ? failAfterMs : eachMs;
      first = false;
      return createPod(pod);
    };
    const reconciler = createReconciler({
      cluster: () => cluster,
      now: () => new Date(now),
      newId: () => 'id',
      log: silentLogger,
      options: { ...options, writeConcurrency: 1, timeBudgetMs: 60_000 },
    });
    return { cluster, reconciler, state };
  }

  it.each([
    // A create that hung until its timeout: the view is older than staleViewMs, nothing more is written from it.
    ['after a failure, no write from a view older than staleViewMs', 3_000, 0, 0],
    // The same failure, answered at once: the view is still fresh, the other nine are created.
    ['after a failure, writes go on while the view is fresh', 0, 0, 9],
  ])('%s', async (_name, failAfterMs, eachMs, created) => {
    const { cluster, reconciler } = slowFirstFailure(failAfterMs, eachMs);
    const error = await reconciler.handle([{ kind: 'daemonSet', namespace: 'default', name: 'agent' }]).catch((e: unknown) => e);
    expect(isTransient(error)).toBe(true);
    expect(cluster.created).toHaveLength(created);
  });

  it('a pass without failures is not bounded by it: ten creates of 500 ms each all go out', async () => {
    const { cluster, reconciler } = slowFirstFailure(500, 500, false);
    await reconciler.handle([{ kind: 'daemonSet', namespace: 'default', name: 'agent' }]);
    expect(cluster.created).toHaveLength(10);
  });

  it('the stale pass is handed back (transient) and the next pass, reading afresh, creates the rest', async () => {
    const { cluster, reconciler, state } = slowFirstFailure(3_000);
    await expect(reconciler.handle([{ kind: 'daemonSet', namespace: 'default', name: 'agent' }])).rejects.toBeInstanceOf(TransientError);
    await reconciler.handle([{ kind: 'daemonSet', namespace: 'default', name: 'agent' }]);
    expect(state.pods).toHaveLength(10);
    expect(cluster.created).toHaveLength(10);
  });
});

describe('a pass told to stop (its pass lock lost, its invocation out of time)', () => {
  it('launches no more pod writes and fails transiently; the next pass creates the pods', async () => {
    const d = ds();
    const state: FakeState = { nodes: [newNode('n0'), newNode('n1')], daemonSets: [d], pods: [], revisions: written(d) };
    const { cluster, reconciler } = setup(state);
    const stopped = new AbortController();
    stopped.abort();
    const failure = await reconciler.handle([{ kind: 'node', name: 'n0' }, { kind: 'node', name: 'n1' }], stopped.signal).catch((e: unknown) => e);
    expect(isTransient(failure)).toBe(true);
    expect((failure as Error).message).toMatch(/the pass was stopped/);
    expect(cluster.created).toEqual([]);
    await reconciler.handle([{ kind: 'node', name: 'n0' }, { kind: 'node', name: 'n1' }]);
    expect(state.pods).toHaveLength(2);
  });
});

describe('failing reads', () => {
  it('a node pass whose node read fails first rejects once, leaving no unobserved rejection behind (it would end the process)', async () => {
    const d = ds();
    const { cluster, reconciler } = setup({ nodes: [newNode('n0')], daemonSets: [d], pods: [], revisions: written(d) });
    const forbidden = () => new RejectedError('forbidden: the authorizer is starting', 403);
    // The DaemonSet list fails a moment after the node read: nobody may be left holding its rejection.
    cluster.getNode = () => Promise.reject(forbidden());
    cluster.listDaemonSets = () => new Promise((_, reject) => setTimeout(() => reject(forbidden()), 5));
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      await expect(reconciler.handle([{ kind: 'node', name: 'n0' }])).rejects.toThrow('forbidden');
      await new Promise((resolve) => setTimeout(resolve, 30));
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toEqual([]);
  });

  it.each([
    ['NotFound', () => new NotFoundError('controllerrevisions "agent-abc" not found')],
    ['Conflict', () => new ConflictError('the object has been modified', 'Conflict')],
  ])('a %s that escapes a pass is transient (503: the sender redelivers), not a 4xx about the request', async (_name, error) => {
    const d = ds();
    const { cluster, reconciler } = setup({ nodes: [newNode('n0')], daemonSets: [d], pods: [], revisions: written(d) });
    cluster.listDaemonSets = () => Promise.reject(error());
    const failure = await reconciler.handle([{ kind: 'node', name: 'n0' }]).catch((e: unknown) => e);
    expect(isTransient(failure)).toBe(true);
  });
});

describe('one DaemonSet failing does not hold up the others in the same pass', () => {
  const going = () => newDaemonSet('going', { metadata: { namespace: 'going' } });
  const nodes = () => Array.from({ length: 2 }, (_, i) => newNode(`n${i}`));
  const agentPods = (state: FakeState) => state.pods.filter((p) => p.metadata?.labels?.app === 'agent' && p.metadata?.namespace === 'default');

  it('a DaemonSet whose namespace is being deleted is skipped (as upstream), the others are reconciled, and the pass succeeds', async () => {
    const state: FakeState = { nodes: nodes(), daemonSets: [going(), ds()], pods: [] };
    const { cluster, reconciler } = setup(state);
    // The first revision create is the terminating namespace's (the DaemonSets are synced in list order).
    cluster.failOn('createControllerRevision', new NamespaceTerminatingError('403 Forbidden: unable to create new content in namespace going because it is being terminated', 403), 1);
    const result = await reconciler.handle([{ kind: 'resync' }]);
    expect(agentPods(state)).toHaveLength(2);
    expect(state.pods.filter((p) => p.metadata?.namespace === 'going')).toEqual([]);
    expect(result.created).toBe(2);
  });

  it.each([
    ['transient', () => new TransientError('503 Service Unavailable', 503), true],
    ['refused', () => new RejectedError('403 Forbidden: exceeded quota', 403), false],
  ])('a %s failure of one DaemonSet: the others are reconciled first, then the pass fails with that error', async (_name, error, transient) => {
    const state: FakeState = { nodes: nodes(), daemonSets: [going(), ds()], pods: [] };
    const { cluster, reconciler } = setup(state);
    cluster.failOn('createControllerRevision', error(), 1);
    const failure = await reconciler.handle([{ kind: 'resync' }]).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(Error);
    expect(isTransient(failure)).toBe(transient);
    expect(agentPods(state)).toHaveLength(2);
  });

  // Upstream's updateDaemonSet returns before cleanupHistory when manage (or the rolling update) fails: old revisions
  // beyond revisionHistoryLimit are deleted only by a sync whose writes all took effect.
  it.each([
    ['all writes took effect: the oldest revision beyond the limit is deleted', false, ['createPod', 'deleteControllerRevision']],
    ['a create refused (quota): the revisions are kept', true, ['createPod']],
  ])('history cleanup: %s', async (_name, refuse, writes) => {
    const v1 = newDaemonSet('agent', { spec: { revisionHistoryLimit: 1 } });
    const v2 = updatedDaemonSet(v1, 'registry.k8s.io/pause:3.11');
    const v3 = updatedDaemonSet(v2, 'registry.k8s.io/pause:3.12');
    const state: FakeState = {
      nodes: [newNode('n0'), newNode('n1')],
      daemonSets: [v3],
      pods: [newDaemonSetPod(v3, 'n0')],
      revisions: [newControllerRevision(v1, 1), newControllerRevision(v2, 2), newControllerRevision(v3, 3)],
    };
    const { cluster, reconciler } = setup(state);
    if (refuse) cluster.failOn('createPod', new RejectedError('403 Forbidden: exceeded quota', 403), 10);
    await reconciler.handle([{ kind: 'daemonSet', namespace: 'default', name: 'agent' }]).catch(() => undefined);
    expect(cluster.calls.filter((c) => ['createPod', 'deleteControllerRevision'].includes(c))).toEqual(writes);
  });

  // Two revisions of the current template (upstream dedupCurHistories): the pods are relabelled to the one kept, and
  // only then is the other deleted; a pod left with the deleted one's hash would count as not updated, and be replaced.
  it.each([
    ['every pod relabelled: the duplicate revision is deleted', false, ['labelPod', 'deleteControllerRevision']],
    ['a relabel refused: the duplicate revision stays, for the next pass', true, ['labelPod']],
  ])('%s', async (_name, refuse, writes) => {
    const d = ds();
    const first = newControllerRevision(d, 1);
    const kept = newControllerRevision(d, 2, { metadata: { name: 'agent-kept', uid: 'rev-kept', labels: { 'controller-revision-hash': 'kept' } } });
    const state: FakeState = { nodes: nodes().slice(0, 1), daemonSets: [d], pods: [newDaemonSetPod(d, 'n0')], revisions: [first, kept] };
    const { cluster, reconciler } = setup(state);
    if (refuse) cluster.failOn('labelPod', new RejectedError('403 Forbidden', 403), 10);
    await reconciler.handle([{ kind: 'resync' }]).catch(() => undefined);
    expect(cluster.calls.filter((c) => ['labelPod', 'deleteControllerRevision'].includes(c))).toEqual(writes);
  });

  // A status write that fails:
  it.each([
    // Transient past the retries: the pass fails with it and is handled again, else the status would wait for an
    // unrelated event or the resync.
    ['transiently', () => new TransientError('503 Service Unavailable', 503), true],
    // Refused: handling it again would fail the same way; logged, and the pass goes on.
    ['for good', () => new RejectedError('422 Unprocessable Entity', 422), false],
  ])('%s: the pass fails with it only when it is transient, after the pods are written', async (_name, error, fails) => {
    const state: FakeState = { nodes: nodes(), daemonSets: [ds()], pods: [] };
    const { cluster, reconciler } = setup(state);
    cluster.failOn('updateDaemonSetStatus', error(), 1);
    const outcome = await reconciler.handle([{ kind: 'resync' }]).then(() => undefined, (e: unknown) => e);
    expect(outcome !== undefined && isTransient(outcome)).toBe(fails);
    if (!fails) expect(outcome).toBeUndefined();
    expect(agentPods(state)).toHaveLength(2);
  });
});

describe("a join's follow-up that a later DaemonSet-wide pass covers (Hint `after`)", () => {
  /** A node as a GET returns it (with its resourceVersion), and a DaemonSet whose status records its revision. */
  const joined = (nodeVersion: string) => {
    const d = recordedDaemonSet(ds());
    d.status = { ...d.status, desiredNumberScheduled: 0, currentNumberScheduled: 0, numberMisscheduled: 0, numberReady: 0, numberAvailable: 0, updatedNumberScheduled: 0, observedGeneration: 1 };
    const state: FakeState = { nodes: [newNode('n0', { metadata: { resourceVersion: nodeVersion } })], daemonSets: [d], pods: [], revisions: written(d), resourceVersion: 9 };
    return { d, state, ...setup(state) };
  };

  it('a node pass that only created pods asks for a follow-up after the node it read and the pods it created', async () => {
    const { state, reconciler } = joined('7');
    const result = await reconciler.handle([{ kind: 'node', name: 'n0' }]);
    expect(result.followUp).toEqual([expect.objectContaining({ name: 'agent', pods: [state.pods[0]!.metadata!.name], after: { nodes: '7', pods: '9' } })]);
  });

  it.each([
    ['a node without a resourceVersion (as a list projects it)', undefined],
    ['a node version that is not a decimal integer', 'x7'],
  ])('no `after` for %s: the follow-up runs whatever the status says', async (_name, version) => {
    const { state, reconciler } = joined(version as string);
    if (version === undefined) delete state.nodes[0]!.metadata!.resourceVersion;
    const result = await reconciler.handle([{ kind: 'node', name: 'n0' }]);
    expect(result.followUp).toEqual([expect.not.objectContaining({ after: expect.anything() })]);
  });

  it('the pod turning Ready brings a pass that records its lists; the follow-up then ends after the DaemonSet read', async () => {
    const { d, state, cluster, reconciler } = joined('7');
    const { followUp } = await reconciler.handle([{ kind: 'node', name: 'n0' }]);
    // The Ready pod's pass, on lists read later (resourceVersion 12): it writes the counters and what it counted from.
    state.resourceVersion = 12;
    const pod = state.pods[0]!.metadata!.name!;
    await reconciler.handle([{ kind: 'daemonSet', namespace: 'default', name: 'agent', pods: [pod] }]);
    const written = cluster.statuses.at(-1)!.status;
    expect(written.conditions).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'daemonless.dev/Counted', message: 'nodes at resourceVersion 12, pods at resourceVersion 12' })]));
    d.status = written;
    cluster.calls.length = 0;
    const statuses = cluster.statuses.length;
    await reconciler.handle(followUp!);
    expect(cluster.calls).toEqual(['getDaemonSet']);
    expect(cluster.statuses).toHaveLength(statuses);
  });

  it.each([
    ['the status counted nodes before the node read (7)', { counted: 'nodes at resourceVersion 6, pods at resourceVersion 12', generation: 1 }],
    ['the status counted pods before the one created (9)', { counted: 'nodes at resourceVersion 12, pods at resourceVersion 8', generation: 1 }],
    ['the status has no counted condition', { counted: undefined, generation: 1 }],
    ['the DaemonSet changed since (generation not observed)', { counted: 'nodes at resourceVersion 12, pods at resourceVersion 12', generation: 2 }],
  ])('not covered when %s: the full pass runs', async (_name, { counted, generation }) => {
    const { d, cluster, reconciler } = joined('7');
    const { followUp } = await reconciler.handle([{ kind: 'node', name: 'n0' }]);
    d.metadata!.generation = generation;
    if (counted !== undefined) d.status = { ...d.status!, conditions: [...(d.status?.conditions ?? []), { type: 'daemonless.dev/Counted', status: 'True', reason: 'ListsCounted', message: counted }] };
    cluster.calls.length = 0;
    await reconciler.handle(followUp!);
    expect(cluster.calls).toEqual(expect.arrayContaining(['getDaemonSet', 'listNodes', 'listPods']));
  });

  // A NotFound or Conflict is handed on as a TransientError (the cluster changed under the pass): the same rides on it.
  it.each([
    ['refused', new RejectedError('forbidden', 403), RejectedError],
    ['gone meanwhile', new NotFoundError('namespaces "default" not found'), TransientError],
  ])("a pass with a failed step (%s) fails with what the others asked for: the agent's minReadySeconds re-queue rides on the error", async (_name, thrown, kind) => {
    const d = recordedDaemonSet(newDaemonSet('agent', { spec: { minReadySeconds: 30 } }));
    const other = recordedDaemonSet(newDaemonSet('other'));
    // Ready 10 s ago: available in 20 s, so the agent's pass asks to be re-queued then (the plan adds a second).
    const pod = newDaemonSetPod(d, 'n0', { status: { phase: 'Running', conditions: [readyCondition(at(-10))] } });
    const state: FakeState = { nodes: [newNode('n0')], daemonSets: [d, other], pods: [pod], revisions: written(d) };
    const { cluster, reconciler } = setup(state);
    cluster.createControllerRevision = async () => {
      throw thrown;
    };
    const failed = await reconciler
      .handle([
        { kind: 'daemonSet', namespace: 'default', name: 'agent' },
        { kind: 'daemonSet', namespace: 'default', name: 'other' },
      ])
      .then(() => undefined, (error: unknown) => error);
    expect(failed).toBeInstanceOf(kind);
    expect(partialResultOf(failed)).toEqual(expect.objectContaining({ requeueAfterSeconds: 21 }));
  });

  it('a pass that fails with nothing asked for carries nothing', async () => {
    const d = recordedDaemonSet(ds());
    const other = recordedDaemonSet(newDaemonSet('other'));
    const state: FakeState = { nodes: [newNode('n0')], daemonSets: [d, other], pods: [newDaemonSetPod(d, 'n0')], revisions: written(d) };
    const { cluster, reconciler } = setup(state);
    cluster.createControllerRevision = async () => {
      throw new RejectedError('forbidden', 403);
    };
    const failed = await reconciler.handle([{ kind: 'daemonSet', namespace: 'default', name: 'other' }]).then(() => undefined, (error: unknown) => error);
    expect(failed).toBeInstanceOf(RejectedError);
    expect(partialResultOf(failed)).toBeUndefined();
  });

  it('a pass with a failed step does not record what it counted from', async () => {
    const d = recordedDaemonSet(ds());
    const other = recordedDaemonSet(newDaemonSet('other'));
    const state: FakeState = { nodes: [newNode('n0')], daemonSets: [d, other], pods: [], revisions: written(d), resourceVersion: 12 };
    const { cluster, reconciler } = setup(state);
    // The other DaemonSet's history fails (its revision cannot be written); the agent's status is still written, unrecorded.
    cluster.createControllerRevision = async () => {
      throw new RejectedError('forbidden', 403);
    };
    await expect(
      reconciler.handle([
        { kind: 'daemonSet', namespace: 'default', name: 'agent' },
        { kind: 'daemonSet', namespace: 'default', name: 'other' },
      ]),
    ).rejects.toBeDefined();
    expect(cluster.statuses.map((s) => s.name)).toEqual(['default/agent']);
    expect(cluster.statuses[0]!.status.conditions).not.toEqual(expect.arrayContaining([expect.objectContaining({ type: 'daemonless.dev/Counted' })]));
  });
});
