/**
 * The one place that joins the pure core and the Kubernetes port: the TypeScript counterpart of upstream's
 * `syncDaemonSet`, cut down to the nodes a batch of hints names.
 *
 *   hints ──► read a snapshot (only what the decision needs) ──► core plan (pure) ──► apply writes ──► events, status
 *
 * Nothing survives the call: no informer, no cache, no expectations. Writes are idempotent (deterministic pod names,
 * UID preconditions), so concurrent or repeated calls converge on the same state.
 */
import type { V1ControllerRevision, V1DaemonSet, V1Node, V1Pod } from '@kubernetes/client-node';
import type { Cluster } from './k8s/cluster.ts';
import { settleAll } from './k8s/pool.ts';
import { ConflictError, TransientError, isTransient } from './errors.ts';
import { dedupeHints, type HandleResult, type Hint, type HintHandler } from './hints.ts';
import type { Logger } from './log.ts';
import {
  labels,
  type Action,
  type ActionOutcome,
  type BackoffState,
  type EventToRecord,
  type NodeState,
  type ObjectRef,
  type Plan,
  type PlanOptions,
  type Snapshot,
} from './core/model.ts';
import { nodeShouldRunDaemonPod } from './core/eligibility.ts';
import { controllerRefFor, getTargetNodeName } from './core/pod-template.ts';
import { backoffKey, eventForAction, planSnapshot } from './core/plan.ts';
import { computeStatus, nextStatus, statusNeedsUpdate, statusRequeueAfterSeconds } from './core/status.ts';
import { revisionHash, shortHash } from './core/hash.ts';
import { collisionOutcome, planHistory, type HistoryPlan } from './core/history.ts';
import { isRollingUpdate, planRollingUpdate } from './core/rollout.ts';
import { isEmptySelector, selectorQuery } from './core/label-selector.ts';

export interface ReconcilerOptions {
  plan: PlanOptions;
  /** Writes in flight at once. */
  writeConcurrency: number;
  /** Milliseconds one `handle` call may take, retries included. */
  timeBudgetMs: number;
  /** More hinted nodes than this: one cluster-wide read instead of per-node reads. */
  wideReadThreshold: number;
  /** Individual Events recorded per (DaemonSet, reason) in one call; the rest are summarised in one Event. */
  eventsPerReason: number;
}

export interface ReconcilerDeps {
  /** A Cluster port for one call, whose transient retries stop at `deadline` (epoch ms). */
  cluster: (deadline: number) => Cluster;
  now: () => Date;
  /** A unique id per call (the rollout lock's holder). */
  newId: () => string;
  log: Logger;
  options: ReconcilerOptions;
}

export function createReconciler(deps: ReconcilerDeps): HintHandler {
  return {
    async handle(rawHints) {
      const hints = dedupeHints(rawHints);
      const started = deps.now();
      const cluster = deps.cluster(started.getTime() + deps.options.timeBudgetMs);
      // Writes stop being launched this long before the budget ends, leaving time to record Events and answer.
      const writeDeadline = started.getTime() + deps.options.timeBudgetMs * 0.8;
      const tally: Tally = { created: 0, deleted: 0, requeue: undefined, followUp: new Map(), writeDeadline, unfinished: false };

      if (hints.some((h) => h.kind === 'resync')) {
        await reconcileDaemonSets(deps, cluster, await cluster.listDaemonSets(), tally, { listAllPods: true });
      } else {
        const dsHints = hints.filter((h): h is Extract<Hint, { kind: 'daemonSet' }> => h.kind === 'daemonSet');
        const nodeHints = hints.filter((h): h is Extract<Hint, { kind: 'node' }> => h.kind === 'node');
        if (dsHints.length > 0) {
          const found = await Promise.all(dsHints.map((h) => cluster.getDaemonSet(h.namespace, h.name)));
          const live = found.filter((ds): ds is V1DaemonSet => ds !== null);
          await reconcileDaemonSets(deps, cluster, live, tally, { listAllPods: false });
        }
        if (nodeHints.length > 0) {
          await reconcileNodes(deps, cluster, nodeHints.map((h) => h.name), tally);
        }
      }

      const result: HandleResult = {
        hints: hints.length,
        created: tally.created,
        deleted: tally.deleted,
        apiRequests: cluster.requestCount(),
      };
      if (tally.requeue !== undefined) result.requeueAfterSeconds = tally.requeue;
      if (tally.followUp.size > 0) result.followUp = [...tally.followUp.values()];
      if (tally.unfinished) {
        // Everything written so far stays written (the next pass finds those pods); the sender redelivers the rest.
        deps.log.warn('time budget exhausted before every create was launched', { ...result });
        throw new TransientError(`time budget exhausted after ${result.created} creates; redeliver to continue`, 1);
      }
      deps.log.info('reconciled', { ...result, ms: deps.now().getTime() - started.getTime() });
      return result;
    },
  };
}

