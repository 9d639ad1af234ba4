import type { V1DaemonSetStatus } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { revisionHash } from '../../src/core/hash.ts';
import type { NodeState, StatusCounters } from '../../src/core/model.ts';
import { computeStatus, conditionsToWrite, coveredBy, nextStatus, rolloutComplete, rolloutStatus, statusConditions, statusNeedsUpdate, statusRequeueAfterSeconds, withCounted, withRefusal, refusedCondition, refusedRetryAfterSeconds, type Refusal } from '../../src/core/status.ts';
import { at, deletedNodeState, merge, newDaemonSet, newDaemonSetPod, newNode, nodeState, readyCondition, T0, taint } from '../support/builders.ts';

const ds = newDaemonSet('fluentd');
const hash = revisionHash(ds);
const on = (node: string, overrides: Parameters<typeof newDaemonSetPod>[2] = {}) => newDaemonSetPod(ds, node, overrides);
const zero: StatusCounters = {
  desiredNumberScheduled: 0,
  currentNumberScheduled: 0,
  numberMisscheduled: 0,
  numberReady: 0,
  numberAvailable: 0,
  updatedNumberScheduled: 0,
  numberUnavailable: 0,
};
const noSchedule = (name: string) => newNode(name, { spec: { taints: [taint('maint', 'NoSchedule')] } });
const elsewhere = (name: string) => newNode(name, { metadata: { labels: { role: 'other' } } });

