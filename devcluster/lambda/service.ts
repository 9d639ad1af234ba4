/**
 * The local Lambda service: the functions serverless.yml declares, run from their built artifacts in AWS's Runtime
 * Interface Emulator + the official Node runtime interface client, behind
 *  - the Lambda Invoke API (`POST /2015-03-31/functions/{name}/invocations`, RequestResponse | Event), which the AWS
 *    SDK v3 Lambda client reaches with a custom endpoint;
 *  - API Gateway HTTP API (payload format 2.0) on an HTTP and an HTTPS listener, routing by the functions' `httpApi`
 *    events;
 *  - EventBridge schedules (`schedule: rate(…)`) invoking asynchronously, the rate overridable for tests;
 *  - SQS event source mappings (`sqs:` events) against an SQS endpoint (ElasticMQ locally);
 * plus `/_local/*` read-only endpoints on the invoke port (stats, reports, failed asynchronous events) for tests and
 * benchmarks. Runs in its own process (main.ts); control.ts starts and stops it.
 */
import { randomUUID } from 'node:crypto';
import { appendFileSync, cpSync, existsSync, lstatSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import {
  fromResultV2,
  gatewayError,
  gatewayErrors,
  INTEGRATION_TIMEOUT_MS,
  MAX_REQUEST_BYTES,
  matchRoute,
  toEventV2,
  type GatewayResponse,
  type RouteTarget,
} from './apigw.ts';
import { FunctionPool, TooManyRequestsError, type FailureRecord } from './function-pool.ts';
import { LOCAL_QUEUE_URL, parseServerlessYaml, queueNameOf, type FunctionDefinition, type ServiceDefinition } from './serverless-config.ts';
import { SqsMapping } from './sqs-mapping.ts';
import { startSqsCounter, type SqsCounter } from './sqs-counter.ts';
import { queueArn } from './sqs-event.ts';
import { extractZip } from './zip.ts';

export interface ServiceOptions {
  /** serverless.yml; artifacts are relative to its folder. */
  serverlessFile: string;
  /** Logs, pid files, failure records. */
  stateDir: string;
  stage: string;
  region: string;
  accountId: string;
  /** `${ssm:…}` values and SSM Parameter Store at run time (GetParameters): the local parameter store. */
  ssm: Record<string, string>;
  /** `--param name=value` overrides of serverless.yml's params. */
  params?: Record<string, string>;
  /** `${env:…}` source. */
  variablesEnv: Record<string, string | undefined>;
  /** Added to every function's environment after its own (local-only settings). */
  extraEnvironment: Record<string, string>;
  host: string;
  invokePort: number;
  http?: { port: number };
  https?: { port: number; certFile: string; keyFile: string };
  sqsEndpoint?: string;
  /**
   * Route every SQS request (the functions' and the event source mappings') through a counting pass-through
   * (sqs-counter.ts) and report the counts by action in `/_local/stats` (`sqs`); for benchmarks.
   */
  countSqsRequests?: boolean;
  /** Concurrency of a function without reservedConcurrency (Lambda: the account's unreserved pool). */
  unreservedConcurrency: number;
  idleTimeoutMs: number;
  asyncRetryDelaysMs: number[];
  /** Schedule rates by function key ('*': all), overriding `rate(…)`. */
  scheduleRateMs: Record<string, number>;
  /** Only these function keys (default: all). */
  only?: string[];
  /** One log for every function's output, beside the per-function logs. */
  combinedLogFile?: string;
  /** API Gateway's integration limit (HTTP API: 30 s); shorter only in tests. */
  integrationTimeoutMs?: number;
  riePath: string;
  nodePath: string;
  ricEntry: string;
  /** NODE_PATH of the runtime: where the runtime's AWS SDK comes from (Lambda's nodejs22.x ships @aws-sdk/*). */
  runtimeNodePath: string;
}

export interface RunningService {
  definition: ServiceDefinition;
  pools: Map<string, FunctionPool>;
  invokeUrl: string;
  httpUrl?: string;
  httpsUrl?: string;
  stop(): Promise<void>;
}

export async function startService(options: ServiceOptions, log: (line: string) => void): Promise<RunningService> {
  const definition = parseServerlessYaml(readFileSync(options.serverlessFile, 'utf8'), {
    sources: { env: options.variablesEnv, stage: options.stage, region: options.region, accountId: options.accountId, ssm: options.ssm, ...(options.params ? { params: options.params } : {}) },
  });
  for (const warning of definition.warnings) log(`warning: ${warning}`);
  if (definition.unresolved.length > 0) log(`unresolved variables (their value is ''): ${definition.unresolved.join(', ')}`);
  const functions = definition.functions.filter((fn) => !options.only || options.only.includes(fn.key));
  const baseDir = resolve(options.serverlessFile, '..');
  const logsDir = join(options.stateDir, 'logs');
  const pidDir = join(options.stateDir, 'instances');
  mkdirSync(logsDir, { recursive: true });
  mkdirSync(pidDir, { recursive: true });
  const failuresFile = join(options.stateDir, 'failures.jsonl');
  const failures: FailureRecord[] = [];
  const invokeUrl = `http://${options.host}:${options.invokePort}`;
  const sqsCounter: SqsCounter | undefined =
    options.sqsEndpoint && options.countSqsRequests ? await startSqsCounter(options.sqsEndpoint, options.host) : undefined;
  // What the functions and the mappings talk to: the counter when there is one, else ElasticMQ itself.
  const sqsEndpoint = sqsCounter?.url ?? options.sqsEndpoint;
  const sqs = sqsEndpoint
    ? new SQSClient({ endpoint: sqsEndpoint, region: options.region, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } })
    : undefined;

  const codeRoot = join(tmpdir(), 'daemonless-lambda', createHash('sha256').update(options.stateDir).digest('hex').slice(0, 12));
  removeCodeRoot(codeRoot);
  // The nodejs22.x runtime provides the AWS SDK v3 to `require` (NODE_PATH) and to ESM `import` alike: a bundle that
  // marks @aws-sdk/* external finds it. ESM resolution ignores NODE_PATH, so the SDK is also linked beside the code.
  const sdk = join(options.runtimeNodePath, '@aws-sdk');
  if (existsSync(sdk)) {
    mkdirSync(join(codeRoot, 'node_modules'), { recursive: true });
    symlinkSync(sdk, join(codeRoot, 'node_modules', '@aws-sdk'), 'dir');
  }

  const pools = new Map<string, FunctionPool>();
  for (const fn of functions) {
    const codeDir = prepareCode(fn, baseDir, join(codeRoot, fn.key));
    const functionArn = `arn:aws:lambda:${options.region}:${options.accountId}:function:${fn.name}`;
    const pool = new FunctionPool({
      spec: {
        functionName: fn.name,
        codeDir,
        handler: fn.handler,
        memorySize: fn.memorySize,
        timeoutSeconds: fn.timeoutSeconds,
        environment: lambdaEnvironment(fn, codeDir, { ...options, sqsEndpoint }, invokeUrl),
        riePath: options.riePath,
        nodePath: options.nodePath,
        ricEntry: options.ricEntry,
        logFile: join(logsDir, `${fn.key}.log`),
        combinedLogFile: options.combinedLogFile,
        pidDir,
      },
      functionArn,
      key: fn.key,
      concurrencyLimit: fn.reservedConcurrency ?? options.unreservedConcurrency,
      maximumRetryAttempts: fn.maximumRetryAttempts,
      maximumEventAgeSeconds: fn.maximumEventAgeSeconds,
      onFailure: fn.onFailure,
      retryDelaysMs: options.asyncRetryDelaysMs,
      idleTimeoutMs: options.idleTimeoutMs,
      deliverFailure: async (record) => {
        failures.push(record);
        appendFileSync(failuresFile, `${JSON.stringify(record)}\n`);
        const queue = queueNameOf(record.destination, {});
        if (queue && sqs) {
          const url = `${sqsEndpoint}/${options.accountId}/${queue}`;
          await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: JSON.stringify({ ...record, destination: undefined }) }));
        }
      },
      log,
    });
    pools.set(fn.key, pool);
  }
  const byName = new Map<string, FunctionPool>();
  for (const fn of functions) {
    const pool = pools.get(fn.key)!;
    byName.set(fn.name, pool);
    byName.set(fn.key, pool);
    byName.set(`arn:aws:lambda:${options.region}:${options.accountId}:function:${fn.name}`, pool);
  }

  // Schedules.
  const timers: NodeJS.Timeout[] = [];
  for (const fn of functions) {
    for (const schedule of fn.schedules) {
      const rateMs = options.scheduleRateMs[fn.key] ?? options.scheduleRateMs['*'] ?? schedule.rateMs;
      if (rateMs <= 0) {
        log(`schedule: ${fn.key} off (${schedule.expression} overridden with 0)`);
        continue;
      }
      const rule = `arn:aws:events:${options.region}:${options.accountId}:rule/${definition.service}-${definition.stage}-${fn.key}`;
      const timer = setInterval(() => {
        const event =
          schedule.input !== undefined
            ? schedule.input
            : {
                version: '0',
                id: randomUUID(),
                'detail-type': 'Scheduled Event',
                source: 'aws.events',
                account: options.accountId,
                time: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
                region: options.region,
                resources: [rule],
                detail: {},
              };
        pools.get(fn.key)!.invokeAsync(JSON.stringify(event));
      }, rateMs);
      timers.push(timer);
      log(`schedule: ${fn.key} every ${rateMs} ms (${schedule.expression}${rateMs !== schedule.rateMs ? ', overridden' : ''})`);
    }
  }

  // SQS event source mappings.
  const mappings: { key: string; queue: string; mapping: SqsMapping }[] = [];
  for (const fn of functions) {
    for (const source of fn.sqs) {
      if (!source.enabled) continue;
      if (!sqs) {
        log(`warning: ${fn.key} has an sqs event (${source.queueName}) but no SQS endpoint is configured; not polled`);
        continue;
      }
      const mapping = new SqsMapping({
        sqs,
        pool: pools.get(fn.key)!,
        source,
        queueArn: queueArn(options.region, options.accountId, source.queueName),
        region: options.region,
        log,
      });
      await mapping.start();
      mappings.push({ key: fn.key, queue: source.queueName, mapping });
      log(
        `sqs: ${source.queueName} → ${fn.key} (batch ${source.batchSize}, window ${source.maximumBatchingWindowSeconds} s, ` +
          `max concurrency ${source.maximumConcurrency ?? 'unset'}, ReportBatchItemFailures ${source.reportBatchItemFailures})`,
      );
    }
  }

  // HTTP API routes.
  const targets: RouteTarget[] = functions.flatMap((fn) => fn.httpRoutes.map((route) => ({ functionKey: fn.key, route })));
  const api = { accountId: options.accountId, apiId: 'local', domainName: `local.execute-api.${options.region}.amazonaws.com` };
  const gateway = (scheme: 'http' | 'https', port: number) => async (req: IncomingMessage, res: ServerResponse) => {
    const requestId = randomUUID();
    let response: GatewayResponse;
    try {
      response = await gatewayRequest(req, scheme, port, requestId);
    } catch (error) {
      log(`apigw ${requestId}: ${String(error)}`);
      response = gatewayError(gatewayErrors.internal);
    }
    const headers: Record<string, string | string[]> = { 'apigw-requestid': requestId, 'content-length': String(response.body.length) };
    for (const [name, value] of response.headers) {
      if (name === 'set-cookie') headers[name] = [...((headers[name] as string[] | undefined) ?? []), value];
      else headers[name] = value;
    }
    res.writeHead(response.statusCode, headers);
    res.end(response.body);
  };
  const gatewayRequest = async (req: IncomingMessage, scheme: string, port: number, requestId: string): Promise<GatewayResponse> => {
    const body = await readBody(req, MAX_REQUEST_BYTES);
    if (body === undefined) return gatewayError(gatewayErrors.tooLarge);
    const url = req.url ?? '/';
    const path = url.split('?')[0]!;
    const match = matchRoute(targets, req.method ?? 'GET', path);
    if (!match) return gatewayError(gatewayErrors.notFound);
    const event = toEventV2(
      {
        method: req.method ?? 'GET',
        url,
        rawHeaders: req.rawHeaders,
        body,
        sourceIp: (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, ''),
        protocol: `HTTP/${req.httpVersion}`,
        scheme,
        port,
        requestId,
        now: new Date(),
      },
      match,
      api,
    );
    const pool = pools.get(match.target.functionKey)!;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), options.integrationTimeoutMs ?? INTEGRATION_TIMEOUT_MS);
    });
    try {
      const outcome = await Promise.race([pool.invoke(JSON.stringify(event), requestId), timeout]);
      if (outcome === 'timeout') return gatewayError(gatewayErrors.timeout);
      if (outcome.kind === 'error') return gatewayError(gatewayErrors.internal);
      return fromResultV2(outcome.payload);
    } catch (error) {
      // Throttled (or the invoke could not start): API Gateway answers 500 and does not retry.
      if (!(error instanceof TooManyRequestsError)) log(`apigw ${requestId}: ${String(error)}`);
      return gatewayError(gatewayErrors.internal);
    } finally {
      clearTimeout(timer);
    }
  };

  // The Lambda Invoke API and the local read-only endpoints.
  const invokeServer = createHttpServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', invokeUrl);
      const json = (status: number, value: unknown, headers: Record<string, string> = {}) => {
        const text = JSON.stringify(value);
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers });
        res.end(text);
      };
      const awsError = (status: number, type: string, message: string, extra: Record<string, string> = {}) =>
        json(status, { Type: 'User', message, ...extra }, { 'x-amzn-errortype': type, 'x-amzn-requestid': randomUUID() });
      if (req.method === 'GET' && url.pathname === '/_local/health') return json(200, { ok: true });
      if (req.method === 'GET' && url.pathname === '/_local/stats') {
        return json(200, {
          functions: Object.fromEntries([...pools].map(([key, pool]) => [key, { name: pool.name, ...pool.stats, reports: undefined }])),
          mappings: mappings.map((m) => ({ function: m.key, queue: m.queue, ...m.mapping.stats })),
          ...(sqsCounter ? { sqs: sqsCounter.stats } : {}),
        });
      }
      if (req.method === 'GET' && url.pathname === '/_local/reports') {
        const key = url.searchParams.get('function') ?? '';
        const pool = pools.get(key) ?? byName.get(key);
        return pool ? json(200, pool.stats.reports) : awsError(404, 'ResourceNotFoundException', `Function not found: ${key}`);
      }
      if (req.method === 'GET' && url.pathname === '/_local/failures') return json(200, failures);
      const target = String(req.headers['x-amz-target'] ?? '');
      if (req.method === 'POST' && target.startsWith('AmazonSSM.')) {
        const body = await readBody(req, 1024 * 1024);
        return serveSsm(target.slice('AmazonSSM.'.length), body?.toString('utf8') ?? '', options.ssm, (status, value, type) =>
          type ? awsError(status, type, String((value as { message?: string }).message ?? '')) : json(status, value),
        );
      }
      const invoke = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(url.pathname);
      if (req.method === 'POST' && invoke) {
        const name = decodeURIComponent(invoke[1]!).replace(/:\$LATEST$/, '');
        const pool = byName.get(name);
        if (!pool) return awsError(404, 'ResourceNotFoundException', `Function not found: arn:aws:lambda:${options.region}:${options.accountId}:function:${name}`);
        const body = await readBody(req, 6 * 1024 * 1024);
        if (body === undefined) return awsError(413, 'RequestTooLargeException', 'Request must be smaller than 6291456 bytes for the InvokeFunction operation');
        const payload = body.length === 0 ? '{}' : body.toString('utf8');
        const type = String(req.headers['x-amz-invocation-type'] ?? 'RequestResponse');
        if (type === 'DryRun') {
          res.writeHead(204);
          return res.end();
        }
        if (type === 'Event') {
          if (body.length > 256 * 1024) return awsError(413, 'RequestTooLargeException', 'Request must be smaller than 262144 bytes for the Event invocation type');
          const requestId = pool.invokeAsync(payload);
          res.writeHead(202, { 'x-amzn-requestid': requestId, 'content-length': '0' });
          return res.end();
        }
        if (type !== 'RequestResponse') return awsError(400, 'InvalidParameterValueException', `unknown X-Amz-Invocation-Type ${type}`);
        try {
          const requestId = randomUUID();
          const outcome = await pool.invoke(payload, requestId);
          const headers: Record<string, string> = { 'x-amzn-requestid': requestId, 'x-amz-executed-version': '$LATEST', 'content-length': String(Buffer.byteLength(outcome.payload)) };
          if (outcome.kind === 'error') headers['x-amz-function-error'] = 'Unhandled';
          res.writeHead(200, headers);
          return res.end(outcome.payload);
        } catch (error) {
          if (error instanceof TooManyRequestsError) {
            return awsError(429, 'TooManyRequestsException', 'Rate Exceeded.', { Reason: error.reason });
          }
          return awsError(500, 'ServiceException', error instanceof Error ? error.message : String(error));
        }
      }
      return awsError(404, 'UnknownOperationException', `${req.method} ${url.pathname}`);
    })().catch((error: unknown) => {
      log(`invoke api: ${String(error)}`);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });

  const servers: Server[] = [invokeServer];
  await listen(invokeServer, options.invokePort, options.host);
  let httpUrl: string | undefined;
  let httpsUrl: string | undefined;
  if (options.http) {
    const server = createHttpServer((req, res) => void gateway('http', options.http!.port)(req, res));
    await listen(server, options.http.port, options.host);
    servers.push(server);
    httpUrl = `http://${options.host}:${options.http.port}`;
  }
  if (options.https) {
    const server = createHttpsServer(
      { cert: readFileSync(options.https.certFile), key: readFileSync(options.https.keyFile) },
      (req, res) => void gateway('https', options.https!.port)(req, res),
    );
    await listen(server, options.https.port, options.host);
    servers.push(server);
    httpsUrl = `https://${options.host}:${options.https.port}`;
  }
  log(
    `lambda: ${functions.length} function(s) [${functions.map((f) => `${f.key}(${f.memorySize}MB, ${f.timeoutSeconds}s, concurrency ${f.reservedConcurrency ?? options.unreservedConcurrency})`).join(', ')}]; ` +
      `invoke API ${invokeUrl}${httpUrl ? `, HTTP API ${httpUrl}` : ''}${httpsUrl ? ` and ${httpsUrl}` : ''}`,
  );

  return {
    definition,
    pools,
    invokeUrl,
    httpUrl,
    httpsUrl,
    async stop() {
      for (const timer of timers) clearInterval(timer);
      await Promise.all(mappings.map((m) => m.mapping.stop()));
      for (const server of servers) server.closeAllConnections();
      await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
      for (const pool of pools.values()) pool.stop();
      sqs?.destroy();
      await sqsCounter?.stop();
      removeCodeRoot(codeRoot);
    },
  };
}

