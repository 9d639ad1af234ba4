/**
 * Seeded scenarios for the randomized delivery trials (pure: seed → plan; devcluster/reliability/driver.ts carries
 * one out against the cluster). A scenario starts a few nodes and one or two DaemonSets, then applies a short,
 * random sequence of the changes a cluster sees: nodes joining and leaving, taints (NoSchedule, NoExecute), label
 * flips that move a node in and out of a DaemonSet's nodeSelector, cordons, pod failures and deletions, DaemonSet
 * creates, edits (image → a rolling update, or a rollback to an earlier image), strategy changes and deletes.
 *
 * Nodes and DaemonSets are named by logical ids (`n0`, `a`); the driver maps them to the real, unique names.
 */
import { createRng, type Rng } from './rng.ts';

export type TaintEffect = 'NoSchedule' | 'NoExecute';

export type Strategy =
  | { type: 'RollingUpdate'; maxUnavailable: number; maxSurge: number }
  | { type: 'OnDelete' };

export interface DaemonSetPlan {
  /** Logical id: `a`, `b`, … (a DaemonSet deleted and created again keeps its id, and gets a new UID). */
  id: string;
  strategy: Strategy;
  /** Its nodeSelector also asks for the role label, which label flips move on and off nodes. */
  needsRole: boolean;
  /** Tolerates the trial's taint (both effects). */
  toleratesTaint: boolean;
  /** Image tag `agent:<version>`. */
  version: number;
}

export interface NodePlan {
  id: string;
  role: boolean;
  taint?: TaintEffect;
}

export type Action =
  | { kind: 'addNodes'; nodes: NodePlan[] }
  | { kind: 'deleteNode'; node: string }
  | { kind: 'taint'; node: string; effect: TaintEffect }
  | { kind: 'untaint'; node: string }
  | { kind: 'setRole'; node: string; on: boolean }
  | { kind: 'cordon'; node: string; on: boolean }
  | { kind: 'failPod'; node: string; daemonSet: string }
  | { kind: 'deletePod'; node: string; daemonSet: string }
  | { kind: 'createDaemonSet'; daemonSet: DaemonSetPlan }
  | { kind: 'setImage'; daemonSet: string; version: number }
  | { kind: 'setStrategy'; daemonSet: string; strategy: Strategy }
  | { kind: 'deleteDaemonSet'; daemonSet: string }
  /** Waits until everything has converged (hand-written scenarios: e.g. a rollout that starts from a settled state). */
  | { kind: 'settle'; timeoutMs: number };

export interface Step {
  /** Pause before the action, ms. */
  afterMs: number;
  action: Action;
}

export interface Scenario {
  seed: number;
  nodes: NodePlan[];
  daemonSets: DaemonSetPlan[];
  steps: Step[];
}

export interface ScenarioOptions {
  /** Initial nodes: [min, max]. Default [2, 4]. */
  nodes?: [number, number];
  /** Actions after the start: [min, max]. Default [4, 10]. */
  actions?: [number, number];
  /** Longest pause between two actions, ms. Default 400. */
  maxPauseMs?: number;
  /** At most this many nodes at once. Default 6. */
  maxNodes?: number;
}

/** How often each kind is drawn (relative weights); a kind whose preconditions do not hold is drawn again. */
const weights: Record<Action['kind'], number> = {
  setImage: 6,
  failPod: 4,
  deletePod: 3,
  addNodes: 3,
  deleteNode: 2,
  taint: 3,
  untaint: 2,
  setRole: 3,
  cordon: 1,
  setStrategy: 1,
  createDaemonSet: 1,
  deleteDaemonSet: 1,
  settle: 0,
};

