/** The shape of `bench/results/<timestamp>.json`, and the derived numbers every report prints. Pure. */
import type { BenchArgs } from './args.ts';
import type { ColdStartReport } from './coldstart.ts';
import type { CostModel } from './cost.ts';
import type { FloorResult, LatencyResult, ShapeName, ShapeResult } from './shapes.ts';
import { ratio } from './stats.ts';
import type { SystemKind } from './systems.ts';

export interface SystemRun {
  kind: SystemKind;
  label: string;
  kcmQps?: number;
  kcmBurst?: number;
  upSeconds?: number;
  loadAverageAtStart: number[];
  shapes: ShapeResult[];
  latency?: LatencyResult;
  error?: string;
}

export interface BenchResults {
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  command: string;
  args: Omit<BenchArgs, 'phases'> & { phases: string[] };
  git: { commit: string; dirtyProductFiles: string[] };
  machine: { cpus: number; node: string; loadAverageAtStart: number[]; otherControlPlanes: number };
  localDir: string;
  systems: SystemRun[];
  floor?: FloorResult & { on: string };
  coldStart?: ColdStartReport;
  costModel?: CostModel;
  targets: TargetCheck[];
  notes: string[];
}

export interface TargetCheck {
  target: string;
  measured: string;
  met: boolean | null;
}

export const shapeTitles: Record<ShapeName, string> = {
  a: '(a) new DaemonSet on N nodes',
  b: '(b) N nodes join under 3 DaemonSets',
  c: '(c) image rollout, maxUnavailable 10 %',
};

export function shapeOf(results: BenchResults, kind: SystemKind, shape: ShapeName): ShapeResult | undefined {
  return results.systems.find((s) => s.kind === kind)?.shapes.find((r) => r.shape === shape);
}

/** Seconds when converged, else undefined. */
export function convergedSeconds(r: ShapeResult | undefined): number | undefined {
  return r?.status === 'converged' ? r.seconds : undefined;
}

/**
 * The floor a shape is held against: the plain client's time for the same writes, and for (c) at least the
 * rollout's pacing bound (see rolloutPacingBound), since no client can go faster than the rounds allow.
 */
export function effectiveFloor(results: BenchResults, shape: ShapeName): number | undefined {
  const f = results.floor;
  if (!f) return undefined;
  return shape === 'c' && f.rolloutPacing ? Math.max(f.seconds.c, f.rolloutPacing.seconds) : f.seconds[shape];
}

/** daemonless requests per node in a shape, by its own identity (reads, writes). */
export function daemonlessPerNode(r: ShapeResult | undefined): { reads: number; writes: number } | undefined {
  const cost = r?.window?.cost.byIdentity.daemonless;
  if (!r || !cost || r.nodes === 0) return undefined;
  return { reads: cost.reads / r.nodes, writes: cost.writes / r.nodes };
}

export function checkTargets(results: BenchResults): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const n = results.args.nodes;
  const fmt = (x: number | undefined, digits = 2) => (x === undefined ? 'n/a' : x.toFixed(digits));
  for (const shape of ['a', 'b', 'c'] as ShapeName[]) {
    const dl = convergedSeconds(shapeOf(results, 'daemonless', shape));
    const up = convergedSeconds(shapeOf(results, 'upstream', shape));
    const fl = effectiveFloor(results, shape);
    const vsUp = ratio(dl, up);
    const vsFloor = ratio(dl, fl);
    const at1000 = n >= 1000;
    const dlRun = shapeOf(results, 'daemonless', shape);
    const notConverged =
      dlRun && dlRun.status !== 'converged' ? `daemonless did not converge (${dlRun.status}, ${dlRun.satisfiedNodes}/${dlRun.nodes} nodes) at N=${n}` : undefined;
    checks.push({
      target: `${shapeTitles[shape]}: ≤ 0.25× upstream at default QPS (target is for 1,000 nodes)`,
      measured: notConverged ?? `${fmt(vsUp)}× at N=${n}`,
      met: vsUp === undefined || !at1000 ? (dl === undefined && up !== undefined ? false : null) : vsUp <= 0.25,
    });
    checks.push({
      target: `${shapeTitles[shape]}: within 2× of the plain-client floor${shape === 'c' ? ' (for (c): the pacing bound)' : ''} (target is for 1,000 nodes)`,
      measured: notConverged ?? `${fmt(vsFloor)}× at N=${n}`,
      met: vsFloor === undefined || !at1000 ? (dl === undefined && fl !== undefined ? false : null) : vsFloor <= 2,
    });
  }
  const lat = results.systems.find((s) => s.kind === 'daemonless')?.latency;
  const cost = lat?.window?.cost.byIdentity.daemonless;
  if (lat && cost && lat.samples > 0) {
    const reads = cost.reads / lat.samples;
    const writes = cost.writes / lat.samples;
    const f = lat.window?.functions;
    const nodePath = f
      ? `; of these, the node path (hints naming the node) made ${(f.nodeHinted.apiRequests / lat.samples).toFixed(1)} requests per join ` +
        `incl. ${(f.nodeHinted.created / lat.samples).toFixed(1)} pod creates, the rest is DaemonSet-wide work (status)`
      : '';
    checks.push({
      target: 'API requests per node event ≤ 3 reads plus the necessary writes (everything a join causes, warm)',
      measured: `${reads.toFixed(1)} reads + ${writes.toFixed(1)} writes per node join with ${lat.podsPerNode} DaemonSets${nodePath}`,
      met: reads <= 3,
    });
  }
  const cold = results.coldStart?.results;
  const base = cold?.find((c) => c.kind === 'baseline');
  if (cold && base) {
    const worst = cold.filter((c) => c.kind === 'function' && c.mode === 'http').sort((x, y) => y.medianMs - x.medianMs)[0];
    if (worst) {
      const r = worst.medianMs / base.medianMs;
      checks.push({
        target: 'cold start ≤ 1.3× the plain-fetch hono bundle',
        measured: `${r.toFixed(2)}× (slowest: ${worst.name}, ${worst.medianMs.toFixed(0)} ms vs ${base.medianMs.toFixed(0)} ms)`,
        met: r <= 1.3,
      });
    }
  }
  return checks;
}

/** True when daemonless was not a healthy system in this run: a shape did not converge, or latency samples went missing. */
export function daemonlessOverloaded(results: BenchResults): boolean {
  const dl = results.systems.find((s) => s.kind === 'daemonless');
  if (!dl) return false;
  return dl.shapes.some((r) => r.status !== 'converged') || (dl.latency?.missing ?? 0) > 0;
}
