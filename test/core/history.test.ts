import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1ControllerRevision, V1DaemonSet, V1DaemonSetCondition, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { revisionHash } from '../../src/core/hash.ts';
import {
  claimRevisions,
  collisionOutcome,
  newRevision,
  planHistory,
  provenRevisionHash,
  recordedRevisionHash,
  revisionCondition,
  revisionConditionFor,
  revisionPatch,
  revisionMatches,
  revisionName,
  type HistoryPlan,
} from '../../src/core/history.ts';
import { at, merge, newControllerRevision, newDaemonSet, newDaemonSetPod, recordedDaemonSet, updatedDaemonSet, type DeepPartial } from '../support/builders.ts';

const fixtures = join(import.meta.dirname, '..', 'fixtures', 'go-json');

// Four successive templates of the same DaemonSet.
const v1 = newDaemonSet('fluentd');
const v2 = updatedDaemonSet(v1, 'registry.k8s.io/pause:3.11');
const v3 = updatedDaemonSet(v2, 'registry.k8s.io/pause:3.12');
const v4 = updatedDaemonSet(v3, 'registry.k8s.io/pause:3.13');
const [h1, h2, h3, h4] = [v1, v2, v3, v4].map(revisionHash) as [string, string, string, string];

/** The revision `ds`'s template is stored in, with another name when given (a duplicate). */
const rev = (ds: V1DaemonSet, revision: number, overrides?: DeepPartial<V1ControllerRevision>) => newControllerRevision(ds, revision, overrides);
const podOf = (ds: V1DaemonSet, node: string, overrides?: DeepPartial<V1Pod>) =>
  newDaemonSetPod(ds, node, merge<DeepPartial<V1Pod>>({ metadata: { name: `pod-${node}` } }, overrides));

/** What a history plan does, by name. */
function outline(plan: HistoryPlan) {
  return {
    current: plan.current?.metadata?.name,
    create: plan.toCreate === undefined ? undefined : `${plan.toCreate.metadata?.name}@${plan.toCreate.revision}`,
    updateRevision: plan.toUpdateRevision === undefined ? undefined : `${plan.toUpdateRevision.name}@${plan.toUpdateRevision.revision}`,
    dedupDelete: plan.dedup.deleteNames,
    relabel: plan.dedup.relabelPods.map((p) => p.name),
    cleanup: plan.cleanup,
    adopt: plan.adopt.map((r) => r.name),
    release: plan.release.map((r) => r.name),
    label: plan.labelRevisions,
    hash: plan.hash,
  };
}
type Outline = ReturnType<typeof outline>;
const none = { current: undefined, create: undefined, updateRevision: undefined, dedupDelete: [], relabel: [], cleanup: [], adopt: [], release: [], label: [] };

