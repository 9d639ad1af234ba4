/**
 * The three convergence shapes, the warm latency samples and the plain-client floor. Each measurement is bracketed by
 * two scrapes of the API server's metrics (and, for daemonless, a window of the functions log), so its API cost comes
 * from the same run.
 *
 *   (b) N nodes join at once under M = 3 existing DaemonSets     trigger: the first node create
 *   (a) the reference DaemonSet, unchanged, on the N nodes         trigger: the DaemonSet create
 *   (c) an image rollout of that DaemonSet, maxUnavailable 10 %    trigger: the image patch
 *
 * Converged = every node in the shape has exactly one pod of each DaemonSet, Ready, of the wanted image (and no
 * other pod of that DaemonSet, terminating ones included). Run in the order b, a, c on one control plane per system.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { cpuSeconds, cpuSnapshot, type CpuGroup } from './cpu.ts';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AppsV1Api,
  CoreV1Api,
  PatchStrategy,
  loadYaml,
  setHeaderOptions,
  type KubeConfig,
  type V1DaemonSet,
  type V1Pod,
} from '@kubernetes/client-node';
import { repoRoot } from '../../devcluster/paths.ts';
import { clientsFor } from '../../devcluster/simulator/client.ts';
import { mapLimit } from '../../devcluster/simulator/limiter.ts';
import { addNodes, setNodeReady } from '../../devcluster/simulator/nodes.ts';
import { SimulatorEnvSchema } from '../../devcluster/simulator/config.ts';
import { apiCost, scrapeMetrics, type ApiCost, type MetricsSnapshot } from './apf.ts';
import { logOffset, readFunctionsWindow, type FunctionsWindow } from './functions-log.ts';
import { lambdaWindow, scrapeLambdaStats, type LambdaWindow } from './lambda-stats.ts';
import { hasNotReadyTaint, stages, waitConverged, type Observer, type PodSeen, type Stages } from './observer.ts';
import { summarize, type Summary } from './stats.ts';
import type { RunningSystem } from './systems.ts';

export const NAMESPACE = 'kube-system';
export const FIXTURE = join(repoRoot, 'test', 'fixtures', 'fluentd-elasticsearch.yaml');
export const M = 3;
export const ROLLOUT_IMAGE = 'k8s.gcr.io/fluentd-elasticsearch:1.21';
export const ROLLING_UPDATE = { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '10%', maxSurge: 0 } } as const;
const BATCH_LABEL = 'bench.daemonless.dev/batch';

export type ShapeName = 'a' | 'b' | 'c';
export type Status = 'converged' | 'stalled' | 'timeout' | 'failed';

export interface Window {
  cost: ApiCost;
  functions?: FunctionsWindow;
  /** Lambda runtime: the local Lambda service's counters over the window. */
  lambda?: LambdaWindow;
  /** CPU seconds by component over the window (bench/lib/cpu.ts). */
  cpu?: Partial<Record<CpuGroup, number>>;
  seconds: number;
}

export interface ShapeResult {
  shape: ShapeName;
  nodes: number;
  daemonSets: number;
  status: Status;
  /** Trigger → converged (or → given up). */
  seconds: number;
  satisfiedNodes: number;
  /** (b) only: when the last node create returned. */
  nodesRegisteredSeconds?: number;
  /** The shape's new pods: when the last was created, bound, Ready (seconds after the trigger). */
  stages?: Stages;
  /** The machine's 1-minute load average when the shape started (2 cores, shared). */
  loadAverage?: number;
  error?: string;
  window?: Window;
}

export interface BenchContext {
  system: RunningSystem;
  observer: Observer;
  nodes: number;
  stallMs: number;
  /** After convergence, how long trailing requests (status writes) are still counted. */
  settleMs: number;
  /** See waitConverged: moves while the system under test is working. */
  activity?: () => number;
  log: (line: string) => void;
}

const jsonPatch = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export function fixture(): V1DaemonSet {
  return loadYaml<V1DaemonSet>(readFileSync(FIXTURE, 'utf8'));
}

