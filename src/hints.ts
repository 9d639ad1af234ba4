import { laterVersion } from './core/versions.ts';

/**
 * A hint names what to reconcile. Every intake format (watch events, AdmissionReview, audit EventList, CloudEvents)
 * is reduced to hints; the reconciler then reloads the real state from the API server, so a hint may be stale,
 * duplicated or reordered without harm.
 */
export type Hint =
  /**
   * Reconcile this node for every DaemonSet (a Node or Pod changed; the node may no longer exist). `created`: the
   * change was the node's creation, and nothing else (a node registering; from an audit event or AdmissionReview of
   * the create, never a watch's ADDED): where no DaemonSet should run a pod on it yet, the pass reads no pods there
   * (reconcile/read.ts `readForNodes`), and under a pass lock needs no lock (`settleUnlocked`). Merged with any other
   * hint for the node, it is dropped. `registered`: with `created`, the node as its creation stored it (an audit
   * event's `responseObject`, an AdmissionReview's final object), as far as eligibility reads it; a pass that only has
   * to learn that no DaemonSet should run a pod on it yet decides from this instead of reading the node
   * (reconcile/read.ts `nothingForCreatedNodes`). Only ever a reason to do nothing: whatever the node became since is
   * a change with an event, and a hint, of its own. `pending`: the change was admitted but may not be stored yet
   * (an AdmissionReview: see `PendingChange`).
   */
  | { kind: 'node'; name: string; created?: true; registered?: RegisteredNode; pending?: PendingChange }
  /**
   * Reconcile every node for this DaemonSet (it was created or changed, one of its pods changed, or a pass asks for a
   * follow-up). `uid`, when the sender knows it (follow-ups), lets a queue's bookkeeping be owned by the DaemonSet.
   */
  | {
      kind: 'daemonSet';
      namespace: string;
      name: string;
      uid?: string;
      /** Absent: apps/v1 DaemonSet. */
      type?: 'ServerlessDaemonSet';
      /** The change was admitted but may not be stored yet (an AdmissionReview: see `PendingChange`). */
      pending?: PendingChange;
      /**
       * The names of the DaemonSet's pods whose change asked for the pass (a pod created, bound, turning Ready), or
       * none at all: the DaemonSet itself changed, a follow-up from a pass, a pod deleted or being deleted. Only an
       * owned pod the selector no longer matches needs a release, and only a changed pod can have left the selector
       * (the selector itself is immutable, in apps/v1 and in the CRD); so with this field the pass reads the
       * namespace's other pods only when one of these is missing from the pods the selector lists
       * (reconcile/read.ts). Named pods also let a pass take the revision hash from the pods instead of reading the
       * revisions (core/history.ts `provenRevisionHash`). Absent: the sender cannot say which pods changed (more than
       * `MAX_HINTED_PODS`, a name that is not a pod name, a queue message that had to drop them): the pass always
       * reads them.
       */
      pods?: string[];
      /**
       * A follow-up that only has to see what the asking pass saw and wrote (`SeenAt`): covered, and left after the
       * DaemonSet's GET, when the DaemonSet's status records a DaemonSet-wide pass that counted from node and pod lists
       * read no earlier (core/status.ts `coveredBy`). Absent: the pass runs whatever the status says.
       */
      after?: SeenAt;
    }
  /**
   * A pod no controller owns that targets no node (not bound, no daemon pod's node affinity) appeared or changed, or a
   * ControllerRevision no controller owns (`resource`): every DaemonSet of its namespace whose selector matches its
   * labels gets a DaemonSet-wide pass, which adopts it (upstream syncs the DaemonSets `getDaemonSetsForPod` and
   * `getDaemonSetsForHistory` find for an orphan's add or update). An orphan pod that targets a node has that node's
   * pass instead. `labels`: the object's labels as the change stored them, when the source carried them and they fit
   * (`MAX_REGISTERED_BYTES`); without them the pass reads the object. Stale labels do no harm: the passes they pick
   * decide from fresh lists, and a relabel is a change with a hint of its own.
   */
  | { kind: 'orphan'; resource?: 'controllerrevisions'; namespace: string; name: string; labels?: Record<string, string> }
  /** Reconcile every DaemonSet on every node (the scheduled resync). */
  | { kind: 'resync' };

