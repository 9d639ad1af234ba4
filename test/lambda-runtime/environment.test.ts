import { describe, expect, it } from 'vitest';
import type { FunctionDefinition } from '../../devcluster/lambda/serverless-config.ts';
import { lambdaEnvironment, type ServiceOptions } from '../../devcluster/lambda/service.ts';

const fn = (environment: Record<string, string>): FunctionDefinition =>
  ({ key: 'resync', name: 'daemonless-dev-resync', handler: 'index.handler', artifact: undefined, memorySize: 256, timeoutSeconds: 300, reservedConcurrency: 1, environment, maximumRetryAttempts: 0 }) as unknown as FunctionDefinition;
const options = (extraEnvironment: Record<string, string>): ServiceOptions =>
  ({ serverlessFile: 'serverless.yml', stateDir: '/tmp/x', stage: 'dev', region: 'us-east-1', accountId: '000000000000', ssm: {}, variablesEnv: {}, extraEnvironment, host: '127.0.0.1', invokePort: 1, runtimeNodePath: '/runtime/node_modules' }) as ServiceOptions;

describe('the local Lambda runtime: NODE_OPTIONS of a function', () => {
  it.each([
    // No heap limit added: the bootstrap's command line sets it (bootstrap.test.ts).
    { name: "the function's own, unchanged", own: '--enable-source-maps', extra: undefined, want: '--enable-source-maps' },
    { name: 'none of its own: none', own: undefined, extra: undefined, want: undefined },
    { name: "the caller's added after the function's", own: '--enable-source-maps', extra: '--trace-warnings', want: '--enable-source-maps --trace-warnings' },
    { name: "the caller's alone", own: undefined, extra: '--trace-warnings', want: '--trace-warnings' },
  ])('$name', ({ own, extra, want }) => {
    const env = lambdaEnvironment(fn(own ? { NODE_OPTIONS: own } : {}), '/code', options(extra ? { NODE_OPTIONS: extra } : {}), 'http://127.0.0.1:1');
    expect(env['NODE_OPTIONS']).toBe(want);
  });
});
