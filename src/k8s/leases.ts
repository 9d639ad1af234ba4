/**
 * daemonless's own uses of coordination.k8s.io Leases, in one place: one namespace (LEASE_NAMESPACE, so the
 * reconciler needs Lease rights there only, never in kube-node-lease or kube-system), one naming scheme
 * (`daemonless-<purpose>-<shortHash(key)>`), labels saying whose they are:
 *
 * - failed-pod backoff, one Lease per (DaemonSet, node): upstream keeps it in memory (flowcontrol.Backoff); here it
 *   must survive the invocation. Last writer wins: two invocations deleting the same failed pod compute the same state.
 * - rollout lock, one Lease per DaemonSet: a short lock taken by compare-and-swap on the Lease's resourceVersion, so
 *   concurrent invocations apply one rolling-update step at a time within one budget (docs/rollout.md); only where
 *   passes may overlap (`PASS_LOCK=off` with several reconciles at once), since the pass lock already serialises them.
 * - pass schedule, one Lease per DaemonSet (the queue runtime): see `PassScheduler`.
 * - pass lock, one Lease for all: where passes can overlap (Lambda instances), one pass at a time reads and writes
 *   pods, as in the local server's in-process queue: see `PassLock`.
 *
 * An owner reference cannot cross namespaces, so these are not garbage-collected with their DaemonSet: the resync
 * deletes those whose DaemonSet or node is gone, or that have served their purpose (`cleanUpLeases`).
 */
import { randomUUID } from 'node:crypto';
import type { V1Lease } from '@kubernetes/client-node';
import { ConflictError, NotFoundError } from '../errors.ts';
import { shortHash } from '../core/hash.ts';
import type { BackoffState, DaemonSetKind, ObjectRef } from '../core/model.ts';
import { mapLimit } from '../concurrency.ts';
import type { Calls } from './calls.ts';

/** Lease deletes in flight at once in `cleanUpLeases`. */
export const CLEANUP_CONCURRENCY = 8;
/** Leases deleted by one `cleanUpLeases` at most (the rest at the next resync): it runs under the pass lock. */
export const CLEANUP_MAX = 200;

export interface LeaseProtocols {
  getBackoff(daemonSet: ObjectRef, nodeName: string): Promise<BackoffState | undefined>;
  writeBackoff(daemonSet: ObjectRef, nodeName: string, state: BackoffState): Promise<void>;
  /** True when `holder` now holds the DaemonSet's rollout lock for `ttlSeconds` (or already held it). */
  acquireRolloutLock(daemonSet: ObjectRef, holder: string, ttlSeconds: number, now: Date): Promise<boolean>;
  /** Gives the lock up early; a lock not released expires after its TTL. */
  releaseRolloutLock(daemonSet: ObjectRef, holder: string): Promise<void>;
  /**
   * Deletes the Leases no longer needed: of DaemonSets (UIDs) not in `liveDaemonSets`, backoffs of nodes not in
   * `liveNodes` or older than `staleAfterMs`, pass schedules older than `staleAfterMs`; at most CLEANUP_MAX, the rest
   * at the next call. Returns how many went.
   */
  cleanUpLeases(liveDaemonSets: ReadonlySet<string>, liveNodes: ReadonlySet<string>, now: Date, staleAfterMs: number): Promise<number>;
}

export type LeasePurpose = 'backoff' | 'rollout' | 'pass' | 'lock';

/** `daemonless-<purpose>-<10-character hash of the key parts>`: deterministic, and far within name limits. */
export function leaseName(purpose: LeasePurpose, ...key: string[]): string {
  return `daemonless-${purpose}-${shortHash(key.join('/'))}`;
}