interface Tally {
  created: number;
  deleted: number;
  requeue: number | undefined;
  followUp: Map<string, Hint>;
  /** Epoch ms after which no new create is launched. */
  writeDeadline: number;
  /** Creates were left undone for lack of time: the same hints must be handled again. */
  unfinished: boolean;
}

/**
 * DaemonSet-wide (upstream syncDaemonSet): history, manage on every node, a rollout step, history cleanup, status.
 * Reads one node list, and one pod list and one ControllerRevision list per namespace (cluster-wide for a resync):
 * three reads however many nodes there are, plus a lock and a fresh pod list when a rollout step is taken.
 */
async function reconcileDaemonSets(
  deps: ReconcilerDeps,
  cluster: Cluster,
  daemonSets: V1DaemonSet[],
  tally: Tally,
  how: { listAllPods: boolean },
): Promise<void> {
  if (daemonSets.length === 0) return;
  const namespaces = [...new Set(daemonSets.map(namespaceOf))];
  // A resync lists every pod (it also finds pods to release, whose labels no longer match). A hinted pass lists only
  // the pods each DaemonSet's selector matches — its own and the orphans it may adopt — not the whole namespace.
  const podReads = how.listAllPods
    ? [cluster.listPods()]
    : daemonSets.filter(syncable).flatMap((ds) => {
        const query = selectorQuery(ds.spec?.selector);
        return query === undefined ? [] : [cluster.listPods(namespaceOf(ds), query)];
      });
  const [nodes, podLists, revisionLists] = await Promise.all([
    cluster.listNodes(),
    Promise.all(podReads),
    how.listAllPods
      ? Promise.all([cluster.listControllerRevisions()])
      : Promise.all(namespaces.map((ns) => cluster.listControllerRevisions(ns))),
  ]);
  // Two selectors may match the same pod: keep one copy.
  const pods = [...new Map(podLists.flat().map((p) => [p.metadata?.uid ?? `${p.metadata?.namespace}/${p.metadata?.name}`, p])).values()];
  const revisions = revisionLists.flat();
  const states = nodeStates(nodes, pods, undefined);
  const inNamespace = <T extends { metadata?: { namespace?: string } }>(items: T[], ns: string) =>
    items.filter((i) => (i.metadata?.namespace ?? 'default') === ns);

  // 1. History (upstream constructHistory): the current revision and its hash, before anything is created.
  const histories = new Map<string, HistoryPlan>();
  await Promise.all(
    daemonSets.filter(syncable).map(async (ds) => {
      const ns = namespaceOf(ds);
      const history = await syncHistory(deps, cluster, ds, inNamespace(revisions, ns), inNamespace(pods, ns));
      if (history) histories.set(ds.metadata?.uid ?? '', history);
      // A hash collision bumped collisionCount: this DaemonSet is synced again with the new hash.
      else tally.requeue = Math.min(tally.requeue ?? Infinity, 1);
    }),
  );
  const ready = daemonSets.filter((ds) => !syncable(ds) || histories.has(ds.metadata?.uid ?? ''));

  // 2. manage: create/delete per node.
  const snapshot = await withBackoffs(cluster, ready, states);
  const plan = planSnapshot(snapshot, deps.now(), deps.options.plan);
  await apply(deps, cluster, plan, tally);

  // 3. The rolling update, only for DaemonSets manage wrote nothing for (upstream: expectations still satisfied).
  const wrote = new Set(plan.actions.filter((a) => a.kind === 'create' || a.kind === 'delete').map((a) => a.daemonSet.uid));
  await Promise.all(
    ready
      .filter((ds) => histories.has(ds.metadata?.uid ?? '') && isRollingUpdate(ds) && !wrote.has(ds.metadata?.uid ?? ''))
      .map((ds) => rolloutStep(deps, cluster, ds, states, nodes, histories.get(ds.metadata?.uid ?? '')!.hash, tally)),
  );

  // 4. cleanupHistory, then 5. status, from the snapshot this pass started with (the next event brings it up to date).
  await Promise.all(
    [...histories.entries()].flatMap(([uid, history]) => {
      const ds = ready.find((d) => d.metadata?.uid === uid)!;
      return history.cleanup.map((name) => cluster.deleteControllerRevision(namespaceOf(ds), name));
    }),
  );
  await updateStatuses(deps, cluster, ready, states, histories, tally);
}

