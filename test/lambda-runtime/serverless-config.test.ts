import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../devcluster/paths.ts';
import { parseRate, parseServerlessYaml, ServerlessConfigError } from '../../devcluster/lambda/serverless-config.ts';
import { resolveString } from '../../devcluster/lambda/variables.ts';
import { elasticMqConfig } from '../../devcluster/queue/elasticmq.ts';

const sources = (overrides: Partial<Parameters<typeof resolveString>[1]> = {}) => ({
  env: { HOME_X: 'h', EMPTY: '' },
  stage: 'dev',
  region: 'eu-west-1',
  accountId: '123456789012',
  ssm: { '/app/dev/token': 'tok' },
  self: { custom: { n: 3, nested: '${sls:stage}-x' } },
  ...overrides,
});

describe('serverless variables', () => {
  it.each([
    { name: 'env with fallback, set', input: "${env:HOME_X, 'd'}", want: 'h' },
    { name: 'env with fallback, unset', input: "${env:NOPE, 'd'}", want: 'd' },
    { name: 'env set to empty keeps the empty value', input: "${env:EMPTY, 'd'}", want: '' },
    { name: 'numeric fallback', input: '${env:NOPE, 42}', want: 42 },
    { name: 'nested: ssm path built from the stage', input: '${ssm:/app/${sls:stage}/token}', want: 'tok' },
    { name: 'interpolated in text', input: 'arn:aws:lambda:${aws:region}:${aws:accountId}:function:f', want: 'arn:aws:lambda:eu-west-1:123456789012:function:f' },
    { name: 'self keeps the type', input: '${self:custom.n}', want: 3 },
    { name: 'self resolves variables of the referenced value', input: '${self:custom.nested}', want: 'dev-x' },
    { name: 'fallback to another variable', input: '${env:NOPE, env:HOME_X}', want: 'h' },
  ])('$name', ({ input, want }) => {
    expect(resolveString(input, sources())).toEqual(want);
  });

  it('reports what it cannot resolve and leaves it empty', () => {
    const unresolved: string[] = [];
    expect(resolveString('${ssm:/app/dev/missing}', sources(), unresolved)).toBe('');
    expect(unresolved).toEqual(['ssm:/app/dev/missing']);
  });
});

