/**
 * The local Lambda service's reading of serverless.yml: which functions exist, how each is invoked (HTTP API routes,
 * schedules, SQS event source mappings), its code artifact, handler, memory, timeout, reserved concurrency,
 * environment, asynchronous-invocation settings, and the SQS queues declared under `resources`. Pure: the file's text
 * and the variable sources are arguments.
 *
 * Tolerant by design: serverless.yml is the deployment's file and changes under us (other keys, per-function roles,
 * IAM, outputs); unknown keys are ignored, and only what the local service needs is validated. CloudFormation short
 * forms (`!GetAtt Queue.Arn`, `!Ref X`, `!Sub …`) parse to their long forms (`{ 'Fn::GetAtt': [...] }`).
 */
import { parse, type CollectionTag, type ScalarTag } from 'yaml';
import * as z from 'zod';
import { resolveTree, type VariableSources } from './variables.ts';

export interface HttpRoute {
  /** Upper-case method, or `ANY`. */
  method: string;
  /** Path template as written: `/events/admission/{secret}`, `/{proxy+}`, or `*` for `$default`. */
  path: string;
}

export interface SqsEventSource {
  /** Queue name (from the ARN or the CloudFormation resource it references). */
  queueName: string;
  batchSize: number;
  maximumBatchingWindowSeconds: number;
  /** ScalingConfig.MaximumConcurrency; undefined: bounded only by the function's concurrency. */
  maximumConcurrency: number | undefined;
  reportBatchItemFailures: boolean;
  enabled: boolean;
}

export interface FunctionDefinition {
  /** Key under `functions:` (e.g. `admission`). */
  key: string;
  /** Deployed name: `<service>-<stage>-<key>` unless `name:` says otherwise. */
  name: string;
  /** `index.handler`: module path (relative to the code root) and export. */
  handler: string;
  /** `package.artifact` as written (relative to the serverless.yml folder), if any. */
  artifact: string | undefined;
  memorySize: number;
  timeoutSeconds: number;
  /** Reserved concurrency; undefined: the account's unreserved pool (a local default). */
  reservedConcurrency: number | undefined;
  environment: Record<string, string>;
  /** Asynchronous invocation: retries (0–2, default 2) and maximum event age (60–21600 s, default 6 h). */
  maximumRetryAttempts: number;
  maximumEventAgeSeconds: number;
  /** Where failed asynchronous events go: a destination (`destinations.onFailure`) or a DLQ (`onError`), as written. */
  onFailure: string | undefined;
  httpRoutes: HttpRoute[];
  /** `rate(5 minutes)` etc., as milliseconds. */
  schedules: { rateMs: number; expression: string; input: unknown }[];
  sqs: SqsEventSource[];
}

export interface QueueDefinition {
  logicalId: string;
  name: string;
  visibilityTimeoutSeconds: number;
  delaySeconds: number;
  receiveMessageWaitTimeSeconds: number;
  messageRetentionSeconds: number;
  fifo: boolean;
  /** RedrivePolicy: the dead-letter queue's name and maxReceiveCount. */
  deadLetter: { queueName: string; maxReceiveCount: number } | undefined;
}

export interface ServiceDefinition {
  service: string;
  stage: string;
  region: string;
  functions: FunctionDefinition[];
  queues: QueueDefinition[];
  /** Variables that had no value and no fallback (their value became ''). */
  unresolved: string[];
  /** Things the local service read but cannot honour, to be printed once at start. */
  warnings: string[];
}

export class ServerlessConfigError extends Error {
  override name = 'ServerlessConfigError';
}

/** CloudFormation intrinsic short forms, parsed into their long forms so they survive as data. */
const cfnTags: (ScalarTag | CollectionTag)[] = (() => {
  const functions = ['Base64', 'Cidr', 'FindInMap', 'GetAZs', 'ImportValue', 'Join', 'Select', 'Split', 'Sub', 'Transform', 'And', 'Equals', 'If', 'Not', 'Or', 'Condition'];
  const tags: (ScalarTag | CollectionTag)[] = [];
  const longName = (name: string) => (name === 'Condition' ? 'Condition' : `Fn::${name}`);
  for (const name of functions) {
    tags.push({ tag: `!${name}`, resolve: (value: string) => ({ [longName(name)]: value }) } as ScalarTag);
    for (const collection of ['seq', 'map'] as const) {
      tags.push({
        tag: `!${name}`,
        collection,
        resolve: (value: { toJSON(): unknown }) => ({ [longName(name)]: value.toJSON() }),
      } as unknown as CollectionTag);
    }
  }
  tags.push({ tag: '!Ref', resolve: (value: string) => ({ Ref: value }) } as ScalarTag);
  tags.push({ tag: '!GetAtt', resolve: (value: string) => ({ 'Fn::GetAtt': value.split('.') }) } as ScalarTag);
  tags.push({
    tag: '!GetAtt',
    collection: 'seq',
    resolve: (value: { toJSON(): unknown }) => ({ 'Fn::GetAtt': value.toJSON() }),
  } as unknown as CollectionTag);
  return tags;
})();