/**
 * A change to a node or a DaemonSet that an admission webhook was asked about: the API server stores it only after
 * the webhook has answered (or never, if another webhook or a conflict refuses it). Instead of waiting a fixed time,
 * the hint is handled at once; a pass that still sees the object as it was before the change (`before`, core/fields.ts
 * `nodeFingerprint`, `daemonSetFingerprint`) reports the hint unsettled (HandleResult `unsettled`), and the caller
 * hands it in again a little later, until `until`: a change not seen by then is taken as refused (the resync would
 * still heal one that was only slow). A DaemonSet pass does not run for a DaemonSet whose change it does not see yet.
 */
export interface PendingChange {
  /** The object as it was before the change (its fingerprint); null: there was none (a creation). */
  before: string | null;
  /** Epoch ms after which a change not seen yet is taken as refused. */
  until: number;
  /** How often the hint was handed in again because its change was not seen yet. */
  retries?: number;
}

/**
 * What a node pass that created a DaemonSet's pods saw and wrote, as resourceVersions: the latest of the nodes as it read
 * them, and the latest of the pods it created. A DaemonSet-wide pass that lists nodes and pods no earlier than these
 * counts everything that pass did. After a join, the new pod's own change (turning Ready) brings such a pass, and the
 * follow-up the join asked for is then covered (queue/runtime.ts delays it to give that pass the chance).
 */
export interface SeenAt {
  nodes: string;
  pods: string;
}

/** A hint's admitted change still to be seen stored (Hint `pending`); only node and DaemonSet hints carry one. */
export function pendingOf(hint: Hint): PendingChange | undefined {
  return hint.kind === 'node' || hint.kind === 'daemonSet' ? hint.pending : undefined;
}

/** Whether a pass that saw the object as `view` (a fingerprint; undefined: it did not read it) saw the change. */
export function changeSeen(pending: PendingChange, view: string | null | undefined): boolean {
  return view === undefined || view !== pending.before;
}

/** What eligibility reads of a node (core/eligibility.ts), besides its name. */
export interface RegisteredNode {
  labels?: Record<string, string>;
  taints?: { key: string; value?: string; effect: string }[];
}

export function hintKey(hint: Hint): string {
  switch (hint.kind) {
    case 'node':
      return `node/${hint.name}`;
    case 'daemonSet':
      return `${hint.type === 'ServerlessDaemonSet' ? 'sds' : 'ds'}/${hint.namespace}/${hint.name}`;
    case 'orphan':
      return `orphan/${hint.resource ?? 'pods'}/${hint.namespace}/${hint.name}`;
    case 'resync':
      return 'resync';
  }
}

/** For a log line: how many hints, and the keys of the first 20 (which nodes and DaemonSets an operator can grep for). */
export function summarizeHints(hints: readonly Hint[]): { count: number; keys: string[] } {
  const shown = 20;
  return { count: hints.length, keys: hints.slice(0, shown).map(hintKey) };
}

/**
 * At most this many pod names ride on one DaemonSet hint; beyond, the hint asks for the full pass (no `pods`). A burst
 * of joins merges the Ready events of hundreds of pods into one pass. 1,000 names of the usual length (under 64
 * characters) take about 70 KB of a queue message; a message that would still pass SQS's limit drops them
 * (queue/message.ts `encodeMessages`).
 */
export const MAX_HINTED_PODS = 1000;

/**
 * A DaemonSet hint naming more pods than this gets a full pass (under the pass lock where there is one) at once. Many
 * pods at once means a burst of joins, and then the pass nearly always has pods to create on nodes that joined
 * meanwhile: tried without the lock, such passes were refused and read every node and pod twice (1,000-node joins on
 * Lambda: 41 MiB of lists against 18).
 */
export const STATUS_ONLY_MAX_PODS = 4;

/**
 * Whether every hint is a DaemonSet's pods changing (Hint `pods`: created, bound, turning Ready), a few pods each:
 * such a pass usually writes only the DaemonSet's status, and is tried first through a port that allows nothing else
 * (reconcile/status-only.ts), beside the passes that may write pods (the pass lock; a server's one pass at a time).
 */
export function mayWriteOnlyStatus(hints: readonly Hint[]): boolean {
  return hints.length > 0 && hints.every((h) => h.kind === 'daemonSet' && (h.pods?.length ?? 0) > 0 && (h.pods?.length ?? 0) <= STATUS_ONLY_MAX_PODS);
}

/**
 * Drops duplicates, keeping first-seen order. A resync subsumes everything else. Duplicate DaemonSet hints merge their
 * `pods`: the union, or none (the full pass) as soon as one of them has none or the union passes `MAX_HINTED_PODS`.
 * Duplicate node hints are `created` only if all of them are, keep `registered` only if they all carry the same, and
 * wait for the latest admitted change any of them waits for (`pending`). Of two orphan hints for one pod the later stays.
 */
