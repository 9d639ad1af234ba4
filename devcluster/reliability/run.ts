/**
 * `npm run reliability`: the reliability run of issue 13, phase by phase, on one local control plane —
 *
 *   trials   randomized scenarios, events duplicated/delayed/reordered/concurrent, resync OFF (events alone converge)
 *   loss     the same with a share of events dropped, resync ON: time to heal, within one resync period
 *   faults   the fault proxy between the functions and kube-apiserver, one kind at a time (and writes that were
 *            applied but answered with a failure), resync ON
 *   restart  a 100-node rolling update with kube-apiserver SIGKILLed in the middle, every fault kind at a low rate
 *   fuzz     the property-based hostile-input run (fuzz.ts), in process
 *
 * and a report (report.ts). Every trial prints its seed; `--seed N` runs that one trial again.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { daemonSets, type ClusterMode, type DaemonSets } from '../daemonsets.ts';
import { faultControl } from '../faults/control.ts';
import { restartApiserver } from '../faults/restart.ts';
import type { FaultConfigInput } from '../faults/rules.ts';

type FaultRule = NonNullable<FaultConfigInput['rules']>[number];
import type { RestartResult } from '../controlplane.ts';
import { Delivery, drawPlan, type DeliveryCounters, type DeliveryPlan } from './delivery.ts';
import { createRng, mix } from './rng.ts';
import { generateScenario, type Scenario } from './scenario.ts';
import { startTrialSystem, type Runtime, type TrialSystem } from './system.ts';
import { TRIAL_LABEL, runTrial, type TrialResult } from './trial.ts';
import type { Violation } from './checker.ts';
import { runFuzz, type FuzzReport } from './fuzz.ts';

export type Phase = 'trials' | 'loss' | 'faults' | 'restart' | 'fuzz';
export const phases: readonly Phase[] = ['trials', 'loss', 'faults', 'restart', 'fuzz'];

export interface RunOptions {
  runtime: Runtime;
  /**
   * `managed`: the cluster as EKS gives it (`npm run up -- --managed`): its own DaemonSet controller runs, the
   * functions reconcile ServerlessDaemonSets (MANAGE=crd), and the trials create those. Default `native`.
   */
  cluster?: ClusterMode;
  mode: 'long' | 'short' | 'seed';
  phases: readonly Phase[];
  /** Seeds of the randomized trials are baseSeed, baseSeed + 1, … */
  baseSeed: number;
  trials: number;
  /** Trials running at once on the control plane. */
  parallel: number;
  lossTrials: number;
  lossRate: number;
  resyncMs: number;
  faultTrialsPerKind: number;
  restartNodes: number;
  fuzzCases: number;
  /** Only these seeds (`--seed N`): one trial each, in the first phase asked for. */
  seeds?: number[];
  /** Only these fault kinds (faultProfiles[].kind), e.g. when re-running a seed. */
  faultKinds?: string[];
  /**
   * MAX_CONCURRENT_RECONCILES of the functions server in the trials; unset: the product's default (1). Above 1 the
   * server's passes overlap as concurrent Lambda invocations do (`--concurrency 4` measures that).
   */
  concurrency?: number;
  /** LOG_LEVEL of the functions (default warn; info logs every reconcile, for a seed being investigated). */
  functionsLogLevel?: string;
  localDir?: string;
  keep: boolean;
  log: (line: string) => void;
}

export interface Stats {
  count: number;
  p50: number;
  p95: number;
  max: number;
  mean: number;
}

