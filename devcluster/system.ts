/**
 * The whole local system: the control plane with event delivery wired to the functions, the functions server
 * (`npm start`), and the node simulator. Used by `npm run up` / `npm run down`, `npm run demo`, the integration tests'
 * global setup and the benchmarks.
 *
 * Delivery: the API server's audit webhook posts batched EventLists to the functions (default), and/or a
 * ValidatingWebhookConfiguration sends AdmissionReviews to the functions' HTTPS listener. Both are the API server's
 * own mechanisms; nothing here watches and forwards.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AdmissionregistrationV1Api, KubeConfig } from '@kubernetes/client-node';
import { down as clusterDown, stopTrackedUnless, trackProcess, up as clusterUp } from './controlplane.ts';
import { type FaultProxyProcessOptions, ensureFaultProxyProcess } from './faults/process.ts';
import { localPaths, repoRoot } from './paths.ts';

/** `none`: no webhook at all; the caller delivers events itself (the reliability trials' delivery layer). */
export type Delivery = 'audit' | 'admission' | 'both' | 'none';

export interface SystemOptions {
  delivery?: Delivery;
  /** Functions' HTTP port (audit, watch, resync); HTTPS (admission) is port + 1. */
  port?: number;
  upstreamDaemonset?: boolean;
  kcmQps?: number;
  kcmBurst?: number;
  /** Extra environment for the functions server (e.g. LOG_LEVEL). */
  functionsEnv?: Record<string, string>;
  /**
   * Route the functions' API requests through the fault proxy (devcluster/faults/), started as a tracked process
   * beside the control plane (`cluster:restart -- fault-proxy`, stopped by `down`). Functions already running
   * without it (or with it, when it is not asked for) are restarted.
   */
  faultProxy?: Omit<FaultProxyProcessOptions, 'localDir' | 'log'>;
  log?: (line: string) => void;
}

export interface System {
  kubeconfig: string;
  reconcilerKubeconfig: string;
  functionsUrl: string;
  functionsLog: string;
  token: string;
  /** With `faultProxy`: where it listens, its control endpoint (faultControl(controlUrl)), the functions' kubeconfig. */
  faultProxy?: { url: string; controlUrl: string; kubeconfig: string };
}

const WEBHOOK_NAME = 'daemonless-events';

/** The functions' HTTP port: DAEMONLESS_FUNCTIONS_PORT or 8787 (HTTPS is the next port). */
export function functionsPort(): number {
  return Number(process.env.DAEMONLESS_FUNCTIONS_PORT ?? 8787);
}
const paths = () => localPaths();
const functionsPidFile = () => join(paths().run, 'functions.pid');

/** A bearer token shared by the audit webhook kubeconfig and the functions; created once, kept 0600. */
function token(): string {
  const file = join(paths().root, 'functions.token');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(paths().root, { recursive: true });
  const value = randomBytes(24).toString('base64url');
  writeFileSync(file, value, { mode: 0o600 });
  return value;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function functionsPid(): number | undefined {
  try {
    const pid = Number(readFileSync(functionsPidFile(), 'utf8'));
    return Number.isInteger(pid) && alive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Rejects with a clear message when a port is taken, instead of a server that dies and a health check that times out. */
function assertPortFree(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(new Error(`functions port ${port} is not free (${error.code ?? error.message}); set DAEMONLESS_FUNCTIONS_PORT`)),
    );
    server.listen(port, '127.0.0.1', () => server.close(() => resolve()));
  });
}

