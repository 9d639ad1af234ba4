import type { V1DaemonSet, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { revisionHash } from '../../src/core/hash.ts';
import { defaultPlanOptions, type Action, type BackoffState, type NodeState, type Plan } from '../../src/core/model.ts';
import { newDaemonPod } from '../../src/core/pod-template.ts';
import { eventForAction } from '../../src/core/events.ts';
import { backoffKey } from '../../src/core/backoff.ts';
import { planNode, planSnapshot, planTargetlessAdoptions } from '../../src/core/plan.ts';
import {
  at,
  deletedNodeState,
  newDaemonSet,
  newDaemonSetPod,
  newNode,
  newPod,
  nodeState,
  readyCondition,
  T0,
  taint,
  updatedDaemonSet,
  withRollingUpdate,
  merge,
  type DeepPartial,
} from '../support/builders.ts';

/** What a plan does, in the shape of upstream's `expectSyncDaemonSets(creates, deletes, events)`. */
function outline(plan: Plan) {
  const of = <K extends Action['kind']>(kind: K) => plan.actions.filter((a): a is Extract<Action, { kind: K }> => a.kind === kind);
  return {
    creates: of('create').map((a) => a.nodeName),
    deletes: of('delete').map((a) => (a.gracePeriodSeconds === undefined ? a.pod.name : `${a.pod.name} (force)`)),
    adopts: of('adopt').map((a) => a.pod.name),
    releases: of('release').map((a) => a.pod.name),
    backoff: of('recordBackoff').map((a) => a.state.delaySeconds),
    events: plan.events.map((e) => `${e.type} ${e.reason}`),
    requeueAfterSeconds: plan.requeueAfterSeconds,
  };
}
type Outline = ReturnType<typeof outline>;
const nothing: Outline = { creates: [], deletes: [], adopts: [], releases: [], backoff: [], events: [], requeueAfterSeconds: undefined };

// Synced: the status has observed the generation (the failed-pod backoff is keyed by it, as upstream's).
const ds = newDaemonSet('fluentd', { status: { observedGeneration: 1 } });
const pod = (name: string, overrides: Parameters<typeof newDaemonSetPod>[2] = {}) =>
  newDaemonSetPod(ds, 'node-1', { ...overrides, metadata: { name, uid: `uid-${name}`, ...overrides.metadata } });
const failed = (name: string) => pod(name, { status: { phase: 'Failed', conditions: [] } });
const backoff = (lastDeletion: Date, delaySeconds: number, generation = 1): BackoffState => ({ lastDeletion, delaySeconds, generation });

interface Row {
  name: string;
  ds?: V1DaemonSet;
  state: NodeState;
  backoff?: BackoffState;
  want: Partial<Outline>;
}

const rows: Row[] = [
  // Creation
  { name: 'eligible node without a pod: create one', state: nodeState('node-1'), want: { creates: ['node-1'] } },
  { name: 'one running pod: nothing to do', state: nodeState('node-1', [pod('a')]), want: {} },
  // An unbound pod aimed at the node by affinity already counts: no second create while the scheduler binds it.
  { name: 'unbound pod waiting for the scheduler counts', state: nodeState('node-1', [pod('a', { spec: { nodeName: undefined }, status: { phase: 'Pending' } })]), want: {} },
  { name: 'pods aimed at other nodes are not this node’s', state: nodeState('node-1', [newDaemonSetPod(ds, 'node-2')]), want: { creates: ['node-1'] } },

  // Duplicates
  {
    // Scheduled pods sort before unbound ones even when younger; then older first.
    name: 'duplicates: keep the oldest scheduled pod, delete the rest',
    state: nodeState('node-1', [
      pod('unbound-oldest', { metadata: { creationTimestamp: at(-100) }, spec: { nodeName: undefined } }),
      pod('bound-newer', { metadata: { creationTimestamp: at(10) } }),
      pod('bound-old', { metadata: { creationTimestamp: at(0) } }),
    ]),
    want: { deletes: ['bound-newer', 'unbound-oldest'] },
  },
  { name: 'duplicates with equal timestamps: lower name kept', state: nodeState('node-1', [pod('b'), pod('a'), pod('c')]), want: { deletes: ['b', 'c'] } },

  // Failed pods and the backoff. A terminal pod deleted now counts for nothing once deleted (upstream's next sync
  // creates the replacement); the replacement is created in the same pass, after the delete.
  { name: 'failed pod, no backoff yet: delete it, back off 1 s', state: nodeState('node-1', [failed('f')]), want: { deletes: ['f'], creates: ['node-1'], backoff: [1], events: ['Warning FailedDaemonPod'] } },
  { name: 'failed pod inside the backoff: wait and requeue for the rest', state: nodeState('node-1', [failed('f')]), backoff: backoff(at(-0.25), 1), want: { requeueAfterSeconds: 0.75 } },
  { name: 'failed pod after the backoff: delete it, delay doubles', state: nodeState('node-1', [failed('f')]), backoff: backoff(at(-2), 1), want: { deletes: ['f'], creates: ['node-1'], backoff: [2], events: ['Warning FailedDaemonPod'] } },
  { name: 'delay doubling reaches the 15 min cap', state: nodeState('node-1', [failed('f')]), backoff: backoff(at(-601), 600), want: { deletes: ['f'], creates: ['node-1'], backoff: [900], events: ['Warning FailedDaemonPod'] } },
  { name: 'delay stays at the 15 min cap', state: nodeState('node-1', [failed('f')]), backoff: backoff(at(-901), 900), want: { deletes: ['f'], creates: ['node-1'], backoff: [900], events: ['Warning FailedDaemonPod'] } },
  // Upstream's flowcontrol.Backoff forgets an entry untouched for more than 2 × max: the delay starts over.
  { name: 'backoff untouched for over 30 min starts over', state: nodeState('node-1', [failed('f')]), backoff: backoff(at(-1801), 900), want: { deletes: ['f'], creates: ['node-1'], backoff: [1], events: ['Warning FailedDaemonPod'] } },
  // A new DaemonSet generation, once a pass has synced it (status.observedGeneration, upstream's key), resets the
  // backoff, even inside the old window; before that the old backoff still holds.
  { name: 'new generation resets the backoff', ds: newDaemonSet('fluentd', { metadata: { generation: 2 }, status: { observedGeneration: 2 } }), state: nodeState('node-1', [failed('f')]), backoff: backoff(at(-1), 600, 1), want: { deletes: ['f'], creates: ['node-1'], backoff: [1], events: ['Warning FailedDaemonPod'] } },
  { name: 'new generation not yet synced: the backoff holds', ds: newDaemonSet('fluentd', { metadata: { generation: 2 }, status: { observedGeneration: 1 } }), state: nodeState('node-1', [failed('f')]), backoff: backoff(at(-1), 600, 1), want: { requeueAfterSeconds: 599 } },
  // The first deletion starts a backoff that the second failed pod then waits for (upstream deletes one per pass).
  { name: 'two failed pods: one deleted, the other waits', state: nodeState('node-1', [failed('f1'), failed('f2')]), want: { deletes: ['f1'], backoff: [1], events: ['Warning FailedDaemonPod'], requeueAfterSeconds: 1 } },
  { name: 'failed and running pod: failed deleted, running kept', state: nodeState('node-1', [failed('f'), pod('r')]), want: { deletes: ['f'], backoff: [1], events: ['Warning FailedDaemonPod'] } },

  // Succeeded pods
  { name: 'succeeded pod: deleted at once, no backoff', state: nodeState('node-1', [pod('s', { status: { phase: 'Succeeded' } })]), backoff: backoff(at(0), 900), want: { deletes: ['s'], creates: ['node-1'], events: ['Normal SucceededDaemonPod'] } },

  // Terminating pods
  // A terminating pod still "exists": nothing is created until it is gone (no surge), and it is not deleted again.
  { name: 'only a terminating pod: no create, no delete', state: nodeState('node-1', [pod('t', { metadata: { deletionTimestamp: at(-5) } })]), want: {} },
  { name: 'terminating pod not counted as a duplicate', state: nodeState('node-1', [pod('t', { metadata: { deletionTimestamp: at(-5) } }), pod('r')]), want: {} },
  // A Failed pod that is being deleted is dropped altogether, so the node counts as empty.
  { name: 'failed pod being deleted: dropped, replacement created', state: nodeState('node-1', [pod('f', { metadata: { deletionTimestamp: at(-5) }, status: { phase: 'Failed' } })]), want: { creates: ['node-1'] } },

  // Node gone
  {
    // Deviation from upstream (PodGC after 40 s for bound pods): all go at once, bound ones force-deleted.
    name: 'node deleted: bound and unbound pods deleted',
    state: deletedNodeState('node-1', [pod('bound'), pod('unbound', { spec: { nodeName: undefined } })]),
    want: { deletes: ['bound (force)', 'unbound'] },
  },
  {
    // No kubelet can confirm a graceful deletion on a vanished node, so a terminating bound pod is force-deleted;
    // an unbound terminating pod needs nothing more.
    name: 'node deleted: terminating bound pod forced, terminating unbound left',
    state: deletedNodeState('node-1', [pod('bound', { metadata: { deletionTimestamp: at(-5) } }), pod('unbound', { metadata: { deletionTimestamp: at(-5) }, spec: { nodeName: undefined } })]),
    want: { deletes: ['bound (force)'] },
  },
  { name: 'node deleted, no pods: nothing', state: deletedNodeState('node-1'), want: {} },

  // Node no longer qualifies
  {
    name: 'nodeSelector no longer matches: delete all pods not terminating',
    ds: newDaemonSet('fluentd', { spec: { template: { spec: { nodeSelector: { role: 'logs' } } } } }),
    state: nodeState('node-1', [pod('a'), pod('b', { status: { phase: 'Failed' } }), pod('t', { metadata: { deletionTimestamp: at(-5) } })]),
    want: { deletes: ['a', 'b'] },
  },
  { name: 'untolerated NoExecute taint: pod deleted', state: nodeState(newNode('node-1', { spec: { taints: [taint('maint', 'NoExecute')] } }), [pod('a')]), want: { deletes: ['a'] } },
  { name: 'untolerated NoSchedule taint: existing pod kept', state: nodeState(newNode('node-1', { spec: { taints: [taint('maint', 'NoSchedule')] } }), [pod('a')]), want: {} },
  { name: 'untolerated NoSchedule taint, no pod: nothing created', state: nodeState(newNode('node-1', { spec: { taints: [taint('maint', 'NoSchedule')] } })), want: {} },
  {
    name: 'untolerated NoSchedule taint: a pod the scheduler never bound is deleted (it cannot start; beyond upstream)',
    state: nodeState(newNode('node-1', { spec: { taints: [taint('maint', 'NoSchedule')] } }), [pod('pending', { spec: { nodeName: undefined }, status: { phase: 'Pending', conditions: [] } })]),
    want: { deletes: ['pending'] },
  },
  // shouldContinueRunning still handles failed pods and duplicates on a NoSchedule node.
  {
    name: 'untolerated NoSchedule taint: failed pod still deleted',
    state: nodeState(newNode('node-1', { spec: { taints: [taint('maint', 'NoSchedule')] } }), [failed('f')]),
    want: { deletes: ['f'], backoff: [1], events: ['Warning FailedDaemonPod'] },
  },

  // Ownership
  { name: 'orphan matching the selector: adopted, no create', state: nodeState('node-1', [pod('orphan', { metadata: { ownerReferences: undefined } })]), want: { adopts: ['orphan'] } },
  {
    name: 'pod owned by another controller: ignored, ours created',
    state: nodeState('node-1', [pod('foreign', { metadata: { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'x', uid: 'other', controller: true }] } })]),
    want: { creates: ['node-1'] },
  },
  // Once released the pod is no longer ours, so the node has none and gets a fresh one.
  { name: 'owned pod whose labels no longer match: released, replaced', state: nodeState('node-1', [pod('relabelled', { metadata: { labels: { app: 'debug' } } })]), want: { releases: ['relabelled'], creates: ['node-1'] } },

  // Early exits
  { name: 'DaemonSet being deleted: nothing', ds: newDaemonSet('fluentd', { metadata: { deletionTimestamp: at(-1) } }), state: nodeState('node-1', [pod('a'), pod('b')]), want: {} },
  { name: 'empty selector: nothing', ds: newDaemonSet('fluentd', { spec: { selector: { matchLabels: undefined } } }), state: nodeState('node-1'), want: {} },
];

