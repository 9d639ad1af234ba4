/** dedupeHints: duplicates dropped in first-seen order; a DaemonSet hint's `pods` merged so no release check is lost. */
import { describe, expect, it } from 'vitest';
import { dedupeHints, mergeFollowUps, MAX_HINTED_PODS, type Hint } from '../src/hints.ts';
import { HintSchema } from '../src/http/schemas.ts';

const ds = (pods?: string[], name = 'agent'): Hint => ({ kind: 'daemonSet', namespace: 'default', name, ...(pods ? { pods } : {}) });
const node = (name: string): Hint => ({ kind: 'node', name });
const created = (name: string): Hint => ({ kind: 'node', name, created: true });
const registered = (name: string, zone: string): Hint => ({ kind: 'node', name, created: true, registered: { labels: { zone } } });

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
    ['other DaemonSets keep their own', [ds(['p1']), ds(undefined, 'other'), ds(['p2'])], [ds(['p1', 'p2']), ds(undefined, 'other')]],
  ])('%s', (_name, hints, expected) => {
    expect(dedupeHints(hints)).toEqual(expected);
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
