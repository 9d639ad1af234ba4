/**
 * AWS Lambda entry helpers. `functions/*.ts` call these with a dependency factory (the real one is
 * `createDeps(loadConfig(process.env))` from src/wiring.ts; tests pass fakes). The factory runs once per cold start;
 * when it fails, the next invocation tries again.
 *
 * HTTP events (API Gateway v2 HTTP API, Lambda Function URL, and the other shapes `hono/aws-lambda` accepts) go
 * through the same hono app as `npm start`. The admission function also accepts the asynchronous invocations it sends
 * itself to reconcile after answering (docs/adr/0001-admission-on-lambda.md).
 */
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { handle, type APIGatewayProxyResult, type LambdaContext, type LambdaEvent } from 'hono/aws-lambda';
import * as z from '../zod.ts';
import { AWS_CALL_TIMEOUT_MS, callWithin } from '../aws-call.ts';
import { dedupeHints, type HandleResult } from '../hints.ts';
import { serializeError } from '../log.ts';
import { createApp, type AppDeps } from './app.ts';
import { createSelfInvokeDefer, deferredInvocationMarker, handleUntilSeen, type AsyncInvoke, type Defer } from './defer.ts';
import { InvalidInputError } from './invalid-input.ts';
import { PayloadTooLargeError } from '../errors.ts';
import { intakeCloudWatchLogs } from './intake/cloudwatch-logs.ts';
import { HintSchema } from './schemas.ts';

/** Dependencies without `defer` get the Lambda one (a self-invocation, or a warning); with it (the queue) they keep theirs. */
type LambdaDeps = Omit<AppDeps, 'defer'> & Partial<Pick<AppDeps, 'defer'>>;
export type DepsFactory = () => LambdaDeps | Promise<LambdaDeps>;

export interface HttpLambdaOptions {
  /**
   * Admission work goes after the answer to an asynchronous invocation of this same function (its name is the
   * configuration's AWS_LAMBDA_FUNCTION_NAME, which Lambda sets). Without it such work is dropped with a warning and
   * left to the resync.
   */
  deferToSelf?: { invoke?: AsyncInvoke };
}

/** What the Lambda runtime passes as context; only the remaining time is read. */
export type InvocationContext = Partial<Pick<LambdaContext, 'getRemainingTimeInMillis' | 'awsRequestId'>>;

export const DeferredInvocationSchema = z.object({
  daemonless: z.literal(deferredInvocationMarker),
  hints: z.array(HintSchema).check(z.minLength(1)),
  notBefore: z.number(),
});

/** Deferred work never waits longer than this, whatever `notBefore` says (a bad clock must not burn the timeout). */
const maxDeferredWaitMs = 10_000;

export function createHttpLambdaHandler(init: DepsFactory, options: HttpLambdaOptions = {}) {
  const ready = once(async () => {
    const base = await init();
    const deps: AppDeps = { ...base, defer: base.defer ?? lambdaDefer(base, options) };
    return { deps, handle: handle(createApp(deps)) };
  });
  return async (
    event: LambdaEvent | z.input<typeof DeferredInvocationSchema>,
    context?: LambdaContext,
  ): Promise<APIGatewayProxyResult | HandleResult> => {
    const { deps, handle } = await ready();
    // Only an event carrying the marker is parsed as a deferred invocation: a cold HTTP request does not pay for
    // compiling that schema (zod builds its parser on first use).
    if (carriesDeferredMarker(event)) {
      const deferred = DeferredInvocationSchema.safeParse(event);
      if (deferred.success) return runDeferred(deps, deferred.data);
    }
    return handle(event as LambdaEvent, context);
  };
}

function carriesDeferredMarker(event: unknown): boolean {
  return typeof event === 'object' && event !== null && 'daemonless' in event;
}

/** The schedule: an EventBridge scheduled event (its contents do not matter) → reconcile everything. */
export function createResyncLambdaHandler(init: DepsFactory) {
  const ready = once(async () => init());
  return async (_event: unknown, context?: InvocationContext): Promise<HandleResult> => {
    const deps = await ready();
    const started = performance.now();
    // Stop a little before Lambda would kill the invocation, so the handler can report what it did.
    const remaining = context?.getRemainingTimeInMillis?.();
    const signal = remaining === undefined ? undefined : AbortSignal.timeout(Math.max(1_000, remaining - 2_000));
    try {
      const result = await deps.handler.handle([{ kind: 'resync' }], signal);
      deps.log.info('resync', { result, durationMs: Math.round(performance.now() - started) });
      return result;
    } catch (error) {
      deps.log.error('resync failed', { error: serializeError(error), durationMs: Math.round(performance.now() - started) });
      throw error; // EventBridge retries failed asynchronous invocations.
    }
  };
}

async function runDeferred(deps: AppDeps, invocation: z.output<typeof DeferredInvocationSchema>): Promise<HandleResult> {
  // A timer may fire a millisecond early against Date.now(): round the wait up.
  const wait = Math.min(maxDeferredWaitMs, Math.max(0, invocation.notBefore - Date.now()));
  if (wait > 0) await sleep(Math.ceil(wait) + 1);
  const hints = dedupeHints(invocation.hints);
  const started = performance.now();
  try {
    const { result, unseen } = await handleUntilSeen((h) => deps.handler.handle(h), hints);
    deps.log.info('deferred hints handled', { hints: hints.length, result, durationMs: Math.round(performance.now() - started) });
    if (unseen.length > 0) deps.log.info('admitted change not seen stored in time: taken as refused', { hints: unseen.length });
    return result;
  } catch (error) {
    deps.log.error('deferred hints failed', { hints: hints.length, error: serializeError(error) });
    throw error; // Lambda retries failed asynchronous invocations (twice by default).
  }
}