describe('planNode', () => {
  it.each(rows)('$name', ({ ds: d = ds, state, backoff: b, want }) => {
    const plan = planNode(d, state, b, T0, defaultPlanOptions);
    expect(outline(plan)).toEqual({ ...nothing, ...want });
    expect(plan.decisions).toHaveLength(1);
  });

  it('creates exactly the pod newDaemonPod builds for the current revision', () => {
    const plan = planNode(ds, nodeState('node-1'), undefined, T0);
    expect(plan.actions).toEqual([
      {
        kind: 'create',
        daemonSet: { namespace: 'default', name: 'fluentd', uid: 'ds-uid-fluentd' },
        nodeName: 'node-1',
        pod: newDaemonPod(ds, 'node-1', revisionHash(ds)),
        why: 'node node-1 has no daemon pod',
      },
    ]);
  });

  it('records the backoff before deleting the failed pod, with the DaemonSet generation', () => {
    const d = newDaemonSet('fluentd', { metadata: { generation: 4 }, status: { observedGeneration: 4 } });
    const plan = planNode(d, nodeState('node-1', [newDaemonSetPod(d, 'node-1', { status: { phase: 'Failed' } })]), undefined, T0);
    expect(plan.actions.map((a) => a.kind)).toEqual(['recordBackoff', 'delete', 'create']);
    expect(plan.actions[0]).toMatchObject({ state: { lastDeletion: T0, delaySeconds: 1, generation: 4 } });
  });

  it.each([
    ['a Failed pod deleted now', { status: { phase: 'Failed' } }],
    ['a Failed pod kept by a finalizer', { metadata: { deletionTimestamp: at(-5), finalizers: ['example.com/keep'] }, status: { phase: 'Failed' } }],
    ['a Succeeded pod', { status: { phase: 'Succeeded' } }],
  ] as const)('the replacement of %s never takes its name, and every pass picks the same next name', (_name, overrides) => {
    const old = newDaemonSetPod(ds, 'node-1', overrides as DeepPartial<V1Pod>);
    const first = planNode(ds, nodeState('node-1', [old]), undefined, T0);
    const again = planNode(ds, nodeState('node-1', [old]), undefined, T0);
    const created = first.actions.find((a) => a.kind === 'create');
    expect(created?.pod.metadata?.name).toMatch(/^fluentd-[a-z0-9]{10}$/);
    expect(created?.pod.metadata?.name).not.toBe(old.metadata?.name);
    expect(again.actions.find((a) => a.kind === 'create')?.pod.metadata?.name).toBe(created?.pod.metadata?.name);
  });

  it('a failed pod still in its backoff blocks the replacement (upstream: it still exists)', () => {
    const plan = planNode(ds, nodeState('node-1', [failed('f')]), backoff(at(-0.5), 1), T0);
    expect(plan.actions).toEqual([]);
  });

  it('says why, in the action, the event and the decision', () => {
    const f = failed('f');
    const plan = planNode(ds, nodeState('node-1', [f]), undefined, T0);
    expect(plan.actions.find((a) => a.kind === 'delete')).toMatchObject({ why: 'pod failed', pod: { name: 'f', uid: 'uid-f' } });
    expect(plan.events[0]?.message).toBe('Found failed daemon pod default/f on node node-1, will try to kill it');
    expect(plan.decisions[0]).toMatchObject({ daemonSet: 'default/fluentd', nodeName: 'node-1', eligibility: { shouldRun: true } });
    expect(plan.decisions[0]?.summary).toContain('delete f (pod failed)');
  });

  it('names the blocking taint when the node no longer qualifies', () => {
    const state = nodeState(newNode('node-1', { spec: { taints: [taint('node.kubernetes.io/foo', 'NoExecute', 'bar')] } }), [pod('a')]);
    const plan = planNode(ds, state, undefined, T0);
    expect(plan.actions[0]).toMatchObject({ why: 'node no longer qualifies: taint node.kubernetes.io/foo=bar:NoExecute is not tolerated' });
  });

  it('honours configured backoff options', () => {
    const options = { failedPodBackoff: { initialSeconds: 10, maxSeconds: 15 } };
    expect(outline(planNode(ds, nodeState('node-1', [failed('f')]), undefined, T0, options)).backoff).toEqual([10]);
    expect(outline(planNode(ds, nodeState('node-1', [failed('f')]), backoff(at(-11), 10), T0, options)).backoff).toEqual([15]);
  });
});

