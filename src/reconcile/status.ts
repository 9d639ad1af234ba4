/**
 * DaemonSet status (upstream `updateDaemonSetStatus` / `storeDaemonSetStatus`): computed from the snapshot the pass
 * planned with, for the generation it planned; written only when a counter changed, observedGeneration lags or a
 * condition would read differently (the current revision's, core/history.ts `revisionCondition`, among them).
 */
import type { V1DaemonSet } from '@kubernetes/client-node';
import { ConflictError, isTransient } from '../errors.ts';
import type { NodeState } from '../core/model.ts';
import { daemonSetKindOf, keyOf, namespaceOf } from '../core/refs.ts';
import { computeStatus, conditionsToWrite, nextStatus, statusNeedsUpdate, statusRequeueAfterSeconds, withCounted, withRefusal, type Refusal } from '../core/status.ts';
import type { SeenAt } from '../hints.ts';
import { followUp, requeueAfter, type Pass } from './deps.ts';

/**
 * Writes the status of `ds` with the resourceVersion it was read at. The counters and `observedGeneration` always
 * belong together: both come from the DaemonSet this pass planned with. On a conflict the DaemonSet is re-read; if
 * its generation is still the planned one and its status the one this pass read, the same status is written on the
 * new resourceVersion (as upstream retries); if the spec changed meanwhile, or another pass wrote the status (its
 * counts may be newer), nothing is written and a fresh DaemonSet-wide pass is asked for. `seen`: the resourceVersions
 * of the node and pod lists the status comes from, recorded with it (core/status.ts `countedCondition`). `refusal`:
 * whether this pass met refused writes for it (core/status.ts `refusedCondition`).
 */
export async function updateStatus(pass: Pass, ds: V1DaemonSet, states: NodeState[], hash: string, seen?: SeenAt, refusal: Refusal = 'keep'): Promise<void> {
  const { deps, cluster } = pass;
  const next = computeStatus(ds, states, hash, deps.now());
  // Upstream requeues while ready pods are waiting out minReadySeconds, so `available` catches up.
  requeueAfter(pass, statusRequeueAfterSeconds(ds, next));
  const generation = ds.metadata?.generation ?? 0;
  const serverless = daemonSetKindOf(ds) === 'ServerlessDaemonSet';
  let current: V1DaemonSet | null = ds;
  for (let attempt = 0; current && attempt < 3; attempt += 1) {
    const conditions = withRefusal(conditionsToWrite(serverless, next, hash, current.status, deps.now()), refusal, current.status, deps.now());
    if (!statusNeedsUpdate(current.status, next, generation, conditions)) return;
    // What this pass counted from, for follow-ups it covers (Hint `after`): only when it did all it planned so far.
    const recorded = seen !== undefined && pass.failures.length === 0 && pass.unfinished === undefined ? withCounted(conditions, seen, deps.now()) : conditions;
    try {
      await cluster.updateDaemonSetStatus(current, nextStatus(current.status, next, generation, recorded));
      return;
    } catch (error) {
      // Transient (the API server overloaded or away past the retries): the pass fails with it and is handled again,
      // or the status would wait for an unrelated event or the resync.
      if (isTransient(error)) throw error;
      if (!(error instanceof ConflictError)) {
        deps.log.warn('status not written', { daemonSet: keyOf(ds), error: String((error as Error).message) });
        return;
      }
      const read = current;
      current = await cluster.getDaemonSet(namespaceOf(ds), ds.metadata?.name ?? '', daemonSetKindOf(ds));
      if (current && (current.metadata?.generation ?? 0) !== generation) {
        deps.log.info('status not written: the DaemonSet changed since it was read; a new pass computes it', { daemonSet: keyOf(ds) });
        followUp(pass, ds);
        return;
      }
      // Another pass wrote the status since this one read it (a status-only pass runs beside the locked ones:
      // status-only.ts): its counts may come from a later view than these, so a new pass reads again.
      if (current && JSON.stringify(current.status ?? {}) !== JSON.stringify(read.status ?? {})) {
        deps.log.info('status not written: another pass wrote it since it was read; a new pass computes it', { daemonSet: keyOf(ds) });
        followUp(pass, ds);
        return;
      }
    }
  }
}
