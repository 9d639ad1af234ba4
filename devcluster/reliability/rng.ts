/**
 * A seeded random source for the reliability trials: the same seed draws the same scenario and the same delivery
 * decisions (which events are duplicated, delayed, dropped, by which sender). Timing on a real control plane is not
 * reproducible; the draws are.
 */
import { seededRandom } from '../faults/rules.ts';

export interface Rng {
  /** [0, 1) */
  next(): number;
  /** An integer in [min, max]. */
  int(min: number, max: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  /** A new array, Fisher–Yates shuffled. */
  shuffle<T>(items: readonly T[]): T[];
  /** An independent generator derived from this one (for a sub-stream that must not shift the parent's draws). */
  fork(label: string): Rng;
}

export function createRng(seed: number): Rng {
  const next = seededRandom(seed);
  const rng: Rng = {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    chance: (p) => next() < p,
    pick: (items) => {
      if (items.length === 0) throw new RangeError('pick from an empty list');
      return items[Math.floor(next() * items.length)]!;
    },
    shuffle: (items) => {
      const out = [...items];
      for (let i = out.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [out[i], out[j]] = [out[j]!, out[i]!];
      }
      return out;
    },
    fork: (label) => createRng(mix(seed, label)),
  };
  return rng;
}

/** FNV-1a of the label folded into the seed: a stable, distinct sub-seed per label. */
export function mix(seed: number, label: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}
