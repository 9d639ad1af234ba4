/**
 * Pod ownership for one DaemonSet: upstream `BaseControllerRefManager.ClaimObject` (controller_ref_manager.go) as used
 * by `getDaemonPods`, decided without writing. The shell performs the adopt/release patches.
 */
import type { V1DaemonSet, V1OwnerReference, V1Pod } from '@kubernetes/client-node';
import type { NodeState } from './model.ts';
import { selectorMatches } from './label-selector.ts';
import { getTargetNodeName } from './pod-template.ts';
import { isBeingDeleted, isTerminal } from './pods.ts';

export interface Claim {
  /** Every pod this DaemonSet manages after the claim, adopted ones included: the pods to plan with. */
  owned: V1Pod[];
  /** Orphans to adopt (a subset of `owned`): the shell patches the controllerRef in. */
  adopt: V1Pod[];
  /** Pods it controls whose labels no longer match: the shell removes its ownerReference. Not in `owned`. */
  release: V1Pod[];
}

/** The owner reference with `controller: true` (upstream `metav1.GetControllerOf`). */
export function controllerRefOf(obj: { metadata?: { ownerReferences?: V1OwnerReference[] | undefined } | undefined }): V1OwnerReference | undefined {
  return obj.metadata?.ownerReferences?.find((ref) => ref.controller === true);
}

/**
 * Sorts `pods` by ownership relative to `ds`:
 * - controlled by ds and selected: owned;
 * - controlled by ds, no longer selected: released, unless ds is being deleted (then neither claimed nor released);
 * - orphan, selected, same namespace, neither ds nor the pod being deleted: adopted (and owned);
 * - controlled by another controller, or an orphan that does not qualify: ignored.
 * An empty, missing or invalid selector selects nothing (see `selectorMatches`).
 */
export function claimPods(ds: V1DaemonSet, pods: readonly V1Pod[]): Claim {
  const claim: Claim = { owned: [], adopt: [], release: [] };
  const uid = ds.metadata?.uid;
  const dsDeleting = isBeingDeleted(ds);
  const namespace = ds.metadata?.namespace ?? '';
  for (const pod of pods) {
    if ((pod.metadata?.namespace ?? '') !== namespace) continue;
    const matches = selectorMatches(ds.spec?.selector, pod.metadata?.labels);
    const ref = controllerRefOf(pod);
    if (ref !== undefined) {
      if (uid === undefined || ref.uid !== uid) continue;
      if (matches) claim.owned.push(pod);
      else if (!dsDeleting) claim.release.push(pod);
      continue;
    }
    if (dsDeleting || !matches || isBeingDeleted(pod)) continue;
    claim.adopt.push(pod);
    claim.owned.push(pod);
  }
  return claim;
}

/**
 * The claim restricted to one node, as upstream's `getNodesToDaemonPods` builds `nodeToDaemonPods[node]`: pods whose
 * target node (`getTargetNodeName`) is this node, claimed; in `owned`, terminal pods that are being deleted are dropped
 * (they are on their way out and count for nothing). `adopt`/`release` are not filtered that way: they are writes.
 */
export function claimPodsOnNode(ds: V1DaemonSet, nodeState: NodeState): Claim {
  const targeting = nodeState.pods.filter((pod) => getTargetNodeName(pod) === nodeState.name);
  const claim = claimPods(ds, targeting);
  return { ...claim, owned: claim.owned.filter((pod) => !(isTerminal(pod) && isBeingDeleted(pod))) };
}