function lambdaDefer(deps: Omit<AppDeps, 'defer'>, options: HttpLambdaOptions): Defer {
  const functionName = deps.config.AWS_LAMBDA_FUNCTION_NAME;
  if (options.deferToSelf && functionName) {
    return createSelfInvokeDefer({ functionName, invoke: options.deferToSelf.invoke ?? invokeWithRuntimeSdk });
  }
  // A background task would be frozen with the instance as soon as the answer is sent: say so instead.
  return (_task, work) => {
    deps.log.warn('deferred work dropped: no function to hand it to; the scheduled resync will catch up', {
      hints: work.hints.length,
    });
  };
}

/** The minimal slice of `@aws-sdk/client-lambda` used here. */
export interface LambdaSdk {
  LambdaClient: new (config: object) => { send(command: unknown, options?: { abortSignal?: AbortSignal }): Promise<{ StatusCode?: number }> };
  InvokeCommand: new (input: { FunctionName: string; InvocationType: 'Event'; Payload: Uint8Array }) => unknown;
}

/** The longest one asynchronous Invoke may take (src/aws-call.ts). */
export const INVOKE_TIMEOUT_MS = AWS_CALL_TIMEOUT_MS;

/**
 * `InvocationType: Event` through the AWS SDK v3 that the nodejs22.x runtime ships (on NODE_PATH, which only
 * `require` honours, hence createRequire; the bundle marks `@aws-sdk/*` external). Not bundled: it is only loaded on
 * Lambda, on the first admission request with hints.
 */
export function createRuntimeSdkInvoke(
  loadSdk: () => LambdaSdk = () => createRequire(import.meta.url)('@aws-sdk/client-lambda') as LambdaSdk,
  { timeoutMs = INVOKE_TIMEOUT_MS }: { timeoutMs?: number } = {},
): AsyncInvoke {
  let loaded: { sdk: LambdaSdk; client: InstanceType<LambdaSdk['LambdaClient']> } | undefined;
  return async (functionName, payload) => {
    if (!loaded) {
      const sdk = loadSdk();
      loaded = { sdk, client: new sdk.LambdaClient({}) };
    }
    const { sdk, client } = loaded;
    const command = new sdk.InvokeCommand({ FunctionName: functionName, InvocationType: 'Event', Payload: new TextEncoder().encode(payload) });
    const output = await callWithin(`asynchronous invoke of ${functionName}`, timeoutMs, (abortSignal) => client.send(command, { abortSignal }));
    if (output.StatusCode !== 202) throw new Error(`asynchronous invoke of ${functionName} answered ${output.StatusCode}`);
  };
}

export const invokeWithRuntimeSdk: AsyncInvoke = createRuntimeSdkInvoke();

/**
 * EKS audit logs through a CloudWatch Logs subscription filter (an asynchronous invocation): the audit events become
 * hints (src/http/intake/cloudwatch-logs.ts), handled like the audit webhook's (enqueued, or reconciled on the direct
 * path). An event that is not valid is logged and dropped (retrying it would fail the same way); a transient failure
 * is thrown, so Lambda retries the invocation.
 */
export function createCloudWatchLogsLambdaHandler(init: DepsFactory) {
  const ready = once(async () => init());
  return async (event: unknown): Promise<HandleResult | { accepted: 0; refused?: string }> => {
    const deps = await ready();
    let hints;
    try {
      const limits = { maxDepth: deps.config.JSON_MAX_DEPTH, maxTokens: deps.config.JSON_MAX_TOKENS };
      hints = dedupeHints(intakeCloudWatchLogs(event, deps.config.BODY_LIMIT_BYTES, limits).hints);
    } catch (error) {
      // Bad or too large: retrying would fail the same way.
      if (!(error instanceof InvalidInputError || error instanceof PayloadTooLargeError)) throw error;
      deps.log.warn('CloudWatch Logs event refused', { error: error.message, ...(error instanceof InvalidInputError ? { issues: error.issues } : {}) });
      return { accepted: 0, refused: error.message };
    }
    if (hints.length === 0) return { accepted: 0 };
    const result = await deps.handler.handle(hints);
    deps.log.info('CloudWatch Logs audit events handled', { hints: hints.length, result });
    return result;
  };
}

/**
 * The reconcile function (an SQS event source mapping with ReportBatchItemFailures): the consumer is built once per
 * cold start; a batch that cannot be consumed at all (no consumer) fails whole, and SQS redelivers it.
 */
export function createSqsLambdaHandler(init: () => Promise<(event: SQSEvent, signal?: AbortSignal) => Promise<SQSBatchResponse>>) {
  const ready = once(init);
  return async (event: SQSEvent, context?: InvocationContext): Promise<SQSBatchResponse> => {
    const consume = await ready();
    // A pass stops launching writes a little before Lambda would kill the invocation, and its hints go back to the
    // queue at once instead of waiting out the visibility timeout with the whole batch.
    const remaining = context?.getRemainingTimeInMillis?.();
    return consume(event, remaining === undefined ? undefined : AbortSignal.timeout(Math.max(1_000, remaining - 5_000)));
  };
}

/** Memoises an async factory; a rejection is not memoised, so a failed cold start is retried. */
function once<T>(factory: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    pending ??= factory().catch((error: unknown) => {
      pending = undefined;
      throw error;
    });
    return pending;
  };
}