/** A copy of the fixture with its own name, selector and labels. */
export function fixtureCopy(name: string): V1DaemonSet {
  const ds = fixture();
  ds.metadata = { ...ds.metadata, name, labels: { 'k8s-app': name } };
  ds.spec!.selector = { matchLabels: { name } };
  ds.spec!.template.metadata = { ...ds.spec!.template.metadata, labels: { name } };
  return ds;
}

/** Opens a measurement window: metrics (and functions log offset) now; `close` scrapes again after `settleMs`. */
export async function openWindow(ctx: BenchContext): Promise<{ close: () => Promise<Window>; load: number }> {
  const before: MetricsSnapshot = await scrapeMetrics(ctx.system.server, ctx.system.tls);
  const logFile = ctx.system.functionsLog;
  const offset = logFile ? logOffset(logFile) : 0;
  const invokeUrl = ctx.system.lambda?.invokeUrl;
  const lambdaBefore = invokeUrl ? await scrapeLambdaStats(invokeUrl) : undefined;
  const cpuBefore = cpuSnapshot();
  return {
    load: loadavg()[0] ?? 0,
    close: async () => {
      await sleep(ctx.settleMs);
      const after = await scrapeMetrics(ctx.system.server, ctx.system.tls);
      const lambdaAfter = invokeUrl ? await scrapeLambdaStats(invokeUrl) : undefined;
      const cpu = cpuSeconds(cpuBefore, cpuSnapshot());
      return {
        cost: apiCost(before, after),
        ...(logFile ? { functions: readFunctionsWindow(logFile, offset) } : {}),
        ...(lambdaBefore && lambdaAfter ? { lambda: lambdaWindow(lambdaBefore, lambdaAfter) } : {}),
        cpu,
        seconds: (after.at - before.at) / 1000,
      };
    },
  };
}

const secondsSince = (t0: number, t1: number) => Math.max(0, (t1 - t0) / 1000);

/** Adds `count` simulated nodes and waits until the simulator made them schedulable (not-ready taint gone). */
export async function addSchedulableNodes(ctx: BenchContext, count: number, batch: string): Promise<string[]> {
  const names = await addNodes(ctx.system.kc, count, { namePrefix: batch, labels: { [BATCH_LABEL]: batch }, concurrency: 24 });
  const end = performance.now() + 60_000 + count * 200;
  for (;;) {
    const pending = names.filter((n) => {
      const node = ctx.observer.nodes.get(n);
      return !node || hasNotReadyTaint(node);
    });
    if (pending.length === 0) return names;
    if (performance.now() > end) throw new Error(`${pending.length} of ${count} new nodes still not schedulable`);
    await sleep(100);
  }
}

/** (b) N nodes joining at once under M existing DaemonSets. */
export async function shapeJoin(ctx: BenchContext): Promise<{ result: ShapeResult; nodeNames: string[] }> {
  const { apps } = apis(ctx.system.kc);
  const created = await Promise.all(
    Array.from({ length: M }, (_, i) => apps.createNamespacedDaemonSet({ namespace: NAMESPACE, body: fixtureCopy(`bench-ds-${i}`) })),
  );
  // Both systems see the DaemonSets (and write their empty status) before the nodes come.
  await sleep(2_000);
  const window = await openWindow(ctx);
  const t0 = performance.now();
  let names: string[] = [];
  const result: ShapeResult = { shape: 'b', nodes: ctx.nodes, daemonSets: M, status: 'failed', seconds: 0, satisfiedNodes: 0 };
  try {
    names = await addNodes(ctx.system.kc, ctx.nodes, { namePrefix: 'join', labels: { [BATCH_LABEL]: 'join' }, concurrency: 24 });
    result.nodesRegisteredSeconds = secondsSince(t0, performance.now());
    const outcome = await waitConverged(
      ctx.observer,
      () => ({ daemonSets: created.map((ds) => ({ uid: ds.metadata!.uid! })), nodes: names }),
      { timeoutMs: 60_000 + ctx.nodes * 600, stallMs: ctx.stallMs, ...(ctx.activity ? { activity: ctx.activity } : {}) },
    );
    Object.assign(result, { status: outcome.status, seconds: secondsSince(t0, outcome.at), satisfiedNodes: outcome.progress.satisfied });
  } catch (error) {
    result.error = String(error);
  }
  const st = stages(ctx.observer.podTimes.values(), t0, created.map((ds) => ({ uid: ds.metadata!.uid! })));
  if (st) result.stages = st;
  result.loadAverage = window.load;
  result.window = await window.close();
  return { result, nodeNames: names };
}

