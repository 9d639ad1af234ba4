/** Small statistics for benchmark samples. Pure. */

/** Linear interpolation between closest ranks (the "R-7" definition spreadsheets use); undefined for no samples. */
export function percentile(samples: readonly number[], p: number): number | undefined {
  if (samples.length === 0) return undefined;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (rank - lo);
}

export const median = (samples: readonly number[]): number | undefined => percentile(samples, 50);

export function mean(samples: readonly number[]): number | undefined {
  return samples.length === 0 ? undefined : samples.reduce((s, x) => s + x, 0) / samples.length;
}

export interface Summary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  min: number;
  max: number;
  mean: number;
}

export function summarize(samples: readonly number[]): Summary | undefined {
  if (samples.length === 0) return undefined;
  return {
    n: samples.length,
    p50: percentile(samples, 50) as number,
    p95: percentile(samples, 95) as number,
    p99: percentile(samples, 99) as number,
    min: Math.min(...samples),
    max: Math.max(...samples),
    mean: mean(samples) as number,
  };
}

/** `a / b`, or undefined when either is missing or b is 0. */
export function ratio(a: number | undefined | null, b: number | undefined | null): number | undefined {
  if (a === undefined || a === null || b === undefined || b === null || b === 0) return undefined;
  return a / b;
}

/** Rounds to `digits` decimals (for JSON and tables). */
export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
