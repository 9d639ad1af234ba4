/**
 * SQS locally: ElasticMQ (`org.elasticmq:elasticmq-server_3`, an SQS-compatible server) from Maven Central, run on
 * Java 17 with a generated configuration that creates the queues serverless.yml declares (with their visibility
 * timeout, delay, long-poll wait and redrive policy). Resolved once per machine with `mvn` into the cache beside the
 * control-plane binaries; started detached and tracked by pid file; stopped by pid.
 */
import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { portOpen } from '../health.ts';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { isOurProcess, readPidFile, stopProcess } from '../processes.ts';
import type { QueueDefinition } from '../lambda/serverless-config.ts';

const run = promisify(execFile);

export const ELASTICMQ = { group: 'org.elasticmq', artifact: 'elasticmq-server_3', version: '1.7.1', mainClass: 'org.elasticmq.server.Main' } as const;

/**
 * The JVM of the local SQS stand-in. C1 only (`TieredStopAtLevel=1`): C2's compilations cost more CPU than they save
 * over a run of minutes; measured with 1,500 sends, long-polled and deleted by two pollers (as the event source
 * mapping does), 22.3 → 12.7 s of ElasticMQ CPU and 4.8 → 2.9 s to start. It shares the machine's cores with the API
 * server in benchmarks, which Amazon SQS does not.
 */
export const ELASTICMQ_JVM_FLAGS = ['-Xmx256m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1'] as const;

export class ElasticMqError extends Error {
  override name = 'ElasticMqError';
}

export function cacheRoot(): string {
  return process.env.DAEMONLESS_CACHE ?? join(homedir(), '.cache', 'daemonless');
}

/**
 * The server's runtime classpath: `mvn dependency:get` (the artifact and its dependencies into ~/.m2), then
 * `dependency:build-classpath` on its POM. Cached in `<cache>/elasticmq-<version>/classpath.txt`, written atomically.
 */
export async function elasticMqClasspath(log: (line: string) => void = () => {}): Promise<string> {
  const dir = join(cacheRoot(), `elasticmq-${ELASTICMQ.version}`);
  const file = join(dir, 'classpath.txt');
  if (existsSync(file)) {
    const cached = readFileSync(file, 'utf8').trim();
    if (cached.split(':').every((jar) => existsSync(jar))) return cached;
  }
  mkdirSync(dir, { recursive: true });
  const coordinates = `${ELASTICMQ.group}:${ELASTICMQ.artifact}:${ELASTICMQ.version}`;
  const started = Date.now();
  log(`elasticmq: resolving ${coordinates} with mvn ...`);
  // Maven's default local repository (what `mvn dependency:get` fills).
  const repository = join(homedir(), '.m2', 'repository');
  await run('mvn', ['-q', '-B', 'dependency:get', `-Dartifact=${coordinates}`], { cwd: dir, maxBuffer: 16 * 1024 * 1024 }).catch((error: Error & { stdout?: string }) => {
    const missing = (error as { code?: string }).code === 'ENOENT' ? ' (mvn not found: the local SQS needs Maven and Java 17)' : '';
    throw new ElasticMqError(`mvn dependency:get ${coordinates} failed${missing}: ${error.message}\n${error.stdout ?? ''}`);
  });
  const artifactDir = join(repository, ...ELASTICMQ.group.split('.'), ELASTICMQ.artifact, ELASTICMQ.version);
  const pom = join(artifactDir, `${ELASTICMQ.artifact}-${ELASTICMQ.version}.pom`);
  const jar = join(artifactDir, `${ELASTICMQ.artifact}-${ELASTICMQ.version}.jar`);
  const tmp = join(dir, `.classpath.${process.pid}.txt`);
  await run('mvn', ['-q', '-B', 'dependency:build-classpath', '-f', pom, `-Dmdep.outputFile=${tmp}`, '-Dmdep.includeScope=runtime'], {
    cwd: dir,
    maxBuffer: 16 * 1024 * 1024,
  }).catch((error: Error) => {
    throw new ElasticMqError(`mvn dependency:build-classpath failed: ${error.message}`);
  });
  const classpath = `${jar}:${readFileSync(tmp, 'utf8').trim()}`;
  writeFileSync(tmp, `${classpath}\n`);
  renameSync(tmp, file);
  log(`elasticmq: resolved in ${Math.round((Date.now() - started) / 1000)} s`);
  return classpath;
}

