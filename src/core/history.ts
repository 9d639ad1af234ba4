/**
 * Revision history (ControllerRevisions) as a pure plan: upstream `constructHistory`, `controlledHistories`,
 * `dedupCurHistories`, `snapshot`, `getPatch`, `Match` and `cleanupHistory` (pkg/controller/daemon/update.go).
 * Nothing here writes; `planHistory` says which revisions to adopt, release, label, create, update and delete, and
 * which pods to relabel, and the shell does it.
 */
import type { V1ControllerRevision, V1DaemonSet, V1DaemonSetCondition, V1Pod } from '@kubernetes/client-node';
import { claimObjects, type Claim } from './claim.ts';
import { goJson } from './go-json.ts';
import { revisionHash } from './hash.ts';
import { labels, type ObjectRef } from './model.ts';
import { controllerRefFor, getTargetNodeName } from './pod-template.ts';
import { isBeingDeleted } from './pods.ts';
import { compareStrings, isControlledBy, namespaceOf, refOf } from './refs.ts';

/** A ControllerRevision name is a DNS subdomain. */
export const MAX_REVISION_NAME_LENGTH = 253;

/** Upstream's default `spec.revisionHistoryLimit`. */
export const DEFAULT_REVISION_HISTORY_LIMIT = 10;

/**
 * Upstream `getPatch`: what a revision stores, `{"spec":{"template":{…template, "$patch":"replace"}}}` (a strategic
 * merge patch that restores the template: what `kubectl rollout undo` applies), as the exact bytes Go writes
 * (`goJson`). `ds` must be the DaemonSet as the API server serialises it (read as raw JSON): then these bytes equal
 * upstream's, and upstream's `Match` (the controller's and the conformance suite's) finds our revisions, as we find
 * the revisions upstream made.
 */
export function revisionPatch(ds: V1DaemonSet): string {
  return goJson({ spec: { template: { ...(ds.spec?.template ?? {}), $patch: 'replace' } } });
}

/**
 * Upstream `Match`: the revision stores exactly this DaemonSet's template. The stored data is compared in its
 * canonical form (keys sorted, Go's escaping), which for data written by Go or by `revisionPatch` is its bytes.
 */
export function revisionMatches(revision: V1ControllerRevision, ds: V1DaemonSet): boolean {
  return revision.data !== undefined && goJson(revision.data) === revisionPatch(ds);
}

/**
 * `<DaemonSet name>-<hash>`, as upstream, with the DaemonSet name cut (and any trailing `-`/`.` removed) so the whole
 * stays a DNS subdomain of at most 253 characters. The `controller-revision-hash` label carries the hash itself.
 */
export function revisionName(ds: V1DaemonSet, hash: string): string {
  const prefix = (ds.metadata?.name ?? 'daemon').slice(0, MAX_REVISION_NAME_LENGTH - hash.length - 1).replace(/[-.]+$/, '');
  return `${prefix}-${hash}`;
}

/**
 * Upstream `snapshot`'s object: labels = template labels + `controller-revision-hash`, annotations copied from the
 * DaemonSet, the DaemonSet as controller (same reference as its pods), `data = revisionPatch(ds)`, `revision`.
 */
export function newRevision(ds: V1DaemonSet, hash: string, revision: number): V1ControllerRevision {
  const metadata: NonNullable<V1ControllerRevision['metadata']> = {
    name: revisionName(ds, hash),
    namespace: ds.metadata?.namespace ?? 'default',
    labels: { ...ds.spec?.template?.metadata?.labels, [labels.revisionHash]: hash },
    ownerReferences: [controllerRefFor(ds)],
  };
  const dsAnnotations = ds.metadata?.annotations;
  if (dsAnnotations && Object.keys(dsAnnotations).length > 0) metadata.annotations = { ...dsAnnotations };
  // `data` as parsed JSON; the Cluster port writes it back with goJson, which gives revisionPatch's bytes again.
  return { apiVersion: 'apps/v1', kind: 'ControllerRevision', metadata, data: JSON.parse(revisionPatch(ds)) as object, revision };
}

/** The hash a revision stands for: its `controller-revision-hash` label, or its name when unlabelled (upstream). */
export function revisionHashOf(revision: V1ControllerRevision): string {
  return revision.metadata?.labels?.[labels.revisionHash] ?? revision.metadata?.name ?? '';
}

