import type { V1DaemonSet, V1LabelSelector, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { claimObjects, claimPodsOnNode, releaseLists, type PodMetadataList } from '../../src/core/claim.ts';
import { isEmptySelector, selectorMatches } from '../../src/core/label-selector.ts';
import { newDaemonSet, newDaemonSetPod, newPod, nodeState, T0 } from '../support/builders.ts';
import { matchesLabelQuery } from '../support/label-query.ts';

const ds = newDaemonSet('fluentd');
const ownedBy = (uid: string, controller = true) => [
  { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'x', uid, controller },
];

describe('claimObjects (pods)', () => {
  const rows: Array<{ name: string; ds: V1DaemonSet; pod: V1Pod; want: 'owned' | 'adopt' | 'release' | 'ignored' }> = [
    { name: 'ours and selected: owned', ds, pod: newPod('p', { metadata: { labels: { app: 'fluentd' }, ownerReferences: ownedBy('ds-uid-fluentd') } }), want: 'owned' },
    { name: 'ours, labels no longer match: released', ds, pod: newPod('p', { metadata: { labels: { app: 'other' }, ownerReferences: ownedBy('ds-uid-fluentd') } }), want: 'release' },
    // Upstream ClaimObject: a DaemonSet being deleted neither claims nor releases a non-matching pod.
    {
      name: 'ours, not matching, DaemonSet being deleted: ignored',
      ds: newDaemonSet('fluentd', { metadata: { deletionTimestamp: T0 } }),
      pod: newPod('p', { metadata: { labels: { app: 'other' }, ownerReferences: ownedBy('ds-uid-fluentd') } }),
      want: 'ignored',
    },
    {
      name: 'ours and matching, DaemonSet being deleted: still owned',
      ds: newDaemonSet('fluentd', { metadata: { deletionTimestamp: T0 } }),
      pod: newPod('p', { metadata: { labels: { app: 'fluentd' }, ownerReferences: ownedBy('ds-uid-fluentd') } }),
      want: 'owned',
    },
    { name: 'orphan, selected: adopted', ds, pod: newPod('p', { metadata: { labels: { app: 'fluentd' } } }), want: 'adopt' },
    // A non-controller owner reference does not make the pod someone's: it is still an orphan.
    { name: 'non-controller owner reference: orphan, adopted', ds, pod: newPod('p', { metadata: { labels: { app: 'fluentd' }, ownerReferences: ownedBy('other', false) } }), want: 'adopt' },
    { name: 'orphan, not selected: ignored', ds, pod: newPod('p', { metadata: { labels: { app: 'other' } } }), want: 'ignored' },
    { name: 'orphan being deleted: not adopted', ds, pod: newPod('p', { metadata: { labels: { app: 'fluentd' }, deletionTimestamp: T0 } }), want: 'ignored' },
    { name: 'orphan, DaemonSet being deleted: not adopted', ds: newDaemonSet('fluentd', { metadata: { deletionTimestamp: T0 } }), pod: newPod('p', { metadata: { labels: { app: 'fluentd' } } }), want: 'ignored' },
    { name: 'orphan in another namespace: ignored', ds, pod: newPod('p', { metadata: { namespace: 'kube-system', labels: { app: 'fluentd' } } }), want: 'ignored' },
    { name: 'owned by another controller, selected: ignored', ds, pod: newPod('p', { metadata: { labels: { app: 'fluentd' }, ownerReferences: ownedBy('other-uid') } }), want: 'ignored' },
    // The plan refuses an empty selector with SelectingAll; claiming must not take every pod meanwhile.
    { name: 'empty selector selects nothing', ds: newDaemonSet('fluentd', { spec: { selector: { matchLabels: undefined } } }), pod: newPod('p', { metadata: { labels: { app: 'fluentd' } } }), want: 'ignored' },
  ];
  it.each(rows)('$name', ({ ds, pod, want }) => {
    const claim = claimObjects(ds, [pod]);
    const got =
      claim.adopt.includes(pod) ? 'adopt' : claim.owned.includes(pod) ? 'owned' : claim.release.includes(pod) ? 'release' : 'ignored';
    expect(got).toBe(want);
    // Adopted pods count as owned for planning; released pods do not.
    if (want === 'adopt') expect(claim.owned).toContain(pod);
    if (want === 'release') expect(claim.owned).not.toContain(pod);
  });
});

describe('claimPodsOnNode', () => {
  it.each([
    { name: 'pod bound to the node', pod: newDaemonSetPod(ds, 'node-1'), kept: true },
    { name: 'unbound pod aimed at the node by affinity', pod: newDaemonSetPod(ds, 'node-1', { spec: { nodeName: undefined } }), kept: true },
    { name: 'pod aimed at another node', pod: newDaemonSetPod(ds, 'node-2'), kept: false },
    { name: 'pod without a target', pod: newPod('p', { metadata: { labels: { app: 'fluentd' }, ownerReferences: ownedBy('ds-uid-fluentd') } }), kept: false },
    // Terminal pods being deleted are dropped before anything counts them; other terminating pods remain.
    { name: 'Failed pod being deleted: dropped', pod: newDaemonSetPod(ds, 'node-1', { metadata: { deletionTimestamp: T0 }, status: { phase: 'Failed' } }), kept: false },
    { name: 'Succeeded pod being deleted: dropped', pod: newDaemonSetPod(ds, 'node-1', { metadata: { deletionTimestamp: T0 }, status: { phase: 'Succeeded' } }), kept: false },
    { name: 'Running pod being deleted: kept', pod: newDaemonSetPod(ds, 'node-1', { metadata: { deletionTimestamp: T0 } }), kept: true },
    { name: 'Failed pod not being deleted: kept', pod: newDaemonSetPod(ds, 'node-1', { status: { phase: 'Failed' } }), kept: true },
  ])('$name', ({ pod, kept }) => {
    expect(claimPodsOnNode(ds, nodeState('node-1', [pod])).owned.includes(pod)).toBe(kept);
  });
});

describe('label selectors', () => {
  const labels = { app: 'fluentd', tier: 'logging' };
  it.each<{ name: string; selector: V1LabelSelector | undefined; match: boolean }>([
    { name: 'matchLabels equal', selector: { matchLabels: { app: 'fluentd' } }, match: true },
    { name: 'matchLabels differ', selector: { matchLabels: { app: 'x' } }, match: false },
    { name: 'In', selector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['logging', 'x'] }] }, match: true },
    { name: 'NotIn', selector: { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['logging'] }] }, match: false },
    { name: 'Exists', selector: { matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, match: true },
    { name: 'DoesNotExist', selector: { matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] }, match: false },
    { name: 'matchLabels AND expressions', selector: { matchLabels: { app: 'fluentd' }, matchExpressions: [{ key: 'zone', operator: 'Exists' }] }, match: false },
    { name: 'empty selector selects nothing', selector: {}, match: false },
    { name: 'missing selector selects nothing', selector: undefined, match: false },
    // Gt/Lt exist for node selectors only.
    { name: 'Gt is invalid in a label selector', selector: { matchExpressions: [{ key: 'n', operator: 'Gt', values: ['1'] }] }, match: false },
    { name: 'In without values is invalid', selector: { matchExpressions: [{ key: 'tier', operator: 'In', values: [] }] }, match: false },
  ])('$name', ({ selector, match }) => expect(selectorMatches(selector, labels)).toBe(match));

  it.each<{ selector: V1LabelSelector | undefined; empty: boolean }>([
    { selector: {}, empty: true },
    { selector: { matchLabels: {}, matchExpressions: [] }, empty: true },
    { selector: { matchLabels: { a: 'b' } }, empty: false },
    { selector: undefined, empty: false },
  ])('isEmptySelector($selector) = $empty', ({ selector, empty }) => expect(isEmptySelector(selector)).toBe(empty));
});

