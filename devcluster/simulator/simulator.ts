/**
 * The background kubelet stand-in for every node labelled sim.daemonless.dev/simulated=true, whoever registered it:
 * - renews each node's Lease in kube-node-lease, spread over the interval, so the node lifecycle controller keeps
 *   the node healthy;
 * - keeps the Ready condition as wished (True unless `nodes not-ready` set the annotation) and removes the
 *   not-ready/unreachable taints from a Ready node at once instead of waiting for the controller;
 * - reports pods bound to its nodes Running and Ready after a delay (or stuck in ImagePullBackOff for broken
 *   images), and completes their graceful deletion.
 * All decisions are the pure functions of node-object.ts / pod-status.ts; this file is the I/O and timers.
 */
import { PatchStrategy, type KubeConfig, type V1Node, type V1Pod } from '@kubernetes/client-node';
import { clientsFor, describe, isRetryable, mergePatch, statusOf, strategicMergePatch } from './client.ts';
import { createLimiter } from './limiter.ts';
import { HttpStatusError, rawHttp } from './raw-http.ts';
import { leaseFor, microTime, renewalDelay } from './lease.ts';
import { startListWatch, type WatchEventType } from './list-watch.ts';
import { silentLogger, type Logger } from './log.ts';
import { hostIPOf, planNode, readyCondition, wantsReady } from './node-object.ts';
import { planPod, podStatusFor } from './pod-status.ts';
import { NODE_LEASE_NAMESPACE, SIMULATED_LABEL } from './well-known.ts';

export interface SimulatorOptions {
  readyDelayMs: number;
  deleteDelayMs: number;
  /** Pods with a container image matching this never start. */
  broken: RegExp;
  leaseIntervalMs: number;
  leaseDurationSeconds: number;
  /** API requests in flight at once. */
  concurrency: number;
  /** 0: no summary lines. */
  summaryIntervalMs: number;
  log: Logger;
}

export const defaultSimulatorOptions: SimulatorOptions = {
  readyDelayMs: 500,
  deleteDelayMs: 200,
  broken: /(:unready|non-existent)$/,
  leaseIntervalMs: 15_000,
  leaseDurationSeconds: 60,
  concurrency: 16,
  summaryIntervalMs: 60_000,
  log: silentLogger,
};

/** Counts since start. */
export interface SimulatorStats {
  nodes: number;
  pods: number;
  leaseRenewals: number;
  leaseCreates: number;
  nodeWrites: number;
  podStatusWrites: number;
  podDeletes: number;
  conflicts: number;
  errors: number;
}

export interface Simulator {
  stats(): SimulatorStats;
  /** Stops watches and timers and waits for requests in flight. */
  stop(): Promise<void>;
}

/** Which queued request starts first (limiter.ts): a node must be Ready before it gets pods; Leases have slack. */
const Priority = { node: 0, pod: 1, lease: 2 } as const;

interface PodTimer {
  action: 'sync' | 'delete';
  timer: NodeJS.Timeout;
}

/**
 * Starts the simulator and resolves once both watches (simulated nodes, bound pods) have listed, so a caller can
 * add nodes and pods right after and know they will be seen.
 */