describe('computeStatus', () => {
  const rows: Array<{ name: string; ds?: typeof ds; nodes: NodeState[]; want: Partial<StatusCounters> }> = [
    { name: 'no nodes', nodes: [], want: {} },
    { name: 'eligible node without a pod: desired, unavailable', nodes: [nodeState('n1')], want: { desiredNumberScheduled: 1, numberUnavailable: 1 } },
    {
      name: 'ready, updated pod: counted everywhere',
      nodes: [nodeState('n1', [on('n1')])],
      want: { desiredNumberScheduled: 1, currentNumberScheduled: 1, numberReady: 1, numberAvailable: 1, updatedNumberScheduled: 1 },
    },
    // An unbound pod aimed at the node by affinity counts as scheduled there.
    {
      name: 'unbound pod aimed at the node counts as current',
      nodes: [nodeState('n1', [on('n1', { spec: { nodeName: undefined }, status: { phase: 'Pending', conditions: [] } })])],
      want: { desiredNumberScheduled: 1, currentNumberScheduled: 1, updatedNumberScheduled: 1, numberUnavailable: 1 },
    },
    {
      name: 'not ready pod',
      nodes: [nodeState('n1', [on('n1', { status: { conditions: [readyCondition(T0, 'False')] } })])],
      want: { desiredNumberScheduled: 1, currentNumberScheduled: 1, updatedNumberScheduled: 1, numberUnavailable: 1 },
    },
    // `misscheduled` uses shouldRun, so a pod kept on a NoSchedule-tainted node counts (upstream's quirk, #21714).
    { name: 'pod on a NoSchedule-tainted node: misscheduled', nodes: [nodeState(noSchedule('n1'), [on('n1')])], want: { numberMisscheduled: 1 } },
    { name: 'pod on a node the selector excludes: misscheduled', ds: newDaemonSet('fluentd', { spec: { template: { spec: { nodeSelector: { role: 'logs' } } } } }), nodes: [nodeState(elsewhere('n1'), [newDaemonSetPod(newDaemonSet('fluentd', { spec: { template: { spec: { nodeSelector: { role: 'logs' } } } } }), 'n1')])], want: { numberMisscheduled: 1 } },
    // Upstream `getNodesToDaemonPods` drops only terminal pods being deleted: a running pod being deleted still counts.
    { name: 'terminating pod on an ineligible node: misscheduled', nodes: [nodeState(noSchedule('n1'), [on('n1', { metadata: { deletionTimestamp: at(-1) } })])], want: { numberMisscheduled: 1 } },
    { name: 'ineligible node without pods: nothing', nodes: [nodeState(noSchedule('n1'))], want: {} },
    // A Node that no longer exists is not in upstream's node list.
    { name: 'deleted node: not counted', nodes: [deletedNodeState('n1', [on('n1')])], want: {} },
    {
      // The first pod in upstream's order decides, even a failed one.
      name: 'older failed pod shadows a younger ready one',
      nodes: [nodeState('n1', [on('n1', { metadata: { name: 'young', creationTimestamp: at(5) } }), on('n1', { metadata: { name: 'old', creationTimestamp: at(-5) }, status: { phase: 'Failed', conditions: [] } })])],
      want: { desiredNumberScheduled: 1, currentNumberScheduled: 1, updatedNumberScheduled: 1, numberUnavailable: 1 },
    },
    {
      // `podByCreationTimestampAndPhase`: a bound pod sorts before an unbound one whatever their ages, so the younger,
      // bound, ready pod decides, not the older one still waiting for the scheduler.
      name: 'bound pod outranks an older unbound one',
      nodes: [
        nodeState('n1', [
          on('n1', { metadata: { name: 'unbound-old', creationTimestamp: at(-10), labels: { app: 'fluentd', 'controller-revision-hash': 'old', 'pod-template-generation': '0' } }, spec: { nodeName: undefined }, status: { phase: 'Pending', conditions: [] } }),
          on('n1', { metadata: { name: 'bound-young', creationTimestamp: at(5) } }),
        ]),
      ],
      want: { desiredNumberScheduled: 1, currentNumberScheduled: 1, numberReady: 1, numberAvailable: 1, updatedNumberScheduled: 1 },
    },
    {
      name: 'old revision pod: not updated',
      nodes: [nodeState('n1', [on('n1', { metadata: { labels: { app: 'fluentd', 'controller-revision-hash': 'old', 'pod-template-generation': '0' } } })])],
      want: { desiredNumberScheduled: 1, currentNumberScheduled: 1, numberReady: 1, numberAvailable: 1 },
    },
    // Backward compatibility: the template generation label alone makes a pod updated.
    {
      name: 'template generation label alone: updated',
      nodes: [nodeState('n1', [on('n1', { metadata: { labels: { app: 'fluentd', 'controller-revision-hash': 'old', 'pod-template-generation': '1' } } })])],
      want: { desiredNumberScheduled: 1, currentNumberScheduled: 1, numberReady: 1, numberAvailable: 1, updatedNumberScheduled: 1 },
    },
    // A terminating pod is still on the node: current, and it decides while it is the first.
    {
      name: 'terminating pod still counts',
      nodes: [nodeState('n1', [on('n1', { metadata: { deletionTimestamp: at(-1) } })])],
      want: { desiredNumberScheduled: 1, currentNumberScheduled: 1, numberReady: 1, numberAvailable: 1, updatedNumberScheduled: 1 },
    },
    // A terminal pod that is being deleted is dropped from the node's pods altogether.
    {
      name: 'failed pod being deleted: not counted',
      nodes: [nodeState('n1', [on('n1', { metadata: { deletionTimestamp: at(-1) }, status: { phase: 'Failed', conditions: [] } })])],
      want: { desiredNumberScheduled: 1, numberUnavailable: 1 },
    },
    // Surge: an old and a new pod on one node; the older (old) pod decides, so the node is not yet updated.
    {
      name: 'surge: old pod beside a new one decides',
      nodes: [nodeState('n1', [on('n1', { metadata: { name: 'new', creationTimestamp: at(10) } }), on('n1', { metadata: { name: 'old', labels: { app: 'fluentd', 'controller-revision-hash': 'old', 'pod-template-generation': '0' } } })])],
      want: { desiredNumberScheduled: 1, currentNumberScheduled: 1, numberReady: 1, numberAvailable: 1 },
    },
    {
      name: 'mixed: 3 eligible (1 ready, 1 empty, 1 not ready) and 1 misscheduled',
      nodes: [
        nodeState('n1', [on('n1')]),
        nodeState('n2'),
        nodeState('n3', [on('n3', { status: { conditions: [readyCondition(T0, 'False')] } })]),
        nodeState(noSchedule('n4'), [on('n4')]),
      ],
      want: { desiredNumberScheduled: 3, currentNumberScheduled: 2, numberMisscheduled: 1, numberReady: 1, numberAvailable: 1, updatedNumberScheduled: 2, numberUnavailable: 2 },
    },
  ];
  it.each(rows)('$name', ({ ds: d = ds, nodes, want }) => {
    expect(computeStatus(d, nodes, revisionHash(d), T0)).toEqual({ ...zero, ...want });
  });

  // Available = Ready since at least minReadySeconds before now.
  it.each([
    { name: 'minReadySeconds 0: ready is available', minReadySeconds: 0, readySince: at(0), available: 1 },
    { name: 'ready for less than minReadySeconds', minReadySeconds: 10, readySince: at(-5), available: 0 },
    // Upstream v1.37.2 `IsPodAvailable`: lastTransitionTime + minReadySeconds <= now (kubernetes/kubernetes#132122).
    { name: 'ready for exactly minReadySeconds: available', minReadySeconds: 10, readySince: at(-10), available: 1 },
    { name: 'ready for 1 ms less than minReadySeconds: not yet', minReadySeconds: 10, readySince: new Date(T0.getTime() - 9_999), available: 0 },
    { name: 'ready for longer than minReadySeconds', minReadySeconds: 10, readySince: at(-11), available: 1 },
    // `IsPodAvailable`: with minReadySeconds, a Ready condition without lastTransitionTime (zero) is never Available.
    { name: 'Ready without lastTransitionTime, minReadySeconds > 0: not available', minReadySeconds: 10, readySince: undefined, available: 0 },
  ])('$name', ({ minReadySeconds, readySince, available }) => {
    const d = newDaemonSet('fluentd', { spec: { minReadySeconds } });
    const ready = readySince === undefined ? { type: 'Ready', status: 'True' } : readyCondition(readySince);
    const status = computeStatus(d, [nodeState('n1', [newDaemonSetPod(d, 'n1', { status: { conditions: [ready] } })])], revisionHash(d), T0);
    expect(status).toMatchObject({ numberReady: 1, numberAvailable: available, numberUnavailable: 1 - available });
  });

  it('uses the hash it is given', () => {
    expect(computeStatus(ds, [nodeState('n1', [on('n1')])], 'another', T0).updatedNumberScheduled).toBe(1); // via generation label
    const noGeneration = newDaemonSet('fluentd', { metadata: { annotations: { 'deprecated.daemonset.template.generation': undefined } } });
    expect(computeStatus(noGeneration, [nodeState('n1', [on('n1')])], 'another', T0).updatedNumberScheduled).toBe(0);
    expect(computeStatus(noGeneration, [nodeState('n1', [on('n1')])], hash, T0).updatedNumberScheduled).toBe(1);
  });
});