const MANAGED_BY = 'app.kubernetes.io/managed-by';
const PURPOSE = 'daemonless.dev/purpose';
const DAEMONSET_UID = 'daemonless.dev/daemonset-uid';
const NODE = 'daemonless.dev/node';
const GENERATION = 'daemonless.dev/backoff-generation';
// In an annotation, not spec.acquireTime: MicroTime wants 6 fractional digits; an annotation takes any ISO string.
const LAST_DELETION = 'daemonless.dev/last-deletion';
const HELD_UNTIL = 'daemonless.dev/held-until';
const SCHEDULED_AT = 'daemonless.dev/pass-scheduled-at';
// Who wrote the schedule: a write whose answer was lost is recognised as one's own when it is read back.
const SCHEDULED_BY = 'daemonless.dev/pass-scheduled-by';
const MERGE = 'application/merge-patch+json';

/** Labels of every daemonless Lease; a DaemonSet UID when the Lease belongs to one. */
function leaseLabels(purpose: LeasePurpose, daemonSetUid?: string): Record<string, string> {
  return { [MANAGED_BY]: 'daemonless', [PURPOSE]: purpose, ...(daemonSetUid ? { [DAEMONSET_UID]: daemonSetUid } : {}) };
}

export function createLeaseProtocols({ call, orNull }: Calls, namespace: string): LeaseProtocols {
  const path = (name?: string) =>
    `apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;
  const get = (name: string) => orNull<V1Lease>({ method: 'GET', path: path(name), what: `get lease ${namespace}/${name}` });
  return {
    async getBackoff(daemonSet, nodeName) {
      const lease = await get(leaseName('backoff', daemonSet.uid, nodeName));
      return lease ? backoffFromLease(lease) : undefined;
    },
    async writeBackoff(daemonSet, nodeName, state) {
      const name = leaseName('backoff', daemonSet.uid, nodeName);
      const body = leaseBody(
        { name, namespace },
        leaseLabels('backoff', daemonSet.uid),
        { [GENERATION]: String(state.generation), [LAST_DELETION]: new Date(state.lastDeletion).toISOString(), [NODE]: nodeName },
        { holderIdentity: `${daemonSet.namespace}/${daemonSet.name}/${nodeName}`, leaseDurationSeconds: Math.max(1, Math.round(state.delaySeconds)) },
      );
      const what = `write lease ${namespace}/${name}`;
      try {
        // A merge patch needs no resourceVersion; the Lease is created on first use.
        await call({ method: 'PATCH', path: path(name), contentType: MERGE, body, what });
      } catch (error) {
        if (!(error instanceof NotFoundError)) throw error;
        await call({ method: 'POST', path: path(), body, what });
      }
    },
    async acquireRolloutLock(daemonSet, holder, ttlSeconds, now) {
      const name = leaseName('rollout', daemonSet.uid);
      const heldUntil = new Date(now.getTime() + ttlSeconds * 1000).toISOString();
      const body = (resourceVersion?: string): V1Lease =>
        leaseBody({ name, namespace, resourceVersion }, leaseLabels('rollout', daemonSet.uid), { [HELD_UNTIL]: heldUntil }, { holderIdentity: holder, leaseDurationSeconds: ttlSeconds });
      try {
        const lease = await get(name);
        if (lease === null) {
          await call({ method: 'POST', path: path(), body: body(), what: `create lease ${namespace}/${name}` });
          return true;
        }
        const until = lockHeldUntil(lease);
        const free = !Number.isFinite(until) || until <= now.getTime() || lease.spec?.holderIdentity === holder;
        if (!free) return false;
        // The resourceVersion makes this a compare-and-swap: of two invocations that both saw it free, one wins.
        await call({ method: 'PUT', path: path(name), body: body(lease.metadata?.resourceVersion), what: `take lease ${namespace}/${name}` });
        return true;
      } catch (error) {
        if (error instanceof ConflictError) return false;
        throw error;
      }
    },
    async releaseRolloutLock(daemonSet, holder) {
      const name = leaseName('rollout', daemonSet.uid);
      try {
        const lease = await call<V1Lease>({ method: 'GET', path: path(name), what: `get lease ${namespace}/${name}` });
        if (lease.spec?.holderIdentity !== holder) return;
        const annotations = { ...lease.metadata?.annotations, [HELD_UNTIL]: new Date(0).toISOString() };
        await call({ method: 'PUT', path: path(name), body: { ...lease, metadata: { ...lease.metadata, annotations } }, what: `release lease ${namespace}/${name}` });
      } catch (error) {
        // Not released: it expires after its TTL.
        if (!(error instanceof NotFoundError || error instanceof ConflictError)) throw error;
      }
    },
    async cleanUpLeases(liveDaemonSets, liveNodes, now, staleAfterMs) {
      const list = await call<{ items?: V1Lease[] }>({ method: 'GET', path: path(), query: { labelSelector: `${MANAGED_BY}=daemonless` }, what: `list leases in ${namespace}` });
      const gone = (list.items ?? []).filter((lease) => leaseIsDone(lease, liveDaemonSets, liveNodes, now.getTime() - staleAfterMs)).slice(0, CLEANUP_MAX);
      // A few at a time: thousands can pile up (a pass schedule per DaemonSet ever created, while no resync ran), and
      // as many deletes at once ran a 256 MB resync out of memory, again at every retry (docs/reliability.md).
      await mapLimit(
        gone,
        CLEANUP_CONCURRENCY,
        async (lease) => {
          try {
            // The UID precondition keeps a Lease re-created meanwhile.
            await call({ method: 'DELETE', path: path(lease.metadata?.name), body: { preconditions: { uid: lease.metadata?.uid } }, what: `delete lease ${namespace}/${lease.metadata?.name}` });
          } catch (error) {
            if (!(error instanceof NotFoundError || error instanceof ConflictError)) throw error;
          }
        },
      );
      return gone.length;
    },
  };
}

/** Until when a lock Lease (rollout lock, pass lock) is held, epoch ms; NaN when it says no valid time. Pure. */
export function lockHeldUntil(lease: V1Lease): number {
  return Date.parse(lease.metadata?.annotations?.[HELD_UNTIL] ?? '');
}

/** Whether a daemonless Lease has served its purpose (see `cleanUpLeases`). Pure. */
export function leaseIsDone(lease: V1Lease, liveDaemonSets: ReadonlySet<string>, liveNodes: ReadonlySet<string>, staleBefore: number): boolean {
  const labels = lease.metadata?.labels ?? {};
  const annotations = lease.metadata?.annotations ?? {};
  const uid = labels[DAEMONSET_UID];
  if (uid !== undefined && !liveDaemonSets.has(uid)) return true;
  switch (labels[PURPOSE]) {
    case 'backoff': {
      const node = annotations[NODE];
      return (node !== undefined && !liveNodes.has(node)) || Date.parse(annotations[LAST_DELETION] ?? '') < staleBefore;
    }
    case 'pass':
      return Date.parse(annotations[SCHEDULED_AT] ?? '') < staleBefore;
    case 'lock':
      return lockHeldUntil(lease) < staleBefore;
    default:
      return false;
  }
}

/**
 * When the queue runtime schedules DaemonSet-wide passes (follow-ups, re-queues), one Lease per DaemonSet records the
 * time of the latest pass scheduled, so that however many node events ask for one, at most one pass per
 * `intervalMs` runs, and none is skipped that a change needs (a pass scheduled in the future reads the cluster after
 * the change that asks). Compare-and-swap on the Lease's resourceVersion keeps concurrent invocations from both
 * scheduling.
 */
export interface PassScheduler {
  /**
   * A pass of `daemonSet` is wanted at `atMs` (epoch ms, not before). Returns the delay in seconds after which the
   * caller must enqueue it, or null when a pass already scheduled in [atMs, atMs + intervalMs] covers it.
   */
  schedule(daemonSet: ScheduledDaemonSet, atMs: number, intervalMs: number, now: number): Promise<number | null>;
  /**
   * Several passes at once, each answered as `schedule` would, in order. When every request names its DaemonSet's
   * UID, their Leases are read with one LIST (by the UID label) instead of a GET each: a join under four DaemonSets
   * asks for four follow-ups together.
   */
  scheduleMany(requests: readonly { daemonSet: ScheduledDaemonSet; atMs: number }[], intervalMs: number, now: number): Promise<(number | null)[]>;
}

export type ScheduledDaemonSet = { namespace: string; name: string; uid?: string; type?: DaemonSetKind };

/**
 * When to schedule a pass wanted at `atMs`, given the one last scheduled at `scheduled` (NaN: none): null when that one
 * is in [atMs, atMs + intervalMs] and covers it; else never before it is wanted and, after an earlier pass, not closer
 * to it than `intervalMs`. A pass scheduled further in the future stays queued; the Lease then records the nearer
 * one, by which the next requests are measured.
 */
export function nextPassAt(scheduled: number, atMs: number, intervalMs: number): number | null {
  if (!Number.isFinite(scheduled)) return atMs;
  if (scheduled >= atMs && scheduled <= atMs + intervalMs) return null;
  return scheduled < atMs ? Math.max(atMs, scheduled + intervalMs) : atMs;
}

export function createPassScheduler({ call, orNull }: Calls, namespace: string, newId: () => string = randomUUID): PassScheduler {
  const path = (name?: string) =>
    `apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;
  const nameOf = (daemonSet: ScheduledDaemonSet) => leaseName('pass', daemonSet.type ?? 'DaemonSet', daemonSet.namespace, daemonSet.name);
  /** `known`: the Lease as a LIST just returned it (null: not there); undefined: read it first. */
  const scheduleOne = async (daemonSet: ScheduledDaemonSet, atMs: number, intervalMs: number, now: number, known?: V1Lease | null): Promise<number | null> => {
    const name = nameOf(daemonSet);
    const mine = newId();
    const delay = (at: number) => Math.max(0, Math.ceil((at - now) / 1000));
    for (let attempt = 0; attempt < 2; attempt++) {
      const lease = attempt === 0 && known !== undefined ? known : await orNull<V1Lease>({ method: 'GET', path: path(name), what: `get lease ${namespace}/${name}` });
      const scheduled = Date.parse(lease?.metadata?.annotations?.[SCHEDULED_AT] ?? '');
      // Our own write, applied although its answer was lost (its retry then conflicted): the pass it records is ours
      // to enqueue. Taken as someone else's, it would cover this request and no message would ever be sent.
      if (lease?.metadata?.annotations?.[SCHEDULED_BY] === mine && Number.isFinite(scheduled)) return delay(scheduled);
      const target = nextPassAt(scheduled, atMs, intervalMs);
      if (target === null) return null;
      const body = leaseBody(
        { name, namespace, resourceVersion: lease?.metadata?.resourceVersion },
        // A request that does not know the DaemonSet's UID (a pod's change) keeps the one the Lease has.
        leaseLabels('pass', daemonSet.uid ?? lease?.metadata?.labels?.[DAEMONSET_UID]),
        { [SCHEDULED_AT]: new Date(target).toISOString(), [SCHEDULED_BY]: mine },
        { holderIdentity: `${daemonSet.namespace}/${daemonSet.name}` },
      );
      try {
        if (lease === null) await call({ method: 'POST', path: path(), body, what: `create lease ${namespace}/${name}` });
        else await call({ method: 'PUT', path: path(name), body, what: `update lease ${namespace}/${name}` });
        return delay(target);
      } catch (error) {
        // Someone scheduled meanwhile (their pass may cover this one), our own write met again, or a Lease the LIST
        // did not show (one without the UID label): look again.
        if (!(error instanceof ConflictError)) throw error;
      }
    }
    // Twice beaten by other schedulers: enqueue anyway; an extra pass costs reads, never correctness.
    return delay(atMs);
  };
  return {
    schedule: (daemonSet, atMs, intervalMs, now) => scheduleOne(daemonSet, atMs, intervalMs, now),
    async scheduleMany(requests, intervalMs, now) {
      const uids = requests.map((r) => r.daemonSet.uid);
      if (requests.length < 2 || uids.some((uid) => !uid)) return Promise.all(requests.map((r) => scheduleOne(r.daemonSet, r.atMs, intervalMs, now)));
      const list = await call<{ items?: V1Lease[] }>({
        method: 'GET',
        path: path(),
        query: { labelSelector: `${PURPOSE}=pass,${DAEMONSET_UID} in (${[...new Set(uids)].sort().join(',')})` },
        what: `list pass leases in ${namespace}`,
      });
      const byName = new Map((list.items ?? []).map((lease) => [lease.metadata?.name, lease]));
      // The same DaemonSet twice (a follow-up and a re-queue): the second reads its Lease again after the first wrote.
      const seen = new Set<string>();
      return Promise.all(
        requests.map((r) => {
          const name = nameOf(r.daemonSet);
          const known = seen.has(name) ? undefined : (byName.get(name) ?? null);
          seen.add(name);
          return scheduleOne(r.daemonSet, r.atMs, intervalMs, now, known);
        }),
      );
    },
  };
}

