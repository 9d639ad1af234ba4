/**
 * The update strategy and its budget: upstream `util.SurgeCount` / `UnavailableCount` / `AllowsSurge`
 * (pkg/controller/daemon/util/daemonset_util.go) and the arithmetic of `updatedDesiredNodeCounts` (update.go).
 */
import type { IntOrString, V1DaemonSet } from '@kubernetes/client-node';

export type UpdateStrategyType = 'RollingUpdate' | 'OnDelete';

/** `spec.updateStrategy.type`, with the API server's default (RollingUpdate) when missing or empty. */
export function updateStrategyType(ds: V1DaemonSet): UpdateStrategyType | string {
  const type = ds.spec?.updateStrategy?.type;
  return type === undefined || type === null || type === '' ? 'RollingUpdate' : type;
}

/** True for RollingUpdate (the default); false for OnDelete and any unknown type (upstream does nothing for those). */
export function isRollingUpdate(ds: V1DaemonSet): boolean {
  return updateStrategyType(ds) === 'RollingUpdate';
}

/**
 * Upstream `intstr.GetScaledValueFromIntOrPercent`: an integer as is; a string must be `<int>%` and scales to
 * `p × total / 100`, rounded up (`roundUp`) or down. Returns a string explaining the problem for anything else.
 */
export function scaledValue(value: IntOrString, total: number, roundUp: boolean): number | { invalid: string } {
  if (typeof value === 'number') {
    return Number.isInteger(value) ? value : { invalid: `${value} is not an integer` };
  }
  if (!value.endsWith('%')) return { invalid: `invalid value ${JSON.stringify(value)}: a string must be a percentage` };
  const digits = value.slice(0, -1);
  if (!/^[+-]?\d+$/.test(digits)) return { invalid: `invalid value ${JSON.stringify(value)}: not an integer percentage` };
  const percent = Number.parseInt(digits, 10);
  // Same float arithmetic as Go's `math.Ceil(float64(v) * float64(total) / 100)`.
  const scaled = (percent * total) / 100;
  return roundUp ? Math.ceil(scaled) : Math.floor(scaled);
}

export interface UpdateBudget {
  /** Old pods that may be unavailable at once (maxSurge == 0 branch). */
  maxUnavailable: number;
  /** Extra new pods that may run next to available old ones (maxSurge > 0 branch). */
  maxSurge: number;
  /** Set when a value is neither an integer nor an integer percentage: upstream refuses to roll (an error), so do we. */
  invalid?: string;
}

const DEFAULT_MAX_UNAVAILABLE: IntOrString = 1;
const DEFAULT_MAX_SURGE: IntOrString = 0;

/**
 * Upstream `SurgeCount`: 0 unless RollingUpdate; a missing `maxSurge` (or `rollingUpdate`) counts as 0; percentages
 * of `desired` rounded up.
 */
export function surgeCount(ds: V1DaemonSet, desired: number): number | { invalid: string } {
  if (!isRollingUpdate(ds)) return 0;
  return scaledValue(ds.spec?.updateStrategy?.rollingUpdate?.maxSurge ?? DEFAULT_MAX_SURGE, desired, true);
}

/**
 * Upstream `UnavailableCount`: 0 unless RollingUpdate; percentages of `desired` rounded up. A missing `maxUnavailable`
 * (or `rollingUpdate`) takes the API server's default, 1 (upstream would fail on it; the API server never serves it).
 */
export function unavailableCount(ds: V1DaemonSet, desired: number): number | { invalid: string } {
  if (!isRollingUpdate(ds)) return 0;
  return scaledValue(ds.spec?.updateStrategy?.rollingUpdate?.maxUnavailable ?? DEFAULT_MAX_UNAVAILABLE, desired, true);
}

/**
 * Upstream `updatedDesiredNodeCounts`, the arithmetic part: maxUnavailable and maxSurge resolved against `desired`
 * (the number of nodes that should run the pod), percentages rounded UP (unlike Deployments); when `desired > 0` and
 * both are 0 (an impossible configuration the API server would refuse), maxUnavailable becomes 1. OnDelete (and any
 * non-RollingUpdate type) has no budget: both 0.
 */
export function updateBudget(ds: V1DaemonSet, desired: number): UpdateBudget {
  const unavailable = unavailableCount(ds, desired);
  const surge = surgeCount(ds, desired);
  if (typeof unavailable !== 'number') return { maxUnavailable: 0, maxSurge: 0, invalid: `maxUnavailable: ${unavailable.invalid}` };
  if (typeof surge !== 'number') return { maxUnavailable: 0, maxSurge: 0, invalid: `maxSurge: ${surge.invalid}` };
  if (isRollingUpdate(ds) && desired > 0 && unavailable === 0 && surge === 0) return { maxUnavailable: 1, maxSurge: 0 };
  return { maxUnavailable: unavailable, maxSurge: surge };
}

/**
 * Upstream `AllowsSurge`: `SurgeCount(ds, 1) > 0`, so any positive integer or percentage allows surge; OnDelete and
 * invalid values do not.
 */
export function allowsSurge(ds: V1DaemonSet): boolean {
  const surge = surgeCount(ds, 1);
  return typeof surge === 'number' && surge > 0;
}

