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
import { KubeConfig } from '@kubernetes/client-node';
import { createTransport } from '../src/k8s/transport.ts';
import { NotFoundError } from '../src/errors.ts';
import { down as clusterDown, stopTrackedUnless, trackProcess, up as clusterUp } from './controlplane.ts';
import { type FaultProxyProcessOptions, ensureFaultProxyProcess } from './faults/process.ts';
import { admissionSecret as localAdmissionSecret, functionsToken } from './local-secrets.ts';
import { localPaths, repoRoot } from './paths.ts';
import { isProductLambdaUp, startProductLambda, stopProductLambda } from './lambda/product.ts';

/** `none`: no webhook at all; the caller delivers events itself (the reliability trials' delivery layer). */
export type Delivery = 'audit' | 'admission' | 'both' | 'none';
/** `server`: the long-lived local server (npm start). `lambda`: the built bundles in the local Lambda runtime. */
export type Runtime = 'server' | 'lambda';

export interface SystemOptions {
  delivery?: Delivery;
  /** Functions' HTTP port (audit, watch, resync); HTTPS (admission) is port + 1. */
  port?: number;
  /** The built-in DaemonSet controller beside daemonless (comparison only). Default off; always on with `managed`. */
  upstreamDaemonset?: boolean;
  kcmQps?: number;
  kcmBurst?: number;
  /** Default `server`; `lambda` runs the bundles behind the local API Gateway (devcluster/lambda/product.ts). */
  runtime?: Runtime;
  /**
   * The cluster as a managed one (EKS) gives it: the built-in DaemonSet controller runs, there is no audit webhook
   * (events come through the admission webhook), and daemonless reconciles ServerlessDaemonSets (MANAGE=crd).
   */
  managed?: boolean;
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
  /** Where the admission webhook points, the path secret included. */
  admissionUrl: string;
}

const WEBHOOK_NAME = 'daemonless-events';

/** The functions' HTTP port: DAEMONLESS_FUNCTIONS_PORT or 8787 (HTTPS is the next port). */
export function functionsPort(): number {
  return Number(process.env.DAEMONLESS_FUNCTIONS_PORT ?? 8787);
}
const paths = () => localPaths();
const functionsPidFile = () => join(paths().run, 'functions.pid');

const token = (): string => functionsToken(paths());
const admissionSecret = (): string => localAdmissionSecret(paths());

