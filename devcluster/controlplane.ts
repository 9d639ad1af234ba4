/**
 * The local control plane: real etcd, kube-apiserver, kube-scheduler and kube-controller-manager (without the
 * DaemonSet controller unless asked), on loopback ports, plus the node simulator, and the processes started beside it
 * (the functions server, the fault proxy). `up` starts what is missing and keeps what runs, `restart` restarts one
 * component with the options the cluster was started with, `down` stops exactly what was started and deletes the
 * cluster's data. Used by `npm run cluster:*`, `npm run up`, the vitest globalSetup, benchmarks and the demo.
 *
 * The rules (docs/devcluster.md): a cluster's data (etcd) is deleted only by `down` or `up --fresh`; `up` on an
 * existing cluster restarts only the components that are dead, unhealthy or whose options it was asked to change;
 * options `up` is not given keep the values the cluster runs with; every line of that is said in the log.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApiException,
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  loadAllYaml,
} from '@kubernetes/client-node';
import { obtainBinaries } from './binaries.ts';
import {
  type ComponentContext,
  type ComponentName,
  type ComponentSpec,
  apiserver,
  componentOrder,
  controllerManager,
  etcd,
  scheduler,
  simulator,
} from './components.ts';
import { StartupError, httpsGet, waitReady } from './health.ts';
import { writeKubeconfig } from './kubeconfig.ts';
import {
  type NormalizedOptions,
  type Ports,
  type UpOptions,
  OptionsError,
  auditPolicySha256,
  describeOptions,
  explicitPorts,
  mergeOptions,
  normalizeOptions,
  optionChanges,
  portConflicts,
  portEnvVars,
  requestedOptions,
  resolvePorts,
} from './options.ts';
import { installCrd } from './crd-install.ts';
import { type LocalPaths, localPaths, rbacFile, repoRoot, simulatorEntry } from './paths.ts';
import { type CertFiles, type Pki, ensurePki, pkiLayout } from './pki.ts';
import {
  type Daemon,
  type StopOutcome,
  assertPortFree,
  crashProcess,
  isOurProcess,
  readPidFile,
  spawnDaemon,
  stopProcess,
  waitReaped,
} from './processes.ts';
import {
  type ClusterState,
  type ComponentState,
  type ParsedTrackedLaunch,
  type TrackedLaunch,
  StateError,
  launchFile,
  launchSuffix,
  readLaunch,
  readState,
  writeLaunch,
  writeState,
} from './state.ts';

export type { AuditWebhook, NormalizedOptions, Ports, UpOptions } from './options.ts';
export type { ComponentName } from './components.ts';
export type { TrackedLaunch } from './state.ts';
export type { StopOutcome } from './processes.ts';

export interface ClusterInfo {
  readonly localDir: string;
  /** `https://127.0.0.1:<apiserver port>` */
  readonly server: string;
  /** Admin (system:masters). */
  readonly kubeconfig: string;
  /** The least-privilege `daemonless-reconciler` user. */
  readonly reconcilerKubeconfig: string;
  /** The CA that signed the API server's certificate and the webhook serving certificate. */
  readonly caFile: string;
  /** Serving certificate for 127.0.0.1/localhost: for a local HTTPS webhook endpoint the API server calls. */
  readonly webhookCert: CertFiles;
  /** The reconciler's client certificate (e.g. for a proxy that re-originates its requests). */
  readonly reconcilerCert: CertFiles;
  readonly ports: Ports;
  readonly binDir: string;
  readonly options: NormalizedOptions;
  /** From the start of `up` to ready; for a reused cluster, how long the checks took. */
  readonly readySeconds: number;
  /** True when a control plane was found running, healthy and with the options asked for, and left as it was. */
  readonly reused: boolean;
  /** What this `up` started again in an existing cluster (dead, unhealthy, or with changed options). */
  readonly restarted: readonly string[];
}

export interface LocalDirOptions {
  readonly localDir?: string;
  readonly log?: (line: string) => void;
}

export interface ComponentStatus {
  /** A control-plane component, or a process tracked beside it (`functions`, `fault-proxy`). */
  readonly name: string;
  readonly pid: number | null;
  readonly alive: boolean;
  readonly port: number | null;
  readonly log: string;
}

export interface ClusterStatus {
  readonly localDir: string;
  /** Every process `up` started is alive and the first `up` completed. */
  readonly running: boolean;
  readonly server: string | null;
  readonly kubeconfig: string;
  readonly reconcilerKubeconfig: string;
  readonly components: readonly ComponentStatus[];
  readonly options: NormalizedOptions | null;
  readonly readyAt: string | null;
  readonly restarts: ClusterState['restarts'];
}

/** `restart` or `up` cannot act without deleting data, or on a cluster that does not exist. */
export class ClusterStateError extends Error {
  override name = 'ClusterStateError';
}

const fieldManager = 'daemonless-devcluster';
const defaultLog = (line: string): void => void process.stderr.write(`[devcluster] ${line}\n`);

/** Node 22+ runs the simulator's TypeScript natively; under an older `node` fall back to the project's own Node. */
const nodeBinary =
  Number(process.versions.node.split('.')[0]) >= 22 ? process.execPath : join(repoRoot, 'node_modules', 'node', 'bin', 'node');

/** How long an alive component may fail its health probe before `up` restarts it (it may be waiting on another). */
const healthGraceMs = 30_000;