describe('planHistory', () => {
  const name = (hash: string) => `fluentd-${hash}`;
  const rows: Array<{ name: string; ds: V1DaemonSet; revisions: V1ControllerRevision[]; pods?: V1Pod[]; want: Partial<Outline> & { hash: string } }> = [
    { name: 'no revisions: create revision 1', ds: v1, revisions: [], want: { create: `${name(h1)}@1`, hash: h1 } },
    { name: 'current revision exists: use it', ds: v1, revisions: [rev(v1, 1)], want: { current: name(h1), hash: h1 } },
    { name: 'template changed: create max(old) + 1', ds: v3, revisions: [rev(v1, 1), rev(v2, 2)], want: { create: `${name(h3)}@3`, hash: h3 } },
    { name: 'revision numbers need not be contiguous', ds: v3, revisions: [rev(v1, 4), rev(v2, 9)], want: { create: `${name(h3)}@10`, hash: h3 } },
    // Rollback to v1's template: its revision is raised above the others, and its hash is the one in use again, so
    // pods of v1 that were never replaced count as updated (no restarts).
    { name: 'rollback: current revision raised to max(old) + 1', ds: v1, revisions: [rev(v1, 1), rev(v2, 2)], want: { current: name(h1), updateRevision: `${name(h1)}@3`, hash: h1 } },
    { name: 'current already the highest: no update', ds: v2, revisions: [rev(v1, 1), rev(v2, 2)], want: { current: name(h2), hash: h2 } },
    {
      // Two revisions store the same template (e.g. one from before a collisionCount change, another hash): keep the
      // higher, relabel every pod whose hash differs (old pods too, as upstream), delete the other.
      name: 'duplicates: keep the highest revision, relabel pods, delete the rest',
      ds: v2,
      revisions: [rev(v2, 2, { metadata: { name: 'fluentd-dup', labels: { app: 'fluentd', 'controller-revision-hash': 'dup' } } }), rev(v2, 3), rev(v1, 1)],
      pods: [podOf(v2, 'n1'), podOf(v1, 'n2'), podOf(v2, 'n3', { metadata: { labels: { app: 'fluentd', 'controller-revision-hash': 'dup' } } })],
      want: { current: name(h2), dedupDelete: ['fluentd-dup'], relabel: ['pod-n2', 'pod-n3'], hash: h2 },
    },
    {
      name: 'duplicates with equal revisions: the later in the list is kept',
      ds: v2,
      revisions: [rev(v2, 2), rev(v2, 2, { metadata: { name: 'fluentd-dup', labels: { app: 'fluentd', 'controller-revision-hash': 'dup' } } })],
      pods: [podOf(v2, 'n1')],
      want: { current: 'fluentd-dup', dedupDelete: [name(h2)], relabel: ['pod-n1'], hash: 'dup' },
    },
    {
      // A kept revision labelled "" (by hand): upstream compares pod labels as a Go map reads them, a missing one as "".
      name: 'duplicates kept with an empty hash: a pod without a hash label is not relabelled',
      ds: v2,
      revisions: [rev(v2, 2), rev(v2, 3, { metadata: { name: 'fluentd-empty', labels: { app: 'fluentd', 'controller-revision-hash': '' } } })],
      pods: [podOf(v2, 'n1'), podOf(v2, 'n2', { metadata: { labels: { app: 'fluentd', 'controller-revision-hash': undefined } } })],
      want: { current: 'fluentd-empty', dedupDelete: [name(h2)], relabel: ['pod-n1'], hash: '' },
    },
    {
      name: 'duplicates below max(old): kept one is raised too',
      ds: v1,
      revisions: [rev(v1, 1), rev(v1, 2, { metadata: { name: 'fluentd-dup', labels: { 'controller-revision-hash': 'dup' } } }), rev(v2, 5)],
      want: { current: 'fluentd-dup', dedupDelete: [name(h1)], updateRevision: 'fluentd-dup@6', hash: 'dup' },
    },
    // A revision that matches the template is current whatever its hash label says: its label is the hash in use.
    { name: 'current revision with a foreign hash label: its hash is used', ds: v1, revisions: [rev(v1, 1, { metadata: { name: 'fluentd-upstream', labels: { 'controller-revision-hash': 'upstream' } } })], want: { current: 'fluentd-upstream', hash: 'upstream' } },
    // Upstream labels such revisions with their own name, and uses that as the hash.
    { name: 'revision without a hash label: labelled with its name', ds: v1, revisions: [rev(v1, 1, { metadata: { name: 'fluentd-legacy', labels: { app: 'fluentd', 'controller-revision-hash': undefined } } })], want: { current: 'fluentd-legacy', label: ['fluentd-legacy'], hash: 'fluentd-legacy' } },
    // Cleanup
    {
      name: 'cleanup: old revisions beyond the limit, oldest first',
      ds: merge(v4, { spec: { revisionHistoryLimit: 1 } }),
      revisions: [rev(v3, 3), rev(v1, 1), rev(v2, 2), rev(v4, 4)],
      want: { current: name(h4), cleanup: [name(h1), name(h2)], hash: h4 },
    },
    {
      name: 'cleanup skips revisions still used by a pod',
      ds: merge(v4, { spec: { revisionHistoryLimit: 1 } }),
      revisions: [rev(v1, 1), rev(v2, 2), rev(v3, 3), rev(v4, 4)],
      pods: [podOf(v1, 'n1'), podOf(v4, 'n2')],
      want: { current: name(h4), cleanup: [name(h2), name(h3)], hash: h4 },
    },
    {
      // Upstream's cleanup also reads terminal pods that are being deleted.
      name: 'cleanup: a failed pod being deleted still holds its revision',
      ds: merge(v3, { spec: { revisionHistoryLimit: 1 } }),
      revisions: [rev(v1, 1), rev(v2, 2), rev(v3, 3)],
      pods: [podOf(v1, 'n1', { metadata: { deletionTimestamp: at(-1) }, status: { phase: 'Failed' } })],
      want: { current: name(h3), hash: h3, cleanup: [name(h2)] },
    },
    { name: 'cleanup: every old revision live: nothing deleted', ds: merge(v3, { spec: { revisionHistoryLimit: 0 } }), revisions: [rev(v1, 1), rev(v2, 2), rev(v3, 3)], pods: [podOf(v1, 'n1'), podOf(v2, 'n2')], want: { current: name(h3), hash: h3 } },
    { name: 'cleanup: limit 0 deletes every old revision', ds: merge(v3, { spec: { revisionHistoryLimit: 0 } }), revisions: [rev(v1, 1), rev(v2, 2), rev(v3, 3)], want: { current: name(h3), cleanup: [name(h1), name(h2)], hash: h3 } },
    { name: 'cleanup: within the limit: nothing', ds: merge(v3, { spec: { revisionHistoryLimit: 2 } }), revisions: [rev(v1, 1), rev(v2, 2), rev(v3, 3)], want: { current: name(h3), hash: h3 } },
    {
      name: 'cleanup: default limit 10',
      ds: merge(v1, { spec: { revisionHistoryLimit: undefined } }),
      revisions: [rev(v1, 12), ...Array.from({ length: 11 }, (_, i) => rev(v1, i + 1, { metadata: { name: `old-${i + 1}`, labels: { 'controller-revision-hash': `h${i + 1}` } }, data: { spec: { template: { $patch: 'replace', n: i } } } }))],
      want: { current: name(h1), cleanup: ['old-1'], hash: h1 },
    },
    // A pod that is not aimed at any node is skipped by upstream's node→pods map, so it holds nothing.
    { name: 'cleanup: a pod without a target node holds nothing', ds: merge(v2, { spec: { revisionHistoryLimit: 0 } }), revisions: [rev(v1, 1), rev(v2, 2)], pods: [podOf(v1, 'n1', { spec: { nodeName: undefined, affinity: undefined } })], want: { current: name(h2), cleanup: [name(h1)], hash: h2 } },
    // Claiming
    { name: 'orphan revision matching the selector: adopted', ds: v1, revisions: [rev(v1, 1, { metadata: { ownerReferences: undefined } })], want: { current: name(h1), adopt: [name(h1)], hash: h1 } },
    { name: 'revision of another controller: ignored', ds: v1, revisions: [rev(v1, 1, { metadata: { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'x', uid: 'other', controller: true }] } })], want: { create: `${name(h1)}@1`, hash: h1 } },
    { name: 'owned revision no longer selected: released, not counted', ds: v2, revisions: [rev(v1, 7, { metadata: { labels: { app: 'other', 'controller-revision-hash': h1 } } })], want: { release: [name(h1)], create: `${name(h2)}@1`, hash: h2 } },
    { name: 'revision in another namespace: ignored', ds: v1, revisions: [rev(v1, 1, { metadata: { namespace: 'kube-system' } })], want: { create: `${name(h1)}@1`, hash: h1 } },
    // syncDaemonSet returns before constructHistory for a DaemonSet being deleted.
    { name: 'DaemonSet being deleted: nothing', ds: merge(v1, { metadata: { deletionTimestamp: at(-1) } }), revisions: [rev(v2, 1)], want: { hash: h1 } },
  ];
  it.each(rows)('$name', ({ ds, revisions, pods = [], want }) => {
    expect(outline(planHistory(ds, revisions, pods, revisionHash(ds)))).toEqual({ ...none, ...want });
  });

  it('creates exactly newRevision(ds, hash, revision), and lists the old revisions in ascending order', () => {
    const plan = planHistory(v3, [rev(v2, 2), rev(v1, 1)], [], h3);
    expect(plan.toCreate).toEqual(newRevision(v3, h3, 3));
    expect(plan.old.map((r) => r.revision)).toEqual([1, 2]);
  });
});