export function stats(values: readonly number[]): Stats {
  if (values.length === 0) return { count: 0, p50: 0, p95: 0, max: 0, mean: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { count: sorted.length, p50: at(0.5), p95: at(0.95), max: sorted.at(-1)!, mean: Math.round(sorted.reduce((s, v) => s + v, 0) / sorted.length) };
}

export interface ViolationRecord extends Violation {
  seed: number;
  phase: Phase;
  trial: string;
}

export interface PhaseReport {
  trials: number;
  seeds: number[];
  converged: number;
  violations: Record<string, number>;
  convergeMs: Stats;
  deliveries: DeliveryCounters;
  podEvents: number;
  pods: number;
  /** Rollout writes not charged to the budget because they acted on a view younger than the grace. */
  excused: { budget: number; surge: number };
  feedGaps: number;
  feedLate: number;
  skippedActions: number;
  notConverged: { seed: number; why: string }[];
}

export interface FaultKindReport {
  kind: string;
  rule: FaultRule;
  trials: number;
  converged: number;
  /** Converged with no invariant violation. */
  survived: number;
  injected: Record<string, number>;
  proxiedRequests: number;
  upstreamErrors: number;
  /** 5xx answers the functions gave the sender (a failure surfaced as a retry) and redeliveries. */
  answered5xx: number;
  redeliveries: number;
  givenUp: number;
  violations: number;
  convergeMs: Stats;
}

export interface RestartReport {
  nodes: number;
  maxUnavailable: number;
  apiserver: Pick<RestartResult, 'outageSeconds' | 'readySeconds'> & { signal: 'SIGKILL' };
  rolloutSeconds: number;
  converged: boolean;
  notConverged?: string;
  violations: Violation[];
  faultsInjected: Record<string, number>;
  upstreamErrors: number;
  deliveries: DeliveryCounters;
  feedGaps: number;
  seed: number;
}

export interface Report {
  generatedAt: string;
  mode: RunOptions['mode'];
  runtime: Runtime;
  /** Absent in runs stored before managed runs existed: native. */
  cluster?: ClusterMode;
  durationSeconds: number;
  settings: Pick<RunOptions, 'baseSeed' | 'trials' | 'parallel' | 'lossTrials' | 'lossRate' | 'resyncMs' | 'faultTrialsPerKind' | 'restartNodes' | 'fuzzCases'> & {
    /** MAX_CONCURRENT_RECONCILES of the trials; null: the product's default. */
    concurrency?: number | null;
    evictionAllowanceMs: number;
    graceMs: number;
    convergeTimeoutMs: number;
  };
  trials?: PhaseReport;
  loss?: PhaseReport & { dropRate: number; resyncIntervalMs: number; healedWithinOnePeriod: number; healMs: Stats };
  faults?: FaultKindReport[];
  restart?: RestartReport;
  fuzz?: FuzzReport;
  violations: ViolationRecord[];
  /** The functions server died (found by its pid) and was started again, as a supervisor or Lambda would. */
  functionsCrashes: { phase: string; at: string; error: string }[];
  memory: { runnerPeakRssMB: number; functionsPeakRssMB: number | null };
}

const EVICTION_ALLOWANCE_MS = 5_000;
const GRACE_MS = 2_000;
const CONVERGE_TIMEOUT_MS = 30_000;

/** Functions settings of the event trials: the resync off, so events alone must converge. */
let trialEnv: Record<string, string> = { RESYNC_INTERVAL_MS: '0', LOG_LEVEL: 'warn' };

export async function run(options: RunOptions): Promise<Report> {
  const started = Date.now();
  const { log } = options;
  trialEnv = {
    ...trialEnv,
    LOG_LEVEL: options.functionsLogLevel ?? 'warn',
    ...(options.concurrency !== undefined ? { MAX_CONCURRENT_RECONCILES: String(options.concurrency) } : {}),
  };
  let runnerPeak = 0;
  const memoryTimer = setInterval(() => (runnerPeak = Math.max(runnerPeak, process.memoryUsage().rss)), 500);
  memoryTimer.unref();
  const report: Report = {
    generatedAt: new Date().toISOString(),
    mode: options.mode,
    runtime: options.runtime,
    cluster: options.cluster ?? 'native',
    durationSeconds: 0,
    settings: {
      baseSeed: options.baseSeed,
      trials: options.trials,
      parallel: options.parallel,
      lossTrials: options.lossTrials,
      lossRate: options.lossRate,
      resyncMs: options.resyncMs,
      faultTrialsPerKind: options.faultTrialsPerKind,
      restartNodes: options.restartNodes,
      fuzzCases: options.fuzzCases,
      concurrency: options.concurrency ?? null,
      evictionAllowanceMs: EVICTION_ALLOWANCE_MS,
      graceMs: GRACE_MS,
      convergeTimeoutMs: CONVERGE_TIMEOUT_MS,
    },
    violations: [],
    functionsCrashes: [],
    memory: { runnerPeakRssMB: 0, functionsPeakRssMB: null },
  };

  const needsCluster = options.phases.some((p) => p !== 'fuzz');
  let sys: TrialSystem | undefined;
  let delivery: Delivery | undefined;
  let functionsPeak = 0;
  const sampleFunctions = () => {
    // The Lambda service's own process is not a function's: its instances report their memory per invocation.
    if (options.runtime === 'lambda') return;
    const pid = sys?.functionsPid();
    if (!pid) return;
    try {
      const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (hwm) functionsPeak = Math.max(functionsPeak, Number(hwm[1]) * 1024);
    } catch {
      // gone (restarted between phases)
    }
  };
  const functionsTimer = setInterval(sampleFunctions, 2_000);
  functionsTimer.unref();

  try {
    if (needsCluster) {
      const managed = options.cluster === 'managed';
      log(
        `reliability: starting the system (runtime ${options.runtime}${managed ? ', managed cluster: ServerlessDaemonSets beside the built-in controller' : ''}, no webhook: events come from the trials' delivery layer)`,
      );
      sys = await startTrialSystem({ runtime: options.runtime, managed, localDir: options.localDir, functionsEnv: trialEnv, log });
      // Interrupted: stop what was started (the folder is a temporary one nobody else would `down`).
      const started = sys;
      for (const signal of ['SIGINT', 'SIGTERM'] as const) {
        process.once(signal, () => {
          log(`reliability: ${signal}: stopping the system in ${started.localDir}`);
          void (options.keep ? Promise.resolve() : started.stop()).finally(() => process.exit(130));
        });
      }
      const namespace = await ensureNamespace(sys, 'reliability');
      const kinds = daemonSets(sys.kc, options.cluster ?? 'native');
      delivery = new Delivery({ kc: sys.kc, functionsUrl: sys.system.functionsUrl, token: sys.system.token, labelKey: TRIAL_LABEL, daemonSets: kinds, log });
      await delivery.synced;
      const ctx: Ctx = { sys, delivery, daemonSets: kinds, namespace, options, report };
      let currentPhase = '';
      const supervisor = superviseFunctions(sys, report, () => currentPhase, log);

      for (const phase of options.phases) {
        if (phase === 'fuzz') continue;
        currentPhase = phase;
        const phaseStarted = Date.now();
        log(`reliability: phase ${phase}`);
        if (phase === 'trials') report.trials = await trialsPhase(ctx);
        if (phase === 'loss') report.loss = await lossPhase(ctx);
        if (phase === 'faults') report.faults = await faultsPhase(ctx);
        if (phase === 'restart') report.restart = await restartPhase(ctx);
        sampleFunctions();
        log(`reliability: phase ${phase} done in ${((Date.now() - phaseStarted) / 1000).toFixed(0)} s`);
      }
      supervisor.stop();
      // On Lambda a crash ends one instance, not the service: the pool counts the invocations whose runtime exited.
      const exits = await sys.runtimeExits();
      for (const [fn, n] of Object.entries(exits ?? {})) {
        if (n > 0) report.functionsCrashes.push({ phase: 'any', at: new Date().toISOString(), error: `${n} invocation(s) of ${fn} ended with Runtime.ExitError (the runtime process exited)` });
      }
    }
    if (options.phases.includes('fuzz')) {
      log(`reliability: phase fuzz (${options.fuzzCases} cases)`);
      report.fuzz = await runFuzz({ cases: options.fuzzCases, seed: options.baseSeed, log });
    }
  } finally {
    clearInterval(memoryTimer);
    clearInterval(functionsTimer);
    await delivery?.stop();
    if (sys && !options.keep) await sys.stop();
    else if (sys) log(`reliability: system kept running in ${sys.localDir} (DAEMONLESS_LOCAL_DIR=${sys.localDir} npm run down)`);
  }
  report.memory = { runnerPeakRssMB: mb(Math.max(runnerPeak, process.memoryUsage().rss)), functionsPeakRssMB: functionsPeak ? mb(functionsPeak) : null };
  report.durationSeconds = Math.round((Date.now() - started) / 1000);
  return report;
}

const mb = (bytes: number) => Math.round(bytes / 1024 / 1024);

/**
 * Checks every second that the functions server still runs; when it died, records the crash (the last lines of its
 * log that are not JSON: the stack Node printed) and starts it again with its recorded launch, as a process supervisor
 * (or Lambda, with a fresh instance) would, so the run measures what happens next too.
 */
function superviseFunctions(sys: TrialSystem, report: Report, phase: () => string, log: (line: string) => void): { stop(): void } {
  let restarting = false;
  const timer = setInterval(() => {
    if (restarting || sys.restartingFunctions) return;
    const pid = sys.functionsPid();
    let alive = false;
    try {
      if (pid !== undefined) {
        process.kill(pid, 0);
        alive = !readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z');
      }
    } catch {
      alive = false;
    }
    if (alive || pid === undefined) return;
    restarting = true;
    let error = '';
    try {
      const lines = readFileSync(join(sys.localDir, 'logs', 'functions.log'), 'utf8').split('\n');
      error = lines.filter((l) => l.trim() !== '' && !l.startsWith('{')).slice(-12).join('\n');
    } catch {
      // no log
    }
    report.functionsCrashes.push({ phase: phase(), at: new Date().toISOString(), error });
    log(`reliability: the functions server (pid ${pid}) died during ${phase()}; starting it again. Its last words:\n${error}`);
    void sys
      .restartFunctions('reliability: the functions server died')
      .catch((e: unknown) => log(`reliability: restarting the functions failed: ${String(e)}`))
      .finally(() => (restarting = false));
  }, 1_000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

interface Ctx {
  sys: TrialSystem;
  delivery: Delivery;
  daemonSets: DaemonSets;
  namespace: string;
  options: RunOptions;
  report: Report;
}

async function ensureNamespace(sys: TrialSystem, name: string): Promise<string> {
  const core = sys.kc.makeApiClient(CoreV1Api);
  try {
    await core.createNamespace({ body: { metadata: { name } } });
  } catch {
    // exists
  }
  for (let i = 0; i < 100; i++) {
    try {
      await core.readNamespacedServiceAccount({ name: 'default', namespace: name });
      return name;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`namespace ${name}: no default ServiceAccount after 20 s`);
}

function diff(after: DeliveryCounters, before: DeliveryCounters): DeliveryCounters {
  const answers: Record<string, number> = {};
  for (const [k, v] of Object.entries(after.answers)) answers[k] = v - (before.answers[k] ?? 0);
  return {
    events: after.events - before.events,
    dropped: after.dropped - before.dropped,
    duplicates: after.duplicates - before.duplicates,
    requests: after.requests - before.requests,
    answers,
    retries: after.retries - before.retries,
    givenUp: after.givenUp - before.givenUp,
    refused: after.refused - before.refused,
    maxInFlight: after.maxInFlight,
  };
}
const snapshot = (c: DeliveryCounters): DeliveryCounters => ({ ...c, answers: { ...c.answers } });

interface TrialSpec {
  scenario: Scenario;
  plan: DeliveryPlan;
  evictionAllowanceMs: number;
  convergeTimeoutMs: number;
  midway?: () => Promise<unknown>;
}

/** Runs trials `parallel` at a time; prints one line per trial with its seed. */
async function runTrials(ctx: Ctx, phase: Phase, specs: TrialSpec[]): Promise<{ results: TrialResult[]; deliveries: DeliveryCounters }> {
  const before = snapshot(ctx.delivery.counters);
  const results: TrialResult[] = [];
  let next = 0;
  const worker = async () => {
    while (next < specs.length) {
      const spec = specs[next++]!;
      const started = Date.now();
      const result = await runTrial(spec.scenario, {
        kc: ctx.sys.kc,
        namespace: ctx.namespace,
        delivery: ctx.delivery,
        daemonSets: ctx.daemonSets,
        plan: spec.plan,
        evictionAllowanceMs: spec.evictionAllowanceMs,
        graceMs: GRACE_MS,
        convergeTimeoutMs: spec.convergeTimeoutMs,
        log: ctx.options.log,
        ...(spec.midway ? { midway: spec.midway } : {}),
      }).catch((error: unknown): TrialResult => ({
        // The trial could not even be set up (the API refused its nodes or DaemonSets): counted as not converged.
        seed: spec.scenario.seed,
        id: '(setup failed)',
        scenario: '',
        plan: spec.plan,
        actions: spec.scenario.steps.length,
        skipped: 0,
        converged: false,
        convergeMs: 0,
        healMs: 0,
        notConverged: `setup failed: ${String(error).slice(0, 300)}`,
        violations: [],
        podEvents: 0,
        pods: 0,
        excused: { budget: 0, surge: 0 },
        feed: { events: 0, late: 0, gaps: 0 },
        durationMs: 0,
      }));
      result.durationMs = Date.now() - started;
      results.push(result);
      for (const v of result.violations) ctx.report.violations.push({ ...v, seed: result.seed, phase, trial: result.id });
      const flag = result.violations.length > 0 ? ` VIOLATIONS ${result.violations.map((v) => v.kind).join(',')}` : '';
      ctx.options.log(
        `${phase} ${results.length}/${specs.length} seed ${result.seed}: ${result.converged ? `converged ${result.convergeMs} ms after the last action` : 'NOT CONVERGED'}, ` +
          `${result.actions} actions, ${result.pods} pods, ${(result.durationMs / 1000).toFixed(1)} s${flag}` +
          (result.violations.length > 0 || !result.converged ? `  (re-run: npm run reliability -- --seed ${result.seed}${phase === 'loss' ? ' --only loss' : ''})` : ''),
      );
      for (const v of result.violations) {
        ctx.options.log(`  ${v.kind} ${v.daemonSet}@${v.node}: ${v.message} [${v.pods.join(', ')}]${v.durationMs !== undefined ? ` for ${v.durationMs} ms` : ''}`);
        for (const line of v.history) ctx.options.log(`      ${line}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(ctx.options.parallel, specs.length)) }, worker));
  await ctx.delivery.drain(10_000);
  return { results, deliveries: diff(ctx.delivery.counters, before) };
}

function summarize(results: TrialResult[], deliveries: DeliveryCounters): PhaseReport {
  const violations: Record<string, number> = {};
  for (const r of results) for (const v of r.violations) violations[v.kind] = (violations[v.kind] ?? 0) + 1;
  return {
    trials: results.length,
    seeds: results.map((r) => r.seed).sort((a, b) => a - b),
    converged: results.filter((r) => r.converged).length,
    violations,
    convergeMs: stats(results.filter((r) => r.converged).map((r) => r.convergeMs)),
    deliveries,
    podEvents: results.reduce((s, r) => s + r.podEvents, 0),
    pods: results.reduce((s, r) => s + r.pods, 0),
    excused: { budget: results.reduce((s, r) => s + r.excused.budget, 0), surge: results.reduce((s, r) => s + r.excused.surge, 0) },
    feedGaps: results.reduce((s, r) => s + r.feed.gaps, 0),
    feedLate: results.reduce((s, r) => s + r.feed.late, 0),
    skippedActions: results.reduce((s, r) => s + r.skipped, 0),
    notConverged: results.filter((r) => !r.converged).map((r) => ({ seed: r.seed, why: r.notConverged ?? '' })),
  };
}

const seedsFor = (ctx: Ctx, count: number, offset: number) =>
  ctx.options.seeds ?? Array.from({ length: count }, (_, i) => ctx.options.baseSeed + offset + i);

async function trialsPhase(ctx: Ctx): Promise<PhaseReport> {
  await ctx.sys.functionsWith(trialEnv);
  const specs = seedsFor(ctx, ctx.options.trials, 0).map((seed) => ({
    scenario: generateScenario(seed),
    plan: drawPlan(createRng(mix(seed, 'plan'))),
    evictionAllowanceMs: EVICTION_ALLOWANCE_MS,
    convergeTimeoutMs: CONVERGE_TIMEOUT_MS,
  }));
  const { results, deliveries } = await runTrials(ctx, 'trials', specs);
  return summarize(results, deliveries);
}

async function lossPhase(ctx: Ctx): Promise<NonNullable<Report['loss']>> {
  const { resyncMs, lossRate } = ctx.options;
  await ctx.sys.functionsWith({ ...trialEnv, RESYNC_INTERVAL_MS: String(resyncMs) });
  const specs = seedsFor(ctx, ctx.options.lossTrials, 1_000_000).map((seed) => ({
    scenario: generateScenario(seed),
    plan: drawPlan(createRng(mix(seed, 'plan')), { dropRate: lossRate }),
    // A lost event is healed by the next resync: the allowance and the wait are one period plus the event ones.
    evictionAllowanceMs: resyncMs + EVICTION_ALLOWANCE_MS,
    convergeTimeoutMs: resyncMs + CONVERGE_TIMEOUT_MS,
  }));
  const { results, deliveries } = await runTrials(ctx, 'loss', specs);
  // From the last action or the last dropped event, whichever came later (trial.ts `healMs`).
  const heal = results.filter((r) => r.converged).map((r) => r.healMs);
  return {
    ...summarize(results, deliveries),
    dropRate: lossRate,
    resyncIntervalMs: resyncMs,
    healMs: stats(heal),
    // One period, plus the time a resync pass and the simulated kubelet (0.5 s to Ready) take.
    healedWithinOnePeriod: heal.filter((ms) => ms <= resyncMs + 3_000).length,
  };
}

/** One rule per kind, on every request the functions make; "after write" rules apply the write, then fail the answer. */
export const faultProfiles: { kind: string; rule: FaultRule }[] = [
  { kind: '429', rule: { name: '429', match: {}, rates: { '429': 0.15 }, retryAfterSeconds: 1 } },
  { kind: '500', rule: { name: '500', match: {}, rates: { '500': 0.1 } } },
  { kind: '503', rule: { name: '503', match: {}, rates: { '503': 0.1 } } },
  { kind: 'timeout', rule: { name: 'timeout', match: {}, rates: { timeout: 0.02 }, holdMs: 11_000 } },
  { kind: 'reset', rule: { name: 'reset', match: {}, rates: { reset: 0.08 } } },
  { kind: 'slow', rule: { name: 'slow', match: {}, rates: { slow: 0.2 }, delayMs: 800 } },
  { kind: 'truncated', rule: { name: 'truncated', match: {}, rates: { truncated: 0.08 } } },
  { kind: '503 after the write applied', rule: { name: '503 after write', match: { verbs: ['write'] }, rates: { '503': 0.2 }, afterUpstream: true } },
  { kind: 'reset after the write applied', rule: { name: 'reset after write', match: { verbs: ['write'] }, rates: { reset: 0.15 }, afterUpstream: true } },
  { kind: 'timeout after the write applied', rule: { name: 'timeout after write', match: { verbs: ['write'] }, rates: { timeout: 0.05 }, afterUpstream: true, holdMs: 11_000 } },
];

async function faultsPhase(ctx: Ctx): Promise<FaultKindReport[]> {
  const { resyncMs } = ctx.options;
  const system = await ctx.sys.functionsWith({ ...trialEnv, RESYNC_INTERVAL_MS: String(resyncMs) });
  const control = faultControl(system.faultProxy!.controlUrl);
  const out: FaultKindReport[] = [];
  try {
    for (const [index, profile] of faultProfiles.entries()) {
      if (ctx.options.faultKinds && !ctx.options.faultKinds.includes(profile.kind)) continue;
      const seeds = seedsFor(ctx, ctx.options.faultTrialsPerKind, 2_000_000 + index * 10_000);
      await control.setConfig({ seed: seeds[0] ?? 1, rules: [profile.rule] });
      await control.resetCounters();
      const specs = seeds.map((seed) => ({
        scenario: generateScenario(seed),
        plan: drawPlan(createRng(mix(seed, 'plan'))),
        evictionAllowanceMs: resyncMs + EVICTION_ALLOWANCE_MS + 11_000,
        convergeTimeoutMs: resyncMs + CONVERGE_TIMEOUT_MS + 11_000,
      }));
      const { results, deliveries } = await runTrials(ctx, 'faults', specs);
      const counters = await control.counters();
      const injected = Object.fromEntries(Object.entries(counters.faults).filter(([, n]) => n > 0));
      const answered5xx = Object.entries(deliveries.answers).filter(([k]) => Number(k) >= 500).reduce((s, [, n]) => s + n, 0);
      out.push({
        kind: profile.kind,
        rule: profile.rule,
        trials: results.length,
        converged: results.filter((r) => r.converged).length,
        survived: results.filter((r) => r.converged && r.violations.length === 0).length,
        injected,
        proxiedRequests: counters.requests,
        upstreamErrors: counters.upstreamErrors,
        answered5xx,
        redeliveries: deliveries.retries,
        givenUp: deliveries.givenUp,
        violations: results.reduce((s, r) => s + r.violations.length, 0),
        convergeMs: stats(results.filter((r) => r.converged).map((r) => r.convergeMs)),
      });
      ctx.options.log(`faults ${profile.kind}: injected ${JSON.stringify(injected)}, ${answered5xx} answered 5xx to the sender, ${deliveries.retries} redelivered`);
    }
  } finally {
    await control.setConfig({ rules: [] });
  }
  return out;
}

async function restartPhase(ctx: Ctx): Promise<RestartReport> {
  const { resyncMs } = ctx.options;
  const system = await ctx.sys.functionsWith({ ...trialEnv, RESYNC_INTERVAL_MS: String(resyncMs) });
  const control = faultControl(system.faultProxy!.controlUrl);
  const nodes = ctx.options.restartNodes;
  const maxUnavailable = Math.max(1, Math.round(nodes / 10));
  const seed = ctx.options.baseSeed + 3_000_000;
  // Every kind at a low rate, writes also failing after they were applied.
  await control.setConfig({
    seed,
    rules: [
      { name: 'writes applied, answer lost', match: { verbs: ['write'] }, rates: { '503': 0.03, reset: 0.02 }, afterUpstream: true },
      { name: 'everything', match: {}, rates: { '429': 0.03, '500': 0.02, '503': 0.02, reset: 0.02, slow: 0.03, truncated: 0.02, timeout: 0.003 }, retryAfterSeconds: 1, delayMs: 500, holdMs: 11_000 },
    ],
  });
  await control.resetCounters();
  const scenario: Scenario = {
    seed,
    nodes: Array.from({ length: nodes }, (_, i) => ({ id: `n${i}`, role: true })),
    daemonSets: [{ id: 'a', strategy: { type: 'RollingUpdate', maxUnavailable, maxSurge: 0 }, needsRole: false, toleratesTaint: false, version: 1 }],
    steps: [
      { afterMs: 0, action: { kind: 'settle', timeoutMs: 180_000 } },
      { afterMs: 0, action: { kind: 'setImage', daemonSet: 'a', version: 2 } },
    ],
  };
  let restart: RestartResult | undefined;
  const started = Date.now();
  const before = snapshot(ctx.delivery.counters);
  const result = await runTrial(scenario, {
    kc: ctx.sys.kc,
    namespace: ctx.namespace,
    delivery: ctx.delivery,
    daemonSets: ctx.daemonSets,
    plan: { dropRate: 0, duplicateRate: 0.3, maxCopies: 3, maxDelayMs: 300, maxBatch: 6, senders: 4, maxAttempts: 8 },
    evictionAllowanceMs: resyncMs + EVICTION_ALLOWANCE_MS,
    graceMs: GRACE_MS,
    convergeTimeoutMs: 300_000,
    log: ctx.options.log,
    midway: async () => {
      // In the middle of the rollout: about a third of the nodes updated.
      const deadline = Date.now() + 60_000;
      for (;;) {
        const list = await ctx.daemonSets.list(ctx.namespace, TRIAL_LABEL).catch(() => undefined);
        const ds = list?.items.find((d) => d.metadata?.name?.endsWith('-a') && d.spec?.template.spec?.containers[0]?.image?.endsWith(':2'));
        // A status of the edited generation (the one before it counts every pod as updated).
        const current = ds !== undefined && (ds.status?.observedGeneration ?? 0) >= (ds.metadata?.generation ?? 1);
        if ((current && (ds.status?.updatedNumberScheduled ?? 0) >= nodes / 3) || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      ctx.options.log(`restart: SIGKILL kube-apiserver mid-rollout (2 s down)`);
      restart = await restartApiserver({ signal: 'SIGKILL', downtimeMs: 2_000, log: () => {} });
    },
  });
  const counters = await control.counters();
  await control.setConfig({ rules: [] });
  for (const v of result.violations) ctx.report.violations.push({ ...v, seed, phase: 'restart', trial: result.id });
  ctx.options.log(
    `restart: ${nodes} nodes, apiserver out ${restart?.outageSeconds ?? '?'} s, ${result.converged ? `rolled out ${(result.convergeMs / 1000).toFixed(1)} s after the edit` : `NOT CONVERGED: ${result.notConverged}`}, ${result.violations.length} violations`,
  );
  return {
    nodes,
    maxUnavailable,
    apiserver: { outageSeconds: restart?.outageSeconds ?? NaN, readySeconds: restart?.readySeconds ?? NaN, signal: 'SIGKILL' },
    rolloutSeconds: Math.round(result.convergeMs / 100) / 10,
    converged: result.converged,
    ...(result.notConverged ? { notConverged: result.notConverged } : {}),
    violations: result.violations,
    faultsInjected: Object.fromEntries(Object.entries(counters.faults).filter(([, n]) => n > 0)),
    upstreamErrors: counters.upstreamErrors,
    deliveries: diff(ctx.delivery.counters, before),
    feedGaps: result.feed.gaps,
    seed,
  } satisfies RestartReport & { seed: number } as RestartReport;
  void started;
}
