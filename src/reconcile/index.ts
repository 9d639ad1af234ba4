/**
 * The shell that joins the pure core and the Kubernetes port: the TypeScript counterpart of upstream's
 * `syncDaemonSet`, cut down to what a batch of hints names.
 *
 *   hints ──► read (only what the decision needs) ──► core plan (pure) ──► apply writes ──► Events, status
 *
 * Two modes: DaemonSet-wide (daemonset-pass.ts: a DaemonSet changed, a follow-up, the resync) and node-scoped
 * (node-pass.ts: a node or a pod on it changed). Nothing survives the call: no informer, no cache, no expectations.
 * Writes are idempotent (deterministic pod names, UID preconditions), so concurrent or repeated calls converge on the
 * same state.
 */
import type { V1DaemonSet } from '@kubernetes/client-node';
import { BadRequestError, ConflictError, DeferredError, NotFoundError, TransientError, isTransient } from '../errors.ts';
import { MAX_HINTED_PODS, changeSeen, mayWriteOnlyStatus, dedupeHints, hintKey, partialResultOf, withPartialResult, type HandleResult, type Hint, type HintHandler } from '../hints.ts';
import { daemonSetNameError, namespaceError, nodeNameError, podNameError } from '../core/refs.ts';
import { daemonSetFingerprint, nodeFingerprint } from '../core/fields.ts';
import { coveredBy } from '../core/status.ts';
import { STALE, STOPPED } from './apply.ts';
import { reconcileDaemonSets } from './daemonset-pass.ts';
import { newPass, type ReconcilerDeps } from './deps.ts';
import { reconcileNodes } from './node-pass.ts';
import { nothingForCreatedNodes, passKey, readAdopters, readHintedDaemonSets } from './read.ts';
import { statusOnlyGuard } from './status-only.ts';
import { heldLogger } from '../log.ts';

export type { ReconcilerDeps, ReconcilerOptions } from './deps.ts';

/** A backoff older than twice its 15-minute cap has expired (upstream forgets it too); a pass schedule that old, too. */
const LEASE_STALE_MS = 30 * 60_000;

export function createReconciler(deps: ReconcilerDeps): HintHandler {
  const inner = reconcilerPass(deps);
  return {
    settleUnlocked: async (hints) => (await settleCreatedNodes(deps, hints)) ?? (await settleStatusOnly(deps, hints)),
    async handle(hints, signal) {
      try {
        return await inner.handle(hints, signal);
      } catch (error) {
        throw redeliverable(error);
      }
    },
  };
}

/**
 * Hints that are all node creations, on nodes no DaemonSet should run a pod on yet (a node registering with the
 * `not-ready` taint): settled without a pass, by the DaemonSet list and, where a hint does not carry the node as created
 * (Hint `registered`), a GET of the node. Anything else: undefined, for a pass.
 */
async function settleCreatedNodes(deps: ReconcilerDeps, hints: readonly Hint[]): Promise<HandleResult | undefined> {
  // Every hint a creation, so none merges into a change; two creations of one name keep `registered` only if they agree.
  if (hints.length === 0 || !hints.every((h) => h.kind === 'node' && h.created && nodeNameError(h.name) === null)) return undefined;
  const created = dedupeHints(hints).flatMap((h) => (h.kind === 'node' ? [{ name: h.name, registered: h.registered }] : []));
  const started = deps.now();
  const pass = newPass(deps, started);
  if (!(await nothingForCreatedNodes(pass, created))) return undefined;
  const result: HandleResult = { hints: created.length, created: 0, deleted: 0, apiRequests: pass.cluster.requestCount() };
  deps.log.info('reconciled', { ...result, requests: pass.cluster.requestsByKind(), ms: deps.now().getTime() - started.getTime(), settledUnlocked: true });
  return result;
}

/**
 * Hints that are all DaemonSets' pods changing (Hint `pods`: created, bound, turning Ready), a few pods each (hints.ts
 * `mayWriteOnlyStatus`): their pass usually only writes status, and runs without the pass lock through a port that
 * refuses every other write (status-only.ts). Refused: undefined, and the caller runs the pass again under the lock;
 * its log lines are dropped with it.
 */
