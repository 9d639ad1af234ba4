import { describe, expect, it } from 'vitest';
import type { V1LabelSelector } from '@kubernetes/client-node';
import { selectorQuery } from '../../src/core/label-selector.ts';

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
    }, 'app=a,tier=node,env in (prod,stage),zone notin (x),managed,!legacy'],
    // These select nothing (the plan refuses them): no query, so nothing is listed with them.
    ['empty selector', {}, undefined],
    ['missing selector', undefined, undefined],
    ['invalid expression (In without values)', { matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }, undefined],
  ])('%s', (_name, selector, expected) => {
    expect(selectorQuery(selector)).toBe(expected);
  });
});