describe('planNode with surge (RollingUpdate, maxSurge > 0)', () => {
  // v1 → v2 is a template change; the surge DaemonSet is v2 with maxSurge 1, maxUnavailable 0, minReadySeconds 30.
  const v1 = newDaemonSet('fluentd');
  const v2 = withRollingUpdate(updatedDaemonSet(v1, 'registry.k8s.io/pause:3.11'), { maxSurge: 1, maxUnavailable: 0 }, 30);
  const readyFor = (seconds: number) => ({ status: { phase: 'Running', conditions: [readyCondition(at(-seconds))] } });
  const notReady = { status: { phase: 'Running', conditions: [readyCondition(at(-60), 'False')] } };
  const named = (d: V1DaemonSet, name: string, overrides: Parameters<typeof newDaemonSetPod>[2] = {}) =>
    newDaemonSetPod(d, 'node-1', { ...readyFor(3600), ...overrides, metadata: { name, uid: `uid-${name}`, ...overrides.metadata } });
  const oldPod = (name: string, overrides: Parameters<typeof newDaemonSetPod>[2] = {}) => named(v1, name, overrides);
  const newPod = (name: string, overrides: Parameters<typeof newDaemonSetPod>[2] = {}) => named(v2, name, overrides);
  const terminating = { metadata: { deletionTimestamp: at(-5) } };

  const surgeRows: Row[] = [
    { name: 'no pod: create (as without surge)', state: nodeState('node-1'), want: { creates: ['node-1'] } },
    // The difference with surge: a pod that is going away does not hold the replacement back.
    { name: 'only a terminating pod: create at once', state: nodeState('node-1', [oldPod('t', terminating)]), want: { creates: ['node-1'] } },
    { name: 'only a failed pod: delete it and create at once', state: nodeState('node-1', [oldPod('f', { status: { phase: 'Failed', conditions: [] } })]), want: { creates: ['node-1'], deletes: ['f'], backoff: [1], events: ['Warning FailedDaemonPod'] } },
    { name: 'only a terminating pod on a NoSchedule node: nothing (shouldRun is false)', state: nodeState(newNode('node-1', { spec: { taints: [taint('maint', 'NoSchedule')] } }), [oldPod('t', terminating)]), want: {} },
    { name: 'one running old pod: nothing (the rolling update decides)', state: nodeState('node-1', [oldPod('old')]), want: {} },
    { name: 'one running new pod: nothing', state: nodeState('node-1', [newPod('new')]), want: {} },
    { name: 'old pod not ready: deleted, the new pod replaces it', state: nodeState('node-1', [oldPod('old', notReady), newPod('new', notReady)]), want: { deletes: ['old'] } },
    { name: 'new pod available: old pod deleted', state: nodeState('node-1', [oldPod('old'), newPod('new', readyFor(31))]), want: { deletes: ['old'] } },
    { name: 'new pod not ready: both kept', state: nodeState('node-1', [oldPod('old'), newPod('new', notReady)]), want: {} },
    // Available means Ready since at least minReadySeconds before now (upstream v1.37.2 `IsPodAvailable`: <=); until
    // then both stay, and the plan asks to be called again when the new pod turns Available (+1 s).
    { name: 'new pod Ready within minReadySeconds: both kept, requeue', state: nodeState('node-1', [oldPod('old'), newPod('new', readyFor(10))]), want: { requeueAfterSeconds: 21 } },
    { name: 'new pod Ready exactly minReadySeconds: available, old pod deleted', state: nodeState('node-1', [oldPod('old'), newPod('new', readyFor(30))]), want: { deletes: ['old'] } },
    {
      // Oldest first: new-a (older) and old-a are kept, the younger duplicates go; new-a is available, so old-a goes too.
      name: 'several new and old pods: keep the oldest of each, delete the rest',
      state: nodeState('node-1', [
        newPod('new-b', { metadata: { creationTimestamp: at(20) } }),
        oldPod('old-b', { metadata: { creationTimestamp: at(-10) } }),
        newPod('new-a', { ...readyFor(60), metadata: { creationTimestamp: at(10) } }),
        oldPod('old-a', { metadata: { creationTimestamp: at(-20) } }),
      ]),
      want: { deletes: ['old-b', 'new-b', 'old-a'] },
    },
    { name: 'two old pods, no new one: the younger deleted', state: nodeState('node-1', [oldPod('old-b', { metadata: { creationTimestamp: at(5) } }), oldPod('old-a')]), want: { deletes: ['old-b'] } },
    {
      // Unlike `isPodUpdated`, the surge branch looks at the revision hash only: a pod with the current template
      // generation but another hash is old.
      name: 'template generation label alone does not make a pod new here',
      state: nodeState('node-1', [oldPod('gen-only', { metadata: { labels: { app: 'fluentd', 'controller-revision-hash': 'other', 'pod-template-generation': '2' } } }), newPod('new', readyFor(60))]),
      want: { deletes: ['gen-only'] },
    },
    { name: 'terminating pods are not counted as running', state: nodeState('node-1', [oldPod('t', terminating), newPod('new', notReady)]), want: {} },
    // Beyond upstream (which keeps it and waits for ever, the surge budget spent): a new pod the scheduler has not
    // bound when the node stopped taking new pods can never start; it is deleted, the old pod stays.
    {
      name: 'NoSchedule node: an unbound surge pod is deleted, the old pod stays',
      state: nodeState(newNode('node-1', { spec: { taints: [taint('maint', 'NoSchedule')] } }), [oldPod('old'), newPod('pending', { spec: { nodeName: undefined }, status: { phase: 'Pending', conditions: [] } })]),
      want: { deletes: ['pending'] },
    },
    {
      name: 'NoSchedule node: a bound new pod is kept (it runs; the rolling update decides)',
      state: nodeState(newNode('node-1', { spec: { taints: [taint('maint', 'NoSchedule')] } }), [oldPod('old'), newPod('new', notReady)]),
      want: {},
    },
  ];
  it.each(surgeRows)('$name', ({ ds: d = v2, state, backoff: b, want }) => {
    const plan = planNode(d, state, b, T0, defaultPlanOptions);
    expect(outline(plan)).toEqual({ ...nothing, ...want });
  });

  // A current revision labelled "" (made by hand): upstream's pods then carry no hash label (`CreatePodTemplate`), and
  // the surge branch reads a missing label as "" (a Go map), so such a pod is the new one; a labelled pod is old.
  it('an empty revision hash: new pods carry no hash label, and a pod without one is new', () => {
    const unlabelled = newPod('unlabelled', readyFor(60));
    delete unlabelled.metadata!.labels!['controller-revision-hash'];
    const plan = planNode(v2, nodeState('node-1', [oldPod('old'), unlabelled]), undefined, T0, defaultPlanOptions, '');
    expect(outline(plan)).toEqual({ ...nothing, deletes: ['old'] });
    const created = planNode(v2, nodeState('node-1'), undefined, T0, defaultPlanOptions, '');
    expect(created.actions[0]).toMatchObject({ kind: 'create' });
    expect((created.actions[0] as { pod: V1Pod }).pod.metadata?.labels).not.toHaveProperty('controller-revision-hash');
  });

  it('without surge the same terminating pod blocks the create (maxSurge 0)', () => {
    const noSurge = withRollingUpdate(v2, { maxSurge: 0, maxUnavailable: 1 });
    expect(outline(planNode(noSurge, nodeState('node-1', [oldPod('t', terminating)]), undefined, T0))).toEqual(nothing);
  });

  it('says why', () => {
    const plan = planNode(v2, nodeState('node-1', [oldPod('old', notReady), newPod('new', notReady)]), undefined, T0);
    expect(plan.actions[0]).toMatchObject({ kind: 'delete', why: 'surge: old pod is not ready, new pod new replaces it' });
    const created = planNode(v2, nodeState('node-1', [oldPod('t', terminating)]), undefined, T0);
    expect(created.actions[0]).toMatchObject({ kind: 'create', why: 'surge: no running daemon pod on node node-1', pod: newDaemonPod(v2, 'node-1', revisionHash(v2)) });
  });
});

