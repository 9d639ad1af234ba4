/**
 * Port of upstream `NodeShouldRunDaemonPod` (pkg/controller/daemon/daemon_controller.go), returning a reason.
 * Deliberately not checked, as upstream: `spec.unschedulable` (cordoning acts through the unschedulable taint, which
 * daemon pods tolerate), node conditions, resources, host ports, pod affinity. The scheduler judges those.
 */
import type { V1DaemonSet, V1Node, V1Taint } from '@kubernetes/client-node';
import type { Eligibility } from './model.ts';
import { nodeAffinityMismatch } from './node-affinity.ts';
import { addOrUpdateDaemonPodTolerations, describeTaint, findUntoleratedTaint } from './tolerations.ts';

const blocksScheduling = (taint: V1Taint) => taint.effect === 'NoSchedule' || taint.effect === 'NoExecute';
const evicts = (taint: V1Taint) => taint.effect === 'NoExecute';

export function nodeShouldRunDaemonPod(node: V1Node, ds: V1DaemonSet): Eligibility {
  const nodeName = node.metadata?.name ?? '';
  const spec = ds.spec?.template?.spec;

  const templateNodeName = spec?.nodeName ?? '';
  if (templateNodeName !== '' && templateNodeName !== nodeName) {
    return { shouldRun: false, shouldContinueRunning: false, reason: `template nodeName ${templateNodeName} is not this node` };
  }

  const placement = nodeAffinityMismatch(spec, node);
  if (placement !== null) return { shouldRun: false, shouldContinueRunning: false, reason: placement };

  // The default daemon tolerations count: eligibility is judged for the pod as it would be created.
  const tolerations = addOrUpdateDaemonPodTolerations(spec?.tolerations, spec?.hostNetwork ?? false);
  const taints = node.spec?.taints;
  if (findUntoleratedTaint(taints, tolerations, blocksScheduling) === undefined) {
    return { shouldRun: true, shouldContinueRunning: true, reason: null };
  }
  // An untolerated NoSchedule taint only stops new pods; an untolerated NoExecute taint also evicts existing ones.
  const evicting = findUntoleratedTaint(taints, tolerations, evicts);
  const blocking = evicting ?? findUntoleratedTaint(taints, tolerations, blocksScheduling);
  return {
    shouldRun: false,
    shouldContinueRunning: evicting === undefined,
    reason: `taint ${describeTaint(blocking as V1Taint)} is not tolerated`,
  };
}
