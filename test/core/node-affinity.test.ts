import type { V1Affinity, V1NodeSelectorTerm } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { nodeAffinityMismatch, nodeSelectorMismatch, requiredNodeAffinityMismatch } from '../../src/core/node-affinity.ts';
import { newNode } from '../support/builders.ts';

const node = newNode('node-1', { metadata: { labels: { zone: 'a', disktype: 'ssd', cpus: '8', empty: '' } } });
const required = (...terms: V1NodeSelectorTerm[]): V1Affinity => ({
  nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } },
});
const expr = (key: string, operator: string, values?: string[]) => ({ matchExpressions: [{ key, operator, values }] });

describe('nodeSelector', () => {
  it.each<{ name: string; selector: Record<string, string> | undefined; match: boolean }>([
    { name: 'no selector matches', selector: undefined, match: true },
    { name: 'every key equal', selector: { zone: 'a', disktype: 'ssd' }, match: true },
    { name: 'value differs', selector: { zone: 'b' }, match: false },
    { name: 'label missing', selector: { gpu: 'true' }, match: false },
    // Exact equality: a selector asking for "" needs the label to exist with an empty value.
    { name: 'empty value requires the label', selector: { empty: '' }, match: true },
    { name: 'empty value, label missing', selector: { other: '' }, match: false },
  ])('$name', ({ selector, match }) => {
    expect(nodeSelectorMismatch(selector, node) === null).toBe(match);
  });

  it('names the blocking key', () => {
    expect(nodeSelectorMismatch({ zone: 'b' }, node)).toBe('nodeSelector zone=b does not match: node has zone=a');
  });
});

describe('required node affinity: matchExpressions operators', () => {
  it.each([
    { name: 'In, value listed', term: expr('zone', 'In', ['a', 'b']), match: true },
    { name: 'In, value not listed', term: expr('zone', 'In', ['b']), match: false },
    { name: 'In, label missing', term: expr('gpu', 'In', ['x']), match: false },
    { name: 'NotIn, value not listed', term: expr('zone', 'NotIn', ['b']), match: true },
    { name: 'NotIn, value listed', term: expr('zone', 'NotIn', ['a']), match: false },
    { name: 'NotIn, label missing matches', term: expr('gpu', 'NotIn', ['x']), match: true },
    { name: 'Exists, present', term: expr('disktype', 'Exists'), match: true },
    { name: 'Exists, missing', term: expr('gpu', 'Exists'), match: false },
    { name: 'DoesNotExist, missing', term: expr('gpu', 'DoesNotExist'), match: true },
    { name: 'DoesNotExist, present', term: expr('zone', 'DoesNotExist'), match: false },
    { name: 'Gt, label greater', term: expr('cpus', 'Gt', ['4']), match: true },
    { name: 'Gt, label equal', term: expr('cpus', 'Gt', ['8']), match: false },
    { name: 'Lt, label smaller', term: expr('cpus', 'Lt', ['16']), match: true },
    { name: 'Lt, label greater', term: expr('cpus', 'Lt', ['2']), match: false },
    { name: 'Gt, label missing', term: expr('gpus', 'Gt', ['0']), match: false },
    // The node label must parse as an integer too.
    { name: 'Gt, non-integer label', term: expr('zone', 'Gt', ['0']), match: false },
    // Invalid requirements make the term match nothing (upstream's lazy parse errors are ignored by the controller).
    { name: 'Gt with a non-integer value is invalid', term: expr('cpus', 'Gt', ['four']), match: false },
    { name: 'Gt with two values is invalid', term: expr('cpus', 'Gt', ['1', '2']), match: false },
    { name: 'In without values is invalid', term: expr('zone', 'In', []), match: false },
    { name: 'Exists with values is invalid', term: expr('zone', 'Exists', ['a']), match: false },
    { name: 'unknown operator is invalid', term: expr('zone', 'Like', ['a']), match: false },
    // labels.NewRequirement checks the key and each In/NotIn value; the API server does not check node-affinity values.
    { name: 'In with a value that is no label value is invalid, even beside a matching one', term: expr('zone', 'In', ['a', 'bad value']), match: false },
    { name: 'NotIn with a value that is no label value is invalid', term: expr('zone', 'NotIn', ['gpu node']), match: false },
    { name: 'In with a value over 63 characters is invalid', term: expr('zone', 'In', ['a', 'x'.repeat(64)]), match: false },
    { name: 'In with an empty value is valid', term: expr('zone', 'In', ['', 'a']), match: true },
    { name: 'a prefixed key is valid', term: expr('topology.kubernetes.io/zone', 'DoesNotExist'), match: true },
    { name: 'a key that is no label key is invalid', term: expr('bad key', 'DoesNotExist'), match: false },
    { name: 'a key with an invalid prefix is invalid', term: expr('Example.com/zone', 'DoesNotExist'), match: false },
    { name: 'Lt with a negative bound is valid', term: expr('cpus', 'Lt', ['-1']), match: false },
  ])('$name', ({ term, match }) => {
    expect(requiredNodeAffinityMismatch(required(term), node) === null).toBe(match);
  });
});

