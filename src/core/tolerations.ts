/**
 * Taints and tolerations as the DaemonSet controller sees them: the default daemon tolerations
 * (upstream `util.AddOrUpdateDaemonPodTolerations`) and toleration matching (component-helpers `ToleratesTaint`,
 * `FindMatchingUntoleratedTaint`). `tolerationSeconds` plays no part here: eligibility ignores it, as upstream.
 */
import type { V1Taint, V1Toleration } from '@kubernetes/client-node';
import { parseInt64 } from './label-selector.ts';

export const taintKeys = {
  notReady: 'node.kubernetes.io/not-ready',
  unreachable: 'node.kubernetes.io/unreachable',
  diskPressure: 'node.kubernetes.io/disk-pressure',
  memoryPressure: 'node.kubernetes.io/memory-pressure',
  pidPressure: 'node.kubernetes.io/pid-pressure',
  unschedulable: 'node.kubernetes.io/unschedulable',
  networkUnavailable: 'node.kubernetes.io/network-unavailable',
} as const;

/**
 * The tolerations every daemon pod gets, in upstream's order, all `Exists` without `tolerationSeconds`, so daemon pods
 * survive node problems and cordoning. network-unavailable only for hostNetwork pods (others need the pod network).
 */
export function defaultDaemonTolerations(hostNetwork: boolean): V1Toleration[] {
  const tolerations: V1Toleration[] = [
    { key: taintKeys.notReady, operator: 'Exists', effect: 'NoExecute' },
    { key: taintKeys.unreachable, operator: 'Exists', effect: 'NoExecute' },
    { key: taintKeys.diskPressure, operator: 'Exists', effect: 'NoSchedule' },
    { key: taintKeys.memoryPressure, operator: 'Exists', effect: 'NoSchedule' },
    { key: taintKeys.pidPressure, operator: 'Exists', effect: 'NoSchedule' },
    { key: taintKeys.unschedulable, operator: 'Exists', effect: 'NoSchedule' },
  ];
  if (hostNetwork) tolerations.push({ key: taintKeys.networkUnavailable, operator: 'Exists', effect: 'NoSchedule' });
  return tolerations;
}

/** Upstream `Toleration.MatchToleration`: tolerations are identified by key, effect, operator and value. */
function sameToleration(a: V1Toleration, b: V1Toleration): boolean {
  return (
    (a.key ?? '') === (b.key ?? '') &&
    (a.effect ?? '') === (b.effect ?? '') &&
    (a.operator ?? '') === (b.operator ?? '') &&
    (a.value ?? '') === (b.value ?? '')
  );
}

/**
 * The pod's tolerations plus the defaults (upstream `AddOrUpdateDaemonPodTolerations`): a user toleration identical to
 * a default in key/effect/operator/value is replaced in place by the default (dropping its `tolerationSeconds`);
 * otherwise the default is appended. Returns a new array; the input is not modified.
 */
export function addOrUpdateDaemonPodTolerations(
  tolerations: readonly V1Toleration[] | undefined,
  hostNetwork: boolean,
): V1Toleration[] {
  let result: V1Toleration[] = (tolerations ?? []).map((t) => ({ ...t }));
  for (const def of defaultDaemonTolerations(hostNetwork)) {
    let replaced = false;
    result = result.map((t) => {
      if (!sameToleration(t, def)) return t;
      replaced = true;
      return { ...def };
    });
    if (!replaced) result.push({ ...def });
  }
  return result;
}

/**
 * Whether one toleration tolerates one taint (component-helpers `Toleration.ToleratesTaint`): the effect is empty or
 * equal; the key is equal, or empty with `Exists` (an empty key with another operator is rejected by API validation;
 * we treat it as tolerating nothing rather than trusting it); `Equal`/`""` needs equal values, `Exists` takes any value;
 * `Gt`/`Lt` (alpha TaintTolerationComparisonOperators) compare integers: tolerated when the taint's value is greater /
 * less than the toleration's, and never when either does not parse.
 */
export function toleratesTaint(toleration: V1Toleration, taint: V1Taint): boolean {
  const effect = toleration.effect ?? '';
  if (effect !== '' && effect !== taint.effect) return false;
  const operator = toleration.operator ?? '';
  const key = toleration.key ?? '';
  if (key === '' ? operator !== 'Exists' : key !== taint.key) return false;
  switch (operator) {
    case '':
    case 'Equal':
      return (toleration.value ?? '') === (taint.value ?? '');
    case 'Exists':
      return true;
    case 'Gt':
    case 'Lt': {
      const bound = parseInt64(toleration.value ?? '');
      const actual = parseInt64(taint.value ?? '');
      if (bound === undefined || actual === undefined) return false;
      return operator === 'Gt' ? actual > bound : actual < bound;
    }
    default:
      return false;
  }
}

/**
 * The first taint that passes `filter` and that no toleration tolerates (upstream `FindMatchingUntoleratedTaint`),
 * or undefined when every such taint is tolerated.
 */
export function findUntoleratedTaint(
  taints: readonly V1Taint[] | undefined,
  tolerations: readonly V1Toleration[] | undefined,
  filter: (taint: V1Taint) => boolean,
): V1Taint | undefined {
  return (taints ?? []).find((taint) => filter(taint) && !(tolerations ?? []).some((t) => toleratesTaint(t, taint)));
}

/** `key=value:Effect`, or `key:Effect` without a value, as kubectl prints taints. */
export function describeTaint(taint: V1Taint): string {
  return `${taint.key}${taint.value ? `=${taint.value}` : ''}:${taint.effect}`;
}
