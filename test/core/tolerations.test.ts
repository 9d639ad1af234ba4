import type { V1Taint, V1Toleration } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  addOrUpdateDaemonPodTolerations,
  defaultDaemonTolerations,
  describeTaint,
  findUntoleratedTaint,
  toleratesTaint,
} from '../../src/core/tolerations.ts';
import { taint } from '../support/builders.ts';

describe('toleratesTaint', () => {
  const rows: Array<{ name: string; toleration: V1Toleration; taint: V1Taint; want: boolean }> = [
    { name: 'Equal, same key/value/effect', toleration: { key: 'k', operator: 'Equal', value: 'v', effect: 'NoSchedule' }, taint: taint('k', 'NoSchedule', 'v'), want: true },
    { name: 'Equal, different value', toleration: { key: 'k', operator: 'Equal', value: 'v', effect: 'NoSchedule' }, taint: taint('k', 'NoSchedule', 'w'), want: false },
    { name: 'empty operator means Equal', toleration: { key: 'k', value: 'v' }, taint: taint('k', 'NoExecute', 'v'), want: true },
    // Equal with no value matches only a taint with no value.
    { name: 'Equal without value vs taint with value', toleration: { key: 'k', operator: 'Equal' }, taint: taint('k', 'NoSchedule', 'v'), want: false },
    { name: 'Equal without value vs taint without value', toleration: { key: 'k', operator: 'Equal' }, taint: taint('k', 'NoSchedule'), want: true },
    { name: 'Exists matches any value', toleration: { key: 'k', operator: 'Exists' }, taint: taint('k', 'NoSchedule', 'anything'), want: true },
    { name: 'different key', toleration: { key: 'k', operator: 'Exists' }, taint: taint('other', 'NoSchedule'), want: false },
    { name: 'empty effect matches every effect', toleration: { key: 'k', operator: 'Exists' }, taint: taint('k', 'NoExecute'), want: true },
    { name: 'effect must be equal when set', toleration: { key: 'k', operator: 'Exists', effect: 'NoSchedule' }, taint: taint('k', 'NoExecute'), want: false },
    { name: 'empty key with Exists tolerates everything', toleration: { operator: 'Exists' }, taint: taint('any', 'NoExecute', 'v'), want: true },
    { name: 'empty key with Exists and an effect: only that effect', toleration: { operator: 'Exists', effect: 'NoSchedule' }, taint: taint('any', 'NoExecute'), want: false },
    // API validation rejects an empty key without Exists; we refuse to treat it as a wildcard.
    { name: 'empty key with Equal is invalid: tolerates nothing', toleration: { operator: 'Equal', value: '' }, taint: taint('any', 'NoSchedule'), want: false },
    // Gt/Lt (TaintTolerationComparisonOperators): Gt tolerates taints whose value is greater than the toleration's.
    { name: 'Gt: taint value greater', toleration: { key: 'score', operator: 'Gt', value: '800' }, taint: taint('score', 'NoSchedule', '1000'), want: true },
    { name: 'Gt: taint value smaller', toleration: { key: 'score', operator: 'Gt', value: '800' }, taint: taint('score', 'NoSchedule', '500'), want: false },
    { name: 'Gt: equal is not greater', toleration: { key: 'score', operator: 'Gt', value: '800' }, taint: taint('score', 'NoSchedule', '800'), want: false },
    { name: 'Lt: taint value smaller', toleration: { key: 'risk', operator: 'Lt', value: '5' }, taint: taint('risk', 'NoExecute', '2'), want: true },
    { name: 'Lt: taint value greater', toleration: { key: 'risk', operator: 'Lt', value: '5' }, taint: taint('risk', 'NoExecute', '15'), want: false },
    { name: 'Lt: non-numeric taint value never tolerated', toleration: { key: 'risk', operator: 'Lt', value: '5' }, taint: taint('risk', 'NoExecute', 'low'), want: false },
    { name: 'Gt: non-numeric toleration value never tolerates', toleration: { key: 'risk', operator: 'Gt', value: 'x' }, taint: taint('risk', 'NoExecute', '3'), want: false },
    { name: 'unknown operator', toleration: { key: 'k', operator: 'Matches', value: 'v' }, taint: taint('k', 'NoSchedule', 'v'), want: false },
    // tolerationSeconds bounds how long a NoExecute taint is tolerated at eviction time; matching ignores it.
    { name: 'tolerationSeconds is ignored', toleration: { key: 'k', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 0 }, taint: taint('k', 'NoExecute'), want: true },
  ];
  it.each(rows)('$name', ({ toleration, taint: t, want }) => {
    expect(toleratesTaint(toleration, t)).toBe(want);
  });
});

