/**
 * Cold start of each function bundle: a fresh `node` process imports the bundle and calls its handler with an API
 * Gateway v2 `GET /healthz` event; the time from spawn to the response line on its stdout is one sample. Against:
 *   - the floor: `node -e 0` (spawn → exit), what any Node.js function pays;
 *   - the baseline: a plain-fetch hono bundle (bench/cold-start/hono-baseline.ts) built in the same run with the same
 *     esbuild options as scripts/build.ts.
 * The resync function has no HTTP route: its sample is spawn → bundle imported (handler not called, it would reach
 * for a cluster). Peak RSS is the child's own `process.resourceUsage().maxRSS` after the response.
 *
 * Samples of all targets are interleaved (round robin) after one discarded warm-up each, so a noisy moment on this
 * shared machine hits every target alike. NODE_OPTIONS and NODE_COMPILE_CACHE are cleared: Lambda has neither.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build, type BuildOptions } from 'esbuild';
import { repoRoot } from '../../devcluster/paths.ts';
import { median } from './stats.ts';

export interface ColdTarget {
  name: string;
  kind: 'function' | 'baseline' | 'floor';
  /** 'http': call the handler with GET /healthz; 'import': only import; 'none': `node -e 0`. */
  mode: 'http' | 'import' | 'none';
  bundle?: string;
  /** Added to the environment of this target's processes. */
  env?: Record<string, string>;
}

export interface ColdResult {
  name: string;
  kind: ColdTarget['kind'];
  mode: ColdTarget['mode'];
  samplesMs: number[];
  medianMs: number;
  /** Inside the child: process start (performance.timeOrigin) → response. */
  inProcessMedianMs?: number;
  maxRssMiB?: number;
  rawBytes?: number;
  gzipBytes?: number;
  status?: string;
}

export interface ColdStartReport {
  reps: number;
  node: string;
  buildOutput: string;
  results: ColdResult[];
  /** What the audit bundle is made of: minified bytes per package (esbuild metafile), largest first. */
  auditComposition: { module: string; bytes: number }[];
}

const apiGatewayHealthz = {
  version: '2.0',
  routeKey: 'GET /healthz',
  rawPath: '/healthz',
  rawQueryString: '',
  headers: { accept: '*/*', host: 'bench.execute-api.local', 'user-agent': 'daemonless-bench' },
  requestContext: {
    accountId: '123456789012',
    apiId: 'bench',
    domainName: 'bench.execute-api.local',
    domainPrefix: 'bench',
    http: { method: 'GET', path: '/healthz', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'daemonless-bench' },
    requestId: 'bench',
    routeKey: 'GET /healthz',
    stage: '$default',
    time: '01/Jan/2026:00:00:00 +0000',
    timeEpoch: 1767225600000,
  },
  isBase64Encoded: false,
};

const childCode = `
const [bundle, mode] = process.argv.slice(1);
const m = await import(bundle);
let status = 'imported';
if (mode === 'http') {
  const event = JSON.parse(process.env.BENCH_EVENT);
  const r = await m.handler(event, { awsRequestId: 'bench', getRemainingTimeInMillis: () => 29000 });
  status = String(r.statusCode);
}
process.stdout.write('BENCH ' + JSON.stringify({ t: performance.now(), status, maxRSS: process.resourceUsage().maxRSS }) + '\\n');
`;

