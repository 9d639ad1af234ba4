/**
 * A hint names what to reconcile. Every intake format (watch events, AdmissionReview, audit EventList, CloudEvents)
 * is reduced to hints; the reconciler then reloads the real state from the API server, so a hint may be stale,
 * duplicated or reordered without harm.
 */
export type Hint =
  /** Reconcile this node for every DaemonSet (a Node or Pod changed; the node may no longer exist). */
  | { kind: 'node'; name: string }
  /**
   * Reconcile every node for this DaemonSet (it was created or changed, or a node-scoped pass asks for a follow-up).
   * `uid`, when the sender knows it (follow-ups), lets a queue's bookkeeping be owned by the DaemonSet.
   */
  | { kind: 'daemonSet'; namespace: string; name: string; uid?: string; /** Absent: apps/v1 DaemonSet. */ type?: 'ServerlessDaemonSet' }
  /** Reconcile every DaemonSet on every node (the scheduled resync). */
  | { kind: 'resync' };

export function hintKey(hint: Hint): string {
  switch (hint.kind) {
    case 'node':
      return `node/${hint.name}`;
    case 'daemonSet':
      return `${hint.type === 'ServerlessDaemonSet' ? 'sds' : 'ds'}/${hint.namespace}/${hint.name}`;
    case 'resync':
      return 'resync';
  }
}

/** Drops duplicates, keeping first-seen order. A resync subsumes everything else. */
export function dedupeHints(hints: readonly Hint[]): Hint[] {
  if (hints.some((h) => h.kind === 'resync')) return [{ kind: 'resync' }];
  const seen = new Map<string, Hint>();
  for (const hint of hints) if (!seen.has(hintKey(hint))) seen.set(hintKey(hint), hint);
  return [...seen.values()];
}

/** What handling a batch of hints did, for the HTTP response and logs. */
export interface HandleResult {
  hints: number;
  created: number;
  deleted: number;
  apiRequests: number;
  /** Seconds until a pending backoff expires, if any. */
  requeueAfterSeconds?: number;
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
 * More hints that may join a call once its pass may run (the pass lock taken): the queue consumer's drain of what
 * already waits in the queue (src/queue/consumer.ts). Asked for at most once; a caller that never asks leaves them be.
 * `waited`: the lock was held by another pass when first tried, so work may have piled up meanwhile.
 */
export type MoreHints = (context: { waited: boolean }) => Promise<Hint[]>;

/** The port the HTTP layer calls. Implemented by src/reconcile.ts; faked in HTTP tests. */
export interface HintHandler {
  handle(hints: readonly Hint[], signal?: AbortSignal, more?: MoreHints): Promise<HandleResult>;
}
