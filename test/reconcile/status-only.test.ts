/**
 * Status-only passes without the pass lock (src/reconcile/status-only.ts, `settleUnlocked` in src/reconcile/index.ts):
 * which hints try it, that nothing but a status is ever written through it, and that a refused pass leaves nothing
 * behind (no write, no Event, no log line) for the locked pass that follows.
 */
import type { V1DaemonSet } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { ConflictError } from '../../src/errors.ts';
import type { Hint } from '../../src/hints.ts';
import { createLogger } from '../../src/log.ts';
import { createReconciler, type ReconcilerOptions } from '../../src/reconcile/index.ts';
import { NeedsLockError, mayRollOut, statusOnlyGuard } from '../../src/reconcile/status-only.ts';
import { newControllerRevision, newDaemonSet, newDaemonSetPod, newNode, T0 } from '../support/builders.ts';
import { fakeCluster, type FakeState } from '../support/fake-cluster.ts';
import { shellTestOptions } from '../support/reconciler-options.ts';

const options: ReconcilerOptions = shellTestOptions;

function setup(state: FakeState) {
  const cluster = fakeCluster(state);
  const lines: { level: string; msg: string }[] = [];
  const log = createLogger('debug', (line) => lines.push(JSON.parse(line) as { level: string; msg: string }));
  const reconciler = createReconciler({ cluster: () => cluster, now: () => T0, newId: () => 'id', log, options });
  return { cluster, reconciler, lines };
}

/** A DaemonSet whose status has observed its spec and counts `nodes` nodes, all updated. */
function settled(nodes: number, ready = nodes): V1DaemonSet {
  const ds = newDaemonSet('agent');
  ds.status = { observedGeneration: 1, desiredNumberScheduled: nodes, currentNumberScheduled: nodes, updatedNumberScheduled: nodes, numberReady: ready, numberAvailable: ready, numberUnavailable: nodes - ready, numberMisscheduled: 0 };
  return ds;
}

const podsHint = (...pods: string[]): Hint => ({ kind: 'daemonSet', namespace: 'default', name: 'agent', pods });
const WRITES = ['createPod', 'deletePod', 'adopt', 'release', 'labelPod', 'recordEvent', 'bumpCollisionCount', 'createControllerRevision', 'patchControllerRevision', 'deleteControllerRevision', 'writeBackoff', 'acquireRolloutLock', 'releaseRolloutLock', 'cleanUpLeases'];
const writes = (calls: string[]) => calls.filter((c) => WRITES.includes(c));

describe('a pod turning Ready: the status pass runs without the lock', () => {
  it('writes the status and nothing else', async () => {
    const ds = settled(2, 1);
    const nodes = [newNode('n0'), newNode('n1')];
    const pods = nodes.map((n) => newDaemonSetPod(ds, n.metadata!.name!));
    const { cluster, reconciler, lines } = setup({ nodes, daemonSets: [ds], pods, revisions: [newControllerRevision(ds, 1)] });
    const result = await reconciler.settleUnlocked!([podsHint(pods[1]!.metadata!.name!)]);
    expect(result).toMatchObject({ hints: 1, created: 0, deleted: 0 });
    expect(writes(cluster.calls)).toEqual([]);
    expect(cluster.statuses.map((s) => s.status.numberReady)).toEqual([2]);
    expect(lines.map((l) => l.msg)).toContain('reconciled');
  });
});

