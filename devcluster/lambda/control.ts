/**
 * Starts and stops the local cloud from outside: ElasticMQ (when serverless.yml declares queues or a caller asks for
 * SQS) and the local Lambda service process (devcluster/lambda/main.ts), each detached and tracked by pid file under
 * `<stateDir>`. Stopping is by pid only: the service (which stops its execution environments), then any RIE / runtime
 * pid an instance pid file still names (a service killed hard leaves those), then ElasticMQ.
 */
import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { isOurProcess, readPidFile, stopProcess, waitReaped } from '../processes.ts';
import { repoRoot } from '../paths.ts';
import { startElasticMq, stopElasticMq } from '../queue/elasticmq.ts';
import { freePort } from '../ports.ts';
import { parseServerlessYaml } from './serverless-config.ts';
import type { ServiceOptions } from './service.ts';

const run = promisify(execFile);
const mainEntry = join(repoRoot, 'devcluster', 'lambda', 'main.ts');
export const rieBuildScript = join(repoRoot, 'devcluster', 'go', 'rie', 'build.sh');

export class LambdaServiceError extends Error {
  override name = 'LambdaServiceError';
}

/** Builds or finds aws-lambda-rie (devcluster/go/rie/build.sh); the script prints the path. */
export async function obtainRie(log: (line: string) => void = () => {}): Promise<string> {
  const { stdout, stderr } = await run('bash', [rieBuildScript], { maxBuffer: 16 * 1024 * 1024 }).catch((error: Error & { stderr?: string }) => {
    throw new LambdaServiceError(`devcluster/go/rie/build.sh failed: ${error.message}\n${error.stderr ?? ''}`);
  });
  for (const line of stderr.split('\n').filter(Boolean)) log(line);
  const path = stdout.trim().split('\n').at(-1) ?? '';
  if (!existsSync(path)) throw new LambdaServiceError(`devcluster/go/rie/build.sh printed ${JSON.stringify(path)}, which does not exist`);
  return path;
}

/** Node 22 (the `node` devDependency), never the machine's own older node. */
export function node22(): string {
  const local = join(repoRoot, 'node_modules', 'node', 'bin', 'node');
  return existsSync(local) ? local : process.execPath;
}

export interface StartLambdaOptions {
  serverlessFile: string;
  /** Everything of this service lives here (options, logs, pid files, ElasticMQ). */
  stateDir: string;
  stage?: string;
  region?: string;
  accountId?: string;
  ssm?: Record<string, string>;
  /** `--param name=value` overrides of serverless.yml's params. */
  params?: Record<string, string>;
  variablesEnv?: Record<string, string | undefined>;
  extraEnvironment?: Record<string, string>;
  http?: { port: number };
  https?: { port: number; certFile: string; keyFile: string };
  /** Start ElasticMQ with the declared queues: 'auto' (when serverless.yml declares any), true, false. */
  sqs?: 'auto' | boolean;
  unreservedConcurrency?: number;
  idleTimeoutMs?: number;
  asyncRetryDelaysMs?: number[];
  scheduleRateMs?: Record<string, number>;
  only?: string[];
  integrationTimeoutMs?: number;
  combinedLogFile?: string;
  /** Count SQS requests by action (service.ts ServiceOptions.countSqsRequests). */
  countSqsRequests?: boolean;
  log?: (line: string) => void;
}

export interface LambdaHandle {
  pid: number;
  invokeUrl: string;
  httpUrl?: string;
  httpsUrl?: string;
  sqsEndpoint?: string;
  logFile: string;
}

const pidFileOf = (stateDir: string) => join(stateDir, 'service.pid');
const identityOf = (stateDir: string) => [mainEntry, join(stateDir, 'options.json')];

export function lambdaPid(stateDir: string): number | undefined {
  const pid = readPidFile(pidFileOf(stateDir));
  return pid !== undefined && isOurProcess(pid, identityOf(stateDir)) ? pid : undefined;
}