const namespaceOf = (obj: { metadata?: { namespace?: string } }): string => obj.metadata?.namespace ?? 'default';

/** Neither being deleted (left to the garbage collector) nor selecting everything (refused with SelectingAll). */
const syncable = (ds: V1DaemonSet): boolean => !ds.metadata?.deletionTimestamp && !isEmptySelector(ds.spec?.selector);

/**
 * Applies the history plan (src/core/history.ts) for one DaemonSet and returns it, or undefined when creating the
 * current revision met a hash collision: then status.collisionCount is raised (guarded) and the DaemonSet is synced
 * again, hashing with the new count.
 */
async function syncHistory(
  deps: ReconcilerDeps,
  cluster: Cluster,
  ds: V1DaemonSet,
  revisions: V1ControllerRevision[],
  pods: V1Pod[],
): Promise<HistoryPlan | undefined> {
  const ns = namespaceOf(ds);
  const plan = planHistory(ds, revisions, pods, revisionHash(ds));
  await Promise.all([
    ...plan.adopt.map((r) => cluster.patchControllerRevision(ns, r.name, { metadata: { ownerReferences: [controllerRefFor(ds)] } })),
    // Revisions carry only their DaemonSet's reference, so releasing one clears the list.
    ...plan.release.map((r) => cluster.patchControllerRevision(ns, r.name, { metadata: { ownerReferences: null } })),
    ...plan.labelRevisions.map((name) => cluster.patchControllerRevision(ns, name, { metadata: { labels: { [labels.revisionHash]: name } } })),
  ]);
  if (plan.toCreate) {
    const result = await cluster.createControllerRevision(plan.toCreate);
    if (!result.created) {
      const outcome = collisionOutcome(result.existing, ds);
      if (outcome.kind === 'collision') {
        deps.log.warn('revision hash collision', { daemonSet: `${ns}/${ds.metadata?.name}`, collisionCount: outcome.nextCollisionCount });
        await cluster.bumpCollisionCount(ns, ds.metadata?.name ?? '', outcome.observedCollisionCount);
        return undefined;
      }
      plan.hash = outcome.hash;
    }
  }
  if (plan.dedup.keepHash) {
    const keepHash = plan.dedup.keepHash;
    await settleAll(plan.dedup.relabelPods, deps.options.writeConcurrency, (pod) => cluster.labelPod(pod, { [labels.revisionHash]: keepHash }));
    await Promise.all(plan.dedup.deleteNames.map((name) => cluster.deleteControllerRevision(ns, name)));
  }
  if (plan.toUpdateRevision) {
    await cluster.patchControllerRevision(ns, plan.toUpdateRevision.name, { revision: plan.toUpdateRevision.revision });
  }
  return plan;
}

