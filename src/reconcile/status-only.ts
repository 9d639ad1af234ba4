/**
 * A DaemonSet-wide pass that pods asked for (created, bound, turning Ready: Hint `pods`) usually writes only the
 * DaemonSet's status. Under a pass lock (Lambda; a server with PASS_LOCK) such a pass runs first without the lock,
 * through a port that answers reads and the status write and refuses every other write before it is sent. A pass
 * that would write anything else (a pod, an Event, a revision, a Lease) is refused, and the caller runs it again under
 * the lock, reading afresh; so nothing but a status is ever written without the lock.
 *
 * Why that is safe: a status write is guarded by the resourceVersion the DaemonSet was read at. A pass that read
 * before another pass's status write gets a conflict and is redelivered; what it counted was true when it was read.
 * Two passes that only write status cannot make a second pod (finding 1 of docs/reliability.md, the reason for the
 * lock), since neither writes pods.
 */
import type { V1DaemonSet } from '@kubernetes/client-node';
import type { Cluster } from '../k8s/cluster.ts';

/** A write this port does not make without the pass lock. Never leaves the reconciler (the caller takes the lock). */
export class NeedsLockError extends Error {
  constructor(what: string) {
    super(`${what} needs the pass lock`);
    this.name = 'NeedsLockError';
  }
}

/** The port's calls that only read (or count), passed through as they are. */
const READS: ReadonlySet<string> = new Set<keyof Cluster>([
  'getNode',
  'listNodes',
  'getDaemonSet',
  'listDaemonSets',
  'getPod',
  'listPodsOnNode',
  'listUnscheduledPods',
  'listPods',
  'listPodMetadata',
  'listControllerRevisions',
  'getBackoff',
  'requestCount',
  'requestsByKind',
  'transientFailures',
]);

/**
 * Whether a DaemonSet's own status says a rollout may have work to do: a spec it has not observed, or nodes without
 * a pod of the current template. Such a pass is likely to delete or create, so it goes under the lock at once
 * (one DaemonSet read spent), not after reading every node and pod.
 */
export function mayRollOut(ds: V1DaemonSet): boolean {
  const status = ds.status;
  return status?.observedGeneration !== ds.metadata?.generation || (status?.updatedNumberScheduled ?? 0) < (status?.desiredNumberScheduled ?? 0);
}

export interface StatusOnlyGuard {
  /** Set once a call needed the lock; from then on the status write is refused too. */
  readonly refused: string | undefined;
  wrap(cluster: Cluster): Cluster;
}

/**
 * The guard for one unlocked pass. `hinted` names the DaemonSets the hints are for (`namespace/name`): when one of
 * them, as read, `mayRollOut`, the read itself is refused.
 */
export function statusOnlyGuard(hinted: ReadonlySet<string>): StatusOnlyGuard {
  let refused: string | undefined;
  const refuse = (what: string): never => {
    refused ??= what;
    throw new NeedsLockError(what);
  };
  const check = (daemonSets: (V1DaemonSet | null)[]): void => {
    const busy = daemonSets.find((ds) => ds !== null && hinted.has(`${ds.metadata?.namespace}/${ds.metadata?.name}`) && mayRollOut(ds));
    if (busy) refuse(`a rollout of ${busy.metadata?.namespace}/${busy.metadata?.name}`);
  };
  return {
    get refused() {
      return refused;
    },
    wrap(cluster) {
      return new Proxy(cluster, {
        get(target, property, receiver) {
          const value: unknown = Reflect.get(target, property, receiver);
          if (typeof value !== 'function' || typeof property !== 'string') return value;
          const call = value as (...args: unknown[]) => unknown;
          if (property === 'getDaemonSet') {
            return async (...args: unknown[]) => {
              const ds = (await call.apply(target, args)) as V1DaemonSet | null;
              check([ds]);
              return ds;
            };
          }
          if (property === 'listDaemonSets') {
            return async (...args: unknown[]) => {
              const list = (await call.apply(target, args)) as V1DaemonSet[];
              check(list);
              return list;
            };
          }
          if (READS.has(property)) return call.bind(target);
          if (property === 'updateDaemonSetStatus') {
            return (...args: unknown[]) => (refused !== undefined ? Promise.reject(new NeedsLockError(property)) : call.apply(target, args));
          }
          return () => {
            try {
              refuse(property);
            } catch (error) {
              return Promise.reject(error);
            }
          };
        },
      });
    },
  };
}