export function generateScenario(seed: number, options: ScenarioOptions = {}): Scenario {
  const rng = createRng(seed);
  const [minNodes, maxNodes0] = options.nodes ?? [2, 4];
  const [minActions, maxActions] = options.actions ?? [4, 10];
  const maxPauseMs = options.maxPauseMs ?? 400;
  const maxNodes = options.maxNodes ?? 6;

  let nodeCounter = 0;
  const newNode = (): NodePlan => {
    const node: NodePlan = { id: `n${nodeCounter++}`, role: rng.chance(0.75) };
    if (rng.chance(0.15)) node.taint = rng.pick(['NoSchedule', 'NoExecute'] as const);
    return node;
  };
  const dsIds = ['a', 'b', 'c'];
  const newDaemonSet = (id: string): DaemonSetPlan => ({
    id,
    strategy: drawStrategy(rng),
    needsRole: rng.chance(0.5),
    toleratesTaint: rng.chance(0.3),
    version: 1,
  });

  const nodes = Array.from({ length: rng.int(minNodes, maxNodes0) }, newNode);
  const daemonSets = Array.from({ length: rng.int(1, 2) }, (_, i) => newDaemonSet(dsIds[i]!));

  // The model the generator keeps, so that every action refers to something that exists when it runs.
  const live = new Map(nodes.map((n) => [n.id, { ...n, cordoned: false }]));
  const sets = new Map(daemonSets.map((d) => [d.id, { ...d }]));
  const steps: Step[] = [];
  const count = rng.int(minActions, maxActions);
  const kinds = Object.entries(weights) as [Action['kind'], number][];
  const total = kinds.reduce((s, [, w]) => s + w, 0);
  const drawKind = (): Action['kind'] => {
    let x = rng.next() * total;
    for (const [kind, w] of kinds) if ((x -= w) < 0) return kind;
    return kinds[0]![0];
  };

  for (let attempts = 0; steps.length < count && attempts < count * 20; attempts++) {
    const action = draw(drawKind());
    if (action) steps.push({ afterMs: rng.int(0, maxPauseMs), action });
  }
  return { seed, nodes, daemonSets, steps };

  function draw(kind: Action['kind']): Action | undefined {
    const nodeIds = [...live.keys()];
    const dsList = [...sets.keys()];
    switch (kind) {
      case 'addNodes': {
        if (live.size >= maxNodes) return undefined;
        const added = Array.from({ length: rng.int(1, Math.min(2, maxNodes - live.size)) }, newNode);
        for (const n of added) live.set(n.id, { ...n, cordoned: false });
        return { kind, nodes: added };
      }
      case 'deleteNode': {
        if (live.size <= 1) return undefined;
        const node = rng.pick(nodeIds);
        live.delete(node);
        return { kind, node };
      }
      case 'taint': {
        const node = rng.pick(nodeIds);
        const effect = rng.pick(['NoSchedule', 'NoExecute'] as const);
        live.get(node)!.taint = effect;
        return { kind, node, effect };
      }
      case 'untaint': {
        const tainted = nodeIds.filter((id) => live.get(id)!.taint);
        if (tainted.length === 0) return undefined;
        const node = rng.pick(tainted);
        delete live.get(node)!.taint;
        return { kind, node };
      }
      case 'setRole': {
        const node = rng.pick(nodeIds);
        const state = live.get(node)!;
        state.role = !state.role;
        return { kind, node, on: state.role };
      }
      case 'cordon': {
        const node = rng.pick(nodeIds);
        const state = live.get(node)!;
        state.cordoned = !state.cordoned;
        return { kind, node, on: state.cordoned };
      }
      case 'failPod':
      case 'deletePod': {
        if (dsList.length === 0) return undefined;
        return { kind, node: rng.pick(nodeIds), daemonSet: rng.pick(dsList) };
      }
      case 'createDaemonSet': {
        const free = dsIds.filter((id) => !sets.has(id));
        if (free.length === 0) return undefined;
        const ds = newDaemonSet(free[0]!);
        sets.set(ds.id, ds);
        return { kind, daemonSet: { ...ds } };
      }
      case 'setImage': {
        if (dsList.length === 0) return undefined;
        const id = rng.pick(dsList);
        const ds = sets.get(id)!;
        // Mostly a new image (a rolling update); sometimes back to an earlier one (a rollback).
        const version = ds.version > 1 && rng.chance(0.25) ? rng.int(1, ds.version - 1) : ds.version + 1;
        ds.version = Math.max(ds.version, version);
        return { kind, daemonSet: id, version };
      }
      case 'setStrategy': {
        // Only between strategies that never allow two pods on a node: a change from or to surge mid-rollout would
        // make "one pod per node" ambiguous for the checker.
        const candidates = dsList.filter((id) => sets.get(id)!.strategy.type === 'OnDelete' || (sets.get(id)!.strategy as { maxSurge: number }).maxSurge === 0);
        if (candidates.length === 0) return undefined;
        const id = rng.pick(candidates);
        const strategy: Strategy = rng.chance(0.4) ? { type: 'OnDelete' } : { type: 'RollingUpdate', maxUnavailable: rng.int(1, 2), maxSurge: 0 };
        sets.get(id)!.strategy = strategy;
        return { kind, daemonSet: id, strategy };
      }
      case 'settle':
        return undefined;
      case 'deleteDaemonSet': {
        if (dsList.length <= 1) return undefined;
        const id = rng.pick(dsList);
        sets.delete(id);
        return { kind, daemonSet: id };
      }
    }
  }
}

