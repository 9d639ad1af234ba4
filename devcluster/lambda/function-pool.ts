/**
 * One function's execution environments and Lambda's invocation semantics around them:
 *  - an invocation takes an idle environment (warm), else starts a new one (cold start) while the function is below
 *    its concurrency limit (reserved concurrency, else the local unreserved limit), else it is throttled: a
 *    synchronous invoke fails with TooManyRequestsException (429); an asynchronous event waits in the function's
 *    internal queue until an environment is free (Lambda's event queue), up to the maximum event age;
 *  - asynchronous events that fail (error or timeout) are retried `maximumRetryAttempts` times (default 2) after a
 *    delay (Lambda: about 1 min, then 2 min; shortened locally by option), then handed to the on-failure destination
 *    / DLQ if one is configured (recorded, and sent to SQS when it is a queue), else dropped;
 *  - environments idle longer than `idleTimeoutMs` are stopped (the next invocation is a cold start again).
 */
import { randomUUID } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { Instance, type InstanceSpec, type InvocationReport, type InvokeOutcome } from './instance.ts';

export class TooManyRequestsError extends Error {
  override name = 'TooManyRequestsException';
  readonly reason = 'ReservedFunctionConcurrentInvocationLimitExceeded';
}

export interface FailureRecord {
  version: '1.0';
  timestamp: string;
  requestContext: { requestId: string; functionArn: string; condition: 'RetriesExhausted' | 'EventAgeExceeded'; approximateInvokeCount: number };
  requestPayload: unknown;
  responseContext: { statusCode: number; executedVersion: string; functionError: string };
  responsePayload: unknown;
  /** Where Lambda would send it (the configured ARN); not part of Lambda's record. */
  destination: string;
}

export interface PoolOptions {
  spec: Omit<InstanceSpec, 'environment'> & { environment: Record<string, string> };
  /** The function's key in serverless.yml (`reconcile`), named in its report lines. */
  key?: string;
  functionArn: string;
  concurrencyLimit: number;
  maximumRetryAttempts: number;
  maximumEventAgeSeconds: number;
  onFailure: string | undefined;
  /** Delays before the asynchronous retries (Lambda: 60 s, 120 s). */
  retryDelaysMs: readonly number[];
  idleTimeoutMs: number;
  /** Called for every asynchronous event that exhausted its retries and has a destination. */
  deliverFailure: (record: FailureRecord) => Promise<void> | void;
  log: (line: string) => void;
}

export interface PoolStats {
  invocations: number;
  coldStarts: number;
  throttles: number;
  errors: number;
  timeouts: number;
  memoryKills: number;
  /** Invocations whose runtime exited (a crash: Runtime.ExitError), memory kills included. */
  exits: number;
  asyncQueued: number;
  asyncRetries: number;
  asyncDropped: number;
  asyncFailedToDestination: number;
  concurrentNow: number;
  concurrentMax: number;
  instances: number;
  /** Last reports, newest last (bounded). */
  reports: (InvocationReport & { outcome: string; coldStartWallMs?: number; waitMs: number })[];
}

interface AsyncEvent {
  requestId: string;
  payload: string;
  receivedAt: number;
  attempts: number;
  notBefore: number;
}

const MAX_REPORTS = 500;

export class FunctionPool {
  private readonly idle: Instance[] = [];
  private readonly all = new Set<Instance>();
  private busy = 0;
  private readonly asyncQueue: AsyncEvent[] = [];
  private asyncTimer: NodeJS.Timeout | undefined;
  private readonly reaper: NodeJS.Timeout;
  private stopped = false;
  readonly stats: PoolStats = {
    invocations: 0,
    coldStarts: 0,
    throttles: 0,
    errors: 0,
    timeouts: 0,
    memoryKills: 0,
    exits: 0,
    asyncQueued: 0,
    asyncRetries: 0,
    asyncDropped: 0,
    asyncFailedToDestination: 0,
    concurrentNow: 0,
    concurrentMax: 0,
    instances: 0,
    reports: [],
  };

  private readonly options: PoolOptions;

  constructor(options: PoolOptions) {
    this.options = options;
    this.reaper = setInterval(() => this.reapIdle(), Math.max(1_000, Math.min(60_000, options.idleTimeoutMs / 2)));
    this.reaper.unref();
  }

  get name(): string {
    return this.options.spec.functionName;
  }

  /** Environments free or startable right now. */
  get available(): number {
    return this.options.concurrencyLimit - this.busy;
  }