/** The ElasticMQ configuration (HOCON) for these queues. Pure. */
export function elasticMqConfig(queues: readonly QueueDefinition[], options: { port: number; region: string; accountId: string }): string {
  const quote = (s: string) => JSON.stringify(s);
  const blocks = queues.map((q) => {
    const lines = [
      `    defaultVisibilityTimeout = ${q.visibilityTimeoutSeconds} seconds`,
      `    delay = ${q.delaySeconds} seconds`,
      `    receiveMessageWait = ${q.receiveMessageWaitTimeSeconds} seconds`,
      `    fifo = ${q.fifo}`,
    ];
    if (q.deadLetter) {
      lines.push(`    deadLettersQueue { name = ${quote(q.deadLetter.queueName)}, maxReceiveCount = ${q.deadLetter.maxReceiveCount} }`);
    }
    return `  ${quote(q.name)} {\n${lines.join('\n')}\n  }`;
  });
  return [
    'include classpath("application.conf")',
    `node-address { protocol = http, host = "127.0.0.1", port = ${options.port}, context-path = "" }`,
    `rest-sqs { enabled = true, bind-port = ${options.port}, bind-hostname = "127.0.0.1", sqs-limits = strict }`,
    'rest-stats { enabled = false }',
    `aws { region = ${quote(options.region)}, accountId = ${quote(options.accountId)} }`,
    `queues {\n${blocks.join('\n')}\n}`,
    '',
  ].join('\n');
}

export interface ElasticMqHandle {
  endpoint: string;
  port: number;
  pid: number;
}

const identity = (configFile: string) => ['java', configFile];

export interface StartElasticMqOptions {
  /** Folder for the config, the pid file and the log. */
  dir: string;
  port: number;
  queues: readonly QueueDefinition[];
  region: string;
  accountId: string;
  log?: (line: string) => void;
}

/** Starts ElasticMQ (or finds the one this folder's pid file names) and waits until it answers. */
export async function startElasticMq(options: StartElasticMqOptions): Promise<ElasticMqHandle> {
  const log = options.log ?? (() => {});
  mkdirSync(options.dir, { recursive: true });
  const configFile = join(options.dir, 'elasticmq.conf');
  const pidFile = join(options.dir, 'elasticmq.pid');
  const existing = readPidFile(pidFile);
  if (existing !== undefined && isOurProcess(existing, identity(configFile))) {
    const port = Number(readFileSync(join(options.dir, 'elasticmq.port'), 'utf8'));
    return { endpoint: `http://127.0.0.1:${port}`, port, pid: existing };
  }
  const classpath = await elasticMqClasspath(log);
  writeFileSync(configFile, elasticMqConfig(options.queues, options));
  writeFileSync(join(options.dir, 'elasticmq.port'), String(options.port));
  const logFile = join(options.dir, 'elasticmq.log');
  const fd = openSync(logFile, 'a');
  writeSync(fd, `\n=== ${new Date().toISOString()} starting elasticmq on ${options.port}\n`);
  const child = spawn('java', [...ELASTICMQ_JVM_FLAGS, `-Dconfig.file=${configFile}`, '-cp', classpath, ELASTICMQ.mainClass], {
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  child.unref();
  // A java that is not there is reported below (no pid), not as an unhandled 'error' event.
  child.once('error', () => undefined);
  if (child.pid === undefined) throw new ElasticMqError('cannot start java: the local SQS (ElasticMQ) needs Java 17 on the PATH');
  writeFileSync(pidFile, `${child.pid}\n`);
  const started = Date.now();
  while (!(await portOpen(options.port))) {
    if (!isOurProcess(child.pid, identity(configFile))) throw new ElasticMqError(`elasticmq exited at start (see ${logFile})`);
    if (Date.now() - started > 60_000) throw new ElasticMqError(`elasticmq did not listen on ${options.port} within 60 s (see ${logFile})`);
    await sleep(100);
  }
  log(`elasticmq: started (pid ${child.pid}) on 127.0.0.1:${options.port} in ${Date.now() - started} ms, ${options.queues.length} queue(s)`);
  return { endpoint: `http://127.0.0.1:${options.port}`, port: options.port, pid: child.pid };
}

export async function stopElasticMq(dir: string, log: (line: string) => void = () => {}): Promise<void> {
  const pidFile = join(dir, 'elasticmq.pid');
  const pid = readPidFile(pidFile);
  if (pid !== undefined) {
    const outcome = await stopProcess(pid, identity(join(dir, 'elasticmq.conf')), 10_000);
    if (outcome !== 'not-running') log(`elasticmq: stopped (pid ${pid})`);
  }
  rmSync(pidFile, { force: true });
}