describe('statusNeedsUpdate', () => {
  const counters: StatusCounters = { ...zero, desiredNumberScheduled: 2, currentNumberScheduled: 2, numberReady: 2, numberAvailable: 2, updatedNumberScheduled: 2 };
  const stored: V1DaemonSetStatus = { ...counters, observedGeneration: 3 };
  it.each([
    { name: 'same counters, observedGeneration current: skip', old: stored, generation: 3, want: false },
    { name: 'same counters, observedGeneration ahead: skip', old: stored, generation: 2, want: false },
    { name: 'same counters, observedGeneration behind: write', old: stored, generation: 4, want: true },
    { name: 'a counter changed: write', old: { ...stored, numberReady: 1 }, generation: 3, want: true },
    // Optional counters absent in the stored status read as 0.
    { name: 'absent optional counters read as 0', old: { ...stored, numberUnavailable: undefined }, generation: 3, want: false },
    { name: 'no status yet: write', old: undefined, generation: 1, want: true },
  ])('$name', ({ old, generation, want }) => expect(statusNeedsUpdate(old, counters, generation)).toBe(want));

  it('nextStatus keeps collisionCount and conditions, sets observedGeneration', () => {
    const old: V1DaemonSetStatus = { ...stored, collisionCount: 2, conditions: [] };
    expect(nextStatus(old, counters, 4)).toEqual({ ...counters, collisionCount: 2, conditions: [], observedGeneration: 4 });
  });
});