/** (a) the reference DaemonSet, unchanged, on every simulated node. */
/** Adds the simulated nodes the run asks for that the cluster does not have yet (not measured). */
async function ensureNodes(ctx: BenchContext): Promise<void> {
  const have = ctx.observer.nodes.size;
  if (have >= ctx.nodes) return;
  ctx.log(`  adding ${ctx.nodes - have} nodes first (not measured)`);
  await addSchedulableNodes(ctx, ctx.nodes - have, 'base');
  await sleep(2_000);
}

export async function shapeNewDaemonSet(ctx: BenchContext): Promise<{ result: ShapeResult; uid?: string }> {
  await ensureNodes(ctx);
  const { apps } = apis(ctx.system.kc);
  const nodes = [...ctx.observer.nodes.keys()];
  const result: ShapeResult = { shape: 'a', nodes: nodes.length, daemonSets: 1, status: 'failed', seconds: 0, satisfiedNodes: 0 };
  const window = await openWindow(ctx);
  const t0 = performance.now();
  let uid: string | undefined;
  try {
    const ds = await apps.createNamespacedDaemonSet({ namespace: NAMESPACE, body: fixture() });
    uid = ds.metadata!.uid!;
    const outcome = await waitConverged(ctx.observer, () => ({ daemonSets: [{ uid: uid! }], nodes }), {
      timeoutMs: 60_000 + ctx.nodes * 300,
      stallMs: ctx.stallMs,
      ...(ctx.activity ? { activity: ctx.activity } : {}),
    });
    Object.assign(result, { status: outcome.status, seconds: secondsSince(t0, outcome.at), satisfiedNodes: outcome.progress.satisfied });
  } catch (error) {
    result.error = String(error);
  }
  const st = uid === undefined ? undefined : stages(ctx.observer.podTimes.values(), t0, [{ uid }]);
  if (st) result.stages = st;
  result.loadAverage = window.load;
  result.window = await window.close();
  return { result, ...(uid ? { uid } : {}) };
}

/** (c) an image rollout of the reference DaemonSet with maxUnavailable 10 %, maxSurge 0, the same for both systems. */
export async function shapeRollout(ctx: BenchContext): Promise<ShapeResult> {
  // Run alone (`--only …,c`), the rollout needs the nodes that (a) would have added.
  await ensureNodes(ctx);
  const { apps } = apis(ctx.system.kc);
  const name = fixture().metadata!.name!;
  let ds = await apps.readNamespacedDaemonSet({ name, namespace: NAMESPACE }).catch(() => undefined);
  const nodes = [...ctx.observer.nodes.keys()];
  const result: ShapeResult = { shape: 'c', nodes: nodes.length, daemonSets: 1, status: 'failed', seconds: 0, satisfiedNodes: 0 };
  if (!ds) {
    ctx.log('  creating the reference DaemonSet first (not measured)');
    ds = await apps.createNamespacedDaemonSet({ namespace: NAMESPACE, body: fixture() });
  }
  const uid = ds.metadata!.uid!;
  const before = await waitConverged(ctx.observer, () => ({ daemonSets: [{ uid }], nodes }), {
    timeoutMs: 60_000 + ctx.nodes * 300,
    stallMs: ctx.stallMs,
      ...(ctx.activity ? { activity: ctx.activity } : {}),
  });
  if (before.status !== 'converged') {
    result.error = `the DaemonSet did not converge before the rollout (${before.progress.satisfied}/${before.progress.total})`;
    return result;
  }
  // The strategy is not part of the pod template: no rollout yet.
  await apps.patchNamespacedDaemonSet({ name, namespace: NAMESPACE, body: { spec: { updateStrategy: ROLLING_UPDATE } } }, mergePatch);
  await sleep(2_000);
  const window = await openWindow(ctx);
  const t0 = performance.now();
  try {
    await apps.patchNamespacedDaemonSet(
      { name, namespace: NAMESPACE, body: [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: ROLLOUT_IMAGE }] },
      jsonPatch,
    );
    const outcome = await waitConverged(ctx.observer, () => ({ daemonSets: [{ uid, image: ROLLOUT_IMAGE }], nodes }), {
      timeoutMs: 60_000 + ctx.nodes * 600,
      stallMs: ctx.stallMs,
      ...(ctx.activity ? { activity: ctx.activity } : {}),
    });
    Object.assign(result, { status: outcome.status, seconds: secondsSince(t0, outcome.at), satisfiedNodes: outcome.progress.satisfied });
  } catch (error) {
    result.error = String(error);
  }
  const st = stages(ctx.observer.podTimes.values(), t0, [{ uid, image: ROLLOUT_IMAGE }]);
  if (st) result.stages = st;
  result.loadAverage = window.load;
  result.window = await window.close();
  return result;
}

