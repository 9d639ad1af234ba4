/**
 * Ownership for one DaemonSet: upstream `BaseControllerRefManager.ClaimObject` (controller_ref_manager.go), used for
 * pods (`getDaemonPods`) and ControllerRevisions (`controlledHistories`) alike, decided without writing. The shell
 * performs the adopt/release patches.
 */
import type { V1DaemonSet, V1OwnerReference, V1Pod } from '@kubernetes/client-node';
import type { NodeState } from './model.ts';
import { complementQueries, selectorMatches } from './label-selector.ts';
import { getTargetNodeName } from './pod-template.ts';
import { isBeingDeleted, isTerminal } from './pods.ts';
import { controllerRefOf, namespaceOf } from './refs.ts';

/** What a claim needs of an object: its namespace, labels, owners and deletion mark (a pod, a revision, metadata). */
export interface Claimable {
  metadata?:
    | {
        namespace?: string;
        labels?: Record<string, string>;
        ownerReferences?: V1OwnerReference[];
        deletionTimestamp?: Date;
      }
    | undefined;
}

export interface Claim<T> {
  /** Every object this DaemonSet manages after the claim, adopted ones included. */
  owned: T[];
  /** Orphans to adopt (a subset of `owned`): the shell patches the controllerRef in. */
  adopt: T[];
  /** Objects it controls whose labels no longer match: the shell removes its ownerReference. Not in `owned`. */
  release: T[];
}

/**
 * Sorts `objects` by ownership relative to `ds`:
 * - controlled by ds and selected: owned;
 * - controlled by ds, no longer selected: released, unless ds is being deleted (then neither owned nor released);
 * - orphan, selected, same namespace, neither ds nor the object being deleted: adopted (and owned);
 * - controlled by another controller, or an orphan that does not qualify: ignored.
 * An empty, missing or invalid selector selects nothing (see `selectorMatches`).
 */
export function claimObjects<T extends Claimable>(ds: V1DaemonSet, objects: readonly T[]): Claim<T> {
  const claim: Claim<T> = { owned: [], adopt: [], release: [] };
  const uid = ds.metadata?.uid;
  const dsDeleting = isBeingDeleted(ds);
  const namespace = namespaceOf(ds);
  for (const obj of objects) {
    if (namespaceOf(obj) !== namespace) continue;
    const matches = selectorMatches(ds.spec?.selector, obj.metadata?.labels);
    const ref = controllerRefOf(obj);
    if (ref !== undefined) {
      if (uid === undefined || ref.uid !== uid) continue;
      if (matches) claim.owned.push(obj);
      else if (!dsDeleting) claim.release.push(obj);
      continue;
    }
    if (dsDeleting || !matches || isBeingDeleted(obj)) continue;
    claim.adopt.push(obj);
    claim.owned.push(obj);
  }
  return claim;
}

/**
 * The claim restricted to one node, as upstream's `getNodesToDaemonPods` builds `nodeToDaemonPods[node]`: pods whose
 * target node (`getTargetNodeName`) is this node, claimed; in `owned`, terminal pods that are being deleted are dropped
 * (they are on their way out and count for nothing). `adopt`/`release` are not filtered that way: they are writes.
 */
export function claimPodsOnNode(ds: V1DaemonSet, nodeState: NodeState): Claim<V1Pod> {
  const targeting = nodeState.pods.filter((pod) => getTargetNodeName(pod) === nodeState.name);
  const claim = claimObjects(ds, targeting);
  return { ...claim, owned: claim.owned.filter((pod) => !(isTerminal(pod) && isBeingDeleted(pod))) };
}

/** One metadata list of pods: a namespace, narrowed by a label query or whole. */
export interface PodMetadataList {
  namespace: string;
  labelSelector?: string;
}

/**
 * The metadata lists that find every pod these DaemonSets may have to release (owned, relabelled out of the selector),
 * one per namespace. A namespace with one DaemonSet whose selector is one requirement (the usual DaemonSet: one label)
 * lists only the pods outside that selector: those inside it are listed in full for the pass anyway, and at N nodes
 * there are N of them. Otherwise the whole namespace (the complement of several requirements, or of several
 * DaemonSets' selectors together, would take a list per requirement, for pods that are mostly those same pods).
 */
export function releaseLists(daemonSets: readonly V1DaemonSet[]): PodMetadataList[] {
  const byNamespace = new Map<string, V1DaemonSet[]>();
  for (const ds of daemonSets) byNamespace.set(namespaceOf(ds), [...(byNamespace.get(namespaceOf(ds)) ?? []), ds]);
  return [...byNamespace].map(([namespace, sets]) => {
    const queries = sets.length === 1 ? complementQueries(sets[0]?.spec?.selector) : undefined;
    return queries?.length === 1 ? { namespace, labelSelector: queries[0] } : { namespace };
  });
}