async function waitHealthy(url: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > end) throw new Error(`functions server did not answer ${url}/healthz within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startSystem(options: SystemOptions = {}): Promise<System> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const delivery = options.delivery ?? 'audit';
  const port = options.port ?? functionsPort();
  const secret = token();
  const functionsUrl = `http://127.0.0.1:${port}`;
  const p = paths();

  // Before anything starts: a taken port would otherwise surface as a functions server that dies at once.
  if (functionsPid() === undefined) {
    await assertPortFree(port);
    await assertPortFree(port + 1);
  }
  await clusterUp({
    upstreamDaemonset: options.upstreamDaemonset,
    kcmQps: options.kcmQps,
    kcmBurst: options.kcmBurst,
    // https: kube-apiserver's webhook client sends the bearer token only over TLS (seen here: none over http).
    // null: none, explicitly (undefined would keep whatever the running control plane has).
    auditWebhook: delivery === 'admission' || delivery === 'none' ? null : { url: `https://127.0.0.1:${port + 1}/events/audit`, token: secret },
    log,
  });

  const functionsLog = join(p.logs, 'functions.log');
  const proxy = options.faultProxy ? await ensureFaultProxyProcess({ ...options.faultProxy, log }) : undefined;
  const functionsKubeconfig = proxy?.kubeconfig ?? p.reconcilerKubeconfig;
  await stopTrackedUnless('functions', (launch) => launch.env['KUBECONFIG'] === functionsKubeconfig, `to start them with KUBECONFIG ${functionsKubeconfig}`, { log });
  if (functionsPid() === undefined) {
    mkdirSync(p.run, { recursive: true });
    mkdirSync(p.logs, { recursive: true });
    const out = openSync(functionsLog, 'a');
    const child = spawn(process.execPath, [join(repoRoot, 'src', 'local', 'serve.ts')], {
      cwd: repoRoot,
      detached: true,
      stdio: ['ignore', out, out],
      env: {
        ...process.env,
        KUBECONFIG: functionsKubeconfig,
        PORT: String(port),
        HTTPS_PORT: String(port + 1),
        TLS_CERT_FILE: join(p.pki, 'webhook.crt'),
        TLS_KEY_FILE: join(p.pki, 'webhook.key'),
        BEARER_TOKEN: secret,
        ...options.functionsEnv,
      },
    });
    closeSync(out);
    child.unref();
    writeFileSync(functionsPidFile(), String(child.pid));
    // Tracked like the control plane: `cluster:restart -- functions` and `up` start it again the same way, `down` stops it.
    trackProcess({
      name: 'functions',
      command: process.execPath,
      args: [join(repoRoot, 'src', 'local', 'serve.ts')],
      cwd: repoRoot,
      env: {
        KUBECONFIG: functionsKubeconfig,
        PORT: String(port),
        HTTPS_PORT: String(port + 1),
        TLS_CERT_FILE: join(p.pki, 'webhook.crt'),
        TLS_KEY_FILE: join(p.pki, 'webhook.key'),
        ...options.functionsEnv,
      },
      envFiles: { BEARER_TOKEN: join(p.root, 'functions.token') },
      identity: [join(repoRoot, 'src', 'local', 'serve.ts'), `env:KUBECONFIG=${functionsKubeconfig}`, `env:PORT=${port}`],
      stopGraceMs: 10_000,
      healthUrl: `${functionsUrl}/healthz`,
      log: functionsLog,
      pidFile: functionsPidFile(),
    });
    log(`functions: started (pid ${child.pid}), ${functionsUrl}, log ${functionsLog}`);
  }
  await waitHealthy(functionsUrl, 20_000);

  const kc = new KubeConfig();
  kc.loadFromFile(p.kubeconfig);
  await registerAdmission(kc, delivery === 'audit' || delivery === 'none' ? undefined : `https://127.0.0.1:${port + 1}/events/admission`);
  return {
    kubeconfig: p.kubeconfig,
    reconcilerKubeconfig: p.reconcilerKubeconfig,
    functionsUrl,
    functionsLog,
    token: secret,
    ...(proxy ? { faultProxy: proxy } : {}),
  };
}


/** Registers (or removes) the ValidatingWebhookConfiguration that sends Node, Pod and DaemonSet changes to us. */
export async function registerAdmission(kc: KubeConfig, url: string | undefined): Promise<void> {
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  try {
    await api.deleteValidatingWebhookConfiguration({ name: WEBHOOK_NAME });
  } catch {
    // absent
  }
  if (!url) return;
  const caBundle = readFileSync(join(paths().pki, 'ca.crt')).toString('base64');
  const manifest = readFileSync(join(repoRoot, 'infra', 'admission-webhook.json'), 'utf8')
    .replaceAll('${URL}', url)
    .replaceAll('${CA_BUNDLE}', caBundle);
  await api.createValidatingWebhookConfiguration({ body: JSON.parse(manifest) });
}

export async function stopSystem(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<void> {
  const pid = functionsPid();
  if (pid !== undefined) {
    process.kill(pid, 'SIGTERM');
    const end = Date.now() + 10_000;
    while (alive(pid) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    if (alive(pid)) process.kill(pid, 'SIGKILL');
    log(`functions: stopped (pid ${pid})`);
  }
  rmSync(functionsPidFile(), { force: true });
  await clusterDown({ log });
}

export function isSystemUp(): boolean {
  return functionsPid() !== undefined;
}