/** Removes the unpacked code; the SDK link is unlinked, never followed. */
function removeCodeRoot(codeRoot: string): void {
  const link = join(codeRoot, 'node_modules', '@aws-sdk');
  try {
    if (lstatSync(link).isSymbolicLink()) unlinkSync(link);
  } catch {
    // no link
  }
  rmSync(codeRoot, { recursive: true, force: true });
}

/** The code folder of a function: its artifact (.zip unpacked, or a folder copied) in a folder of its own. */
function prepareCode(fn: FunctionDefinition, baseDir: string, target: string): string {
  if (!fn.artifact) throw new Error(`functions.${fn.key}: no package.artifact; the local service runs built artifacts (npm run build)`);
  const artifact = isAbsolute(fn.artifact) ? fn.artifact : join(baseDir, fn.artifact);
  if (!existsSync(artifact)) throw new Error(`functions.${fn.key}: artifact ${artifact} does not exist (run npm run build)`);
  mkdirSync(target, { recursive: true });
  if (statSync(artifact).isDirectory()) cpSync(artifact, target, { recursive: true });
  else extractZip(readFileSync(artifact), target);
  return target;
}

/** What Lambda sets in a nodejs22.x environment, plus the function's own variables. */
export function lambdaEnvironment(fn: FunctionDefinition, codeDir: string, options: ServiceOptions, invokeUrl: string): Record<string, string> {
  const env: Record<string, string> = {
    ...fn.environment,
    AWS_LAMBDA_FUNCTION_NAME: fn.name,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memorySize),
    AWS_LAMBDA_FUNCTION_TIMEOUT: String(fn.timeoutSeconds),
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${fn.name}`,
    AWS_LAMBDA_LOG_STREAM_NAME: `local/[$LATEST]${randomUUID().replaceAll('-', '')}`,
    AWS_REGION: options.region,
    AWS_DEFAULT_REGION: options.region,
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
    LAMBDA_TASK_ROOT: codeDir,
    _HANDLER: fn.handler,
    TZ: ':UTC',
    LANG: 'en_US.UTF-8',
    PATH: '/usr/local/bin:/usr/bin:/bin',
    NODE_PATH: options.runtimeNodePath,
    // The role's credentials (local placeholders) and where the runtime's SDK finds the local services.
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_SESSION_TOKEN: 'local',
    AWS_ENDPOINT_URL_LAMBDA: invokeUrl,
    // SSM Parameter Store (GetParameters/GetParameter) is served by the invoke API's listener from `options.ssm`.
    AWS_ENDPOINT_URL_SSM: invokeUrl,
    ...(options.sqsEndpoint ? { AWS_ENDPOINT_URL_SQS: options.sqsEndpoint } : {}),
    ...options.extraEnvironment,
  };
  // The function's own NODE_OPTIONS stay when the caller adds some. V8's heap sizes are not set here: the runtime
  // starts as the nodejs22.x bootstrap starts it (./bootstrap.ts), with them on node's command line, where they win.
  const own = fn.environment['NODE_OPTIONS'];
  const extra = options.extraEnvironment['NODE_OPTIONS'];
  if (own && extra) env['NODE_OPTIONS'] = `${own} ${extra}`;
  // `{ Ref: <queue> }` values: the local queue's URL (ElasticMQ's, as GetQueueUrl gives it).
  for (const [key, value] of Object.entries(env)) {
    if (value.startsWith(LOCAL_QUEUE_URL)) env[key] = `${options.sqsEndpoint ?? ''}/${options.accountId}/${value.slice(LOCAL_QUEUE_URL.length)}`;
  }
  return env;
}

/**
 * SSM Parameter Store's GetParameters and GetParameter (the JSON protocol the AWS SDK v3 speaks), from the local
 * parameter store, so that functions read their secrets at cold start exactly as on AWS (src/secrets.ts).
 */
function serveSsm(
  operation: string,
  body: string,
  store: Record<string, string>,
  answer: (status: number, value: unknown, errorType?: string) => void,
): void {
  let input: { Names?: string[]; Name?: string };
  try {
    input = JSON.parse(body || '{}') as { Names?: string[]; Name?: string };
  } catch {
    return answer(400, { message: 'request body is not JSON' }, 'SerializationException');
  }
  const parameter = (name: string) => ({ Name: name, Type: 'SecureString', Value: store[name], Version: 1, ARN: `arn:aws:ssm:local:000000000000:parameter${name}` });
  if (operation === 'GetParameters') {
    const names = input.Names ?? [];
    return answer(200, { Parameters: names.filter((n) => Object.hasOwn(store, n)).map(parameter), InvalidParameters: names.filter((n) => !Object.hasOwn(store, n)) });
  }
  if (operation === 'GetParameter') {
    const name = input.Name ?? '';
    if (!Object.hasOwn(store, name)) return answer(400, { message: `parameter ${name} not found` }, 'ParameterNotFound');
    return answer(200, { Parameter: parameter(name) });
  }
  return answer(400, { message: `AmazonSSM.${operation} is not served locally` }, 'UnknownOperationException');
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) over = true;
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(over ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