/** How long a rollout step may hold its DaemonSet's lock; a crashed holder is passed over after this. */
const ROLLOUT_LOCK_SECONDS = 15;

/**
 * One rolling-update step for one DaemonSet (src/core/rollout.ts), within the global maxUnavailable / maxSurge
 * budget although many invocations run at once: the step runs under a per-DaemonSet Lease taken by compare-and-swap
 * on its resourceVersion, and plans from pods read *after* taking it, so it sees every earlier step's deletes and
 * creates. An invocation that does not get the lock skips the step; the holder's writes bring the next events.
 * See docs/rollout.md.
 */
async function rolloutStep(
  deps: ReconcilerDeps,
  cluster: Cluster,
  ds: V1DaemonSet,
  snapshot: NodeState[],
  nodes: V1Node[],
  hash: string,
  tally: Tally,
): Promise<void> {
  const ns = namespaceOf(ds);
  const ref = refOf(ds);
  // Most passes have no step to take (the rollout is done, or waits for a new pod to become available): they need
  // neither the lock nor a fresh read. Writes already made by others only shrink what the snapshot shows as possible.
  const preview = planRollingUpdate(ds, snapshot, hash, deps.now());
  if (preview.requeueAfterSeconds !== undefined) tally.requeue = Math.min(tally.requeue ?? Infinity, preview.requeueAfterSeconds);
  if (preview.creates.length + preview.deletes.length === 0) return;
  const lock = `daemonless-rollout-${shortHash(ref.uid)}`;
  const holder = deps.newId();
  if (!(await cluster.acquireLease(ns, lock, holder, ROLLOUT_LOCK_SECONDS, deps.now(), ref))) {
    deps.log.debug('rollout step skipped: another invocation holds the lock', { daemonSet: `${ns}/${ref.name}` });
    return;
  }
  try {
    const fresh = await cluster.listPods(ns);
    const step = planRollingUpdate(ds, nodeStates(nodes, fresh, undefined), hash, deps.now());
    if (step.creates.length + step.deletes.length > 0) {
      deps.log.info('rollout step', { daemonSet: `${ns}/${ref.name}`, summary: step.summary, creates: step.creates.length, deletes: step.deletes.length });
    }
    await apply(deps, cluster, { actions: [...step.creates, ...step.deletes], events: [], decisions: [] }, tally);
    if (step.requeueAfterSeconds !== undefined) tally.requeue = Math.min(tally.requeue ?? Infinity, step.requeueAfterSeconds);
  } finally {
    await cluster.releaseLease(ns, lock, holder).catch((error: unknown) => deps.log.warn('rollout lock not released', { error: String(error) }));
  }
}

/**
 * Node-scoped: the named nodes for every DaemonSet. Few nodes: per node a GET and a pod list by `spec.nodeName`,
 * plus one DaemonSet list (3 reads for one node). Many nodes (a burst of joins): one node list and one pod list.
 * Unbound pods aimed at a node are read only when something may have to be deleted there (the node is gone, or a
 * DaemonSet no longer tolerates it): creating needs no such read, since a pending pod of ours has the same
 * deterministic name and the create answers AlreadyExists.
 */