/**
 * Upstream `controlledHistories` (`ClaimControllerRevisions`): the same rules as for pods (`claimObjects`). Only
 * revisions in the DaemonSet's namespace count.
 */
export function claimRevisions(ds: V1DaemonSet, revisions: readonly V1ControllerRevision[]): Claim<V1ControllerRevision> {
  return claimObjects(ds, revisions);
}

export interface HistoryPlan {
  /** Orphan revisions to adopt (patch the controllerRef in, guarded by their UID). */
  adopt: ObjectRef[];
  /** Revisions to release (remove this DaemonSet's ownerReference). */
  release: ObjectRef[];
  /** Revisions without a `controller-revision-hash` label: set it to the revision's own name (upstream). */
  labelRevisions: string[];
  /** The existing revision that matches the template (after deduplication); undefined when one must be created. */
  current?: V1ControllerRevision;
  /** The revision to create when none matches, with `revision = max(old) + 1`. */
  toCreate?: V1ControllerRevision;
  /** The current revision's number is below max(old) + 1 (a rollback to an earlier template): raise it. */
  toUpdateRevision?: { name: string; revision: number };
  /**
   * Several revisions match (`dedupCurHistories`): `keep` is the one kept (highest revision, the later on a tie);
   * first every DaemonSet pod in `relabelPods` gets `controller-revision-hash: keepHash` (merge patch; upstream relabels
   * all of them, genuinely old pods included), then the revisions in `deleteNames` are deleted. Empty lists otherwise.
   */
  dedup: { keep?: string; keepHash?: string; deleteNames: string[]; relabelPods: ObjectRef[] };
  /** `cleanupHistory`: old revisions to delete, oldest first. */
  cleanup: string[];
  /** The revisions that are not current (upstream's `old`), ascending by revision. */
  old: V1ControllerRevision[];
  /**
   * The revision hash for this sync, for every pod created, the rolling update and the status: the current
   * revision's label (which may differ from `revisionHash(ds)`: e.g. a revision kept from before a collisionCount
   * change), else the hash the new revision is created with.
   */
  hash: string;
}

function compareRevisions(a: V1ControllerRevision, b: V1ControllerRevision): number {
  if (a.revision !== b.revision) return a.revision - b.revision;
  return compareStrings(a.metadata?.name ?? '', b.metadata?.name ?? '');
}

/**
 * Upstream `constructHistory` followed by `cleanupHistory`, for one DaemonSet, as a plan:
 *
 * 1. claim the revisions (adopt/release as for pods); unlabelled revisions get the hash label = their name;
 * 2. split into current (data equal to `revisionPatch(ds)`, upstream `Match`; the hash label alone is not enough, since
 *    a hash collision has the same name and label by definition) and old;
 * 3. no current: create `newRevision(ds, hash, max(old) + 1)`; if the create answers AlreadyExists, see
 *    `collisionOutcome`;
 * 4. several current: keep the highest revision (on a tie the later in `revisions`), relabel pods, delete the others;
 * 5. current.revision < max(old) + 1: raise it to max(old) + 1 (rollback);
 * 6. cleanup: with `revisionHistoryLimit` (default 10), delete `len(old) - limit` old revisions in ascending revision
 *    order (then name, for determinism), skipping any whose hash is still the label of a DaemonSet pod (terminal and
 *    terminating pods included, as upstream).
 *
 * `revisions` are the namespace's ControllerRevisions; `pods` the namespace's pods (claimed here with `claimPods`);
 * `hash` is `revisionHash(ds)`. A DaemonSet being deleted gets an empty plan (upstream's early exit).
 */
