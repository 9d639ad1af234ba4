/**
 * Applies a plan (src/core/model.ts `Plan`) through the Cluster port: backoff records first (so a crash after a delete
 * cannot skip the backoff), then ownership changes, then deletes, then creates with slow start; then the Events
 * upstream would record for each outcome.
 */
import { NamespaceTerminatingError, RejectedError, isTransient } from '../errors.ts';
import { settleAll, slowStartEach } from '../concurrency.ts';
import { eventForAction, throttleEvents } from '../core/events.ts';
import type { Action, ActionOutcome, CreateAction, EventToRecord, Plan } from '../core/model.ts';
import { resolveNameConflict } from '../core/pod-template.ts';
import { notePodWritten, requeueAfter, viewIsFresh, type Pass } from './deps.ts';

/** `skipped`: not launched, its view stale (`viewIsFresh`); the pass is unfinished and handled again. */
type Done = { kind: 'done'; name?: string } | { kind: 'noop' } | { kind: 'skipped' };

export const STALE = 'a request failed and the view is stale';
/** The pass may no longer write (its pass lock was lost, or its invocation's time is up): `Pass.signal`. */
export const STOPPED = 'the pass was stopped (pass lock lost, or the invocation out of time)';

/** Why writes stop being launched once the view is not fresh (`viewIsFresh`). */
function notFresh(pass: Pass): string {
  return pass.signal?.aborted ? STOPPED : STALE;
}

/**
 * Applies the plan's writes; returns the UIDs of the DaemonSets some of whose writes did not take effect (refused, or
 * not launched: time budget, stale view, a rejected create stopping the rest). A transient failure throws instead.
 */
export async function apply(pass: Pass, plan: Plan): Promise<Set<string>> {
  const { deps } = pass;
  const { writeConcurrency } = deps.options;
  const now = deps.now();
  const events: EventToRecord[] = [...plan.events];
  const errors: unknown[] = [];
  const incomplete = new Set<string>();
  const record = (action: Action, settled: PromiseSettledResult<Done>): void => {
    let outcome: ActionOutcome;
    if (settled.status === 'rejected' || settled.value.kind === 'skipped') incomplete.add(action.daemonSet.uid);
    if (settled.status === 'fulfilled' && settled.value.kind === 'skipped') return;
    if (settled.status === 'fulfilled') {
      const done = settled.value;
      outcome = done.kind === 'done' ? { kind: 'succeeded', ...(done.name ? { name: done.name } : {}) } : { kind: 'unchanged' };
      if (done.kind === 'done' && action.kind === 'create') pass.created += 1;
      if (done.kind === 'done' && action.kind === 'delete') pass.deleted += 1;
    } else {
      const message = settled.reason instanceof Error ? settled.reason.message : String(settled.reason);
      outcome = { kind: 'failed', message };
      if ((action.kind === 'create' || action.kind === 'delete') && settled.reason instanceof RejectedError && !pass.refused.has(action.daemonSet.uid)) {
        pass.refused.set(action.daemonSet.uid, message);
      }
      errors.push(settled.reason);
      deps.log.warn('write failed', { action: describe(action), error: message });
    }
    const event = eventForAction(action, outcome);
    if (event) events.push(event);
  };
  const run = async (actions: Action[]): Promise<PromiseSettledResult<Done>[]> => {
    const settled = await settleAll(actions, writeConcurrency, (a): Promise<Done> => {
      if (viewIsFresh(pass)) return execute(pass, a);
      pass.unfinished = notFresh(pass);
      return Promise.resolve({ kind: 'skipped' });
    });
    settled.forEach((s, i) => record(actions[i] as Action, s));
    return settled;
  };
  const of = <K extends Action['kind']>(kind: K) => plan.actions.filter((a): a is Extract<Action, { kind: K }> => a.kind === kind);
  // The backoff is recorded before the failed pod is deleted: where it was not, neither that pod's delete nor its
  // replacement happens in this pass (the pass fails with the error and is handled again), or a node whose kubelet
  // keeps rejecting the pod would see it deleted and recreated without a pause.
  const backoffs = of('recordBackoff');
  const backoffsSettled = await run(backoffs);
  const unguarded = new Set(
    backoffs.filter((_, i) => backoffsSettled[i]?.status !== 'fulfilled' || backoffsSettled[i].value.kind === 'skipped').map((a) => `${a.daemonSet.uid}/${a.nodeName}`),
  );
  const guarded = (a: { daemonSet: { uid: string }; nodeName: string }) => !unguarded.has(`${a.daemonSet.uid}/${a.nodeName}`);
  for (const a of [...of('delete'), ...of('create')]) if (!guarded(a)) incomplete.add(a.daemonSet.uid);
  await run([...of('adopt'), ...of('release')]);
  await run(await confirmForceDeletes(pass, of('delete').filter(guarded)));
  // Each DaemonSet's creates have their own slow start, as each has its own sync upstream.
  const creates = new Map<string, CreateAction[]>();
  for (const a of of('create').filter(guarded)) {
    const group = creates.get(a.daemonSet.uid);
    if (group) group.push(a);
    else creates.set(a.daemonSet.uid, [a]);
  }
  const skippedEach = await slowStartEach(
    [...creates.values()],
    writeConcurrency,
    (a) => create(pass, a),
    record,
    (error) => !isTransient(error),
    () => deps.now().getTime() < pass.writeDeadline && viewIsFresh(pass),
  );
  [...creates.values()].forEach((group, i) => {
    if ((skippedEach[i] ?? 0) > 0 && group[0]) incomplete.add(group[0].daemonSet.uid);
  });
  const skipped = skippedEach.reduce((sum, n) => sum + n, 0);
  if (skipped > 0 && deps.now().getTime() >= pass.writeDeadline) pass.unfinished = 'time budget exhausted';
  else if (skipped > 0 && !viewIsFresh(pass)) pass.unfinished = notFresh(pass);
  else {
    [...creates.values()].forEach((group, i) => {
      const n = skippedEach[i] ?? 0;
      const ds = group[0]?.daemonSet;
      if (n > 0 && ds) deps.log.warn('skipping remaining creates after a rejected create', { daemonSet: `${ds.namespace}/${ds.name}`, skipped: n });
    });
  }
  requeueAfter(pass, plan.requeueAfterSeconds);
  await recordEvents(pass, events, now);
  // A transient failure is re-thrown so the sender redelivers; the writes that did succeed stay done (idempotent).
  // A rejected write (quota, admission, validation) is not: redelivering the same batch would fail the same way and
  // hold up the sender's queue. It is recorded as a FailedCreate/FailedDelete Event and retried by the next event
  // or the scheduled resync, as upstream retries a failed sync with backoff.
  const transient = errors.find(isTransient);
  if (transient) throw transient;
  return incomplete;
}

