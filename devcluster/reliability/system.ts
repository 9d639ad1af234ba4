/**
 * The system the trials run against: the local control plane with no webhook (delivery: `none`; the trials deliver
 * events themselves), the functions routed through the fault proxy (no rules until a fault phase sets some), in a
 * folder and on ports of their own unless the caller's environment names them.
 *
 * The runtime is passed through to startSystem: `server` (the local functions server) or `lambda` (the built bundles in
 * the local Lambda runtime: API Gateway, the queue, the reconcile function's event source mapping, the resync schedule
 * at the functions' RESYNC_INTERVAL_MS). Per-phase settings restart the functions: the server from its launch record,
 * the Lambda service by stopping it and starting it with the new environment (its queue starts empty).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoordinationV1Api, KubeConfig } from '@kubernetes/client-node';
import { PASS_LOCK_NAME, lockHeldUntil } from '../../src/k8s/leases.ts';
import { restart, trackProcess } from '../controlplane.ts';
import { lambdaPid } from '../lambda/control.ts';
import { lambdaStateDir, stopProductLambda } from '../lambda/product.ts';
import { localPaths } from '../paths.ts';
import { launchFile, readLaunch } from '../state.ts';
import { startSystem, stopSystem, type System, type SystemOptions } from '../system.ts';
import { freePorts } from '../ports.ts';

export type Runtime = 'server' | 'lambda';

export interface TrialSystem {
  system: System;
  kc: KubeConfig;
  localDir: string;
  /** Starts (or restarts) the functions with these settings (e.g. RESYNC_INTERVAL_MS); the cluster is kept. */
  functionsWith(env: Record<string, string>): Promise<System>;
  /** The functions' process: the server, or the local Lambda service (its instances are its children). */
  functionsPid(): number | undefined;
  /** Starts the functions again as they were (after a crash), as a supervisor, or Lambda with fresh instances, would. */
  restartFunctions(reason: string): Promise<void>;
  /** Lambda only: invocations whose runtime exited (crashed), per function, since the trial system started. */
  runtimeExits(): Promise<Record<string, number> | null>;
  /** True while functionsWith restarts them on purpose (a supervisor must not take that for a crash). */
  readonly restartingFunctions: boolean;
  stop(): Promise<void>;
}

const portVars = [
  'DAEMONLESS_APISERVER_PORT',
  'DAEMONLESS_ETCD_PORT',
  'DAEMONLESS_ETCD_PEER_PORT',
  'DAEMONLESS_SCHEDULER_PORT',
  'DAEMONLESS_CONTROLLER_MANAGER_PORT',
] as const;