async function reconcileNodes(deps: ReconcilerDeps, cluster: Cluster, names: string[], tally: Tally): Promise<void> {
  const wanted = new Set(names);
  let states: NodeState[];
  let daemonSets: V1DaemonSet[];
  if (names.length > deps.options.wideReadThreshold) {
    const [nodes, pods, dsList] = await Promise.all([cluster.listNodes(), cluster.listPods(), cluster.listDaemonSets()]);
    daemonSets = dsList;
    states = nodeStates(nodes, pods, wanted);
  } else {
    // Per-node reads are small (the API server serves `spec.nodeName` from an index); at most 16 nodes in flight.
    const [dsList, perNode] = await Promise.all([
      cluster.listDaemonSets(),
      settleAll(names, 16, async (name) => {
        const [node, pods] = await Promise.all([cluster.getNode(name), cluster.listPodsOnNode(name)]);
        return { name, node, pods };
      }),
    ]);
    daemonSets = dsList;
    states = perNode.map((r) => {
      if (r.status === 'rejected') throw r.reason;
      return r.value;
    });
    const active = dsList.filter((ds) => !ds.metadata?.deletionTimestamp);
    const mayDelete = (s: NodeState) =>
      s.node === null || active.some((ds) => s.node !== null && !nodeShouldRunDaemonPod(s.node, ds).shouldContinueRunning);
    if (active.length > 0 && states.some(mayDelete)) {
      const unscheduled = await cluster.listUnscheduledPods();
      for (const pod of unscheduled) {
        const target = getTargetNodeName(pod);
        const state = target === undefined ? undefined : states.find((s) => s.name === target);
        if (state) state.pods.push(pod);
      }
    }
  }
  if (daemonSets.length === 0) return;
  const snapshot = await withBackoffs(cluster, daemonSets, states);
  const plan = planSnapshot(snapshot, deps.now(), deps.options.plan);
  await apply(deps, cluster, plan, tally);
  // Status (and rollout progress) need every node of a DaemonSet: ask for a DaemonSet-wide pass for each DaemonSet
  // these nodes count in, rather than reading the whole cluster on every node event.
  for (const ds of countedOn(daemonSets, states)) {
    const hint: Hint = { kind: 'daemonSet', namespace: ds.metadata?.namespace ?? 'default', name: ds.metadata?.name ?? '' };
    tally.followUp.set(`${hint.namespace}/${hint.name}`, hint);
  }
}

/** DaemonSets whose status these nodes contribute to: they should run there, or have a pod there. */
function countedOn(daemonSets: V1DaemonSet[], states: NodeState[]): V1DaemonSet[] {
  return daemonSets.filter((ds) => {
    if (ds.metadata?.deletionTimestamp) return false;
    const uid = ds.metadata?.uid;
    return states.some(
      (s) =>
        s.pods.some((p) => p.metadata?.ownerReferences?.some((o) => o.controller && o.uid === uid)) ||
        (s.node !== null && nodeShouldRunDaemonPod(s.node, ds).shouldRun),
    );
  });
}

