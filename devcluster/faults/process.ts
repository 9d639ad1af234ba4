/**
 * The fault proxy as a tracked process beside the control plane of a folder (what startSystem({ faultProxy }) uses):
 * started once with fixed ports, so `cluster:restart -- fault-proxy` brings it back where the functions expect it,
 * and stopped by `down`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type LocalDirOptions, startTracked } from '../controlplane.ts';
import { localPaths, repoRoot } from '../paths.ts';
import { freePorts } from '../ports.ts';
import { isOurProcess, readPidFile } from '../processes.ts';
import { launchFile, readLaunch } from '../state.ts';
import { faultControl } from './control.ts';
import { faultProxyKubeconfigPath } from './local.ts';
import type { FaultConfigInput } from './rules.ts';

export interface FaultProxyProcessOptions extends LocalDirOptions {
  /** The rules in force at start (devcluster/faults/rules.ts); change them later through the control endpoint. */
  readonly config?: FaultConfigInput;
  /** Default: a free port. */
  readonly port?: number;
  readonly controlPort?: number;
}

export interface FaultProxyProcess {
  /** Where it listens (https). */
  readonly url: string;
  /** Its control endpoint: faultControl(controlUrl). */
  readonly controlUrl: string;
  /** The reconciler's kubeconfig with the proxy as server, for the functions. */
  readonly kubeconfig: string;
}

export const faultProxyEntry = join(repoRoot, 'devcluster', 'faults', 'main.ts');

/** Starts the proxy (or keeps the one running, setting its rules when `config` is given); resolves once it answers. */
export async function ensureFaultProxyProcess(options: FaultProxyProcessOptions = {}): Promise<FaultProxyProcess> {
  const log = options.log ?? (() => {});
  const p = localPaths(options.localDir);
  const kubeconfig = faultProxyKubeconfigPath(p.root);
  const running = readLaunch(launchFile(p.run, 'fault-proxy'));
  const runningPid = running ? readPidFile(running.pidFile) : undefined;
  if (running && runningPid !== undefined && isOurProcess(runningPid, running.identity)) {
    const portOf = (flag: string) => Number(running.args[running.args.indexOf(flag) + 1]);
    const result = { url: `https://127.0.0.1:${portOf('--port')}`, controlUrl: `http://127.0.0.1:${portOf('--control-port')}`, kubeconfig };
    if (options.config) await faultControl(result.controlUrl).setConfig(options.config);
    log(`fault proxy: already running (pid ${runningPid}), ${result.url}`);
    return result;
  }
  const [freeA, freeB] = (await freePorts(2)) as [number, number];
  const port = options.port ?? freeA;
  const controlPort = options.controlPort ?? freeB;
  const configFile = join(p.run, 'fault-proxy.config.json');
  mkdirSync(p.run, { recursive: true });
  writeFileSync(configFile, JSON.stringify(options.config ?? {}, null, 2) + '\n');
  const { pid } = await startTracked(
    {
      name: 'fault-proxy',
      command: process.execPath,
      args: [faultProxyEntry, '--local-dir', p.root, '--port', String(port), '--control-port', String(controlPort), '--config', configFile],
      cwd: repoRoot,
      env: {},
      identity: [faultProxyEntry, `--local-dir ${p.root} `],
      stopGraceMs: 5_000,
      healthUrl: `http://127.0.0.1:${controlPort}/healthz`,
      log: join(p.logs, 'fault-proxy.log'),
      pidFile: join(p.run, 'fault-proxy.pid'),
    },
    { localDir: p.root, log },
  );
  log(`fault proxy: started (pid ${pid}), https://127.0.0.1:${port}, control http://127.0.0.1:${controlPort}`);
  return { url: `https://127.0.0.1:${port}`, controlUrl: `http://127.0.0.1:${controlPort}`, kubeconfig };
}
