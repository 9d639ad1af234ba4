/**
 * Pure construction of simulated Node objects and of the changes the simulator makes to them. No I/O, no clock:
 * `now` and ids are arguments.
 */
import { createHash } from 'node:crypto';
import type { V1Node, V1NodeCondition, V1Taint } from '@kubernetes/client-node';
import {
  NOT_READY_ANNOTATION,
  SIMULATED_LABEL,
  TAINT_NOT_READY,
  TAINT_UNREACHABLE,
  type Taint,
} from './well-known.ts';

export const REGION = 'sim-region-1';
export const ZONES = ['sim-region-1a', 'sim-region-1b', 'sim-region-1c'] as const;
export const INSTANCE_TYPE = 'sim.xlarge';
export const KUBELET_VERSION = 'v1.37.2';

export interface NodeOptions {
  labels?: Record<string, string>;
  taints?: Taint[];
  namePrefix?: string;
  /**
   * Registers as a kubelet does before its container runtime and network are up: Ready False, and kept so (the
   * `nodes not-ready` annotation) until `setNodeReady(…, true)`.
   */
  notReady?: boolean;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function hex(text: string, length: number): string {
  return digest(text).toString('hex').slice(0, length);
}

/**
 * A batch id unique within a cluster's lifetime: milliseconds since the epoch in base36, then two random base36
 * characters so two processes adding nodes in the same millisecond do not collide. Node names embed it because a
 * name must never come back after a delete (the old node's pods would look like the new node's).
 */
export function batchId(nowMs: number, random: number): string {
  const suffix = Math.floor(random * 36 * 36)
    .toString(36)
    .padStart(2, '0');
  return `${nowMs.toString(36)}${suffix}`;
}

export function nodeNames(prefix: string, batch: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}-${batch}-${i}`);
}

/** Zone from a hash of the name, so any batch size spreads over all zones. */
export function zoneOf(name: string): string {
  return ZONES[digest(name).readUInt32BE(0) % ZONES.length]!;
}

/** A stable InternalIP in 10.128.0.0/9 derived from the name (realistic enough; collisions are harmless here). */
export function internalIPOf(name: string): string {
  const d = digest(`ip:${name}`);
  return `10.${128 + (d[0]! & 0x7f)}.${d[1]!}.${1 + (d[2]! % 254)}`;
}

export function readyCondition(ready: boolean, now: string): V1NodeCondition {
  return {
    type: 'Ready',
    status: ready ? 'True' : 'False',
    reason: ready ? 'KubeletReady' : 'KubeletNotReady',
    message: ready ? 'kubelet is posting ready status' : 'simulated: node marked not ready',
    // client-node types say Date; the API server accepts RFC 3339 strings, which is what we send.
    lastHeartbeatTime: now as unknown as Date,
    lastTransitionTime: now as unknown as Date,
  };
}

function pressure(type: string, reason: string, message: string, now: string): V1NodeCondition {
  return {
    type,
    status: 'False',
    reason,
    message,
    lastHeartbeatTime: now as unknown as Date,
    lastTransitionTime: now as unknown as Date,
  };
}

/**
 * The Node a kubelet would register: well-known labels, capacity, Ready condition, nodeInfo, addresses, and the
 * caller's taints in the create itself (kubelet's --register-with-taints; adding them later races with controllers).
 */
export function buildNode(name: string, options: Omit<NodeOptions, 'namePrefix'>, now: string): V1Node {
  const ip = internalIPOf(name);
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'beta.kubernetes.io/os': 'linux',
        'beta.kubernetes.io/arch': 'amd64',
        'topology.kubernetes.io/region': REGION,
        'topology.kubernetes.io/zone': zoneOf(name),
        'node.kubernetes.io/instance-type': INSTANCE_TYPE,
        ...options.labels,
        [SIMULATED_LABEL]: 'true',
      },
      annotations: {
        'node.alpha.kubernetes.io/ttl': '0',
        'volumes.kubernetes.io/controller-managed-attach-detach': 'true',
        ...(options.notReady ? { [NOT_READY_ANNOTATION]: 'true' } : {}),
      },
    },
    spec: {
      providerID: `sim://${name}`,
      ...(options.taints && options.taints.length > 0 ? { taints: options.taints.map((t) => ({ ...t })) } : {}),
    },
    status: {
      capacity: { cpu: '4', memory: '16374584Ki', pods: '110', 'ephemeral-storage': '104845292Ki', 'hugepages-2Mi': '0' },
      allocatable: { cpu: '3920m', memory: '15223608Ki', pods: '110', 'ephemeral-storage': '96625420199', 'hugepages-2Mi': '0' },
      conditions: [
        pressure('MemoryPressure', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available', now),
        pressure('DiskPressure', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure', now),
        pressure('PIDPressure', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available', now),
        readyCondition(!options.notReady, now),
      ],
      addresses: [
        { type: 'InternalIP', address: ip },
        { type: 'Hostname', address: name },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      nodeInfo: {
        machineID: hex(`machine:${name}`, 32),
        systemUUID: uuidOf(`system:${name}`),
        bootID: uuidOf(`boot:${name}:${now}`),
        kernelVersion: '6.8.0-1019-sim',
        osImage: 'Ubuntu 24.04.1 LTS',
        containerRuntimeVersion: 'containerd://2.1.4',
        kubeletVersion: KUBELET_VERSION,
        kubeProxyVersion: '',
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
    },
  };
}

function uuidOf(text: string): string {
  const h = hex(text, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function isSimulated(node: V1Node): boolean {
  return node.metadata?.labels?.[SIMULATED_LABEL] === 'true';
}

/** What `nodes not-ready` / `nodes ready` asked for; absent annotation means Ready. */
export function wantsReady(node: V1Node): boolean {
  return node.metadata?.annotations?.[NOT_READY_ANNOTATION] !== 'true';
}

export function readyStatusOf(node: V1Node): 'True' | 'False' | 'Unknown' | undefined {
  const status = node.status?.conditions?.find((c) => c.type === 'Ready')?.status;
  return status === 'True' || status === 'False' || status === 'Unknown' ? status : undefined;
}

export function hostIPOf(node: V1Node | undefined): string | undefined {
  return node?.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
}

/** Taints a Ready node must not carry: not-ready and unreachable, whatever their effect. */
export function isNotReadyTaint(t: { key: string }): boolean {
  return t.key === TAINT_NOT_READY || t.key === TAINT_UNREACHABLE;
}

/**
 * What the simulator must change on a node it plays the kubelet for. Every field is the minimum to send:
 * - `ready`: the Ready condition to set (a strategic merge of one condition), or undefined when it is right;
 * - `taints`: the full taint list without the not-ready ones (a merge patch guarded by resourceVersion), or
 *   undefined. Only once the node is Ready, as the node lifecycle controller would.
 */
export interface NodePlan {
  ready?: boolean;
  taints?: V1Taint[];
}

export function planNode(node: V1Node): NodePlan {
  const want = wantsReady(node);
  const status = readyStatusOf(node);
  const plan: NodePlan = {};
  if (want && status !== 'True') plan.ready = true;
  // A not-ready node may be False or Unknown (the controller's word); only an explicit True contradicts the wish.
  if (!want && status === 'True') plan.ready = false;
  const taints = node.spec?.taints ?? [];
  if (want && status === 'True' && taints.some(isNotReadyTaint)) {
    // Other taints are kept whole (timeAdded included: NoExecute eviction timing depends on it).
    plan.taints = taints.filter((t) => !isNotReadyTaint(t));
  }
  return plan;
}

/** Adds a taint, replacing one with the same key and effect (kubectl taint --overwrite semantics). */
export function withTaint(taints: readonly V1Taint[], taint: Taint): V1Taint[] {
  return [...taints.filter((t) => !(t.key === taint.key && t.effect === taint.effect)), { ...taint }];
}

/** Removes taints matching key and, when given, effect. */
export function withoutTaint(taints: readonly V1Taint[], key: string, effect?: string): V1Taint[] {
  return taints.filter((t) => !(t.key === key && (effect === undefined || t.effect === effect)));
}