const numberish = z.union([z.number(), z.string().regex(/^\d+$/).transform(Number)]);

const HttpApiEventSchema = z.union([
  z.literal('*'),
  z.string().regex(/^[A-Za-z*]+ \S+$/, 'an httpApi route like "POST /path"'),
  z.object({ method: z.string().default('ANY'), path: z.string() }).loose(),
]);

const SqsEventSchema = z.union([
  z.string(),
  z
    .object({
      arn: z.unknown(),
      batchSize: numberish.optional(),
      maximumBatchingWindow: numberish.optional(),
      maximumConcurrency: numberish.optional(),
      functionResponseType: z.string().optional(),
      enabled: z.boolean().optional(),
    })
    .loose(),
]);

const ScheduleEventSchema = z.union([
  z.string(),
  z.object({ rate: z.union([z.string(), z.array(z.string())]), enabled: z.boolean().optional(), input: z.unknown().optional() }).loose(),
]);

const FunctionSchema = z
  .object({
    name: z.string().optional(),
    handler: z.string().min(1, 'handler is required (e.g. index.handler)'),
    package: z.object({ artifact: z.string().optional() }).loose().optional(),
    memorySize: numberish.optional(),
    timeout: numberish.optional(),
    reservedConcurrency: numberish.optional(),
    environment: z.record(z.string(), z.unknown()).optional(),
    maximumRetryAttempts: numberish.optional(),
    maximumEventAge: numberish.optional(),
    onError: z.unknown().optional(),
    destinations: z.object({ onFailure: z.unknown().optional() }).loose().optional(),
    events: z.array(z.record(z.string(), z.unknown())).optional(),
  })
  .loose();

const FileSchema = z
  .object({
    service: z.union([z.string(), z.object({ name: z.string() }).loose()]),
    provider: z
      .object({
        stage: z.string().optional(),
        region: z.string().optional(),
        memorySize: numberish.optional(),
        timeout: numberish.optional(),
        environment: z.record(z.string(), z.unknown()).optional(),
      })
      .loose()
      .default({}),
    functions: z.record(z.string(), FunctionSchema).default({}),
    resources: z
      .object({ Resources: z.record(z.string(), z.object({ Type: z.string(), Properties: z.record(z.string(), z.unknown()).optional() }).loose()).optional() })
      .loose()
      .optional(),
  })
  .loose();

export interface ParseOptions {
  /** Sources for `${…}`; stage and region default to the file's provider values, else 'dev' / 'us-east-1'. */
  sources: Omit<VariableSources, 'self' | 'stage' | 'region'> & { stage?: string; region?: string };
}

/** An environment value that stands for a queue's URL (`{ Ref: Queue }`), completed by the service: prefix + name. */
export const LOCAL_QUEUE_URL = 'local-queue-url:';

/** Lambda's defaults where serverless.yml says nothing. */
export const lambdaDefaults = { memorySize: 1024, timeoutSeconds: 6, maximumRetryAttempts: 2, maximumEventAgeSeconds: 21_600 };

