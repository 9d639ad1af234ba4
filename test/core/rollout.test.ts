import type { V1DaemonSet, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { revisionHash } from '../../src/core/hash.ts';
import type { NodeState } from '../../src/core/model.ts';
import { newDaemonPod } from '../../src/core/pod-template.ts';
import { allowsSurge, updateBudget } from '../../src/core/budget.ts';
import { findUpdatedPodsOnNode, planRollingUpdate, type RollingUpdatePlan } from '../../src/core/rollout.ts';
import {
  at,
  deletedNodeState,
  merge,
  newDaemonSet,
  newDaemonSetPod,
  newNode,
  nodeState,
  readyCondition,
  T0,
  taint,
  updatedDaemonSet,
  withRollingUpdate,
  type DeepPartial,
} from '../support/builders.ts';

const strategy = (rollingUpdate: { maxSurge?: number | string; maxUnavailable?: number | string } | undefined, type?: string): V1DaemonSet =>
  merge(newDaemonSet('fluentd'), { spec: { updateStrategy: { type, rollingUpdate } } });

describe('updateBudget', () => {
  it.each([
    { name: 'API server defaults (maxUnavailable 1, maxSurge 0)', ds: newDaemonSet('fluentd'), desired: 5, want: { maxUnavailable: 1, maxSurge: 0 } },
    // Robust to objects that did not go through the API server's defaulting.
    { name: 'no updateStrategy at all: RollingUpdate defaults', ds: merge(newDaemonSet('fluentd'), { spec: { updateStrategy: undefined } }), desired: 5, want: { maxUnavailable: 1, maxSurge: 0 } },
    { name: 'no rollingUpdate: defaults', ds: strategy(undefined), desired: 5, want: { maxUnavailable: 1, maxSurge: 0 } },
    { name: 'missing maxUnavailable: 1', ds: strategy({ maxSurge: 0 }), desired: 5, want: { maxUnavailable: 1, maxSurge: 0 } },
    { name: 'nil maxSurge counts as 0', ds: strategy({ maxUnavailable: 2 }), desired: 5, want: { maxUnavailable: 2, maxSurge: 0 } },
    { name: 'integers as given', ds: strategy({ maxUnavailable: 3, maxSurge: 0 }), desired: 5, want: { maxUnavailable: 3, maxSurge: 0 } },
    { name: 'integer larger than desired kept as is', ds: strategy({ maxUnavailable: 10 }), desired: 5, want: { maxUnavailable: 10, maxSurge: 0 } },
    { name: 'percentage exact: 20% of 5 = 1', ds: strategy({ maxUnavailable: '20%' }), desired: 5, want: { maxUnavailable: 1, maxSurge: 0 } },
    // Rounded UP, unlike a Deployment's maxUnavailable.
    { name: 'percentage rounds up: 30% of 5 = 2', ds: strategy({ maxUnavailable: '30%' }), desired: 5, want: { maxUnavailable: 2, maxSurge: 0 } },
    { name: 'percentage rounds up: 1% of 101 = 2', ds: strategy({ maxUnavailable: '1%' }), desired: 101, want: { maxUnavailable: 2, maxSurge: 0 } },
    { name: 'percentage rounds up: 10% of 1 = 1', ds: strategy({ maxUnavailable: '10%' }), desired: 1, want: { maxUnavailable: 1, maxSurge: 0 } },
    { name: '100% of 7 = 7', ds: strategy({ maxUnavailable: '100%' }), desired: 7, want: { maxUnavailable: 7, maxSurge: 0 } },
    { name: 'maxSurge percentage rounds up: 25% of 10 = 3', ds: strategy({ maxUnavailable: 0, maxSurge: '25%' }), desired: 10, want: { maxUnavailable: 0, maxSurge: 3 } },
    { name: 'maxSurge integer', ds: strategy({ maxUnavailable: 0, maxSurge: 2 }), desired: 10, want: { maxUnavailable: 0, maxSurge: 2 } },
    // An impossible configuration (validation refuses it) falls back to one unavailable pod.
    { name: 'both 0 with desired > 0: maxUnavailable 1', ds: strategy({ maxUnavailable: 0, maxSurge: 0 }), desired: 3, want: { maxUnavailable: 1, maxSurge: 0 } },
    { name: 'both 0% with desired > 0: maxUnavailable 1', ds: strategy({ maxUnavailable: '0%', maxSurge: '0%' }), desired: 3, want: { maxUnavailable: 1, maxSurge: 0 } },
    { name: 'both 0 with desired 0: stays 0', ds: strategy({ maxUnavailable: 0, maxSurge: 0 }), desired: 0, want: { maxUnavailable: 0, maxSurge: 0 } },
    { name: 'percentage of desired 0 is 0', ds: strategy({ maxUnavailable: '50%' }), desired: 0, want: { maxUnavailable: 0, maxSurge: 0 } },
    // SurgeCount(ds, 0): a percentage maxSurge of no desired node is 0, so the rollout takes the maxSurge 0 branch.
    { name: 'maxSurge percentage of desired 0 is 0', ds: strategy({ maxUnavailable: 0, maxSurge: '50%' }), desired: 0, want: { maxUnavailable: 0, maxSurge: 0 } },
    { name: 'OnDelete: no budget', ds: strategy({ maxUnavailable: 3, maxSurge: 1 }, 'OnDelete'), desired: 5, want: { maxUnavailable: 0, maxSurge: 0 } },
  ])('$name', ({ ds, desired, want }) => expect(updateBudget(ds, desired)).toEqual(want));

  it.each([
    { name: 'a plain number string is not a percentage', value: '5' },
    { name: 'non-numeric percentage', value: 'abc%' },
    { name: 'fractional percentage', value: '2.5%' },
  ])('invalid: $name', ({ value }) => {
    expect(updateBudget(strategy({ maxUnavailable: value }), 5)).toMatchObject({ maxUnavailable: 0, maxSurge: 0, invalid: expect.stringContaining('maxUnavailable') });
    expect(updateBudget(strategy({ maxUnavailable: 0, maxSurge: value }), 5).invalid).toContain('maxSurge');
  });
});

describe('allowsSurge', () => {
  it.each([
    { name: 'maxSurge 1', ds: strategy({ maxUnavailable: 0, maxSurge: 1 }), want: true },
    // SurgeCount(ds, 1): any positive percentage rounds up to 1.
    { name: 'maxSurge 10%', ds: strategy({ maxUnavailable: 0, maxSurge: '10%' }), want: true },
    { name: 'maxSurge 0', ds: strategy({ maxUnavailable: 1, maxSurge: 0 }), want: false },
    { name: 'maxSurge 0%', ds: strategy({ maxUnavailable: 1, maxSurge: '0%' }), want: false },
    { name: 'maxSurge missing', ds: strategy({ maxUnavailable: 1 }), want: false },
    { name: 'OnDelete, even with a maxSurge', ds: strategy({ maxSurge: 1 }, 'OnDelete'), want: false },
    { name: 'invalid maxSurge', ds: strategy({ maxSurge: '1' }), want: false },
  ])('$name', ({ ds, want }) => expect(allowsSurge(ds)).toBe(want));
});

const v1 = newDaemonSet('fluentd');
const v2 = updatedDaemonSet(v1, 'registry.k8s.io/pause:3.11');
const hash = revisionHash(v2);
const notReady = { status: { conditions: [readyCondition(T0, 'False')] } };
const failedPod = { status: { phase: 'Failed', conditions: [readyCondition(T0, 'False')] } };

/** A pod of `ds` on `node` named `<prefix>-<node>`. */
function podOf(ds: V1DaemonSet, prefix: string, node: string, overrides: DeepPartial<V1Pod> = {}): V1Pod {
  return newDaemonSetPod(ds, node, { ...overrides, metadata: { name: `${prefix}-${node}`, uid: `uid-${prefix}-${node}`, ...overrides.metadata } });
}
/** Ready for an hour unless overridden, so Available whatever the minReadySeconds. */
const longReady = (overrides: DeepPartial<V1Pod> = {}) => merge<DeepPartial<V1Pod>>({ status: { conditions: [readyCondition(at(-3600))] } }, overrides);
const oldPod = (node: string, overrides?: DeepPartial<V1Pod>) => podOf(v1, 'old', node, longReady(overrides));
const newPod = (node: string, overrides?: DeepPartial<V1Pod>) => podOf(v2, 'new', node, longReady(overrides));

describe('findUpdatedPodsOnNode', () => {
  const generation = '2';
  const names = (found: ReturnType<typeof findUpdatedPodsOnNode>) =>
    found.ok ? { ok: true, newPod: found.newPod?.metadata?.name, oldPod: found.oldPod?.metadata?.name } : { ok: false };
  it.each([
    { name: 'no pods', pods: [], want: { ok: true } },
    { name: 'one new pod', pods: [newPod('n1')], want: { ok: true, newPod: 'new-n1' } },
    { name: 'one old pod', pods: [oldPod('n1')], want: { ok: true, oldPod: 'old-n1' } },
    { name: 'one of each', pods: [oldPod('n1'), newPod('n1')], want: { ok: true, newPod: 'new-n1', oldPod: 'old-n1' } },
    { name: 'two new pods: not ok', pods: [newPod('n1'), newPod('n1', { metadata: { name: 'new-2' } })], want: { ok: false } },
    { name: 'two old pods: not ok', pods: [oldPod('n1'), oldPod('n1', { metadata: { name: 'old-2' } })], want: { ok: false } },
    // Terminating pods are ignored altogether.
    { name: 'terminating pods ignored', pods: [oldPod('n1', { metadata: { deletionTimestamp: at(-1) } }), newPod('n1'), newPod('n1', { metadata: { name: 'new-t', deletionTimestamp: at(-1) } })], want: { ok: true, newPod: 'new-n1' } },
    // IsPodUpdated: the template generation label alone makes a pod new (backward compatibility).
    { name: 'template generation label alone: new', pods: [oldPod('n1', { metadata: { labels: { app: 'fluentd', 'pod-template-generation': '2' } } })], want: { ok: true, newPod: 'old-n1' } },
  ])('$name', ({ pods, want }) => expect(names(findUpdatedPodsOnNode(pods, hash, generation))).toEqual(want));
});

/** A plan in the shape of upstream's `expectSyncDaemonSets`: nodes created on, pods deleted (force marked). */
function outline(plan: RollingUpdatePlan) {
  return {
    creates: plan.creates.map((a) => a.nodeName),
    deletes: plan.deletes.map((a) => (a.gracePeriodSeconds === undefined ? a.pod.name : `${a.pod.name} (force)`)),
  };
}

interface Row {
  name: string;
  ds?: V1DaemonSet;
  nodes: NodeState[];
  want: { creates?: string[]; deletes?: string[] };
}

const oldOn = (...names: string[]) => names.map((n) => nodeState(n, [oldPod(n)]));
const newOn = (...names: string[]) => names.map((n) => nodeState(n, [newPod(n)]));

describe('planRollingUpdate, maxSurge 0', () => {
  const unavailable = (n: number | string) => withRollingUpdate(v2, { maxUnavailable: n, maxSurge: 0 });
  const logsOnly = merge(v2, { spec: { template: { spec: { nodeSelector: { role: 'logs' } } } } });
  const logsNode = (name: string) => newNode(name, { metadata: { labels: { role: 'logs' } } });
  const rows: Row[] = [
    { name: 'all updated and available: nothing', nodes: newOn('n1', 'n2', 'n3'), want: {} },
    // Deterministic order: the budget goes to nodes in name order.
    { name: 'maxUnavailable 1: the first old pod by node name', nodes: oldOn('n3', 'n1', 'n2'), want: { deletes: ['old-n1'] } },
    { name: 'maxUnavailable 2 of 3 nodes', ds: unavailable(2), nodes: oldOn('n1', 'n2', 'n3'), want: { deletes: ['old-n1', 'old-n2'] } },
    { name: 'maxUnavailable larger than the candidates', ds: unavailable(5), nodes: oldOn('n1', 'n2'), want: { deletes: ['old-n1', 'old-n2'] } },
    { name: 'maxUnavailable 50% of 3 rounds up to 2', ds: unavailable('50%'), nodes: oldOn('n1', 'n2', 'n3'), want: { deletes: ['old-n1', 'old-n2'] } },
    // #123232: an old pod that is not available is replaced whatever the budget, and it uses the budget up.
    {
      name: 'old pod not available: deleted regardless of budget, and counts unavailable',
      nodes: [...oldOn('n1', 'n2'), nodeState('n3', [oldPod('n3', notReady)])],
      want: { deletes: ['old-n3'] },
    },
    {
      name: 'several old pods not available: all deleted though maxUnavailable is 1',
      nodes: [nodeState('n1', [oldPod('n1', notReady)]), nodeState('n2', [oldPod('n2', notReady)]), ...oldOn('n3')],
      want: { deletes: ['old-n1', 'old-n2'] },
    },
    // A Failed pod not being deleted stays in the node's pods (only terminal pods being deleted are dropped); its Ready
    // condition is False, so it is an old pod that is not Available: replaced whatever the budget.
    {
      name: 'failed old pods not being deleted: all deleted though maxUnavailable is 1',
      nodes: [nodeState('n1', [oldPod('n1', failedPod)]), nodeState('n2', [oldPod('n2', failedPod)]), ...oldOn('n3')],
      want: { deletes: ['old-n1', 'old-n2'] },
    },
    { name: 'a new pod not ready counts unavailable: no more deletes', nodes: [nodeState('n1', [newPod('n1', notReady)]), ...oldOn('n2', 'n3')], want: {} },
    {
      name: 'a new pod Ready within minReadySeconds counts unavailable',
      ds: withRollingUpdate(v2, { maxUnavailable: 1, maxSurge: 0 }, 30),
      nodes: [nodeState('n1', [newPod('n1', { status: { conditions: [readyCondition(at(-10))] } })]), ...oldOn('n2')],
      want: {},
    },
    { name: 'a node without a pod counts unavailable', nodes: [nodeState('n1'), ...oldOn('n2', 'n3')], want: {} },
    { name: 'an old and a new pod on a node count unavailable', nodes: [nodeState('n1', [oldPod('n1'), newPod('n1')]), ...oldOn('n2')], want: {} },
    { name: 'duplicates count unavailable', nodes: [nodeState('n1', [oldPod('n1'), oldPod('n1', { metadata: { name: 'old-n1-b' } })]), ...oldOn('n2')], want: {} },
    // A node whose only pod is terminating has no pod as far as the rollout is concerned.
    { name: 'node with only a terminating pod counts unavailable', nodes: [nodeState('n1', [oldPod('n1', { metadata: { deletionTimestamp: at(-1) } })]), ...oldOn('n2')], want: {} },
    { name: 'terminating old pod next to an available new one: ignored', nodes: [nodeState('n1', [oldPod('n1', { metadata: { deletionTimestamp: at(-1) } }), newPod('n1')]), ...oldOn('n2')], want: { deletes: ['old-n2'] } },
    // Candidates are collected only while the running count is below the budget; a later unavailable node can still
    // take the budget they were collected under.
    { name: 'budget used by a node later in order: no candidate deleted', nodes: [...oldOn('n1'), nodeState('n2')], want: {} },
    // A node that should not run the pod and has no pod is not in upstream's map: it counts for nothing.
    { name: 'ineligible node without pods does not count', ds: logsOnly, nodes: [nodeState(logsNode('n1'), [oldPod('n1')]), nodeState('n2')], want: { deletes: ['old-n1'] } },
    // Upstream's maxSurge 0 branch does not look at eligibility: an old pod kept on a NoSchedule-tainted node is a
    // candidate like any other (and is not recreated there afterwards).
    { name: 'old pod on a NoSchedule-tainted node: a candidate', nodes: [nodeState(newNode('n1', { spec: { taints: [taint('maint', 'NoSchedule')] } }), [oldPod('n1')])], want: { deletes: ['old-n1'] } },
    // `updatedDesiredNodeCounts`: maxSurge 50% of 0 desired nodes is 0 (and maxUnavailable 0 is not raised to 1), so this
    // branch runs: the available old pod kept on the NoSchedule node is no candidate. The surge branch would delete it
    // (more available than desired).
    {
      name: 'maxSurge 50% with no desired node: this branch, the old pod stays',
      ds: withRollingUpdate(v2, { maxUnavailable: 0, maxSurge: '50%' }),
      nodes: [nodeState(newNode('n1', { spec: { taints: [taint('maint', 'NoSchedule')] } }), [oldPod('n1')])],
      want: {},
    },
    { name: 'OnDelete: nothing', ds: merge(v2, { spec: { updateStrategy: { type: 'OnDelete', rollingUpdate: undefined } } }), nodes: oldOn('n1', 'n2'), want: {} },
    { name: 'DaemonSet being deleted: nothing', ds: merge(v2, { metadata: { deletionTimestamp: at(-1) } }), nodes: oldOn('n1', 'n2'), want: {} },
    { name: 'invalid maxUnavailable: nothing', ds: unavailable('1'), nodes: oldOn('n1', 'n2'), want: {} },
    { name: 'pods of other DaemonSets are not ours', nodes: [nodeState('n1', [podOf(newDaemonSet('other'), 'other', 'n1')]), ...oldOn('n2')], want: {} },
  ];
  it.each(rows)('$name', ({ ds = v2, nodes, want }) => {
    const plan = planRollingUpdate(ds, nodes, revisionHash(ds), T0);
    expect(outline(plan)).toEqual({ creates: [], deletes: [], ...want });
  });

  it('says why, with the numbers, and deletes through plain delete actions', () => {
    const plan = planRollingUpdate(v2, [nodeState('n1', [oldPod('n1', notReady)]), ...oldOn('n2')], hash, T0);
    expect(plan.deletes).toEqual([
      {
        kind: 'delete',
        daemonSet: { namespace: 'default', name: 'fluentd', uid: 'ds-uid-fluentd' },
        nodeName: 'n1',
        pod: { namespace: 'default', name: 'old-n1', uid: 'uid-old-n1' },
        why: 'rolling update: old pod is not available, replaced regardless of maxUnavailable',
      },
    ]);
    expect(planRollingUpdate(v2, oldOn('n1', 'n2'), hash, T0).deletes[0]?.why).toBe('rolling update: replacing old pod (maxUnavailable 1, unavailable 0)');
    expect(plan.summary).toBe('rolling update, maxUnavailable 1 of 2: 1 unavailable; 1 unavailable old pod(s) replaced, 0 of 0 candidate(s) deleted');
    expect(plan).toMatchObject({ desired: 2, budget: { maxUnavailable: 1, maxSurge: 0 } });
  });

  it('asks to be called again when a Ready pod becomes Available (minReadySeconds + 1 s)', () => {
    const ds = withRollingUpdate(v2, { maxUnavailable: 1, maxSurge: 0 }, 30);
    const nodes = [nodeState('n1', [newPod('n1', { status: { conditions: [readyCondition(at(-10))] } })]), ...oldOn('n2')];
    expect(planRollingUpdate(ds, nodes, revisionHash(ds), T0).requeueAfterSeconds).toBe(21);
    expect(planRollingUpdate(v2, oldOn('n1'), hash, T0).requeueAfterSeconds).toBeUndefined();
  });
});

describe('planRollingUpdate, maxSurge > 0', () => {
  const surge = (maxSurge: number | string, minReadySeconds?: number) => withRollingUpdate(v2, { maxUnavailable: 0, maxSurge }, minReadySeconds);
  const s1 = surge(1);
  // v2 restricted to nodes labelled role=logs: n3 below is no longer targeted.
  const logsOnly = merge(s1, { spec: { template: { spec: { nodeSelector: { role: 'logs' } } } } });
  const logsNode = (name: string) => newNode(name, { metadata: { labels: { role: 'logs' } } });
  const logsOld = (name: string, o?: DeepPartial<V1Pod>) => nodeState(logsNode(name), [oldPod(name, o)]);
  const logsNew = (name: string, o?: DeepPartial<V1Pod>) => nodeState(logsNode(name), [podOf(logsOnly, 'new', name, o)]);
  const rows: Row[] = [
    { name: 'maxSurge 1: one new pod, on the first node by name', ds: s1, nodes: oldOn('n2', 'n1', 'n3'), want: { creates: ['n1'] } },
    { name: 'maxSurge 2: two new pods', ds: surge(2), nodes: oldOn('n1', 'n2', 'n3'), want: { creates: ['n1', 'n2'] } },
    { name: 'maxSurge 50% of 3 rounds up to 2', ds: surge('50%'), nodes: oldOn('n1', 'n2', 'n3'), want: { creates: ['n1', 'n2'] } },
    // An old pod that is not available gets its replacement at once, outside the surge budget.
    { name: 'old pod not available: new pod created at once', ds: s1, nodes: [...oldOn('n1', 'n2'), nodeState('n3', [oldPod('n3', notReady)])], want: { creates: ['n3', 'n1'] } },
    { name: 'surging node with a new pod not yet available uses the budget', ds: s1, nodes: [nodeState('n1', [oldPod('n1'), newPod('n1', notReady)]), ...oldOn('n2')], want: {} },
    {
      name: 'new pod Ready within minReadySeconds: still surging',
      ds: surge(1, 30),
      nodes: [nodeState('n1', [oldPod('n1'), podOf(surge(1, 30), 'new', 'n1', { status: { conditions: [readyCondition(at(-10))] } })]), ...oldOn('n2')],
      want: {},
    },
    {
      name: 'new pod Available past minReadySeconds: old deleted, next node surged',
      ds: surge(1, 30),
      nodes: [nodeState('n1', [oldPod('n1'), podOf(surge(1, 30), 'new', 'n1', { status: { conditions: [readyCondition(at(-31))] } })]), ...oldOn('n2')],
      want: { creates: ['n2'], deletes: ['old-n1'] },
    },
    { name: 'new pod available: old pod deleted', ds: s1, nodes: [nodeState('n1', [oldPod('n1'), newPod('n1')])], want: { deletes: ['old-n1'] } },
    { name: 'only new pods: nothing', ds: s1, nodes: newOn('n1', 'n2'), want: {} },
    { name: 'node without a pod: left to the per-node plan', ds: s1, nodes: [nodeState('n1'), ...oldOn('n2')], want: { creates: ['n2'] } },
    { name: 'duplicates count as surging', ds: s1, nodes: [nodeState('n1', [oldPod('n1'), oldPod('n1', { metadata: { name: 'old-n1-b' } })]), ...oldOn('n2')], want: {} },
    // Pods on nodes no longer targeted go only once more pods are available than desired (2 here).
    { name: 'untargeted node: old pod deleted once enough are available', ds: logsOnly, nodes: [logsNew('n1'), logsNew('n2'), nodeState('n3', [oldPod('n3')])], want: { deletes: ['old-n3'] } },
    { name: 'untargeted node: old pod kept while too few are available', ds: logsOnly, nodes: [logsNew('n1', notReady), logsNew('n2'), nodeState('n3', [oldPod('n3')])], want: {} },
    // n3's available old pod is no surge candidate; it goes because 2 pods are available and 1 is desired.
    { name: 'untargeted node: available old pod not surged, deleted when enough are available', ds: logsOnly, nodes: [logsOld('n1'), nodeState('n3', [oldPod('n3')])], want: { creates: ['n1'], deletes: ['old-n3'] } },
    { name: 'untargeted node: old pod not available deleted at once', ds: logsOnly, nodes: [logsOld('n1'), nodeState('n3', [oldPod('n3', notReady)])], want: { creates: ['n1'], deletes: ['old-n3'] } },
    // `findUpdatedPodsOnNode` ignores terminating pods in this branch too: n1 is not surging (n2 gets the budget), and a
    // node whose only pod is terminating has nothing to surge.
    { name: 'terminating old pod next to a new one not yet available: not surging', ds: s1, nodes: [nodeState('n1', [oldPod('n1', { metadata: { deletionTimestamp: at(-1) } }), newPod('n1', notReady)]), ...oldOn('n2')], want: { creates: ['n2'] } },
    { name: 'only a terminating old pod: nothing', ds: s1, nodes: [nodeState('n1', [oldPod('n1', { metadata: { deletionTimestamp: at(-1) } })])], want: {} },
    // An untolerated NoSchedule taint makes shouldRun false, as a selector does: n1's available old pod is no surge
    // candidate but a should-not-run pod, deleted as 2 are available and 1 is desired; n2 gets the surge.
    { name: 'NoSchedule-tainted node: available old pod not surged, deleted when enough are available', ds: s1, nodes: [nodeState(newNode('n1', { spec: { taints: [taint('maint', 'NoSchedule')] } }), [oldPod('n1')]), ...oldOn('n2')], want: { creates: ['n2'], deletes: ['old-n1'] } },
    // A vanished node counts as one that should not run the pod; its bound pod can only be force-deleted.
    { name: 'deleted node: old pod not available force-deleted', ds: s1, nodes: [deletedNodeState('n0', [oldPod('n0', notReady)]), ...oldOn('n1')], want: { creates: ['n1'], deletes: ['old-n0 (force)'] } },
  ];
  it.each(rows)('$name', ({ ds = s1, nodes, want }) => {
    const plan = planRollingUpdate(ds, nodes, revisionHash(ds), T0);
    expect(outline(plan)).toEqual({ creates: [], deletes: [], ...want });
  });

  it('creates exactly the pod newDaemonPod builds for the new revision, saying why', () => {
    const plan = planRollingUpdate(s1, [nodeState('n1', [oldPod('n1', notReady)]), ...oldOn('n2')], revisionHash(s1), T0);
    expect(plan.creates).toEqual([
      {
        kind: 'create',
        daemonSet: { namespace: 'default', name: 'fluentd', uid: 'ds-uid-fluentd' },
        nodeName: 'n1',
        pod: newDaemonPod(s1, 'n1', revisionHash(s1)),
        why: 'rolling update (surge): old pod is not available, new pod created regardless of maxSurge',
      },
      {
        kind: 'create',
        daemonSet: { namespace: 'default', name: 'fluentd', uid: 'ds-uid-fluentd' },
        nodeName: 'n2',
        pod: newDaemonPod(s1, 'n2', revisionHash(s1)),
        why: 'rolling update (surge): new pod next to the old one (maxSurge 1, surging 0)',
      },
    ]);
    // The new pod's name differs from the old one's (another revision hash), so it can be created next to it.
    expect(plan.creates[0]?.pod.metadata?.name).not.toBe(newDaemonPod(v1, 'n1', revisionHash(v1)).metadata?.name);
    expect(plan.summary).toBe('rolling update, maxSurge 1 of 2: 0 surging, 1 available; 1 replacement(s) for unavailable old pods, 1 of 1 candidate(s) surged, 0 old pod(s) deleted');
  });
});
