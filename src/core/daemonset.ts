/** Questions about a DaemonSet object itself, asked by every part of the core and the shell. */
import type { V1DaemonSet } from '@kubernetes/client-node';
import { isEmptySelector, selectorError } from './label-selector.ts';
import { isBeingDeleted } from './pods.ts';

/**
 * syncDaemonSet's early exits as one predicate: a DaemonSet that is being deleted (left to the garbage collector), or
 * whose selector is empty (refused with SelectingAll) or invalid, is not reconciled.
 */
export function isSyncable(ds: V1DaemonSet): boolean {
  return !isBeingDeleted(ds) && !isEmptySelector(ds.spec?.selector) && selectorError(ds.spec?.selector) === null;
}
