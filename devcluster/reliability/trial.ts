/**
 * One randomized trial on a running system: its own nodes and DaemonSets (named by a trial id, so trials can share
 * a control plane and even run side by side), a checker fed by watches from before the first object is created,
 * the scenario's actions, then a wait for convergence, then cleanup. Events reach the functions only through the
 * run's Delivery (audit webhook off), configured from the trial's seed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig, V1DaemonSet } from '@kubernetes/client-node';
import { CoreV1Api } from '@kubernetes/client-node';
import { ConflictError } from '../../src/errors.ts';
import { addNodes, addTaint, deleteNode, failPod, removeTaint, setLabels } from '../simulator/nodes.ts';
import { mergePatch, pooledKubeConfig } from '../simulator/client.ts';
import type { DaemonSets } from '../daemonsets.ts';
import { InvariantChecker, isLive, targetNode, type Violation } from './checker.ts';
import type { Delivery, DeliveryPlan } from './delivery.ts';
import { startFeed } from './feed.ts';
import { actionText, describeScenario, type Action, type DaemonSetPlan, type NodePlan, type Scenario, type Strategy } from './scenario.ts';

export const TRIAL_LABEL = 'reliability.daemonless.dev/trial';
export const ROLE_LABEL = 'reliability.daemonless.dev/role';
export const TAINT_KEY = 'reliability.daemonless.dev/taint';

export interface TrialOptions {
  kc: KubeConfig;
  namespace: string;
  delivery: Delivery;
  /** The kind of DaemonSet to create (the cluster mode's: daemonsets.ts). */
  daemonSets: DaemonSets;
  plan: DeliveryPlan;
  /** Checker allowances (see checker.ts). */
  evictionAllowanceMs: number;
  graceMs: number;
  /** Longest wait for convergence after the last action. */
  convergeTimeoutMs: number;
  log?: (line: string) => void;
  /** Runs after the last action, before the wait for convergence (e.g. a kube-apiserver restart mid-rollout). */
  midway?: () => Promise<unknown>;
}

export interface TrialResult {
  seed: number;
  id: string;
  scenario: string;
  plan: DeliveryPlan;
  actions: number;
  /** Actions that found nothing to act on (e.g. no live pod to fail on that node). */
  skipped: number;
  converged: boolean;
  /** From the last action to convergence (ms), or the timeout. */
  convergeMs: number;
  /**
   * From the last action or the last event of the trial that was dropped, whichever came later, to convergence (ms):
   * a lost event can only be healed by a resync after it (events keep coming after the last action: a pod's Ready).
   */
  healMs: number;
  notConverged?: string;
  violations: Violation[];
  podEvents: number;
  pods: number;
  /** Rollout writes excused because the state they contradict was younger than the grace (checker.ts). */
  excused: { budget: number; surge: number };
  feed: { events: number; late: number; gaps: number };
  durationMs: number;
}

/** Keeps ids of trials started in the same millisecond (the same seed run twice at once) apart. */
let trialCounter = 0;

export function daemonSetName(trial: string, id: string): string {
  return `${trial}-${id}`;
}

export function buildDaemonSet(namespace: string, trial: string, plan: DaemonSetPlan): V1DaemonSet {
  const name = daemonSetName(trial, plan.id);
  const labels = { app: name, [TRIAL_LABEL]: trial };
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name, namespace, labels },
    spec: {
      selector: { matchLabels: { app: name } },
      updateStrategy: strategySpec(plan.strategy),
      template: {
        metadata: { labels },
        spec: {
          nodeSelector: { [TRIAL_LABEL]: trial, ...(plan.needsRole ? { [ROLE_LABEL]: 'agent' } : {}) },
          ...(plan.toleratesTaint ? { tolerations: [{ key: TAINT_KEY, operator: 'Exists' }] } : {}),
          terminationGracePeriodSeconds: 1,
          containers: [{ name: 'agent', image: imageFor(plan.version) }],
        },
      },
    },
  };
}

const imageFor = (version: number) => `registry.example/agent:${version}`;