/**
 * Brings the control plane up. On a new local folder (or with `fresh`) it starts an empty cluster; on an existing one
 * it keeps the data and starts only what is dead, unhealthy, or asked to run with other options (see UpOptions).
 * Resolves once every component is ready.
 */
export async function up(options: UpOptions = {}): Promise<ClusterInfo> {
  const started = performance.now();
  const log = options.log ?? defaultLog;
  const paths = localPaths(options.localDir);
  const requested = requestedOptions(options);

  let existing = tryReadState(paths, log);
  if (options.fresh) {
    // A new cluster, but the same configuration: options and ports not given keep the values of the one replaced,
    // and so does the audit webhook's kubeconfig (its token is stored nowhere else).
    const previous = existing?.readyAt ? existing : undefined;
    const auditKubeconfig = join(paths.config, 'audit-webhook.kubeconfig');
    const keptAudit =
      previous?.options.auditWebhook && requested.auditWebhook === undefined && existsSync(auditKubeconfig)
        ? readFileSync(auditKubeconfig)
        : undefined;
    if (existing || hasPidFiles(paths) || existsSync(paths.etcdData)) {
      log(`--fresh: stopping the control plane in ${paths.root} and DELETING its data (etcd); processes beside it keep running`);
      await stopControlPlane(paths, existing, log);
      wipeClusterData(paths);
    }
    let base = previous ? previous.options : normalizeOptions({});
    if (previous?.options.auditWebhook && requested.auditWebhook === undefined && !keptAudit) {
      log('--fresh: the audit webhook kubeconfig is gone: starting without the audit webhook');
      base = { ...base, auditWebhook: null, auditPolicyFile: null, auditPolicySha256: null };
    }
    if (keptAudit) {
      mkdirSync(paths.config, { recursive: true });
      writeFileSync(auditKubeconfig, keptAudit, { mode: 0o600 });
    }
    const ports = previous ? { ...previous.ports, ...explicitPorts(options.ports) } : resolvePorts(options.ports);
    let wanted = mergeOptions(base, requested);
    if (requested.auditWebhook === undefined && wanted.auditPolicyFile) {
      wanted = { ...wanted, auditPolicySha256: auditPolicySha256(wanted.auditPolicyFile) };
    }
    return startNew(paths, options, wanted, ports, started, log, { auditKubeconfigWritten: keptAudit !== undefined });
  }
  if (existing && existing.readyAt === null) {
    log(`an earlier up in ${paths.root} (started ${existing.startedAt}) never completed: starting over, deleting what it made`);
    await stopControlPlane(paths, existing, log);
    wipeClusterData(paths);
    existing = undefined;
  } else if (!existing && hasPidFiles(paths)) {
    log('cleaning up after an earlier run (pid files without a state file)');
    await stopControlPlane(paths, undefined, log);
  }
  if (existing) return ensureRunning(existing, paths, options, requested, started, log);
  if (existsSync(paths.etcdData)) {
    throw new ClusterStateError(
      `${paths.etcdData} holds a cluster's data but ${paths.state} is missing or unreadable, so it cannot be restarted; ` +
        'run `up --fresh` to delete the data and start a new cluster, or `down`',
    );
  }
  return startNew(paths, options, mergeOptions(normalizeOptions({}), requested), resolvePorts(options.ports), started, log);
}

