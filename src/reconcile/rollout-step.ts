/**
 * One rolling-update step for one DaemonSet (src/core/rollout.ts), within the global maxUnavailable / maxSurge budget
 * although many invocations run at once: the step runs under the DaemonSet's rollout lock (src/k8s/leases.ts) and
 * plans from pods read *after* taking it, so it sees every earlier step's deletes and creates. An invocation that does
 * not get the lock skips the step; the holder's writes bring the next events. Where passes never overlap (the pass lock,
 * or one pass at a time in a local server) the step takes no lock. See docs/rollout.md.
 */
import type { V1DaemonSet, V1Node } from '@kubernetes/client-node';
import type { NodeState } from '../core/model.ts';
import { planRollingUpdate } from '../core/rollout.ts';
import { daemonSetRef, keyOf } from '../core/refs.ts';
import { nodeStates } from '../core/snapshot.ts';
import { selectorQuery } from '../core/label-selector.ts';
import { apply } from './apply.ts';
import { requeueAfter, type Pass } from './deps.ts';

/** How long a rollout step may hold its DaemonSet's lock; a crashed holder is passed over after this. */
const ROLLOUT_LOCK_SECONDS = 15;

/** One rolling-update step for `ds`; false when some of its writes did not take effect (upstream: the step failed). */
export async function rolloutStep(pass: Pass, ds: V1DaemonSet, snapshot: NodeState[], nodes: V1Node[], hash: string): Promise<boolean> {
  const { deps, cluster } = pass;
  const ref = daemonSetRef(ds);
  // Most passes have no step to take (the rollout is done, or waits for a new pod to become available): they need
  // neither the lock nor a fresh read. Writes already made by others only shrink what the snapshot shows as possible.
  const preview = planRollingUpdate(ds, snapshot, hash, deps.now());
  requeueAfter(pass, preview.requeueAfterSeconds);
  if (preview.creates.length + preview.deletes.length === 0) return true;
  // Where passes never overlap (deps.ts `passesSerialized`), no other pass can be spending the budget meanwhile: the
  // step needs no lock, only the fresh read below (changes made by others since the pass's reads, such as a pod no
  // longer Ready, still count against the budget).
  const holder = deps.options.passesSerialized ? null : deps.newId();
  if (holder !== null && !(await cluster.acquireRolloutLock(ref, holder, ROLLOUT_LOCK_SECONDS, deps.now()))) {
    deps.log.debug('rollout step skipped: another invocation holds the lock', { daemonSet: keyOf(ds) });
    return true;
  }
  try {
    // Its own pods, by selector (a name held by some other pod is resolved when a create meets it: apply.ts).
    const fresh = await cluster.listPods(ref.namespace, selectorQuery(ds.spec?.selector));
    const step = planRollingUpdate(ds, nodeStates(nodes, fresh), hash, deps.now());
    if (step.creates.length + step.deletes.length > 0) {
      deps.log.info('rollout step', { daemonSet: keyOf(ds), summary: step.summary, creates: step.creates.length, deletes: step.deletes.length });
    }
    const incomplete = await apply(pass, { actions: [...step.creates, ...step.deletes], events: [], decisions: [] });
    requeueAfter(pass, step.requeueAfterSeconds);
    return incomplete.size === 0;
  } finally {
    if (holder !== null) await cluster.releaseRolloutLock(ref, holder).catch((error: unknown) => deps.log.warn('rollout lock not released', { error: String(error) }));
  }
}
