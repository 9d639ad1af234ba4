/**
 * Feeds the invariant checker from real watches (nodes, DaemonSets, pods), merged into the API server's own order.
 *
 * Three watches are three streams; an event of one can arrive before an earlier event of another (a pod deleted
 * because its node was tainted can come in before the taint). The cluster has one etcd, whose revisions order every
 * write, so events are held for `windowMs` and released in resourceVersion order; an event that comes later than the
 * window still goes in, counted as `late`. A watch that breaks (e.g. kube-apiserver restarting) relists: what changed
 * meanwhile arrives as one synthetic event per object (`gaps` counts relists), so a state the cluster passed through
 * while no watch was open is not seen — the report says how many gaps a run had.
 */
import type { KubeConfig, V1ConfigMap, V1DaemonSet, V1Node, V1Pod } from '@kubernetes/client-node';
import { CoreV1Api } from '@kubernetes/client-node';
import type { DaemonSets } from '../daemonsets.ts';
import { startListWatch, type ListWatch } from '../simulator/list-watch.ts';
import { silentLogger } from '../simulator/log.ts';
import type { EventType } from './checker.ts';

export interface FeedSink {
  onNode(type: EventType, node: V1Node, t: number): void;
  onDaemonSet(type: EventType, ds: V1DaemonSet, t: number): void;
  onPod(type: EventType, pod: V1Pod, t: number): void;
  tick(t: number): void;
}

export interface FeedOptions {
  kc: KubeConfig;
  namespace: string;
  /** Label selector of the nodes to watch. */
  nodeSelector: string;
  /** Label selector of the DaemonSets and pods to watch. */
  objectSelector: string;
  /** The kind of DaemonSet the trials create (the cluster mode's). */
  daemonSets: DaemonSets;
  windowMs?: number;
  /** Names the ConfigMap of barrier() (unique per feed). */
  barrierId: string;
  /** Called after every released batch of events (e.g. to check convergence). */
  onChange?: () => void;
}

export interface Feed {
  synced: Promise<void>;
  /**
   * Resolves once every event up to now has been released to the sink: writes a ConfigMap (the barrier) and waits
   * for its own event, which etcd orders after every earlier write.
   */
  barrier(timeoutMs?: number): Promise<void>;
  readonly stats: { events: number; late: number; gaps: number };
  stop(): void;
}

type Kind = 'node' | 'daemonset' | 'pod' | 'barrier';
interface Pending {
  kind: Kind;
  type: EventType;
  object: any;
  rv: bigint;
  arrived: number;
}

const rvOf = (o: { metadata?: { resourceVersion?: string } }): bigint => {
  try {
    return BigInt(o.metadata?.resourceVersion ?? '0');
  } catch {
    return 0n;
  }
};

