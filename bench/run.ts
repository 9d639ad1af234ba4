/**
 * `npm run bench` — daemonless side by side with the upstream DaemonSet controller, on this machine, in one run.
 * Options: bench/lib/args.ts. Method and latest numbers: docs/benchmarks.md.
 *
 * For each system (daemonless in the local server runtime, with `--runtime lambda` also in the local Lambda runtime,
 * upstream at its default client QPS, upstream with QPS raised to our request rate) a fresh control plane in the
 * bench's own folder and ports (bench/lib/env.ts), then warm single joins with one DaemonSet, the shapes (b) join,
 * (a) new DaemonSet, (c) rollout, DaemonSet changes, warm joins with four DaemonSets, and (Lambda runtime) the memory
 * of a resync and a DaemonSet-wide pass; the plain-client floor on the upstream control plane; the memory sweep on
 * bare nodes (Lambda runtime, its own control plane); then cold starts. Every cluster it starts is stopped again, on
 * failure and on Ctrl-C too.
 *
 * Writes, for a complete run, bench/results/latest.json + latest.md + latest.svg (N = 100) or latest-large.* (N = 1000);
 * with `--runtime lambda`, latest-lambda.* (N = 100, complete) or latest-lambda-large.* (N = 1000, shapes of both
 * runtimes), latest-memory.* (the memory sweep alone); any other run writes latest-partial.* (not kept in git). See
 * results.ts resultName. Prints the summary.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { applyBenchEnv } from './lib/env.ts';
import { ArgsError, parseArgs, type BenchArgs, type SystemName } from './lib/args.ts';
import { installFlowSchemas } from './lib/apf.ts';
import { measureColdStarts } from './lib/coldstart.ts';
import { costModel } from './lib/cost.ts';
import { daemonSetChanges, soloJoins } from './lib/events.ts';
import { bareNodeSweep, measurePasses } from './lib/memory.ts';
import { fetchColdWarm } from './lib/lambda-stats.ts';
import { startObserver, type Observer } from './lib/observer.ts';
import { markdown, svgChart, systemLine } from './lib/report.ts';
import { checkTargets, costInputsFor, isDaemonless, resultName, type BenchResults, type SystemRun } from './lib/results.ts';
import { MIN_READY, NAMESPACE, floor, latency, minReadyRollout, shapeJoin, shapeNewDaemonSet, shapeRollout, type BenchContext, type ShapeResult } from './lib/shapes.ts';
import { startBenchSystem, stopBenchSystem, type RunningSystem, type SystemKind } from './lib/systems.ts';
import { isSystemUp } from '../devcluster/system.ts';
import { logOffset } from './lib/functions-log.ts';
import { measureLists } from './lib/lists.ts';

/** Rounds of the lists phase (each lists every node and pod once in either encoding). */
const LIST_ROUNDS = 15;

const env = applyBenchEnv();
const started = performance.now();
const startedAt = new Date();
const stamp = () => `${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s`;
const log = (line: string) => process.stderr.write(`[bench ${stamp()}] ${line}\n`);
const quiet = (line: string) => {
  if (/^(stopped|functions|control plane ready|starting|kube-apiserver ready|up failed)/.test(line)) log(`  ${line}`);
};

function parseOrExit(): BenchArgs {
  try {
    return parseArgs(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof ArgsError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
}
const args = parseOrExit();

const repo = join(import.meta.dirname, '..');
const resultsDir = join(import.meta.dirname, 'results');
const SETTLE_MS = 3_000;

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping the bench's control plane`);
    void stopBenchSystem(quiet).finally(() => process.exit(130));
  });
}

const results: BenchResults = {
  startedAt: startedAt.toISOString(),
  finishedAt: '',
  durationSeconds: 0,
  command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
  args: { ...args, phases: [...args.phases] },
  git: gitInfo(),
  machine: { cpus: cpus().length, node: process.version, loadAverageAtStart: loadavg(), otherControlPlanes: otherApiServers() },
  localDir: env.DAEMONLESS_LOCAL_DIR,
  systems: [],
  targets: [],
  notes: [],
};

log(`N = ${args.nodes}, systems ${args.systems.join(', ')}, phases ${[...args.phases].join(', ')}; local dir ${env.DAEMONLESS_LOCAL_DIR}, API server port ${env.DAEMONLESS_APISERVER_PORT}`);
if (results.git.dirtyProductFiles.length > 0) {
  results.notes.push(`The product had uncommitted changes when measured: ${results.git.dirtyProductFiles.join(', ')}.`);
}