/** A new, empty cluster in `paths` (nothing of it runs, no data exists). */
async function startNew(
  paths: LocalPaths,
  options: UpOptions,
  normalized: NormalizedOptions,
  ports: Ports,
  started: number,
  log: (line: string) => void,
  { auditKubeconfigWritten = false } = {},
): Promise<ClusterInfo> {
  if (new Set(Object.values(ports)).size !== Object.keys(ports).length) throw new OptionsError(`ports must differ: ${JSON.stringify(ports)}`);
  const wantSimulator = normalized.simulator && existsSync(simulatorEntry);
  if (normalized.simulator && !wantSimulator) log(`warning: ${simulatorEntry} does not exist yet; starting without the node simulator`);

  const binDir = await obtainBinaries(log);
  for (const [key, port] of Object.entries(ports)) await assertPortFree(port, portEnvVars[key as keyof Ports]);
  for (const dir of [paths.root, paths.logs, paths.run, paths.config]) mkdirSync(dir, { recursive: true });

  const { pki, generated } = await ensurePki(paths.pki);
  if (generated) log(`generated a CA, certificates and service-account keys in ${paths.pki}`);
  const server = `https://127.0.0.1:${ports.apiserver}`;
  writeClientKubeconfigs(paths, pki, server);
  if (normalized.auditWebhook && !auditKubeconfigWritten) writeAuditKubeconfig(paths, pki, normalized.auditWebhook.url, options.auditWebhook?.token);
  const ctx = componentContext(paths, pki, ports, normalized, binDir);

  const state: ClusterState = {
    version: 1,
    localDir: paths.root,
    binDir,
    server,
    ports,
    options: normalized,
    components: [],
    startedAt: new Date().toISOString(),
    readyAt: null,
    readySeconds: null,
    restarts: [],
  };
  const daemons: Daemon[] = [];
  const start = async (spec: ComponentSpec): Promise<Daemon> => {
    const daemon = await spawnComponent(paths, spec);
    daemons.push(daemon);
    state.components.push(componentState(spec, daemon));
    // Recorded before waiting on anything, so `down` can clean up after an `up` that fails or is interrupted.
    writeState(paths.state, state);
    return daemon;
  };

  try {
    log(`starting a new cluster in ${paths.root}: etcd and kube-apiserver on ${server}`);
    log(`options: ${describeOptions(normalized)}`);
    await start(etcd(ctx));
    await start(apiserver(ctx));
    await waitReady('kube-apiserver /readyz', readyProbe('kube-apiserver', ctx, server), daemons, 60_000);
    log(`kube-apiserver ready after ${secondsSince(started)} s`);

    const kc = new KubeConfig();
    kc.loadFromFile(paths.kubeconfig);
    await applyManifestFile(kc, rbacFile);
    // The ServerlessDaemonSet CRD (MANAGE=crd|both), on every local cluster: unused, it costs nothing.
    await installCrd(kc);

    const controllers = normalized.upstreamDaemonset ? 'all default controllers, upstream DaemonSet controller included' : 'all default controllers except daemonset';
    log(`starting kube-controller-manager (${controllers}) and kube-scheduler`);
    await start(controllerManager(ctx));
    await start(scheduler(ctx));
    const core = kc.makeApiClient(CoreV1Api);
    await Promise.all([
      ...['default', 'kube-system'].map((namespace) =>
        waitReady(`ServiceAccount ${namespace}/default`, () => serviceAccountExists(core, namespace), daemons, 60_000),
      ),
      waitReady('kube-controller-manager /healthz', readyProbe('kube-controller-manager', ctx, server), daemons, 60_000),
      waitReady('kube-scheduler /healthz', readyProbe('kube-scheduler', ctx, server), daemons, 60_000),
    ]);
    if (wantSimulator) {
      log('starting the node simulator');
      await start(simulator(ctx));
    }
  } catch (error) {
    log(`up failed: ${(error as Error).message}`);
    log(`stopping what was started; logs are kept in ${paths.logs}`);
    await down({ localDir: paths.root, log });
    throw error;
  }

  const readySeconds = secondsSince(started);
  state.readyAt = new Date().toISOString();
  state.readySeconds = readySeconds;
  writeState(paths.state, state);
  log(`control plane ready in ${readySeconds} s (kubeconfig: ${paths.kubeconfig})`);
  return info(paths, state, readySeconds, false, []);
}

/**
 * An existing cluster: keeps its data and its ports; options not asked for keep their running values; starts again
 * what is dead, alive but unhealthy for longer than healthGraceMs, or asked to run with other options.
 */
