/**
 * `npm run conformance`: upstream's own DaemonSet e2e specs (k8s.io/kubernetes test/e2e/apps/daemon_set.go, built as
 * `e2e.test` by devcluster/go/e2e/build.sh) run against the local system, as a user would run them against a cluster.
 *
 * The system under test is one of:
 *   daemonless  devcluster/system.ts startSystem(): the control plane without its DaemonSet controller, the functions,
 *               audit delivery, the node simulator (what `npm run up` runs);
 *   upstream    the control plane alone with kube-controller-manager's own DaemonSet controller (what
 *               `npm run cluster:up -- --upstream-daemonset` runs); the functions must not run beside it.
 * A system already running in the local folder is reused when it is the one asked for, and left running; one started
 * here is stopped at the end. Anything else running there is refused rather than restarted. Simulated nodes are added
 * until at least `nodes` are schedulable (and removed again on a reused system).
 *
 * Results: a per-spec table on stdout, docs/conformance/latest.{md,json} (the latest run of each system, side by side),
 * the raw JUnit report and the suite's full output under <local dir>/conformance/<system>-<time>/.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { KubeConfig } from '@kubernetes/client-node';
import {
  type ConformanceRun,
  type Latest,
  LatestSchema,
  isFailure,
  isProgressLine,
  parseJUnit,
  renderMarkdown,
  runFailed,
} from './conformance-report.ts';
import { down as clusterDown, status as clusterStatus, up as clusterUp } from './controlplane.ts';
import { localPaths, repoRoot } from './paths.ts';
import { addNodes, deleteNodes, isSchedulable, listSimulatedNodes, waitForNodesSchedulable } from './simulator/nodes.ts';
import { isSystemUp, startSystem, stopSystem, type SystemOptions } from './system.ts';

export const systemNames = ['daemonless', 'upstream'] as const;
export type SystemName = (typeof systemNames)[number];

/** The DaemonSet specs of upstream's suite: 10 in v1.37.2, 8 of them [Conformance]. */
export const defaultFocus = String.raw`\[sig-apps\] Daemon set`;

export interface ConformanceOptions {
  system: SystemName;
  /**
   * Passed through to startSystem for the daemonless system (delivery, functions environment, and the shapes to come:
   * another runtime, a managed mode). Ignored by `upstream`, which runs no functions.
   */
  systemOptions?: Omit<SystemOptions, 'log' | 'upstreamDaemonset'>;
  /** Ginkgo focus regular expression; default: every DaemonSet spec. docs/conformance is written only for the default. */
  focus?: string;
  /** Schedulable simulated nodes to have before the suite starts (default 3). */
  nodes?: number;
  /** Whole-suite limit, a Go duration (default 40m: ten specs whose longest waits are 5 min each). */
  timeout?: string;
  /** Ginkgo's random seed, to repeat an earlier run's order. */
  seed?: number;
  /** Show the suite's every output line, not only spec titles, steps and results. */
  verbose?: boolean;
  log?: (line: string) => void;
}

export interface ConformanceResult {
  run: ConformanceRun;
  failed: boolean;
  reportDir: string;
  logFile: string;
  /** docs/conformance/latest.md when it was written. */
  docs: string | undefined;
}

export class ConformanceError extends Error {
  override name = 'ConformanceError';
}

const e2eBuildScript = join(repoRoot, 'devcluster', 'go', 'e2e', 'build.sh');
const docsDir = join(repoRoot, 'docs', 'conformance');
const elapsed = (t0: number): number => Math.round((performance.now() - t0) / 100) / 10;

export async function runConformance(options: ConformanceOptions): Promise<ConformanceResult> {
  const log = options.log ?? ((line: string) => process.stderr.write(`conformance: ${line}\n`));
  const focus = options.focus ?? defaultFocus;
  const nodes = options.nodes ?? 3;
  if (!Number.isInteger(nodes) || nodes < 1) throw new ConformanceError(`nodes must be a positive integer, got ${nodes}`);

  // First the binary (minutes when it must be built), so a system brought up next does not sit idle meanwhile.
  const binary = await obtainE2eBinary(log);
  const up = await bringUp(options.system, options.systemOptions ?? {}, nodes, log);
  let suite: Awaited<ReturnType<typeof runSuite>>;
  try {
    suite = await runSuite(binary.path, up.kubeconfig, { ...options, focus }, log);
  } finally {
    await up.tearDown();
  }

  const junit = parseJUnit(readFileSync(join(suite.reportDir, 'junit_01.xml'), 'utf8'));
  const git = gitState();
  const run: ConformanceRun = {
    system: options.system,
    systemOptions: { ...(options.system === 'daemonless' ? recordable(options.systemOptions ?? {}) : {}), reused: up.reused },
    kubernetes: /e2e-k8s-(v[^/]+)\//.exec(binary.path)?.[1] ?? 'unknown',
    commit: git.commit,
    dirty: git.dirty,
    date: new Date().toISOString(),
    focus,
    nodes: up.nodes,
    ...(junit.seed !== undefined ? { seed: junit.seed } : {}),
    durations: { binarySeconds: binary.seconds, binaryBuilt: binary.built, systemUpSeconds: up.seconds, suiteSeconds: suite.seconds },
    passed: junit.specs.filter((spec) => spec.status === 'passed').length,
    failed: junit.specs.filter((spec) => isFailure(spec.status)).length,
    specs: junit.specs,
    setupFailures: junit.setupFailures,
  };
  if (suite.exitCode !== 0 && !runFailed(run)) {
    // The report says all passed but the binary did not: trust the failure.
    run.setupFailures.push({ name: `e2e.test exited with ${suite.exitCode}`, status: 'failed', seconds: suite.seconds, failure: `see ${suite.logFile}` });
  }
  let docs: string | undefined;
  if (focus === defaultFocus) docs = writeDocs(run, log);
  else log(`custom focus: docs/conformance left as it was`);
  return { run, failed: runFailed(run), reportDir: suite.reportDir, logFile: suite.logFile, docs };
}