/** Groups pods by target node. Nodes named by pods but absent from the list are deleted nodes (`node: null`). */
function nodeStates(nodes: V1Node[], pods: V1Pod[], only: Set<string> | undefined): NodeState[] {
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

const refOf = (ds: V1DaemonSet): ObjectRef => ({
  namespace: ds.metadata?.namespace ?? 'default',
  name: ds.metadata?.name ?? '',
  uid: ds.metadata?.uid ?? '',
});

/** Reads the failed-pod backoff only where a DaemonSet has a Failed pod: the rare path costs the reads. */
async function withBackoffs(cluster: Cluster, daemonSets: V1DaemonSet[], nodes: NodeState[]): Promise<Snapshot> {
  const wanted: { ds: V1DaemonSet; node: string }[] = [];
  for (const ds of daemonSets) {
    const uid = ds.metadata?.uid;
    for (const state of nodes) {
      const failed = state.pods.some(
        (p) => p.status?.phase === 'Failed' && p.metadata?.ownerReferences?.some((o) => o.controller && o.uid === uid),
      );
      if (failed) wanted.push({ ds, node: state.name });
    }
  }
  const backoffs = new Map<string, BackoffState>();
  await Promise.all(
    wanted.map(async ({ ds, node }) => {
      const state = await cluster.getBackoff(refOf(ds), node);
      if (state) backoffs.set(backoffKey(ds, node), state);
    }),
  );
  return { daemonSets, nodes, backoffs };
}


/**
 * Applies a plan. Backoff records first (so a crash after a delete cannot skip the backoff), then ownership changes,
 * then deletes, then creates with slow start (see `slowStart`).
 */
async function apply(deps: ReconcilerDeps, cluster: Cluster, plan: Plan, tally: Tally): Promise<void> {
  const { writeConcurrency } = deps.options;
  const now = deps.now();
  const events: EventToRecord[] = [...plan.events];
  const errors: unknown[] = [];
  const record = (action: Action, settled: PromiseSettledResult<'done' | 'noop'>): void => {
    let outcome: ActionOutcome;
    if (settled.status === 'fulfilled') {
      outcome = settled.value === 'done' ? { kind: 'succeeded' } : { kind: 'unchanged' };
      if (settled.value === 'done' && action.kind === 'create') tally.created += 1;
      if (settled.value === 'done' && action.kind === 'delete') tally.deleted += 1;
    } else {
      const message = settled.reason instanceof Error ? settled.reason.message : String(settled.reason);
      outcome = { kind: 'failed', message };
      errors.push(settled.reason);
      deps.log.warn('write failed', { action: describe(action), error: message });
    }
    const event = eventForAction(action, outcome);
    if (event) events.push(event);
  };
  const run = async (actions: Action[]): Promise<void> => {
    const settled = await settleAll(actions, writeConcurrency, (a) => execute(cluster, a));
    settled.forEach((s, i) => record(actions[i] as Action, s));
  };
  const of = (kind: Action['kind']) => plan.actions.filter((a) => a.kind === kind);
  await run(of('recordBackoff'));
  await run([...of('adopt'), ...of('release')]);
  await run(of('delete'));
  const creates = of('create');
  const skipped = await slowStart(creates, writeConcurrency, (a) => execute(cluster, a), record, () => deps.now().getTime() < tally.writeDeadline);
  if (skipped > 0 && deps.now().getTime() >= tally.writeDeadline) tally.unfinished = true;
  else if (skipped > 0) deps.log.warn('skipping remaining creates after a rejected create', { skipped });
  if (plan.requeueAfterSeconds !== undefined) {
    tally.requeue = Math.min(tally.requeue ?? Infinity, plan.requeueAfterSeconds);
  }
  await recordEvents(deps, cluster, events, now);
  // A transient failure is re-thrown so the sender redelivers; the writes that did succeed stay done (idempotent).
  // A rejected write (quota, admission, validation) is not: redelivering the same batch would fail the same way and
  // hold up the sender's queue. It is recorded as a FailedCreate/FailedDelete Event and retried by the next event
  // or the scheduled resync, as upstream retries a failed sync with backoff.
  const transient = errors.find(isTransient);
  if (transient) throw transient;
}

/**
 * Upstream's syncNodes creates in batches of 1, 2, 4, ... and stops after a batch with an error, so a rejected create
 * (quota, admission) is not repeated a thousand times. The same protection without the batch barriers: the number of
 * creates in flight starts at 1 and grows by one per success (doubling per round trip, like TCP's slow start) up to
 * `limit`; a non-transient failure stops launching more, and so does `mayLaunch()` turning false. Returns how many
 * were never launched.
 */
export async function slowStart<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<'done' | 'noop'>,
  done: (item: T, settled: PromiseSettledResult<'done' | 'noop'>) => void,
  /** Checked before each launch: false stops launching (the invocation's time budget). */
  mayLaunch: () => boolean = () => true,
): Promise<number> {
  let window = 1;
  let inFlight = 0;
  let next = 0;
  let stopped = false;
  await new Promise<void>((resolve) => {
    const launch = (): void => {
      while (!stopped && inFlight < window && next < items.length && mayLaunch()) {
        const item = items[next++] as T;
        inFlight += 1;
        task(item).then(
          (value) => {
            window = Math.min(limit, window + 1);
            done(item, { status: 'fulfilled', value });
          },
          (reason: unknown) => {
            if (!isTransient(reason)) stopped = true;
            done(item, { status: 'rejected', reason });
          },
        ).finally(() => {
          inFlight -= 1;
          launch();
        });
      }
      if (inFlight === 0) resolve();
    };
    launch();
  });
  return items.length - next;
}