function strategySpec(s: Strategy): V1DaemonSet['spec'] extends infer T ? (T extends { updateStrategy?: infer U } ? U : never) : never {
  return s.type === 'OnDelete' ? { type: 'OnDelete' } : { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: s.maxUnavailable, maxSurge: s.maxSurge } };
}

/** Runs one trial. Never throws for what the cluster does; a scenario step the API refuses is logged and skipped. */
export async function runTrial(scenario: Scenario, options: TrialOptions): Promise<TrialResult> {
  const started = Date.now();
  const kc = pooledKubeConfig(options.kc);
  const core = kc.makeApiClient(CoreV1Api);
  const { namespace, daemonSets } = options;
  const log = options.log ?? (() => {});
  const id = `t${scenario.seed.toString(36)}-${(Date.now() + trialCounter++).toString(36).slice(-4)}`;
  const external = new Set<string>();
  const checker = new InvariantChecker({ evictionAllowanceMs: options.evictionAllowanceMs, graceMs: options.graceMs, isExternal: (uid) => external.has(uid) });
  let changed: () => void = () => {};
  const feed = startFeed(checker, {
    kc,
    namespace,
    nodeSelector: `${TRIAL_LABEL}=${id}`,
    objectSelector: `${TRIAL_LABEL}=${id}`,
    daemonSets,
    barrierId: id,
    onChange: () => changed(),
  });
  await feed.synced;
  options.delivery.configure(id, options.plan, scenario.seed);

  const nodeNames = new Map<string, string>();
  let skipped = 0;
  const addPlanned = async (planned: NodePlan[]) => {
    const groups = new Map<string, NodePlan[]>();
    for (const n of planned) {
      const key = `${n.role}|${n.taint ?? ''}`;
      groups.set(key, [...(groups.get(key) ?? []), n]);
    }
    for (const group of groups.values()) {
      const { role, taint } = group[0]!;
      const names = await addNodes(kc, group.length, {
        namePrefix: id,
        labels: { [TRIAL_LABEL]: id, ...(role ? { [ROLE_LABEL]: 'agent' } : {}) },
        ...(taint ? { taints: [{ key: TAINT_KEY, value: 'x', effect: taint }] } : {}),
      });
      group.forEach((n, i) => nodeNames.set(n.id, names[i]!));
    }
  };
  const node = (logical: string) => nodeNames.get(logical)!;
  const pods = async (ds: string, logicalNode: string) => {
    const list = await core.listNamespacedPod({ namespace, labelSelector: `app=${daemonSetName(id, ds)}` });
    return list.items.filter((p) => targetNode(p) === node(logicalNode) && isLive(p));
  };

  const act = async (action: Action): Promise<void> => {
    switch (action.kind) {
      case 'addNodes':
        return addPlanned(action.nodes);
      case 'deleteNode':
        await deleteNode(kc, node(action.node));
        return;
      case 'taint':
        await removeTaint(kc, node(action.node), TAINT_KEY);
        await addTaint(kc, node(action.node), { key: TAINT_KEY, value: 'x', effect: action.effect });
        return;
      case 'untaint':
        return removeTaint(kc, node(action.node), TAINT_KEY);
      case 'setRole':
        return setLabels(kc, node(action.node), { [ROLE_LABEL]: action.on ? 'agent' : null });
      case 'cordon':
        await core.patchNode({ name: node(action.node), body: { spec: { unschedulable: action.on ? true : null } } }, mergePatch);
        return;
      case 'failPod':
      case 'deletePod': {
        const found = await pods(action.daemonSet, action.node);
        if (found.length === 0) {
          skipped += 1;
          return;
        }
        const pod = found[0]!;
        external.add(pod.metadata!.uid!);
        if (action.kind === 'failPod') await failPod(kc, namespace, pod.metadata!.name!);
        else await core.deleteNamespacedPod({ namespace, name: pod.metadata!.name! });
        return;
      }
      case 'createDaemonSet':
        for (let attempt = 1; ; attempt++) {
          try {
            await daemonSets.create(namespace, buildDaemonSet(namespace, id, action.daemonSet));
            return;
          } catch (error) {
            // The predecessor of the same name may still be going away.
            if (!(error instanceof ConflictError) || attempt >= 20) throw error;
            await sleep(250);
          }
        }
      case 'setImage':
        await daemonSets.mergePatch(namespace, daemonSetName(id, action.daemonSet), { spec: { template: { spec: { containers: [{ name: 'agent', image: imageFor(action.version) }] } } } });
        return;
      case 'setStrategy':
        await daemonSets.mergePatch(namespace, daemonSetName(id, action.daemonSet), {
          spec: { updateStrategy: action.strategy.type === 'OnDelete' ? { type: 'OnDelete', rollingUpdate: null } : strategySpec(action.strategy) },
        });
        return;
      case 'deleteDaemonSet':
        await daemonSets.delete(namespace, daemonSetName(id, action.daemonSet));
        return;
      case 'settle':
        await feed.barrier();
        await waitConverged(action.timeoutMs);
        return;
    }
  };
  /** Resolves true once the checker sees everything converged, judged after every released change; false at the deadline. */
  const waitConverged = (timeoutMs: number) =>
    new Promise<boolean>((resolve) => {
      let settled = false;
      const finish = (value: boolean) => {
        if (settled) return;
        settled = true;
        clearInterval(timer);
        clearTimeout(timeout);
        changed = () => {};
        resolve(value);
      };
      const check = () => {
        if (checker.notConverged() === undefined) finish(true);
      };
      const timer = setInterval(check, 250);
      const timeout = setTimeout(() => finish(checker.notConverged() === undefined), Math.max(0, timeoutMs));
      changed = check;
      check();
    });

  let lastAction = Date.now();
  try {
    await addPlanned(scenario.nodes);
    for (const ds of scenario.daemonSets) await act({ kind: 'createDaemonSet', daemonSet: ds });
    for (const step of scenario.steps) {
      await sleep(step.afterMs);
      try {
        await act(step.action);
      } catch (error) {
        skipped += 1;
        log(`trial ${id} (seed ${scenario.seed}): ${actionText(step.action)} failed: ${String(error).slice(0, 200)}`);
      }
    }
    lastAction = Date.now();

    // Convergence, judged on the watched state after every change — once the feed has caught up with the last action.
    await feed.barrier();
    if (options.midway) await options.midway();
    const converged = await waitConverged(lastAction + options.convergeTimeoutMs - Date.now());
    const settledAt = Date.now();
    const convergeMs = settledAt - lastAction;
    const healMs = settledAt - Math.max(lastAction, options.delivery.lastDrop(id) ?? 0);
    const notConverged = converged ? undefined : checker.notConverged();
    if (!converged) log(`trial ${id} (seed ${scenario.seed}) did not converge in ${options.convergeTimeoutMs} ms: ${notConverged}\n${describeScenario(scenario)}`);
    return {
      seed: scenario.seed,
      id,
      scenario: describeScenario(scenario),
      plan: options.plan,
      actions: scenario.steps.length,
      skipped,
      converged,
      convergeMs,
      healMs,
      ...(notConverged ? { notConverged } : {}),
      violations: checker.violations,
      podEvents: checker.podEvents,
      pods: checker.podsSeen.size,
      excused: { ...checker.excused },
      feed: feed.stats,
      durationMs: 0,
    };
  } finally {
    changed = () => {};
    feed.stop();
    options.delivery.release(id);
    await cleanup(kc, daemonSets, namespace, id, [...nodeNames.values()]).catch((error: unknown) => log(`trial ${id}: cleanup failed: ${String(error)}`));
  }
}

/** Deletes the trial's DaemonSets, its pods (grace 0: a pod left on a deleted node would stay Terminating) and nodes. */
export async function cleanup(kc: KubeConfig, daemonSets: DaemonSets, namespace: string, id: string, nodes: string[]): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const selector = `${TRIAL_LABEL}=${id}`;
  await core.deleteNamespacedConfigMap({ namespace, name: `barrier-${id}` }).catch(() => undefined);
  await daemonSets.deleteCollection(namespace, selector);
  await core.deleteCollectionNamespacedPod({ namespace, labelSelector: selector, gracePeriodSeconds: 0 });
  await Promise.all(nodes.map((n) => deleteNode(kc, n).catch(() => false)));
}