export function startFeed(sink: FeedSink, options: FeedOptions): Feed {
  const windowMs = options.windowMs ?? 150;
  const core = options.kc.makeApiClient(CoreV1Api);
  const stats = { events: 0, late: 0, gaps: 0 };
  const pending: Pending[] = [];
  let released = 0n;
  let lastT = 0;
  const known: Record<Kind, Map<string, any>> = { node: new Map(), daemonset: new Map(), pod: new Map(), barrier: new Map() };
  const barriers = new Map<string, () => void>();

  const deliver = (p: Pending) => {
    const t = Math.max(lastT, p.arrived);
    lastT = t;
    const key = p.object.metadata?.uid ?? '';
    if (p.type === 'DELETED') known[p.kind].delete(key);
    else known[p.kind].set(key, p.object);
    if (p.kind === 'barrier') {
      const token = p.object.data?.token as string | undefined;
      if (token !== undefined) barriers.get(token)?.();
      return;
    }
    stats.events += 1;
    if (p.kind === 'node') sink.onNode(p.type, p.object, t);
    else if (p.kind === 'daemonset') sink.onDaemonSet(p.type, p.object, t);
    else sink.onPod(p.type, p.object, t);
  };
  const flush = (all = false) => {
    const now = Date.now();
    const due = pending.filter((p) => all || now - p.arrived >= windowMs).sort((a, b) => (a.rv < b.rv ? -1 : a.rv > b.rv ? 1 : 0));
    if (due.length > 0) {
      for (const p of due) pending.splice(pending.indexOf(p), 1);
      for (const p of due) {
        if (p.rv < released) stats.late += 1;
        else released = p.rv;
        deliver(p);
      }
      options.onChange?.();
    }
    sink.tick(Math.max(lastT, now - windowMs));
  };
  const timer = setInterval(flush, 50);
  timer.unref();

  const push = (kind: Kind) => (type: EventType, object: any) => pending.push({ kind, type, object, rv: rvOf(object), arrived: Date.now() });
  let listed = { node: false, daemonset: false, pod: false, barrier: false };
  /** A relist: objects gone meanwhile are DELETED, the others MODIFIED (ADDED when new), at the list's time. */
  const relist = (kind: Kind) => (items: any[]) => {
    if (listed[kind]) stats.gaps += 1;
    listed = { ...listed, [kind]: true };
    const now = Date.now();
    const seen = new Set(items.map((i) => i.metadata?.uid));
    for (const [uid, obj] of known[kind]) if (!seen.has(uid)) pending.push({ kind, type: 'DELETED', object: obj, rv: 0n, arrived: now });
    for (const item of items) {
      pending.push({ kind, type: known[kind].has(item.metadata?.uid) ? 'MODIFIED' : 'ADDED', object: item, rv: rvOf(item), arrived: now });
    }
  };
  const common = { kc: options.kc, log: silentLogger };
  const barrierName = `barrier-${options.barrierId}`;
  const watches: ListWatch[] = [
    startListWatch<V1Node>({
      ...common,
      name: 'nodes',
      path: '/api/v1/nodes',
      labelSelector: options.nodeSelector,
      list: () => core.listNode({ labelSelector: options.nodeSelector }),
      onList: relist('node'),
      onEvent: push('node'),
    }),
    startListWatch<V1DaemonSet>({
      ...common,
      name: 'daemonsets',
      path: options.daemonSets.path(options.namespace),
      labelSelector: options.objectSelector,
      list: () => options.daemonSets.list(options.namespace, options.objectSelector),
      onList: relist('daemonset'),
      onEvent: push('daemonset'),
    }),
    startListWatch<V1Pod>({
      ...common,
      name: 'pods',
      path: `/api/v1/namespaces/${options.namespace}/pods`,
      labelSelector: options.objectSelector,
      list: () => core.listNamespacedPod({ namespace: options.namespace, labelSelector: options.objectSelector }),
      onList: relist('pod'),
      onEvent: push('pod'),
    }),
    startListWatch<V1ConfigMap>({
      ...common,
      name: 'barrier',
      path: `/api/v1/namespaces/${options.namespace}/configmaps`,
      fieldSelector: `metadata.name=${barrierName}`,
      list: () => core.listNamespacedConfigMap({ namespace: options.namespace, fieldSelector: `metadata.name=${barrierName}` }),
      onList: () => {},
      onEvent: push('barrier'),
    }),
  ];
  let barrierCount = 0;
  return {
    synced: Promise.all(watches.map((w) => w.synced)).then(() => undefined),
    async barrier(timeoutMs = 30_000) {
      const token = `${++barrierCount}-${Date.now()}`;
      const reached = new Promise<void>((resolve) => barriers.set(token, resolve));
      const body = { metadata: { name: barrierName, namespace: options.namespace, labels: { 'reliability.daemonless.dev/barrier': 'true' } }, data: { token } };
      try {
        await core.replaceNamespacedConfigMap({ name: barrierName, namespace: options.namespace, body });
      } catch {
        await core.createNamespacedConfigMap({ namespace: options.namespace, body });
      }
      const timer = new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref());
      await Promise.race([reached, timer]);
      barriers.delete(token);
    },
    stats,
    stop() {
      for (const w of watches) w.stop();
      clearInterval(timer);
      flush(true);
    },
  };
}
