/**
 * Names the simulator and the `nodes` CLI agree on. A node is "simulated" when it carries SIMULATED_LABEL; the
 * background simulator plays the kubelet for exactly those nodes, whoever registered them.
 */
export const SIMULATED_LABEL = 'sim.daemonless.dev/simulated';

/**
 * Desired readiness, set by `nodes not-ready` / `nodes ready`. An annotation rather than only the Ready condition
 * because the node lifecycle controller also writes that condition (Unknown when heartbeats stop): the simulator
 * must tell "flipped on purpose" from "flipped by the controller".
 */
export const NOT_READY_ANNOTATION = 'sim.daemonless.dev/not-ready';

export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

/** Taints the node lifecycle controller (and TaintNodesByCondition admission) put on nodes that are not Ready. */
export const TAINT_NOT_READY = 'node.kubernetes.io/not-ready';
export const TAINT_UNREACHABLE = 'node.kubernetes.io/unreachable';

export const TAINT_EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const;
export type TaintEffect = (typeof TAINT_EFFECTS)[number];

export interface Taint {
  key: string;
  value?: string;
  effect: TaintEffect;
}