async function ensureRunning(
  state: ClusterState,
  paths: LocalPaths,
  options: UpOptions,
  requested: ReturnType<typeof requestedOptions>,
  started: number,
  log: (line: string) => void,
): Promise<ClusterInfo> {
  const conflicts = portConflicts(state.ports, explicitPorts(options.ports));
  if (conflicts.length > 0) {
    throw new OptionsError(
      `the control plane in ${paths.root} runs on other ports (${conflicts.join('; ')}); use its ports, or move it with ` +
        '`up --fresh` or `down` (both delete its data)',
    );
  }
  if (!existsSync(paths.etcdData)) {
    throw new ClusterStateError(`${paths.etcdData} is missing: this cluster's data is gone; \`up --fresh\` starts a new one`);
  }
  let wanted = mergeOptions(state.options, requested);
  // A kept audit webhook keeps its policy file, whose content may have been edited since.
  if (requested.auditWebhook === undefined && wanted.auditPolicyFile) {
    wanted = { ...wanted, auditPolicySha256: auditPolicySha256(wanted.auditPolicyFile) };
  }
  const changes = optionChanges(state.options, wanted);
  for (const c of changes) log(`option ${c.option}: ${c.from} → ${c.to}: restarting ${c.component} with it (etcd data kept)`);

  const pki = pkiLayout(paths.pki);
  const missing = [pki.ca.cert, pki.admin.cert, pki.admin.key, pki.reconciler.cert].filter((f) => !existsSync(f));
  if (missing.length > 0) throw new ClusterStateError(`the cluster's PKI is incomplete (${missing.join(', ')}); \`up --fresh\` starts a new cluster`);
  writeClientKubeconfigs(paths, pki, state.server, { onlyMissing: true });
  if (wanted.auditWebhook && changes.some((c) => c.option === 'auditWebhook')) {
    writeAuditKubeconfig(paths, pki, wanted.auditWebhook.url, options.auditWebhook?.token);
  }
  const forced = new Set<string>(changes.map((c) => c.component));
  if (wanted.simulator && !existsSync(simulatorEntry)) {
    log(`warning: ${simulatorEntry} does not exist; not starting the node simulator`);
    wanted = { ...wanted, simulator: false };
  }
  state.options = wanted;
  writeState(paths.state, state);

  let ctx = componentContext(paths, pki, state.ports, wanted, state.binDir);
  const restarted: string[] = [];
  for (const name of componentOrder) {
    const recorded = state.components.find((c) => c.name === name);
    const alive = recorded !== undefined && isOurProcess(recorded.pid, recorded.identity);
    if (name === 'simulator' && !wanted.simulator) {
      if (alive) {
        log('simulator: switched off: stopping it');
        await stopProcess(recorded.pid, recorded.identity, recorded.stopGraceMs);
      }
      state.components = state.components.filter((c) => c.name !== 'simulator');
      rmSync(join(paths.run, 'simulator.pid'), { force: true });
      writeState(paths.state, state);
      continue;
    }
    let reason: string | undefined;
    if (forced.has(name)) reason = 'its options changed';
    else if (!recorded) reason = 'not started yet';
    else if (!alive) reason = `not running (pid ${recorded.pid} is gone)`;
    else {
      const health = await healthyWithin(readyProbe(name, ctx, state.server), healthGraceMs, () =>
        log(`${name} (pid ${recorded.pid}) is alive but not ready: giving it ${healthGraceMs / 1000} s before restarting it`),
      );
      if (health !== true) reason = `alive but not ready for ${healthGraceMs / 1000} s (${health})`;
    }
    if (reason === undefined) continue;
    if (!existsSync(ctx.binDir)) {
      const binDir = await obtainBinaries(log);
      state.binDir = binDir;
      ctx = { ...ctx, binDir };
    }
    const withWhat = forced.has(name) ? 'the new options' : 'the options the cluster runs with';
    log(`${name}: ${reason}: ${alive ? 'restarting' : 'starting'} it with ${withWhat}; etcd data kept`);
    await replaceComponent(paths, state, ctx, name, reason, { log });
    restarted.push(name);
  }
  for (const launch of trackedLaunches(paths)) {
    const pid = readPidFile(launch.pidFile);
    const alive = pid !== undefined && isOurProcess(pid, launch.identity);
    let reason: string | undefined;
    if (!alive) reason = pid === undefined ? 'has no pid file' : `not running (pid ${pid} is gone)`;
    else if (launch.healthUrl) {
      const health = await healthyWithin(() => httpProbe(launch.healthUrl!), healthGraceMs, () =>
        log(`${launch.name} (pid ${pid}) is alive but not healthy: giving it ${healthGraceMs / 1000} s before restarting it`),
      );
      if (health !== true) reason = `alive but not healthy for ${healthGraceMs / 1000} s (${health})`;
    }
    if (reason === undefined) continue;
    log(`${launch.name}: ${reason}: ${alive ? 'restarting' : 'starting'} it with the command and environment it was started with`);
    await replaceTracked(paths, state, launch, reason, { log });
    restarted.push(launch.name);
  }

  const readySeconds = secondsSince(started);
  if (restarted.length === 0 && changes.length === 0) {
    log(`control plane already up in ${paths.root} (checked in ${readySeconds} s); options: ${describeOptions(wanted)}`);
  } else {
    log(`control plane in ${paths.root} ready again in ${readySeconds} s; started again: ${restarted.join(', ') || 'nothing'}; data kept`);
    log(`options: ${describeOptions(wanted)}`);
  }
  return info(paths, state, readySeconds, restarted.length === 0 && changes.length === 0, restarted);
}

export interface RestartOptions extends LocalDirOptions {
  /**
   * How the running process is stopped: SIGTERM (a clean stop: grace period, then SIGKILL) or SIGKILL (a crash,
   * for fault injection). Default SIGTERM.
   */
  readonly signal?: 'SIGTERM' | 'SIGKILL';
  /** Time between the process being gone and the new one starting (an outage). Default 0. */
  readonly downtimeMs?: number;
  /** Recorded in state.json's restart history. */
  readonly reason?: string;
}

export interface RestartResult {
  readonly name: string;
  readonly previousPid: number | null;
  readonly pid: number;
  readonly stopped: StopOutcome;
  /** From the stop signal to the new process being ready. */
  readonly outageSeconds: number;
  /** From the new process's start to ready. */
  readonly readySeconds: number;
}

/**
 * Restarts one component (a control-plane component, or a tracked process: `functions`, `fault-proxy`) with the
 * options and environment the system was started with. etcd's data is kept, and so is everything else that runs.
 */
export async function restart(name: string, options: RestartOptions = {}): Promise<RestartResult> {
  const log = options.log ?? defaultLog;
  const paths = localPaths(options.localDir);
  const state = tryReadState(paths, log);
  if (!state || state.readyAt === null) {
    throw new ClusterStateError(`no control plane was started in ${paths.root}: start one with \`npm run cluster:up\` (or \`npm run up\`)`);
  }
  const launches = trackedLaunches(paths);
  const names = [...state.components.map((c) => c.name), ...launches.map((l) => l.name)];
  const reason = options.reason ?? `restart${options.signal === 'SIGKILL' ? ' after SIGKILL' : ''}`;
  if ((componentOrder as readonly string[]).includes(name) && state.components.some((c) => c.name === name)) {
    const ctx = componentContext(paths, pkiLayout(paths.pki), state.ports, state.options, state.binDir);
    return replaceComponent(paths, state, ctx, name as ComponentName, reason, { ...options, log });
  }
  const launch = launches.find((l) => l.name === name);
  if (launch) return replaceTracked(paths, state, launch, reason, { ...options, log });
  throw new ClusterStateError(`no component named ${JSON.stringify(name)} runs in ${paths.root}; it runs: ${names.join(', ')}`);
}

/**
 * Records how a process started beside the control plane is started (its pid already in `launch.pidFile`), so that
 * `restart` and `up` can start it again with the same command and environment, and `down` stops it.
 */