export function dedupeHints(hints: readonly Hint[]): Hint[] {
  if (hints.some((h) => h.kind === 'resync')) return [{ kind: 'resync' }];
  const seen = new Map<string, Hint>();
  for (const hint of hints) {
    const key = hintKey(hint);
    const first = seen.get(key);
    if (first === undefined) seen.set(key, hint);
    else if (first.kind === 'daemonSet' && hint.kind === 'daemonSet') {
      const merged = withAfter(first.pods !== undefined ? withPods(first, hint.pods) : first, hint.after);
      const pending = laterPending(first.pending, hint.pending);
      seen.set(key, pending === merged.pending ? merged : { ...merged, pending: pending as PendingChange });
    } else if (first.kind === 'node' && hint.kind === 'node') seen.set(key, mergeNodeHints(first, hint));
    // The later change's labels (Map.set keeps the first one's place).
    else if (first.kind === 'orphan' && hint.kind === 'orphan') seen.set(key, hint);
  }
  return [...seen.values()];
}

type NodeHint = Extract<Hint, { kind: 'node' }>;

function mergeNodeHints(first: NodeHint, next: NodeHint): NodeHint {
  // A change merged into a creation makes it a change. Two creations of one name (a node deleted and registered again,
  // its deletion in another delivery) may differ: the pass reads the node instead.
  const created = first.created === true && next.created === true;
  const registered = created && first.registered !== undefined && JSON.stringify(first.registered) === JSON.stringify(next.registered) ? first.registered : undefined;
  const pending = laterPending(first.pending, next.pending);
  if (created === Boolean(first.created) && registered === first.registered && pending === first.pending) return first;
  return { kind: 'node', name: first.name, ...(created ? { created: true as const } : {}), ...(registered ? { registered } : {}), ...(pending ? { pending } : {}) };
}

/**
 * Of two admitted changes of one object the later one (its `until` is later): once it is stored, so is the earlier (or
 * it was refused). A hint without one names a change already stored, which waits for nothing.
 */
function laterPending(a: PendingChange | undefined, b: PendingChange | undefined): PendingChange | undefined {
  if (a === undefined) return b;
  return b === undefined || a.until >= b.until ? a : b;
}

type DaemonSetHint = Extract<Hint, { kind: 'daemonSet' }>;

/**
 * The last pass for admitted changes taken as refused (not seen stored by their `until`): a DaemonSet's hint, which had
 * no pass while it waited, once more without its `pending`, on the DaemonSet as stored. It may carry more than the
 * refused change (a pod turning Ready, a follow-up merged into it while it waited), and that work must not go with it.
 * A node's hint needs none: each of its passes ran, on the node as stored.
 */
export function lastPassForRefused(refused: readonly Hint[]): Hint[] {
  return refused.flatMap((h) => {
    if (h.kind !== 'daemonSet' || h.pending === undefined) return [];
    const { pending: _pending, ...rest } = h;
    return [rest];
  });
}

/**
 * `hint` merged with another hint's `after` (none: the other must run whatever was seen): covered only when both are,
 * by the later of their versions; without one, or with versions that do not compare, the merged hint runs.
 */
function withAfter(hint: DaemonSetHint, other: SeenAt | undefined): DaemonSetHint {
  const after = laterSeen(hint.after, other);
  if (after === hint.after) return hint;
  const { after: _after, ...rest } = hint;
  return after === undefined ? rest : { ...rest, after };
}

function laterSeen(a: SeenAt | undefined, b: SeenAt | undefined): SeenAt | undefined {
  if (a === undefined || b === undefined) return undefined;
  const nodes = laterVersion(a.nodes, b.nodes);
  const pods = laterVersion(a.pods, b.pods);
  if (nodes === undefined || pods === undefined) return undefined;
  return nodes === a.nodes && pods === a.pods ? a : { nodes, pods };
}

/** The same hint asking for the full pass: without the pod names it carries. */
export function withoutPods(hint: DaemonSetHint): DaemonSetHint {
  const { pods: _pods, ...rest } = hint;
  return rest;
}

/**
 * The hint as a re-queue sends it again: without its `after`. A re-queue is for what time alone changes (a backoff
 * expiring, minReadySeconds), which no list shows: the status its own pass wrote would cover it, and it would end after
 * the DaemonSet's GET.
 */
export function forRequeue(hint: Hint): Hint {
  if (hint.kind !== 'daemonSet' || hint.after === undefined) return hint;
  const { after: _after, ...rest } = hint;
  return rest;
}