  /**
   * A synchronous (RequestResponse) invocation. Throws TooManyRequestsError when the function is at its concurrency
   * limit; otherwise resolves with the function's result or error.
   */
  async invoke(payload: string, requestId: string = randomUUID()): Promise<InvokeOutcome> {
    if (this.stopped || this.busy >= this.options.concurrencyLimit) {
      this.stats.throttles += 1;
      throw new TooManyRequestsError('Rate Exceeded.');
    }
    return this.run(payload, requestId, 0);
  }

  /** An asynchronous (Event) invocation: accepted at once (202); runs when an environment is free. */
  invokeAsync(payload: string, requestId: string = randomUUID()): string {
    this.asyncQueue.push({ requestId, payload, receivedAt: Date.now(), attempts: 0, notBefore: 0 });
    this.stats.asyncQueued += 1;
    this.drainAsync();
    return requestId;
  }

  private async run(payload: string, requestId: string, waitMs: number): Promise<InvokeOutcome> {
    this.busy += 1;
    this.stats.invocations += 1;
    this.stats.concurrentNow = this.busy;
    this.stats.concurrentMax = Math.max(this.stats.concurrentMax, this.busy);
    let instance = this.idle.pop();
    let coldStartWallMs: number | undefined;
    const started = performance.now();
    try {
      if (!instance) {
        instance = await Instance.start(this.options.spec);
        this.all.add(instance);
        this.stats.coldStarts += 1;
        this.stats.instances = this.all.size;
      }
      const outcome = await instance.invoke(payload, requestId);
      if (outcome.report.coldStart) coldStartWallMs = performance.now() - started;
      const kind =
        outcome.kind === 'ok' ? 'ok' : outcome.errorType === 'Sandbox.Timedout' ? 'timeout' : outcome.errorType === 'Runtime.ExitError' ? 'error:exit' : `error:${outcome.errorType}`;
      if (outcome.kind === 'error') {
        this.stats.errors += 1;
        if (kind === 'timeout') this.stats.timeouts += 1;
        if (kind === 'error:exit') this.stats.exits += 1;
        if (outcome.payload.includes('signal: killed') && outcome.errorType === 'Runtime.ExitError') this.stats.memoryKills += 1;
      }
      this.stats.reports.push({ ...outcome.report, outcome: kind, coldStartWallMs, waitMs });
      if (this.stats.reports.length > MAX_REPORTS) this.stats.reports.shift();
      this.writeReportLine(platformReportLine({ functionName: this.name, functionKey: this.options.key, report: outcome.report, outcome: kind, coldStartWallMs, now: new Date() }));
      this.options.log(
        `${this.name} ${requestId} ${kind} duration=${outcome.report.durationMs}ms billed=${outcome.report.billedDurationMs}ms ` +
          `maxMemory=${outcome.report.maxMemoryUsedMb}MB${coldStartWallMs === undefined ? '' : ` coldStart=${Math.round(coldStartWallMs)}ms`}`,
      );
      return outcome;
    } finally {
      this.busy -= 1;
      this.stats.concurrentNow = this.busy;
      if (instance && !instance.isDead && !this.stopped) this.idle.push(instance);
      else if (instance) {
        instance.kill();
        this.all.delete(instance);
      }
      this.stats.instances = this.all.size;
      this.drainAsync();
    }
  }

  /** Beside RIE's REPORT line (whose memory figure is the memory size): the measured one, in the function's logs. */
  private writeReportLine(line: string): void {
    for (const file of [this.options.spec.logFile, this.options.spec.combinedLogFile]) {
      if (!file) continue;
      try {
        appendFileSync(file, `${line}\n`);
      } catch {
        // the log folder went away (down)
      }
    }
  }

  private drainAsync(): void {
    if (this.stopped) return;
    clearTimeout(this.asyncTimer);
    this.asyncTimer = undefined;
    const now = Date.now();
    let nextDue = Infinity;
    for (let i = 0; i < this.asyncQueue.length && this.busy < this.options.concurrencyLimit; ) {
      const event = this.asyncQueue[i]!;
      if (now - event.receivedAt > this.options.maximumEventAgeSeconds * 1000) {
        this.asyncQueue.splice(i, 1);
        void this.fail(event, 'EventAgeExceeded', undefined);
        continue;
      }
      if (event.notBefore > now) {
        nextDue = Math.min(nextDue, event.notBefore);
        i += 1;
        continue;
      }
      this.asyncQueue.splice(i, 1);
      void this.runAsync(event);
    }
    if (nextDue !== Infinity) {
      this.asyncTimer = setTimeout(() => this.drainAsync(), nextDue - now);
      this.asyncTimer.unref();
    }
  }

