/**
 * The local control plane: real etcd, kube-apiserver, kube-scheduler and kube-controller-manager (without the
 * DaemonSet controller unless asked), on loopback ports, plus the node simulator. `up` is idempotent, `down` stops
 * exactly what `up` started. Used by `npm run cluster:*`, the vitest globalSetup, benchmarks and the demo.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
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
  normalizeOptions,
  portEnvVars,
  resolvePorts,
  sameOptions,
} from './options.ts';
import { type LocalPaths, localPaths, rbacFile, repoRoot, simulatorEntry } from './paths.ts';
import { type CertFiles, type Pki, ensurePki, pkiLayout } from './pki.ts';
import { type Daemon, assertPortFree, isOurProcess, readPidFile, spawnDaemon, stopProcess, waitReaped } from './processes.ts';
import { type ClusterState, type ComponentState, StateError, readState, writeState } from './state.ts';

export type { AuditWebhook, NormalizedOptions, Ports, UpOptions } from './options.ts';
export type { ComponentName } from './components.ts';

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
  readonly ports: Ports;
  readonly binDir: string;
  readonly options: NormalizedOptions;
  /** From the start of `up` to ready; for a reused cluster, how long the reuse check took. */
  readonly readySeconds: number;
  /** True when a running control plane with the same options was found and left as it was. */
  readonly reused: boolean;
}

export interface LocalDirOptions {
  readonly localDir?: string;
  readonly log?: (line: string) => void;
}

export interface ComponentStatus {
  readonly name: ComponentName;
  readonly pid: number | null;
  readonly alive: boolean;
  readonly port: number | null;
  readonly log: string;
}

export interface ClusterStatus {
  readonly localDir: string;
  /** Every component `up` started is alive and `up` completed. */
  readonly running: boolean;
  readonly server: string | null;
  readonly kubeconfig: string;
  readonly reconcilerKubeconfig: string;
  readonly components: readonly ComponentStatus[];
  readonly options: NormalizedOptions | null;
  readonly readyAt: string | null;
}

const fieldManager = 'daemonless-devcluster';
const defaultLog = (line: string): void => void process.stderr.write(`[devcluster] ${line}\n`);

/** Node 22+ runs the simulator's TypeScript natively; under an older `node` fall back to the project's own Node. */
const nodeBinary =
  Number(process.versions.node.split('.')[0]) >= 22 ? process.execPath : join(repoRoot, 'node_modules', 'node', 'bin', 'node');

/**
 * Brings the control plane up, or reuses the one running in the same local folder when it was started with the same
 * options (a different configuration is stopped and started again). Resolves once the API server is ready, RBAC is
 * applied, and the `default` ServiceAccounts exist (admission rejects pods until they do).
 */
