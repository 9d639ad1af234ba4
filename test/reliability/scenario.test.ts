/** Scenarios are a pure function of their seed, and every action refers to something that exists when it runs. */
import { describe, expect, it } from 'vitest';
import { createRng } from '../../devcluster/reliability/rng.ts';
import { drawPlan } from '../../devcluster/reliability/delivery.ts';
import { generateScenario, type Scenario } from '../../devcluster/reliability/scenario.ts';

/** Replays a scenario on a model of nodes and DaemonSets; returns the first action that names something absent. */
function firstDanglingAction(s: Scenario): string | undefined {
  const nodes = new Set(s.nodes.map((n) => n.id));
  const sets = new Set(s.daemonSets.map((d) => d.id));
  for (const { action } of s.steps) {
    if ('node' in action && !nodes.has(action.node)) return `${action.kind} ${action.node}`;
    if ('daemonSet' in action && typeof action.daemonSet === 'string' && !sets.has(action.daemonSet)) return `${action.kind} ${action.daemonSet}`;
    if (action.kind === 'addNodes') for (const n of action.nodes) nodes.add(n.id);
    if (action.kind === 'deleteNode') nodes.delete(action.node);
    if (action.kind === 'createDaemonSet') sets.add(action.daemonSet.id);
    if (action.kind === 'deleteDaemonSet') sets.delete(action.daemonSet);
  }
  return undefined;
}

describe('generateScenario', () => {
  it('is a pure function of the seed', () => {
    expect(generateScenario(42)).toEqual(generateScenario(42));
    expect(generateScenario(42)).not.toEqual(generateScenario(43));
    expect(drawPlan(createRng(7))).toEqual(drawPlan(createRng(7)));
  });

  it('over 2,000 seeds: only valid references, sizes within bounds, and every kind of action drawn', () => {
    const kinds = new Set<string>();
    for (let seed = 1; seed <= 2_000; seed++) {
      const s = generateScenario(seed);
      expect(firstDanglingAction(s), `seed ${seed}`).toBeUndefined();
      expect(s.nodes.length).toBeGreaterThanOrEqual(2);
      expect(s.nodes.length).toBeLessThanOrEqual(4);
      expect(s.steps.length).toBeLessThanOrEqual(10);
      for (const step of s.steps) kinds.add(step.action.kind);
      // Never a switch between surge and no surge (the checker's per-node limit depends on it).
      for (const { action } of s.steps) if (action.kind === 'setStrategy' && action.strategy.type === 'RollingUpdate') expect(action.strategy.maxSurge).toBe(0);
    }
    expect([...kinds].sort()).toEqual(
      ['addNodes', 'cordon', 'createDaemonSet', 'deleteDaemonSet', 'deletePod', 'deleteNode', 'failPod', 'setImage', 'setRole', 'setStrategy', 'taint', 'untaint'].sort(),
    );
  });

  it('draws surge, maxUnavailable and OnDelete strategies and rollbacks', () => {
    const strategies = new Set<string>();
    let rollbacks = 0;
    for (let seed = 1; seed <= 500; seed++) {
      const s = generateScenario(seed);
      for (const d of s.daemonSets) strategies.add(d.strategy.type === 'OnDelete' ? 'OnDelete' : d.strategy.maxSurge > 0 ? 'surge' : 'unavailable');
      const version = new Map(s.daemonSets.map((d) => [d.id, 1]));
      for (const { action } of s.steps) {
        if (action.kind !== 'setImage') continue;
        if (action.version < (version.get(action.daemonSet) ?? 1)) rollbacks += 1;
        version.set(action.daemonSet, action.version);
      }
    }
    expect([...strategies].sort()).toEqual(['OnDelete', 'surge', 'unavailable']);
    expect(rollbacks).toBeGreaterThan(10);
  });
});