/** The esbuild options of scripts/build.ts (kept in step by hand; the bench must not rebuild dist/ its own way). */
const esbuildOptions: BuildOptions = {
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'esm',
  minify: true,
  external: ['@aws-sdk/*'],
  banner: {
    js: "import { createRequire as __daemonlessCreateRequire } from 'module'; const require = __daemonlessCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
};

const httpRouted = new Set(['audit', 'watch', 'admission', 'cloudevents']);
/** A queue URL of the shape SQS gives (never contacted: /healthz sends nothing). */
const deployedQueue = { QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/000000000000/daemonless-bench-hints', AWS_REGION: 'us-east-1' };

export async function measureColdStarts(workDir: string, reps: number, log: (line: string) => void): Promise<ColdStartReport> {
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });

  // 1. The product's own build, then private copies (dist/ is shared with other work on this tree).
  log('cold start: npm run build');
  const built = spawnSync(process.execPath, [join(repoRoot, 'scripts', 'build.ts')], { cwd: repoRoot, encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`npm run build failed: ${built.stderr || built.stdout}`);
  const dist = join(repoRoot, 'dist');
  const names = readdirSync(dist, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  const targets: ColdTarget[] = [{ name: 'node -e 0', kind: 'floor', mode: 'none' }];
  for (const name of names) {
    mkdirSync(join(workDir, name), { recursive: true });
    const bundle = join(workDir, name, 'index.mjs');
    // The entry and the chunks it may import() (scripts/build.ts splits what a cold start does not need).
    for (const file of readdirSync(join(dist, name)).filter((f) => f.endsWith('.mjs'))) copyFileSync(join(dist, name, file), join(workDir, name, file));
    // Only the webhook intake functions have an HTTP route; the others (queue consumer, schedule, log subscription)
    // are measured importing their bundle.
    // As serverless.yml deploys them: the intake functions have a queue (QUEUE_URL) and so never load the cluster
    // side (src/wiring.ts); nothing is sent to it by /healthz.
    targets.push({ name, kind: 'function', mode: httpRouted.has(name) ? 'http' : 'import', bundle, ...(httpRouted.has(name) ? { env: deployedQueue } : {}) });
  }
  // Where the time goes: the same audit bundle, imported only (module evaluation, no handler call), and without a
  // queue (the direct path: the intake reconciles inline, so its first request loads client-node).
  const audit = targets.find((t) => t.name === 'audit');
  if (audit) {
    targets.push({ name: 'audit (import only)', kind: 'function', mode: 'import', bundle: audit.bundle! });
    targets.push({ name: 'audit (direct path, no queue)', kind: 'function', mode: 'http', bundle: audit.bundle! });
  }

  // 2. The baseline, same options.
  const baseline = join(workDir, 'hono-baseline', 'index.mjs');
  await build({ ...esbuildOptions, entryPoints: [join(repoRoot, 'bench', 'cold-start', 'hono-baseline.ts')], outfile: baseline });
  targets.push({ name: 'hono + fetch (baseline)', kind: 'baseline', mode: 'http', bundle: baseline });

  // Where the bytes come from (the same build, with a metafile).
  const auditComposition = await composition(join(repoRoot, 'functions', 'audit.ts'), join(workDir, 'composition', 'index.mjs'));

  // 3. A kubeconfig the functions can load (never contacted by /healthz).
  const kubeconfig = join(workDir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{name: c, cluster: {server: "https://127.0.0.1:9", insecure-skip-tls-verify: true}}]',
      'users: [{name: u, user: {token: bench-token}}]',
      'contexts: [{name: x, context: {cluster: c, user: u}}]',
      'current-context: x',
      '',
    ].join('\n'),
  );
  // Every function refuses to start without its route's secret; given directly here (a deployment reads it from SSM
  // at cold start: one more request, not measured here).
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'],
    HOME: process.env['HOME'],
    KUBECONFIG: kubeconfig,
    BEARER_TOKEN: 'bench-token-0123456789',
    ADMISSION_PATH_SECRET: 'bench-admission-secret-0123456789',
    BENCH_EVENT: JSON.stringify(apiGatewayHealthz),
  };

  const samples = new Map<string, { wall: number[]; inProcess: number[]; rss: number[]; status?: string }>();
  for (const t of targets) samples.set(t.name, { wall: [], inProcess: [], rss: [] });
  log(`cold start: ${targets.length} targets × ${reps} starts (+1 warm-up each)`);
  for (let rep = -1; rep < reps; rep++) {
    for (const target of targets) {
      const sample = await startOnce(target, { ...env, ...target.env });
      if (rep < 0) continue;
      const s = samples.get(target.name)!;
      s.wall.push(sample.wallMs);
      if (sample.inProcessMs !== undefined) s.inProcess.push(sample.inProcessMs);
      if (sample.maxRssKiB !== undefined) s.rss.push(sample.maxRssKiB / 1024);
      if (sample.status !== undefined) s.status = sample.status;
    }
  }

  const results = targets.map((t): ColdResult => {
    const s = samples.get(t.name)!;
    const code = t.bundle ? readFileSync(t.bundle) : undefined;
    return {
      name: t.name,
      kind: t.kind,
      mode: t.mode,
      samplesMs: s.wall.map((x) => Math.round(x * 10) / 10),
      medianMs: median(s.wall) ?? NaN,
      ...(s.inProcess.length ? { inProcessMedianMs: median(s.inProcess) } : {}),
      ...(s.rss.length ? { maxRssMiB: Math.max(...s.rss) } : {}),
      ...(code ? { rawBytes: code.length, gzipBytes: gzipSync(code, { level: 9 }).length } : {}),
      ...(s.status ? { status: s.status } : {}),
    };
  });
  return { reps, node: process.version, buildOutput: built.stdout.trim(), results, auditComposition };
}

interface StartSample {
  wallMs: number;
  inProcessMs?: number;
  maxRssKiB?: number;
  status?: string;
}

function startOnce(target: ColdTarget, env: NodeJS.ProcessEnv, timeoutMs = 20_000): Promise<StartSample> {
  return new Promise((resolve, reject) => {
    const args = target.mode === 'none' ? ['-e', '0'] : ['--input-type=module', '-e', childCode, target.bundle!, target.mode];
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let answered: StartSample | undefined;
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      // The functions log a JSON line per request on stdout too; ours is marked.
      const marker = out.indexOf('BENCH ');
      if (answered || marker < 0 || !out.includes('\n', marker)) return;
      const wallMs = performance.now() - t0;
      const line = JSON.parse(out.slice(marker + 6, out.indexOf('\n', marker))) as { t: number; status: string; maxRSS: number };
      answered = { wallMs, inProcessMs: line.t, maxRssKiB: line.maxRSS, status: line.status };
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (target.mode === 'none') return resolve({ wallMs: performance.now() - t0 });
      if (answered) return resolve(answered);
      reject(new Error(`${target.name}: no response (exit ${code}): ${err.slice(0, 500)}`));
    });
  });
}

async function composition(entry: string, outfile: string): Promise<{ module: string; bytes: number }[]> {
  const result = await build({ ...esbuildOptions, entryPoints: [entry], outfile, metafile: true });
  const output = Object.values(result.metafile?.outputs ?? {})[0];
  const bytes = new Map<string, number>();
  for (const [path, input] of Object.entries(output?.inputs ?? {})) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
    const module = m ? (m[1] as string) : path.startsWith('src/') || path.startsWith('functions/') ? 'daemonless (src, functions)' : 'other';
    bytes.set(module, (bytes.get(module) ?? 0) + input.bytesInOutput);
  }
  return [...bytes.entries()].map(([module, b]) => ({ module, bytes: b })).sort((a, b) => b.bytes - a.bytes);
}
