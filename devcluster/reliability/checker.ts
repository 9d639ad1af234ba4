/**
 * The invariant checker of the reliability trials. Pure: it is fed the watch events of nodes, DaemonSets and pods in
 * the order a watch delivers them, each with the time it arrived (`t`, epoch ms), and judges every state it passes
 * through — not samples of it. watch.ts feeds it from real watches; unit tests feed it built objects.
 *
 * Invariants (the controller's promises; a change the scenario makes is never charged to the controller):
 *
 * 1. duplicate — never two live pods (not terminating, not Failed/Succeeded) of one DaemonSet on one node; with
 *    maxSurge > 0 at most two, and never two of the same revision (`controller-revision-hash`). A pod counts on the
 *    node it is bound to, or, while pending, the node its affinity names.
 * 2. ineligible — once a node must not run a DaemonSet's pods (deleted; its labels leave the nodeSelector; a NoExecute
 *    taint the DaemonSet does not tolerate), each live pod of it there is terminating or gone within
 *    `evictionAllowanceMs` (upstream deletes them on the next sync; the allowance covers the delivery delays a trial
 *    injects, plus the resync period in loss trials).
 * 3. created-on-ineligible — no pod is created on a node that should not run one (shouldRun false: selector, a
 *    NoSchedule or NoExecute taint not tolerated, the node gone) when that has been so for longer than `graceMs`
 *    (a controller that has not seen the change yet is excused for that long).
 * 4. budget — the rolling update never makes more nodes unavailable than maxUnavailable (OnDelete: 0): when the
 *    controller deletes the last available pod of a node that should run one, the nodes it has so left unavailable,
 *    plus the nodes unavailable for other reasons (they have a daemon pod, none available) for longer than
 *    `graceMs`, must not exceed maxUnavailable. Upstream's rollingUpdate counts the same nodes.
 * 5. surge — with maxSurge > 0, a new pod created beside an available pod of another revision makes the node surge;
 *    never more surging nodes than maxSurge.
 * 6. converged (at the end, converged()) — each node that should run the DaemonSet has exactly one live pod, Ready, of
 *    the current template (RollingUpdate), no terminating pods are left, nodes that must not run it have none, a
 *    deleted DaemonSet has no live pod, and the status counts equal a recount by these rules at the current generation.
 */
import type { V1DaemonSet, V1Node, V1Pod } from '@kubernetes/client-node';
import { placement, type Placement } from './eligibility.ts';
import { daemonSetOwnerKinds } from '../daemonsets.ts';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';
export type ViolationKind = 'duplicate' | 'ineligible' | 'created-on-ineligible' | 'budget' | 'surge';

export interface Violation {
  kind: ViolationKind;
  /** Epoch ms of the event that showed it. */
  at: number;
  daemonSet: string;
  node: string;
  message: string;
  pods: string[];
  /** duplicate: how long the node had too many live pods (ms), once resolved. */
  durationMs?: number;
  /** What the checker saw on that node before (oldest first): ms relative to the violation, event, pod, state. */
  history: string[];
}

export interface CheckerOptions {
  evictionAllowanceMs: number;
  graceMs: number;
  /** Pods the scenario itself deleted or failed (by UID): their loss is not the controller's doing. */
  isExternal?: (uid: string) => boolean;
}

interface PerNode {
  /** Since when the node must not run the DaemonSet's pods (undefined: it may). */
  mustNotRunSince?: number;
  /** Since when a new pod should not be created there. */
  notRunSince?: number;
  /** Unavailable (pods, none available) for a reason that is not a controller delete, since. */
  unavailableSince?: number;
  /** The controller deleted its last available pod and nothing available replaced it yet. */
  charged: boolean;
  /** A new-revision pod was created beside an available pod of another revision, still both live. */
  surging: boolean;
  /** The open duplicate episode (its violation; `at` is when it started). */
  duplicate?: Violation;
}