describe('rolloutStatus (kubectl rollout status)', () => {
  const d = newDaemonSet('fluentd', { metadata: { generation: 3 } });
  const done: V1DaemonSetStatus = { ...zero, desiredNumberScheduled: 3, currentNumberScheduled: 3, numberReady: 3, numberAvailable: 3, updatedNumberScheduled: 3, observedGeneration: 3 };
  it.each([
    { name: 'observed, all updated and available: done', ds: d, status: done, want: { done: true, message: 'daemon set "fluentd" successfully rolled out' } },
    { name: 'observedGeneration ahead: done', ds: d, status: { ...done, observedGeneration: 4 }, want: { done: true } },
    { name: 'generation not yet observed', ds: d, status: { ...done, observedGeneration: 2 }, want: { done: false, message: 'Waiting for daemon set spec update to be observed...' } },
    {
      name: 'not all updated',
      ds: d,
      status: { ...done, updatedNumberScheduled: 1 },
      want: { done: false, message: 'Waiting for daemon set "fluentd" rollout to finish: 1 out of 3 new pods have been updated...' },
    },
    // Updated is checked before available.
    {
      name: 'all updated, not all available',
      ds: d,
      status: { ...done, numberAvailable: 2 },
      want: { done: false, message: 'Waiting for daemon set "fluentd" rollout to finish: 2 of 3 updated pods are available...' },
    },
    { name: 'nothing desired: done', ds: d, status: { ...zero, observedGeneration: 3 }, want: { done: true } },
    { name: 'no status yet', ds: d, status: undefined, want: { done: false, message: 'Waiting for daemon set spec update to be observed...' } },
    { name: 'missing type means RollingUpdate', ds: merge(d, { spec: { updateStrategy: { type: undefined } } }), status: done, want: { done: true, supported: true } },
    // kubectl refuses to watch OnDelete DaemonSets (it exits with an error): never complete here.
    { name: 'OnDelete: unsupported, never done', ds: merge(d, { spec: { updateStrategy: { type: 'OnDelete', rollingUpdate: undefined } } }), status: done, want: { done: false, supported: false } },
  ])('$name', ({ ds, status, want }) => {
    expect(rolloutStatus(ds, status)).toMatchObject(want);
    expect(rolloutComplete(ds, status)).toBe(want.done);
  });

  it('reads ds.status by default', () => {
    expect(rolloutComplete(merge(d, { status: done }))).toBe(true);
    expect(rolloutComplete(merge(d, { status: { ...done, numberAvailable: 0 } }))).toBe(false);
  });
});

describe('statusRequeueAfterSeconds', () => {
  const counters = (numberReady: number, numberAvailable: number): StatusCounters => ({ ...zero, numberReady, numberAvailable });
  it.each([
    { name: 'minReadySeconds and ready pods not yet available: after minReadySeconds', minReadySeconds: 30, c: counters(3, 2), want: 30 },
    { name: 'all ready pods available: nothing', minReadySeconds: 30, c: counters(3, 3), want: undefined },
    { name: 'no minReadySeconds: nothing', minReadySeconds: 0, c: counters(3, 2), want: undefined },
  ])('$name', ({ minReadySeconds, c, want }) => {
    expect(statusRequeueAfterSeconds(newDaemonSet('fluentd', { spec: { minReadySeconds } }), c)).toBe(want);
  });
});

