/** Pure parts of node heartbeats: the Lease a kubelet keeps in kube-node-lease, and when to renew it. */
import type { V1Lease } from '@kubernetes/client-node';
import { NODE_LEASE_NAMESPACE } from './well-known.ts';

/**
 * metav1.MicroTime: the API server parses exactly six fractional digits (RFC3339Micro); a JavaScript ISO string
 * has three, which it rejects.
 */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** The node's Lease, owned by the Node so the garbage collector removes it with the node (as kubelet does). */
export function leaseFor(node: { name: string; uid: string }, durationSeconds: number, now: Date): V1Lease {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: node.name,
      namespace: NODE_LEASE_NAMESPACE,
      ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: node.name, uid: node.uid }],
    },
    spec: {
      holderIdentity: node.name,
      leaseDurationSeconds: durationSeconds,
      // Sent as a string: client-node would serialize a Date with millisecond precision (see microTime).
      renewTime: microTime(now) as unknown as V1Lease['spec'] extends infer S ? (S extends { renewTime?: infer R } ? R : never) : never,
    },
  };
}

/**
 * Delay before a node's next renewal. The first one (creating the Lease) comes within a second of discovery; the
 * second anywhere in (0.1, 1] intervals, which spreads nodes registered together over the whole interval; after
 * that every interval ±5 %, so renewals stay spread instead of arriving in bursts.
 */
export function renewalDelay(intervalMs: number, renewals: number, random: number): number {
  if (renewals === 0) return Math.floor(random * Math.min(1000, intervalMs));
  if (renewals === 1) return Math.floor(intervalMs * (0.1 + 0.9 * random));
  return Math.floor(intervalMs * (0.95 + 0.1 * random));
}