/** The minReadySeconds rollout (issue 9): 5 nodes of its own, maxUnavailable 1, minReadySeconds 10. */
export const MIN_READY = { nodes: 5, minReadySeconds: 10, name: 'bench-minready' } as const;

export interface MinReadyResult {
  nodes: number;
  minReadySeconds: number;
  status: Status;
  /** Image edit → every pod on the new image and Ready (each step waits for the previous new pod to be available). */
  seconds: number;
  /** As stored by runs before `minReadyBoundSeconds`; reports compute the bound. */
  boundSeconds?: number;
  error?: string;
}

/**
 * A rolling update that minReadySeconds paces: a DaemonSet on 5 nodes of its own (nodeSelector on the batch label),
 * maxUnavailable 1, minReadySeconds 10, its pods available before the edit; the time from the image edit until every
 * pod runs the new image and is Ready. Upstream re-queues each DaemonSet after the exact remaining seconds; daemonless
 * with a timer (server) or a delayed queue message (Lambda). The DaemonSet and the nodes are deleted afterwards.
 */
export async function minReadyRollout(ctx: BenchContext): Promise<MinReadyResult> {
  const { apps, core } = apis(ctx.system.kc);
  const { nodes: count, minReadySeconds, name } = MIN_READY;
  const result: MinReadyResult = { nodes: count, minReadySeconds, status: 'failed', seconds: 0 };
  const nodes = await addSchedulableNodes(ctx, count, name);
  const ds = fixtureCopy(name);
  ds.spec!.minReadySeconds = minReadySeconds;
  ds.spec!.updateStrategy = { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } };
  ds.spec!.template.spec = { ...ds.spec!.template.spec!, nodeSelector: { [BATCH_LABEL]: name } };
  const waitOptions = { timeoutMs: 180_000, stallMs: Math.max(ctx.stallMs, 3 * minReadySeconds * 1000), ...(ctx.activity ? { activity: ctx.activity } : {}) };
  try {
    const created = await apps.createNamespacedDaemonSet({ namespace: NAMESPACE, body: ds });
    const uid = created.metadata!.uid!;
    const before = await waitConverged(ctx.observer, () => ({ daemonSets: [{ uid }], nodes }), waitOptions);
    if (before.status !== 'converged') {
      result.error = `the DaemonSet did not converge before the rollout (${before.progress.satisfied}/${before.progress.total})`;
      return result;
    }
    // Available before the edit: the first step must not wait for the initial pods' minReadySeconds.
    await sleep(minReadySeconds * 1000 + 2_000);
    const t0 = performance.now();
    await apps.patchNamespacedDaemonSet(
      { name, namespace: NAMESPACE, body: [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: ROLLOUT_IMAGE }] },
      jsonPatch,
    );
    const outcome = await waitConverged(ctx.observer, () => ({ daemonSets: [{ uid, image: ROLLOUT_IMAGE }], nodes }), waitOptions);
    Object.assign(result, { status: outcome.status, seconds: secondsSince(t0, outcome.at) });
    if (outcome.status !== 'converged') result.error = `${outcome.progress.satisfied}/${outcome.progress.total} nodes rolled out`;
  } catch (error) {
    result.error = String(error);
  } finally {
    await apps.deleteNamespacedDaemonSet({ name, namespace: NAMESPACE }).catch(() => undefined);
    await mapLimit(nodes, 8, (node) => core.deleteNode({ name: node }).catch(() => undefined));
  }
  return result;
}