describe('statusConditions (ServerlessDaemonSet)', () => {
  const counters = (over: Partial<StatusCounters> = {}): StatusCounters => ({
    desiredNumberScheduled: 3,
    currentNumberScheduled: 3,
    numberMisscheduled: 0,
    numberReady: 3,
    numberAvailable: 3,
    updatedNumberScheduled: 3,
    numberUnavailable: 0,
    ...over,
  });
  const summary = (c: ReturnType<typeof statusConditions>) => c.map((x) => `${x.type}=${x.status} ${x.reason}: ${x.message}`);

  it.each([
    { name: 'all updated and available', over: {}, want: ['Available=True PodsAvailable: 3 of 3 pods available', 'RolloutComplete=True RolloutComplete: 3 of 3 pods updated and available'] },
    { name: 'a pod not yet updated', over: { updatedNumberScheduled: 2 }, want: ['Available=True PodsAvailable: 3 of 3 pods available', 'RolloutComplete=False RolloutInProgress: 2 of 3 pods updated'] },
    { name: 'updated, one not available', over: { numberAvailable: 2, numberUnavailable: 1 }, want: ['Available=False PodsUnavailable: 2 of 3 pods available', 'RolloutComplete=False RolloutInProgress: 2 of 3 updated pods available'] },
    { name: 'nothing desired: vacuously complete', over: { desiredNumberScheduled: 0, currentNumberScheduled: 0, numberReady: 0, numberAvailable: 0, updatedNumberScheduled: 0 }, want: ['Available=True PodsAvailable: 0 of 0 pods available', 'RolloutComplete=True RolloutComplete: 0 of 0 pods updated and available'] },
  ])('$name', ({ over, want }) => {
    expect(summary(statusConditions(counters(over), undefined, T0))).toEqual(want);
  });

  it('a condition keeps its lastTransitionTime while its status stays; a change stamps now', () => {
    const first = statusConditions(counters({ updatedNumberScheduled: 1 }), undefined, T0);
    const later = statusConditions(counters({ updatedNumberScheduled: 2 }), { conditions: first } as V1DaemonSetStatus, at(30));
    expect(later.map((c) => String(c.lastTransitionTime))).toEqual(['2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z']);
    const done = statusConditions(counters(), { conditions: later } as V1DaemonSetStatus, at(60));
    expect(done.map((c) => String(c.lastTransitionTime))).toEqual(['2026-01-01T00:00:00Z', '2026-01-01T00:01:00Z']);
  });

  it('a status write is needed when the conditions would read differently, not otherwise', () => {
    const c = counters();
    const conditions = statusConditions(c, undefined, T0);
    const written = nextStatus(undefined, c, 1, conditions);
    expect(statusNeedsUpdate(written, c, 1, statusConditions(c, written, at(5)))).toBe(false);
    expect(statusNeedsUpdate({ ...written, conditions: [] }, c, 1, conditions)).toBe(true);
  });
});

describe('conditionsToWrite: the current revision recorded in every status write', () => {
  const c: StatusCounters = { desiredNumberScheduled: 1, currentNumberScheduled: 1, numberMisscheduled: 0, numberReady: 1, numberAvailable: 1, updatedNumberScheduled: 1, numberUnavailable: 0 };
  const types = (conditions: { type?: string; message?: string }[]) => conditions.map((x) => `${x.type}: ${x.message ?? ''}`);
  const foreign = { type: 'StatusUpdate', status: 'True', reason: 'E2E', message: 'Set from e2e test' };
  const revision = (hash: string) => `daemonless.dev/CurrentRevision: controller-revision-hash=${hash}`;

  it.each<[string, boolean, V1DaemonSetStatus | undefined, string[]]>([
    ['apps/v1, no conditions yet', false, undefined, [revision('h2')]],
    // Others' conditions (the conformance suite writes its own) stay as they are; ours is replaced.
    ['apps/v1, others\' conditions kept, ours replaced', false, { conditions: [foreign, { type: 'daemonless.dev/CurrentRevision', status: 'True', message: 'controller-revision-hash=h1' }] } as V1DaemonSetStatus, ['StatusUpdate: Set from e2e test', revision('h2')]],
    ['ServerlessDaemonSet: its own conditions and ours', true, undefined, ['Available: 1 of 1 pods available', 'RolloutComplete: 1 of 1 pods updated and available', revision('h2')]],
  ])('%s', (_name, serverless, old, want) => {
    expect(types(conditionsToWrite(serverless, c, 'h2', old, T0))).toEqual(want);
  });

  it('a status that does not record the hash yet is written once, then not again', () => {
    const old = nextStatus(undefined, c, 1, undefined);
    expect(statusNeedsUpdate(old, c, 1, conditionsToWrite(false, c, 'h2', old, T0))).toBe(true);
    const written = nextStatus(old, c, 1, conditionsToWrite(false, c, 'h2', old, T0));
    expect(statusNeedsUpdate(written, c, 1, conditionsToWrite(false, c, 'h2', written, at(5)))).toBe(false);
    expect(statusNeedsUpdate(written, c, 1, conditionsToWrite(false, c, 'h3', written, at(5)))).toBe(true);
  });
});