export function parseServerlessYaml(text: string, options: ParseOptions): ServiceDefinition {
  let raw: unknown;
  try {
    raw = parse(text, { customTags: cfnTags, prettyErrors: true });
  } catch (error) {
    throw new ServerlessConfigError(`serverless.yml is not valid YAML: ${error instanceof Error ? error.message : String(error)}`);
  }
  // Before variables are resolved only the stage and region are read (anything else may still be `${…}`).
  const preliminary = z.object({ provider: z.object({ stage: z.string().optional(), region: z.string().optional() }).loose().default({}) }).loose().safeParse(raw);
  if (!preliminary.success) throw new ServerlessConfigError(`serverless.yml: ${issues(preliminary.error)}`);
  const stage = options.sources.stage ?? stripVariables(preliminary.data.provider.stage) ?? 'dev';
  const region = options.sources.region ?? stripVariables(preliminary.data.provider.region) ?? 'us-east-1';
  const { value: resolved, unresolved } = resolveTree(raw, { ...options.sources, stage, region, self: raw });
  const parsed = FileSchema.safeParse(resolved);
  if (!parsed.success) throw new ServerlessConfigError(`serverless.yml: ${issues(parsed.error)}`);
  const file = parsed.data;
  const service = typeof file.service === 'string' ? file.service : file.service.name;
  const warnings: string[] = [];
  const resources = file.resources?.Resources ?? {};

  const queues: QueueDefinition[] = [];
  for (const [logicalId, resource] of Object.entries(resources)) {
    if (resource.Type !== 'AWS::SQS::Queue') continue;
    queues.push(queueFrom(logicalId, resource.Properties ?? {}, resources, warnings));
  }

  // `{ Ref: <queue> }` in an environment is the queue's URL on AWS: the service substitutes the local queue's URL.
  const envValues = (record: Record<string, unknown> | undefined) =>
    stringValues(
      Object.fromEntries(
        Object.entries(record ?? {}).map(([k, v]) => {
          const ref = v !== null && typeof v === 'object' ? (v as { Ref?: unknown }).Ref : undefined;
          const queue = typeof ref === 'string' ? queues.find((q) => q.logicalId === ref) : undefined;
          return [k, queue ? `${LOCAL_QUEUE_URL}${queue.name}` : v];
        }),
      ),
    );
  const functions = Object.entries(file.functions).map(([key, fn]) => {
    const provider = file.provider;
    const environment = { ...envValues(provider.environment), ...envValues(fn.environment) };
    const httpRoutes: HttpRoute[] = [];
    const schedules: FunctionDefinition['schedules'] = [];
    const sqs: SqsEventSource[] = [];
    for (const event of fn.events ?? []) {
      const [kind, body] = Object.entries(event)[0] ?? [];
      if (kind === 'httpApi') {
        const route = HttpApiEventSchema.safeParse(body);
        if (!route.success) throw new ServerlessConfigError(`functions.${key}: httpApi event: ${issues(route.error)}`);
        httpRoutes.push(routeFrom(route.data));
      } else if (kind === 'schedule') {
        const schedule = ScheduleEventSchema.safeParse(body);
        if (!schedule.success) throw new ServerlessConfigError(`functions.${key}: schedule event: ${issues(schedule.error)}`);
        const s = schedule.data;
        if (typeof s !== 'string' && s.enabled === false) continue;
        const expressions = typeof s === 'string' ? [s] : Array.isArray(s.rate) ? s.rate : [s.rate];
        for (const expression of expressions) {
          const rateMs = parseRate(expression);
          if (rateMs === undefined) warnings.push(`functions.${key}: schedule ${JSON.stringify(expression)} is not a rate(); not scheduled locally`);
          else schedules.push({ rateMs, expression, input: typeof s === 'string' ? undefined : s.input });
        }
      } else if (kind === 'sqs') {
        const source = SqsEventSchema.safeParse(body);
        if (!source.success) throw new ServerlessConfigError(`functions.${key}: sqs event: ${issues(source.error)}`);
        sqs.push(sqsFrom(key, source.data, resources));
      } else if (kind !== undefined) {
        warnings.push(`functions.${key}: event ${kind} is not emulated locally`);
      }
    }
    const onFailureRaw = fn.destinations?.onFailure ?? fn.onError;
    return {
      key,
      name: fn.name ?? `${service}-${stage}-${key}`,
      handler: fn.handler,
      artifact: fn.package?.artifact,
      memorySize: fn.memorySize ?? provider.memorySize ?? lambdaDefaults.memorySize,
      timeoutSeconds: fn.timeout ?? provider.timeout ?? lambdaDefaults.timeoutSeconds,
      reservedConcurrency: fn.reservedConcurrency,
      environment,
      maximumRetryAttempts: fn.maximumRetryAttempts ?? lambdaDefaults.maximumRetryAttempts,
      maximumEventAgeSeconds: fn.maximumEventAge ?? lambdaDefaults.maximumEventAgeSeconds,
      onFailure: onFailureRaw === undefined ? undefined : describeTarget(onFailureRaw),
      httpRoutes,
      schedules,
      sqs,
    } satisfies FunctionDefinition;
  });
  for (const fn of functions) {
    if (fn.reservedConcurrency === 0) warnings.push(`functions.${fn.key}: reservedConcurrency 0 — every invocation is throttled`);
  }
  return { service, stage, region, functions, queues, unresolved, warnings };
}

/** `rate(5 minutes)` → ms. Cron expressions are not emulated. */
export function parseRate(expression: string): number | undefined {
  const match = /^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$/.exec(expression.trim());
  if (!match) return undefined;
  const n = Number(match[1]);
  const unit = match[2]!.replace(/s$/, '');
  const ms = unit === 'minute' ? 60_000 : unit === 'hour' ? 3_600_000 : 86_400_000;
  return n * ms;
}

function routeFrom(route: z.output<typeof HttpApiEventSchema>): HttpRoute {
  if (route === '*') return { method: 'ANY', path: '*' };
  if (typeof route === 'string') {
    const [method, path] = route.split(' ') as [string, string];
    return { method: method === '*' ? 'ANY' : method.toUpperCase(), path };
  }
  return { method: route.method === '*' ? 'ANY' : route.method.toUpperCase(), path: route.path };
}