describe('planSnapshot', () => {
  const nodes = [nodeState('node-b'), nodeState('node-a', [newDaemonSetPod(ds, 'node-a')])];

  it('a selector that does not match its own template (a custom resource the API server cannot refuse): a Warning, no pod', () => {
    const mismatched = merge(newDaemonSet('sds', { apiVersion: 'daemonless.dev/v1alpha1', kind: 'ServerlessDaemonSet' }), {
      spec: { template: { metadata: { labels: { app: 'other' } } } },
    });
    const plan = planSnapshot({ daemonSets: [mismatched], nodes, backoffs: new Map(), hashes: new Map() }, T0);
    expect(plan.actions).toEqual([]);
    expect(plan.events).toEqual([
      { daemonSet: { namespace: 'default', name: 'sds', uid: 'ds-uid-sds', kind: 'ServerlessDaemonSet' }, type: 'Warning', reason: 'InvalidSelector', message: expect.stringContaining('does not match') },
    ]);
  });

  it('plans every DaemonSet on every node, in a deterministic order', () => {
    const other = newDaemonSet('aaa');
    const plan = planSnapshot({ daemonSets: [ds, other], nodes, backoffs: new Map(), hashes: new Map() }, T0);
    expect(plan.decisions.map((d) => `${d.daemonSet}@${d.nodeName}`)).toEqual([
      'default/aaa@node-a',
      'default/aaa@node-b',
      'default/fluentd@node-a',
      'default/fluentd@node-b',
    ]);
    expect(plan.actions.map((a) => (a.kind === 'create' ? `${a.daemonSet.name}@${a.nodeName}` : a.kind))).toEqual([
      'aaa@node-a',
      'aaa@node-b',
      'fluentd@node-b',
    ]);
  });

  it('without recordDecisions (the reconcile passes): the same actions, events and requeue, no decisions', () => {
    const other = newDaemonSet('aaa');
    const failed = newDaemonSetPod(ds, 'node-a', { status: { phase: 'Failed' } });
    const snapshot = { daemonSets: [ds, other], nodes: [nodeState('node-b'), nodeState('node-a', [failed])], backoffs: new Map(), hashes: new Map() };
    const full = planSnapshot(snapshot, T0);
    const lean = planSnapshot(snapshot, T0, { ...defaultPlanOptions, recordDecisions: false });
    expect(full.decisions).toHaveLength(4);
    expect(lean).toEqual({ ...full, decisions: [] });
  });

  it('skips DaemonSets being deleted (left to the garbage collector)', () => {
    const deleting = newDaemonSet('fluentd', { metadata: { deletionTimestamp: T0 } });
    expect(planSnapshot({ daemonSets: [deleting], nodes, backoffs: new Map(), hashes: new Map() }, T0)).toEqual({ actions: [], events: [], decisions: [] });
  });

  it('refuses an empty selector with a Warning SelectingAll and nothing else', () => {
    const all = newDaemonSet('fluentd', { spec: { selector: { matchLabels: undefined } } });
    const plan = planSnapshot({ daemonSets: [all], nodes, backoffs: new Map(), hashes: new Map() }, T0);
    expect(plan.actions).toEqual([]);
    expect(plan.events).toEqual([
      {
        daemonSet: { namespace: 'default', name: 'fluentd', uid: 'ds-uid-fluentd' },
        type: 'Warning',
        reason: 'SelectingAll',
        message: 'This daemon set is selecting all pods. A non-empty selector is required.',
      },
    ]);
  });

  it('uses each node’s backoff and requeues after the soonest one', () => {
    const failedOn = (node: string) => newDaemonSetPod(ds, node, { status: { phase: 'Failed' } });
    const backoffs = new Map([
      [backoffKey(ds, 'node-a'), backoff(at(-1), 8)],
      [backoffKey(ds, 'node-b'), backoff(at(-1), 4)],
    ]);
    const plan = planSnapshot(
      { daemonSets: [ds], nodes: [nodeState('node-a', [failedOn('node-a')]), nodeState('node-b', [failedOn('node-b')])], backoffs, hashes: new Map() },
      T0,
    );
    expect(plan.actions).toEqual([]);
    expect(plan.requeueAfterSeconds).toBe(3);
  });

  it('keys backoffs by DaemonSet UID and node', () => {
    expect(backoffKey(ds, 'node-1')).toBe('ds-uid-fluentd/node-1');
  });
});

