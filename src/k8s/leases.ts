/**
 * daemonless's own uses of coordination.k8s.io Leases, in one place with one naming scheme
 * (`daemonless-<purpose>-<shortHash(key)>`), each Lease in its DaemonSet's namespace and owned by it (garbage-collected
 * with it):
 *
 * - failed-pod backoff, one Lease per (DaemonSet, node): upstream keeps it in memory (flowcontrol.Backoff); here it
 *   must survive the invocation. Last writer wins: two invocations deleting the same failed pod compute the same state.
 * - rollout lock, one Lease per DaemonSet: a short lock taken by compare-and-swap on the Lease's resourceVersion, so
 *   concurrent invocations apply one rolling-update step at a time within one budget (docs/rollout.md).
 */
import type { V1Lease } from '@kubernetes/client-node';
import { ConflictError, NotFoundError } from '../errors.ts';
import { shortHash } from '../core/hash.ts';
import type { BackoffState, ObjectRef } from '../core/model.ts';
import type { Calls } from './cluster.ts';

export interface LeaseProtocols {
  getBackoff(daemonSet: ObjectRef, nodeName: string): Promise<BackoffState | undefined>;
  writeBackoff(daemonSet: ObjectRef, nodeName: string, state: BackoffState): Promise<void>;
  /** True when `holder` now holds the DaemonSet's rollout lock for `ttlSeconds` (or already held it). */
  acquireRolloutLock(daemonSet: ObjectRef, holder: string, ttlSeconds: number, now: Date): Promise<boolean>;
  /** Gives the lock up early; a lock not released expires after its TTL. */
  releaseRolloutLock(daemonSet: ObjectRef, holder: string): Promise<void>;
}

export type LeasePurpose = 'backoff' | 'rollout';

/** `daemonless-<purpose>-<10-character hash of the key parts>`: deterministic, and far within name limits. */
export function leaseName(purpose: LeasePurpose, ...key: string[]): string {
  return `daemonless-${purpose}-${shortHash(key.join('/'))}`;
}

const GENERATION = 'daemonless.dev/backoff-generation';
// In an annotation, not spec.acquireTime: MicroTime wants 6 fractional digits; an annotation takes any ISO string.
const LAST_DELETION = 'daemonless.dev/last-deletion';
const HELD_UNTIL = 'daemonless.dev/held-until';
const MERGE = 'application/merge-patch+json';

const leasePath = (namespace: string, name?: string) =>
  `apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;

const ownedBy = (ds: ObjectRef) => [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: ds.name, uid: ds.uid }];

export function createLeaseProtocols({ call, orNull }: Calls): LeaseProtocols {
  return {
    async getBackoff(daemonSet, nodeName) {
      const name = leaseName('backoff', daemonSet.uid, nodeName);
      const lease = await orNull<V1Lease>({ method: 'GET', path: leasePath(daemonSet.namespace, name), what: `get lease ${daemonSet.namespace}/${name}` });
      return lease ? backoffFromLease(lease) : undefined;
    },
    async writeBackoff(daemonSet, nodeName, state) {
      const name = leaseName('backoff', daemonSet.uid, nodeName);
      const body: V1Lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: {
          name,
          namespace: daemonSet.namespace,
          annotations: { [GENERATION]: String(state.generation), [LAST_DELETION]: new Date(state.lastDeletion).toISOString(), 'daemonless.dev/node': nodeName },
          ownerReferences: ownedBy(daemonSet),
        },
        spec: { holderIdentity: `${daemonSet.namespace}/${daemonSet.name}/${nodeName}`, leaseDurationSeconds: Math.max(1, Math.round(state.delaySeconds)) },
      };
      const what = `write lease ${daemonSet.namespace}/${name}`;
      try {
        // A merge patch needs no resourceVersion; the Lease is created on first use.
        await call({ method: 'PATCH', path: leasePath(daemonSet.namespace, name), contentType: MERGE, body, what });
      } catch (error) {
        if (!(error instanceof NotFoundError)) throw error;
        await call({ method: 'POST', path: leasePath(daemonSet.namespace), body, what });
      }
    },
    async acquireRolloutLock(daemonSet, holder, ttlSeconds, now) {
      const { namespace } = daemonSet;
      const name = leaseName('rollout', daemonSet.uid);
      const heldUntil = new Date(now.getTime() + ttlSeconds * 1000).toISOString();
      const body = (resourceVersion?: string): V1Lease => ({
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name, namespace, ...(resourceVersion ? { resourceVersion } : {}), annotations: { [HELD_UNTIL]: heldUntil }, ownerReferences: ownedBy(daemonSet) },
        spec: { holderIdentity: holder, leaseDurationSeconds: ttlSeconds },
      });
      try {
        const lease = await orNull<V1Lease>({ method: 'GET', path: leasePath(namespace, name), what: `get lease ${namespace}/${name}` });
        if (lease === null) {
          await call({ method: 'POST', path: leasePath(namespace), body: body(), what: `create lease ${namespace}/${name}` });
          return true;
        }
        const until = Date.parse(lease.metadata?.annotations?.[HELD_UNTIL] ?? '');
        const free = !Number.isFinite(until) || until <= now.getTime() || lease.spec?.holderIdentity === holder;
        if (!free) return false;
        // The resourceVersion makes this a compare-and-swap: of two invocations that both saw it free, one wins.
        await call({ method: 'PUT', path: leasePath(namespace, name), body: body(lease.metadata?.resourceVersion), what: `take lease ${namespace}/${name}` });
        return true;
      } catch (error) {
        if (error instanceof ConflictError) return false;
        throw error;
      }
    },
    async releaseRolloutLock(daemonSet, holder) {
      const { namespace } = daemonSet;
      const name = leaseName('rollout', daemonSet.uid);
      try {
        const lease = await call<V1Lease>({ method: 'GET', path: leasePath(namespace, name), what: `get lease ${namespace}/${name}` });
        if (lease.spec?.holderIdentity !== holder) return;
        const annotations = { ...lease.metadata?.annotations, [HELD_UNTIL]: new Date(0).toISOString() };
        await call({ method: 'PUT', path: leasePath(namespace, name), body: { ...lease, metadata: { ...lease.metadata, annotations } }, what: `release lease ${namespace}/${name}` });
      } catch (error) {
        // Not released: it expires after its TTL.
        if (!(error instanceof NotFoundError || error instanceof ConflictError)) throw error;
      }
    },
  };
}

function backoffFromLease(lease: V1Lease): BackoffState | undefined {
  const acquired = lease.metadata?.annotations?.[LAST_DELETION];
  const delay = lease.spec?.leaseDurationSeconds;
  const generation = Number(lease.metadata?.annotations?.[GENERATION]);
  const lastDeletion = acquired ? new Date(acquired) : undefined;
  if (!lastDeletion || Number.isNaN(lastDeletion.getTime()) || !delay || !Number.isFinite(generation)) return undefined;
  return { lastDeletion, delaySeconds: delay, generation };
}
