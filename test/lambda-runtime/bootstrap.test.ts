import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bootstrapNodeArgs, runtimeCommand } from '../../devcluster/lambda/bootstrap.ts';

const wrapper = join(import.meta.dirname, '..', '..', 'functions', 'v8-flags');

describe('the local Lambda runtime starts node as the nodejs22.x bootstrap does', () => {
  it.each([
    // 128 MB: the flags a nodejs runtime was seen starting with (`--max-semi-space-size=6 --max-old-space-size=116`).
    [128, '--max-semi-space-size=6', '--max-old-space-size=116'],
    [256, '--max-semi-space-size=12', '--max-old-space-size=231'],
    [1024, '--max-semi-space-size=51', '--max-old-space-size=922'],
  ])('%i MB: %s %s', (mb, semi, old) => {
    expect(bootstrapNodeArgs(mb)).toEqual(['--expose-gc', '--max-http-header-size', '81920', semi, old]);
  });

  const spec = { nodePath: '/node', ricEntry: '/ric/index.mjs', handler: 'index.handler', memorySize: 256, codeDir: '/tmp/code/reconcile' };
  it('without an exec wrapper: node, the flags, the runtime client, the handler', () => {
    expect(runtimeCommand({ ...spec, environment: {} })).toEqual(['/node', ...bootstrapNodeArgs(256), '/ric/index.mjs', 'index.handler']);
  });
  it('with one in the code (/var/task/…): that file of the function runs the command', () => {
    expect(runtimeCommand({ ...spec, environment: { AWS_LAMBDA_EXEC_WRAPPER: '/var/task/v8-flags' } })).toEqual(['/tmp/code/reconcile/v8-flags', '/node', ...bootstrapNodeArgs(256), '/ric/index.mjs', 'index.handler']);
  });
});

describe('functions/v8-flags, the exec wrapper: the runtime command with DAEMONLESS_V8_FLAGS in place of its own values', () => {
  const run = (flags: string | undefined, command: string[]) =>
    execFileSync(wrapper, ['/bin/echo', ...command], { env: { PATH: '/usr/bin:/bin', ...(flags === undefined ? {} : { DAEMONLESS_V8_FLAGS: flags }) }, encoding: 'utf8' }).trim();
  const bootstrap = [...bootstrapNodeArgs(256), '/var/runtime/index.mjs'];
  it.each([
    ['the young generation replaced', '--max-semi-space-size=4', '--max-semi-space-size=4 --expose-gc --max-http-header-size 81920 --max-old-space-size=231 /var/runtime/index.mjs'],
    ['two flags replaced', '--max-semi-space-size=2 --max-old-space-size=200', '--max-semi-space-size=2 --max-old-space-size=200 --expose-gc --max-http-header-size 81920 /var/runtime/index.mjs'],
    ['a flag the bootstrap does not give: added', '--single-threaded-gc', '--single-threaded-gc --expose-gc --max-http-header-size 81920 --max-semi-space-size=12 --max-old-space-size=231 /var/runtime/index.mjs'],
    ['none: the command unchanged', '', bootstrap.join(' ')],
    ['unset: the command unchanged', undefined, bootstrap.join(' ')],
  ])('%s', (_name, flags, want) => {
    expect(run(flags, bootstrap)).toBe(want);
  });

  // What it is for: node takes the last value of a V8 flag, and NODE_OPTIONS comes before the command line.
  it('node itself then runs with the wrapper’s young generation, which NODE_OPTIONS could not give it', () => {
    const node = process.execPath;
    const probe = ['-e', 'console.log(require("v8").getHeapStatistics().heap_size_limit)'];
    const limit = (argv: string[], env: Record<string, string>) => Number(execFileSync(argv[0]!, argv.slice(1), { env: { PATH: '/usr/bin:/bin', ...env }, encoding: 'utf8' }).trim());
    const plain = limit([node, ...bootstrapNodeArgs(256), ...probe], {});
    expect(limit([node, ...bootstrapNodeArgs(256), ...probe], { NODE_OPTIONS: '--max-semi-space-size=2' })).toBe(plain);
    expect(limit([wrapper, node, ...bootstrapNodeArgs(256), ...probe], { DAEMONLESS_V8_FLAGS: '--max-semi-space-size=2' })).toBeLessThan(plain);
  });
});
