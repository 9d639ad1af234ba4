/**
 * The harness's eyes: one LIST+WATCH of the pods in the DaemonSets' namespace and one of the simulated nodes, kept
 * in memory, each event stamped with the time it arrived. Convergence is checked on a short tick over that copy (no
 * polling LISTs against the API server under test), and its time is the arrival of the last event before the check
 * that found it, so the tick adds no error.
 */
import type { KubeConfig, V1Node, V1Pod } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { clientsFor } from '../../devcluster/simulator/client.ts';
import { startListWatch, type ListWatch, type WatchEventType } from '../../devcluster/simulator/list-watch.ts';
import { silentLogger } from '../../devcluster/simulator/log.ts';
import { SIMULATED_LABEL } from '../../devcluster/simulator/well-known.ts';

export interface PodSeen {
  uid: string;
  name: string;
  nodeName: string | undefined;
  ownerUid: string | undefined;
  /** performance.now() at the first event showing the pod. */
  firstSeen: number;
}

/** When the bench first saw a pod, first saw it bound to a node, first saw it Ready (performance.now()). */
export interface PodTimes {
  ownerUid: string | undefined;
  image: string | undefined;
  seen: number;
  bound?: number;
  ready?: number;
}

export interface Observer {
  readonly pods: ReadonlyMap<string, V1Pod>;
  /** Every pod seen since the start, deleted ones included, by UID. */
  readonly podTimes: ReadonlyMap<string, PodTimes>;
  readonly nodes: ReadonlyMap<string, V1Node>;
  /** performance.now() of the latest pod or node event. */
  readonly lastEventAt: number;
  /** performance.now() of the latest pod event. */
  readonly lastPodEventAt: number;
  /** Called on the first event of every new pod. */
  onNewPod(listener: (pod: PodSeen) => void): () => void;
  /** Called on every node event. */
  onNode(listener: (type: WatchEventType, node: V1Node, at: number) => void): () => void;
  stop(): void;
}

export async function startObserver(kc: KubeConfig, namespace: string): Promise<Observer> {
  const { core, kc: pooled } = clientsFor(kc);
  const pods = new Map<string, V1Pod>();
  const podTimes = new Map<string, PodTimes>();
  const nodes = new Map<string, V1Node>();
  const podListeners = new Set<(pod: PodSeen) => void>();
  const nodeListeners = new Set<(type: WatchEventType, node: V1Node, at: number) => void>();
  let lastEventAt = performance.now();
  let lastPodEventAt = lastEventAt;

  const seePod = (type: WatchEventType, pod: V1Pod) => {
    const uid = pod.metadata?.uid;
    if (!uid) return;
    const at = performance.now();
    lastEventAt = lastPodEventAt = at;
    if (type === 'DELETED') {
      pods.delete(uid);
      return;
    }
    const isNew = !pods.has(uid);
    pods.set(uid, pod);
    let times = podTimes.get(uid);
    if (!times) podTimes.set(uid, (times = { ownerUid: controllerUid(pod), image: pod.spec?.containers?.[0]?.image, seen: at }));
    if (times.bound === undefined && pod.spec?.nodeName) times.bound = at;
    if (times.ready === undefined && isPodReady(pod)) times.ready = at;
    if (isNew) {
      const seen: PodSeen = {
        uid,
        name: pod.metadata?.name ?? '',
        nodeName: targetNode(pod),
        ownerUid: controllerUid(pod),
        firstSeen: at,
      };
      for (const l of podListeners) l(seen);
    }
  };
  const seeNode = (type: WatchEventType, node: V1Node) => {
    const name = node.metadata?.name;
    if (!name) return;
    const at = performance.now();
    lastEventAt = at;
    if (type === 'DELETED') nodes.delete(name);
    else nodes.set(name, node);
    for (const l of nodeListeners) l(type, node, at);
  };

  const watches: ListWatch[] = [
    startListWatch<V1Pod>({
      kc: pooled,
      name: 'bench pods',
      path: `/api/v1/namespaces/${namespace}/pods`,
      list: () => core.listNamespacedPod({ namespace }),
      onList: (items) => {
        pods.clear();
        for (const p of items) seePod('MODIFIED', p);
      },
      onEvent: seePod,
      log: silentLogger,
    }),
    startListWatch<V1Node>({
      kc: pooled,
      name: 'bench nodes',
      path: '/api/v1/nodes',
      labelSelector: `${SIMULATED_LABEL}=true`,
      list: () => core.listNode({ labelSelector: `${SIMULATED_LABEL}=true` }),
      onList: (items) => {
        nodes.clear();
        for (const n of items) seeNode('MODIFIED', n);
      },
      onEvent: seeNode,
      log: silentLogger,
    }),
  ];
  await Promise.all(watches.map((w) => w.synced));
  return {
    pods,
    podTimes,
    nodes,
    get lastEventAt() {
      return lastEventAt;
    },
    get lastPodEventAt() {
      return lastPodEventAt;
    },
    onNewPod(listener) {
      podListeners.add(listener);
      return () => podListeners.delete(listener);
    },
    onNode(listener) {
      nodeListeners.add(listener);
      return () => nodeListeners.delete(listener);
    },
    stop() {
      for (const w of watches) w.stop();
    },
  };
}

export function controllerUid(pod: V1Pod): string | undefined {
  return pod.metadata?.ownerReferences?.find((o) => o.controller)?.uid;
}

