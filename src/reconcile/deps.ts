/**
 * What every part of the reconcile shell shares: its options, its dependencies, and the running record of one call
 * (`Pass`): the Cluster port bound to the call's deadline, what was written, what is asked for next.
 */
import type { Cluster } from '../k8s/cluster.ts';
import type { V1DaemonSet, V1Node } from '@kubernetes/client-node';
import { MAX_HINTED_PODS, hintKey, mergeFollowUps, type Hint, type SeenAt } from '../hints.ts';
import { laterVersion } from '../core/versions.ts';
import type { Logger } from '../log.ts';
import type { DaemonSetKind, PlanOptions } from '../core/model.ts';
import { daemonSetKindOf, keyOf } from '../core/refs.ts';
import { NamespaceTerminatingError } from '../errors.ts';

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
  /** The DaemonSet kinds reconciled (MANAGE): hints for another kind are ignored. */
  kinds: readonly DaemonSetKind[];
  /**
   * After a request of the pass failed (a timeout, a 5xx, a reset), no write is launched or retried on a view (the
   * reads a plan came from) older than this: the pass ends unfinished and its hints are handled again on a fresh read
   * (`viewIsFresh`). A pass without failures is not bounded by it.
   */
  staleViewMs: number;
  /**
   * No two passes of this deployment that may write pods ever run at once: each holds the pass lock
   * (src/pass-lock.ts), or the one process runs them one at a time (a local server with MAX_CONCURRENT_RECONCILES=1);
   * only passes that can write nothing but a status run beside them (status-only.ts). A rollout step then needs no
   * lock of its own (rollout-step.ts): four requests fewer per step. Unset: passes may overlap, and each step takes
   * its DaemonSet's rollout lock.
   */
  passesSerialized?: boolean;
}

export interface ReconcilerDeps {
  /**
   * A Cluster port for one call, whose transient retries stop at `deadline` (epoch ms), and whose failed pod creates
   * and deletes are retried only while `mayRetryFromView()`.
   */
  cluster: (deadline: number, mayRetryFromView: () => boolean) => Cluster;
  now: () => Date;
  /** A unique id per call (the rollout lock's holder). */
  newId: () => string;
  log: Logger;
  options: ReconcilerOptions;
}

/** One `handle` call in progress. */
export interface Pass {
  readonly deps: ReconcilerDeps;
  readonly cluster: Cluster;
  created: number;
  deleted: number;
  /** Seconds after which the hints should be handled again (the soonest asked for). */
  requeue: number | undefined;
  /** DaemonSet-wide passes to run after this one, by hint key. */
  followUp: Map<string, Hint>;
  /** Epoch ms after which no new create is launched. */
  readonly writeDeadline: number;
  /** When the reads of the current view began (epoch ms), and the transient failures counted before them. */
  view: { since: number; failuresBefore: number };
  /** Why writes were left undone (time budget, a stale view): the same hints must be handled again. */
  unfinished: string | undefined;
  /** Nodes this pass saw gone with a GET (404): their pods may be force-deleted without asking again. */
  readonly confirmedGone: Set<string>;
  /** What the node-scoped reads saw of each hinted node (null: no node), for hints that wait for a change. */
  readonly nodeViews: Map<string, V1Node | null>;
  /** What failed for one DaemonSet while the others went on (`isolated`): the pass fails with it at the end. */
  readonly failures: unknown[];
  /**
   * By DaemonSet UID: the latest resourceVersion at which this pass created one of its pods (null: one came without
   * it). A follow-up asked for after them is covered by a DaemonSet-wide pass that read the pods no earlier (Hint
   * `after`).
   */
  readonly podsWritten: Map<string, string | null>;
  /**
   * By DaemonSet UID: the first pod write of this pass the API server refused (a quota, an admission policy, validation:
   * not transient). Such a DaemonSet is tried again on a backoff (core/status.ts `refusedRetryAfterSeconds`), as
   * upstream requeues a sync that failed.
   */
  readonly refused: Map<string, string>;
  /** Aborted when the pass may no longer write pods (its pass lock was lost). */
  readonly signal?: AbortSignal;
}