describe('defaultDaemonTolerations', () => {
  it.each([
    { name: 'without hostNetwork: 6, no network-unavailable', hostNetwork: false, count: 6 },
    { name: 'with hostNetwork: 7, network-unavailable last', hostNetwork: true, count: 7 },
  ])('$name', ({ hostNetwork, count }) => {
    const tolerations = defaultDaemonTolerations(hostNetwork);
    expect(tolerations).toHaveLength(count);
    expect(tolerations.every((t) => t.operator === 'Exists' && t.tolerationSeconds === undefined)).toBe(true);
    expect(tolerations.some((t) => t.key === 'node.kubernetes.io/network-unavailable')).toBe(hostNetwork);
  });

  it('is upstream’s list, in upstream’s order', () => {
    expect(defaultDaemonTolerations(true).map((t) => `${t.key}:${t.effect}`)).toEqual([
      'node.kubernetes.io/not-ready:NoExecute',
      'node.kubernetes.io/unreachable:NoExecute',
      'node.kubernetes.io/disk-pressure:NoSchedule',
      'node.kubernetes.io/memory-pressure:NoSchedule',
      'node.kubernetes.io/pid-pressure:NoSchedule',
      'node.kubernetes.io/unschedulable:NoSchedule',
      'node.kubernetes.io/network-unavailable:NoSchedule',
    ]);
  });
});

describe('addOrUpdateDaemonPodTolerations', () => {
  const notReady = { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' };
  const rows: Array<{ name: string; input: V1Toleration[] | undefined; check: (out: V1Toleration[]) => void }> = [
    {
      name: 'no user tolerations: the defaults',
      input: undefined,
      check: (out) => expect(out).toEqual(defaultDaemonTolerations(false)),
    },
    {
      name: 'unrelated user toleration kept first, defaults appended',
      input: [{ key: 'dedicated', operator: 'Equal', value: 'logging', effect: 'NoSchedule' }],
      check: (out) => {
        expect(out).toHaveLength(7);
        expect(out[0]).toEqual({ key: 'dedicated', operator: 'Equal', value: 'logging', effect: 'NoSchedule' });
      },
    },
    {
      // Same key/effect/operator/value: replaced in place by the default, which drops tolerationSeconds.
      name: 'identical user toleration replaced in place, tolerationSeconds dropped',
      input: [{ ...notReady, tolerationSeconds: 300 }, { key: 'x', operator: 'Exists' }],
      check: (out) => {
        expect(out).toHaveLength(7);
        expect(out[0]).toEqual(notReady);
        expect(out.filter((t) => t.key === notReady.key)).toHaveLength(1);
      },
    },
    {
      // Operator differs ("" vs Exists), so it is not the same toleration: both are kept.
      name: 'same key with another operator is not replaced',
      input: [{ key: 'node.kubernetes.io/not-ready', operator: 'Equal', value: '', effect: 'NoExecute', tolerationSeconds: 5 }],
      check: (out) => {
        expect(out).toHaveLength(7);
        expect(out[0]?.tolerationSeconds).toBe(5);
      },
    },
  ];
  it.each(rows)('$name', ({ input, check }) => {
    const before = structuredClone(input);
    check(addOrUpdateDaemonPodTolerations(input, false));
    expect(input).toEqual(before); // input not mutated
  });
});

describe('findUntoleratedTaint', () => {
  const taints = [taint('a', 'PreferNoSchedule'), taint('b', 'NoSchedule'), taint('c', 'NoExecute')];
  const hard = (t: V1Taint) => t.effect === 'NoSchedule' || t.effect === 'NoExecute';
  it.each([
    { name: 'first untolerated that passes the filter', tolerations: [], want: 'b' },
    { name: 'tolerated taints are skipped', tolerations: [{ key: 'b', operator: 'Exists' }], want: 'c' },
    { name: 'all tolerated', tolerations: [{ operator: 'Exists' }], want: undefined },
  ])('$name', ({ tolerations, want }) => {
    expect(findUntoleratedTaint(taints, tolerations, hard)?.key).toBe(want);
  });
  it('no taints', () => expect(findUntoleratedTaint(undefined, [], hard)).toBeUndefined());
});

describe('describeTaint', () => {
  it.each([
    { t: taint('node.kubernetes.io/foo', 'NoExecute', 'bar'), want: 'node.kubernetes.io/foo=bar:NoExecute' },
    { t: taint('gpu', 'NoSchedule'), want: 'gpu:NoSchedule' },
  ])('$want', ({ t, want }) => expect(describeTaint(t)).toBe(want));
});