// Upstream `getDaemonPods` claims every pod of the namespace, then `getNodesToDaemonPods` skips the pods whose target node
// it cannot tell: a selected orphan among them is adopted all the same (and then counted nowhere).
describe('planTargetlessAdoptions', () => {
  const orphan = (name: string, overrides: DeepPartial<V1Pod> = {}) =>
    newPod(name, merge<DeepPartial<V1Pod>>({ metadata: { namespace: 'default', uid: `uid-${name}`, labels: { ...ds.spec?.selector?.matchLabels } } }, overrides));
  const twoNodes = { spec: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['node-1', 'node-2'] }] }] } } } } };
  const controlledBy = (kind: string, uid: string) => ({ metadata: { ownerReferences: [{ apiVersion: 'apps/v1', kind, name: 'x', uid, controller: true }] } });
  it.each<{ name: string; pods: V1Pod[]; ds?: V1DaemonSet; adopts: string[] }>([
    { name: 'a selected orphan that targets no node: adopted', pods: [orphan('loose')], adopts: ['loose'] },
    { name: 'one whose affinity names two nodes targets none either: adopted', pods: [orphan('two', twoNodes)], adopts: ['two'] },
    { name: 'an orphan bound to a node: left to the node’s plan (planNode adopts it)', pods: [orphan('bound', { spec: { nodeName: 'node-1' } })], adopts: [] },
    { name: 'an orphan pinned to one node by affinity: left to the node’s plan', pods: [newDaemonSetPod(ds, 'node-1', { metadata: { name: 'pinned', ownerReferences: undefined } })], adopts: [] },
    { name: 'not selected: ignored', pods: [orphan('other', { metadata: { labels: { app: 'other' } } })], adopts: [] },
    { name: 'another namespace: ignored', pods: [orphan('far', { metadata: { namespace: 'elsewhere' } })], adopts: [] },
    { name: 'controlled by another controller: ignored', pods: [orphan('rs', controlledBy('ReplicaSet', 'rs-uid'))], adopts: [] },
    { name: 'already ours: nothing to do', pods: [orphan('ours', controlledBy('DaemonSet', 'ds-uid-fluentd'))], adopts: [] },
    { name: 'being deleted: not adopted', pods: [orphan('going', { metadata: { deletionTimestamp: T0 } })], adopts: [] },
    { name: 'the DaemonSet being deleted: nothing', ds: newDaemonSet('fluentd', { metadata: { deletionTimestamp: T0 } }), pods: [orphan('loose')], adopts: [] },
    { name: 'an empty selector (SelectingAll): nothing', ds: newDaemonSet('fluentd', { spec: { selector: { matchLabels: undefined } } }), pods: [orphan('loose')], adopts: [] },
  ])('$name', ({ pods, ds: daemonSet, adopts }) => {
    const plan = planTargetlessAdoptions(daemonSet ?? ds, pods);
    expect(outline(plan)).toEqual({ ...nothing, adopts });
    for (const action of plan.actions) expect(action).toEqual(expect.objectContaining({ owner: expect.objectContaining({ kind: 'DaemonSet', uid: 'ds-uid-fluentd', controller: true }) }));
  });
});

