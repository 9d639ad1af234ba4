/**
 * The product (serverless.yml at the repository root, bundles from `npm run build`) in the local Lambda runtime, as
 * `startSystem({ runtime: 'lambda' })` uses it: the functions behind API Gateway on the functions ports (HTTP `port`,
 * HTTPS `port + 1` with the local PKI's webhook certificate), the resync on its schedule.
 *
 * Configuration comes the way a deployment gets it: serverless.yml's params (stage `local`) and `${env:…}`; the secrets
 * its SSM parameter names point to are served by the local Parameter Store endpoint and read by the functions at cold
 * start (src/secrets.ts); the queue URL is the local ElasticMQ queue's. Cluster access: a deployment uses EKS IAM
 * authentication or a bearer token; the local reconciler identity is a client certificate, so KUBECONFIG (the
 * reconciler's kubeconfig) is added to every function's environment as a local-only overlay (src/config.ts reads it).
 */
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { admissionSecret } from '../local-secrets.ts';
import { repoRoot, type LocalPaths } from '../paths.ts';
import { lambdaPid, node22, startLambda, stopLambda, type LambdaHandle } from './control.ts';

const run = promisify(execFile);

export const productStage = 'local';

export const lambdaStateDir = (paths: LocalPaths) => join(paths.root, 'lambda');

export function isProductLambdaUp(paths: LocalPaths): boolean {
  return lambdaPid(lambdaStateDir(paths)) !== undefined;
}

export interface ProductLambdaOptions {
  paths: LocalPaths;
  /** API Gateway's HTTP port; HTTPS is port + 1. */
  port: number;
  bearerToken: string;
  /**
   * Extra environment for every function (e.g. LOG_LEVEL), after serverless.yml's. Its RESYNC_INTERVAL_MS (the local
   * server's resync period) sets the resync function's schedule here, as on Lambda (0: no schedule).
   */
  functionsEnv?: Record<string, string>;
  /** The kubeconfig the functions use (default: the reconciler identity's; the fault proxy's in the reliability run). */
  kubeconfig?: string;
  log: (line: string) => void;
}

export interface ProductLambda extends LambdaHandle {
  /** Every function's output (the product's JSON log lines and RIE's START/END/REPORT lines). */
  functionsLog: string;
  admissionUrl: string;
}

export async function startProductLambda(options: ProductLambdaOptions): Promise<ProductLambda> {
  const { paths, port, log } = options;
  const stateDir = lambdaStateDir(paths);
  const functionsLog = join(paths.logs, 'functions.log');
  const pathSecret = admissionSecret(paths);
  const admissionUrl = `https://127.0.0.1:${port + 1}/events/admission/${pathSecret}`;
  if (!isProductLambdaUp(paths)) {
    const started = Date.now();
    await run(node22(), [join(repoRoot, 'scripts', 'build.ts')], { cwd: repoRoot, maxBuffer: 16 * 1024 * 1024 }).catch((error: Error & { stderr?: string }) => {
      throw new Error(`npm run build failed: ${error.message}\n${error.stderr ?? ''}`);
    });
    log(`lambda: built the bundles (npm run build) in ${Date.now() - started} ms`);
  }
  mkdirSync(paths.logs, { recursive: true });
  const parameter = (name: string) => `/daemonless/${productStage}/${name}`;
  const env = process.env;
  const params = env.DAEMONLESS_LAMBDA_PARAMS ? parseParams(env.DAEMONLESS_LAMBDA_PARAMS) : undefined;
  if (params) log(`lambda: serverless.yml params overridden (DAEMONLESS_LAMBDA_PARAMS): ${JSON.stringify(params)}`);
  const handle = await startLambda({
    serverlessFile: join(repoRoot, 'serverless.yml'),
    stateDir,
    stage: productStage,
    // The SSM parameters serverless.yml names (params bearerTokenParameter, admissionPathSecretParameter), read by the
    // functions at cold start through the runtime's SDK from the service's local Parameter Store endpoint.
    ssm: {
      [parameter('bearer-token')]: options.bearerToken,
      [parameter('admission-path-secret')]: pathSecret,
    },
    variablesEnv: env,
    ...(params ? { params } : {}),
    extraEnvironment: { KUBECONFIG: options.kubeconfig ?? paths.reconcilerKubeconfig, ...options.functionsEnv },
    http: { port },
    https: { port: port + 1, certFile: join(paths.pki, 'webhook.crt'), keyFile: join(paths.pki, 'webhook.key') },
    // Functions without reservedConcurrency share the account's pool (1,000 by default on AWS); locally each environment
    // is a process on this machine, so the pool is smaller.
    unreservedConcurrency: positive(env.DAEMONLESS_LAMBDA_CONCURRENCY) ?? 32,
    idleTimeoutMs: positive(env.DAEMONLESS_LAMBDA_IDLE_MS) ?? 10 * 60_000,
    asyncRetryDelaysMs: env.DAEMONLESS_LAMBDA_RETRY_DELAYS_MS ? env.DAEMONLESS_LAMBDA_RETRY_DELAYS_MS.split(',').map(Number) : [60_000, 120_000],
    scheduleRateMs: resyncRate(options.functionsEnv?.RESYNC_INTERVAL_MS, env.DAEMONLESS_RESYNC_RATE_MS),
    combinedLogFile: functionsLog,
    // Benchmarks: SQS requests counted by action in /_local/stats (devcluster/lambda/sqs-counter.ts).
    countSqsRequests: env.DAEMONLESS_LAMBDA_SQS_STATS === '1',
    log,
  });
  return { ...handle, functionsLog, admissionUrl };
}

export async function stopProductLambda(paths: LocalPaths, log: (line: string) => void): Promise<void> {
  await stopLambda(lambdaStateDir(paths), log);
}

/** The resync schedule's rate: RESYNC_INTERVAL_MS of the functions (0: off), else DAEMONLESS_RESYNC_RATE_MS, else serverless.yml's. */
function resyncRate(interval: string | undefined, override: string | undefined): Record<string, number> {
  if (interval !== undefined && interval !== '' && Number.isFinite(Number(interval)) && Number(interval) >= 0) return { resync: Number(interval) };
  return positive(override) ? { resync: positive(override)! } : {};
}

/** `name=value,name=value` (DAEMONLESS_LAMBDA_PARAMS): serverless.yml params overridden, as `--param` does on deploy. */
export function parseParams(text: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const pair of text.split(',')) {
    if (pair.trim() === '') continue;
    const at = pair.indexOf('=');
    if (at <= 0) throw new Error(`DAEMONLESS_LAMBDA_PARAMS: ${JSON.stringify(pair)} is not name=value`);
    params[pair.slice(0, at).trim()] = pair.slice(at + 1).trim();
  }
  return params;
}

function positive(value: string | undefined): number | undefined {
  const n = Number(value);
  return value !== undefined && value !== '' && Number.isFinite(n) && n > 0 ? n : undefined;
}