/**
 * One pass at a time, across processes: where two reconciles can run at once (Lambda's event source mapping runs at
 * least two batches concurrently), two passes that read either side of a template edit, or either side of a pod's
 * delete, would each create a pod for the same node under different names (docs/reliability.md, finding 1). The lock
 * is the existence of one Lease: taken by creating it (of two creates, the API server accepts one), given back by
 * deleting it with a UID precondition, so a pass costs two writes and no read. It is held for a short time
 * (`held-until`), which a pass that takes longer renews (a PUT guarded by the resourceVersion of its last write), so
 * a holder that died (a timeout, a crash, a killed environment) blocks the others only until then: the next taker
 * deletes the expired Lease, guarded by its UID and resourceVersion, and creates its own.
 */
export interface PassLock {
  /** Takes the lock until `heldUntil` (epoch ms): the holder's handle, or null while another holder's lock is valid. */
  tryAcquire(holder: string, heldUntil: number, now: number): Promise<HeldPassLock | null>;
}

export interface HeldPassLock {
  /** Holds it until `heldUntil` (epoch ms): false when it is no longer this holder's (it expired and was taken over). */
  renew(heldUntil: number, now: number): Promise<boolean>;
  /** Gives the lock back (`now`: epoch ms); a lock not given back (crash, timeout) is taken over after its `held-until`. */
  release(now: number): Promise<void>;
}