describe('revisions', () => {
  it('newRevision: template labels + hash label, DaemonSet annotations, controllerRef, data, revision', () => {
    const ds = merge(v1, { metadata: { annotations: { team: 'obs' } } });
    expect(newRevision(ds, 'abc', 4)).toEqual({
      apiVersion: 'apps/v1',
      kind: 'ControllerRevision',
      metadata: {
        name: 'fluentd-abc',
        namespace: 'default',
        labels: { app: 'fluentd', 'controller-revision-hash': 'abc' },
        annotations: { 'deprecated.daemonset.template.generation': '1', team: 'obs' },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'fluentd', uid: 'ds-uid-fluentd', controller: true, blockOwnerDeletion: true }],
      },
      data: { spec: { template: { ...ds.spec?.template, $patch: 'replace' } } },
      revision: 4,
    });
  });

  it('revisionPatch: upstream getPatch shape, without touching the DaemonSet', () => {
    expect(JSON.parse(revisionPatch(v1))).toEqual({
      spec: {
        template: {
          metadata: { labels: { app: 'fluentd' } },
          spec: { containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }] },
          $patch: 'replace',
        },
      },
    });
    expect(v1.spec?.template).not.toHaveProperty('$patch');
  });

  it("revisionPatch: the bytes Go's getPatch writes (test vector made by Go 1.26: test/fixtures/go-json/gen)", () => {
    // Sorted keys at every level, null and empty members kept, Go's escaping of <, >, &, control characters,
    // U+2028/U+2029, numbers in their shortest form.
    const ds = JSON.parse(readFileSync(join(fixtures, 'daemonset.json'), 'utf8')) as V1DaemonSet;
    expect(revisionPatch(ds)).toBe(readFileSync(join(fixtures, 'get-patch.txt'), 'utf8'));
  });

  const parsed = (ds: V1DaemonSet) => JSON.parse(revisionPatch(ds)) as object;
  const asServed = merge(v1, { spec: { template: { metadata: { creationTimestamp: null as unknown as Date } } } });
  it.each([
    { name: 'same template', data: parsed(v1), ds: v1, want: true },
    // What the API server returns: parsed JSON, keys in any order.
    { name: 'keys in another order', data: { spec: { template: { $patch: 'replace', spec: { containers: [{ image: 'registry.k8s.io/pause:3.10', name: 'main' }] }, metadata: { labels: { app: 'fluentd' } } } } }, ds: v1, want: true },
    // Upstream compares bytes: a member present as null is not the same as an absent one. The API server serialises a
    // template with `creationTimestamp: null`, so a DaemonSet read as it is served matches such data.
    { name: 'a null member the DaemonSet lacks', data: parsed(asServed), ds: v1, want: false },
    { name: 'a null member, DaemonSet as served', data: parsed(asServed), ds: asServed, want: true },
    { name: 'another template', data: parsed(v2), ds: v1, want: false },
    { name: 'without $patch', data: { spec: { template: v1.spec?.template } }, ds: v1, want: false },
    { name: 'no data', data: undefined, ds: v1, want: false },
  ])('revisionMatches: $name', ({ data, ds, want }) => {
    expect(revisionMatches({ revision: 1, data }, ds)).toBe(want);
  });

  it.each([
    { name: 'short name', dsName: 'fluentd', want: (hash: string) => `fluentd-${hash}` },
    { name: 'long name cut to 253 characters', dsName: 'a'.repeat(253), want: (hash: string) => `${'a'.repeat(242)}-${hash}` },
    { name: 'cut leaves no trailing dot or dash', dsName: `${'a'.repeat(240)}.-b${'c'.repeat(20)}`, want: (hash: string) => `${'a'.repeat(240)}-${hash}` },
  ])('revisionName: $name', ({ dsName, want }) => {
    const name = revisionName(newDaemonSet(dsName), 'bcdfghjklm');
    expect(name).toBe(want('bcdfghjklm'));
    expect(name.length).toBeLessThanOrEqual(253);
  });

  it('claimRevisions follows the pod rules', () => {
    const deleting = merge(v1, { metadata: { deletionTimestamp: at(-1) } });
    const unselected = rev(v1, 1, { metadata: { labels: { app: 'other' } } });
    const orphan = rev(v1, 2, { metadata: { name: 'orphan', ownerReferences: undefined } });
    expect(claimRevisions(v1, [unselected, orphan])).toEqual({ owned: [orphan], adopt: [orphan], release: [unselected] });
    // A DaemonSet being deleted neither adopts nor releases.
    expect(claimRevisions(deleting, [unselected, orphan])).toEqual({ owned: [], adopt: [], release: [] });
    expect(claimRevisions(v1, [rev(v1, 3, { metadata: { ownerReferences: undefined, deletionTimestamp: at(-1) } })]).adopt).toEqual([]);
  });
});

