/**
 * The DaemonSet-wide pass (upstream `syncDaemonSet`): history, manage on every node, a rollout step, history cleanup,
 * status. A handful of reads however many nodes there are (read.ts), plus a lock and a fresh pod list when a rollout
 * step is taken.
 */
import type { V1DaemonSet } from '@kubernetes/client-node';
import { isSyncable } from '../core/daemonset.ts';
import type { HistoryPlan } from '../core/history.ts';
import { provenHistoryPlan, revisionsOf } from '../core/history.ts';
import { mergePlans, planReleases, planSnapshot, planTargetlessAdoptions } from '../core/plan.ts';
import { namespaceOf } from '../core/refs.ts';
import { isRollingUpdate } from '../core/budget.ts';
import { nodeStates } from '../core/snapshot.ts';
import { refusedRetryAfterSeconds, type Refusal } from '../core/status.ts';
import { apply } from './apply.ts';
import { beginView, isolated, requeueAfter, type Pass } from './deps.ts';
import { syncHistory } from './history.ts';
import { readForDaemonSets, snapshotWithBackoffs, type ChangedPods, type DaemonSetRead } from './read.ts';
import { rolloutStep } from './rollout-step.ts';
import { updateStatus } from './status.ts';

/** Returns what it read (the resync cleans up Leases with it), or undefined when there was nothing to reconcile. */
export async function reconcileDaemonSets(
  pass: Pass,
  daemonSets: V1DaemonSet[],
  resync: boolean,
  changedPods?: ChangedPods,
): Promise<DaemonSetRead | undefined> {
  if (daemonSets.length === 0) return undefined;
  const { cluster } = pass;
  beginView(pass);
  const read = await readForDaemonSets(pass, daemonSets, resync, changedPods);
  const states = nodeStates(read.nodes, read.pods);
  const uid = (ds: V1DaemonSet) => ds.metadata?.uid ?? '';

  // 1. History (upstream constructHistory): the current revision and its hash, before anything is created.
  // Each DaemonSet on its own (`isolated`): one that fails (its namespace being deleted, a quota) is left out of the
  // later steps while the others go on.
  const histories = new Map<string, HistoryPlan>();
  const failed = new Set<string>();
  await Promise.all(
    daemonSets.filter(isSyncable).map(async (ds) => {
      const podsOfNamespace = read.pods.filter((p) => namespaceOf(p) === namespaceOf(ds));
      const ok = await isolated(pass, ds, 'history', async () => {
        // Proven by its pods (read.ts), the hash needs no revisions; the next pass that reads them cleans up.
        const proven = read.provenHashes.get(uid(ds));
        const history = proven !== undefined ? provenHistoryPlan(proven) : await syncHistory(pass, ds, revisionsOf(ds, read.revisions), podsOfNamespace);
        if (history) histories.set(uid(ds), history);
        // A hash collision bumped collisionCount: this DaemonSet is synced again with the new hash.
        else requeueAfter(pass, 1);
      });
      if (!ok) failed.add(uid(ds));
    }),
  );
  const ready = daemonSets.filter((ds) => !failed.has(uid(ds)) && (!isSyncable(ds) || histories.has(uid(ds))));
  const hashes = new Map([...histories].map(([id, history]) => [id, history.hash]));

  // 2. manage: create/delete per node, release owned pods that left the selector (known from their metadata), adopt
  // selected orphans that target no node.
  const snapshot = await snapshotWithBackoffs(pass, ready, states, hashes);
  const plan = mergePlans([
    planSnapshot(snapshot, pass.deps.now(), pass.deps.options.plan),
    ...ready.map((ds) => planReleases(ds, read.podMetadata)),
    // Selected orphans that target no node: adopted as upstream's claim adopts them, then counted nowhere.
    ...ready.map((ds) => planTargetlessAdoptions(ds, read.pods)),
  ]);
  // DaemonSets some of whose writes did not take effect: upstream's manage or rolling update returned an error.
  const unsynced = await apply(pass, plan);

  // 3. The rolling update, only for DaemonSets manage wrote nothing for (upstream: expectations still satisfied).
  const wrote = new Set(plan.actions.filter((a) => a.kind === 'create' || a.kind === 'delete').map((a) => a.daemonSet.uid));
  await Promise.all(
    ready
      .filter((ds) => histories.has(uid(ds)) && isRollingUpdate(ds) && !wrote.has(uid(ds)))
      .map(async (ds) => {
        let complete = false;
        const ok = await isolated(pass, ds, 'rollout', async () => {
          complete = await rolloutStep(pass, ds, states, read.nodes, hashes.get(uid(ds)) as string);
        });
        if (!ok || !complete) unsynced.add(uid(ds));
      }),
  );

  // 4. cleanupHistory, only where manage and the rolling update took full effect (upstream's updateDaemonSet returns
  // before it on their error: a refused create keeps the revisions), then 5. status, from the snapshot this pass
  // started with (the next event brings it up to date).
  await Promise.all(
    ready.filter((ds) => !unsynced.has(uid(ds))).map((ds) =>
      isolated(pass, ds, 'history cleanup', async () => {
        await Promise.all((histories.get(uid(ds))?.cleanup ?? []).map((name) => cluster.deleteControllerRevision(namespaceOf(ds), name)));
      }),
    ),
  );
  // A DaemonSet some of whose writes were refused is tried again on a backoff, as upstream requeues a failed sync.
  const now = pass.deps.now();
  for (const ds of ready) if (pass.refused.has(uid(ds))) requeueAfter(pass, refusedRetryAfterSeconds(ds, now));
  const refusal = (ds: V1DaemonSet): Refusal => {
    const refused = pass.refused.get(uid(ds));
    return refused !== undefined ? { refused } : unsynced.has(uid(ds)) ? 'keep' : 'clear';
  };
  await Promise.all(
    ready.filter((ds) => histories.has(uid(ds))).map((ds) => isolated(pass, ds, 'status', () => updateStatus(pass, ds, states, hashes.get(uid(ds)) as string, read.seen.get(uid(ds)), refusal(ds)))),
  );
  return read;
}
