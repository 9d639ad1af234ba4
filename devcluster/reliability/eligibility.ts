/**
 * The checker's own idea of where a DaemonSet's pods belong — written independently of src/core (the code under
 * test), for the vocabulary the scenarios use: a nodeSelector, taints with NoSchedule/NoExecute, the DaemonSet's
 * tolerations plus the ones upstream adds to every daemon pod. Upstream: NodeShouldRunDaemonPod (shouldRun: taints
 * NoSchedule and NoExecute must be tolerated; shouldContinueRunning: only NoExecute).
 */
import type { V1DaemonSet, V1Node, V1Taint, V1Toleration } from '@kubernetes/client-node';

export interface Placement {
  /** A pod should be created here. */
  shouldRun: boolean;
  /** A pod already here may stay. */
  shouldContinueRunning: boolean;
}

/** Tolerations upstream adds to every daemon pod (util.AddOrUpdateDaemonPodTolerations), hostNetwork aside. */
const daemonTolerations: V1Toleration[] = [
  { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/pid-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
];

export function tolerates(toleration: V1Toleration, taint: V1Taint): boolean {
  if (toleration.effect && toleration.effect !== taint.effect) return false;
  if (toleration.operator === 'Exists') return !toleration.key || toleration.key === taint.key;
  return toleration.key === taint.key && (toleration.value ?? '') === (taint.value ?? '');
}

export function placement(node: V1Node | undefined, ds: V1DaemonSet): Placement {
  if (!node) return { shouldRun: false, shouldContinueRunning: false };
  const spec = ds.spec?.template.spec;
  const labels = node.metadata?.labels ?? {};
  const selected = Object.entries(spec?.nodeSelector ?? {}).every(([k, v]) => labels[k] === v);
  if (!selected) return { shouldRun: false, shouldContinueRunning: false };
  const tolerations = [...(spec?.tolerations ?? []), ...daemonTolerations];
  const untolerated = (node.spec?.taints ?? []).filter((t) => !tolerations.some((tol) => tolerates(tol, t)));
  return {
    shouldRun: !untolerated.some((t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute'),
    shouldContinueRunning: !untolerated.some((t) => t.effect === 'NoExecute'),
  };
}
