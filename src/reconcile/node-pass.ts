/**
 * The node-scoped pass: the named nodes for every DaemonSet (read.ts `readForNodes`), planned with each DaemonSet's
 * current revision hash; then a DaemonSet-wide pass asked for each DaemonSet these nodes count in (status and rollout
 * progress need every node, which this pass does not read).
 */
import { planSnapshot } from '../core/plan.ts';
import { countedOn } from '../core/snapshot.ts';
import { apply } from './apply.ts';
import { beginView, followUp, type Pass } from './deps.ts';
import { readForNodes, snapshotWithBackoffs } from './read.ts';

export async function reconcileNodes(pass: Pass, names: string[]): Promise<void> {
  beginView(pass);
  const { daemonSets, states, hashes, withoutHistory } = await readForNodes(pass, names);
  for (const ds of withoutHistory) followUp(pass, ds);
  if (daemonSets.length === 0) return;
  const snapshot = await snapshotWithBackoffs(pass, daemonSets, states, hashes);
  await apply(pass, planSnapshot(snapshot, pass.deps.now(), pass.deps.options.plan));
  for (const ds of countedOn(daemonSets, states)) followUp(pass, ds);
}