export async function startSimulator(kc: KubeConfig, overrides: Partial<SimulatorOptions> = {}): Promise<Simulator> {
  const options: SimulatorOptions = { ...defaultSimulatorOptions, ...overrides };
  const { log } = options;
  const clients = clientsFor(kc);
  const { core, coordination } = clients;
  // A queued request waiting longer than two Lease intervals goes first: Leases are served late, never starved.
  const limiter = createLimiter(options.concurrency, { promoteAfterMs: 2 * options.leaseIntervalMs });
  const raw = await rawHttp(clients.kc, options.concurrency);
  let stopped = false;

  const stats: SimulatorStats = {
    nodes: 0,
    pods: 0,
    leaseRenewals: 0,
    leaseCreates: 0,
    nodeWrites: 0,
    podStatusWrites: 0,
    podDeletes: 0,
    conflicts: 0,
    errors: 0,
  };

  const nodes = new Map<string, V1Node>();
  const pods = new Map<string, V1Pod>(); // by UID: every bound pod, ours or not yet known to be ours
  const podsOnNode = new Map<string, Set<string>>();
  const podTimers = new Map<string, PodTimer>();
  const podBusy = new Set<string>();
  const podDirty = new Set<string>();
  const nodeBusy = new Set<string>();
  const nodeDirty = new Set<string>();
  /** Per node: when its Lease is next due (Infinity while a renewal is in flight) and how many renewals so far. */
  const leases = new Map<string, { dueAt: number; renewals: number }>();

  // ---- nodes ------------------------------------------------------------------------------------------------

  const onNode = (type: WatchEventType, node: V1Node) => {
    const name = node.metadata?.name;
    if (!name) return;
    if (type === 'DELETED') {
      forgetNode(name);
      return;
    }
    const previous = nodes.get(name);
    nodes.set(name, node);
    if (!leases.has(name)) scheduleLease(name, 0, Date.now());
    evaluateNode(name);
    // Pods seen before their node, or a node back from not-ready: their status may be due now.
    if (!previous || wantsReady(previous) !== wantsReady(node)) {
      for (const uid of podsOnNode.get(name) ?? []) evaluatePod(uid);
    }
  };

  const forgetNode = (name: string) => {
    nodes.delete(name);
    leases.delete(name);
    // Its pods are left to the pod garbage collector, as when a real node goes away.
    for (const uid of podsOnNode.get(name) ?? []) cancelPodTimer(uid);
  };

  const evaluateNode = (name: string) => {
    if (stopped) return;
    if (nodeBusy.has(name)) {
      nodeDirty.add(name);
      return;
    }
    const node = nodes.get(name);
    if (!node) return;
    const plan = planNode(node);
    if (plan.ready === undefined && plan.taints === undefined) return;
    nodeBusy.add(name);
    void limiter
      .run(async () => {
        if (stopped) return; // queued before stop(): drop it, so stop() returns promptly
        if (plan.ready !== undefined) {
          const body = { status: { conditions: [readyCondition(plan.ready, new Date().toISOString())] } };
          await core.patchNodeStatus({ name, body }, strategicMergePatch);
          stats.nodeWrites++;
          log.debug(`node ${name}: Ready=${plan.ready ? 'True' : 'False'}`);
        }
        if (plan.taints !== undefined) {
          // spec.taints is replaced whole; the resourceVersion guards taints added meanwhile by someone else.
          const body = {
            metadata: { resourceVersion: node.metadata?.resourceVersion },
            spec: { taints: plan.taints.length > 0 ? plan.taints : null },
          };
          await core.patchNode({ name, body }, mergePatch);
          stats.nodeWrites++;
          log.debug(`node ${name}: removed not-ready taints`);
        }
      }, Priority.node)
      .catch((error: unknown) => {
        // 409: a newer version exists; its watch event re-evaluates the node. 404: deleted meanwhile.
        if (statusOf(error) === 409) stats.conflicts++;
        else if (statusOf(error) !== 404) {
          stats.errors++;
          log.warn(`node ${name}: ${describe(error)}`);
          if (isRetryable(error)) nodeDirty.add(name);
        }
      })
      .finally(() => {
        nodeBusy.delete(name);
        if (nodeDirty.delete(name)) setTimeout(() => evaluateNode(name), 100).unref();
      });
  };

  // ---- leases -----------------------------------------------------------------------------------------------

  const scheduleLease = (name: string, renewals: number, now: number, delayMs = renewalDelay(options.leaseIntervalMs, renewals, Math.random())) => {
    leases.set(name, { dueAt: now + delayMs, renewals });
  };

  /*
   * One timer for all Leases: each tick renews the ones that are due. On this VM every wake-up of the process costs
   * more CPU than the request it serves (measured: ~0.8 ms CPU per renewal back to back, ~2.3 ms when each has its own
   * wake-up), so per-node timers made 1,000 nodes cost twice as much. Due times stay spread over the interval
   * (renewalDelay), so each tick carries about nodes × tick / interval renewals: spread, not bursts.
   */
  const tickMs = Math.max(100, Math.min(1000, Math.floor(options.leaseIntervalMs / 10)));
  const leaseTick = setInterval(() => {
    const now = Date.now();
    for (const [name, lease] of leases) {
      if (lease.dueAt > now) continue;
      lease.dueAt = Infinity;
      void renewLease(name, lease.renewals);
    }
  }, tickMs);

  const renewLease = async (name: string, renewals: number) => {
    const node = nodes.get(name);
    if (!node || stopped) return;
    let ok = true;
    await limiter
      .run(async () => {
        if (stopped) return; // queued before stop(): drop it, so stop() returns promptly
        const body = { spec: { renewTime: microTime(new Date()), holderIdentity: name } };
        const path = `/apis/coordination.k8s.io/v1/namespaces/${NODE_LEASE_NAMESPACE}/leases/${encodeURIComponent(name)}`;
        const { status, text } = await raw.request('PATCH', path, body, PatchStrategy.MergePatch);
        if (status >= 200 && status < 300) {
          stats.leaseRenewals++;
        } else {
          if (status !== 404) throw new HttpStatusError(status, `PATCH lease: ${text.slice(0, 200)}`);
          const lease = leaseFor({ name, uid: node.metadata?.uid ?? '' }, options.leaseDurationSeconds, new Date());
          try {
            await coordination.createNamespacedLease({ namespace: NODE_LEASE_NAMESPACE, body: lease });
          } catch (error) {
            if (statusOf(error) !== 409) throw error; // another simulator made it first: renewed next time
          }
          stats.leaseCreates++;
          log.debug(`node ${name}: created lease`);
        }
      }, Priority.lease)
      .catch((error: unknown) => {
        ok = false;
        stats.errors++;
        log.warn(`lease ${name}: ${describe(error)}`);
      });
    if (!nodes.has(name) || stopped) return;
    // On failure retry sooner than a full interval, still leaving the API server room to recover.
    if (ok) scheduleLease(name, renewals + 1, Date.now());
    else scheduleLease(name, renewals, Date.now(), Math.max(1000, Math.floor(options.leaseIntervalMs / 4)));
  };

  // ---- pods -------------------------------------------------------------------------------------------------

  const index = (pod: V1Pod) => {
    const uid = pod.metadata?.uid;
    const nodeName = pod.spec?.nodeName;
    if (!uid || !nodeName) return;
    pods.set(uid, pod);
    let set = podsOnNode.get(nodeName);
    if (!set) podsOnNode.set(nodeName, (set = new Set()));
    set.add(uid);
  };

  const unindex = (uid: string) => {
    const pod = pods.get(uid);
    pods.delete(uid);
    const nodeName = pod?.spec?.nodeName;
    if (!nodeName) return;
    const set = podsOnNode.get(nodeName);
    set?.delete(uid);
    if (set?.size === 0) podsOnNode.delete(nodeName);
  };

  const onPod = (type: WatchEventType, pod: V1Pod) => {
    const uid = pod.metadata?.uid;
    if (!uid) return;
    if (type === 'DELETED') {
      cancelPodTimer(uid);
      unindex(uid);
      return;
    }
    index(pod);
    evaluatePod(uid);
  };

  const cancelPodTimer = (uid: string) => {
    const pending = podTimers.get(uid);
    if (pending) clearTimeout(pending.timer);
    podTimers.delete(uid);
  };

  const actionFor = (uid: string) => {
    const pod = pods.get(uid);
    const node = pod?.spec?.nodeName ? nodes.get(pod.spec.nodeName) : undefined;
    if (!pod || !node) return undefined;
    return { pod, node, action: planPod(pod, { nodeWantsReady: wantsReady(node), broken: options.broken }) };
  };

  const evaluatePod = (uid: string, delayOverrideMs?: number) => {
    if (stopped) return;
    if (podBusy.has(uid)) {
      podDirty.add(uid);
      return;
    }
    const planned = actionFor(uid);
    const pending = podTimers.get(uid);
    if (!planned || planned.action === 'none') {
      cancelPodTimer(uid);
      return;
    }
    // A timer already set for the same action reads the latest pod when it fires.
    if (pending?.action === planned.action && delayOverrideMs === undefined) return;
    cancelPodTimer(uid);
    const delay = delayOverrideMs ?? (planned.action === 'delete' ? options.deleteDelayMs : options.readyDelayMs);
    const timer = setTimeout(() => firePod(uid), delay);
    podTimers.set(uid, { action: planned.action, timer });
  };

  const firePod = (uid: string) => {
    podTimers.delete(uid);
    if (stopped) return;
    const fired = actionFor(uid);
    if (!fired || fired.action === 'none') return;
    let { action } = fired;
    const name = fired.pod.metadata?.name ?? '';
    const namespace = fired.pod.metadata?.namespace ?? '';
    let retryMs: number | undefined;
    podBusy.add(uid);
    void limiter
      .run(async () => {
        if (stopped) return; // queued before stop(): drop it, so stop() returns promptly
        // The latest copy: the request may have waited in the queue while the pod changed.
        const planned = actionFor(uid);
        if (!planned || planned.action === 'none') return;
        const { pod, node } = planned;
        action = planned.action;
        if (action === 'delete') {
          // UID precondition: never delete a newer pod that took the same name.
          await core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0, body: { gracePeriodSeconds: 0, preconditions: { uid } } });
          stats.podDeletes++;
          log.debug(`pod ${namespace}/${name}: deletion completed`);
          return;
        }
        const status = podStatusFor(pod, { broken: options.broken, now: new Date().toISOString(), hostIP: hostIPOf(node) ?? '' });
        // Guarded by resourceVersion so a concurrent `fail-pod` (or any newer write) is never overwritten.
        const body = { metadata: { resourceVersion: pod.metadata?.resourceVersion }, status };
        await core.patchNamespacedPodStatus({ name, namespace, body }, mergePatch);
        stats.podStatusWrites++;
        log.debug(`pod ${namespace}/${name} on ${node.metadata?.name}: ${status.phase === 'Running' ? 'Running and Ready' : 'Pending, ImagePullBackOff'}`);
      }, Priority.pod)
      .catch((error: unknown) => {
        const code = statusOf(error);
        if (code === 404 || (action === 'delete' && code === 409)) return; // gone, or a different pod now
        if (code === 409) {
          // Our copy was stale; the newer version arrives by watch. Look again shortly in case it already has.
          stats.conflicts++;
          retryMs = 100;
          return;
        }
        stats.errors++;
        log.warn(`pod ${namespace}/${name}: ${action}: ${describe(error)}`);
        if (isRetryable(error)) retryMs = 1000;
      })
      .finally(() => {
        podBusy.delete(uid);
        if (retryMs !== undefined) {
          podDirty.delete(uid);
          evaluatePod(uid, retryMs);
        } else if (podDirty.delete(uid)) evaluatePod(uid, 0);
      });
  };

  // ---- watches ----------------------------------------------------------------------------------------------

  const nodeWatch = startListWatch<V1Node>({
    kc: clients.kc,
    name: 'nodes',
    path: '/api/v1/nodes',
    labelSelector: `${SIMULATED_LABEL}=true`,
    list: () => core.listNode({ labelSelector: `${SIMULATED_LABEL}=true` }),
    onList: (items) => {
      const present = new Set(items.map((n) => n.metadata?.name));
      for (const name of [...nodes.keys()]) if (!present.has(name)) forgetNode(name);
      for (const node of items) onNode('MODIFIED', node);
    },
    onEvent: onNode,
    log,
  });

  const podWatch = startListWatch<V1Pod>({
    kc: clients.kc,
    name: 'pods',
    path: '/api/v1/pods',
    fieldSelector: 'spec.nodeName!=',
    list: () => core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName!=' }),
    onList: (items) => {
      const present = new Set(items.map((p) => p.metadata?.uid));
      for (const uid of [...pods.keys()]) {
        if (!present.has(uid)) {
          cancelPodTimer(uid);
          unindex(uid);
        }
      }
      for (const pod of items) onPod('MODIFIED', pod);
    },
    onEvent: onPod,
    log,
  });

  let previous = { ...stats };
  const summary =
    options.summaryIntervalMs > 0
      ? setInterval(() => {
          const ours = [...pods.values()].filter((p) => p.spec?.nodeName && nodes.has(p.spec.nodeName));
          const running = ours.filter((p) => p.status?.phase === 'Running').length;
          const d = (k: keyof SimulatorStats) => stats[k] - previous[k];
          log.info(
            `summary: ${nodes.size} nodes, ${ours.length} pods (${running} running); last ${Math.round(options.summaryIntervalMs / 1000)} s: ` +
              `${d('leaseRenewals')} lease renewals, ${d('leaseCreates')} leases created, ${d('podStatusWrites')} pod status writes, ` +
              `${d('podDeletes')} deletions, ${d('nodeWrites')} node writes, ${d('conflicts')} conflicts, ${d('errors')} errors; ` +
              `${limiter.pending} requests queued`,
          );
          previous = { ...stats };
        }, options.summaryIntervalMs)
      : undefined;
  summary?.unref();

  await Promise.all([nodeWatch.synced, podWatch.synced]);
  log.info(`simulator started: ${nodes.size} simulated nodes, ${pods.size} bound pods`);

  return {
    stats: () => ({ ...stats, nodes: nodes.size, pods: [...pods.values()].filter((p) => nodes.has(p.spec?.nodeName ?? '')).length }),
    async stop() {
      if (stopped) return;
      stopped = true;
      nodeWatch.stop();
      podWatch.stop();
      if (summary) clearInterval(summary);
      clearInterval(leaseTick);
      for (const { timer } of podTimers.values()) clearTimeout(timer);
      leases.clear();
      podTimers.clear();
      await limiter.idle();
      raw.close();
    },
  };
}