describe('collisionOutcome', () => {
  it('same template at that name: use it, with its hash', () => {
    const existing = rev(v1, 1);
    expect(collisionOutcome(existing, v1)).toEqual({ kind: 'matches', revision: existing, hash: h1 });
  });

  it.each([
    { name: 'no collisionCount yet', ds: v1, want: { observedCollisionCount: 0, nextCollisionCount: 1 } },
    { name: 'collisionCount 2', ds: merge(v1, { status: { collisionCount: 2 } }), want: { observedCollisionCount: 2, nextCollisionCount: 3 } },
  ])('another template at that name: a collision ($name)', ({ ds, want }) => {
    const squatter = rev(v2, 1, { metadata: { name: revisionName(ds, revisionHash(ds)) } });
    expect(collisionOutcome(squatter, ds)).toEqual({ kind: 'collision', ...want });
  });

  it('bumping collisionCount changes the revision hash, hence the name', () => {
    const bumped = merge(v1, { status: { collisionCount: 1 } });
    expect(revisionHash(bumped)).not.toBe(h1);
    expect(planHistory(bumped, [rev(v2, 1, { metadata: { name: revisionName(v1, h1) } })], [], revisionHash(bumped)).toCreate?.metadata?.name).toBe(
      revisionName(bumped, revisionHash(bumped)),
    );
  });
});