describe('the counted condition: what a status was counted from, and the follow-ups it covers', () => {
  const c: StatusCounters = { desiredNumberScheduled: 1, currentNumberScheduled: 1, numberMisscheduled: 0, numberReady: 1, numberAvailable: 1, updatedNumberScheduled: 1, numberUnavailable: 0 };
  const counted = (message: string, status = 'True') => ({ type: 'daemonless.dev/Counted', status, reason: 'ListsCounted', message });
  const withStatus = (conditions: object[], observedGeneration = 1, generation = 1, deleting = false) =>
    merge(ds, { metadata: { generation, ...(deleting ? { deletionTimestamp: T0 } : {}) }, status: { observedGeneration, conditions: conditions as never } });
  const after = { nodes: '100', pods: '120' };

  it.each<[string, ReturnType<typeof withStatus>, boolean]>([
    ['lists read at the versions asked for', withStatus([counted('nodes at resourceVersion 100, pods at resourceVersion 120')]), true],
    ['lists read later', withStatus([counted('nodes at resourceVersion 150, pods at resourceVersion 150')]), true],
    // Versions compare as integers, not as text.
    ['later by integer, earlier by text', withStatus([counted('nodes at resourceVersion 1000, pods at resourceVersion 1000')]), true],
    ['the nodes read earlier than the node the join read', withStatus([counted('nodes at resourceVersion 99, pods at resourceVersion 150')]), false],
    ['the pods read earlier than the pod the join created', withStatus([counted('nodes at resourceVersion 150, pods at resourceVersion 119')]), false],
    ['no counted condition', withStatus([]), false],
    ['a counted condition that is not True', withStatus([counted('nodes at resourceVersion 150, pods at resourceVersion 150', 'False')]), false],
    ['a message it cannot read', withStatus([counted('nodes 150, pods 150')]), false],
    ['a spec not yet observed (the status is of the generation before)', withStatus([counted('nodes at resourceVersion 150, pods at resourceVersion 150')], 1, 2), false],
    ['a DaemonSet being deleted', withStatus([counted('nodes at resourceVersion 150, pods at resourceVersion 150')], 1, 1, true), false],
  ])('%s: covered %s', (_name, daemonSet, want) => {
    expect(coveredBy(daemonSet, after)).toBe(want);
  });

  it('replaces the one the conditions carry, keeping when the first was recorded; the others stay', () => {
    const foreign = { type: 'StatusUpdate', status: 'True', reason: 'E2E', message: 'Set from e2e test' };
    const first = withCounted([foreign], { nodes: '5', pods: '6' }, T0);
    expect(first).toEqual([foreign, { ...counted('nodes at resourceVersion 5, pods at resourceVersion 6'), lastTransitionTime: '2026-01-01T00:00:00Z' }]);
    const second = withCounted(first, { nodes: '7', pods: '8' }, at(60));
    expect(second).toEqual([foreign, { ...counted('nodes at resourceVersion 7, pods at resourceVersion 8'), lastTransitionTime: '2026-01-01T00:00:00Z' }]);
    expect(coveredBy(withStatus(second), { nodes: '7', pods: '8' })).toBe(true);
  });

  it('never asks for a write of its own: a status that only counted from later lists is not written', () => {
    const old = nextStatus(undefined, c, 1, withCounted(conditionsToWrite(false, c, 'h', undefined, T0), { nodes: '5', pods: '6' }, T0));
    // The next pass reads later lists, but nothing it counts changed: the counted condition stays as it was.
    expect(statusNeedsUpdate(old, c, 1, conditionsToWrite(false, c, 'h', old, at(5)))).toBe(false);
    // A ServerlessDaemonSet's conditions keep it too.
    const sds = nextStatus(undefined, c, 1, withCounted(conditionsToWrite(true, c, 'h', undefined, T0), { nodes: '5', pods: '6' }, T0));
    expect(statusNeedsUpdate(sds, c, 1, conditionsToWrite(true, c, 'h', sds, at(5)))).toBe(false);
  });
});