export const PASS_LOCK_NAME = leaseName('lock', 'passes');

/** How the pass lock's requests are bounded. */
export interface PassLockTiming {
  /**
   * Each request's timeout. A Lease write is small and fast; a request that hangs (a dropped connection) must not hold
   * every pass up for the transport's whole timeout, since all of them wait for the lock (the reliability run's
   * timeout faults in the Lambda runtime).
   */
  requestTimeoutMs: number;
  /** How long one operation (take, renew, give back) retries its transient failures. */
  operationMs: number;
}

export const PASS_LOCK_TIMING: PassLockTiming = { requestTimeoutMs: 3_000, operationMs: 6_000 };

/**
 * `calls(deadline)`: requests retried until `deadline`; each operation gets its own (its `now` + `operationMs`), so a
 * give-back after a long pass is still retried. `name`: the one Lease every pass uses; another only where a test must
 * not meet a running system's passes.
 */
export function createPassLock(
  calls: (deadline: number) => Calls,
  namespace: string,
  name: string = PASS_LOCK_NAME,
  timing: PassLockTiming = PASS_LOCK_TIMING,
): PassLock {
  const collection = `apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`;
  const path = `${collection}/${name}`;
  /** The calls of one operation started at `now`, every request with the lock's short timeout. */
  const operation = (now: number): Calls => {
    const bounded = calls(now + timing.operationMs);
    return {
      call: (request) => bounded.call({ ...request, timeoutMs: timing.requestTimeoutMs }),
      orNull: (request) => bounded.orNull({ ...request, timeoutMs: timing.requestTimeoutMs }),
    };
  };
  const remove = async (
    { call }: Calls,
    preconditions: { uid?: string | undefined; resourceVersion?: string | undefined },
    what: string,
  ): Promise<void> => {
    try {
      await call({ method: 'DELETE', path, body: { preconditions }, what: `${what} lease ${namespace}/${name}` });
    } catch (error) {
      // Gone already, or no longer the Lease we meant (given back and taken again): nothing of ours to remove.
      if (!(error instanceof NotFoundError || error instanceof ConflictError)) throw error;
    }
  };
  return {
    async tryAcquire(holder, heldUntil, now) {
      const { call, orNull } = operation(now);
      const body = (until: number, at: number, resourceVersion?: string) =>
        leaseBody({ name, namespace, resourceVersion }, leaseLabels('lock'), { [HELD_UNTIL]: new Date(until).toISOString() }, {
          holderIdentity: holder,
          leaseDurationSeconds: Math.max(1, Math.ceil((until - at) / 1000)),
        });
      /** The holder's handle on the Lease it took (`taken`: as the API server answered the create, or read back). */
      const handleFor = (taken: V1Lease): HeldPassLock => {
        let held = taken;
        const uid = taken.metadata?.uid;
        return {
          async renew(until, at) {
            const { call, orNull } = operation(at);
            for (let attempt = 0; attempt < 2; attempt++) {
              try {
                held = await call<V1Lease>({ method: 'PUT', path, body: body(until, at, held.metadata?.resourceVersion), what: `renew lease ${namespace}/${name}` });
                return true;
              } catch (error) {
                if (!(error instanceof ConflictError || error instanceof NotFoundError)) throw error;
              }
              // A renewal that applied but whose answer was lost, retried with the old resourceVersion, conflicts with
              // itself: still ours if the Lease is the one taken and names this holder.
              const current = await orNull<V1Lease>({ method: 'GET', path, what: `get lease ${namespace}/${name}` });
              if (current === null || current.metadata?.uid !== uid || current.spec?.holderIdentity !== holder) return false;
              held = current;
            }
            return false;
          },
          release: (at) => remove(operation(at), { uid }, 'give back'),
        };
      };
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          return handleFor(await call<V1Lease>({ method: 'POST', path: collection, body: body(heldUntil, now), what: `take lease ${namespace}/${name}` }));
        } catch (error) {
          if (!(error instanceof ConflictError)) throw error;
        }
        const held = await orNull<V1Lease>({ method: 'GET', path, what: `get lease ${namespace}/${name}` });
        // Given back between our create and this read: try once more.
        if (held === null) continue;
        // Our own create, applied although its answer was lost (the retry then met it): ours.
        if (held.spec?.holderIdentity === holder) return handleFor(held);
        const until = lockHeldUntil(held);
        if (Number.isFinite(until) && until > now) return null;
        // Its holder is gone (or wrote no valid time): remove exactly that Lease, then take it.
        await remove({ call, orNull }, { uid: held.metadata?.uid, resourceVersion: held.metadata?.resourceVersion }, 'take over expired');
      }
      return null;
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

/** A Lease of daemonless's own: its identity (with the resourceVersion a PUT is guarded by), labels, annotations, spec. */
function leaseBody(
  id: { name: string; namespace: string; resourceVersion?: string | undefined },
  labels: Record<string, string>,
  annotations: Record<string, string>,
  spec: NonNullable<V1Lease['spec']>,
): V1Lease {
  const { resourceVersion, ...named } = id;
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { ...named, ...(resourceVersion ? { resourceVersion } : {}), labels, annotations },
    spec,
  };
}