function withPods(hint: DaemonSetHint, more: readonly string[] | undefined): DaemonSetHint {
  if (more === undefined || hint.pods === undefined) return withoutPods(hint);
  const union = [...new Set([...hint.pods, ...more])];
  return union.length > MAX_HINTED_PODS ? withoutPods(hint) : { ...hint, pods: union };
}

/**
 * Two follow-ups of one DaemonSet as one (reconcile/deps.ts `followUp`): the pods either names, or none as soon as one
 * names none. A follow-up naming none reads the revisions (a pod deleted may let cleanup delete one) and must not
 * lose that to one naming the pods it created; `dedupeHints` keeps the names instead, for what the intake delivers.
 */
export function mergeFollowUps(a: Hint | undefined, b: Hint): Hint {
  if (a === undefined || a.kind !== 'daemonSet' || b.kind !== 'daemonSet') return b;
  const pods = a.pods?.length && b.pods?.length ? [...new Set([...a.pods, ...b.pods])].slice(0, MAX_HINTED_PODS) : [];
  const { after: _a, ...restA } = a;
  const { after: _b, ...restB } = b;
  const after = laterSeen(a.after, b.after);
  return { ...restA, ...restB, pods, ...(after ? { after } : {}) };
}

/** What handling a batch of hints did, for the HTTP response and logs. */
export interface HandleResult {
  hints: number;
  created: number;
  deleted: number;
  apiRequests: number;
  /** Seconds until a pending backoff expires, if any. */
  requeueAfterSeconds?: number;
  /**
   * Hints whose admitted change the pass did not see yet (Hint `pending`): the caller hands them in again a little
   * later, until their `until`.
   */
  unsettled?: Hint[];
  /** Hints handed to the queue instead of being reconciled here (the intake side of the queue runtime). */
  queued?: number;
  /** Milliseconds from the call to holding the pass lock (taking it, and waiting while another pass held it). */
  passLockMs?: number;
  /**
   * DaemonSet-wide passes this call asks for (status, rollout steps) after node-scoped work. A long-lived server
   * coalesces and rate-limits them; a Lambda runs them at the end of the same invocation (see src/follow-up.ts).
   */
  followUp?: Hint[];
}

/**
 * A pass that fails on one DaemonSet goes on with the others (reconcile/deps.ts `isolated`) and then fails with that
 * DaemonSet's error, so the sender redelivers its hints. What the others asked for (their follow-ups, a re-queue)
 * rides on the error: a caller schedules it before handling the failure, so a DaemonSet that keeps failing does not
 * take the status passes and re-queues of the others with it. Kept beside the error, not in it, so the error keeps
 * its type (transient or not, deferred) for whoever maps it.
 */
const partialResults = new WeakMap<object, HandleResult>();

/** `error`, carrying what the failed call still asks for (its follow-ups and re-queue). */
export function withPartialResult<E>(error: E, result: HandleResult): E {
  if (typeof error === 'object' && error !== null && (result.followUp?.length || result.requeueAfterSeconds !== undefined)) {
    // Unsettled hints stay out: the failed call's hints are all sent again anyway.
    const { unsettled: _unsettled, ...asked } = result;
    partialResults.set(error, asked);
  }
  return error;
}

/** What a failed call still asks for (withPartialResult), if anything. */
export function partialResultOf(error: unknown): HandleResult | undefined {
  return typeof error === 'object' && error !== null ? partialResults.get(error) : undefined;
}

/**
 * More hints that may join a call once its pass may run (the pass lock taken): the queue consumer's drain of what
 * already waits in the queue (src/queue/consumer.ts). Asked for at most once; a caller that never asks leaves them be.
 * `waited`: the lock was held by another pass when first tried, so work may have piled up meanwhile.
 */
export type MoreHints = (context: { waited: boolean }) => Promise<Hint[]>;

/** The port the HTTP layer calls. Implemented by src/reconcile.ts; faked in HTTP tests. */
export interface HintHandler {
  handle(hints: readonly Hint[], signal?: AbortSignal, more?: MoreHints): Promise<HandleResult>;
  /**
   * Hints settled without the pass lock (src/pass-lock.ts), since nothing but a status is written for them: a node's
   * creation where reads alone show that no DaemonSet should run a pod yet, and a DaemonSet pass that pods asked for
   * when it writes only the status (src/reconcile/status-only.ts). Their result; undefined when they need the locked
   * pass (nothing was written then). Absent: every call is a locked pass.
   */
  settleUnlocked?(hints: readonly Hint[]): Promise<HandleResult | undefined>;
}
