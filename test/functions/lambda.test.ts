import type { LambdaContext, LambdaEvent } from 'hono/aws-lambda';
import { describe, expect, it } from 'vitest';
import type { HandleResult, Hint } from '../../src/hints.ts';
import type { AppDeps } from '../../src/http/app.ts';
import { createSelfInvokeDefer } from '../../src/http/defer.ts';
import { createHttpLambdaHandler, createResyncLambdaHandler, createRuntimeSdkInvoke, createSqsLambdaHandler, type LambdaSdk } from '../../src/http/lambda.ts';
import { fixture, recordingHandler, recordingLogger, secretsOf, testConfig } from '../http/support.ts';

const env = {
  BEARER_TOKEN: 'fixture-token-0123456789abcdef',
  ADMISSION_PATH_SECRET: 'fixture-admission-secret-0123456789',
  ADMISSION_SETTLE_MS: '300',
};

function fakeDeps(behaviour?: (hints: readonly Hint[]) => HandleResult) {
  const { handler, calls } = recordingHandler(behaviour);
  const logs = recordingLogger();
  const config = testConfig(env);
  // Without a `defer` (the direct path), the Lambda helper supplies its own.
  const deps: Omit<AppDeps, 'defer'> = { handler, config, secrets: secretsOf(config), log: logs.log };
  return { deps, calls, logs };
}

const context = { awsRequestId: 'r-1', getRemainingTimeInMillis: () => 20_000 } as unknown as LambdaContext;

/** The node hint of lambda-function-url-admission.json: a creation that waits to be seen stored (Hint `pending`). */
const admittedNode = { kind: 'node', name: 'worker-7', created: true, registered: expect.any(Object), pending: { before: null, until: expect.any(Number) } };