const clusterPhases = ['a', 'b', 'c', 'latency', 'change', 'minready', 'lists', 'memory'].filter((p) => args.phases.has(p as never));
const wantFloor = args.phases.has('floor');
// The floor runs on an upstream control plane (its DaemonSet controller idle by then, no audit webhook to feed), or on
// a plain one when no upstream system runs.
const floorSystem: SystemKind = args.systems.includes('upstream') ? 'upstream' : args.systems.includes('raised') ? 'raised' : 'plain';

try {
  await stopBenchSystem(quiet); // leftovers of an interrupted run, in our own folder only
  if (clusterPhases.length > 0 || wantFloor) {
    for (const kind of args.systems) {
      const floorHere = wantFloor && kind === floorSystem;
      // memory is measured in the Lambda runtime only; the raised system runs the shapes only.
      const phases = clusterPhases.filter((p) => (p !== 'memory' || kind === 'lambda') && (kind !== 'raised' || ['a', 'b', 'c'].includes(p)));
      if (phases.length === 0 && !floorHere) continue;
      const qps = raisedQps(kind);
      await runSystem(kind, { qps, burst: qps * 2, clusterPhases: phases, floorHere });
    }
    if (wantFloor && floorSystem === 'plain') await runSystem('plain', { qps: 0, burst: 0, clusterPhases: [], floorHere: true });
  }
  if (args.phases.has('memory') && args.systems.includes('lambda')) await runMemorySweep();
  if (args.phases.has('cold')) {
    log('cold start');
    results.coldStart = await measureColdStarts(join(env.DAEMONLESS_LOCAL_DIR, 'cold-start'), args.coldReps, log);
  }
} catch (error) {
  results.notes.push(`The run failed: ${String(error)}`);
  log(`failed: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = 1;
} finally {
  await stopBenchSystem(quiet).catch((e: unknown) => log(`stopping failed: ${String(e)}`));
}

results.costModels = modelCosts();
results.targets = checkTargets(results);
results.finishedAt = new Date().toISOString();
results.durationSeconds = (performance.now() - started) / 1000;
if (!args.large && args.nodes <= 100 && results.durationSeconds > 600) {
  results.notes.push(`The run took ${Math.round(results.durationSeconds)} s, over the 10-minute budget of a default run.`);
}
writeOutputs();

// ---------------------------------------------------------------------------------------------------------------

async function runSystem(kind: SystemKind, how: { qps: number; burst: number; clusterPhases: string[]; floorHere: boolean }): Promise<void> {
  const run: SystemRun = { kind, label: kind, loadAverageAtStart: loadavg(), shapes: [] };
  if (kind !== 'plain') results.systems.push(run);
  let system: RunningSystem | undefined;
  let observer: Observer | undefined;
  try {
    log(`${kind}: starting a fresh control plane`);
    system = await startBenchSystem(kind, { qps: how.qps, burst: how.burst, delivery: args.delivery, log: quiet });
    Object.assign(run, {
      label: system.label,
      upSeconds: system.upSeconds,
      ...(system.kcmQps !== undefined ? { kcmQps: system.kcmQps, kcmBurst: system.kcmBurst } : {}),
    });
    log(`${system.label}: up in ${system.upSeconds.toFixed(1)} s`);
    await installFlowSchemas(system.kc);
    observer = await startObserver(system.kc, NAMESPACE);
    const functionsLog = system.functionsLog;
    const ctx: BenchContext = {
      system,
      observer,
      nodes: args.nodes,
      stallMs: args.stallSeconds * 1000,
      settleMs: SETTLE_MS,
      log,
      ...(functionsLog ? { activity: () => logOffset(functionsLog) } : {}),
    };
    /**
     * The functions server is a detached process; seen once: it vanished mid-run without a word in its log (stopped
     * from outside). A shape measured without it would be wrong, so say so, and bring it back for the next phase.
     */
    const functionsSurvived = async (phase: string): Promise<boolean> => {
      if (!isDaemonless(kind) || isSystemUp()) return true;
      const note = `${run.label}: the functions were gone after ${phase}; that phase's numbers are not valid, and they were restarted`;
      results.notes.push(note);
      log(note);
      await startBenchSystem(kind, { delivery: args.delivery, log: quiet });
      return false;
    };
    const measure = async (phase: string, shape: () => Promise<ShapeResult>) => {
      const result = await shape();
      if (!(await functionsSurvived(phase))) result.error = `functions server died during the measurement${result.error ? `; ${result.error}` : ''}`;
      run.shapes.push(result);
      log(`  ${systemLine(run)}`);
    };
    const withLatency = how.clusterPhases.includes('latency') && kind !== 'raised';
    if (withLatency) {
      log(`${system.label}: warm joins with 1 DaemonSet, ${args.latencySamples} single node joins (after 2 unmeasured)`);
      run.soloLatency = await soloJoins(ctx, args.latencySamples, 2, args.joinReadyMs);
      if (!(await functionsSurvived('the 1-DaemonSet joins'))) run.soloLatency.missing = Math.max(run.soloLatency.missing, 1);
      const l = run.soloLatency.createToPod;
      log(`  node create → pod p50 ${l?.p50.toFixed(0)} ms, p95 ${l?.p95.toFixed(0)} ms (${run.soloLatency.missing} missing)`);
    }
    if (how.clusterPhases.includes('b')) {
      log(`${system.label}: (b) ${args.nodes} nodes join under 3 DaemonSets`);
      await measure('(b)', async () => (await shapeJoin(ctx)).result);
    }
    if (how.clusterPhases.includes('a')) {
      log(`${system.label}: (a) new DaemonSet on ${Math.max(args.nodes, observer.nodes.size)} nodes`);
      await measure('(a)', async () => (await shapeNewDaemonSet(ctx)).result);
    }
    if (how.clusterPhases.includes('c')) {
      log(`${system.label}: (c) image rollout`);
      await measure('(c)', () => shapeRollout(ctx));
    }
    if (how.clusterPhases.includes('change') && kind !== 'raised') {
      log(`${system.label}: ${args.changeSamples} DaemonSet changes (annotation only)`);
      run.change = await daemonSetChanges(ctx, args.changeSamples);
      await functionsSurvived('the DaemonSet changes');
    }
    if (how.clusterPhases.includes('minready') && kind !== 'raised') {
      log(`${system.label}: minReadySeconds ${MIN_READY.minReadySeconds} rollout on ${MIN_READY.nodes} nodes of its own, maxUnavailable 1`);
      run.minReady = await minReadyRollout(ctx);
      if (!(await functionsSurvived('the minReadySeconds rollout'))) run.minReady.error = 'functions died during the measurement';
      log(`  ${run.minReady.status} in ${run.minReady.seconds.toFixed(1)} s (bound ${run.minReady.boundSeconds} s)${run.minReady.error ? `: ${run.minReady.error}` : ''}`);
    }
    if (withLatency) {
      log(`${system.label}: latency, ${args.latencySamples} single node joins`);
      run.latency = await latency(ctx, args.latencySamples, { warmup: 2, readyAfterMs: args.joinReadyMs });
      if (!(await functionsSurvived('the latency phase'))) run.latency.missing = Math.max(run.latency.missing, 1);
      const l = run.latency.createToPod;
      log(`  node create → pod p50 ${l?.p50.toFixed(0)} ms, p95 ${l?.p95.toFixed(0)} ms, p99 ${l?.p99.toFixed(0)} ms (${run.latency.missing} missing)`);
    }
    if (how.clusterPhases.includes('lists') && kind === 'daemonless') {
      log(`${system.label}: a pass's reads in protobuf and in JSON (every node, every pod of ${NAMESPACE}), ${LIST_ROUNDS} rounds`);
      run.lists = await measureLists(NAMESPACE, LIST_ROUNDS, log);
    }
    if (how.clusterPhases.includes('memory') && kind === 'lambda' && system.lambda) {
      log(`${system.label}: memory of a resync and a DaemonSet-wide pass (steady state)`);
      run.memory = await measurePasses(system.kc, system.lambda.invokeUrl, 'steady state', 2, log);
    }
    if (system.lambda) run.coldWarm = await fetchColdWarm(system.lambda.invokeUrl, ['audit', 'reconcile', 'resync', 'admission', 'watch']);
    if (how.floorHere) {
      log(`${system.label}: plain-client floor`);
      const f = await floor(ctx);
      results.floor = { ...f, on: system.label };
      log(`  floor: a ${f.seconds.a.toFixed(2)} s, b ${f.seconds.b.toFixed(2)} s, c ${f.seconds.c.toFixed(2)} s (${f.createsPerSecond.toFixed(0)} creates/s)`);
    }
  } catch (error) {
    run.error = String(error);
    results.notes.push(`${run.label}: ${String(error)}`);
    log(`${run.label} failed: ${(error as Error).stack ?? String(error)}`);
  } finally {
    observer?.stop();
    log(`${run.label}: stopping`);
    await stopBenchSystem(quiet);
  }
}