export async function up(options: UpOptions = {}): Promise<ClusterInfo> {
  const started = performance.now();
  const log = options.log ?? defaultLog;
  const paths = localPaths(options.localDir);
  const ports = resolvePorts(options.ports);
  const normalized = normalizeOptions(options);
  const wantSimulator = normalized.simulator && existsSync(simulatorEntry);
  if (normalized.simulator && !wantSimulator) log(`warning: ${simulatorEntry} does not exist yet; starting without the node simulator`);

  const existing = tryReadState(paths, log);
  if (existing && (await reusable(existing, paths, ports, normalized))) {
    const state = wantSimulator ? await ensureSimulator(existing, paths, log) : existing;
    const readySeconds = secondsSince(started);
    log(`control plane already up in ${paths.root} with the same options (checked in ${readySeconds} s)`);
    return info(paths, state, readySeconds, true);
  }
  if (existing || hasPidFiles(paths)) {
    log(existing ? 'control plane found with other options or not healthy: restarting it' : 'cleaning up after an earlier run');
    await down({ localDir: paths.root, log });
  }

  const binDir = await obtainBinaries(log);
  for (const [key, port] of Object.entries(ports)) await assertPortFree(port, portEnvVars[key as keyof Ports]);
  for (const dir of [paths.root, paths.logs, paths.run, paths.config]) mkdirSync(dir, { recursive: true });
  rmSync(paths.etcdData, { recursive: true, force: true });

  const { pki, generated } = await ensurePki(paths.pki);
  if (generated) log(`generated a CA, certificates and service-account keys in ${paths.pki}`);
  const server = `https://127.0.0.1:${ports.apiserver}`;
  const ctx = writeConfig(paths, pki, ports, normalized, binDir, server, options.auditWebhook?.token);

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
  };
  const daemons: Daemon[] = [];
  const start = async (spec: ComponentSpec): Promise<Daemon> => {
    const daemon = await spawnDaemon({
      name: spec.name,
      command: spec.command,
      args: spec.args,
      env: spec.env,
      logFile: join(paths.logs, `${spec.name}.log`),
      pidFile: join(paths.run, `${spec.name}.pid`),
    });
    daemons.push(daemon);
    state.components.push(componentState(spec, daemon));
    // Recorded before waiting on anything, so `down` can clean up after an `up` that fails or is interrupted.
    writeState(paths.state, state);
    return daemon;
  };

  try {
    log(`starting etcd and kube-apiserver on ${server}`);
    await start(etcd(ctx));
    await start(apiserver(ctx));
    const tls = { ca: readFileSync(pki.ca.cert), cert: readFileSync(pki.admin.cert), key: readFileSync(pki.admin.key) };
    await waitReady('kube-apiserver /readyz', () => probe(`${server}/readyz`, tls), daemons, 60_000);
    log(`kube-apiserver ready after ${secondsSince(started)} s`);

    const kc = new KubeConfig();
    kc.loadFromFile(paths.kubeconfig);
    await applyManifestFile(kc, rbacFile);

    const controllers = normalized.upstreamDaemonset ? 'all default controllers, upstream DaemonSet controller included' : 'all default controllers except daemonset';
    log(`starting kube-controller-manager (${controllers}) and kube-scheduler`);
    await start(controllerManager(ctx));
    await start(scheduler(ctx));
    const core = kc.makeApiClient(CoreV1Api);
    await Promise.all([
      ...['default', 'kube-system'].map((namespace) =>
        waitReady(`ServiceAccount ${namespace}/default`, () => serviceAccountExists(core, namespace), daemons, 60_000),
      ),
      waitReady('kube-controller-manager /healthz', () => probe(`https://127.0.0.1:${ports.controllerManager}/healthz`, { insecure: true }), daemons, 60_000),
      waitReady('kube-scheduler /healthz', () => probe(`https://127.0.0.1:${ports.scheduler}/healthz`, { insecure: true }), daemons, 60_000),
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
  return info(paths, state, readySeconds, false);
}

/**
 * Stops, in reverse start order, exactly the processes recorded in the local folder's pid files, and removes the
 * cluster's state (pids, etcd data, generated configuration, kubeconfigs). Logs and the PKI are kept. Safe to call
 * when nothing runs.
 */
export async function down(options: LocalDirOptions = {}): Promise<void> {
  const log = options.log ?? defaultLog;
  const paths = localPaths(options.localDir);
  const state = tryReadState(paths, log);
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
  return {
    localDir: paths.root,
    running: state?.readyAt != null && components.length > 0 && components.every((c) => c.alive),
    server: state?.server ?? null,
    kubeconfig: paths.kubeconfig,
    reconcilerKubeconfig: paths.reconcilerKubeconfig,
    components,
    options: state?.options ?? null,
    readyAt: state?.readyAt ?? null,
  };
}

export function formatStatus(s: ClusterStatus): string {
  const lines = [`local dir: ${s.localDir}`, `state: ${s.running ? 'running' : s.components.length ? 'NOT healthy' : 'down'}`];
  if (s.server) lines.push(`server: ${s.server}`);
  for (const c of s.components) {
    const port = c.port === null ? '' : ` port ${c.port}`;
    lines.push(`  ${c.name.padEnd(24)} pid ${String(c.pid).padEnd(8)} ${c.alive ? 'alive' : 'DEAD '}${port}  log ${c.log}`);
  }
  if (s.options) {
    const o = s.options;
    lines.push(
      `options: upstream DaemonSet controller ${o.upstreamDaemonset ? 'on' : 'off'}, kcm qps ${o.kcmQps ?? 'default'} burst ${o.kcmBurst ?? 'default'}, ` +
        `audit webhook ${o.auditWebhook ? new URL(o.auditWebhook.url).origin : 'off'}, simulator ${o.simulator ? 'on' : 'off'}`,
    );
  }
  if (s.running) lines.push(`kubeconfig (admin): ${s.kubeconfig}`, `kubeconfig (reconciler): ${s.reconcilerKubeconfig}`);
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

const coreComponents: readonly ComponentName[] = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'];

async function reusable(state: ClusterState, paths: LocalPaths, ports: Ports, options: NormalizedOptions): Promise<boolean> {
  if (state.readyAt === null || !sameOptions(state.options, options)) return false;
  if (JSON.stringify(state.ports) !== JSON.stringify(ports)) return false;
  const alive = coreComponents.every((name) => {
    const c = state.components.find((x) => x.name === name);
    return c !== undefined && isOurProcess(c.pid, c.identity);
  });
  if (!alive || !existsSync(paths.kubeconfig)) return false;
  const pki = pkiLayout(paths.pki);
  try {
    const tls = { ca: readFileSync(pki.ca.cert), cert: readFileSync(pki.admin.cert), key: readFileSync(pki.admin.key) };
    return (await probe(`${state.server}/readyz`, tls)) === true;
  } catch {
    return false;
  }
}

/** Restarts the simulator alone when the rest of a reused control plane is healthy but it is not running. */
async function ensureSimulator(state: ClusterState, paths: LocalPaths, log: (line: string) => void): Promise<ClusterState> {
  const recorded = state.components.find((c) => c.name === 'simulator');
  if (recorded && isOurProcess(recorded.pid, recorded.identity)) return state;
  log('node simulator not running: starting it');
  const spec = simulator({ paths, simulatorEntry, nodeBinary });
  const daemon = await spawnDaemon({
    name: spec.name,
    command: spec.command,
    args: spec.args,
    env: spec.env,
    logFile: join(paths.logs, 'simulator.log'),
    pidFile: join(paths.run, 'simulator.pid'),
  });
  const next = { ...state, components: [...state.components.filter((c) => c.name !== 'simulator'), componentState(spec, daemon)] };
  writeState(paths.state, next);
  return next;
}

/** Writes every kubeconfig the components and users need; returns what the component command lines are built from. */
function writeConfig(
  paths: LocalPaths,
  pki: Pki,
  ports: Ports,
  options: NormalizedOptions,
  binDir: string,
  server: string,
  auditToken?: string,
): ComponentContext {
  const cluster = { server, caFile: pki.ca.cert };
  writeKubeconfig(paths.kubeconfig, { name: 'daemonless-admin', ...cluster, user: { clientCert: pki.admin } });
  writeKubeconfig(paths.reconcilerKubeconfig, { name: 'daemonless-reconciler', ...cluster, user: { clientCert: pki.reconciler } });
  const controllerManagerKubeconfig = join(paths.config, 'kube-controller-manager.kubeconfig');
  const schedulerKubeconfig = join(paths.config, 'kube-scheduler.kubeconfig');
  writeKubeconfig(controllerManagerKubeconfig, { name: 'kube-controller-manager', ...cluster, user: { clientCert: pki.controllerManager } });
  writeKubeconfig(schedulerKubeconfig, { name: 'kube-scheduler', ...cluster, user: { clientCert: pki.scheduler } });
  let auditKubeconfig: string | undefined;
  if (options.auditWebhook) {
    auditKubeconfig = join(paths.config, 'audit-webhook.kubeconfig');
    const url = options.auditWebhook.url;
    writeKubeconfig(auditKubeconfig, {
      name: 'audit-webhook',
      server: url,
      // An https receiver is expected to serve the webhook certificate signed by our CA.
      ...(url.startsWith('https:') ? { caFile: pki.ca.cert } : {}),
      user: { token: auditToken },
    });
  }
  return {
    binDir,
    paths,
    pki,
    ports,
    options,
    controllerManagerKubeconfig,
    schedulerKubeconfig,
    simulatorEntry,
    nodeBinary,
    ...(auditKubeconfig ? { auditKubeconfig } : {}),
  };
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

function info(paths: LocalPaths, state: ClusterState, readySeconds: number, reused: boolean): ClusterInfo {
  const pki = pkiLayout(paths.pki);
  return {
    localDir: paths.root,
    server: state.server,
    kubeconfig: paths.kubeconfig,
    reconcilerKubeconfig: paths.reconcilerKubeconfig,
    caFile: pki.ca.cert,
    webhookCert: pki.webhook,
    ports: state.ports,
    binDir: state.binDir,
    options: state.options,
    readySeconds,
    reused,
  };
}

export { StartupError };
