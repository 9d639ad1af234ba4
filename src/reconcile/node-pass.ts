/**
 * The node-scoped pass: the named nodes for every DaemonSet (read.ts `readForNodes`), planned with each DaemonSet's
 * current revision hash; then a DaemonSet-wide pass asked for each DaemonSet these nodes count in (status and rollout
 * progress need every node, which this pass does not read). What it saw of each node is kept in `pass.nodeViews`, for
 * hints that wait for an admitted change (Hint `pending`).
 */
import { planSnapshot } from '../core/plan.ts';
import type { NodeState, Plan } from '../core/model.ts';
import { laterVersion, readNoEarlier } from '../core/versions.ts';
import { countedOn } from '../core/snapshot.ts';
import { apply } from './apply.ts';
import { beginView, followUp, type Pass } from './deps.ts';
import { readForNodes, snapshotWithBackoffs } from './read.ts';
import type { RegisteredNode } from '../hints.ts';

export async function reconcileNodes(pass: Pass, names: string[], created?: ReadonlyMap<string, RegisteredNode | undefined>): Promise<void> {
  beginView(pass);
  const { daemonSets, states, hashes, withoutHistory } = await readForNodes(pass, names, created);
  for (const state of states) pass.nodeViews.set(state.name, state.node);
  for (const ds of withoutHistory) followUp(pass, ds);
  if (daemonSets.length === 0) return;
  const snapshot = await snapshotWithBackoffs(pass, daemonSets, states, hashes);
  const plan = planSnapshot(snapshot, pass.deps.now(), pass.deps.options.plan);
  await apply(pass, plan);
  const nodesSeen = latestNodeVersion(states);
  for (const ds of countedOn(daemonSets, states)) {
    const created = onlyCreated(plan, ds.metadata?.uid ?? '');
    const podsSeen = created.length > 0 ? pass.podsWritten.get(ds.metadata?.uid ?? '') : undefined;
    followUp(pass, ds, created, nodesSeen !== undefined && typeof podsSeen === 'string' ? { nodes: nodesSeen, pods: podsSeen } : undefined);
  }
}

/**
 * The latest resourceVersion of the nodes as this pass read them (GET), for a follow-up's `after`; undefined when one
 * is unknown (gone, taken from a creation hint, projected from a list).
 */
function latestNodeVersion(states: readonly NodeState[]): string | undefined {
  let latest: string | undefined;
  for (const { node } of states) {
    const version = node?.metadata?.resourceVersion;
    if (!readNoEarlier(version, version)) return undefined;
    latest = latest === undefined ? version : laterVersion(latest, version);
    if (latest === undefined) return undefined;
  }
  return latest;
}

/** The pods the plan creates for a DaemonSet, when creating is all it does for it (else none). */
function onlyCreated(plan: Plan, uid: string): string[] {
  const mine = plan.actions.filter((a) => a.daemonSet.uid === uid);
  return mine.every((a) => a.kind === 'create') ? mine.flatMap((a) => (a.kind === 'create' ? [a.pod.metadata?.name ?? ''] : [])).filter((n) => n !== '') : [];
}
