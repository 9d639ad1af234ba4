/**
 * One execution environment: an `aws-lambda-rie` process (AWS's Runtime Interface Emulator: the invoke API and the
 * Runtime API) and the runtime it starts — Node 22 running the official runtime interface client (`aws-lambda-ric`)
 * with the function's code. One invocation at a time, like a Lambda execution environment.
 *
 * What RIE does not do and this adds, as Lambda does it:
 *  - FREEZE: RIE leaves the runtime running between invocations, so a timer set during one invocation fires after the
 *    answer. Here the runtime process tree is SIGSTOPped as soon as an invocation has answered and SIGCONTed just
 *    before the next one, so work left behind does not run until the environment is used again (then it resumes, as
 *    on Lambda when a frozen environment is thawed).
 *  - MEMORY: RIE reports `Max Memory Used` equal to the memory size. Here the runtime tree's resident memory is
 *    sampled during the invocation; past `memorySize` MB the runtime is killed and the invocation fails with
 *    `Runtime.ExitError` ("signal: killed"), as Lambda's cgroup limit does. The kernel's peak RSS (VmHWM) is reset
 *    before each invocation, so each report has the invocation's own peak (`invocationPeakRssMb`) beside the
 *    environment's peak so far (`maxMemoryUsedMb`, what Lambda reports).
 *  - TIMEOUT: RIE enforces AWS_LAMBDA_FUNCTION_TIMEOUT; after a timeout (or a crash) this environment is discarded and
 *    the next invocation starts a new one (Lambda re-initialises the runtime).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { portOpen } from '../health.ts';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { runtimeCommand } from './bootstrap.ts';
import { freePorts } from '../ports.ts';
import { alive, childrenOf, resetPeakRss, signalTree, statusKb, treeOf } from './proc.ts';

export interface InstanceSpec {
  /** Deployed function name (AWS_LAMBDA_FUNCTION_NAME). */
  functionName: string;
  /** Folder holding the function's code (LAMBDA_TASK_ROOT). */
  codeDir: string;
  handler: string;
  memorySize: number;
  timeoutSeconds: number;
  /** The function's own environment (serverless.yml), plus what Lambda sets (see lambdaEnvironment). */
  environment: Record<string, string>;
  riePath: string;
  nodePath: string;
  ricEntry: string;
  /** Appended with RIE's and the runtime's output (START/END/REPORT lines, the function's logs). */
  logFile: string;
  /** Also appended with the same lines (one log for all functions, like the local server's functions.log). */
  combinedLogFile?: string;
  /** A pid file per instance goes here while it lives, so `down` can stop what a crashed service left behind. */
  pidDir: string;
}

export interface InvocationReport {
  requestId: string;
  coldStart: boolean;
  /** Init Duration (cold start only), from RIE's REPORT line. */
  initDurationMs: number | undefined;
  durationMs: number;
  billedDurationMs: number;
  memorySizeMb: number;
  maxMemoryUsedMb: number;
  /**
   * The runtime tree's peak resident memory during this invocation only (VmHWM reset before it, and sampled every
   * 20 ms), where maxMemoryUsedMb is the environment's peak since it started, earlier invocations included.
   */
  invocationPeakRssMb: number;
  /** Time the runtime tree took to stop after the answer, and to continue before the invocation. */
  freezeMs: number;
  thawMs: number;
}

export type InvokeOutcome =
  | { kind: 'ok'; payload: string; report: InvocationReport }
  | { kind: 'error'; errorType: string; payload: string; report: InvocationReport };

export class InstanceStartError extends Error {
  override name = 'InstanceStartError';
}

let sequence = 0;

export class Instance {
  readonly id: string;
  private child: ChildProcess | undefined;
  private runtimePid: number | undefined;
  private invocations = 0;
  private dead = false;
  private lineWaiters: ((line: string) => void)[] = [];
  /** Peak RSS of the runtime tree over every invocation so far (kB). */
  private lifetimePeakKb = 0;
  readonly startedAt = Date.now();
  lastUsed = Date.now();

