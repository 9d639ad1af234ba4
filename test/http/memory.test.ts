/**
 * No request can push a function over its memory: the largest body each shape can have within the limits (and the
 * 6 MiB `[[[…]]]` body that peaked at ~500 MB before the limits existed) goes through a function's real dependencies
 * and the Lambda helper in a process started the way the nodejs22.x runtime starts one for the configured memory size
 * (`--max-semi-space-size` = memory/20, `--max-old-space-size` = memory − memory/10, as its bootstrap computes them),
 * and the process's peak RSS stays under that memory size. The probe is bundled like the functions (scripts/build.ts),
 * because the bundle is what Lambda loads: the unbundled sources alone take twice the baseline memory.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { functionBundleOptions } from '../../scripts/build.ts';
import { shapes } from './memory/shapes.ts';

const root = join(import.meta.dirname, '..', '..');
/** The functions' memory size, as deployed. */
const memoryMb = Number(/^\s*memorySize:\s*(\d+)/m.exec(readFileSync(join(root, 'serverless.yml'), 'utf8'))?.[1]);
const runtimeFlags = [`--max-semi-space-size=${Math.floor(memoryMb / 20)}`, `--max-old-space-size=${memoryMb - Math.floor(memoryMb / 10)}`];

let dir = '';
const measured: Record<string, unknown>[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'daemonless-memory-'));
  await build({ ...functionBundleOptions, sourcemap: false, entryPoints: { probe: join(import.meta.dirname, 'memory', 'child.ts') }, outdir: dir });
}, 60_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  console.log(`peak RSS per shape (limit ${memoryMb} MB):\n${measured.map((m) => JSON.stringify(m)).join('\n')}`);
});

/** Runs the probe for one shape; resolves with its report line, or rejects with what the process said. */
function probe(route: string, shape: string): Promise<{ status: number; error?: string; maxRssMb: number; bodyBytes: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...runtimeFlags, join(dir, 'probe.mjs'), route, shape], {
      // Only what a function has: no parent environment leaks in (a KUBECONFIG would be read).
      env: {
        PATH: process.env.PATH,
        LOG_LEVEL: 'error',
        BEARER_TOKEN: 'memory-test-token-0123456789',
        ADMISSION_PATH_SECRET: 'memory-test-admission-0123456789',
        KUBE_SERVER: 'https://127.0.0.1:9',
        KUBE_TOKEN: 'never-used',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('close', (code, signal) => {
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (code === 0 && line) resolve(JSON.parse(line));
      else reject(new Error(`probe ${route}/${shape} exited ${code ?? signal}: ${err.slice(-2000)}`));
    });
  });
}

describe(`peak RSS under the functions' memory size`, () => {
  it('reads the memory size from serverless.yml', () => {
    expect(memoryMb).toBe(256);
  });

  it.each(shapes)('$route $shape → $status', async ({ route, shape, status }) => {
    const result = await probe(route, shape);
    measured.push({ route, shape, ...result });
    expect(result.status, result.error).toBe(status);
    expect(result.maxRssMb).toBeLessThan(memoryMb);
  }, 60_000);
});