export function newPass(deps: ReconcilerDeps, started: Date, signal?: AbortSignal): Pass {
  const pass: Pass = {
    deps,
    // A failed write is retried only on a view that is still fresh enough (it failed: so the view may not be).
    cluster: deps.cluster(started.getTime() + deps.options.timeBudgetMs, () => signal?.aborted !== true && viewAgeMs(pass) <= deps.options.staleViewMs),
    ...(signal ? { signal } : {}),
    created: 0,
    deleted: 0,
    requeue: undefined,
    followUp: new Map(),
    // Writes stop being launched this long before the budget ends, leaving time to record Events and answer.
    writeDeadline: started.getTime() + deps.options.timeBudgetMs * 0.8,
    view: { since: started.getTime(), failuresBefore: 0 },
    unfinished: undefined,
    confirmedGone: new Set(),
    nodeViews: new Map(),
    failures: [],
    podsWritten: new Map(),
    refused: new Map(),
  };
  return pass;
}

/** Called before the reads a plan will be made from: the view's age counts from here. */
export function beginView(pass: Pass): void {
  pass.view = { since: pass.deps.now().getTime(), failuresBefore: pass.cluster.transientFailures() };
}

function viewAgeMs(pass: Pass): number {
  return pass.deps.now().getTime() - pass.view.since;
}

/**
 * Whether writes may still be launched from the current view. Without a failed request since its reads began, yes:
 * a healthy pass is as fresh as its reads (a large one writes for seconds, as upstream's syncs do). After one (a
 * request that hung until its timeout, retries after 5xx), only while the view is younger than `staleViewMs`: a pod
 * created on a node read ten seconds earlier may land on a node that has since been tainted or relabelled (the
 * reliability run's timeout faults, docs/reliability.md finding 5).
 */
export function viewIsFresh(pass: Pass): boolean {
  // The pass lock lost (src/pass-lock.ts): another pass may run beside this one, so nothing more is written.
  if (pass.signal?.aborted) return false;
  if (pass.cluster.transientFailures() === pass.view.failuresBefore) return true;
  return viewAgeMs(pass) <= pass.deps.options.staleViewMs;
}

export function requeueAfter(pass: Pass, seconds: number | undefined): void {
  if (seconds !== undefined) pass.requeue = Math.min(pass.requeue ?? Infinity, seconds);
}

/**
 * Asks for a DaemonSet-wide pass of `ds` after this one. `created`: the pods this pass created for it, when that is
 * all it wrote for it; the follow-up names them (Hint `pods`; the first `MAX_HINTED_PODS`: pods just created are in
 * the selector, and one of them proves the hash), so it may take the revision hash from them. Otherwise it
 * names none: no pod left the selector and the DaemonSet did not change, so it needs no release check, but a pod
 * this pass deleted may let history cleanup delete a revision, which needs the revisions read.
 */
export function followUp(pass: Pass, ds: V1DaemonSet, created: readonly string[] = [], after?: SeenAt): void {
  const hint: Extract<Hint, { kind: 'daemonSet' }> = { kind: 'daemonSet', namespace: ds.metadata?.namespace || 'default', name: ds.metadata?.name ?? '', pods: created.slice(0, MAX_HINTED_PODS) };
  if (after) hint.after = after;
  if (ds.metadata?.uid) hint.uid = ds.metadata.uid;
  if (daemonSetKindOf(ds) === 'ServerlessDaemonSet') hint.type = 'ServerlessDaemonSet';
  const key = hintKey(hint);
  pass.followUp.set(key, mergeFollowUps(pass.followUp.get(key), hint));
}

/** A pod of the DaemonSet `uid` created at `resourceVersion` (undefined: the answer did not say): `podsWritten`. */
export function notePodWritten(pass: Pass, uid: string, resourceVersion: string | undefined): void {
  const known = pass.podsWritten.get(uid);
  if (known === null) return;
  pass.podsWritten.set(uid, resourceVersion === undefined ? null : known === undefined ? resourceVersion : (laterVersion(known, resourceVersion) ?? null));
}

/**
 * Runs one DaemonSet's step of a pass that covers several (upstream syncs each DaemonSet on its own): a failure is kept
 * in `pass.failures` and the pass goes on with the others, failing only at the end; true when the step succeeded. A
 * namespace being deleted is no failure (its DaemonSet goes with it; upstream reports nothing either).
 */
export async function isolated(pass: Pass, ds: V1DaemonSet, step: string, fn: () => Promise<void>): Promise<boolean> {
  try {
    await fn();
    return true;
  } catch (error) {
    if (error instanceof NamespaceTerminatingError) {
      pass.deps.log.debug('namespace being deleted: DaemonSet skipped', { daemonSet: keyOf(ds), step });
    } else {
      pass.deps.log.warn('DaemonSet step failed; the others go on', { daemonSet: keyOf(ds), step, error: String(error) });
      pass.failures.push(error);
    }
    return false;
  }
}
