/**
 * Simulated nodes through the API: register, delete, flip Ready, taint, label, fail a pod. Used by the `nodes` CLI,
 * tests, the demo and benchmarks. Each function takes the caller's KubeConfig; requests share keep-alive connections
 * (see client.ts). The background simulator (simulator.ts) does the kubelet's continuous work for these nodes.
 */
import type { KubeConfig, V1Node, V1Pod, V1Taint } from '@kubernetes/client-node';
import { clientsFor, mergePatch, statusOf, strategicMergePatch } from './client.ts';
import { mapLimit } from './limiter.ts';
import {
  batchId,
  buildNode,
  isNotReadyTaint,
  nodeNames,
  readyStatusOf,
  readyCondition,
  withTaint,
  withoutTaint,
  type NodeOptions,
} from './node-object.ts';
import { failedStatus, isTerminal } from './pod-status.ts';
import { NODE_LEASE_NAMESPACE, NOT_READY_ANNOTATION, SIMULATED_LABEL, type Taint } from './well-known.ts';

export type { NodeOptions } from './node-object.ts';
export type { Taint, TaintEffect } from './well-known.ts';
export { SIMULATED_LABEL, NOT_READY_ANNOTATION } from './well-known.ts';

export interface AddNodesOptions extends NodeOptions {
  /** Creates in flight at once. Default 24. */
  concurrency?: number;
}

let lastBatchMs = 0;

/** Strictly increasing within this process, so two calls in the same millisecond still get different names. */
function nextBatch(): string {
  lastBatchMs = Math.max(Date.now(), lastBatchMs + 1);
  return batchId(lastBatchMs, Math.random());
}

/**
 * Registers `count` simulated nodes and returns their names (`<prefix>-<batch>-<i>`, never reused in a cluster).
 * Taints are part of the create. The API server keeps the status sent on create; should it ever drop it, the Ready
 * condition is written through nodes/status right after, so callers always get nodes that report Ready (the
 * simulator then removes the not-ready taint TaintNodesByCondition adds, and keeps the node's Lease fresh).
 */
export async function addNodes(kc: KubeConfig, count: number, options: AddNodesOptions = {}): Promise<string[]> {
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`node count must be a non-negative integer, got ${count}`);
  const { core } = clientsFor(kc);
  const names = nodeNames(options.namePrefix ?? 'sim', nextBatch(), count);
  await mapLimit(names, options.concurrency ?? 24, async (name) => {
    const now = new Date().toISOString();
    const created = await core.createNode({ body: buildNode(name, options, now) });
    if (!options.notReady && readyStatusOf(created) !== 'True') {
      await core.patchNodeStatus({ name, body: { status: { conditions: [readyCondition(true, now)] } } }, strategicMergePatch);
    }
  });
  return names;
}

/** Deletes the node and its Lease (the garbage collector would too, later). False when it did not exist. */
export async function deleteNode(kc: KubeConfig, name: string): Promise<boolean> {
  const { core, coordination } = clientsFor(kc);
  const existed = await ignoring404(() => core.deleteNode({ name }));
  await ignoring404(() => coordination.deleteNamespacedLease({ name, namespace: NODE_LEASE_NAMESPACE }));
  return existed;
}

/** Deletes many nodes, `concurrency` at a time; resolves with the names that existed. */
export async function deleteNodes(kc: KubeConfig, names: readonly string[], concurrency = 24): Promise<string[]> {
  const existed = await mapLimit(names, concurrency, (name) => deleteNode(kc, name));
  return names.filter((_, i) => existed[i]);
}

/**
 * Flips the node's Ready condition and records the wish in an annotation so the simulator keeps it that way
 * (it restores Ready=True on nodes without the annotation). The node lifecycle controller reacts within its
 * --node-monitor-period: not-ready/NoExecute taints, pods marked not Ready.
 */
export async function setNodeReady(kc: KubeConfig, name: string, ready: boolean): Promise<void> {
  const { core } = clientsFor(kc);
  await core.patchNode({ name, body: { metadata: { annotations: { [NOT_READY_ANNOTATION]: ready ? null : 'true' } } } }, mergePatch);
  const now = new Date().toISOString();
  await core.patchNodeStatus({ name, body: { status: { conditions: [readyCondition(ready, now)] } } }, strategicMergePatch);
}

/** Adds (or replaces, same key and effect) a taint. Optimistic concurrency: the taint list is replaced whole. */
export async function addTaint(kc: KubeConfig, name: string, taint: Taint): Promise<void> {
  await updateTaints(kc, name, (taints) => withTaint(taints, taint));
}