async function execute(cluster: Cluster, action: Action): Promise<'done' | 'noop'> {
  switch (action.kind) {
    case 'create':
      return (await cluster.createPod(action.pod)) === 'created' ? 'done' : 'noop';
    case 'delete':
      return (await cluster.deletePod(action.pod, action.gracePeriodSeconds)) === 'deleted' ? 'done' : 'noop';
    case 'adopt':
      return (await cluster.adoptPod(action.daemonSet, action.pod)) === 'done' ? 'done' : 'noop';
    case 'release':
      return (await cluster.releasePod(action.daemonSet, action.pod)) === 'done' ? 'done' : 'noop';
    case 'recordBackoff':
      await cluster.writeBackoff(action.daemonSet, action.nodeName, action.state);
      return 'done';
  }
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

/**
 * Records Events best effort. Like upstream's event broadcaster, which stops recording after a burst per object, at
 * most `eventsPerReason` individual Events per (DaemonSet, reason) are written; the rest become one summary Event, so
 * a 1,000-node rollout does not double its API writes.
 */
async function recordEvents(deps: ReconcilerDeps, cluster: Cluster, events: EventToRecord[], now: Date): Promise<void> {
  const groups = new Map<string, EventToRecord[]>();
  for (const e of events) {
    const key = `${e.daemonSet.uid}/${e.reason}`;
    groups.set(key, [...(groups.get(key) ?? []), e]);
  }
  const toWrite: EventToRecord[] = [];
  for (const group of groups.values()) {
    const limit = deps.options.eventsPerReason;
    toWrite.push(...group.slice(0, limit));
    if (group.length > limit) {
      const first = group[0] as EventToRecord;
      toWrite.push({ ...first, message: `${group.length - limit} more like: ${first.message}` });
    }
  }
  const settled = await settleAll(toWrite, deps.options.writeConcurrency, (e) => cluster.recordEvent(e, now));
  const failed = settled.filter((s) => s.status === 'rejected').length;
  if (failed > 0) deps.log.warn('events not recorded', { failed });
}

/** DaemonSet status, from the snapshot the plan was made from (as upstream: the next event brings it up to date). */
async function updateStatuses(
  deps: ReconcilerDeps,
  cluster: Cluster,
  daemonSets: V1DaemonSet[],
  nodes: NodeState[],
  histories: Map<string, HistoryPlan>,
  tally: Tally,
): Promise<void> {
  await Promise.all(
    daemonSets.map(async (ds) => {
      const history = histories.get(ds.metadata?.uid ?? '');
      if (!history) return;
      const now = deps.now();
      const next = computeStatus(ds, nodes, history.hash, now);
      // Upstream requeues while ready pods are waiting out minReadySeconds, so `available` catches up.
      const wait = statusRequeueAfterSeconds(ds, next);
      if (wait !== undefined) tally.requeue = Math.min(tally.requeue ?? Infinity, wait);
      // Written only when a counter changed or observedGeneration lags, with the resourceVersion it was read at; on a
      // conflict (someone wrote the DaemonSet meanwhile) re-read it and try again, as upstream's storeDaemonSetStatus.
      let current: V1DaemonSet | null = ds;
      for (let attempt = 0; current && attempt < 3; attempt += 1) {
        const generation = current.metadata?.generation ?? 0;
        if (!statusNeedsUpdate(current.status, next, generation)) return;
        try {
          await cluster.updateDaemonSetStatus(current, nextStatus(current.status, next, generation));
          return;
        } catch (error) {
          if (!(error instanceof ConflictError)) {
            deps.log.warn('status not written', { daemonSet: `${namespaceOf(ds)}/${ds.metadata?.name}`, error: String((error as Error).message) });
            return;
          }
          current = await cluster.getDaemonSet(namespaceOf(ds), ds.metadata?.name ?? '');
        }
      }
    }),
  );
}
