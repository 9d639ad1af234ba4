/** Which of daemonless's own Leases the resync removes (src/k8s/leases.ts `leaseIsDone`): pure. */
import type { V1Lease } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { Calls } from '../../src/k8s/calls.ts';
import { CLEANUP_CONCURRENCY, CLEANUP_MAX, createLeaseProtocols, leaseIsDone, leaseName } from '../../src/k8s/leases.ts';

const NOW = Date.parse('2026-01-01T01:00:00Z');
const staleBefore = NOW - 30 * 60_000;
const lease = (purpose: string, labels: Record<string, string>, annotations: Record<string, string>): V1Lease => ({
  metadata: { name: 'x', labels: { 'app.kubernetes.io/managed-by': 'daemonless', 'daemonless.dev/purpose': purpose, ...labels }, annotations },
});
const live = new Set(['ds-1']);
const nodes = new Set(['n1']);

describe('leaseIsDone', () => {
  it.each([
    { name: 'backoff of a live DaemonSet and node, recent: kept', l: lease('backoff', { 'daemonless.dev/daemonset-uid': 'ds-1' }, { 'daemonless.dev/node': 'n1', 'daemonless.dev/last-deletion': '2026-01-01T00:59:00Z' }), want: false },
    { name: 'backoff of a deleted DaemonSet: removed', l: lease('backoff', { 'daemonless.dev/daemonset-uid': 'ds-2' }, { 'daemonless.dev/node': 'n1', 'daemonless.dev/last-deletion': '2026-01-01T00:59:00Z' }), want: true },
    { name: 'backoff of a deleted node: removed', l: lease('backoff', { 'daemonless.dev/daemonset-uid': 'ds-1' }, { 'daemonless.dev/node': 'gone', 'daemonless.dev/last-deletion': '2026-01-01T00:59:00Z' }), want: true },
    // Upstream forgets a backoff untouched for twice its 15-minute cap: so can we.
    { name: 'backoff older than 30 minutes: removed', l: lease('backoff', { 'daemonless.dev/daemonset-uid': 'ds-1' }, { 'daemonless.dev/node': 'n1', 'daemonless.dev/last-deletion': '2026-01-01T00:29:00Z' }), want: true },
    { name: 'rollout lock of a live DaemonSet: kept', l: lease('rollout', { 'daemonless.dev/daemonset-uid': 'ds-1' }, {}), want: false },
    { name: 'rollout lock of a deleted DaemonSet: removed', l: lease('rollout', { 'daemonless.dev/daemonset-uid': 'ds-9' }, {}), want: true },
    { name: 'pass schedule, recent: kept', l: lease('pass', {}, { 'daemonless.dev/pass-scheduled-at': '2026-01-01T00:59:59Z' }), want: false },
    { name: 'pass lock, held or recently expired: kept', l: lease('lock', {}, { 'daemonless.dev/held-until': '2026-01-01T00:59:00Z' }), want: false },
    // A holder that died leaves it; the next pass takes it over, and the resync removes it once it is long spent.
    { name: 'pass lock expired 30 minutes ago: removed', l: lease('lock', {}, { 'daemonless.dev/held-until': '2026-01-01T00:29:00Z' }), want: true },
    { name: 'pass schedule, stale: removed', l: lease('pass', {}, { 'daemonless.dev/pass-scheduled-at': '2026-01-01T00:00:00Z' }), want: true },
  ])('$name', ({ l, want }) => {
    expect(leaseIsDone(l, live, nodes, staleBefore)).toBe(want);
  });

  it('names are deterministic and within the 63-character limit', () => {
    expect(leaseName('backoff', 'ds-1', 'n1')).toBe(leaseName('backoff', 'ds-1', 'n1'));
    expect(leaseName('backoff', 'ds-1', 'n1')).toMatch(/^daemonless-backoff-[a-z0-9]{10}$/);
    expect(leaseName('rollout', 'ds-1')).not.toBe(leaseName('pass', 'ds-1'));
  });
});

describe('cleanUpLeases', () => {
  // The port's own Calls, recording: what a resync asks of the API server when 1,500 spent Leases have piled up.
  it(`of thousands of spent Leases deletes ${CLEANUP_MAX} (it runs under the pass lock), ${CLEANUP_CONCURRENCY} at a time, each with its UID precondition`, async () => {
    const spent = Array.from({ length: 1_500 }, (_, i) => lease('pass', { 'daemonless.dev/daemonset-uid': `gone-${i}` }, { 'daemonless.dev/pass-scheduled-at': '2026-01-01T00:59:00Z' }));
    spent.forEach((l, i) => (l.metadata = { ...l.metadata, name: `daemonless-pass-${i}`, uid: `uid-${i}` }));
    let inFlight = 0;
    let most = 0;
    const deleted: unknown[] = [];
    const calls: Calls = {
      async call<T>(request: { method: string; body?: unknown }): Promise<T> {
        if (request.method === 'GET') return { items: spent } as T;
        most = Math.max(most, ++inFlight);
        await new Promise((resolve) => setTimeout(resolve, 0));
        inFlight--;
        deleted.push(request.body);
        return {} as T;
      },
      orNull: async () => null,
    };
    const removed = await createLeaseProtocols(calls, 'daemonless-system').cleanUpLeases(live, nodes, new Date(NOW), 30 * 60_000);
    expect(removed).toBe(CLEANUP_MAX);
    expect(deleted).toHaveLength(CLEANUP_MAX);
    expect(deleted[7]).toEqual({ preconditions: { uid: 'uid-7' } });
    expect(most).toBe(CLEANUP_CONCURRENCY);
  });
});
