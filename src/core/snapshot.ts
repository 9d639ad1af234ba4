/**
 * Assembling what a pass read into a `Snapshot`, and the questions a pass asks of it before planning: which nodes
 * exist, which pods aim at each, which DaemonSets count on these nodes, where a failed-pod backoff must be read.
 */
import type { V1DaemonSet, V1Node, V1Pod } from '@kubernetes/client-node';
import { nodeShouldRunDaemonPod } from './eligibility.ts';
import type { NodeState } from './model.ts';
import { isSyncable } from './daemonset.ts';
import { getTargetNodeName } from './pod-template.ts';
import { isControlledBy, namespaceOf } from './refs.ts';

/**
 * Groups pods by target node (upstream `getNodesToDaemonPods`). Nodes named by pods but absent from `nodes` are deleted
 * nodes (`node: null`). With `only`, just those nodes, each present in the result (a name not in `nodes` is a
 * deleted node). Pods aimed at no node are left out.
 */
export function nodeStates(nodes: readonly V1Node[], pods: readonly V1Pod[], only?: ReadonlySet<string>): NodeState[] {
  const byName = new Map<string, NodeState>();
  for (const node of nodes) {
    const name = node.metadata?.name ?? '';
    if (!only || only.has(name)) byName.set(name, { name, node, pods: [] });
  }
  for (const pod of pods) {
    const target = getTargetNodeName(pod);
    if (target === undefined || (only && !only.has(target))) continue;
    let state = byName.get(target);
    if (!state) {
      state = { name: target, node: null, pods: [] };
      byName.set(target, state);
    }
    state.pods.push(pod);
  }
  if (only) for (const name of only) if (!byName.has(name)) byName.set(name, { name, node: null, pods: [] });
  return [...byName.values()];
}

/** Two lists may hold the same pod (two selectors, bound and unbound reads): one copy each, by UID. */
export function uniquePods(pods: readonly V1Pod[]): V1Pod[] {
  return [...new Map(pods.map((p) => [p.metadata?.uid ?? `${namespaceOf(p)}/${p.metadata?.name}`, p])).values()];
}

/**
 * DaemonSets whose status these nodes contribute to: reconcilable ones that should run on one of them, or control a
 * pod there. A node-scoped pass asks a DaemonSet-wide pass for exactly these.
 */
export function countedOn(daemonSets: readonly V1DaemonSet[], states: readonly NodeState[]): V1DaemonSet[] {
  return daemonSets.filter((ds) => {
    if (!isSyncable(ds)) return false;
    const uid = ds.metadata?.uid;
    return states.some((s) => s.pods.some((p) => isControlledBy(p, uid)) || (s.node !== null && nodeShouldRunDaemonPod(s.node, ds).shouldRun));
  });
}

/**
 * DaemonSets that should run a pod on one of these nodes (as the nodes read): the only ones a node pass can create
 * for. Known before any pod is read, so a pass may start reading what creating needs (the revisions) at once.
 */
export function wantingPods(daemonSets: readonly V1DaemonSet[], nodes: readonly (V1Node | null)[]): V1DaemonSet[] {
  return daemonSets.filter((ds) => isSyncable(ds) && nodes.some((node) => node !== null && nodeShouldRunDaemonPod(node, ds).shouldRun));
}

/** (DaemonSet, node) pairs with a Failed pod of that DaemonSet: the only places a failed-pod backoff must be read. */
export function backoffsToRead(daemonSets: readonly V1DaemonSet[], states: readonly NodeState[]): { ds: V1DaemonSet; node: string }[] {
  const wanted: { ds: V1DaemonSet; node: string }[] = [];
  for (const ds of daemonSets) {
    const uid = ds.metadata?.uid;
    for (const state of states) {
      if (state.pods.some((p) => p.status?.phase === 'Failed' && isControlledBy(p, uid))) wanted.push({ ds, node: state.name });
    }
  }
  return wanted;
}
