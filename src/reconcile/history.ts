/**
 * Revision history for one DaemonSet: applies the plan of src/core/history.ts (upstream `constructHistory`) and gives
 * the pass its one revision hash.
 */
import type { V1ControllerRevision, V1DaemonSet, V1Pod } from '@kubernetes/client-node';
import { settleAll } from '../concurrency.ts';
import { collisionOutcome, planHistory, type HistoryPlan } from '../core/history.ts';
import { revisionHash } from '../core/hash.ts';
import { labels } from '../core/model.ts';
import { controllerRefFor } from '../core/pod-template.ts';
import { daemonSetRef, keyOf, namespaceOf } from '../core/refs.ts';
import type { Pass } from './deps.ts';

/**
 * Applies the history plan for one DaemonSet and returns it, or undefined when creating the current revision met a
 * hash collision: then status.collisionCount is raised (guarded) and the DaemonSet is synced again, hashing with the
 * new count. Adopting and releasing revisions patch only this DaemonSet's owner reference, guarded by the revision's
 * UID, as for pods.
 */
export async function syncHistory(pass: Pass, ds: V1DaemonSet, revisions: V1ControllerRevision[], pods: V1Pod[]): Promise<HistoryPlan | undefined> {
  const { cluster, deps } = pass;
  const ns = namespaceOf(ds);
  const plan = planHistory(ds, revisions, pods, revisionHash(ds));
  const owner = controllerRefFor(ds);
  await Promise.all([
    ...plan.adopt.map((r) => cluster.adopt('controllerrevisions', r, owner)),
    ...plan.release.map((r) => cluster.release('controllerrevisions', r, owner.uid)),
    ...plan.labelRevisions.map((name) => cluster.patchControllerRevision(ns, name, { metadata: { labels: { [labels.revisionHash]: name } } })),
  ]);
  if (plan.toCreate) {
    const result = await cluster.createControllerRevision(plan.toCreate);
    if (!result.created) {
      const outcome = collisionOutcome(result.existing, ds);
      if (outcome.kind === 'collision') {
        deps.log.warn('revision hash collision', { daemonSet: keyOf(ds), collisionCount: outcome.nextCollisionCount });
        await cluster.bumpCollisionCount(daemonSetRef(ds), outcome.observedCollisionCount);
        return undefined;
      }
      plan.hash = outcome.hash;
    }
  }
  if (plan.dedup.keepHash) {
    const keepHash = plan.dedup.keepHash;
    const relabelled = await settleAll(plan.dedup.relabelPods, deps.options.writeConcurrency, (pod) => cluster.labelPod(pod, { [labels.revisionHash]: keepHash }));
    // Upstream deletes the duplicates only once every pod is relabelled: a pod still carrying a deleted revision's
    // hash would count as not updated, and be replaced.
    const failed = relabelled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    await Promise.all(plan.dedup.deleteNames.map((name) => cluster.deleteControllerRevision(ns, name)));
  }
  if (plan.toUpdateRevision) {
    await cluster.patchControllerRevision(ns, plan.toUpdateRevision.name, { revision: plan.toUpdateRevision.revision });
  }
  return plan;
}