describe('parseServerlessYaml', () => {
  it("reads the product's serverless.yml", () => {
    const text = readFileSync(join(repoRoot, 'serverless.yml'), 'utf8');
    const definition = parseServerlessYaml(text, { sources: { env: {}, accountId: '000000000000', ssm: {}, stage: 'local' } });
    expect(definition.service).toBe('daemonless');
    const keys = definition.functions.map((f) => f.key);
    expect(keys).toEqual(expect.arrayContaining(['watch', 'audit', 'admission', 'reconcile', 'resync']));
    const admission = definition.functions.find((f) => f.key === 'admission')!;
    expect(admission.name).toBe('daemonless-local-admission');
    expect(admission.handler).toBe('index.handler');
    // Only the secret path is routed.
    expect(admission.httpRoutes).toEqual([{ method: 'POST', path: '/events/admission/{secret}' }]);
    // Params resolve (stage `local`): the SSM parameter NAME is configured, never a secret value.
    expect(admission.environment.ADMISSION_PATH_SECRET_PARAMETER).toBe('/daemonless/local/admission-path-secret');
    expect(admission.reservedConcurrency).toBe(20);
    const resync = definition.functions.find((f) => f.key === 'resync')!;
    expect(resync.schedules[0]).toMatchObject({ rateMs: 300_000, expression: 'rate(5 minutes)' });
    expect(resync.timeoutSeconds).toBe(300);
    // The reconcile function consumes the hints queue, which redrives to its dead-letter queue.
    const reconcile = definition.functions.find((f) => f.key === 'reconcile')!;
    expect(reconcile.sqs).toEqual([expect.objectContaining({ queueName: 'HintsQueue', batchSize: 10, maximumBatchingWindowSeconds: 0, maximumConcurrency: 2, reportBatchItemFailures: true })]);
    expect(reconcile.environment.QUEUE_URL).toBe('local-queue-url:HintsQueue');
    expect(definition.queues.find((q) => q.name === 'HintsQueue')?.deadLetter).toEqual({ queueName: 'HintsDeadLetterQueue', maxReceiveCount: 5 });
  });

  it('reads the fixture: per-function settings, CloudFormation short forms, queues and redrive', () => {
    const text = readFileSync(join(repoRoot, 'test', 'fixtures', 'lambda', 'serverless.yml'), 'utf8');
    const definition = parseServerlessYaml(text, { sources: { env: { FIXTURE_OUT_DIR: '/o' }, accountId: '000000000000', ssm: { '/fixture/local/secret': 's' }, stage: 'local' } });
    const fn = (key: string) => definition.functions.find((f) => f.key === key)!;
    expect(fn('slow')).toMatchObject({ timeoutSeconds: 2, reservedConcurrency: 2, memorySize: 256 });
    expect(fn('hog').memorySize).toBe(128);
    expect(fn('echo').environment).toMatchObject({ OUT_DIR: '/o', STAGE_SEEN: 'local', SECRET_FROM_SSM: 's', OPTIONAL_TOKEN: '' });
    expect(fn('echo').httpRoutes).toContainEqual({ method: 'ANY', path: '/mode/{mode}' });
    expect(fn('flaky')).toMatchObject({ maximumRetryAttempts: 2, onFailure: 'arn:aws:sqs:us-east-1:000000000000:fixture-async-failures' });
    expect(fn('consumer').sqs).toEqual([
      { queueName: 'fixture-queue', batchSize: 5, maximumBatchingWindowSeconds: 1, maximumConcurrency: 2, reportBatchItemFailures: true, enabled: true },
    ]);
    expect(definition.queues.find((q) => q.name === 'fixture-queue')).toMatchObject({
      visibilityTimeoutSeconds: 3,
      deadLetter: { queueName: 'fixture-dlq', maxReceiveCount: 2 },
    });
    expect(definition.unresolved).toEqual([]);
  });

  it.each([
    { name: 'batch above 10 without a window', sqs: '{ arn: "arn:aws:sqs:r:a:q", batchSize: 20 }', message: /maximumBatchingWindow/ },
    { name: 'maximumConcurrency below 2', sqs: '{ arn: "arn:aws:sqs:r:a:q", maximumConcurrency: 1 }', message: /maximumConcurrency 1/ },
    { name: 'unknown queue reference', sqs: '{ arn: !GetAtt Nope.Arn }', message: /cannot tell the queue/ },
  ])('rejects an sqs event: $name', ({ sqs, message }) => {
    const text = `service: s\nprovider: { name: aws }\nfunctions:\n  f:\n    handler: index.handler\n    events:\n      - sqs: ${sqs}\n`;
    expect(() => parseServerlessYaml(text, { sources: { env: {}, accountId: '1', ssm: {} } })).toThrow(ServerlessConfigError);
    expect(() => parseServerlessYaml(text, { sources: { env: {}, accountId: '1', ssm: {} } })).toThrow(message);
  });

  it('tolerates keys it does not know and warns about events it does not emulate', () => {
    const text = 'service: s\nprovider: { name: aws, somethingNew: 1 }\nfunctions:\n  f:\n    handler: index.handler\n    role: arn:aws:iam::1:role/r\n    events:\n      - s3: bucket\n';
    const definition = parseServerlessYaml(text, { sources: { env: {}, accountId: '1', ssm: {} } });
    expect(definition.functions[0]!.key).toBe('f');
    expect(definition.warnings).toEqual(['functions.f: event s3 is not emulated locally']);
  });

  it.each([
    ['rate(5 minutes)', 300_000],
    ['rate(1 minute)', 60_000],
    ['rate(2 hours)', 7_200_000],
    ['cron(0 12 * * ? *)', undefined],
  ])('parseRate(%s)', (expression, want) => {
    expect(parseRate(expression)).toBe(want);
  });
});

describe('elasticMqConfig', () => {
  it('declares each queue with its settings and redrive', () => {
    const text = elasticMqConfig(
      [
        { logicalId: 'Q', name: 'main', visibilityTimeoutSeconds: 30, delaySeconds: 0, receiveMessageWaitTimeSeconds: 0, messageRetentionSeconds: 1, fifo: false, deadLetter: { queueName: 'dlq', maxReceiveCount: 5 } },
        { logicalId: 'D', name: 'dlq', visibilityTimeoutSeconds: 30, delaySeconds: 0, receiveMessageWaitTimeSeconds: 0, messageRetentionSeconds: 1, fifo: false, deadLetter: undefined },
      ],
      { port: 9324, region: 'us-east-1', accountId: '000000000000' },
    );
    expect(text).toContain('bind-port = 9324');
    expect(text).toContain('"main" {');
    expect(text).toContain('deadLettersQueue { name = "dlq", maxReceiveCount = 5 }');
    expect(text).toContain('defaultVisibilityTimeout = 30 seconds');
  });
});