/** The raised run's QPS: --raised-qps, else daemonless's peak measured request rate (rounded up to 10, ≥ 50), else 200. */
function raisedQps(kind: SystemName | 'plain'): number {
  if (kind !== 'raised') return 0;
  if (args.raisedQps !== undefined) return args.raisedQps;
  const dl = results.systems.find((s) => s.kind === 'daemonless');
  const rates = (dl?.shapes ?? [])
    .filter((r) => r.status === 'converged' && r.seconds > 0 && r.window)
    .map((r) => (r.window!.cost.byIdentity.daemonless.reads + r.window!.cost.byIdentity.daemonless.writes) / r.seconds);
  if (rates.length === 0) {
    results.notes.push('Raised QPS 200 (burst 400): the default, since daemonless converged in no shape to take its request rate from.');
    return 200;
  }
  const qps = Math.max(50, Math.ceil(Math.max(...rates) / 10) * 10);
  results.notes.push(`Raised QPS ${qps} (burst ${qps * 2}) = daemonless's peak request rate in this run (${Math.max(...rates).toFixed(0)} requests/s, rounded up).`);
  return qps;
}

/** The memory phase's sweep: a fresh Lambda-runtime control plane, bare nodes up to each count (memory.ts). */
async function runMemorySweep(): Promise<void> {
  log(`memory sweep: bare nodes up to ${args.memoryNodes.join(', ')}, on a fresh control plane (Lambda runtime)`);
  try {
    // Environments idle for 3 s are stopped: each pass's first measurement (after waitQuiet's 5 s) starts a fresh
    // environment. No scheduled resync in between (once a day): every measured resync is the bench's.
    process.env.DAEMONLESS_LAMBDA_IDLE_MS = '3000';
    process.env.DAEMONLESS_RESYNC_RATE_MS = String(24 * 3600_000);
    const system = await startBenchSystem('lambda', { log: quiet }).finally(() => {
      delete process.env.DAEMONLESS_LAMBDA_IDLE_MS;
      delete process.env.DAEMONLESS_RESYNC_RATE_MS;
    });
    if (!system.lambda) throw new Error('the Lambda runtime gave no invoke URL');
    results.memorySweep = await bareNodeSweep(system.kc, system.lambda.invokeUrl, args.memoryNodes, 2, log);
  } catch (error) {
    results.notes.push(`memory sweep: ${String(error)}`);
    log(`memory sweep failed: ${(error as Error).stack ?? String(error)}`);
  } finally {
    await stopBenchSystem(quiet);
  }
}