export interface LatencyResult {
  samples: number;
  /** Pods expected per node (the DaemonSets present). */
  podsPerNode: number;
  /** Node create call → each daemon pod first seen (ms). */
  createToPod: Summary | undefined;
  /** Node create call → the node's last daemon pod first seen (ms). */
  createToLastPod: Summary | undefined;
  /** Node schedulable (not-ready taint removal seen) → each daemon pod first seen (ms). */
  eligibleToPod: Summary | undefined;
  missing: number;
  window?: Window;
}

/**
 * Warm latency: single nodes joining one at a time, each waited for before the next, after `warmup` joins that are
 * not measured (in the Lambda runtime they start the functions' environments: the measured joins are warm). The
 * nodes' names start with `prefix`.
 */
export async function latency(ctx: BenchContext, samples: number, options: { warmup?: number; prefix?: string; readyAfterMs?: number } = {}): Promise<LatencyResult> {
  const { apps } = apis(ctx.system.kc);
  const dsList = (await apps.listNamespacedDaemonSet({ namespace: NAMESPACE })).items;
  const dsUids = new Set(dsList.map((d) => d.metadata!.uid!));
  const prefix = options.prefix ?? 'lat';
  const podsPerNode = dsUids.size;
  const podsByNode = new Map<string, PodSeen[]>();
  const eligibleAt = new Map<string, number>();
  const offPod = ctx.observer.onNewPod((pod) => {
    if (!pod.nodeName || !pod.ownerUid || !dsUids.has(pod.ownerUid)) return;
    podsByNode.set(pod.nodeName, [...(podsByNode.get(pod.nodeName) ?? []), pod]);
  });
  const offNode = ctx.observer.onNode((type, node, at) => {
    const name = node.metadata?.name ?? '';
    if (type !== 'DELETED' && !eligibleAt.has(name) && !hasNotReadyTaint(node)) eligibleAt.set(name, at);
  });
  const createToPod: number[] = [];
  const createToLastPod: number[] = [];
  const eligibleToPod: number[] = [];
  let missing = 0;
  const join = async (namePrefix: string) => {
    const t0 = performance.now();
    // With `readyAfterMs` the node registers as a kubelet does (Ready False, so it keeps the not-ready taint) and
    // reports Ready that much later: its creation and the taint's removal are then separate events, as in a cluster.
    const readyAfterMs = options.readyAfterMs ?? 0;
    const [name] = await addNodes(ctx.system.kc, 1, { namePrefix, labels: { [BATCH_LABEL]: 'latency' }, notReady: readyAfterMs > 0 });
    if (readyAfterMs > 0) {
      await sleep(readyAfterMs);
      await setNodeReady(ctx.system.kc, name!, true);
    }
    const end = performance.now() + 20_000;
    while ((podsByNode.get(name!)?.length ?? 0) < podsPerNode && performance.now() < end) await sleep(20);
    return { t0, name: name!, pods: podsByNode.get(name!) ?? [] };
  };
  for (let i = 0; i < (options.warmup ?? 0) && podsPerNode > 0; i++) {
    await join(`${prefix}w${i}`);
    await sleep(1_500);
  }
  const window = await openWindow(ctx);
  try {
    for (let i = 0; i < samples && podsPerNode > 0; i++) {
      const { t0, name, pods } = await join(`${prefix}${i}`);
      missing += podsPerNode - Math.min(podsPerNode, pods.length);
      for (const pod of pods) {
        createToPod.push(pod.firstSeen - t0);
        const eligible = eligibleAt.get(name);
        if (eligible !== undefined) eligibleToPod.push(pod.firstSeen - eligible);
      }
      if (pods.length >= podsPerNode) createToLastPod.push(Math.max(...pods.map((p) => p.firstSeen)) - t0);
      await sleep(300);
    }
  } finally {
    offPod();
    offNode();
  }
  return {
    samples,
    podsPerNode,
    createToPod: summarize(createToPod),
    createToLastPod: summarize(createToLastPod),
    eligibleToPod: summarize(eligibleToPod),
    missing,
    window: await window.close(),
  };
}

