/**
 * The system the trials run against: the local control plane with no webhook (delivery: `none`; the trials deliver
 * events themselves), the functions routed through the fault proxy (no rules until a fault phase sets some), in a
 * folder and on ports of their own unless the caller's environment names them.
 *
 * The runtime is a parameter passed through to startSystem: `server` (the local functions server) today; `lambda`
 * once the Lambda runtime (the Runtime Interface Emulator behind a queue) is in startSystem.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { restart, trackProcess } from '../controlplane.ts';
import { launchFile, readLaunch } from '../state.ts';
import { startSystem, stopSystem, type System, type SystemOptions } from '../system.ts';
import { freePort } from './ports.ts';

export type Runtime = 'server' | 'lambda';

export interface TrialSystem {
  system: System;
  kc: KubeConfig;
  localDir: string;
  /** Starts (or restarts) the functions with these settings (e.g. RESYNC_INTERVAL_MS); the cluster is kept. */
  functionsWith(env: Record<string, string>): Promise<System>;
  functionsPid(): number | undefined;
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

export async function startTrialSystem(options: { runtime: Runtime; localDir?: string; functionsEnv: Record<string, string>; log: (line: string) => void }): Promise<TrialSystem> {
  const localDir = options.localDir ?? mkdtempSync(join(tmpdir(), 'daemonless-reliability-'));
  process.env['DAEMONLESS_LOCAL_DIR'] = localDir;
  // Ports the caller did not name are taken free, so a run never collides with a system someone left up.
  for (const name of portVars) process.env[name] ??= String(await freePort());
  process.env['DAEMONLESS_FUNCTIONS_PORT'] ??= String(await freePort(2));
  const start = async (env: Record<string, string>) => {
    // Passed through as given: startSystem reads `runtime` once the Lambda runtime lands (see the report).
    const systemOptions: SystemOptions & { runtime: Runtime } = {
      delivery: 'none',
      runtime: options.runtime,
      faultProxy: { config: { rules: [] } },
      functionsEnv: env,
      log: options.log,
    };
    return startSystem(systemOptions);
  };
  const system = await start(options.functionsEnv);
  let restartingFunctions = false;
  const kc = new KubeConfig();
  kc.loadFromFile(system.kubeconfig);
  return {
    get system() {
      return system;
    },
    kc,
    localDir,
    async functionsWith(env) {
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
      } finally {
        restartingFunctions = false;
      }
      return system;
    },
    get restartingFunctions() {
      return restartingFunctions;
    },
    functionsPid() {
      try {
        return Number(readFileSync(join(localDir, 'run', 'functions.pid'), 'utf8'));
      } catch {
        return undefined;
      }
    },
    stop: () => stopSystem(options.log),
  };
}