  private readonly spec: InstanceSpec;
  private readonly port: number;

  private constructor(spec: InstanceSpec, port: number) {
    this.spec = spec;
    this.port = port;
    sequence += 1;
    this.id = `${spec.functionName}#${process.pid}.${sequence}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get isDead(): boolean {
    return this.dead;
  }

  /** Starts RIE (the runtime itself starts with the first invocation: that is the Init phase RIE reports). */
  static async start(spec: InstanceSpec): Promise<Instance> {
    const [port, runtimeApiPort] = (await freePorts(2)) as [number, number];
    const instance = new Instance(spec, port);
    await instance.spawn(runtimeApiPort);
    return instance;
  }

  private async spawn(runtimeApiPort: number): Promise<void> {
    const { spec } = this;
    const child = spawn(
      spec.riePath,
      [
        // RIE reads LOG_LEVEL from the environment too, where it is the function's own setting: the flag wins.
        '--log-level',
        'warn',
        '--runtime-interface-emulator-address',
        `127.0.0.1:${this.port}`,
        '--runtime-api-address',
        `127.0.0.1:${runtimeApiPort}`,
        // As the nodejs22.x bootstrap starts it (./bootstrap.ts).
        ...runtimeCommand(spec),
      ],
      { cwd: spec.codeDir, env: spec.environment, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    if (child.pid === undefined) {
      const error = await new Promise<Error>((resolve) => child.once('error', resolve));
      throw new InstanceStartError(`${spec.functionName}: cannot start ${spec.riePath}: ${error.message}`);
    }
    mkdirSync(spec.pidDir, { recursive: true });
    this.writePidFile();
    child.once('exit', () => {
      this.dead = true;
    });
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => this.onLine(line));
    }
    // RIE listens within milliseconds; wait until it accepts connections.
    const deadline = Date.now() + 5_000;
    while (!(await portOpen(this.port))) {
      if (this.dead || Date.now() > deadline) {
        this.kill();
        throw new InstanceStartError(`${spec.functionName}: aws-lambda-rie did not listen on ${this.port} (see ${spec.logFile})`);
      }
      await sleep(5);
    }
  }

  private writePidFile(): void {
    const pids = [this.child?.pid, this.runtimePid].filter((p): p is number => p !== undefined);
    writeFileSync(join(this.spec.pidDir, `${this.child!.pid}.pids`), `${pids.join(' ')}\n`);
  }

  private onLine(line: string): void {
    try {
      appendFileSync(this.spec.logFile, `${line}\n`);
      if (this.spec.combinedLogFile) appendFileSync(this.spec.combinedLogFile, `${line}\n`);
    } catch {
      // the log folder went away (down): nothing to keep
    }
    for (const waiter of this.lineWaiters) waiter(line);
  }

  /** Waits for a line matching `predicate`, up to `timeoutMs`; resolves undefined on timeout. */
  private waitLine(predicate: (line: string) => boolean, timeoutMs: number): { promise: Promise<string | undefined>; cancel(): void } {
    let waiter: (line: string) => void = () => {};
    let timer: NodeJS.Timeout | undefined;
    const promise = new Promise<string | undefined>((resolve) => {
      waiter = (line) => {
        if (!predicate(line)) return;
        cleanup();
        resolve(line);
      };
      timer = setTimeout(() => {
        cleanup();
        resolve(undefined);
      }, timeoutMs);
      this.lineWaiters.push(waiter);
    });
    const cleanup = () => {
      clearTimeout(timer);
      this.lineWaiters = this.lineWaiters.filter((w) => w !== waiter);
    };
    return { promise, cancel: cleanup };
  }

  private runtimeTree(): number[] {
    if (this.runtimePid === undefined || !alive(this.runtimePid)) {
      const riePid = this.child?.pid;
      this.runtimePid = riePid === undefined ? undefined : childrenOf(riePid)[0];
      if (this.runtimePid !== undefined) this.writePidFile();
    }
    return this.runtimePid === undefined ? [] : treeOf(this.runtimePid);
  }

  /**
   * One invocation. Resolves with the function's answer or its error; after a timeout, a crash or a memory kill the
   * instance is dead (callers discard it). Never rejects for a function failure.
   */
  async invoke(payload: string, requestId: string): Promise<InvokeOutcome> {
    if (this.dead) throw new InstanceStartError(`${this.id} is not running`);
    const coldStart = this.invocations === 0;
    this.invocations += 1;
    this.lastUsed = Date.now();

    const frozen = this.runtimeTree();
    // A cold environment's runtime starts with this invocation: its VmHWM covers only it anyway.
    for (const pid of frozen) resetPeakRss(pid);
    const thawStarted = performance.now();
    signalTree(frozen, 'SIGCONT');
    const thawMs = performance.now() - thawStarted;

    const report = this.waitLine((line) => line.startsWith(`REPORT RequestId: ${requestId}`), this.spec.timeoutSeconds * 1000 + 10_000);
    const invokeError = this.waitLine((line) => line.includes(`\t${requestId}\tERROR\tInvoke Error`), this.spec.timeoutSeconds * 1000 + 10_000);
    let invokeErrorSeen = false;
    void invokeError.promise.then((line) => {
      if (line) invokeErrorSeen = true;
    });

    // Memory: sample the runtime tree while the invocation runs. The tree is the one just thawed, or, on a cold start
    // (RIE starts the runtime with the first invocation), the first one found: walking /proc for it again on every
    // sample cost this process a quarter of its CPU during a burst (a runtime forks nothing).
    const limitKb = this.spec.memorySize * 1024;
    let killedForMemory = false;
    let peakKb = 0;
    let sampledTree = frozen;
    const sample = (enforce = true) => {
      if (sampledTree.length === 0) sampledTree = this.runtimeTree();
      const rss = sampledTree.reduce((sum, pid) => sum + statusKb(pid, 'VmRSS'), 0);
      peakKb = Math.max(peakKb, rss);
      if (enforce && rss > limitKb && !killedForMemory) {
        killedForMemory = true;
        signalTree(sampledTree, 'SIGKILL');
      }
    };
    const sampler = setInterval(() => sample(), 20);

    let status = 0;
    let body = '';
    let transportError: unknown;
    try {
      const response = await fetch(`http://127.0.0.1:${this.port}/2015-03-31/functions/function/invocations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-amzn-requestid': requestId },
        body: payload,
        // RIE answers a timeout itself; this only guards against a wedged emulator.
        signal: AbortSignal.timeout(this.spec.timeoutSeconds * 1000 + 15_000),
      });
      status = response.status;
      body = await response.text();
    } catch (error) {
      transportError = error;
    } finally {
      clearInterval(sampler);
      // One more reading at the answer (an invocation shorter than the interval has none otherwise); measure only.
      if (!killedForMemory) sample(false);
    }

    // Freeze first: nothing the function left running may run after its answer.
    const freezeStarted = performance.now();
    const tree = this.runtimeTree();
    signalTree(tree, 'SIGSTOP');
    const freezeMs = performance.now() - freezeStarted;

    const reportLine = await Promise.race([report.promise, sleep(500).then(() => undefined)]);
    report.cancel();
    invokeError.cancel();
    const parsed = parseReportLine(reportLine ?? '');
    const hwmKb = tree.reduce((sum, pid) => sum + statusKb(pid, 'VmHWM'), 0);
    const invocationPeakKb = Math.max(peakKb, hwmKb);
    this.lifetimePeakKb = Math.max(this.lifetimePeakKb, invocationPeakKb);
    const outcomeReport: InvocationReport = {
      requestId,
      coldStart,
      initDurationMs: parsed.initDurationMs,
      durationMs: parsed.durationMs ?? 0,
      billedDurationMs: parsed.billedDurationMs ?? 0,
      memorySizeMb: this.spec.memorySize,
      maxMemoryUsedMb: Math.ceil(this.lifetimePeakKb / 1024),
      invocationPeakRssMb: Math.ceil(invocationPeakKb / 1024),
      freezeMs,
      thawMs,
    };
    this.lastUsed = Date.now();

    if (killedForMemory) {
      this.kill();
      const message = `RequestId: ${requestId} Error: Runtime exited with error: signal: killed`;
      return { kind: 'error', errorType: 'Runtime.ExitError', payload: JSON.stringify({ errorType: 'Runtime.ExitError', errorMessage: message }), report: outcomeReport };
    }
    if (transportError !== undefined) {
      this.kill();
      const message = `RequestId: ${requestId} Error: ${transportError instanceof Error ? transportError.message : String(transportError)}`;
      return { kind: 'error', errorType: 'Runtime.Unknown', payload: JSON.stringify({ errorType: 'Runtime.Unknown', errorMessage: message }), report: outcomeReport };
    }
    if (/^Task timed out after [\d.]+ seconds$/.test(body)) {
      this.kill();
      const message = `${new Date().toISOString()} ${requestId} ${body}`;
      return { kind: 'error', errorType: 'Sandbox.Timedout', payload: JSON.stringify({ errorMessage: message }), report: outcomeReport };
    }
    if (status !== 200) {
      // 502: the runtime failed to initialise or exited during the invocation.
      this.kill();
      const errorType = status === 502 ? errorTypeOf(body) ?? 'Runtime.ExitError' : 'Runtime.Unknown';
      return { kind: 'error', errorType, payload: body || JSON.stringify({ errorType, errorMessage: `RIE answered ${status}` }), report: outcomeReport };
    }
    // The runtime interface client logs "Invoke Error" before it reports a handler failure to the Runtime API.
    if (invokeErrorSeen || isRicErrorPayload(body)) {
      return { kind: 'error', errorType: errorTypeOf(body) ?? 'Error', payload: body, report: outcomeReport };
    }
    return { kind: 'ok', payload: body, report: outcomeReport };
  }

  /** Stops RIE and the runtime for good (SIGKILL works on a stopped process; SIGTERM would wait for SIGCONT). */
  kill(): void {
    this.dead = true;
    const pids = [...(this.child?.pid === undefined ? [] : treeOf(this.child.pid)), ...this.runtimeTreeSafe()];
    signalTree([...new Set(pids)], 'SIGKILL');
    if (this.child?.pid !== undefined) rmSync(join(this.spec.pidDir, `${this.child.pid}.pids`), { force: true });
  }

  private runtimeTreeSafe(): number[] {
    return this.runtimePid !== undefined && alive(this.runtimePid) ? treeOf(this.runtimePid) : [];
  }
}


export function parseReportLine(line: string): { initDurationMs?: number; durationMs?: number; billedDurationMs?: number } {
  const field = (name: string) => {
    const match = new RegExp(`\\t${name}: ([\\d.]+) ms`).exec(line);
    return match ? Number(match[1]) : undefined;
  };
  return { initDurationMs: field('Init Duration'), durationMs: field('Duration'), billedDurationMs: field('Billed Duration') };
}

function errorTypeOf(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { errorType?: unknown };
    return typeof parsed.errorType === 'string' ? parsed.errorType : undefined;
  } catch {
    return undefined;
  }
}

/** The shape the runtime interface client posts to /error: exactly errorType, errorMessage and trace. */
function isRicErrorPayload(body: string): boolean {
  try {
    const parsed = JSON.parse(body) as Record<string, unknown>;
    const keys = Object.keys(parsed).sort().join(',');
    return keys === 'errorMessage,errorType,trace' && typeof parsed.errorType === 'string';
  } catch {
    return false;
  }
}