describe('refused writes: the condition (withRefusal) and the retry grid (refusedRetryAfterSeconds)', () => {
  const began = '2026-01-01T00:00:00Z';
  const refusedSince = (since: string, message = '403 exceeded quota'): V1DaemonSetStatus => ({
    numberMisscheduled: 0,
    currentNumberScheduled: 0,
    desiredNumberScheduled: 1,
    numberReady: 0,
    conditions: [{ type: refusedCondition.type, status: 'True', reason: refusedCondition.reason, message, lastTransitionTime: since as unknown as Date }],
  });
  const other = { type: 'Custom', status: 'True', reason: 'Set', message: 'by someone else' };
  const now = new Date('2026-01-01T00:01:40Z'); // 100 s after `began`

  it.each<[string, V1DaemonSetStatus | undefined, Refusal, { message: string; since: string } | null]>([
    // The first refusal: recorded, with when it began.
    ['a refusal, none recorded: recorded now', undefined, { refused: '403 exceeded quota' }, { message: '403 exceeded quota', since: '2026-01-01T00:01:40Z' }],
    // Refusals going on: kept as they were (no write for a new message), so the grid keeps its anchor.
    ['a refusal, one recorded: kept as it was', refusedSince(began), { refused: '422 another reason' }, { message: '403 exceeded quota', since: began }],
    ['nothing refused, everything done: gone', refusedSince(began), 'clear', null],
    ['cannot say (writes left for later): kept', refusedSince(began), 'keep', { message: '403 exceeded quota', since: began }],
    ['cannot say, none recorded: none', undefined, 'keep', null],
  ])('%s', (_name, old, refusal, expected) => {
    const conditions = withRefusal([other as never], refusal, old, now);
    expect(conditions[0]).toEqual(other);
    const refused = conditions.find((c) => c.type === refusedCondition.type);
    if (expected === null) expect(refused).toBeUndefined();
    else expect(refused).toMatchObject({ status: 'True', reason: refusedCondition.reason, message: expected.message, lastTransitionTime: expected.since });
  });

  it('a long refusal message is cut to 1,024 characters', () => {
    const [refused] = withRefusal([], { refused: 'x'.repeat(5000) }, undefined, now);
    expect(refused?.message).toHaveLength(1024);
  });

  it.each<[string, number | null, number | undefined]>([
    // Seconds since the refusals began (null: not recorded yet) → seconds until the next retry: 1, 2, 4, … 256 s after.
    ['not recorded yet: 1 s', null, 1],
    ['just began: 1 s', 0, 1],
    ['0.7 s in: the 2 s point (1 s is too close)', 0.7, 1.3],
    ['1.2 s in: the 2 s point', 1.2, 0.8],
    ['3 s in: the 4 s point', 3, 1],
    ['100 s in: the 128 s point', 100, 28],
    ['200 s in: the 256 s point', 200, 56],
    ['past 256 s: none (the resync retries)', 256, undefined],
    ['an hour in: none', 3600, undefined],
  ])('%s', (_name, elapsed, expected) => {
    const ds = newDaemonSet('agent');
    if (elapsed !== null) ds.status = refusedSince(new Date(T0.getTime() - elapsed * 1000).toISOString());
    const seconds = refusedRetryAfterSeconds(ds, T0);
    if (expected === undefined) expect(seconds).toBeUndefined();
    else expect(seconds).toBeCloseTo(expected, 6);
  });

  it('two passes meeting refusals at different times ask for the same points of the grid', () => {
    const ds = newDaemonSet('agent');
    ds.status = refusedSince(new Date(T0.getTime() - 10_000).toISOString());
    const at = (s: number) => new Date(T0.getTime() + s * 1000);
    const next = (s: number) => s + (refusedRetryAfterSeconds(ds, at(s)) ?? Number.NaN);
    expect([next(0), next(1.5), next(5), next(6)]).toEqual([6, 6, 6, 22]);
  });
});