export function planHistory(
  ds: V1DaemonSet,
  revisions: readonly V1ControllerRevision[],
  pods: readonly V1Pod[],
  hash: string,
): HistoryPlan {
  const plan: HistoryPlan = { adopt: [], release: [], labelRevisions: [], dedup: { deleteNames: [], relabelPods: [] }, cleanup: [], old: [], hash };
  if (isBeingDeleted(ds)) return plan;

  const claim = claimRevisions(ds, revisions);
  plan.adopt = claim.adopt.map(refOf);
  plan.release = claim.release.map(refOf);
  const currents: V1ControllerRevision[] = [];
  for (const revision of claim.owned) {
    if (revision.metadata?.labels?.[labels.revisionHash] === undefined) plan.labelRevisions.push(revision.metadata?.name ?? '');
    if (revisionMatches(revision, ds)) currents.push(revision);
    else plan.old.push(revision);
  }
  plan.old.sort(compareRevisions);
  const nextRevision = plan.old.reduce((max, r) => Math.max(max, r.revision), 0) + 1;

  const owned = claimObjects(ds, pods).owned;
  if (currents.length === 0) {
    plan.toCreate = newRevision(ds, hash, nextRevision);
  } else {
    let keep = currents[0] as V1ControllerRevision;
    for (const revision of currents) if (revision.revision >= keep.revision) keep = revision;
    const keepHash = revisionHashOf(keep);
    plan.current = keep;
    plan.hash = keepHash;
    if (currents.length > 1) {
      plan.dedup = {
        keep: keep.metadata?.name ?? '',
        keepHash,
        deleteNames: currents.filter((r) => r !== keep).map((r) => r.metadata?.name ?? ''),
        relabelPods: owned.filter((pod) => (pod.metadata?.labels?.[labels.revisionHash] ?? '') !== keepHash).map(refOf),
      };
    }
    if (keep.revision < nextRevision) plan.toUpdateRevision = { name: keep.metadata?.name ?? '', revision: nextRevision };
  }

  const limit = ds.spec?.revisionHistoryLimit ?? DEFAULT_REVISION_HISTORY_LIMIT;
  let toKill = plan.old.length - limit;
  if (toKill > 0) {
    // The pods' labels as read, before any dedup relabelling: upstream reads its cache, which may or may not show
    // the relabelling yet; reading them before keeps every revision a pod carried, the conservative choice.
    const liveHashes = new Set<string>();
    for (const pod of owned) {
      const podHash = pod.metadata?.labels?.[labels.revisionHash];
      if (getTargetNodeName(pod) !== undefined && podHash) liveHashes.add(podHash);
    }
    for (const revision of plan.old) {
      if (toKill <= 0) break;
      if (liveHashes.has(revisionHashOf(revision))) continue;
      plan.cleanup.push(revision.metadata?.name ?? '');
      toKill--;
    }
  }
  return plan;
}

/** What to do when creating `toCreate` answered AlreadyExists and a GET returned `existing` (upstream `snapshot`). */
export type CollisionOutcome =
  /** It stores this template (another invocation created it): use it as the current revision, with its hash. */
  | { kind: 'matches'; revision: V1ControllerRevision; hash: string }
  /**
   * A different template has this name: a hash collision. The shell re-reads the DaemonSet; if its
   * `status.collisionCount` still equals `observedCollisionCount` it writes `collisionCount: nextCollisionCount`
   * (UpdateStatus, resourceVersion-guarded), otherwise the count it hashed with was stale and it just retries. Either
   * way this sync ends with an error; the next one hashes with the new count (`revisionHash`).
   */
  | { kind: 'collision'; observedCollisionCount: number; nextCollisionCount: number };

export function collisionOutcome(existing: V1ControllerRevision, ds: V1DaemonSet): CollisionOutcome {
  if (revisionMatches(existing, ds)) return { kind: 'matches', revision: existing, hash: revisionHashOf(existing) };
  const observed = ds.status?.collisionCount ?? 0;
  return { kind: 'collision', observedCollisionCount: observed, nextCollisionCount: observed + 1 };
}

/**
 * The hash a pass that does not write history (the node-scoped one) uses for `ds`: the label of the revision that
 * matches its template (the highest, when several do), as the DaemonSet-wide pass would find it; `revisionHash(ds)`
 * when none matches yet (the DaemonSet-wide pass creates that revision with this very hash); `written` says whether
 * that revision exists (false: the DaemonSet-wide pass has yet to write it).
 */
export function currentRevision(ds: V1DaemonSet, revisions: readonly V1ControllerRevision[]): { hash: string; written: boolean } {
  const plan = planHistory(ds, revisions, [], revisionHash(ds));
  return { hash: plan.hash, written: plan.toCreate === undefined };
}