describe('refused: undefined for the locked pass, nothing written, nothing logged but the refusal', () => {
  it('a node without its pod (a create needed)', async () => {
    const ds = settled(1);
    const nodes = [newNode('n0'), newNode('n1')];
    const pod = newDaemonSetPod(ds, 'n0');
    const { cluster, reconciler, lines } = setup({ nodes, daemonSets: [ds], pods: [pod], revisions: [newControllerRevision(ds, 1)] });
    await expect(reconciler.settleUnlocked!([podsHint(pod.metadata!.name!)])).resolves.toBeUndefined();
    expect(writes(cluster.calls)).toEqual([]);
    expect(cluster.calls).not.toContain('updateDaemonSetStatus');
    expect(lines.map((l) => l.msg)).toEqual(['status-only pass needs the pass lock']);
    // The locked pass then does it all.
    const locked = await reconciler.handle([podsHint(pod.metadata!.name!)]);
    expect(locked.created).toBe(1);
    expect(cluster.statuses).toHaveLength(1);
  });

  it('a DaemonSet whose status says a rollout may have work (spec not observed): after one read', async () => {
    const ds = settled(1);
    ds.metadata!.generation = 2;
    const pod = newDaemonSetPod(ds, 'n0');
    const { cluster, reconciler } = setup({ nodes: [newNode('n0')], daemonSets: [ds], pods: [pod] });
    await expect(reconciler.settleUnlocked!([podsHint(pod.metadata!.name!)])).resolves.toBeUndefined();
    expect(cluster.calls).toEqual(['getDaemonSet']);
  });

  it.each<[string, Hint[]]>([
    ['a change to the DaemonSet itself (no pods named)', [{ kind: 'daemonSet', namespace: 'default', name: 'agent' }]],
    ['a node', [{ kind: 'node', name: 'n0' }]],
    ['pods named beside a node', [podsHint('agent-x'), { kind: 'node', name: 'n0' }]],
    ['the resync', [{ kind: 'resync' }]],
    ['more than 4 pods of one DaemonSet (a burst of joins: nodes without their pods are likely)', [podsHint('p1', 'p2', 'p3', 'p4', 'p5')]],
  ])('not tried for %s: no reads', async (_name, hints) => {
    const { cluster, reconciler } = setup({ nodes: [newNode('n0')], daemonSets: [settled(1)], pods: [] });
    await expect(reconciler.settleUnlocked!(hints)).resolves.toBeUndefined();
    expect(cluster.calls).toEqual([]);
  });
});

describe('a status conflict', () => {
  it('another pass wrote the status since it was read: not overwritten with these counts; a fresh pass is asked for', async () => {
    const ds = settled(1, 0);
    const pod = newDaemonSetPod(ds, 'n0');
    const { cluster, reconciler } = setup({ nodes: [newNode('n0')], daemonSets: [ds], pods: [pod], revisions: [newControllerRevision(ds, 1)] });
    cluster.failOn('updateDaemonSetStatus', new ConflictError('409 Conflict: the object has been modified', 'Conflict'), 1);
    const getDaemonSet = cluster.getDaemonSet.bind(cluster);
    let reads = 0;
    cluster.getDaemonSet = async (ns, name, kind) => {
      const read = await getDaemonSet(ns, name, kind);
      return reads++ === 0 || read === null ? read : ({ ...read, status: { ...read.status, numberReady: 1, numberAvailable: 1 } } as V1DaemonSet);
    };
    const result = await reconciler.settleUnlocked!([podsHint(pod.metadata!.name!)]);
    expect(cluster.calls.filter((c) => c === 'updateDaemonSetStatus')).toHaveLength(1);
    expect(result?.followUp).toEqual([expect.objectContaining({ kind: 'daemonSet', namespace: 'default', name: 'agent' })]);
  });
});

describe('statusOnlyGuard', () => {
  it('passes reads, refuses every other call before it is made (every call not listed as a read), then the status too', async () => {
    const ds = settled(1);
    const cluster = fakeCluster({ nodes: [newNode('n0')], daemonSets: [ds], pods: [] });
    const guard = statusOnlyGuard(new Set(['default/agent']));
    const port = guard.wrap(cluster);
    await port.listNodes();
    await port.updateDaemonSetStatus(ds, ds.status!);
    expect(guard.refused).toBeUndefined();
    await expect(port.writeBackoff({ namespace: 'default', name: 'agent', uid: 'u' }, 'n0', { failures: 1, lastFailure: T0.toISOString() } as never)).rejects.toBeInstanceOf(NeedsLockError);
    await expect(port.cleanUpLeases(new Set(), new Set(), T0, 0)).rejects.toBeInstanceOf(NeedsLockError);
    await expect(port.updateDaemonSetStatus(ds, ds.status!)).rejects.toBeInstanceOf(NeedsLockError);
    expect(guard.refused).toBe('writeBackoff');
    expect(cluster.calls).toEqual(['listNodes', 'updateDaemonSetStatus']);
  });

  it.each<[string, Partial<V1DaemonSet['status']> & { generation?: number }, boolean]>([
    ['settled', {}, false],
    ['spec not observed', { generation: 2 }, true],
    ['a node without an updated pod', { updatedNumberScheduled: 2 }, true],
    ['no status yet', { observedGeneration: undefined }, true],
  ])('mayRollOut: %s', (_name, change, expected) => {
    const ds = settled(3);
    const { generation, ...status } = change;
    if (generation !== undefined) ds.metadata!.generation = generation;
    ds.status = { ...ds.status!, ...status };
    expect(mayRollOut(ds)).toBe(expected);
  });
});