/** Removes taints with this key (and effect, when given). */
export async function removeTaint(kc: KubeConfig, name: string, key: string, effect?: string): Promise<void> {
  await updateTaints(kc, name, (taints) => withoutTaint(taints, key, effect));
}

async function updateTaints(kc: KubeConfig, name: string, change: (taints: V1Taint[]) => V1Taint[]): Promise<void> {
  const { core } = clientsFor(kc);
  // spec.taints has no merge key: a patch replaces the list, so it is guarded by the resourceVersion it was read at.
  for (let attempt = 1; ; attempt++) {
    const node = await core.readNode({ name });
    const taints = change(node.spec?.taints ?? []);
    try {
      await core.patchNode(
        { name, body: { metadata: { resourceVersion: node.metadata?.resourceVersion }, spec: { taints: taints.length > 0 ? taints : null } } },
        mergePatch,
      );
      return;
    } catch (error) {
      if (statusOf(error) !== 409 || attempt >= 10) throw error;
    }
  }
}

/** Sets labels (value null removes one). */
export async function setLabels(kc: KubeConfig, name: string, labels: Record<string, string | null>): Promise<void> {
  const { core } = clientsFor(kc);
  await core.patchNode({ name, body: { metadata: { labels } } }, mergePatch);
}

/**
 * Makes the pod Failed as a kubelet would report a container exiting with code 1. The simulator never rewrites a
 * Failed pod, so this sticks. A pod already Failed or Succeeded is left as it is.
 */
export async function failPod(kc: KubeConfig, namespace: string, name: string): Promise<void> {
  const { core } = clientsFor(kc);
  for (let attempt = 1; ; attempt++) {
    const pod = await core.readNamespacedPod({ name, namespace });
    if (isTerminal(pod)) return;
    const body = { metadata: { resourceVersion: pod.metadata?.resourceVersion }, status: failedStatus(pod, new Date().toISOString()) };
    try {
      await core.patchNamespacedPodStatus({ name, namespace, body }, mergePatch);
      return;
    } catch (error) {
      // The simulator may be writing the same pod's status right now.
      if (statusOf(error) !== 409 || attempt >= 10) throw error;
    }
  }
}

export async function listSimulatedNodes(kc: KubeConfig): Promise<V1Node[]> {
  const { core } = clientsFor(kc);
  const list = await core.listNode({ labelSelector: `${SIMULATED_LABEL}=true` });
  return list.items;
}

/** Pods bound to any node, grouped by node name (for `nodes list`). */
export async function podsByNode(kc: KubeConfig): Promise<Map<string, V1Pod[]>> {
  const { core } = clientsFor(kc);
  const list = await core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName!=' });
  const byNode = new Map<string, V1Pod[]>();
  for (const pod of list.items) {
    const node = pod.spec?.nodeName ?? '';
    byNode.set(node, [...(byNode.get(node) ?? []), pod]);
  }
  return byNode;
}

/** Ready and free of not-ready/unreachable taints: what a DaemonSet needs before it places a pod. */
export function isSchedulable(node: V1Node): boolean {
  return readyStatusOf(node) === 'True' && !(node.spec?.taints ?? []).some(isNotReadyTaint);
}

/**
 * Waits until every named node is Ready and has lost its not-ready taint (the simulator's work), polling the API.
 * Rejects after `timeoutMs`, naming the nodes still waiting and what they looked like.
 */
export async function waitForNodesSchedulable(kc: KubeConfig, names: readonly string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let waiting = [...names];
  let last = new Map<string, V1Node>();
  while (waiting.length > 0) {
    last = new Map((await listSimulatedNodes(kc)).map((n) => [n.metadata?.name ?? '', n]));
    waiting = waiting.filter((name) => {
      const node = last.get(name);
      return !node || !isSchedulable(node);
    });
    if (waiting.length === 0) return;
    if (Date.now() > deadline) {
      const seen = waiting.slice(0, 5).map((name) => {
        const node = last.get(name);
        if (!node) return `${name}: missing`;
        return `${name}: Ready=${readyStatusOf(node) ?? '?'} taints=[${(node.spec?.taints ?? []).map((t) => `${t.key}:${t.effect}`).join(',')}]`;
      });
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${waiting.length} node(s) to become schedulable: ${seen.join('; ')}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function ignoring404(call: () => Promise<unknown>): Promise<boolean> {
  try {
    await call();
    return true;
  } catch (error) {
    if (statusOf(error) === 404) return false;
    throw error;
  }
}