describe('eventForAction', () => {
  const dsRef = { namespace: 'default', name: 'fluentd', uid: 'ds-uid-fluentd' };
  const create: Action = { kind: 'create', daemonSet: dsRef, nodeName: 'n', pod: newPod('fluentd-abc'), why: '' };
  const del: Action = { kind: 'delete', daemonSet: dsRef, nodeName: 'n', pod: { namespace: 'default', name: 'fluentd-abc', uid: 'u' }, why: '' };
  const adopt: Action = { kind: 'adopt', daemonSet: dsRef, pod: { namespace: 'default', name: 'p', uid: 'u' }, owner: { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'fluentd', uid: 'ds-uid-fluentd', controller: true } };
  it.each([
    { name: 'create succeeded', action: create, outcome: { kind: 'succeeded' as const }, want: 'Normal SuccessfulCreate: Created pod: fluentd-abc' },
    // The planned name was held by another pod: the Event names the pod that was made.
    { name: 'create succeeded under the next name', action: create, outcome: { kind: 'succeeded' as const, name: 'fluentd-xyz' }, want: 'Normal SuccessfulCreate: Created pod: fluentd-xyz' },
    { name: 'create failed', action: create, outcome: { kind: 'failed' as const, message: 'pods "x" is forbidden' }, want: 'Warning FailedCreate: Error creating: pods "x" is forbidden' },
    // Another invocation created it (and records the event): say nothing, as for an unobservable duplicate.
    { name: 'create found it already there', action: create, outcome: { kind: 'unchanged' as const }, want: null },
    { name: 'delete succeeded', action: del, outcome: { kind: 'succeeded' as const }, want: 'Normal SuccessfulDelete: Deleted pod: fluentd-abc' },
    { name: 'delete failed', action: del, outcome: { kind: 'failed' as const, message: 'timeout' }, want: 'Warning FailedDelete: Error deleting: timeout' },
    // Upstream records nothing when the pod is already gone.
    { name: 'delete found it gone', action: del, outcome: { kind: 'unchanged' as const }, want: null },
    { name: 'adopt records nothing', action: adopt, outcome: { kind: 'succeeded' as const }, want: null },
  ])('$name', ({ action, outcome, want }) => {
    const event = eventForAction(action, outcome);
    expect(event === null ? null : `${event.type} ${event.reason}: ${event.message}`).toBe(want);
    if (event) expect(event.daemonSet).toEqual(dsRef);
  });
});