const isTerminal = (p: V1Pod) => p.status?.phase === 'Failed' || p.status?.phase === 'Succeeded';
export const isLive = (p: V1Pod) => !p.metadata?.deletionTimestamp && !isTerminal(p);
export const isReady = (p: V1Pod) =>
  p.status?.phase === 'Running' && (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
const isAvailable = (p: V1Pod) => isLive(p) && isReady(p);
const hashOf = (p: V1Pod) => p.metadata?.labels?.['controller-revision-hash'] ?? `image:${imageOf(p)}`;
export const imageOf = (p: V1Pod) => p.spec?.containers?.[0]?.image;
export const templateImage = (ds: V1DaemonSet) => ds.spec?.template.spec?.containers?.[0]?.image;

/** spec.nodeName, or while pending the node its required node affinity names (as daemon pods carry it). */
export function targetNode(pod: V1Pod): string | undefined {
  if (pod.spec?.nodeName) return pod.spec.nodeName;
  for (const term of pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? []) {
    for (const field of term.matchFields ?? []) {
      if (field.key === 'metadata.name' && field.operator === 'In' && field.values?.length === 1) return field.values[0];
    }
  }
  return undefined;
}

export function ownerUid(pod: V1Pod): string | undefined {
  return pod.metadata?.ownerReferences?.find((o) => o.controller && daemonSetOwnerKinds.has(o.kind))?.uid;
}

export interface Budget {
  maxUnavailable: number;
  maxSurge: number;
  onDelete: boolean;
}

/** The rolling-update budget of a DaemonSet as upstream reads it (defaults 1/0; both 0 means 1 unavailable). */
export function budgetOf(ds: V1DaemonSet, desired: number): Budget {
  const strategy = ds.spec?.updateStrategy;
  if (strategy?.type === 'OnDelete') return { maxUnavailable: 0, maxSurge: 0, onDelete: true };
  const scaled = (v: number | string | undefined, fallback: number) => {
    if (v === undefined || v === null) return fallback;
    if (typeof v === 'number') return v;
    const percent = /^(\d+)%$/.exec(v);
    return percent ? Math.ceil((Number(percent[1]) * desired) / 100) : Number(v);
  };
  const surge = scaled(strategy?.rollingUpdate?.maxSurge as number | string | undefined, 0);
  let unavailable = scaled(strategy?.rollingUpdate?.maxUnavailable as number | string | undefined, 1);
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return { maxUnavailable: unavailable, maxSurge: surge, onDelete: false };
}

export class InvariantChecker {
  readonly violations: Violation[] = [];
  /** Every pod event the checker judged, and how many distinct pods it saw. */
  podEvents = 0;
  readonly podsSeen = new Set<string>();
  private readonly nodes = new Map<string, V1Node>();
  private readonly daemonSets = new Map<string, V1DaemonSet>();
  private readonly deletedDaemonSets = new Map<string, V1DaemonSet>();
  private readonly pods = new Map<string, V1Pod>();
  private readonly perNode = new Map<string, PerNode>();
  private readonly flaggedIneligible = new Set<string>();
  /** Per node: the last events seen there (pods of any DaemonSet, and the node itself), for violation reports. */
  private readonly histories = new Map<string, { t: number; line: string }[]>();
  /** Since when each pod (by UID) has been available (Ready, live), as the watch showed it. */
  private readonly availableSince = new Map<string, number>();
  /**
   * Rollout writes (a delete of an available pod, a surge create) that the budget would charge, excused because the
   * state they contradict was younger than `graceMs`: decided on a view the controller could not have updated yet.
   * Counted, not hidden (the report shows them).
   */
  excused = { budget: 0, surge: 0 };
  /** Per DaemonSet: since when each version of its update strategy was in force. */
  private readonly strategies = new Map<string, { since: number; ds: V1DaemonSet }[]>();

  private readonly options: CheckerOptions;

  constructor(options: CheckerOptions) {
    this.options = options;
  }

  onNode(type: EventType, node: V1Node, t: number): void {
    const name = node.metadata?.name ?? '';
    const taints = (node.spec?.taints ?? []).map((x) => `${x.key?.split('/').pop()}:${x.effect}`).join(',');
    const labels = Object.keys(node.metadata?.labels ?? {}).filter((k) => k.startsWith('reliability.')).map((k) => k.split('/').pop()).join(',');
    this.remember(name, t, `node ${type} labels[${labels}] taints[${taints}]${node.spec?.unschedulable ? ' unschedulable' : ''}`);
    if (type === 'DELETED') this.nodes.delete(name);
    else this.nodes.set(name, node);
    for (const ds of this.daemonSets.values()) this.refresh(ds, name, t);
    this.tick(t);
  }

  onDaemonSet(type: EventType, ds: V1DaemonSet, t: number): void {
    const uid = ds.metadata?.uid ?? '';
    if (type === 'DELETED') {
      this.daemonSets.delete(uid);
      this.deletedDaemonSets.set(uid, ds);
      return;
    }
    this.daemonSets.set(uid, ds);
    const versions = this.strategies.get(uid) ?? [];
    if (JSON.stringify(versions.at(-1)?.ds.spec?.updateStrategy) !== JSON.stringify(ds.spec?.updateStrategy)) versions.push({ since: t, ds });
    this.strategies.set(uid, versions.slice(-10));
    for (const node of this.nodes.keys()) this.refresh(ds, node, t);
    for (const node of this.podNodes(uid)) if (!this.nodes.has(node)) this.refresh(ds, node, t);
  }

  onPod(type: EventType, pod: V1Pod, t: number): void {
    const uid = pod.metadata?.uid ?? '';
    const dsUid = ownerUid(pod);
    const node = targetNode(pod);
    this.podEvents += 1;
    this.podsSeen.add(uid);
    if (node !== undefined) {
      const state = [pod.status?.phase, isReady(pod) ? 'Ready' : '', pod.metadata?.deletionTimestamp ? 'deleting' : '', pod.spec?.nodeName ? '' : 'unbound']
        .filter(Boolean)
        .join(' ');
      this.remember(node, t, `pod ${type} ${pod.metadata?.name} ${hashOf(pod)} ${imageOf(pod)} ${state}${this.options.isExternal?.(uid) ? ' (scenario)' : ''}`);
    }
    const previous = this.pods.get(uid);
    if (type === 'DELETED') this.pods.delete(uid);
    else this.pods.set(uid, pod);
    const wasAvailableSince = this.availableSince.get(uid);
    if (type !== 'DELETED' && isAvailable(pod)) {
      if (wasAvailableSince === undefined) this.availableSince.set(uid, t);
    } else {
      this.availableSince.delete(uid);
    }
    /** Available for longer than the grace at t: a controller acting now must have seen it available. */
    const settled = (since: number | undefined) => since !== undefined && t - since > this.options.graceMs;
    const ds = dsUid === undefined ? undefined : this.daemonSets.get(dsUid);
    if (!ds || node === undefined) return;
    const state = this.state(dsUid!, node);
    this.refresh(ds, node, t);
    const name = (p: V1Pod) => p.metadata?.name ?? '';
    const nowLive = type !== 'DELETED' && isLive(pod);

    // 3. created where it should not be.
    if (!previous && type !== 'DELETED' && nowLive && state.notRunSince !== undefined && t - state.notRunSince > this.options.graceMs) {
      this.flag('created-on-ineligible', t, ds, node, [name(pod)], `pod created on a node that should not run it for ${t - state.notRunSince} ms`);
    }

    // 5. surge: a new pod beside an available one of another revision.
    const budget = this.budgetAt(ds, t);
    if (!previous && nowLive) {
      const others = this.livePods(dsUid!, node).filter((p) => p.metadata?.uid !== uid);
      const besideAvailable = others.filter((p) => isAvailable(p) && hashOf(p) !== hashOf(pod));
      if (besideAvailable.length > 0 && !besideAvailable.some((p) => settled(this.availableSince.get(p.metadata?.uid ?? '')))) {
        // The old pod became available within the grace: upstream creates at once beside an unavailable old pod.
        this.excused.surge += 1;
      } else if (besideAvailable.length > 0) {
        state.surging = true;
        const surging = this.nodesOf(dsUid!).filter(([, s]) => s.surging).length;
        if (surging > budget.maxSurge) {
          this.flag('surge', t, ds, node, [name(pod), ...others.map(name)], `${surging} nodes surging, maxSurge ${budget.maxSurge}`);
        }
      }
    }

    // 4. budget: the controller removed the last available pod of a node that should run one.
    const removed = previous !== undefined && isAvailable(previous) && (type === 'DELETED' || !!pod.metadata?.deletionTimestamp);
    const external = this.options.isExternal?.(uid) ?? false;
    const p = this.placementOf(ds, node);
    const charge = removed && !external && p.shouldRun && p.shouldContinueRunning && !this.livePods(dsUid!, node).some(isAvailable);
    if (charge && !settled(wasAvailableSince)) {
      // It became available within the grace: deleted on a view where it was not (upstream deletes such pods).
      this.excused.budget += 1;
    } else if (charge) {
      state.charged = true;
      const charged = this.nodesOf(dsUid!).filter(([, s]) => s.charged).length;
      const otherwise = this.nodesOf(dsUid!).filter(
        ([, s]) => !s.charged && s.unavailableSince !== undefined && t - s.unavailableSince > this.options.graceMs,
      ).length;
      if (charged + otherwise > budget.maxUnavailable) {
        this.flag(
          'budget',
          t,
          ds,
          node,
          [name(pod)],
          `the controller deleted the last available pod: ${charged} node(s) left unavailable by it + ${otherwise} unavailable otherwise > maxUnavailable ${budget.maxUnavailable}${budget.onDelete ? ' (OnDelete)' : ''}`,
        );
      }
    }

    // 1. duplicates.
    const live = this.livePods(dsUid!, node);
    const hashes = new Set(live.map(hashOf));
    const limit = budget.maxSurge > 0 ? 2 : 1;
    const tooMany = live.length > limit || hashes.size < live.length;
    if (tooMany && !state.duplicate) {
      const limitText = `at most ${limit}${budget.maxSurge > 0 ? ' of distinct revisions' : ''}`;
      state.duplicate = this.flag('duplicate', t, ds, node, live.map(name), `${live.length} live pods (${[...hashes].join(', ')}), ${limitText}`);
    } else if (tooMany && state.duplicate) {
      for (const n of live.map(name)) if (!state.duplicate.pods.includes(n)) state.duplicate.pods.push(n);
    } else if (!tooMany && state.duplicate) {
      state.duplicate.durationMs = t - state.duplicate.at;
      state.duplicate = undefined;
    }
    this.tick(t);
  }

  /** Checks the eviction allowance at time t (called on every event and by the shell's timer). */
  tick(t: number): void {
    for (const pod of this.pods.values()) {
      const uid = pod.metadata?.uid ?? '';
      const dsUid = ownerUid(pod);
      const node = targetNode(pod);
      if (!isLive(pod) || dsUid === undefined || node === undefined || this.flaggedIneligible.has(uid)) continue;
      const ds = this.daemonSets.get(dsUid);
      const since = this.perNode.get(`${dsUid}|${node}`)?.mustNotRunSince;
      if (!ds || since === undefined || t - since <= this.options.evictionAllowanceMs) continue;
      this.flaggedIneligible.add(uid);
      this.flag('ineligible', t, ds, node, [pod.metadata?.name ?? ''], `live ${t - since} ms after the node stopped being eligible (allowance ${this.options.evictionAllowanceMs} ms)`);
    }
  }

  /** Undefined when converged; otherwise what is still wrong (the first few things). */
  notConverged(): string | undefined {
    const problems: string[] = [];
    for (const [uid, ds] of this.deletedDaemonSets) {
      if (this.daemonSets.has(uid)) continue;
      const left = [...this.pods.values()].filter((p) => ownerUid(p) === uid && isLive(p));
      if (left.length > 0) problems.push(`${dsName(ds)} (deleted): ${left.length} live pod(s) left`);
    }
    for (const [uid, ds] of this.daemonSets) {
      const image = templateImage(ds);
      const rolling = ds.spec?.updateStrategy?.type !== 'OnDelete';
      let desired = 0;
      let current = 0;
      let ready = 0;
      let misscheduled = 0;
      const pods = [...this.pods.values()].filter((p) => ownerUid(p) === uid);
      const terminating = pods.filter((p) => p.metadata?.deletionTimestamp && !isTerminal(p));
      if (terminating.length > 0) {
        // Which pods and what holds them, so a run that did not converge says where to look (finding 18).
        const which = terminating.slice(0, 3).map((p) => {
          const finalizers = p.metadata?.finalizers ?? [];
          return `${p.metadata?.name} on ${targetNode(p) ?? '?'}, grace ${p.metadata?.deletionGracePeriodSeconds ?? '?'} s, ${finalizers.length > 0 ? `finalizers ${finalizers.join(' ')}` : 'no finalizers'}`;
        });
        problems.push(`${dsName(ds)}: ${terminating.length} pod(s) still terminating (${which.join('; ')}${terminating.length > 3 ? '; …' : ''})`);
      }
      for (const pod of pods) {
        const node = targetNode(pod);
        if (isLive(pod) && (node === undefined || !this.nodes.has(node))) problems.push(`${dsName(ds)}: live pod ${pod.metadata?.name} on missing node ${node}`);
      }
      for (const [node, obj] of this.nodes) {
        const p = placement(obj, ds);
        const on = pods.filter((pod) => targetNode(pod) === node);
        const live = on.filter(isLive);
        if (p.shouldRun) {
          desired += 1;
          if (on.length > 0) current += 1;
          if (live.length === 1 && isReady(live[0]!)) ready += 1;
          if (live.length !== 1) problems.push(`${dsName(ds)}@${node}: ${live.length} live pods, want 1`);
          else if (!isReady(live[0]!)) problems.push(`${dsName(ds)}@${node}: pod not Ready`);
          else if (rolling && imageOf(live[0]!) !== image) problems.push(`${dsName(ds)}@${node}: ${imageOf(live[0]!)}, want ${image}`);
        } else {
          if (on.length > 0) misscheduled += 1;
          const allowed = p.shouldContinueRunning ? 1 : 0;
          if (live.length > allowed) {
            const taints = (obj.spec?.taints ?? []).map((x) => `${x.key}:${x.effect}`).join(',');
            const pods = live.map((pod) => `${pod.metadata?.name} ${hashOf(pod)}${isReady(pod) ? ' Ready' : ''}${pod.spec?.nodeName ? '' : ' unbound'}`).join(', ');
            problems.push(`${dsName(ds)}@${node}: ${live.length} live pods on a node that ${allowed ? 'takes no new pods' : 'must not run them'} (taints [${taints}]): ${pods}`);
          }
        }
      }
      const s: NonNullable<V1DaemonSet['status']> | Record<string, undefined> = ds.status ?? {};
      const want: Record<string, number> = { desiredNumberScheduled: desired, currentNumberScheduled: current, numberReady: ready, numberMisscheduled: misscheduled, numberAvailable: ready };
      if (rolling) want['updatedNumberScheduled'] = desired;
      const wrong = Object.entries(want).filter(([k, v]) => ((s as Record<string, number | undefined>)[k] ?? 0) !== v);
      if ((s.observedGeneration ?? 0) < (ds.metadata?.generation ?? 0)) problems.push(`${dsName(ds)}: status observedGeneration ${s.observedGeneration} < generation ${ds.metadata?.generation}`);
      else if (wrong.length > 0) problems.push(`${dsName(ds)}: status ${wrong.map(([k, v]) => `${k} ${(s as Record<string, unknown>)[k] ?? 0}≠${v}`).join(', ')}`);
    }
    return problems.length === 0 ? undefined : problems.slice(0, 6).join('; ');
  }

  /** Duplicate episodes still open (not yet resolved) at the end of a trial. */
  openDuplicates(): number {
    return [...this.perNode.values()].filter((s) => s.duplicate).length;
  }

  private remember(node: string, t: number, line: string): void {
    const list = this.histories.get(node) ?? [];
    list.push({ t, line });
    if (list.length > 30) list.shift();
    this.histories.set(node, list);
  }

  private flag(kind: ViolationKind, at: number, ds: V1DaemonSet, node: string, pods: string[], message: string): Violation {
    const history = (this.histories.get(node) ?? []).slice(-16).map((h) => `${h.t - at} ms ${h.line}`);
    const v: Violation = { kind, at, daemonSet: dsName(ds), node, message, pods, history };
    this.violations.push(v);
    return v;
  }

  /**
   * The most permissive budget of the strategies in force within the last `graceMs`: a write decided under the
   * strategy of a moment ago (an edit the controller had not seen yet) is judged by that strategy.
   */
  private budgetAt(ds: V1DaemonSet, t: number): Budget {
    const desired = this.desired(ds);
    const versions = this.strategies.get(ds.metadata?.uid ?? '') ?? [];
    const recent = versions.filter((v, i) => i === versions.length - 1 || versions[i + 1]!.since >= t - this.options.graceMs);
    const budgets = (recent.length > 0 ? recent.map((v) => v.ds) : [ds]).map((d) => budgetOf(d, desired));
    return {
      maxUnavailable: Math.max(...budgets.map((b) => b.maxUnavailable)),
      maxSurge: Math.max(...budgets.map((b) => b.maxSurge)),
      onDelete: budgets.every((b) => b.onDelete),
    };
  }

  private placementOf(ds: V1DaemonSet, node: string): Placement {
    return placement(this.nodes.get(node), ds);
  }

  private state(dsUid: string, node: string): PerNode {
    const key = `${dsUid}|${node}`;
    let s = this.perNode.get(key);
    if (!s) this.perNode.set(key, (s = { charged: false, surging: false }));
    return s;
  }

  private nodesOf(dsUid: string): [string, PerNode][] {
    return [...this.perNode].filter(([k]) => k.startsWith(`${dsUid}|`)).map(([k, s]) => [k.slice(dsUid.length + 1), s]);
  }

  private podNodes(dsUid: string): Set<string> {
    return new Set([...this.pods.values()].filter((p) => ownerUid(p) === dsUid).map(targetNode).filter((n): n is string => n !== undefined));
  }

  private livePods(dsUid: string, node: string): V1Pod[] {
    return [...this.pods.values()].filter((p) => ownerUid(p) === dsUid && targetNode(p) === node && isLive(p));
  }

  private desired(ds: V1DaemonSet): number {
    return [...this.nodes.values()].filter((n) => placement(n, ds).shouldRun).length;
  }

  /** Re-derives the per-node bookkeeping of (ds, node) after a change of the node, the DaemonSet or a pod. */
  private refresh(ds: V1DaemonSet, node: string, t: number): void {
    const dsUid = ds.metadata?.uid ?? '';
    const s = this.state(dsUid, node);
    const p = this.placementOf(ds, node);
    s.mustNotRunSince = p.shouldContinueRunning ? undefined : (s.mustNotRunSince ?? t);
    s.notRunSince = p.shouldRun ? undefined : (s.notRunSince ?? t);
    const pods = [...this.pods.values()].filter((pod) => ownerUid(pod) === dsUid && targetNode(pod) === node);
    const live = pods.filter(isLive);
    const available = live.some(isAvailable);
    if (available || !p.shouldRun) {
      s.charged = false;
      s.unavailableSince = undefined;
    } else if (!s.charged && pods.length > 0) {
      s.unavailableSince ??= t;
    } else if (pods.length === 0) {
      s.unavailableSince = undefined;
    }
    const hashes = new Set(live.map(hashOf));
    if (live.length < 2 || hashes.size < 2) s.surging = false;
  }
}

export const dsName = (ds: V1DaemonSet) => `${ds.metadata?.namespace}/${ds.metadata?.name}`;
