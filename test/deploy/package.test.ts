/**
 * The pure parts of `npm run package` (scripts/package.ts): which cfn-lint findings fail the run, what the generated
 * template must keep, and the artifact sizes. The run itself (osls, cfn-lint) is CI's packaging phase.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { zipFiles } from '../../scripts/build.ts';
import { extractZip, readZip } from '../../devcluster/lambda/zip.ts';
import { checkExecWrappers } from '../../scripts/package.ts';
import { checkTemplate, judgeLint, unzippedSize, type LintFinding } from '../../scripts/package.ts';

/** What cfn-lint 1.58.0 reported on the template osls 4.3.1 generated from serverless.yml (fields used only). */
const frameworkFindings = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', 'fixtures', 'cfn-lint-osls-4.3.1.json'), 'utf8'),
) as LintFinding[];

const finding = (overrides: Partial<LintFinding> & { path: (string | number)[] }): LintFinding => ({
  Level: 'Warning',
  Rule: { Id: 'W3005' },
  Filename: 'template.json',
  Message: '',
  Location: { Path: overrides.path },
  ...overrides,
});

describe('judgeLint', () => {
  it('accepts exactly the framework warnings seen on the real template (W3005 ×10)', () => {
    const judgement = judgeLint(frameworkFindings);
    expect(judgement.errors).toEqual([]);
    expect(judgement.unexpected).toEqual([]);
    expect(judgement.known).toHaveLength(10);
  });

  it.each([
    [
      'an error, whatever its rule',
      finding({ Level: 'Error', Rule: { Id: 'E3002' }, path: ['Resources', 'AsyncFailureQueue', 'Properties'], Message: "'Bogus' was unexpected" }),
      'errors',
    ],
    [
      'another warning rule',
      finding({ Rule: { Id: 'W3011' }, path: ['Resources', 'AsyncFailureQueue'], Message: 'Both UpdateReplacePolicy and DeletionPolicy are needed' }),
      'unexpected',
    ],
    [
      'W3005 on a function depending on another function’s role',
      finding({
        path: ['Resources', 'WatchLambdaFunction', 'DependsOn', 1],
        Message: "'AuditRole' dependency already enforced by a 'GetAtt' at 'Resources/WatchLambdaFunction/Properties/Role'",
      }),
      'unexpected',
    ],
    [
      'W3005 enforced by another resource than the one it is on',
      finding({
        path: ['Resources', 'HttpApiRouteGetHealthz', 'DependsOn'],
        Message: "'HttpApiIntegrationWatch' dependency already enforced by a 'Ref' at 'Resources/HttpApiRoutePostEventsWatch/Properties/Target'",
      }),
      'unexpected',
    ],
    [
      'W3005 on a resource of serverless.yml',
      finding({
        path: ['Resources', 'AsyncFailureQueue', 'DependsOn'],
        Message: "'WatchRole' dependency already enforced by a 'Ref' at 'Resources/AsyncFailureQueue/Properties/X'",
      }),
      'unexpected',
    ],
  ] as const)('fails the run for %s', (_name, f, bucket) => {
    const judgement = judgeLint([...frameworkFindings, f]);
    expect(judgement[bucket]).toEqual([f]);
    expect(judgement.known).toHaveLength(10);
  });
});