/** System options as recorded in docs/conformance: the functions' environment by variable name only (values may be secret). */
function recordable(options: NonNullable<ConformanceOptions['systemOptions']>): Record<string, unknown> {
  const { functionsEnv, ...rest } = options;
  return { ...rest, ...(functionsEnv ? { functionsEnv: Object.keys(functionsEnv) } : {}) };
}

interface Binary {
  path: string;
  seconds: number;
  built: boolean;
}

/** Runs devcluster/go/e2e/build.sh: instant when e2e.test is cached, a Go build of many minutes otherwise. */
async function obtainE2eBinary(log: (line: string) => void): Promise<Binary> {
  const t0 = performance.now();
  const child = spawn('bash', [e2eBuildScript], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let built = false;
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  const tail: string[] = [];
  createInterface({ input: child.stderr }).on('line', (line) => {
    log(line);
    if (line.startsWith('e2e: built in')) built = true;
    tail.push(line);
    if (tail.length > 20) tail.shift();
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  const path = stdout.trim().split('\n').at(-1) ?? '';
  if (code !== 0 || !existsSync(path)) {
    throw new ConformanceError(`devcluster/go/e2e/build.sh exited with ${code} (printed ${JSON.stringify(path)}):\n${tail.join('\n')}`);
  }
  return { path, seconds: elapsed(t0), built };
}

interface Running {
  kubeconfig: string;
  reused: boolean;
  nodes: number;
  seconds: number;
  tearDown: () => Promise<void>;
}

/** Reuses the asked-for system when it runs, starts it when nothing runs, refuses anything else. */
async function bringUp(
  system: SystemName,
  systemOptions: NonNullable<ConformanceOptions['systemOptions']>,
  nodes: number,
  log: (line: string) => void,
): Promise<Running> {
  const t0 = performance.now();
  const paths = localPaths();
  const cluster = await clusterStatus({ log });
  const functions = isSystemUp();
  const upstreamController = cluster.options?.upstreamDaemonset === true;
  const reused = cluster.running && (system === 'daemonless' ? functions && !upstreamController : !functions && upstreamController);
  const anythingAlive = functions || cluster.components.some((c) => c.alive);
  if (!reused && anythingAlive) {
    const what = `${functions ? 'the daemonless functions' : 'no functions'}, control plane ${cluster.running ? 'running' : 'partly running'} with the upstream DaemonSet controller ${upstreamController ? 'on' : 'off'}`;
    throw new ConformanceError(
      `another local system runs in ${paths.root} (${what}), not the ${system} system asked for; ` +
        'stop it with `npm run down` (or set DAEMONLESS_LOCAL_DIR and the DAEMONLESS_*_PORT variables for a separate one)',
    );
  }
  let stop: () => Promise<void> = async () => {};
  if (reused) {
    log(`reusing the ${system} system running in ${paths.root} (left running)`);
  } else if (system === 'daemonless') {
    log('starting the daemonless system (control plane without its DaemonSet controller, functions, audit delivery)');
    await startSystem({ ...systemOptions, log });
    stop = () => stopSystem(log);
  } else {
    log("starting the control plane with kube-controller-manager's own DaemonSet controller (no daemonless functions)");
    await clusterUp({ upstreamDaemonset: true, log });
    stop = () => clusterDown({ log });
  }

  const kc = new KubeConfig();
  kc.loadFromFile(paths.kubeconfig);
  let added: string[] = [];
  let schedulable = 0;
  try {
    schedulable = (await listSimulatedNodes(kc)).filter(isSchedulable).length;
    if (schedulable < nodes) {
      added = await addNodes(kc, nodes - schedulable, { namePrefix: 'conformance' });
      await waitForNodesSchedulable(kc, added);
      log(`added ${added.length} simulated node(s): ${added.join(' ')}`);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    kubeconfig: paths.kubeconfig,
    reused,
    nodes: schedulable + added.length,
    seconds: elapsed(t0),
    tearDown: async () => {
      if (!reused) {
        await stop();
        return;
      }
      if (added.length > 0) {
        await deleteNodes(kc, added);
        log(`removed the ${added.length} simulated node(s) added to the reused system`);
      }
    },
  };
}

interface Suite {
  reportDir: string;
  logFile: string;
  exitCode: number;
  seconds: number;
}

/** Runs e2e.test, writing its whole output to a log file and showing progress lines; Ctrl-C is passed on to it. */
async function runSuite(
  binary: string,
  kubeconfig: string,
  options: ConformanceOptions & { focus: string },
  log: (line: string) => void,
): Promise<Suite> {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const reportDir = join(localPaths().root, 'conformance', `${options.system}-${stamp}`);
  mkdirSync(reportDir, { recursive: true });
  const logFile = join(reportDir, 'e2e.log');
  const args = [
    `--kubeconfig=${kubeconfig}`,
    '--provider=skeleton',
    `--ginkgo.focus=${options.focus}`,
    `--ginkgo.timeout=${options.timeout ?? '40m'}`,
    '--ginkgo.v',
    // Stack traces in the full output: a failure inside a shared helper then also names the spec's line.
    '--ginkgo.trace',
    '--ginkgo.no-color',
    ...(options.seed !== undefined ? [`--ginkgo.seed=${options.seed}`] : []),
    `--report-dir=${reportDir}`,
    `--e2e-output-dir=${reportDir}`,
  ];
  log(`running ${binary} ${args.join(' ')}`);
  log(`full output: ${logFile}`);
  const t0 = performance.now();
  const out = createWriteStream(logFile);
  // Its own process group: a terminal's Ctrl-C reaches only us and is passed on once (Ginkgo takes a second interrupt
  // as "abort now", skipping its reports).
  const child = spawn(binary, args, { cwd: reportDir, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let lastShown = performance.now();
  let current = '';
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      out.write(`${line}\n`);
      if (!options.verbose && !isProgressLine(line)) return;
      if (/^\[sig-/.test(line)) current = line;
      lastShown = performance.now();
      log(line);
    });
  }
  // A spec can wait silently for minutes (upstream's polls run up to 5 min); say it is still alive, and where.
  const heartbeat = setInterval(() => {
    const quiet = (performance.now() - lastShown) / 1000;
    if (quiet >= 60) log(`  … ${Math.round(elapsed(t0))} s into the suite, ${Math.round(quiet)} s since the last step of: ${current}`);
  }, 60_000);
  // Ginkgo reacts to an interrupt by reporting what ran (the JUnit file included) and exiting.
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  let exitCode: number;
  try {
    exitCode = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
    });
  } finally {
    clearInterval(heartbeat);
    process.off('exit', killOnExit);
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
    await new Promise<void>((resolve) => out.end(resolve));
  }
  const seconds = elapsed(t0);
  if (!existsSync(join(reportDir, 'junit_01.xml'))) {
    throw new ConformanceError(`e2e.test exited with ${exitCode} after ${seconds} s without writing a JUnit report; see ${logFile}`);
  }
  return { reportDir, logFile, exitCode, seconds };
}

function gitState(): { commit: string; dirty: boolean } {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
    const changes = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: repoRoot, encoding: 'utf8' }).trim();
    return { commit, dirty: changes !== '' };
  } catch {
    return { commit: 'unknown', dirty: false };
  }
}

