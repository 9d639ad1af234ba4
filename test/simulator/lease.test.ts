import { describe, expect, it } from 'vitest';
import { leaseFor, microTime, renewalDelay } from '../../devcluster/simulator/lease.ts';

describe('microTime', () => {
  it('has the six fractional digits metav1.MicroTime requires', () => {
    expect(microTime(new Date('2026-11-28T01:02:03.456Z'))).toBe('2026-11-28T01:02:03.456000Z');
  });
});

describe('leaseFor', () => {
  it('is held by the node, owned by the node, in kube-node-lease', () => {
    const lease = leaseFor({ name: 'sim-a-0', uid: 'u1' }, 60, new Date('2026-11-28T00:00:00Z'));
    expect(lease.metadata).toEqual({
      name: 'sim-a-0',
      namespace: 'kube-node-lease',
      ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: 'sim-a-0', uid: 'u1' }],
    });
    expect(lease.spec).toEqual({ holderIdentity: 'sim-a-0', leaseDurationSeconds: 60, renewTime: '2026-11-28T00:00:00.000000Z' });
  });
});

describe('renewalDelay', () => {
  const interval = 20_000;
  it.each([
    // First renewal creates the Lease promptly.
    ['first, low', 0, 0, 0],
    ['first, high', 0, 0.999, 999],
    // Second: anywhere in the interval, which spreads nodes registered together.
    ['second, low', 1, 0, 2000],
    ['second, high', 1, 1, 20_000],
    ['later, low', 5, 0, 19_000],
    ['later, high', 5, 1, 21_000],
  ])('%s', (_, renewals, random, expected) => {
    expect(renewalDelay(interval, renewals, random)).toBe(expected);
  });

  it('never waits longer than the interval for the first one on short intervals', () => {
    expect(renewalDelay(500, 0, 0.99)).toBeLessThan(500);
  });
});
