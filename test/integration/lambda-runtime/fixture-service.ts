/**
 * Starts the local Lambda service on the fixture serverless.yml (test/fixtures/lambda/) in a private folder, with
 * ElasticMQ for its queues, and stops it. Each test file gets its own service, queues and output folder.
 */
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SQSClient } from '@aws-sdk/client-sqs';
import { repoRoot } from '../../../devcluster/paths.ts';
import { ensurePki } from '../../../devcluster/pki.ts';
import { startLambda, stopLambda, type LambdaHandle, type StartLambdaOptions } from '../../../devcluster/lambda/control.ts';
import { freePorts } from '../../../devcluster/ports.ts';

export const fixtureFile = join(repoRoot, 'test', 'fixtures', 'lambda', 'serverless.yml');
export const SECRET = 'fixture-secret-value';

export interface FixtureService extends LambdaHandle {
  dir: string;
  outDir: string;
  caFile: string;
  lambda: LambdaClient;
  sqs: SQSClient;
  /** Lines of a file the fixture handlers write (JSON per line). */
  lines<T = Record<string, unknown>>(name: string): T[];
  stats(): Promise<{ functions: Record<string, Record<string, number>>; mappings: Record<string, unknown>[] }>;
  reports(fn: string): Promise<{ requestId: string; coldStart: boolean; outcome: string; durationMs: number; billedDurationMs: number; maxMemoryUsedMb: number; freezeMs: number; thawMs: number; coldStartWallMs?: number }[]>;
  stop(): Promise<void>;
}

export async function startFixtureService(overrides: Partial<StartLambdaOptions> = {}): Promise<FixtureService> {
  const dir = mkdtempSync(join(tmpdir(), 'daemonless-local-cloud-'));
  const outDir = join(dir, 'out');
  const { pki } = await ensurePki(join(dir, 'pki'));
  const stateDir = join(dir, 'lambda');
  const [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
  const handle = await startLambda({
    serverlessFile: fixtureFile,
    stateDir,
    ssm: { '/fixture/local/secret': SECRET },
    variablesEnv: { FIXTURE_OUT_DIR: outDir },
    http: { port: httpPort },
    https: { port: httpsPort, certFile: pki.webhook.cert, keyFile: pki.webhook.key },
    asyncRetryDelaysMs: [200, 400],
    scheduleRateMs: { tick: 60_000 },
    ...overrides,
  });
  const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
  const lambda = new LambdaClient({ endpoint: handle.invokeUrl, region: 'us-east-1', credentials, maxAttempts: 1 });
  const sqs = new SQSClient({ endpoint: handle.sqsEndpoint, region: 'us-east-1', credentials });
  return {
    ...handle,
    dir,
    outDir,
    caFile: pki.ca.cert,
    lambda,
    sqs,
    lines<T>(name: string): T[] {
      const file = join(outDir, name);
      if (!existsSync(file)) return [];
      return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as T);
    },
    async stats() {
      return (await (await fetch(`${handle.invokeUrl}/_local/stats`)).json()) as Awaited<ReturnType<FixtureService['stats']>>;
    },
    async reports(fn: string) {
      return (await (await fetch(`${handle.invokeUrl}/_local/reports?function=${fn}`)).json()) as Awaited<ReturnType<FixtureService['reports']>>;
    },
    async stop() {
      lambda.destroy();
      sqs.destroy();
      await stopLambda(stateDir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `probe` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(probe: () => T | undefined | Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** The state letter of a process (/proc/<pid>/stat): 'T' is stopped (frozen), 'S' sleeping, 'R' running. */
export function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}