/** Where a run is kept in docs/conformance/latest.json: per system, and per runtime for daemonless. */
function runKey(run: ConformanceRun): string {
  return run.system === 'daemonless' && run.systemOptions['runtime'] === 'lambda' ? 'daemonless-lambda' : run.system;
}

/** Records this run beside the other systems' latest ones in docs/conformance/latest.{json,md}. */
function writeDocs(run: ConformanceRun, log: (line: string) => void): string {
  const jsonFile = join(docsDir, 'latest.json');
  let latest: Latest = { runs: {} };
  if (existsSync(jsonFile)) {
    const parsed = LatestSchema.safeParse(JSON.parse(readFileSync(jsonFile, 'utf8')));
    if (parsed.success) latest = parsed.data;
    else log(`warning: ${jsonFile} is not in the expected shape; starting it afresh (${parsed.error.issues[0]?.message ?? ''})`);
  }
  latest = { runs: { ...latest.runs, [runKey(run)]: run } };
  mkdirSync(docsDir, { recursive: true });
  writeFileSync(jsonFile, `${JSON.stringify(latest, null, 2)}\n`);
  const mdFile = join(docsDir, 'latest.md');
  writeFileSync(mdFile, renderMarkdown(latest));
  log(`wrote ${mdFile} and latest.json`);
  return mdFile;
}
