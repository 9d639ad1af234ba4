/** dedupeHints: duplicates dropped in first-seen order; a DaemonSet hint's `pods` merged so no release check is lost. */
import { describe, expect, it } from 'vitest';
import { changeSeen, dedupeHints, mergeFollowUps, MAX_HINTED_PODS, type Hint } from '../src/hints.ts';
import { HintSchema } from '../src/http/schemas.ts';

const ds = (pods?: string[], name = 'agent'): Hint => ({ kind: 'daemonSet', namespace: 'default', name, ...(pods ? { pods } : {}) });
const node = (name: string): Hint => ({ kind: 'node', name });
const created = (name: string): Hint => ({ kind: 'node', name, created: true });
const registered = (name: string, zone: string): Hint => ({ kind: 'node', name, created: true, registered: { labels: { zone } } });
const orphan = (name: string, labels?: Record<string, string>): Hint => ({ kind: 'orphan', namespace: 'default', name, ...(labels ? { labels } : {}) });
const admitted = (hint: Hint, before: string | null, until: number): Hint => ({ ...hint, pending: { before, until } }) as Hint;

describe('dedupeHints', () => {
  it.each<[string, Hint[], Hint[]]>([
    ['duplicates dropped, first-seen order kept', [node('a'), ds(), node('a'), node('b')], [node('a'), ds(), node('b')]],
    ['a resync subsumes everything', [node('a'), { kind: 'resync' }, ds()], [{ kind: 'resync' }]],
    // `pods`: the union while every duplicate names its pods; the full pass (no `pods`) as soon as one does not.
    ['pods merged', [ds(['p1']), ds(['p2', 'p1'])], [ds(['p1', 'p2'])]],
    ['a DaemonSet change or a follow-up, and a pod change: the pod', [ds([]), ds(['p1'])], [ds(['p1'])]],
    ['a hint that cannot say first: the full pass', [ds(), ds(['p1'])], [ds()]],
    ['a hint that cannot say later: the full pass', [ds(['p1']), ds([]), ds()], [ds()]],
    // A node hint is a creation only if every duplicate is: a change after it may need the node's pods read.
    ['a node created and changed: not a creation', [created('a'), node('a')], [node('a')]],
    ['a node changed and created: not a creation', [node('a'), created('a')], [node('a')]],
    ['a node created twice: a creation', [created('a'), created('a'), created('b')], [created('a'), created('b')]],
    // Hint `registered`: kept while the creations agree; two different nodes of one name: the pass reads it.
    ['created twice, the same node as created: kept', [registered('a', 'x'), registered('a', 'x')], [registered('a', 'x')]],
    ['created twice, different nodes of one name: a creation without it', [registered('a', 'x'), registered('a', 'y')], [created('a')]],
    ['created twice, once without it: a creation without it', [registered('a', 'x'), created('a')], [created('a')]],
    ['created with it, then changed: not a creation', [registered('a', 'x'), node('a')], [node('a')]],
    // Hint `pending`: the latest admitted change waits; a change already stored waits for nothing.
    ['an admitted change and a stored one: it still waits', [admitted(node('a'), 'x', 5), node('a')], [admitted(node('a'), 'x', 5)]],
    ['a stored change and an admitted one: it waits', [node('a'), admitted(node('a'), 'x', 5)], [admitted(node('a'), 'x', 5)]],
    ['two admitted changes: the later one', [admitted(node('a'), 'x', 5), admitted(node('a'), 'y', 9)], [admitted(node('a'), 'y', 9)]],
    ['two admitted changes, the later first: the later one', [admitted(node('a'), 'y', 9), admitted(node('a'), 'x', 5)], [admitted(node('a'), 'y', 9)]],
    ['an admitted creation and a change: a change that waits', [admitted(registered('a', 'x'), null, 5), node('a')], [admitted(node('a'), null, 5)]],
    ['a DaemonSet: an admitted change and a pod change: both, waiting', [admitted(ds([]), 'x', 5), ds(['p1'])], [admitted(ds(['p1']), 'x', 5)]],
    ['a DaemonSet: a pod change and an admitted change: both, waiting', [ds(['p1']), admitted(ds([]), 'x', 5)], [admitted(ds(['p1']), 'x', 5)]],
    ['a DaemonSet: two admitted changes: the later one', [admitted(ds([]), 'x', 5), admitted(ds([]), 'y', 9)], [admitted(ds([]), 'y', 9)]],
    ['a DaemonSet: the full pass and an admitted change: the full pass, waiting', [ds(), admitted(ds([]), 'x', 5)], [admitted(ds(), 'x', 5)]],
    ['an admitted creation twice: kept as it is', [admitted(registered('a', 'x'), null, 5), admitted(registered('a', 'x'), null, 5)], [admitted(registered('a', 'x'), null, 5)]],
    ['other DaemonSets keep their own', [ds(['p1']), ds(undefined, 'other'), ds(['p2'])], [ds(['p1', 'p2']), ds(undefined, 'other')]],
    // Hint `orphan`: one per pod, the later change's labels in the first one's place; a DaemonSet of the pod's name is another hint.
    ['an orphan changed twice: the later labels, first place', [orphan('p', { app: 'a' }), node('a'), orphan('p', { app: 'b' })], [orphan('p', { app: 'b' }), node('a')]],
    ['an orphan with labels, then without: the pass reads it', [orphan('p', { app: 'a' }), orphan('p')], [orphan('p')]],
    ['two orphans, and a DaemonSet of the same name: three hints', [orphan('agent', { app: 'a' }), orphan('other', { app: 'a' }), ds([])], [orphan('agent', { app: 'a' }), orphan('other', { app: 'a' }), ds([])]],
    ['a resync subsumes an orphan', [orphan('p', { app: 'a' }), { kind: 'resync' }], [{ kind: 'resync' }]],
  ])('%s', (_name, hints, expected) => {
    expect(dedupeHints(hints)).toEqual(expected);
  });

  it.each<[string, string | null, string | null | undefined, boolean]>([
    ['the node as before the change: not seen', 'x', 'x', false],
    ['the node changed: seen', 'x', 'y', true],
    ['a creation, no node yet: not seen', null, null, false],
    ['a creation, the node there: seen', null, 'y', true],
    ['a deletion, the node gone: seen', 'x', null, true],
    ['the pass did not read the node: nothing to wait for', 'x', undefined, true],
  ])('changeSeen: %s', (_name, before, view, seen) => {
    expect(changeSeen({ before, until: 0 }, view)).toBe(seen);
  });

  it(`more than ${MAX_HINTED_PODS} pods named: the full pass, and every merged hint still passes the schema`, () => {
    const names = (from: number, n: number) => Array.from({ length: n }, (_, i) => `p${from + i}`);
    const [atLimit] = dedupeHints([ds(names(0, 600)), ds(names(600, 400))]);
    expect(atLimit).toEqual(ds(names(0, MAX_HINTED_PODS)));
    expect(HintSchema.safeParse(atLimit).success).toBe(true);
    const [past] = dedupeHints([ds(names(0, 600)), ds(names(600, 401))]);
    expect(past).toEqual(ds());
    expect(HintSchema.safeParse(ds(names(0, MAX_HINTED_PODS + 1))).success).toBe(false);
  });
});

