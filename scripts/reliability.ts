/**
 * `npm run reliability [-- --short] [--seed N ...] [--only PHASE,...] [--trials N] [--parallel N] [--runtime server|lambda]
 *                      [--managed] [--loss-rate 0.3] [--resync-ms N] [--keep] [--local-dir DIR] [--no-write]`
 *
 * The reliability run of issue 13 (devcluster/reliability/): randomized delivery trials, loss, faults, a
 * kube-apiserver restart mid-rollout, hostile input. Writes reliability/results/latest.{json,md} (the long run) or
 * reliability/results/short.{json,md} (`--short`), `-lambda` added to the name with `--runtime lambda`, `-managed` with
 * `--managed` (the cluster as EKS gives it: ServerlessDaemonSets beside the built-in controller); `--seed N` re-runs
 * single trials and writes nothing. Exits 1 when
 * an invariant was violated (except kinds named by `--tolerate KIND,...` or `--tolerate known`: devcluster/reliability/
 * known.ts), a trial did not converge, or the fuzz run found a problem outside its known gaps.
 * `--render FILE.json` re-renders that run's Markdown.
 */
import { parseArgs } from 'node:util';
import { run, phases, type Phase, type RunOptions } from '../devcluster/reliability/run.ts';
import { readFileSync, writeFileSync } from 'node:fs';
import { knownFailures, knownViolationKinds } from '../devcluster/reliability/known.ts';
import { renderMarkdown, verdict, writeReport } from '../devcluster/reliability/report.ts';
import type { Report } from '../devcluster/reliability/run.ts';

function declared() {
  return {
    short: { type: 'boolean', default: false },
    seed: { type: 'string', multiple: true },
    only: { type: 'string' },
    trials: { type: 'string' },
    parallel: { type: 'string' },
    'base-seed': { type: 'string' },
    runtime: { type: 'string', default: 'server' },
    managed: { type: 'boolean', default: false },
    'loss-rate': { type: 'string' },
    'resync-ms': { type: 'string' },
    'loss-trials': { type: 'string' },
    'fault-trials': { type: 'string' },
    'restart-nodes': { type: 'string' },
    'fuzz-cases': { type: 'string' },
    fault: { type: 'string', multiple: true },
    tolerate: { type: 'string' },
    render: { type: 'string' },
    'log-level': { type: 'string' },
    keep: { type: 'boolean', default: false },
    'local-dir': { type: 'string' },
    'no-write': { type: 'boolean', default: false },
    concurrency: { type: 'string' },
    help: { type: 'boolean', default: false },
  } as const;
}

const usageText =
  `usage: npm run reliability -- [--short] [--seed N ...] [--only ${phases.join(',')}] [--trials N] [--parallel N]\n` +
  '         [--runtime server|lambda] [--managed] [--loss-rate R] [--resync-ms N] [--fault KIND] [--concurrency N]\n' +
  '         [--base-seed N] [--loss-trials N] [--fault-trials N] [--restart-nodes N] [--fuzz-cases N]\n' +
  '         [--tolerate KIND,...|known] [--no-write] [--render FILE.json] [--local-dir DIR] [--log-level info] [--keep]\n' +
  '(docs/reliability.md)\n';
function usage(problem: string): never {
  process.stderr.write(`reliability: ${problem}\n${usageText}`);
  process.exit(2);
}

const { values } = (() => {
  try {
    return parseArgs({ options: declared() });
  } catch (error) {
    return usage((error as Error).message);
  }
})();
if (values.help) {
  process.stdout.write(usageText);
  process.exit(0);
}
const int = (name: string, value: string | undefined, fallback: number): number => {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) usage(`--${name} must be a non-negative integer, got ${value}`);
  return n;
};

const short = values.short;
const seeds = values.seed?.map((s) => int('seed', s, 0));
const only = values.only?.split(',').map((p) => p.trim()) as Phase[] | undefined;
if (only && only.some((p) => !phases.includes(p))) usage(`--only takes ${phases.join(', ')}`);
if (values.runtime !== 'server' && values.runtime !== 'lambda') usage(`--runtime is server or lambda, got ${values.runtime}`);
const lossRate = values['loss-rate'] === undefined ? 0.3 : Number(values['loss-rate']);
if (!(lossRate >= 0 && lossRate <= 1)) usage('--loss-rate is a share in [0, 1]');

const mode: RunOptions['mode'] = seeds ? 'seed' : short ? 'short' : 'long';
const options: RunOptions = {
  runtime: values.runtime,
  cluster: values.managed ? 'managed' : 'native',
  mode,
  // The short run leaves out the per-kind fault phase: its restart phase injects every fault kind at once, at low rates.
  phases: only ?? (seeds ? ['trials'] : short ? phases.filter((p) => p !== 'faults') : phases),
  baseSeed: int('base-seed', values['base-seed'], short ? 5_000 : 1),
  trials: int('trials', values.trials, short ? 24 : 1_000),
  parallel: int('parallel', values.parallel, 3),
  lossTrials: int('loss-trials', values['loss-trials'], short ? 3 : 50),
  lossRate,
  resyncMs: int('resync-ms', values['resync-ms'], 10_000),
  faultTrialsPerKind: int('fault-trials', values['fault-trials'], short ? 1 : 6),
  restartNodes: int('restart-nodes', values['restart-nodes'], short ? 20 : 100),
  fuzzCases: int('fuzz-cases', values['fuzz-cases'], short ? 600 : 12_000),
  ...(seeds ? { seeds } : {}),
  ...(values.fault ? { faultKinds: values.fault } : {}),
  ...(values['log-level'] ? { functionsLogLevel: values['log-level'] } : {}),
  ...(values.concurrency !== undefined ? { concurrency: int('concurrency', values.concurrency, 1) } : {}),
  ...(values['local-dir'] ? { localDir: values['local-dir'] } : {}),
  keep: values.keep,
  log: (line) => process.stdout.write(`${line}\n`),
};

// `--tolerate known`: the kinds of known.ts; or a list of kinds.
const tolerate =
  values.tolerate === undefined ? [] : values.tolerate === 'known' ? [...knownViolationKinds, ...knownFailures] : values.tolerate.split(',').map((k) => k.trim());

if (values.render) {
  // Re-renders the Markdown of a stored run (e.g. after a change of the renderer), writes nothing else.
  const stored = JSON.parse(readFileSync(values.render, 'utf8')) as Report;
  writeFileSync(values.render.replace(/\.json$/, '.md'), renderMarkdown(stored));
  process.exit(0);
}

const report = await run(options);
const files = mode === 'seed' || values['no-write'] ? [] : writeReport(report, `${short ? 'short' : 'latest'}${options.runtime === 'lambda' ? '-lambda' : ''}${values.managed ? '-managed' : ''}`);
const { ok, summary } = verdict(report, tolerate);
process.stdout.write(`\n${summary}\n${files.length > 0 ? `written: ${files.join(', ')}\n` : ''}`);
process.exit(ok ? 0 : 1);