export async function startLambda(options: StartLambdaOptions): Promise<LambdaHandle> {
  const log = options.log ?? (() => {});
  const { stateDir } = options;
  const logFile = join(stateDir, 'service.log');
  const running = lambdaPid(stateDir);
  if (running !== undefined) {
    const ready = JSON.parse(readFileSync(join(stateDir, 'ready.json'), 'utf8')) as Omit<LambdaHandle, 'pid' | 'logFile'>;
    const saved = JSON.parse(readFileSync(join(stateDir, 'options.json'), 'utf8')) as ServiceOptions;
    return { pid: running, ...ready, sqsEndpoint: saved.sqsEndpoint, logFile };
  }
  mkdirSync(stateDir, { recursive: true });
  const region = options.region ?? 'us-east-1';
  const accountId = options.accountId ?? '000000000000';
  const stage = options.stage ?? 'local';
  const ssm = options.ssm ?? {};
  const variablesEnv = options.variablesEnv ?? process.env;

  // Queues: what serverless.yml declares under resources.
  const definition = parseServerlessYaml(readFileSync(options.serverlessFile, 'utf8'), {
    sources: { env: variablesEnv, stage, region, accountId, ssm, ...(options.params ? { params: options.params } : {}) },
  });
  let sqsEndpoint: string | undefined;
  const wantSqs = options.sqs === true || ((options.sqs ?? 'auto') === 'auto' && definition.queues.length > 0);
  if (wantSqs) {
    const mq = await startElasticMq({ dir: join(stateDir, 'elasticmq'), port: await freePort(), queues: definition.queues, region, accountId, log });
    sqsEndpoint = mq.endpoint;
  }

  const serviceOptions: ServiceOptions = {
    serverlessFile: options.serverlessFile,
    stateDir,
    stage,
    region,
    accountId,
    ssm,
    ...(options.params ? { params: options.params } : {}),
    variablesEnv: Object.fromEntries(Object.entries(variablesEnv).filter(([, v]) => v !== undefined)),
    extraEnvironment: options.extraEnvironment ?? {},
    host: '127.0.0.1',
    invokePort: await freePort(),
    http: options.http,
    https: options.https,
    sqsEndpoint,
    countSqsRequests: options.countSqsRequests ?? false,
    unreservedConcurrency: options.unreservedConcurrency ?? 10,
    idleTimeoutMs: options.idleTimeoutMs ?? 10 * 60_000,
    asyncRetryDelaysMs: options.asyncRetryDelaysMs ?? [60_000, 120_000],
    scheduleRateMs: options.scheduleRateMs ?? {},
    only: options.only,
    integrationTimeoutMs: options.integrationTimeoutMs,
    combinedLogFile: options.combinedLogFile,
    riePath: await obtainRie(log),
    nodePath: node22(),
    ricEntry: join(repoRoot, 'node_modules', 'aws-lambda-ric', 'index.mjs'),
    runtimeNodePath: join(repoRoot, 'node_modules'),
  };
  const optionsFile = join(stateDir, 'options.json');
  writeFileSync(optionsFile, JSON.stringify(serviceOptions), { mode: 0o600 });
  rmSync(join(stateDir, 'ready.json'), { force: true });
  const fd = openSync(logFile, 'a');
  writeSync(fd, `\n=== ${new Date().toISOString()} starting the local Lambda service\n`);
  const child = spawn(node22(), [mainEntry, optionsFile], { cwd: repoRoot, detached: true, stdio: ['ignore', fd, fd], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/' } });
  closeSync(fd);
  child.unref();
  if (child.pid === undefined) throw new LambdaServiceError('cannot start the local Lambda service');
  writeFileSync(pidFileOf(stateDir), `${child.pid}\n`);
  const started = Date.now();
  for (;;) {
    const readyFile = join(stateDir, 'ready.json');
    if (existsSync(readyFile)) {
      const ready = JSON.parse(readFileSync(readyFile, 'utf8')) as { error?: string; invokeUrl: string; httpUrl?: string; httpsUrl?: string };
      if (ready.error) throw new LambdaServiceError(`local Lambda service failed to start: ${ready.error} (log: ${logFile})`);
      log(`lambda: started (pid ${child.pid}) in ${Date.now() - started} ms, log ${logFile}`);
      return { pid: child.pid, invokeUrl: ready.invokeUrl, httpUrl: ready.httpUrl, httpsUrl: ready.httpsUrl, sqsEndpoint, logFile };
    }
    if (!isOurProcess(child.pid, identityOf(stateDir))) throw new LambdaServiceError(`local Lambda service exited at start (log: ${logFile})`);
    if (Date.now() - started > 60_000) throw new LambdaServiceError(`local Lambda service not ready within 60 s (log: ${logFile})`);
    await sleep(50);
  }
}

export async function stopLambda(stateDir: string, log: (line: string) => void = () => {}): Promise<void> {
  const pid = readPidFile(pidFileOf(stateDir));
  const stopped: number[] = [];
  if (pid !== undefined) {
    const outcome = await stopProcess(pid, identityOf(stateDir), 10_000);
    if (outcome !== 'not-running') {
      log(`lambda: stopped (pid ${pid}, ${outcome})`);
      stopped.push(pid);
    }
  }
  rmSync(pidFileOf(stateDir), { force: true });
  // Environments a hard-killed service left behind: RIE and its runtime, by the pids their files name.
  const instances = join(stateDir, 'instances');
  if (existsSync(instances)) {
    for (const file of readdirSync(instances)) {
      const pids = readFileSync(join(instances, file), 'utf8').trim().split(/\s+/).map(Number).filter((n) => n > 0);
      for (const p of pids) {
        if (isOurProcess(p, ['aws-lambda-rie']) || isOurProcess(p, ['aws-lambda-ric'])) {
          // SIGKILL: a frozen (SIGSTOPped) runtime would not act on SIGTERM.
          try {
            process.kill(p, 'SIGKILL');
            stopped.push(p);
          } catch {
            // gone
          }
        }
      }
      rmSync(join(instances, file), { force: true });
    }
    if (stopped.length > 1) log(`lambda: stopped ${stopped.length - (pid === undefined ? 0 : 1)} leftover execution environment process(es)`);
  }
  await stopElasticMq(join(stateDir, 'elasticmq'), log);
  await waitReaped(stopped);
}
