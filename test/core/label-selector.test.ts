import { describe, expect, it } from 'vitest';
import type { V1LabelSelector } from '@kubernetes/client-node';
import { complementQueries, groupedSelectorQueries, selectorMatches, selectorQuery, type Labels } from '../../src/core/label-selector.ts';
import { matchesLabelQuery } from '../support/label-query.ts';

describe('selectorQuery: a DaemonSet selector as a labelSelector query', () => {
  it.each<[string, V1LabelSelector | undefined, string | undefined]>([
    ['matchLabels', { matchLabels: { name: 'fluentd-elasticsearch' } }, 'name=fluentd-elasticsearch'],
    ['several labels and every operator', {
      matchLabels: { app: 'a', tier: 'node' },
      matchExpressions: [
        { key: 'env', operator: 'In', values: ['prod', 'stage'] },
        { key: 'zone', operator: 'NotIn', values: ['x'] },
        { key: 'managed', operator: 'Exists' },
        { key: 'legacy', operator: 'DoesNotExist' },
      ],
    }, 'app=a,tier=node,env in (prod,stage),zone!=x,managed,!legacy'],
    // These select nothing (the plan refuses them): no query, so nothing is listed with them.
    ['empty selector', {}, undefined],
    ['missing selector', undefined, undefined],
    ['invalid expression (In without values)', { matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }, undefined],
  ])('%s', (_name, selector, expected) => {
    expect(selectorQuery(selector)).toBe(expected);
  });
});

const everyOperator: V1LabelSelector = {
  matchLabels: { app: 'a' },
  matchExpressions: [
    { key: 'env', operator: 'In', values: ['prod', 'stage'] },
    { key: 'zone', operator: 'NotIn', values: ['x', 'y'] },
    { key: 'managed', operator: 'Exists' },
    { key: 'legacy', operator: 'DoesNotExist' },
  ],
};

describe('complementQueries: what a DaemonSet selector does not select, one query per requirement', () => {
  it.each<[string, V1LabelSelector | undefined, string[] | undefined]>([
    ['one label (the usual DaemonSet)', { matchLabels: { name: 'fluentd-elasticsearch' } }, ['name!=fluentd-elasticsearch']],
    ['every operator, negated', everyOperator, ['app!=a', 'env notin (prod,stage)', 'zone in (x,y)', '!managed', 'legacy']],
    ['In with one value', { matchExpressions: [{ key: 'env', operator: 'In', values: ['prod'] }] }, ['env!=prod']],
    // Selects nothing: nothing to release by it, so no list.
    ['empty selector', {}, undefined],
    ['missing selector', undefined, undefined],
    ['invalid expression', { matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] }, undefined],
  ])('%s', (_name, selector, expected) => {
    expect(complementQueries(selector)).toEqual(expected);
  });

  // Every combination of present, absent and differing values of the selector's keys: a pod is in exactly one side.
  const choices: Record<string, (string | undefined)[]> = {
    app: ['a', 'b', undefined],
    env: ['prod', 'stage', 'dev', undefined],
    zone: ['x', 'z', undefined],
    managed: ['yes', undefined],
    legacy: ['1', undefined],
  };
  const labelSets: Labels[] = Object.entries(choices).reduce<Record<string, string>[]>(
    (sets, [key, values]) => sets.flatMap((set) => values.map((v) => (v === undefined ? set : { ...set, [key]: v }))),
    [{}],
  );
  it.each([
    ['every operator', everyOperator],
    ['one label', { matchLabels: { app: 'a' } }],
    ['NotIn alone', { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['x'] }] }],
  ] as [string, V1LabelSelector][])('%s: selected or matched by a complement query, never both, whatever the labels', (_name, selector) => {
    expect(labelSets.length).toBe(3 * 4 * 3 * 2 * 2);
    for (const labels of labelSets) {
      const inComplement = complementQueries(selector)!.some((query) => matchesLabelQuery(query, labels));
      expect({ labels, selected: selectorMatches(selector, labels), inComplement }).toEqual({ labels, selected: !inComplement, inComplement });
      expect(matchesLabelQuery(selectorQuery(selector), labels)).toBe(selectorMatches(selector, labels));
    }
  });
});

describe('groupedSelectorQueries: one list for selectors that are one label on the same key', () => {
  const one = (key: string, value: string) => ({ matchLabels: { [key]: value } });
  it.each([
    { name: 'one selector: its own query', selectors: [one('app', 'a')], want: [{ query: 'app=a', members: [0] }] },
    {
      name: 'one-label selectors on one key: `key in (…)`, values sorted',
      selectors: [one('app', 'b'), one('app', 'a'), one('app', 'c')],
      want: [{ query: 'app in (a,b,c)', members: [0, 1, 2] }],
    },
    {
      name: 'two keys: one list each',
      selectors: [one('app', 'a'), one('k8s-app', 'x'), one('app', 'b')],
      want: [
        { query: 'app in (a,b)', members: [0, 2] },
        { query: 'k8s-app=x', members: [1] },
      ],
    },
    {
      name: 'an In expression groups like a label; duplicates once',
      selectors: [{ matchExpressions: [{ key: 'app', operator: 'In', values: ['a', 'b'] }] }, one('app', 'b')],
      want: [{ query: 'app in (a,b)', members: [0, 1] }],
    },
    {
      name: 'two labels, or another operator: alone, with its own query',
      selectors: [{ matchLabels: { app: 'a', tier: 'x' } }, { matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['z'] }] }, one('app', 'c')],
      want: [
        { query: 'app=a,tier=x', members: [0] },
        { query: 'app!=z', members: [1] },
        { query: 'app=c', members: [2] },
      ],
    },
    { name: 'an empty value is never grouped', selectors: [one('app', ''), one('app', 'a')], want: [{ query: 'app=', members: [0] }, { query: 'app=a', members: [1] }] },
    { name: 'a selector that selects nothing here gets no list', selectors: [{}, undefined, one('app', 'a')], want: [{ query: 'app=a', members: [2] }] },
  ])('$name', ({ selectors, want }) => {
    expect(groupedSelectorQueries(selectors)).toEqual(want);
  });

  it('the union query lists exactly what the selectors select together', () => {
    const selectors = [one('app', 'a'), one('app', 'b')];
    const [group] = groupedSelectorQueries(selectors);
    for (const labels of [{ app: 'a' }, { app: 'b' }, { app: 'c' }, {}, { other: 'a' }] as Labels[]) {
      const union = selectors.some((sel) => selectorMatches(sel, labels));
      expect(matchesLabelQuery(group!.query, labels), JSON.stringify(labels)).toBe(union);
    }
  });
});
