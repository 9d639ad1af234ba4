/**
 * Kubernetes Events about a DaemonSet, as upstream records them: which write outcome gives which Event, and how many
 * are written at once.
 */
import type { Action, ActionOutcome, EventToRecord } from './model.ts';

/**
 * The Event to record once a write has ended, with upstream's reasons and messages (`RealPodControl`): SuccessfulCreate
 * "Created pod: NAME", FailedCreate "Error creating: ERR", SuccessfulDelete "Deleted pod: NAME", FailedDelete
 * "Error deleting: ERR". Null when upstream records nothing: adopt, release, backoff bookkeeping, and `unchanged`.
 */
export function eventForAction(action: Action, outcome: ActionOutcome): EventToRecord | null {
  if (outcome.kind === 'unchanged') return null;
  const daemonSet = action.daemonSet;
  switch (action.kind) {
    case 'create':
      return outcome.kind === 'succeeded'
        ? { daemonSet, type: 'Normal', reason: 'SuccessfulCreate', message: `Created pod: ${outcome.name ?? action.pod.metadata?.name}` }
        : { daemonSet, type: 'Warning', reason: 'FailedCreate', message: `Error creating: ${outcome.message}` };
    case 'delete':
      return outcome.kind === 'succeeded'
        ? { daemonSet, type: 'Normal', reason: 'SuccessfulDelete', message: `Deleted pod: ${action.pod.name}` }
        : { daemonSet, type: 'Warning', reason: 'FailedDelete', message: `Error deleting: ${outcome.message}` };
    default:
      return null;
  }
}

/**
 * Like upstream's event broadcaster, which stops recording after a burst per object: at most `perReason` individual
 * Events per (DaemonSet, reason), the rest summarised in one Event ("N more like: …"), so a 1,000-node rollout does
 * not double its API writes. Order within a group is kept.
 */
export function throttleEvents(events: readonly EventToRecord[], perReason: number): EventToRecord[] {
  const groups = new Map<string, EventToRecord[]>();
  for (const e of events) {
    const key = `${e.daemonSet.uid}/${e.reason}`;
    const group = groups.get(key);
    if (group) group.push(e);
    else groups.set(key, [e]);
  }
  const out: EventToRecord[] = [];
  for (const group of groups.values()) {
    out.push(...group.slice(0, perReason));
    if (group.length > perReason) {
      const first = group[0] as EventToRecord;
      out.push({ ...first, message: `${group.length - perReason} more like: ${first.message}` });
    }
  }
  return out;
}