describe('releaseLists: which pod metadata a DaemonSet-wide pass lists to find the pods it must release', () => {
  const inNs = (name: string, namespace: string, selector?: V1LabelSelector) =>
    newDaemonSet(name, { metadata: { namespace }, ...(selector ? { spec: { selector } } : {}) });
  it.each<[string, V1DaemonSet[], PodMetadataList[]]>([
    ['one DaemonSet, one label: only the pods outside its selector', [ds], [{ namespace: 'default', labelSelector: 'app!=fluentd' }]],
    ['one DaemonSet, one expression', [inNs('a', 'ns', { matchLabels: undefined, matchExpressions: [{ key: 'tier', operator: 'In', values: ['x', 'y'] }] })], [{ namespace: 'ns', labelSelector: 'tier notin (x,y)' }]],
    // Two requirements would take two lists: the whole namespace in one instead.
    ['one DaemonSet, two labels: the whole namespace', [inNs('a', 'ns', { matchLabels: { app: 'a', tier: 'node' } })], [{ namespace: 'ns' }]],
    ['two DaemonSets in a namespace: the whole namespace, once', [inNs('a', 'ns', { matchLabels: { app: 'a' } }), inNs('b', 'ns', { matchLabels: { app: 'b' } })], [{ namespace: 'ns' }]],
    [
      'one namespace each: narrowed each',
      [inNs('a', 'one', { matchLabels: { app: 'a' } }), inNs('b', 'two', { matchLabels: { app: 'b' } })],
      [{ namespace: 'one', labelSelector: 'app!=a' }, { namespace: 'two', labelSelector: 'app!=b' }],
    ],
    ['no DaemonSets: no list', [], []],
  ])('%s', (_name, daemonSets, expected) => {
    expect(releaseLists(daemonSets)).toEqual(expected);
  });

  it('a pod released by the whole-namespace list is found by the narrowed one', () => {
    const relabelled = newPod('p', { metadata: { labels: { app: 'other' }, ownerReferences: ownedBy('ds-uid-fluentd') } });
    const selected = newPod('q', { metadata: { labels: { app: 'fluentd' }, ownerReferences: ownedBy('ds-uid-fluentd') } });
    const [list] = releaseLists([ds]);
    const narrowed = [relabelled, selected].filter((p) => matchesLabelQuery(list?.labelSelector, p.metadata?.labels));
    expect(narrowed).toEqual([relabelled]);
    expect(claimObjects(ds, narrowed).release).toEqual(claimObjects(ds, [relabelled, selected]).release);
  });
});