describe('provenRevisionHash: the current hash from the pods, without the revisions', () => {
  /** Synced: its status observed this generation (a DaemonSet-wide pass wrote its history first). */
  const synced = (overrides?: DeepPartial<V1DaemonSet>) => merge<V1DaemonSet>(newDaemonSet('agent', { status: { observedGeneration: 1 } }), overrides);
  const other = newDaemonSet('other');
  it.each<[string, V1DaemonSet, (ds: V1DaemonSet) => V1Pod[], 'hash' | undefined]>([
    ['synced, a pod it controls carries revisionHash(ds): proven', synced(), (ds) => [newDaemonSetPod(ds, 'n0')], 'hash'],
    ['one of several pods carries it (a rollout under way): proven', synced(), (ds) => [newDaemonSetPod(ds, 'n0', { metadata: { labels: { 'controller-revision-hash': 'old' } } }), newDaemonSetPod(ds, 'n1')], 'hash'],
    ['no status yet (never synced)', newDaemonSet('agent'), (ds) => [newDaemonSetPod(ds, 'n0')], undefined],
    // The template changed (generation 2) and no pass has written its history yet.
    ['generation not yet observed', synced({ metadata: { generation: 2 } }), (ds) => [newDaemonSetPod(ds, 'n0')], undefined],
    // Pods of upstream's controller carry upstream's hash: the current revision's hash is only in the revisions.
    ['pods carry another hash (revisions made by upstream)', synced(), (ds) => [newDaemonSetPod(ds, 'n0', { metadata: { labels: { 'controller-revision-hash': '7d9f8c6b5' } } })], undefined],
    ['the pod carrying it is controlled by another DaemonSet', synced(), (ds) => [{ ...newDaemonSetPod(other, 'n0'), metadata: { ...newDaemonSetPod(other, 'n0').metadata, labels: { 'controller-revision-hash': revisionHash(ds) } } }], undefined],
    ['no pods', synced(), () => [], undefined],
    ['being deleted', synced({ metadata: { deletionTimestamp: at(5) } }), (ds) => [newDaemonSetPod(ds, 'n0')], undefined],
  ])('%s', (_name, ds, pods, want) => {
    expect(provenRevisionHash(ds, pods(ds))).toBe(want === 'hash' ? revisionHash(ds) : undefined);
  });
});