describe('HTTP functions on Lambda (hono/aws-lambda)', () => {
  it('answers an API Gateway v2 HTTP API event', async () => {
    const { deps, calls } = fakeDeps();
    const handler = createHttpLambdaHandler(() => deps);
    const result = await handler(fixture<LambdaEvent>('lambda-apigw-v2-watch.json'), context);
    expect(result).toMatchObject({ statusCode: 200, isBase64Encoded: false });
    expect(JSON.parse((result as { body: string }).body)).toMatchObject({ accepted: 1, hints: 1 });
    expect(calls).toEqual([[{ kind: 'node', name: 'worker-11' }]]);
  });

  it('refuses an API Gateway v2 event with a wrong token', async () => {
    const { deps, calls } = fakeDeps();
    const event = fixture('lambda-apigw-v2-watch.json');
    event.headers.authorization = 'Bearer nope-nope-nope-nope-nope';
    const result = await createHttpLambdaHandler(() => deps)(event, context);
    expect(result).toMatchObject({ statusCode: 401 });
    expect(calls).toEqual([]);
  });

  it('answers a Function URL admission event at once and hands the hints to an asynchronous self-invoke', async () => {
    const { deps, calls } = fakeDeps();
    const invocations: { functionName: string; payload: any }[] = [];
    const handler = createHttpLambdaHandler(() => ({ ...deps, config: { ...deps.config, AWS_LAMBDA_FUNCTION_NAME: 'daemonless-dev-admission' } }), {
      deferToSelf: {
        invoke: async (functionName, payload) => {
          invocations.push({ functionName, payload: JSON.parse(payload) });
        },
      },
    });
    const before = Date.now();
    const result = await handler(fixture<LambdaEvent>('lambda-function-url-admission.json'), context);
    expect(result).toMatchObject({ statusCode: 200 });
    expect(JSON.parse((result as { body: string }).body)).toEqual({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true },
    });
    expect(calls).toEqual([]); // not reconciled before the object is stored
    expect(invocations).toEqual([
      {
        functionName: 'daemonless-dev-admission',
        payload: { daemonless: 'deferred-hints', hints: [admittedNode], notBefore: expect.any(Number) },
      },
    ]);
    // A node's change: at once (its pass looks for it stored, Hint `pending`), not after ADMISSION_SETTLE_MS.
    expect(invocations[0]!.payload.notBefore).toBeGreaterThanOrEqual(before);
    expect(invocations[0]!.payload.notBefore).toBeLessThan(before + 300);
  });

  it('without a function to defer to, admission still answers and says the work was dropped', async () => {
    const { deps, calls, logs } = fakeDeps();
    const result = await createHttpLambdaHandler(() => deps)(fixture('lambda-function-url-admission.json'), context);
    expect(result).toMatchObject({ statusCode: 200 });
    expect(calls).toEqual([]);
    expect(logs.entries().some((e) => e.level === 'warn' && e.msg.startsWith('deferred work dropped'))).toBe(true);
  });

  it('with a queue, admission hands its hints to the queue (the deps bring their own defer) and never invokes itself', async () => {
    const { deps, calls } = fakeDeps();
    const queued: { hints: unknown; delayMs: number }[] = [];
    const handler = createHttpLambdaHandler(() => ({ ...deps, defer: (_task, work) => void queued.push({ hints: work.hints, delayMs: work.delayMs }) }), {
      deferToSelf: {
        invoke: async () => {
          throw new Error('no self-invocation with a queue');
        },
      },
    });
    const result = await handler(fixture<LambdaEvent>('lambda-function-url-admission.json'), context);
    expect(result).toMatchObject({ statusCode: 200 });
    expect(calls).toEqual([]);
    expect(queued).toEqual([{ hints: [admittedNode], delayMs: 0 }]);
  });

  it('reconciles a deferred invocation once notBefore has passed', async () => {
    const { deps, calls } = fakeDeps();
    const handler = createHttpLambdaHandler(() => deps);
    const notBefore = Date.now() + 30;
    const result = await handler(
      { daemonless: 'deferred-hints', hints: [{ kind: 'node', name: 'w1' }, { kind: 'node', name: 'w1' }], notBefore },
      context,
    );
    expect(Date.now()).toBeGreaterThanOrEqual(notBefore);
    expect(calls).toEqual([[{ kind: 'node', name: 'w1' }]]);
    expect(result).toMatchObject({ hints: 1 });
  });

  it('a deferred invocation hands in again, a few ms later, an admitted node change its pass did not see yet', async () => {
    let first = true;
    const { deps, calls } = fakeDeps((hints) => {
      const unsettled = first ? [...hints] : [];
      first = false;
      return { hints: hints.length, created: 0, deleted: 0, apiRequests: 1, unsettled };
    });
    const handler = createHttpLambdaHandler(() => deps);
    const hint = { kind: 'node' as const, name: 'w1', pending: { before: null, until: Date.now() + 5_000 } };
    await handler({ daemonless: 'deferred-hints', hints: [hint], notBefore: 0 }, context);
    expect(calls).toEqual([[hint], [hint]]);
  });

  it('a failing deferred invocation throws, so Lambda retries it', async () => {
    const { deps } = fakeDeps(() => {
      throw new Error('apiserver down');
    });
    const handler = createHttpLambdaHandler(() => deps);
    await expect(
      handler({ daemonless: 'deferred-hints', hints: [{ kind: 'node', name: 'w1' }], notBefore: 0 }, context),
    ).rejects.toThrow('apiserver down');
  });

  it('builds dependencies once per cold start, and retries after a failed start', async () => {
    const { deps } = fakeDeps();
    let builds = 0;
    const handler = createHttpLambdaHandler(async () => {
      builds += 1;
      if (builds === 1) throw new Error('kubeconfig unreadable');
      return deps;
    });
    const event = fixture<LambdaEvent>('lambda-apigw-v2-watch.json');
    await expect(handler(event, context)).rejects.toThrow('kubeconfig unreadable');
    expect(await handler(event, context)).toMatchObject({ statusCode: 200 });
    expect(await handler(event, context)).toMatchObject({ statusCode: 200 });
    expect(builds).toBe(2);
  });
});