async function settleStatusOnly(deps: ReconcilerDeps, hints: readonly Hint[]): Promise<HandleResult | undefined> {
  if (!mayWriteOnlyStatus(hints)) return undefined;
  const guard = statusOnlyGuard(new Set(hints.flatMap((h) => (h.kind === 'daemonSet' ? [`${h.namespace}/${h.name}`] : []))));
  const held = heldLogger(deps.log);
  const pass = reconcilerPass({ ...deps, log: held.log, cluster: (deadline, mayRetry) => guard.wrap(deps.cluster(deadline, mayRetry)) });
  try {
    const result = await pass.handle(hints);
    if (guard.refused !== undefined) return refusedUnlocked(deps, guard.refused);
    held.flush();
    deps.log.debug('status-only pass ran without the pass lock', { hints: hints.length });
    return result;
  } catch (error) {
    if (guard.refused !== undefined) return refusedUnlocked(deps, guard.refused);
    held.flush();
    throw redeliverable(error);
  }
}

/**
 * A NotFound or Conflict the pass did not handle means the cluster changed under it (an object gone between two
 * reads, a write raced). That says nothing about the request: the sender must redeliver, not give up on a 4xx.
 */
function redeliverable(error: unknown): unknown {
  if (error instanceof NotFoundError || error instanceof ConflictError) {
    const again = new TransientError(`the cluster changed during the reconcile (${error.message}); redeliver`, 1);
    const partial = partialResultOf(error);
    return partial === undefined ? again : withPartialResult(again, partial);
  }
  return error;
}

function refusedUnlocked(deps: ReconcilerDeps, what: string): undefined {
  deps.log.debug('status-only pass needs the pass lock', { needs: what });
  return undefined;
}