export function trackProcess(launch: TrackedLaunch, options: { readonly localDir?: string } = {}): void {
  const paths = localPaths(options.localDir);
  mkdirSync(paths.run, { recursive: true });
  writeLaunch(launchFile(paths.run, launch.name), launch);
}

/**
 * Stops the tracked process `name` when its record does not satisfy `keep` (e.g. it runs with another KUBECONFIG than
 * the caller is about to start it with), so the caller can start it again; true when it stopped one.
 */
export async function stopTrackedUnless(
  name: string,
  keep: (launch: ParsedTrackedLaunch) => boolean,
  why: string,
  options: LocalDirOptions = {},
): Promise<boolean> {
  const log = options.log ?? defaultLog;
  const paths = localPaths(options.localDir);
  const launch = readLaunch(launchFile(paths.run, name));
  const pid = launch ? readPidFile(launch.pidFile) : undefined;
  if (!launch || pid === undefined || !isOurProcess(pid, launch.identity) || keep(launch)) return false;
  log(`${name}: stopping pid ${pid} ${why}`);
  await stopProcess(pid, launch.identity, launch.stopGraceMs);
  rmSync(launch.pidFile, { force: true });
  return true;
}

/** Starts a process beside the control plane, tracked like `trackProcess`; resolves once it answers its health URL. */
export async function startTracked(launch: TrackedLaunch, options: LocalDirOptions = {}): Promise<{ readonly pid: number }> {
  const paths = localPaths(options.localDir);
  for (const dir of [paths.run, paths.logs]) mkdirSync(dir, { recursive: true });
  trackProcess(launch, options);
  const parsed = readLaunch(launchFile(paths.run, launch.name))!;
  const daemon = await spawnTrackedLaunch(parsed);
  await waitTrackedReady(parsed, daemon);
  return { pid: daemon.pid };
}

/**
 * Stops exactly the processes recorded in the local folder (the tracked ones beside the control plane first, then the
 * control plane in reverse start order), and DELETES the cluster's state: pids, etcd data, generated configuration,
 * kubeconfigs. Logs and the PKI are kept. Safe to call when nothing runs.
 */
export async function down(options: LocalDirOptions = {}): Promise<void> {
  const log = options.log ?? defaultLog;
  const paths = localPaths(options.localDir);
  const state = tryReadState(paths, log);
  const stopped = await stopTrackedProcesses(paths, log);
  stopped.push(...(await stopControlPlane(paths, state, log)));
  await waitReaped(stopped);
  for (const path of [paths.run, paths.etcdData, paths.config, paths.state, paths.kubeconfig, paths.reconcilerKubeconfig]) {
    rmSync(path, { recursive: true, force: true });
  }
}

/** What runs in the local folder, per component. Never starts or stops anything. */
export async function status(options: LocalDirOptions = {}): Promise<ClusterStatus> {
  const log = options.log ?? defaultLog;
  const paths = localPaths(options.localDir);
  const state = tryReadState(paths, log);
  const targets = componentTargets(paths, state);
  const components = componentOrder
    .filter((name) => targets.has(name))
    .map((name): ComponentStatus => {
      const target = targets.get(name)!;
      return {
        name,
        pid: target.pid,
        alive: isOurProcess(target.pid, target.identity),
        port: target.port,
        log: join(paths.logs, `${name}.log`),
      };
    });
  for (const launch of trackedLaunches(paths)) {
    const pid = readPidFile(launch.pidFile) ?? null;
    const port = launch.healthUrl ? Number(new URL(launch.healthUrl).port) || null : null;
    components.push({ name: launch.name, pid, alive: pid !== null && isOurProcess(pid, launch.identity), port, log: launch.log });
  }
  return {
    localDir: paths.root,
    running: state?.readyAt != null && components.length > 0 && components.every((c) => c.alive),
    server: state?.server ?? null,
    kubeconfig: paths.kubeconfig,
    reconcilerKubeconfig: paths.reconcilerKubeconfig,
    components,
    options: state?.options ?? null,
    readyAt: state?.readyAt ?? null,
    restarts: state?.restarts ?? [],
  };
}

export function formatStatus(s: ClusterStatus): string {
  const lines = [`local dir: ${s.localDir}`, `state: ${s.running ? 'running' : s.components.length ? 'NOT healthy' : 'down'}`];
  if (s.server) lines.push(`server: ${s.server}`);
  for (const c of s.components) {
    const port = c.port === null ? '' : ` port ${c.port}`;
    lines.push(`  ${c.name.padEnd(24)} pid ${String(c.pid).padEnd(8)} ${c.alive ? 'alive' : 'DEAD '}${port}  log ${c.log}`);
  }
  if (s.options) lines.push(`options: ${describeOptions(s.options)}`);
  if (s.restarts.length > 0) {
    const last = s.restarts.at(-1)!;
    lines.push(`restarts since the first up: ${s.restarts.length} (last: ${last.name} at ${last.at}, ${last.reason})`);
  }
  if (s.running) lines.push(`kubeconfig (admin): ${s.kubeconfig}`, `kubeconfig (reconciler): ${s.reconcilerKubeconfig}`);
  if (!s.running && s.components.length > 0) lines.push('`npm run cluster:up` starts again what is dead, keeping the data');
  return lines.join('\n');
}