/** The node a pod is bound to, or (not yet bound) the node its DaemonSet node affinity names. */
export function targetNode(pod: V1Pod): string | undefined {
  if (pod.spec?.nodeName) return pod.spec.nodeName;
  const terms = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  for (const term of terms) {
    for (const field of term.matchFields ?? []) {
      if (field.key === 'metadata.name' && field.operator === 'In' && field.values?.length === 1) return field.values[0];
    }
  }
  return undefined;
}

export function isPodReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

export function hasNotReadyTaint(node: V1Node): boolean {
  return (node.spec?.taints ?? []).some((t) => t.key === 'node.kubernetes.io/not-ready' || t.key === 'node.kubernetes.io/unreachable');
}

export interface Want {
  /** DaemonSet UIDs whose pods count. */
  daemonSets: readonly { uid: string; image?: string }[];
  nodes: readonly string[];
}

export interface Progress {
  /** Nodes with exactly one pod of each DaemonSet, Ready, of the wanted image, and no other pod of theirs. */
  satisfied: number;
  total: number;
}

/** Pure over the observer's copy. */
export function progress(pods: Iterable<V1Pod>, want: Want): Progress {
  const nodeSet = new Set(want.nodes);
  const byUid = new Map(want.daemonSets.map((d) => [d.uid, d]));
  // node → ds uid → [pod count, good count]
  const counts = new Map<string, Map<string, [number, number]>>();
  for (const pod of pods) {
    const owner = controllerUid(pod);
    const ds = owner === undefined ? undefined : byUid.get(owner);
    const node = pod.spec?.nodeName;
    if (!ds || !node || !nodeSet.has(node)) continue;
    let perDs = counts.get(node);
    if (!perDs) counts.set(node, (perDs = new Map()));
    const c = perDs.get(ds.uid) ?? [0, 0];
    c[0] += 1;
    const good =
      !pod.metadata?.deletionTimestamp && isPodReady(pod) && (ds.image === undefined || pod.spec?.containers?.[0]?.image === ds.image);
    if (good) c[1] += 1;
    perDs.set(ds.uid, c);
  }
  let satisfied = 0;
  for (const node of nodeSet) {
    const perDs = counts.get(node);
    if (perDs && want.daemonSets.every((d) => perDs.get(d.uid)?.[0] === 1 && perDs.get(d.uid)?.[1] === 1)) satisfied += 1;
  }
  return { satisfied, total: nodeSet.size };
}

export type WaitOutcome =
  | { status: 'converged'; at: number; progress: Progress }
  | { status: 'stalled' | 'timeout'; at: number; progress: Progress };

/**
 * Waits until `want` holds. Gives up after `timeoutMs`, or after `stallMs` without a single pod event (nothing is
 * happening, so nothing will: e.g. a rollout the system does not do).
 */
export async function waitConverged(
  observer: Observer,
  want: () => Want,
  options: {
    timeoutMs: number;
    stallMs: number;
    tickMs?: number;
    /**
     * A counter that moves while the system under test is still working (daemonless: the size of the functions log).
     * Without it, a system that pauses longer than stallMs between pod changes (seen at 1,000 nodes: invocations
     * timing out, the audit webhook backing off) would be called stalled although it converged later.
     */
    activity?: () => number;
  },
): Promise<WaitOutcome> {
  const started = performance.now();
  const tick = options.tickMs ?? 50;
  let lastActivity = options.activity?.();
  let lastActivityAt = started;
  for (;;) {
    const eventAt = observer.lastEventAt;
    const p = progress(observer.pods.values(), want());
    const now = performance.now();
    if (options.activity) {
      const a = options.activity();
      if (a !== lastActivity) {
        lastActivity = a;
        lastActivityAt = now;
      }
    }
    if (p.total > 0 && p.satisfied === p.total) return { status: 'converged', at: Math.max(eventAt, started), progress: p };
    if (now - started > options.timeoutMs) return { status: 'timeout', at: now, progress: p };
    if (now - Math.max(observer.lastPodEventAt, lastActivityAt, started) > options.stallMs) return { status: 'stalled', at: now, progress: p };
    await sleep(tick);
  }
}

export interface Stages {
  pods: number;
  /** Seconds from t0 until the last of these pods was first seen (created), bound, Ready. */
  created: number;
  bound: number;
  ready: number;
}

/**
 * Where a shape's time went: for the pods of these DaemonSets (of this image) that appeared after t0, when the last one
 * was created, bound by the scheduler, and reported Ready. Pure.
 */
export function stages(podTimes: Iterable<PodTimes>, t0: number, daemonSets: readonly { uid: string; image?: string }[]): Stages | undefined {
  const wanted = new Map(daemonSets.map((d) => [d.uid, d]));
  let created = 0;
  let bound = 0;
  let ready = 0;
  let pods = 0;
  for (const t of podTimes) {
    const ds = t.ownerUid === undefined ? undefined : wanted.get(t.ownerUid);
    if (!ds || t.seen < t0 || (ds.image !== undefined && t.image !== ds.image)) continue;
    pods += 1;
    created = Math.max(created, t.seen - t0);
    if (t.bound !== undefined) bound = Math.max(bound, t.bound - t0);
    if (t.ready !== undefined) ready = Math.max(ready, t.ready - t0);
  }
  return pods === 0 ? undefined : { pods, created: created / 1000, bound: bound / 1000, ready: ready / 1000 };
}