describe('resync function (EventBridge schedule)', () => {
  it('hands one resync hint to the handler, with a deadline before the Lambda timeout', async () => {
    const { deps, calls } = fakeDeps();
    let signal: AbortSignal | undefined;
    deps.handler = {
      async handle(hints, s) {
        calls.push([...hints]);
        signal = s;
        return { hints: 1, created: 0, deleted: 0, apiRequests: 4 };
      },
    };
    const result = await createResyncLambdaHandler(() => deps)(fixture('eventbridge-scheduled.json'), context);
    expect(calls).toEqual([[{ kind: 'resync' }]]);
    expect(result).toEqual({ hints: 1, created: 0, deleted: 0, apiRequests: 4 });
    expect(signal?.aborted).toBe(false);
  });

  it('rethrows failures so the schedule’s retry applies', async () => {
    const { deps } = fakeDeps(() => {
      throw new Error('boom');
    });
    await expect(createResyncLambdaHandler(() => deps)({}, context)).rejects.toThrow('boom');
  });
});

describe('reconcile function (SQS event source mapping)', () => {
  it("hands the consumer a signal that ends 5 s before the invocation's time, so a pass stops writing before Lambda kills it", async () => {
    const signals: (AbortSignal | undefined)[] = [];
    const abortedAfter: number[] = [];
    const handler = createSqsLambdaHandler(async () => async (_event, signal) => {
      signals.push(signal);
      const started = Date.now();
      if (signal) await new Promise((resolve) => signal.addEventListener('abort', resolve));
      abortedAfter.push(Date.now() - started);
      return { batchItemFailures: [] };
    });
    await handler({ Records: [] }, { getRemainingTimeInMillis: () => 6_200 });
    await handler({ Records: [] });
    expect(abortedAfter[0]).toBeGreaterThanOrEqual(1_100);
    expect(abortedAfter[0]).toBeLessThan(3_000);
    expect(signals[1]).toBeUndefined();
  });
});

describe('createSelfInvokeDefer', () => {
  it('sends the hints and the time they may be reconciled from', async () => {
    const sent: string[] = [];
    const defer = createSelfInvokeDefer({
      functionName: 'f',
      invoke: async (_name, payload) => {
        sent.push(payload);
      },
      now: () => 1_000,
    });
    await defer(async () => {}, { hints: [{ kind: 'node', name: 'a' }], delayMs: 250 });
    expect(JSON.parse(sent[0]!)).toEqual({ daemonless: 'deferred-hints', hints: [{ kind: 'node', name: 'a' }], notBefore: 1_250 });
  });
});

describe('createRuntimeSdkInvoke: the direct path hands deferred admission work to its own function', () => {
  /** An SDK slice that records each Invoke and answers `answer`; `undefined`: no answer until its abort signal fires. */
  function sdk(answer: { StatusCode?: number } | undefined) {
    const inputs: { FunctionName: string; InvocationType: string; Payload: Uint8Array }[] = [];
    const slice: LambdaSdk = {
      LambdaClient: class {
        send(command: unknown, options?: { abortSignal?: AbortSignal }) {
          inputs.push((command as { input: (typeof inputs)[number] }).input);
          if (answer) return Promise.resolve(answer);
          return new Promise<never>((_resolve, reject) => options?.abortSignal?.addEventListener('abort', () => reject(new Error('Request aborted'))));
        }
      },
      InvokeCommand: class {
        input: unknown;
        constructor(input: unknown) {
          this.input = input;
        }
      },
    };
    return { slice, inputs };
  }

  it('invokes asynchronously with the payload', async () => {
    const { slice, inputs } = sdk({ StatusCode: 202 });
    await createRuntimeSdkInvoke(() => slice)('daemonless-admission', '{"a":1}');
    expect(inputs.map((i) => ({ ...i, Payload: new TextDecoder().decode(i.Payload) }))).toEqual([
      { FunctionName: 'daemonless-admission', InvocationType: 'Event', Payload: '{"a":1}' },
    ]);
  });

  it.each([
    ['an answer other than 202', { StatusCode: 500 }, /asynchronous invoke of f answered 500/],
    ['no answer: fails within its timeout, naming it, instead of holding the invocation until Lambda kills it', undefined, /asynchronous invoke of f: no answer within 30 ms/],
  ])('%s', async (_name, answer, message) => {
    const { slice } = sdk(answer);
    await expect(createRuntimeSdkInvoke(() => slice, { timeoutMs: 30 })('f', '{}')).rejects.toThrow(message);
  });
});