describe('mergeFollowUps: a follow-up naming no pod keeps its revisions read', () => {
  it.each<[string, Hint | undefined, Hint, Hint]>([
    ['the first one', undefined, ds(['p1']), ds(['p1'])],
    ['created pods on two nodes: both named', ds(['p1']), ds(['p2']), ds(['p1', 'p2'])],
    // A pod deleted may let history cleanup delete a revision: the pass must read them, whatever else asked.
    ['a deletion after a create: none named', ds(['p1']), ds([]), ds([])],
    ['a create after a deletion: none named', ds([]), ds(['p1']), ds([])],
    ['a node hint is not merged', node('n0'), ds(['p1']), ds(['p1'])],
  ])('%s', (_name, a, b, expected) => {
    expect(mergeFollowUps(a, b)).toEqual(expected);
  });
});

describe('Hint `after`: a follow-up a later pass may cover, merged', () => {
  const joined = (nodes: string, pods: string, names = ['p1']): Hint => ({ ...ds(names), after: { nodes, pods } }) as Hint;
  it.each<[string, Hint, Hint, Hint]>([
    ['two joins: covered once both are, by the later versions', joined('10', '30'), joined('20', '25', ['p2']), joined('20', '30', ['p1', 'p2'])],
    // Versions compare as integers.
    ['integers, not text', joined('9', '9'), joined('10', '10', ['p2']), joined('10', '10', ['p1', 'p2'])],
    ['with a follow-up that must run: it runs', joined('10', '30'), ds([]), ds([])],
    ['a follow-up that must run first: it runs', ds(['p0']), joined('10', '30'), ds(['p0', 'p1'])],
    ['versions that do not compare: it runs', joined('10', '30'), joined('x', '31', ['p2']), ds(['p1', 'p2'])],
  ])('mergeFollowUps, %s', (_name, a, b, expected) => {
    expect(mergeFollowUps(a, b)).toEqual(expected);
  });

  it.each<[string, Hint[], Hint[]]>([
    ['two joins', [joined('10', '30'), joined('20', '25', ['p2'])], [joined('20', '30', ['p1', 'p2'])]],
    ["a pod's change (no `after`) merged into a join's follow-up: it runs", [joined('10', '30'), ds(['p2'])], [ds(['p1', 'p2'])]],
    ["a join's follow-up merged into a pod's change: it runs", [ds(['p2']), joined('10', '30')], [ds(['p2', 'p1'])]],
  ])('dedupeHints, %s', (_name, hints, expected) => {
    expect(dedupeHints(hints)).toEqual(expected);
  });

  it.each<[string, unknown, boolean]>([
    ['decimal resourceVersions', { nodes: '10', pods: '123456789012345678901234567890' }, true],
    ['not a number', { nodes: 'abc', pods: '1' }, false],
    ['a leading zero', { nodes: '010', pods: '1' }, false],
    ['one missing', { nodes: '10' }, false],
  ])('the schema: %s', (_name, after, ok) => {
    expect(HintSchema.safeParse({ ...ds(['p1']), after }).success).toBe(ok);
  });
});