  private async runAsync(event: AsyncEvent): Promise<void> {
    event.attempts += 1;
    let outcome: InvokeOutcome | undefined;
    try {
      // Retries keep the request id, as Lambda's do.
      outcome = await this.run(event.payload, event.requestId, Date.now() - event.receivedAt);
    } catch (error) {
      this.options.log(`${this.name} ${event.requestId} async invocation could not run: ${String(error)}`);
    }
    if (outcome?.kind === 'ok') return;
    if (event.attempts <= this.options.maximumRetryAttempts) {
      const delay = this.options.retryDelaysMs[Math.min(event.attempts - 1, this.options.retryDelaysMs.length - 1)] ?? 0;
      event.notBefore = Date.now() + delay;
      this.stats.asyncRetries += 1;
      this.asyncQueue.push(event);
      this.drainAsync();
      return;
    }
    await this.fail(event, 'RetriesExhausted', outcome);
  }

  private async fail(event: AsyncEvent, condition: FailureRecord['requestContext']['condition'], outcome: InvokeOutcome | undefined): Promise<void> {
    if (!this.options.onFailure) {
      this.stats.asyncDropped += 1;
      this.options.log(`${this.name} ${event.requestId} async event dropped (${condition}, no destination)`);
      return;
    }
    this.stats.asyncFailedToDestination += 1;
    const record: FailureRecord = {
      version: '1.0',
      timestamp: new Date().toISOString(),
      requestContext: { requestId: event.requestId, functionArn: `${this.options.functionArn}:$LATEST`, condition, approximateInvokeCount: event.attempts },
      requestPayload: parseOr(event.payload),
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: outcome?.kind === 'error' ? 'Unhandled' : '' },
      responsePayload: outcome ? parseOr(outcome.payload) : undefined,
      destination: this.options.onFailure,
    };
    try {
      await this.options.deliverFailure(record);
    } catch (error) {
      this.options.log(`${this.name} ${event.requestId} on-failure delivery failed: ${String(error)}`);
    }
  }

  private reapIdle(): void {
    const now = Date.now();
    for (let i = this.idle.length - 1; i >= 0; i -= 1) {
      const instance = this.idle[i]!;
      if (now - instance.lastUsed < this.options.idleTimeoutMs) continue;
      this.idle.splice(i, 1);
      instance.kill();
      this.all.delete(instance);
    }
    this.stats.instances = this.all.size;
  }

  /** Pids of every live environment (RIE), for the service's own bookkeeping. */
  pids(): number[] {
    return [...this.all].map((i) => i.pid).filter((p): p is number => p !== undefined);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.reaper);
    clearTimeout(this.asyncTimer);
    for (const instance of this.all) instance.kill();
    this.all.clear();
    this.idle.length = 0;
    this.stats.instances = 0;
  }
}

/**
 * Lambda's `platform.report` record (its JSON log format for the REPORT line: duration, billed duration, memory size,
 * max memory used, status), with the figures measured here and, under `local`, what the combined log needs to tell
 * functions apart and what a benchmark wants besides. Pure.
 *
 * RIE starts the runtime only at the first invocation, so a cold invocation's `durationMs` includes the runtime's
 * start and the bundle's import: what Lambda reports as Init Duration plus Duration, and bills (INIT is billed for
 * managed runtimes since 2025-08-01).
 */
export function platformReportLine(input: {
  functionName: string;
  functionKey: string | undefined;
  report: InvocationReport;
  outcome: string;
  coldStartWallMs: number | undefined;
  now: Date;
}): string {
  const { report } = input;
  const status = input.outcome === 'ok' ? 'success' : input.outcome === 'timeout' ? 'timeout' : 'error';
  return JSON.stringify({
    time: input.now.toISOString(),
    type: 'platform.report',
    functionName: input.functionName,
    record: {
      requestId: report.requestId,
      metrics: {
        durationMs: report.durationMs,
        billedDurationMs: report.billedDurationMs,
        memorySizeMB: report.memorySizeMb,
        maxMemoryUsedMB: report.maxMemoryUsedMb,
      },
      status,
    },
    local: {
      ...(input.functionKey ? { function: input.functionKey } : {}),
      coldStart: report.coldStart,
      ...(input.coldStartWallMs === undefined ? {} : { coldStartWallMs: Math.round(input.coldStartWallMs) }),
      invocationPeakRssMB: report.invocationPeakRssMb,
      outcome: input.outcome,
    },
  });
}

function parseOr(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