export async function startTrialSystem(options: {
  runtime: Runtime;
  /** The cluster as a managed one gives it (startSystem `managed`): the built-in DaemonSet controller on, MANAGE=crd. */
  managed?: boolean;
  localDir?: string;
  functionsEnv: Record<string, string>;
  log: (line: string) => void;
}): Promise<TrialSystem> {
  const localDir = options.localDir ?? mkdtempSync(join(tmpdir(), 'daemonless-reliability-'));
  process.env['DAEMONLESS_LOCAL_DIR'] = localDir;
  // Ports the caller did not name are taken free, so a run never collides with a system someone left up.
  const unnamed = portVars.filter((name) => process.env[name] === undefined);
  const picked = await freePorts(unnamed.length);
  unnamed.forEach((name, i) => (process.env[name] = String(picked[i])));
  process.env['DAEMONLESS_FUNCTIONS_PORT'] ??= String((await freePorts(1, { span: 2 }))[0]);
  const start = async (env: Record<string, string>) => {
    // Passed through as given: startSystem reads `runtime` once the Lambda runtime lands (see the report).
    const systemOptions: SystemOptions & { runtime: Runtime } = {
      delivery: 'none',
      runtime: options.runtime,
      managed: options.managed ?? false,
      faultProxy: { config: { rules: [] } },
      functionsEnv: env,
      log: options.log,
    };
    return startSystem(systemOptions);
  };
  let system = await start(options.functionsEnv);
  let currentEnv = options.functionsEnv;
  let restartingFunctions = false;
  const lambda = options.runtime === 'lambda';
  /** Exits counted by the Lambda services stopped so far (each one's counters start at 0). */
  const carriedExits: Record<string, number> = {};
  const serviceExits = async (): Promise<Record<string, number>> => {
    const ready = JSON.parse(readFileSync(join(lambdaStateDir(localPaths(localDir)), 'ready.json'), 'utf8')) as { invokeUrl: string };
    const stats = (await (await fetch(`${ready.invokeUrl}/_local/stats`)).json()) as { functions: Record<string, { exits?: number }> };
    return Object.fromEntries(Object.entries(stats.functions).map(([key, f]) => [key, f.exits ?? 0]));
  };
  const restartLambda = async (env: Record<string, string>) => {
    restartingFunctions = true;
    try {
      const exits = await serviceExits().catch(() => ({}) as Record<string, number>);
      for (const [key, n] of Object.entries(exits)) carriedExits[key] = (carriedExits[key] ?? 0) + n;
      await stopProductLambda(localPaths(localDir), options.log);
      system = await start(env);
      currentEnv = env;
      await passLockFree(kc, options.log);
    } finally {
      restartingFunctions = false;
    }
  };
  const kc = new KubeConfig();
  kc.loadFromFile(system.kubeconfig);
  return {
    get system() {
      return system;
    },
    kc,
    localDir,
    async functionsWith(env) {
      if (lambda) {
        const same = Object.keys({ ...env, ...currentEnv }).every((k) => env[k] === currentEnv[k]);
        if (!same) await restartLambda(env);
        return system;
      }
      // Not through startSystem: it keeps a running functions server whatever its environment, and `up` starts a dead
      // one again with its recorded launch. So the record is updated and the server restarted from it.
      const file = launchFile(join(localDir, 'run'), 'functions');
      const launch = readLaunch(file);
      if (!launch) throw new Error(`no functions launch record in ${file}`);
      if (Object.entries(env).every(([k, v]) => launch.env[k] === v)) return system;
      trackProcess({ ...launch, env: { ...launch.env, ...env } }, { localDir });
      restartingFunctions = true;
      try {
        await restart('functions', { localDir, log: options.log, reason: `reliability: functions with ${JSON.stringify(env)}` });
        await passLockFree(kc, options.log);
      } finally {
        restartingFunctions = false;
      }
      return system;
    },
    get restartingFunctions() {
      return restartingFunctions;
    },
    async restartFunctions(reason) {
      if (lambda) return restartLambda(currentEnv);
      await restart('functions', { localDir, log: options.log, reason });
    },
    async runtimeExits() {
      if (!lambda) return null;
      const now = await serviceExits();
      const keys = new Set([...Object.keys(now), ...Object.keys(carriedExits)]);
      return Object.fromEntries([...keys].map((key) => [key, (now[key] ?? 0) + (carriedExits[key] ?? 0)]));
    },
    functionsPid() {
      if (lambda) return lambdaPid(lambdaStateDir(localPaths(localDir)));
      try {
        return Number(readFileSync(join(localDir, 'run', 'functions.pid'), 'utf8'));
      } catch {
        return undefined;
      }
    },
    stop: () => stopSystem(options.log),
  };
}

/**
 * Stopping the functions between phases kills a pass in flight, whose pass lock then holds until it expires (20 s):
 * a phase starts once it is free, so that its first trials are not judged against a wait the harness caused.
 */
async function passLockFree(kc: KubeConfig, log: (line: string) => void): Promise<void> {
  const api = kc.makeApiClient(CoordinationV1Api);
  const end = Date.now() + 30_000;
  for (;;) {
    const lease = await api.readNamespacedLease({ name: PASS_LOCK_NAME, namespace: 'daemonless-system' }).catch(() => null);
    const until = lease === null ? NaN : lockHeldUntil(lease);
    if (lease === null || !(until > Date.now())) return;
    if (Date.now() > end) throw new Error(`the pass lock is still held ${Math.round((until - Date.now()) / 1000)} s after the restart`);
    log(`reliability: waiting for the pass lock a stopped pass left (held until ${new Date(until).toISOString()})`);
    await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, until - Date.now() + 100)));
  }
}