/** Server-side applies every object of a YAML file (idempotent; our field manager owns what it sets). */
export async function applyManifestFile(kc: KubeConfig, file: string): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  for (const object of loadAllYaml(readFileSync(file, 'utf8'))) {
    if (!object) continue;
    await api.patch(object, undefined, undefined, fieldManager, true, PatchStrategy.ServerSideApply);
  }
}

// ---------------------------------------------------------------------------------------------------------------

function secondsSince(t0: number): number {
  return Math.round((performance.now() - t0) / 100) / 10;
}

function tryReadState(paths: LocalPaths, log: (line: string) => void): ClusterState | undefined {
  try {
    return readState(paths.state);
  } catch (error) {
    if (!(error instanceof StateError)) throw error;
    log(`warning: ignoring unreadable state: ${error.message}`);
    return undefined;
  }
}

function hasPidFiles(paths: LocalPaths): boolean {
  return componentOrder.some((name) => existsSync(join(paths.run, `${name}.pid`)));
}

interface StopTarget {
  readonly pid: number;
  readonly identity: readonly string[];
  readonly stopGraceMs: number;
  readonly port: number | null;
}

/**
 * Pid files are the source of truth; state.json adds how to recognise each process. Without state (a crash between
 * the two writes), a component is recognised by its name and the local folder in its command line.
 */
function componentTargets(paths: LocalPaths, state: ClusterState | undefined): Map<ComponentName, StopTarget> {
  const targets = new Map<ComponentName, StopTarget>();
  for (const name of componentOrder) {
    const recorded = state?.components.find((c) => c.name === name);
    const pid = readPidFile(join(paths.run, `${name}.pid`)) ?? recorded?.pid;
    if (pid === undefined) continue;
    const fallback = name === 'simulator' ? simulator({ paths, simulatorEntry, nodeBinary }).identity : [name, paths.root + '/'];
    targets.set(name, {
      pid,
      identity: recorded?.pid === pid ? recorded.identity : fallback,
      stopGraceMs: recorded?.stopGraceMs ?? 30_000,
      port: recorded?.port ?? null,
    });
  }
  return targets;
}

/** Stops the control plane's components (not the tracked processes beside it); returns the pids it stopped. */
async function stopControlPlane(paths: LocalPaths, state: ClusterState | undefined, log: (line: string) => void): Promise<number[]> {
  const targets = componentTargets(paths, state);
  // The simulator first (it writes through the API server), then the API server's clients, then the API server, then
  // its storage. Components of one stage stop concurrently.
  const stopped: number[] = [];
  const stages: ComponentName[][] = [['simulator'], ['kube-controller-manager', 'kube-scheduler'], ['kube-apiserver'], ['etcd']];
  for (const stage of stages) {
    await Promise.all(
      stage.map(async (name) => {
        const target = targets.get(name);
        if (!target) return;
        const t0 = performance.now();
        const outcome = await stopProcess(target.pid, target.identity, target.stopGraceMs);
        if (outcome !== 'not-running') {
          stopped.push(target.pid);
          log(`stopped ${name} (pid ${target.pid}, ${outcome}) in ${secondsSince(t0)} s`);
        }
      }),
    );
  }
  for (const name of componentOrder) rmSync(join(paths.run, `${name}.pid`), { force: true });
  return stopped;
}

/** Stops every tracked process beside the control plane, concurrently; returns the pids it stopped. */
async function stopTrackedProcesses(paths: LocalPaths, log: (line: string) => void): Promise<number[]> {
  const stopped: number[] = [];
  await Promise.all(
    trackedLaunches(paths, log).map(async (launch) => {
      const pid = readPidFile(launch.pidFile);
      if (pid === undefined) return;
      const outcome = await stopProcess(pid, launch.identity, launch.stopGraceMs);
      rmSync(launch.pidFile, { force: true });
      if (outcome !== 'not-running') {
        stopped.push(pid);
        log(`stopped ${launch.name} (pid ${pid}, ${outcome})`);
      }
    }),
  );
  return stopped;
}

/** Deletes a stopped cluster's data and what describes it; keeps the PKI, the logs and the tracked processes' records. */
function wipeClusterData(paths: LocalPaths): void {
  for (const path of [paths.etcdData, paths.config, paths.state]) rmSync(path, { recursive: true, force: true });
}

/** The tracked processes' records (`run/*.launch.json`); an unreadable one is reported and skipped. */
function trackedLaunches(paths: LocalPaths, log: (line: string) => void = defaultLog): ParsedTrackedLaunch[] {
  if (!existsSync(paths.run)) return [];
  return readdirSync(paths.run)
    .filter((f) => f.endsWith(launchSuffix))
    .sort()
    .flatMap((f) => {
      try {
        const launch = readLaunch(join(paths.run, f));
        return launch ? [launch] : [];
      } catch (error) {
        log(`warning: ignoring ${f}: ${(error as Error).message}`);
        return [];
      }
    });
}

function componentState(spec: ComponentSpec, daemon: Daemon): ComponentState {
  return {
    name: spec.name,
    pid: daemon.pid,
    identity: [...spec.identity],
    stopGraceMs: spec.stopGraceMs,
    port: spec.port ?? null,
    log: daemon.log,
  };
}