/** One cost model per daemonless runtime measured (results.ts costInputsFor, cost.ts). */
function modelCosts() {
  return results.systems
    .filter((s) => isDaemonless(s.kind))
    .map((s) => costInputsFor(results, s, memorySize()))
    .filter((i) => i !== undefined)
    .map((i) => costModel(i));
}

function memorySize(): number {
  try {
    const m = /^\s*memorySize:\s*(\d+)/m.exec(readFileSync(join(repo, 'serverless.yml'), 'utf8'));
    return m ? Number(m[1]) : 256;
  } catch {
    return 256;
  }
}

function gitInfo(): BenchResults['git'] {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repo, encoding: 'utf8' }).trim();
    const status = execFileSync('git', ['status', '--porcelain', '--', 'src', 'functions', 'scripts', 'devcluster', 'infra'], { cwd: repo, encoding: 'utf8' });
    return { commit, dirtyProductFiles: status.split('\n').filter(Boolean).map((l) => l.slice(3)) };
  } catch {
    return { commit: 'unknown', dirtyProductFiles: [] };
  }
}

/** kube-apiserver processes on this machine other than ours: they share the 2 cores. */
function otherApiServers(): number {
  let count = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes('kube-apiserver') && cmd.includes('--secure-port=') && !cmd.includes(`--secure-port=${env.DAEMONLESS_APISERVER_PORT}`)) count += 1;
    } catch {
      // gone
    }
  }
  return count;
}

function writeOutputs(): void {
  mkdirSync(resultsDir, { recursive: true });
  // One raw result per kind of run is kept (git history has the older ones); timestamped copies only for partial runs.
  const name = resultName(args);
  const file = join(resultsDir, `${name}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  const md = markdown(results);
  writeFileSync(join(resultsDir, `${name}.md`), md);
  writeFileSync(join(resultsDir, `${name}.svg`), svgChart(results));
  process.stdout.write(`${md}\n`);
  log(`wrote ${file}, ${join(resultsDir, `${name}.md`)}, ${join(resultsDir, `${name}.svg`)} (${Math.round(results.durationSeconds)} s)`);
}