describe('required node affinity: terms and fields', () => {
  it.each([
    { name: 'nil affinity matches every node', affinity: undefined, match: true },
    { name: 'affinity without nodeAffinity matches', affinity: { podAffinity: {} }, match: true },
    { name: 'required selector with no terms matches nothing', affinity: required(), match: false },
    { name: 'a term with no expressions matches nothing', affinity: required({}), match: false },
    { name: 'terms are ORed: second matches', affinity: required(expr('zone', 'In', ['b']), expr('zone', 'In', ['a'])), match: true },
    { name: 'terms are ORed: none matches', affinity: required(expr('zone', 'In', ['b']), expr('zone', 'In', ['c'])), match: false },
    // An empty or invalid term does not poison the others.
    { name: 'an empty term does not stop another from matching', affinity: required({}, expr('zone', 'In', ['a'])), match: true },
    { name: 'an invalid term does not stop another from matching', affinity: required(expr('cpus', 'Gt', ['x']), expr('zone', 'In', ['a'])), match: true },
    {
      name: 'expressions within a term are ANDed: all hold',
      affinity: required({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }, { key: 'disktype', operator: 'In', values: ['ssd'] }] }),
      match: true,
    },
    {
      name: 'expressions within a term are ANDed: one fails',
      affinity: required({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }, { key: 'disktype', operator: 'In', values: ['hdd'] }] }),
      match: false,
    },
    { name: 'matchFields metadata.name In [this node]', affinity: required({ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['node-1'] }] }), match: true },
    { name: 'matchFields metadata.name In [other node]', affinity: required({ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['node-2'] }] }), match: false },
    { name: 'matchFields metadata.name NotIn [other node]', affinity: required({ matchFields: [{ key: 'metadata.name', operator: 'NotIn', values: ['node-2'] }] }), match: true },
    { name: 'matchFields metadata.name NotIn [this node]', affinity: required({ matchFields: [{ key: 'metadata.name', operator: 'NotIn', values: ['node-1'] }] }), match: false },
    // Field selectors take exactly one value, and only In/NotIn.
    { name: 'matchFields In with two values is invalid', affinity: required({ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['node-1', 'node-2'] }] }), match: false },
    { name: 'matchFields Exists is invalid', affinity: required({ matchFields: [{ key: 'metadata.name', operator: 'Exists' }] }), match: false },
    {
      name: 'expressions AND fields in one term: both hold',
      affinity: required({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }], matchFields: [{ key: 'metadata.name', operator: 'In', values: ['node-1'] }] }),
      match: true,
    },
    {
      name: 'expressions AND fields in one term: field fails',
      affinity: required({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }], matchFields: [{ key: 'metadata.name', operator: 'In', values: ['node-2'] }] }),
      match: false,
    },
  ])('$name', ({ affinity, match }) => {
    expect(requiredNodeAffinityMismatch(affinity, node) === null).toBe(match);
  });

  it('names every failing term', () => {
    expect(requiredNodeAffinityMismatch(required(expr('zone', 'In', ['b', 'c']), {}), node)).toBe(
      'required node affinity does not match (term 0: zone In [b, c] does not match; term 1: term is empty and matches no node)',
    );
  });
  it('names an invalid requirement', () => {
    expect(requiredNodeAffinityMismatch(required(expr('cpus', 'Gt', ['four'])), node)).toContain('cpus Gt four is invalid');
  });
});

describe('nodeSelector AND required affinity', () => {
  it.each([
    { name: 'both match', spec: { nodeSelector: { zone: 'a' }, affinity: required(expr('disktype', 'Exists')) }, match: true },
    { name: 'selector fails, affinity matches', spec: { nodeSelector: { zone: 'b' }, affinity: required(expr('disktype', 'Exists')) }, match: false },
    { name: 'selector matches, affinity fails', spec: { nodeSelector: { zone: 'a' }, affinity: required(expr('gpu', 'Exists')) }, match: false },
    { name: 'neither set', spec: {}, match: true },
  ])('$name', ({ spec, match }) => {
    expect(nodeAffinityMismatch(spec, node) === null).toBe(match);
  });
});