describe('checkTemplate', () => {
  const role = (statements: object[]) => ({
    Type: 'AWS::IAM::Role',
    Properties: { Policies: [{ PolicyName: 'p', PolicyDocument: { Statement: statements } }] },
  });
  const fn = (name: string, roleId: string, extra: Record<string, unknown> = {}) => ({
    Type: 'AWS::Lambda::Function',
    Properties: {
      FunctionName: `daemonless-dev-${name}`,
      Role: { 'Fn::GetAtt': [roleId, 'Arn'] },
      ReservedConcurrentExecutions: 1,
      Environment: { Variables: { BEARER_TOKEN_PARAMETER: '/daemonless/dev/bearer-token' } },
      ...extra,
    },
  });
  const logs = () => ({ Effect: 'Allow', Action: ['logs:PutLogEvents'], Resource: { 'Fn::Sub': 'arn:${AWS::Partition}:logs:…' } });
  const good = () => ({
    Resources: {
      WatchRole: role([logs(), { 'Fn::If': ['HasVpc', { Action: ['ec2:CreateNetworkInterface'], Resource: '*' }, { Ref: 'AWS::NoValue' }] }]),
      ResyncRole: role([logs()]),
      WatchLambdaFunction: fn('watch', 'WatchRole'),
      ResyncLambdaFunction: fn('resync', 'ResyncRole'),
      ResyncLambdaEvConf: { Type: 'AWS::Lambda::EventInvokeConfig', Properties: { DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': ['Failures', 'Arn'] } } } } },
      Hints: { Type: 'AWS::SQS::Queue', Properties: { RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': ['DeadLetters', 'Arn'] }, maxReceiveCount: 5 } } },
      DeadLetters: { Type: 'AWS::SQS::Queue', Properties: {} },
      Failures: { Type: 'AWS::SQS::Queue', Properties: {} },
      DeadLettersAlarm: depthAlarm('DeadLetters'),
      FailuresAlarm: depthAlarm('Failures'),
    },
  });
  const depthAlarm = (queue: string, metric = 'ApproximateNumberOfMessagesVisible') => ({
    Type: 'AWS::CloudWatch::Alarm',
    Properties: { MetricName: metric, Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queue, 'QueueName'] } }] },
  });
  const check = (template: ReturnType<typeof good>, names = ['resync', 'watch']) =>
    checkTemplate(template as never, JSON.stringify(template), names);

  it('a template that keeps every promise has no problems', () => {
    expect(check(good())).toEqual([]);
  });

  it.each<[string, (t: any) => void, RegExp]>([
    ['a literal partition', (t) => (t.Resources.WatchRole.Properties.Policies[0].PolicyDocument.Statement[0].Resource = 'arn:aws:logs:x'), /literal partition/],
    ['no reserved concurrency', (t) => delete t.Resources.WatchLambdaFunction.Properties.ReservedConcurrentExecutions, /WatchLambdaFunction: no reserved concurrency/],
    ['a shared role', (t) => (t.Resources.ResyncLambdaFunction.Properties.Role = { 'Fn::GetAtt': ['WatchRole', 'Arn'] }), /ResyncLambdaFunction: shares WatchRole/],
    ['a role from elsewhere', (t) => (t.Resources.WatchLambdaFunction.Properties.Role = 'arn:${AWS::Partition}:iam::1:role/x'), /not a role of this stack/],
    ['a secret value in the environment', (t) => (t.Resources.WatchLambdaFunction.Properties.Environment.Variables.KUBE_TOKEN = 'x'), /a secret value in its environment \(KUBE_TOKEN\)/],
    ['an async config without a failure destination', (t) => delete t.Resources.ResyncLambdaEvConf.Properties.DestinationConfig, /ResyncLambdaEvConf: asynchronous invocations without an on-failure destination/],
    ['a wildcard action', (t) => t.Resources.ResyncRole.Properties.Policies[0].PolicyDocument.Statement.push({ Action: 'ssm:*', Resource: 'x' }), /ResyncRole: a wildcard action/],
    ['a dead-letter queue without an alarm', (t) => delete t.Resources.DeadLettersAlarm, /^DeadLetters: a queue of failures without an alarm on its depth$/],
    ['an on-failure destination without an alarm', (t) => delete t.Resources.FailuresAlarm, /^Failures: a queue of failures without an alarm on its depth$/],
    ['an alarm on another metric than the depth', (t) => (t.Resources.FailuresAlarm = depthAlarm('Failures', 'NumberOfMessagesSent')), /^Failures: a queue of failures/],
    ['an alarm on another queue', (t) => (t.Resources.DeadLettersAlarm = depthAlarm('Hints')), /^DeadLetters: a queue of failures/],
    ['Resource * beyond network interfaces', (t) => t.Resources.ResyncRole.Properties.Policies[0].PolicyDocument.Statement.push({ Action: 'ssm:GetParameters', Resource: '*' }), /ResyncRole: Resource '\*' for ssm:GetParameters/],
  ])('finds %s', (_name, spoil, problem) => {
    const template = good();
    spoil(template);
    expect(check(template)).toEqual([expect.stringMatching(problem)]);
  });

  it('every functions/*.ts is deployed, and nothing else', () => {
    expect(check(good(), ['resync', 'watch', 'reconcile'])).toEqual(['functions/*.ts not deployed: reconcile']);
    expect(check(good(), ['watch'])).toEqual(['deployed functions without functions/<name>.ts: resync']);
  });
});