function reconcilerPass(deps: ReconcilerDeps): HintHandler {
  return {
    async handle(rawHints, signal) {
      const hints = dedupeHints(rawHints);
      // Every source validates these; checked again because they go into request paths and selectors.
      for (const hint of hints) {
        const problem =
          hint.kind === 'node'
            ? nodeNameError(hint.name)
            : hint.kind === 'daemonSet'
              ? (namespaceError(hint.namespace) ?? daemonSetNameError(hint.name))
              : hint.kind === 'orphan'
                ? (namespaceError(hint.namespace) ?? podNameError(hint.name))
                : null;
        if (problem !== null) throw new BadRequestError(`${hint.kind} hint ${JSON.stringify(hintKey(hint))} ${problem}`);
      }
      const started = deps.now();
      const pass = newPass(deps, started, signal);
      const { cluster } = pass;
      const unsettledDaemonSets: Hint[] = [];
      const covered: string[] = [];

      if (hints.some((h) => h.kind === 'resync')) {
        const daemonSets = await cluster.listDaemonSets();
        const read = await reconcileDaemonSets(pass, daemonSets, true);
        // daemonless's own Leases cannot be owned by their DaemonSet (another namespace): the resync removes the spent.
        const nodes = new Set((read?.nodes ?? (await cluster.listNodes())).map((n) => n.metadata?.name ?? ''));
        const removed = await cluster.cleanUpLeases(new Set(daemonSets.map((d) => d.metadata?.uid ?? '')), nodes, started, LEASE_STALE_MS);
        if (removed > 0) deps.log.info('leases cleaned up', { removed });
      } else {
        const dsHints = hints.filter((h): h is Extract<Hint, { kind: 'daemonSet' }> => h.kind === 'daemonSet');
        const nodeHints = hints.filter((h): h is Extract<Hint, { kind: 'node' }> => h.kind === 'node');
        const orphanHints = hints.filter((h): h is Extract<Hint, { kind: 'orphan' }> => h.kind === 'orphan');
        if (dsHints.length > 0 || orphanHints.length > 0) {
          const wanted = dsHints.filter((h) => deps.options.kinds.includes(h.type ?? 'DaemonSet'));
          const [read, adopters] = await Promise.all([readHintedDaemonSets(pass, wanted), readAdopters(pass, orphanHints)]);
          // An admitted change not stored yet (Hint `pending`): no pass for that DaemonSet now (it would read every node
          // and pod for nothing); its hint is handed in again.
          const found = read.map((ds, i) => {
            const hint = wanted[i] as Extract<Hint, { kind: 'daemonSet' }>;
            // A follow-up whose join a later pass already counted (Hint `after`): the DaemonSet's GET was all it needed.
            if (ds !== null && hint.after !== undefined && coveredBy(ds, hint.after)) {
              covered.push(hintKey(hint));
              return null;
            }
            if (hint.pending === undefined || changeSeen(hint.pending, daemonSetFingerprint(ds))) return ds;
            unsettledDaemonSets.push(hint);
            return null;
          });
          // The hint each DaemonSet was read for says which of its pods changed, if that is all that did (Hint `pods`);
          // orphans it may adopt are pods that changed too (Hint `orphan`), and a DaemonSet only they name has its pass.
          const passes = new Map<string, { ds: V1DaemonSet; pods: readonly string[] | undefined }>();
          found.forEach((ds, i) => ds !== null && passes.set(passKey(ds), { ds, pods: (wanted[i] as Extract<Hint, { kind: 'daemonSet' }>).pods }));
          for (const { ds, pods, revisions } of adopters) {
            const hinted = passes.get(passKey(ds));
            const named = hinted === undefined ? pods : hinted.pods === undefined ? undefined : [...new Set([...hinted.pods, ...pods])];
            // An orphan revision is adopted by a pass that reads the revisions: one naming no pod, or the full pass.
            passes.set(passKey(ds), { ds: hinted?.ds ?? ds, pods: revisions && named !== undefined && named.length > 0 ? undefined : named });
          }
          const changedPods = (ds: V1DaemonSet) => {
            const pods = passes.get(passKey(ds))?.pods;
            return pods !== undefined && pods.length > MAX_HINTED_PODS ? undefined : pods;
          };
          await reconcileDaemonSets(pass, [...passes.values()].map((p) => p.ds), false, changedPods);
        }
        if (nodeHints.length > 0) await reconcileNodes(pass, nodeHints.map((h) => h.name), new Map(nodeHints.flatMap((h) => (h.created ? [[h.name, h.registered] as const] : []))));
      }

      const result: HandleResult = { hints: hints.length, created: pass.created, deleted: pass.deleted, apiRequests: cluster.requestCount() };
      // Admitted changes this pass read too early to see (Hint `pending`): the caller hands them in again.
      // Fingerprinted only here, for the hints that wait: not for every node of a wide pass.
      const nodeView = (name: string) => {
        const node = pass.nodeViews.get(name);
        return node === undefined ? undefined : nodeFingerprint(node);
      };
      const unsettled = [...unsettledDaemonSets, ...hints.filter((h) => h.kind === 'node' && h.pending !== undefined && !changeSeen(h.pending, nodeView(h.name)))];
      if (unsettled.length > 0) result.unsettled = unsettled;
      if (pass.requeue !== undefined) result.requeueAfterSeconds = pass.requeue;
      if (pass.followUp.size > 0) result.followUp = [...pass.followUp.values()];
      if (pass.unfinished !== undefined) {
        // Everything written so far stays written (the next pass finds those pods); the sender redelivers the rest.
        deps.log.warn('writes left for the next pass', { reason: pass.unfinished, ...result });
        // Out of time with writes done is progress (a long rollout continues in the next pass), not a failure.
        const progress = pass.unfinished !== STALE && pass.unfinished !== STOPPED && result.created + result.deleted > 0;
        throw new (progress ? DeferredError : TransientError)(`${pass.unfinished} after ${result.created} creates and ${result.deleted} deletes; redeliver to continue`, 1);
      }
      deps.log.info('reconciled', { ...result, requests: cluster.requestsByKind(), ms: deps.now().getTime() - started.getTime(), ...(covered.length > 0 ? { covered } : {}) });
      // Some DaemonSet failed while the others went on: the pass fails with its error (a transient one first, so the
      // sender redelivers), after everything else is done.
      // What the others asked for goes with the error (hints.ts `withPartialResult`): their follow-ups are not lost to
      // a DaemonSet that keeps failing.
      if (pass.failures.length > 0) throw withPartialResult(pass.failures.find(isTransient) ?? pass.failures[0], result);
      return result;
    },
  };
}
