/** Questions about a DaemonSet object itself, asked by every part of the core and the shell. */
import type { V1DaemonSet } from '@kubernetes/client-node';
import { isEmptySelector, selectorError, selectorMatches } from './label-selector.ts';
import { isBeingDeleted } from './pods.ts';

/**
 * syncDaemonSet's early exits as one predicate: a DaemonSet that is being deleted (left to the garbage collector), or
 * whose selector is empty (refused with SelectingAll) or invalid, or does not select its own template, is not
 * reconciled.
 */
export function isSyncable(ds: V1DaemonSet): boolean {
  return !isBeingDeleted(ds) && !isEmptySelector(ds.spec?.selector) && selectorError(ds.spec?.selector) === null && selectsTemplate(ds);
}

/**
 * The DaemonSets that may adopt an orphan with these labels, in their order: upstream's `GetPodDaemonSets` (the
 * selector matches; an empty one matches nothing), less those whose sync would stop early (`isSyncable`), which could
 * not adopt it.
 */
export function daemonSetsSelecting(daemonSets: readonly V1DaemonSet[], labels: Readonly<Record<string, string>> | undefined): V1DaemonSet[] {
  return daemonSets.filter((ds) => isSyncable(ds) && selectorMatches(ds.spec?.selector, labels));
}

/**
 * The selector matches the template's labels. The apps/v1 API server refuses a DaemonSet where it does not; a
 * ServerlessDaemonSet's CRD cannot say so, and reconciling one would create pods it never counts as its own, forever.
 */
export function selectsTemplate(ds: V1DaemonSet): boolean {
  return selectorMatches(ds.spec?.selector, ds.spec?.template?.metadata?.labels);
}