function spawnComponent(paths: LocalPaths, spec: ComponentSpec): Promise<Daemon> {
  return spawnDaemon({
    name: spec.name,
    command: spec.command,
    args: spec.args,
    env: spec.env,
    logFile: join(paths.logs, `${spec.name}.log`),
    pidFile: join(paths.run, `${spec.name}.pid`),
  });
}

function specFor(name: ComponentName, ctx: ComponentContext): ComponentSpec {
  const specs: Record<ComponentName, (c: ComponentContext) => ComponentSpec> = {
    etcd,
    'kube-apiserver': apiserver,
    'kube-controller-manager': controllerManager,
    'kube-scheduler': scheduler,
    simulator,
  };
  return specs[name](ctx);
}

/**
 * Stops one component (cleanly, or by `options.signal`), starts it again from `ctx`, waits until it is ready, and
 * records the restart. Everything else keeps running; etcd's data is never touched.
 */
async function replaceComponent(
  paths: LocalPaths,
  state: ClusterState,
  ctx: ComponentContext,
  name: ComponentName,
  reason: string,
  options: RestartOptions & { readonly log: (line: string) => void },
): Promise<RestartResult> {
  const recorded = state.components.find((c) => c.name === name);
  const t0 = performance.now();
  const stopped = recorded ? await stopForRestart(recorded.pid, recorded.identity, recorded.stopGraceMs, options.signal) : 'not-running';
  if (recorded && stopped !== 'not-running') options.log(`stopped ${name} (pid ${recorded.pid}, ${stopped}) in ${secondsSince(t0)} s`);
  if (options.downtimeMs) await sleep(options.downtimeMs);
  const spec = specFor(name, ctx);
  if (spec.port !== undefined) await assertPortFree(spec.port, `${name} (${spec.port})`);
  const t1 = performance.now();
  const daemon = await spawnComponent(paths, spec);
  state.components = [...state.components.filter((c) => c.name !== name), componentState(spec, daemon)].sort(
    (a, b) => componentOrder.indexOf(a.name) - componentOrder.indexOf(b.name),
  );
  writeState(paths.state, state);
  await waitReady(`${name} ready`, readyProbe(name, ctx, state.server), [daemon], 90_000);
  const readySeconds = secondsSince(t1);
  state.restarts.push({ name, at: new Date().toISOString(), reason, previousPid: recorded?.pid ?? null, pid: daemon.pid });
  writeState(paths.state, state);
  options.log(`${name}: started (pid ${daemon.pid}), ready in ${readySeconds} s`);
  return { name, previousPid: recorded?.pid ?? null, pid: daemon.pid, stopped, outageSeconds: secondsSince(t0), readySeconds };
}

/** The same for a tracked process beside the control plane. */
async function replaceTracked(
  paths: LocalPaths,
  state: ClusterState,
  launch: ParsedTrackedLaunch,
  reason: string,
  options: RestartOptions & { readonly log: (line: string) => void },
): Promise<RestartResult> {
  const previous = readPidFile(launch.pidFile) ?? null;
  const t0 = performance.now();
  const stopped = previous !== null ? await stopForRestart(previous, launch.identity, launch.stopGraceMs, options.signal) : 'not-running';
  if (previous !== null && stopped !== 'not-running') options.log(`stopped ${launch.name} (pid ${previous}, ${stopped}) in ${secondsSince(t0)} s`);
  if (options.downtimeMs) await sleep(options.downtimeMs);
  const t1 = performance.now();
  const daemon = await spawnTrackedLaunch(launch);
  await waitTrackedReady(launch, daemon);
  const readySeconds = secondsSince(t1);
  state.restarts.push({ name: launch.name, at: new Date().toISOString(), reason, previousPid: previous, pid: daemon.pid });
  writeState(paths.state, state);
  options.log(`${launch.name}: started (pid ${daemon.pid}), ready in ${readySeconds} s`);
  return { name: launch.name, previousPid: previous, pid: daemon.pid, stopped, outageSeconds: secondsSince(t0), readySeconds };
}

function stopForRestart(pid: number, identity: readonly string[], graceMs: number, signal: RestartOptions['signal']): Promise<StopOutcome> {
  return signal === 'SIGKILL' ? crashProcess(pid, identity, 'SIGKILL') : stopProcess(pid, identity, graceMs);
}

function spawnTrackedLaunch(launch: ParsedTrackedLaunch): Promise<Daemon> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...launch.env };
  for (const [key, file] of Object.entries(launch.envFiles)) {
    try {
      env[key] = readFileSync(file, 'utf8').trim();
    } catch {
      throw new ClusterStateError(`${launch.name}: cannot read ${file} (the value of ${key})`);
    }
  }
  return spawnDaemon({ name: launch.name, command: launch.command, args: launch.args, env, logFile: launch.log, pidFile: launch.pidFile, ...(launch.cwd ? { cwd: launch.cwd } : {}) });
}

async function waitTrackedReady(launch: ParsedTrackedLaunch, daemon: Daemon): Promise<void> {
  if (launch.healthUrl) await waitReady(`${launch.name} ${launch.healthUrl}`, () => httpProbe(launch.healthUrl!), [daemon], 60_000);
}

/**
 * Polls `probe` for up to `graceMs`: true as soon as it passes, else its last answer. `onFirstFailure` runs once, so
 * a wait that is not instant is said in the log.
 */