describe('recordedRevisionHash: the current hash from the status, without the revisions', () => {
  const recorded = recordedDaemonSet(newDaemonSet('agent'));
  const withCondition = (ds: V1DaemonSet, change: Partial<V1DaemonSetCondition>): V1DaemonSet =>
    ({ ...ds, status: { ...ds.status, conditions: (ds.status?.conditions ?? []).map((c) => (c.type === revisionCondition.type ? { ...c, ...change } : c)) } }) as V1DaemonSet;
  // The template changed (generation 2, new image), the status still says generation 1 and the old hash.
  const edited = merge<V1DaemonSet>(updatedDaemonSet(recorded, 'registry.k8s.io/pause:3.11'), { metadata: { generation: 2 } });
  it.each<[string, V1DaemonSet, 'hash' | undefined]>([
    ['recorded for this generation and template: read from the status', recorded, 'hash'],
    ['no condition (written by a version before it, or by upstream)', newDaemonSet('agent', { status: { observedGeneration: 1 } }), undefined],
    ['a template changed and not yet synced (generation ahead of status)', edited, undefined],
    // The same generation observed, but the condition names another hash: a rollback to a revision kept from before a
    // collisionCount change, or made by upstream with its own hash. The revisions say which is current.
    ['recorded hash is not the template\'s', recordedDaemonSet(newDaemonSet('agent'), 'bcdfghjklm'), undefined],
    // collisionCount raised since (no generation change): revisionHash(ds) changes with it.
    ['collisionCount raised since it was recorded', { ...recorded, status: { ...recorded.status!, collisionCount: 1 } }, undefined],
    ['condition not True', withCondition(recorded, { status: 'False' }), undefined],
    ['message without the prefix', withCondition(recorded, { message: revisionHash(recorded) }), undefined],
    ['being deleted', merge<V1DaemonSet>(recorded, { metadata: { deletionTimestamp: at(5) } }), undefined],
  ])('%s', (_name, ds, want) => {
    expect(recordedRevisionHash(ds)).toBe(want === 'hash' ? revisionHash(ds) : undefined);
  });

  it('the condition keeps its lastTransitionTime while the hash stays, and is stamped anew when it changes', () => {
    const first = revisionConditionFor('aaaa', undefined, '2026-01-01T00:00:00Z');
    expect(first).toMatchObject({ type: 'daemonless.dev/CurrentRevision', status: 'True', reason: 'RevisionWritten', message: 'controller-revision-hash=aaaa' });
    expect(String(revisionConditionFor('aaaa', [first], '2026-01-01T00:05:00Z').lastTransitionTime)).toBe('2026-01-01T00:00:00Z');
    expect(String(revisionConditionFor('bbbb', [first], '2026-01-01T00:05:00Z').lastTransitionTime)).toBe('2026-01-01T00:05:00Z');
  });
});