describe('unzippedSize', () => {
  it('sums the entries of the zip the build writes', () => {
    const data = Buffer.from('x'.repeat(100_000));
    const zip = zipFiles([
      { name: 'index.mjs', data },
      { name: 'index.mjs.map', data: data.subarray(0, 1234) },
    ]);
    expect(zip.length).toBeLessThan(2_000);
    expect(unzippedSize(zip)).toBe(101_234);
  });
});

describe('zip modes: an executable stays executable, as Lambda unpacks it', () => {
  it('the exec wrapper is written 0755 and unpacked 0755; the code stays 0644', () => {
    const dir = mkdtempSync(join(tmpdir(), 'daemonless-zip-'));
    try {
      const zip = zipFiles([
        { name: 'index.mjs', data: Buffer.from('export {}') },
        { name: 'v8-flags', data: Buffer.from('#!/bin/bash\n'), mode: 0o755 },
      ]);
      expect(readZip(zip).map((e) => [e.name, e.mode])).toEqual([['index.mjs', 0o644], ['v8-flags', 0o755]]);
      extractZip(zip, dir);
      expect(statSync(join(dir, 'v8-flags')).mode & 0o777).toBe(0o755);
      expect(statSync(join(dir, 'index.mjs')).mode & 0o777).toBe(0o644);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('checkExecWrappers: a function naming an exec wrapper carries it, executable', () => {
  const code = { name: 'index.mjs', data: Buffer.from(''), mode: 0o644 };
  const wrapper = (mode: number) => ({ name: 'v8-flags', data: Buffer.from(''), mode });
  const env = { AWS_LAMBDA_EXEC_WRAPPER: '/var/task/v8-flags' };
  it.each([
    ['carried, executable', env, [code, wrapper(0o755)], []],
    ['none named', {}, [code], []],
    ['a wrapper outside the code (a layer): not checked here', { AWS_LAMBDA_EXEC_WRAPPER: '/opt/wrapper' }, [code], []],
    ['missing', env, [code], ['reconcile: AWS_LAMBDA_EXEC_WRAPPER /var/task/v8-flags is not in its artifact']],
    ['not executable', env, [code, wrapper(0o644)], ['reconcile: AWS_LAMBDA_EXEC_WRAPPER /var/task/v8-flags is not executable in its artifact']],
  ])('%s', (_name, environment, entries, problems) => {
    expect(checkExecWrappers([{ name: 'reconcile', environment, entries }])).toEqual(problems);
  });

  it('the built bundles: serverless.yml names the wrapper for reconcile and resync, and the build zips it 0755', () => {
    const built = zipFiles([{ name: 'index.mjs', data: Buffer.from('') }, { name: 'v8-flags', data: readFileSync(join(import.meta.dirname, '..', '..', 'functions', 'v8-flags')), mode: 0o755 }]);
    expect(checkExecWrappers([{ name: 'reconcile', environment: env, entries: readZip(built) }])).toEqual([]);
    const yml = readFileSync(join(import.meta.dirname, '..', '..', 'serverless.yml'), 'utf8');
    expect(yml.match(/AWS_LAMBDA_EXEC_WRAPPER: \/var\/task\/v8-flags/g)).toHaveLength(2);
  });
});