/** The admission route with its path secret, on the functions' HTTPS port (both runtimes). */
export function admissionUrl(port: number = functionsPort()): string {
  return `https://127.0.0.1:${port + 1}/events/admission/${admissionSecret()}`;
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

/**
 * Waits for the functions' /healthz. `stillStarting` says whether the process can still answer: when it has died (a
 * taken port, a crash at import), this fails at once with the end of its log instead of after the timeout.
 */
async function waitHealthy(url: string, timeoutMs: number, logFile: string, stillStarting: () => boolean): Promise<void> {
  const end = Date.now() + timeoutMs;
  const failed = (why: string): Error => new Error(`functions server ${why}; the end of ${logFile}:\n${logTail(logFile, 20)}`);
  for (;;) {
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    if (!stillStarting()) throw failed(`exited before answering ${url}/healthz`);
    if (Date.now() > end) throw failed(`did not answer ${url}/healthz within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function logTail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export async function startSystem(options: SystemOptions = {}): Promise<System> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const managed = options.managed ?? false;
  // A managed cluster (EKS) has no audit webhook: admission is its event source (or none, when a caller such as the
  // reliability trials delivers events itself).
  if (managed && options.delivery !== undefined && options.delivery !== 'admission' && options.delivery !== 'none') {
    throw new Error(`--managed: a managed cluster has no audit webhook; delivery ${options.delivery} is not possible (admission is)`);
  }
  const delivery = options.delivery === 'none' ? 'none' : managed ? 'admission' : (options.delivery ?? 'audit');
  // What the functions reconcile: the custom resource next to the built-in controller, or apps/v1 DaemonSets in its place.
  const functionsEnv = { MANAGE: managed ? 'crd' : 'apps', ...options.functionsEnv };
  const port = options.port ?? functionsPort();
  const secret = token();
  const functionsUrl = `http://127.0.0.1:${port}`;
  const p = paths();

  const runtime = options.runtime ?? 'server';
  // Before anything starts: a taken port would otherwise surface as a functions server that dies at once.
  if (functionsPid() === undefined && !isProductLambdaUp(p)) {
    await assertPortFree(port);
    await assertPortFree(port + 1);
  }
  await clusterUp({
    // As a managed cluster gives it: kube-controller-manager with the built-in DaemonSet controller, which cannot be
    // switched off there (daemonless then reconciles ServerlessDaemonSets only). Otherwise daemonless replaces it:
    // off unless asked for, also on a cluster left running with it (managed before), where it would fight daemonless
    // over the same apps/v1 DaemonSets.
    upstreamDaemonset: managed ? true : (options.upstreamDaemonset ?? false),
    kcmQps: options.kcmQps,
    kcmBurst: options.kcmBurst,
    // https: kube-apiserver's webhook client sends the bearer token only over TLS (seen here: none over http).
    // null: none, explicitly (undefined would keep whatever the running control plane has).
    auditWebhook: delivery === 'admission' || delivery === 'none' ? null : { url: `https://127.0.0.1:${port + 1}/events/audit`, token: secret },
    log,
  });

  let functionsLog = join(p.logs, 'functions.log');
  let webhookUrl = admissionUrl(port);
  const proxy = options.faultProxy ? await ensureFaultProxyProcess({ ...options.faultProxy, log }) : undefined;
  const functionsKubeconfig = proxy?.kubeconfig ?? p.reconcilerKubeconfig;
  if (runtime === 'lambda') {
    const lambda = await startProductLambda({ paths: p, port, bearerToken: secret, functionsEnv, kubeconfig: functionsKubeconfig, log });
    functionsLog = lambda.functionsLog;
    webhookUrl = lambda.admissionUrl;
  } else {
    await stopTrackedUnless(
      'functions',
      (launch) => launch.env['KUBECONFIG'] === functionsKubeconfig && launch.env['MANAGE'] === functionsEnv.MANAGE,
      `to start them with KUBECONFIG ${functionsKubeconfig} and MANAGE=${functionsEnv.MANAGE}`,
      { log },
    );
  }
  if (runtime !== 'lambda' && functionsPid() === undefined) {
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
        ADMISSION_PATH_SECRET: admissionSecret(),
        ...functionsEnv,
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
        ...functionsEnv,
      },
      envFiles: { BEARER_TOKEN: join(p.root, 'functions.token'), ADMISSION_PATH_SECRET: join(p.root, 'functions.admission-secret') },
      identity: [join(repoRoot, 'src', 'local', 'serve.ts'), `env:KUBECONFIG=${functionsKubeconfig}`, `env:PORT=${port}`],
      stopGraceMs: 10_000,
      healthUrl: `${functionsUrl}/healthz`,
      log: functionsLog,
      pidFile: functionsPidFile(),
    });
    log(`functions: started (pid ${child.pid}), ${functionsUrl}, log ${functionsLog}`);
  }
  // 60 s: a loaded 2-core machine (CI runs several control planes at once) has taken more than 20 s to start node here.
  await waitHealthy(functionsUrl, 60_000, functionsLog, () => runtime === 'lambda' || functionsPid() !== undefined);

  const kc = new KubeConfig();
  kc.loadFromFile(p.kubeconfig);
  await registerAdmission(kc, delivery === 'audit' || delivery === 'none' ? undefined : webhookUrl);
  return {
    kubeconfig: p.kubeconfig,
    reconcilerKubeconfig: p.reconcilerKubeconfig,
    functionsUrl,
    functionsLog,
    token: secret,
    admissionUrl: webhookUrl,
    ...(proxy ? { faultProxy: proxy } : {}),
  };
}

/**
 * Registers (or removes) the ValidatingWebhookConfiguration that sends Node, Pod and DaemonSet changes to us. `url` is
 * the admission route with its path secret (`…/events/admission/<secret>`: System.admissionUrl).
 */
/** Whether the admission webhook configuration is registered (by `up` in admission or managed mode, or by a test). */
export async function isAdmissionRegistered(kc: KubeConfig): Promise<boolean> {
  const api = createTransport(kc, { requestTimeoutMs: 30_000 });
  try {
    await api.send({ method: 'GET', path: `apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${WEBHOOK_NAME}`, what: 'get the admission webhook' });
    return true;
  } catch (error) {
    if (error instanceof NotFoundError) return false;
    throw error;
  }
}

export async function registerAdmission(kc: KubeConfig, url: string | undefined): Promise<void> {
  // Raw JSON: the configuration's matchConditions must reach the API server as written.
  const api = createTransport(kc, { requestTimeoutMs: 30_000 });
  const path = 'apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations';
  try {
    await api.send({ method: 'DELETE', path: `${path}/${WEBHOOK_NAME}`, what: 'delete the admission webhook' });
  } catch {
    // absent
  }
  if (!url) return;
  const caBundle = readFileSync(join(paths().pki, 'ca.crt')).toString('base64');
  const manifest = readFileSync(join(repoRoot, 'infra', 'admission-webhook.json'), 'utf8')
    .replaceAll('${URL}', url)
    .replaceAll('${CA_BUNDLE}', caBundle)
    // The identity infra/rbac.yaml binds (the local reconciler certificate's CN): its own pod writes are not delivered.
    .replaceAll('${RECONCILER_USERNAME}', 'daemonless-reconciler');
  await api.send({ method: 'POST', path, body: manifest, what: 'register the admission webhook' });
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
  await stopProductLambda(paths(), log);
  await clusterDown({ log });
}

export function isSystemUp(): boolean {
  return functionsPid() !== undefined || isProductLambdaUp(paths());
}