/**
 * What (c) cannot beat whatever the API throughput: with maxUnavailable ⌈10 % of N⌉ and maxSurge 0, the rollout takes
 * ⌈N / maxUnavailable⌉ rounds, and each round waits for the simulator to finish the old pods' deletion and to report
 * the new pods Ready (its SIM_DELETE_DELAY_MS + SIM_READY_DELAY_MS, read from the same environment it runs with).
 */
export function rolloutPacingBound(nodes: number): { rounds: number; seconds: number; perRoundMs: number } {
  const sim = SimulatorEnvSchema.parse(process.env);
  const maxUnavailable = Math.max(1, Math.ceil(nodes * 0.1));
  const rounds = Math.ceil(nodes / maxUnavailable);
  const perRoundMs = sim.SIM_DELETE_DELAY_MS + sim.SIM_READY_DELAY_MS;
  return { rounds, seconds: (rounds * perRoundMs) / 1000, perRoundMs };
}

export interface FloorResult {
  concurrency: number;
  /** Seconds for the pod writes each shape needs: a = N creates, b = M·N creates, c = N deletes + N creates. */
  seconds: Record<ShapeName, number>;
  writes: Record<ShapeName, number>;
  createsPerSecond: number;
  /** (c) only: the rollout's pacing bound (rolloutPacingBound), not a measurement. */
  rolloutPacing: { rounds: number; seconds: number; perRoundMs: number };
}

/**
 * The floor: the same pod writes sent by a plain client, 24 in flight over keep-alive connections, on the same API
 * server. The pods carry the fixture's pod spec and are bound to a node that does not exist, so no scheduler,
 * controller or simulator acts on them.
 */
export async function floor(ctx: BenchContext, concurrency = 24): Promise<FloorResult> {
  const { core } = clientsFor(ctx.system.kc);
  const namespace = 'bench-floor';
  await core.createNamespace({ body: { metadata: { name: namespace } } }).catch((e: { code?: number }) => {
    if (e.code !== 409) throw e;
  });
  const end = performance.now() + 30_000;
  for (;;) {
    try {
      await core.readNamespacedServiceAccount({ name: 'default', namespace });
      break;
    } catch (error) {
      if (performance.now() > end) throw error;
      await sleep(200);
    }
  }
  const spec = fixture().spec!.template.spec!;
  const pod = (name: string): V1Pod => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: { app: 'bench-floor' } },
    spec: { ...spec, nodeName: 'bench-floor-nowhere' },
  });
  const create = (prefix: string, count: number) =>
    Array.from({ length: count }, (_, i) => () => core.createNamespacedPod({ namespace, body: pod(`${prefix}-${i}`) }).then(() => undefined));
  const remove = (prefix: string, count: number) =>
    Array.from({ length: count }, (_, i) => () =>
      core.deleteNamespacedPod({ name: `${prefix}-${i}`, namespace, gracePeriodSeconds: 0 }).then(() => undefined),
    );
  const timed = async (tasks: (() => Promise<void>)[]) => {
    const t0 = performance.now();
    await mapLimit(tasks, concurrency, (task) => task());
    return (performance.now() - t0) / 1000;
  };
  const n = ctx.nodes;
  const a = await timed(create('a', n));
  const b = await timed(create('b', M * n));
  const c = await timed([...remove('a', n), ...create('c', n)]);
  await core.deleteCollectionNamespacedPod({ namespace, gracePeriodSeconds: 0 }).catch(() => undefined);
  return {
    concurrency,
    seconds: { a, b, c },
    writes: { a: n, b: M * n, c: 2 * n },
    createsPerSecond: (M * n) / b,
    rolloutPacing: rolloutPacingBound(n),
  };
}

function apis(kc: KubeConfig): { apps: AppsV1Api; core: CoreV1Api } {
  return { apps: kc.makeApiClient(AppsV1Api), core: kc.makeApiClient(CoreV1Api) };
}