async function healthyWithin(probeFn: () => Promise<true | string>, graceMs: number, onFirstFailure: () => void): Promise<true | string> {
  const deadline = Date.now() + graceMs;
  let last = 'no answer';
  for (let attempt = 0; ; attempt += 1) {
    try {
      const answer = await probeFn();
      if (answer === true) return true;
      last = answer;
    } catch (error) {
      last = (error as Error).message;
    }
    if (attempt === 0) onFirstFailure();
    if (Date.now() > deadline) return last;
    await sleep(500);
  }
}

/** The probe that says a component is ready: etcd /health, the API server's /readyz, the others' /healthz. */
function readyProbe(name: ComponentName, ctx: ComponentContext, server: string): () => Promise<true | string> {
  switch (name) {
    case 'etcd':
      return async () => {
        const answer = await httpProbe(`http://127.0.0.1:${ctx.ports.etcdClient}/health`);
        return answer;
      };
    case 'kube-apiserver': {
      const { pki } = ctx;
      return () => probe(`${server}/readyz`, { ca: readFileSync(pki.ca.cert), cert: readFileSync(pki.admin.cert), key: readFileSync(pki.admin.key) });
    }
    case 'kube-controller-manager':
      return () => probe(`https://127.0.0.1:${ctx.ports.controllerManager}/healthz`, { insecure: true });
    case 'kube-scheduler':
      return () => probe(`https://127.0.0.1:${ctx.ports.scheduler}/healthz`, { insecure: true });
    case 'simulator':
      // It serves nothing; alive is all there is to know.
      return async () => true;
  }
}

async function httpProbe(url: string): Promise<true | string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  const body = await response.text();
  return response.ok ? true : `HTTP ${response.status}: ${body.slice(0, 300)}`;
}

/** The command lines' inputs, from files `up` wrote; nothing is written. */
function componentContext(paths: LocalPaths, pki: Pki, ports: Ports, options: NormalizedOptions, binDir: string): ComponentContext {
  const auditKubeconfig = join(paths.config, 'audit-webhook.kubeconfig');
  if (options.auditWebhook && !existsSync(auditKubeconfig)) {
    throw new ClusterStateError(`${auditKubeconfig} is missing: run up again with the audit webhook option (its token is not stored elsewhere)`);
  }
  return {
    binDir,
    paths,
    pki,
    ports,
    options,
    controllerManagerKubeconfig: join(paths.config, 'kube-controller-manager.kubeconfig'),
    schedulerKubeconfig: join(paths.config, 'kube-scheduler.kubeconfig'),
    simulatorEntry,
    nodeBinary,
    ...(options.auditWebhook ? { auditKubeconfig } : {}),
  };
}

/** The kubeconfigs of the users and the components (the same content every time: the PKI does not change). */
function writeClientKubeconfigs(paths: LocalPaths, pki: Pki, server: string, { onlyMissing = false } = {}): void {
  mkdirSync(paths.config, { recursive: true });
  const cluster = { server, caFile: pki.ca.cert };
  const files: [string, string, CertFiles][] = [
    [paths.kubeconfig, 'daemonless-admin', pki.admin],
    [paths.reconcilerKubeconfig, 'daemonless-reconciler', pki.reconciler],
    [join(paths.config, 'kube-controller-manager.kubeconfig'), 'kube-controller-manager', pki.controllerManager],
    [join(paths.config, 'kube-scheduler.kubeconfig'), 'kube-scheduler', pki.scheduler],
  ];
  for (const [file, name, clientCert] of files) {
    if (onlyMissing && existsSync(file)) continue;
    writeKubeconfig(file, { name, ...cluster, user: { clientCert } });
  }
}

/** The kubeconfig kube-apiserver reads to reach the audit webhook; holds the token (0600). */
function writeAuditKubeconfig(paths: LocalPaths, pki: Pki, url: string, token: string | undefined): void {
  mkdirSync(paths.config, { recursive: true });
  writeKubeconfig(join(paths.config, 'audit-webhook.kubeconfig'), {
    name: 'audit-webhook',
    server: url,
    // An https receiver is expected to serve the webhook certificate signed by our CA.
    ...(url.startsWith('https:') ? { caFile: pki.ca.cert } : {}),
    user: { token },
  });
}

async function probe(url: string, tls: Parameters<typeof httpsGet>[1]): Promise<true | string> {
  const { status, body } = await httpsGet(url, tls);
  return status === 200 ? true : `HTTP ${status}: ${body.slice(0, 300)}`;
}

async function serviceAccountExists(core: CoreV1Api, namespace: string): Promise<true | string> {
  try {
    await core.readNamespacedServiceAccount({ name: 'default', namespace });
    return true;
  } catch (error) {
    if (error instanceof ApiException && error.code === 404) return 'not created yet';
    throw error;
  }
}

function info(paths: LocalPaths, state: ClusterState, readySeconds: number, reused: boolean, restarted: readonly string[]): ClusterInfo {
  const pki = pkiLayout(paths.pki);
  return {
    localDir: paths.root,
    server: state.server,
    kubeconfig: paths.kubeconfig,
    reconcilerKubeconfig: paths.reconcilerKubeconfig,
    caFile: pki.ca.cert,
    webhookCert: pki.webhook,
    reconcilerCert: pki.reconciler,
    ports: state.ports,
    binDir: state.binDir,
    options: state.options,
    readySeconds,
    reused,
    restarted,
  };
}

export { StartupError };