function sqsFrom(key: string, source: z.output<typeof SqsEventSchema>, resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>): SqsEventSource {
  const arn = typeof source === 'string' ? source : source.arn;
  const queueName = queueNameOf(arn, resources);
  if (!queueName) throw new ServerlessConfigError(`functions.${key}: sqs event: cannot tell the queue from ${JSON.stringify(arn)}`);
  const options: Exclude<typeof source, string> = typeof source === 'string' ? { arn: source } : source;
  const batchSize = options.batchSize ?? 10;
  const window = options.maximumBatchingWindow ?? 0;
  // Lambda's limits: a batch above 10 needs a batching window; MaximumConcurrency is 2–1000.
  if (batchSize < 1 || batchSize > 10_000) throw new ServerlessConfigError(`functions.${key}: sqs batchSize ${batchSize} is outside 1–10000`);
  if (batchSize > 10 && window < 1) throw new ServerlessConfigError(`functions.${key}: sqs batchSize above 10 needs maximumBatchingWindow ≥ 1`);
  if (window > 300) throw new ServerlessConfigError(`functions.${key}: sqs maximumBatchingWindow ${window} is above 300`);
  const max = options.maximumConcurrency;
  if (max !== undefined && (max < 2 || max > 1000)) throw new ServerlessConfigError(`functions.${key}: sqs maximumConcurrency ${max} is outside 2–1000`);
  return {
    queueName,
    batchSize,
    maximumBatchingWindowSeconds: window,
    maximumConcurrency: max,
    reportBatchItemFailures: options.functionResponseType === 'ReportBatchItemFailures',
    enabled: options.enabled ?? true,
  };
}

function queueFrom(
  logicalId: string,
  properties: Record<string, unknown>,
  resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>,
  warnings: string[],
): QueueDefinition {
  const fifo = properties.FifoQueue === true || properties.FifoQueue === 'true';
  const name = typeof properties.QueueName === 'string' ? properties.QueueName : fifo ? `${logicalId}.fifo` : logicalId;
  const num = (value: unknown, fallback: number) => (value === undefined ? fallback : Number(value));
  let deadLetter: QueueDefinition['deadLetter'];
  const redrive = properties.RedrivePolicy;
  if (redrive && typeof redrive === 'object') {
    const r = redrive as Record<string, unknown>;
    const dlq = queueNameOf(r.deadLetterTargetArn, resources);
    if (dlq) deadLetter = { queueName: dlq, maxReceiveCount: num(r.maxReceiveCount, 10) };
    else warnings.push(`resources.${logicalId}: RedrivePolicy target ${JSON.stringify(r.deadLetterTargetArn)} not understood; no redrive locally`);
  }
  return {
    logicalId,
    name,
    visibilityTimeoutSeconds: num(properties.VisibilityTimeout, 30),
    delaySeconds: num(properties.DelaySeconds, 0),
    receiveMessageWaitTimeSeconds: num(properties.ReceiveMessageWaitTimeSeconds, 0),
    messageRetentionSeconds: num(properties.MessageRetentionPeriod, 345_600),
    fifo,
    deadLetter,
  };
}

/** A queue's name from `arn:aws:sqs:region:account:name`, `{ 'Fn::GetAtt': [Logical, 'Arn'] }` or `{ Ref: Logical }`. */
export function queueNameOf(
  target: unknown,
  resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>,
): string | undefined {
  if (typeof target === 'string') {
    const match = /^arn:aws[a-z-]*:sqs:[^:]*:[^:]*:(.+)$/.exec(target);
    return match?.[1];
  }
  if (target && typeof target === 'object') {
    const t = target as Record<string, unknown>;
    const getAtt = t['Fn::GetAtt'];
    const logical = Array.isArray(getAtt) ? getAtt[0] : typeof t.Ref === 'string' ? t.Ref : undefined;
    if (typeof logical !== 'string') return undefined;
    const resource = resources[logical];
    if (!resource || resource.Type !== 'AWS::SQS::Queue') return undefined;
    const props = resource.Properties ?? {};
    if (typeof props.QueueName === 'string') return props.QueueName;
    return props.FifoQueue === true ? `${logical}.fifo` : logical;
  }
  return undefined;
}

function describeTarget(target: unknown): string {
  if (typeof target === 'string') return target;
  if (target && typeof target === 'object' && 'arn' in target) return describeTarget((target as { arn: unknown }).arn);
  return JSON.stringify(target);
}

function stringValues(record: Record<string, unknown> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(record ?? {})) {
    if (value === undefined || value === null) continue;
    out[key] = typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
  }
  return out;
}

function stripVariables(value: string | undefined): string | undefined {
  return value && !value.includes('${') ? value : undefined;
}

function issues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}