function drawStrategy(rng: Rng): Strategy {
  const x = rng.next();
  if (x < 0.5) return { type: 'RollingUpdate', maxUnavailable: rng.int(1, 2), maxSurge: 0 };
  if (x < 0.75) return { type: 'RollingUpdate', maxUnavailable: 0, maxSurge: rng.int(1, 2) };
  return { type: 'OnDelete' };
}

/** One line per step, for logs and the report's failing seeds. */
export function describeScenario(s: Scenario): string {
  const ds = s.daemonSets.map((d) => `${d.id}:${strategyText(d.strategy)}${d.needsRole ? ',role' : ''}${d.toleratesTaint ? ',tolerates' : ''}`);
  const nodes = s.nodes.map((n) => `${n.id}${n.role ? '+role' : ''}${n.taint ? `+${n.taint}` : ''}`);
  const steps = s.steps.map(({ afterMs, action }) => `+${afterMs}ms ${actionText(action)}`);
  return [`seed ${s.seed}: nodes ${nodes.join(' ')}; daemonsets ${ds.join(' ')}`, ...steps.map((l) => `  ${l}`)].join('\n');
}

export function strategyText(s: Strategy): string {
  return s.type === 'OnDelete' ? 'OnDelete' : `RollingUpdate(maxUnavailable ${s.maxUnavailable}, maxSurge ${s.maxSurge})`;
}

export function actionText(a: Action): string {
  switch (a.kind) {
    case 'addNodes':
      return `add ${a.nodes.map((n) => `${n.id}${n.role ? '+role' : ''}${n.taint ? `+${n.taint}` : ''}`).join(' ')}`;
    case 'deleteNode':
    case 'untaint':
      return `${a.kind} ${a.node}`;
    case 'taint':
      return `taint ${a.node} ${a.effect}`;
    case 'setRole':
      return `${a.on ? 'label' : 'unlabel'} ${a.node} role`;
    case 'cordon':
      return `${a.on ? 'cordon' : 'uncordon'} ${a.node}`;
    case 'failPod':
    case 'deletePod':
      return `${a.kind} ${a.daemonSet}@${a.node}`;
    case 'createDaemonSet':
      return `create ${a.daemonSet.id} ${strategyText(a.daemonSet.strategy)}`;
    case 'setImage':
      return `image ${a.daemonSet} → agent:${a.version}`;
    case 'setStrategy':
      return `strategy ${a.daemonSet} → ${strategyText(a.strategy)}`;
    case 'deleteDaemonSet':
      return `delete ${a.daemonSet}`;
    case 'settle':
      return 'wait until converged';
  }
}