/**
 * A force-delete (grace period 0) is planned only for a pod whose node no longer exists. A node list read in parallel
 * with the pod list may predate a node that just joined, so the node is confirmed gone with a GET first (unless this
 * pass already got a 404 for it); for a node that exists after all, nothing is deleted now (the next pass sees it).
 */
async function confirmForceDeletes(pass: Pass, deletes: Extract<Action, { kind: 'delete' }>[]): Promise<Action[]> {
  const unconfirmed = [...new Set(deletes.filter((d) => d.gracePeriodSeconds === 0 && !pass.confirmedGone.has(d.nodeName)).map((d) => d.nodeName))];
  const present = new Set<string>();
  await Promise.all(
    unconfirmed.map(async (name) => {
      if ((await pass.cluster.getNode(name)) === null) pass.confirmedGone.add(name);
      else present.add(name);
    }),
  );
  if (present.size > 0) pass.deps.log.info('node exists after all: its pods are not force-deleted', { nodes: [...present] });
  return deletes.filter((d) => !(d.gracePeriodSeconds === 0 && present.has(d.nodeName)));
}

async function execute(pass: Pass, action: Action): Promise<Done> {
  const { cluster } = pass;
  const done = (result: string, yes: string): Done => (result === yes ? { kind: 'done' } : { kind: 'noop' });
  switch (action.kind) {
    case 'create':
      return create(pass, action);
    case 'delete':
      return done(await cluster.deletePod(action.pod, action.gracePeriodSeconds), 'deleted');
    case 'adopt':
      return done(await cluster.adopt('pods', action.pod, action.owner), 'done');
    case 'release':
      return done(await cluster.release('pods', action.pod, action.daemonSet.uid), 'done');
    case 'recordBackoff':
      await cluster.writeBackoff(action.daemonSet, action.nodeName, action.state);
      return { kind: 'done' };
  }
}

/**
 * Creates the planned pod. AlreadyExists means either another invocation made this very pod (nothing to do) or some
 * other pod holds the name: then the next name of the sequence (core `resolveNameConflict`), at most a few times.
 */
async function create(pass: Pass, action: CreateAction): Promise<Done> {
  let pod = action.pod;
  for (let attempt = 0; attempt < 4; attempt++) {
    let created: Awaited<ReturnType<Pass['cluster']['createPod']>>;
    try {
      created = await pass.cluster.createPod(pod);
    } catch (error) {
      // As upstream: a namespace being deleted takes its DaemonSet with it; nothing to report.
      if (error instanceof NamespaceTerminatingError) return { kind: 'noop' };
      throw error;
    }
    if (created.outcome === 'created') {
      notePodWritten(pass, action.daemonSet.uid, created.resourceVersion);
      return pod === action.pod ? { kind: 'done' } : { kind: 'done', name: pod.metadata?.name ?? '' };
    }
    const existing = await pass.cluster.getPod(pod.metadata?.namespace ?? 'default', pod.metadata?.name ?? '');
    const resolved = resolveNameConflict(pod, action.daemonSet, action.nodeName, existing);
    if (resolved.kind === 'same') return { kind: 'noop' };
    pod = resolved.pod;
  }
  pass.deps.log.warn('create gave up after repeated name conflicts', { action: describe(action) });
  return { kind: 'noop' };
}

function describe(action: Action): string {
  switch (action.kind) {
    case 'create':
      return `create ${action.pod.metadata?.namespace}/${action.pod.metadata?.name} on ${action.nodeName}`;
    case 'delete':
      return `delete ${action.pod.namespace}/${action.pod.name} on ${action.nodeName}`;
    case 'adopt':
    case 'release':
      return `${action.kind} ${action.pod.namespace}/${action.pod.name}`;
    case 'recordBackoff':
      return `backoff ${action.daemonSet.namespace}/${action.daemonSet.name} on ${action.nodeName}`;
  }
}

/** Records Events best effort, throttled per (DaemonSet, reason) as upstream's broadcaster does (core/events.ts). */
async function recordEvents(pass: Pass, events: EventToRecord[], now: Date): Promise<void> {
  const toWrite = throttleEvents(events, pass.deps.options.eventsPerReason);
  const settled = await settleAll(toWrite, pass.deps.options.writeConcurrency, (e) => pass.cluster.recordEvent(e, now));
  const failed = settled.filter((s) => s.status === 'rejected').length;
  if (failed > 0) pass.deps.log.warn('events not recorded', { failed });
}
