/**
 * The local Lambda runtime against fixture handlers: freeze between invocations, cold vs warm starts, reserved
 * concurrency and throttling, timeout, memory limit, asynchronous invocation with retries and an on-failure
 * destination, schedules — through the AWS SDK v3 Lambda client pointed at the local Invoke API.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { InvokeCommand, TooManyRequestsException } from '@aws-sdk/client-lambda';
import { GetQueueUrlCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, processState, startFixtureService, type FixtureService } from './fixture-service.ts';

let service: FixtureService;

beforeAll(async () => {
  service = await startFixtureService({ scheduleRateMs: { tick: 400 } });
});
afterAll(async () => {
  await service?.stop();
});

const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function invoke(fn: string, payload: unknown) {
  const started = performance.now();
  const output = await service.lambda.send(new InvokeCommand({ FunctionName: fn, Payload: encoder.encode(JSON.stringify(payload)) }));
  const text = output.Payload ? decoder.decode(output.Payload) : '';
  return { output, ms: performance.now() - started, body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
}

describe('freeze between invocations', () => {
  it('a timer set during an invocation does not fire after the answer, and resumes when the environment is thawed', async () => {
    const first = await invoke('timer', { laterMs: 300, tag: 'frozen' });
    expect(first.output.FunctionError).toBeUndefined();
    const runtimePid = first.body!.pid as number;
    // The runtime (the node process of the ric, not RIE) is stopped while idle.
    expect(processState(runtimePid)).toBe('T');
    await sleep(1_200);
    expect(service.lines('timer-fired').filter((l) => l.tag === 'frozen')).toEqual([]);

    // The next invocation thaws the environment: the overdue timer fires during it.
    const started = Date.now();
    const second = await invoke('timer', { waitMs: 300 });
    expect(second.body!.pid).toBe(runtimePid);
    const fired = service.lines<{ tag: string; at: number }>('timer-fired').filter((l) => l.tag === 'frozen');
    expect(fired).toHaveLength(1);
    expect(fired[0]!.at).toBeGreaterThanOrEqual(started);
    expect(fired[0]!.at).toBeLessThanOrEqual(second.body!.answeredAt as number);
    expect(processState(runtimePid)).toBe('T');
  });
});

describe('execution environments', () => {
  it('starts an environment on the first invocation (cold) and reuses it (warm)', async () => {
    const cold = await invoke('slow', { ms: 0 });
    const warm = await invoke('slow', { ms: 0 });
    expect(warm.body!.pid).toBe(cold.body!.pid);
    expect(warm.body!.invocations).toBe(2);
    const reports = await service.reports('slow');
    expect(reports.at(-2)!.coldStart).toBe(true);
    expect(reports.at(-1)!.coldStart).toBe(false);
    expect(reports.at(-1)!.billedDurationMs).toBeGreaterThanOrEqual(1);
    process.stderr.write(
      `[local-cloud] slow: cold invoke ${cold.ms.toFixed(0)} ms (environment start ${reports.at(-2)!.coldStartWallMs?.toFixed(0)} ms), ` +
        `warm invoke ${warm.ms.toFixed(1)} ms, freeze ${reports.at(-1)!.freezeMs.toFixed(2)} ms, thaw ${reports.at(-1)!.thawMs.toFixed(2)} ms\n`,
    );
  });

  it('runs at most reservedConcurrency invocations at once and throttles the rest with TooManyRequestsException', async () => {
    // slow: reservedConcurrency 2.
    const results = await Promise.allSettled([invoke('slow', { ms: 800 }), invoke('slow', { ms: 800 }), invoke('slow', { ms: 800 })]);
    const ok = results.filter((r) => r.status === 'fulfilled');
    const throttled = results.filter((r) => r.status === 'rejected');
    expect(ok).toHaveLength(2);
    expect(throttled).toHaveLength(1);
    const error = (throttled[0] as PromiseRejectedResult).reason as TooManyRequestsException;
    expect(error).toBeInstanceOf(TooManyRequestsException);
    expect(error.$metadata.httpStatusCode).toBe(429);
    expect(error.Reason).toBe('ReservedFunctionConcurrentInvocationLimitExceeded');
    const pids = new Set(ok.map((r) => (r as PromiseFulfilledResult<Awaited<ReturnType<typeof invoke>>>).value.body!.pid));
    expect(pids.size).toBe(2);
    const stats = await service.stats();
    expect(stats.functions.slow!.concurrentMax).toBe(2);
  });

  it('fails an invocation that exceeds the timeout, and discards its environment', async () => {
    await invoke('slow', { ms: 0 });
    const before = (await service.stats()).functions.slow!;
    const timedOut = await invoke('slow', { ms: 3_000 });
    expect(timedOut.output.FunctionError).toBe('Unhandled');
    expect(String(timedOut.body!.errorMessage)).toMatch(/Task timed out after 2\.00 seconds$/);
    expect(timedOut.ms).toBeGreaterThanOrEqual(1_900);
    expect(timedOut.ms).toBeLessThan(3_000);
    const after = (await service.stats()).functions.slow!;
    expect(after.instances).toBe(before.instances! - 1);
    expect(after.timeouts).toBe(before.timeouts! + 1);
    // Two at once: one warm environment is left, so exactly one new environment starts.
    const both = await Promise.all([invoke('slow', { ms: 300 }), invoke('slow', { ms: 300 })]);
    expect(both.map((b) => b.output.FunctionError)).toEqual([undefined, undefined]);
    expect((await service.stats()).functions.slow!.coldStarts).toBe(after.coldStarts! + (before.instances === 2 ? 1 : 2));
  });

  it('kills an environment that goes over its memory size; the invocation fails with Runtime.ExitError', async () => {
    // hog: memorySize 128.
    const small = await invoke('hog', { mb: 8 });
    expect(small.output.FunctionError).toBeUndefined();
    const smallReport = (await service.reports('hog')).at(-1)!;
    expect(smallReport.maxMemoryUsedMb).toBeGreaterThan(20);
    expect(smallReport.maxMemoryUsedMb).toBeLessThan(128);

    const big = await invoke('hog', { mb: 200, holdMs: 2_000 });
    expect(big.output.FunctionError).toBe('Unhandled');
    expect(big.body).toMatchObject({ errorType: 'Runtime.ExitError' });
    expect(String(big.body!.errorMessage)).toContain('signal: killed');
    const again = await invoke('hog', { mb: 1 });
    expect(again.body!.pid).not.toBe(small.body!.pid);
    expect((await service.stats()).functions.hog!.memoryKills).toBe(1);
  });
});

describe('runtime environment', () => {
  it("provides the AWS SDK v3 to the function's code, by import and by require", async () => {
    const { body } = await invoke('sdk', {});
    expect(body).toEqual({ import: 'function', require: 'function' });
  });
});

describe('asynchronous invocation', () => {
  it('accepts an Event invocation with 202, retries a failing one twice, then records it at the on-failure destination', async () => {
    const output = await service.lambda.send(
      new InvokeCommand({ FunctionName: 'fixture-local-flaky', InvocationType: 'Event', Payload: encoder.encode(JSON.stringify({ id: 'retry-me' })) }),
    );
    expect(output.StatusCode).toBe(202);
    const attempts = await eventually(() => {
      const lines = service.lines<{ at: number }>('attempts-retry-me');
      return lines.length >= 3 ? lines : undefined;
    }, 10_000, 'three attempts');
    // Retries come after the (shortened) delays: 200 ms, then 400 ms.
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(180);
    expect(attempts[2]!.at - attempts[1]!.at).toBeGreaterThanOrEqual(380);

    const failures = await eventually(async () => {
      const list = (await (await fetch(`${service.invokeUrl}/_local/failures`)).json()) as { requestPayload: { id: string } }[];
      const mine = list.filter((f) => f.requestPayload.id === 'retry-me');
      return mine.length > 0 ? mine : undefined;
    }, 5_000, 'the failure record');
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({
      version: '1.0',
      requestContext: { condition: 'RetriesExhausted', approximateInvokeCount: 3, functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:fixture-local-flaky:$LATEST' },
      responseContext: { functionError: 'Unhandled' },
      responsePayload: { errorType: 'Error', errorMessage: 'flaky retry-me failed' },
    });
    // The destination is an SQS queue: the record arrived there.
    const { QueueUrl } = await service.sqs.send(new GetQueueUrlCommand({ QueueName: 'fixture-async-failures' }));
    const received = await service.sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 2, MaxNumberOfMessages: 10 }));
    const bodies = (received.Messages ?? []).map((m) => JSON.parse(m.Body!) as { requestPayload: { id: string } });
    expect(bodies.some((b) => b.requestPayload.id === 'retry-me')).toBe(true);
    expect(service.lines('attempts-retry-me')).toHaveLength(3);
  });

  it('drops a failed event after its retries when there is no destination', async () => {
    await service.lambda.send(new InvokeCommand({ FunctionName: 'dropper', InvocationType: 'Event', Payload: encoder.encode(JSON.stringify({ id: 'drop-me' })) }));
    await eventually(async () => ((await service.stats()).functions.dropper!.asyncDropped === 1 ? true : undefined), 5_000, 'the drop');
    expect(service.lines('attempts-drop-me')).toHaveLength(1);
  });

  it('an asynchronous event waits for a free environment instead of being throttled', async () => {
    // timer: reservedConcurrency 1. Three events at once run one after another.
    for (const tag of ['q1', 'q2', 'q3']) {
      await service.lambda.send(new InvokeCommand({ FunctionName: 'timer', InvocationType: 'Event', Payload: encoder.encode(JSON.stringify({ waitMs: 200, tag })) }));
    }
    await eventually(async () => {
      const timer = (await service.stats()).functions.timer!;
      return timer.asyncQueued! >= 3 && timer.concurrentNow === 0 ? true : undefined;
    }, 5_000, 'the queue to drain');
    const stats = await service.stats();
    expect(stats.functions.timer!.throttles).toBe(0);
    expect(stats.functions.timer!.concurrentMax).toBe(1);
  });
});

describe('schedule', () => {
  it('invokes a scheduled function asynchronously at the (overridden) rate with an EventBridge event', async () => {
    const before = service.lines('ticks').length;
    await sleep(1_500);
    const ticks = service.lines<{ source: string; detailType: string }>('ticks');
    expect(ticks.length - before).toBeGreaterThanOrEqual(2);
    expect(ticks.length - before).toBeLessThanOrEqual(5);
    expect(ticks.at(-1)).toMatchObject({ source: 'aws.events', detailType: 'Scheduled Event' });
  });
});

describe('idle environments', () => {
  let short: FixtureService;
  beforeAll(async () => {
    short = await startFixtureService({ idleTimeoutMs: 1_000, sqs: false, only: ['slow'] });
  });
  afterAll(async () => {
    await short?.stop();
  });

  it('are stopped after the idle timeout; the next invocation is a cold start', async () => {
    const call = () => short.lambda.send(new InvokeCommand({ FunctionName: 'slow', Payload: encoder.encode('{}') }));
    await call();
    await call();
    expect((await short.stats()).functions.slow).toMatchObject({ instances: 1, coldStarts: 1 });
    await eventually(async () => ((await short.stats()).functions.slow!.instances === 0 ? true : undefined), 5_000, 'the environment to be reaped');
    await call();
    expect((await short.stats()).functions.slow).toMatchObject({ instances: 1, coldStarts: 2 });
  });
});