/**
 * The current revision's hash where the cluster already proves it, so that a pass may skip reading the revisions: the
 * DaemonSet's status says its generation was observed (a DaemonSet-wide pass wrote its history before that status),
 * and a pod the DaemonSet controls carries `revisionHash(ds)` as its `controller-revision-hash`. Pods are created only
 * once their revision exists, and cleanup never deletes a revision a pod still carries; a revision's hash is that of
 * its template and collisionCount, so that revision holds the current template: it is the current revision. Undefined
 * when not proven (a template changed and not yet synced, revisions made by upstream's controller with its own hash,
 * a rollback to a revision kept from before a collisionCount change): the pass reads the revisions.
 *
 * What a pass without them leaves out is only upstream's `cleanupHistory` (old revisions beyond
 * `revisionHistoryLimit`) and the claiming of revisions: the next pass that reads them does both.
 */
export function provenRevisionHash(ds: V1DaemonSet, pods: readonly V1Pod[]): string | undefined {
  if (isBeingDeleted(ds) || !generationObserved(ds)) return undefined;
  const uid = ds.metadata?.uid;
  const hash = revisionHash(ds);
  const carried = pods.some((pod) => pod.metadata?.labels?.[labels.revisionHash] === hash && isControlledBy(pod, uid));
  return carried ? hash : undefined;
}

/**
 * The status condition in which daemonless records the current revision's hash, beside the counters and in the same
 * write as `observedGeneration`: `message` is `controller-revision-hash=<hash>`. Upstream's DaemonSet has no
 * conditions; this one is ours (docs/design.md, deliberate differences). A node-scoped pass reads it instead of the
 * ControllerRevisions (`recordedRevisionHash`); a person reads which revision is current.
 */
export const revisionCondition = { type: 'daemonless.dev/CurrentRevision', reason: 'RevisionWritten', prefix: 'controller-revision-hash=' } as const;

/**
 * The condition recording `hash` as current. Its lastTransitionTime is when this hash became current (kept from `old`
 * while the hash stays the same).
 */
export function revisionConditionFor(hash: string, old: readonly V1DaemonSetCondition[] | undefined, now: string): V1DaemonSetCondition {
  const message = `${revisionCondition.prefix}${hash}`;
  const before = old?.find((c) => c.type === revisionCondition.type);
  const since = before?.status === 'True' && before.message === message && before.lastTransitionTime ? before.lastTransitionTime : now;
  return { type: revisionCondition.type, status: 'True', reason: revisionCondition.reason, message, lastTransitionTime: since as unknown as Date };
}

/**
 * The current revision's hash as a DaemonSet-wide pass recorded it in the status (`revisionCondition`), where the
 * DaemonSet as read proves it still holds: the status observed the current generation (the condition came in the same
 * write as `observedGeneration`, after the pass wrote the revision), and the hash is `revisionHash(ds)` of today's
 * template and collisionCount. Undefined otherwise (a spec not yet synced, no condition, a rollback to a revision kept
 * from before a collisionCount change or made by upstream with its own hash): the pass reads the revisions.
 *
 * Why the revision still exists: cleanup never deletes the current revision, and one deleted by hand is made again
 * under the same name and hash by the next DaemonSet-wide pass (the hash is a function of template and
 * collisionCount, both unchanged).
 */
export function recordedRevisionHash(ds: V1DaemonSet): string | undefined {
  if (isBeingDeleted(ds) || !generationObserved(ds)) return undefined;
  const recorded = ds.status?.conditions?.find((c) => c.type === revisionCondition.type);
  if (recorded?.status !== 'True' || !recorded.message?.startsWith(revisionCondition.prefix)) return undefined;
  const hash = revisionHash(ds);
  return recorded.message === `${revisionCondition.prefix}${hash}` ? hash : undefined;
}

/** A history plan that only names the hash (`provenRevisionHash`): nothing to claim, create, relabel or clean up. */
export function provenHistoryPlan(hash: string): HistoryPlan {
  return { adopt: [], release: [], labelRevisions: [], dedup: { deleteNames: [], relabelPods: [] }, cleanup: [], old: [], hash };
}

/** The DaemonSet's status has observed its current generation: a DaemonSet-wide pass wrote its history first. */
export function generationObserved(ds: V1DaemonSet): boolean {
  const generation = ds.metadata?.generation;
  return generation !== undefined && ds.status?.observedGeneration === generation;
}

/** Revisions in the DaemonSet's namespace, for `planHistory` (which claims among them). */
export function revisionsOf(ds: V1DaemonSet, revisions: readonly V1ControllerRevision[]): V1ControllerRevision[] {
  const ns = namespaceOf(ds);
  return revisions.filter((r) => namespaceOf(r) === ns);
}
