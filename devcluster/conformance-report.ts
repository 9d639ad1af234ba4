/**
 * The pure half of `npm run conformance`: reading the JUnit report upstream's e2e suite writes, filtering its console
 * output down to progress lines, and rendering results (summary table, docs/conformance/latest.md and .json). No I/O;
 * devcluster/conformance.ts runs the suite and does the reading and writing.
 */
import * as z from 'zod';

/** Ginkgo's SpecState names, as written in a JUnit testcase's `status` attribute. */
export const SpecStatusSchema = z.enum(['passed', 'skipped', 'pending', 'failed', 'timedout', 'interrupted', 'aborted', 'panicked']);
export type SpecStatus = z.infer<typeof SpecStatusSchema>;

export const SpecResultSchema = z.object({
  /** The spec's full text without Ginkgo's leaf-node prefix, e.g. `[sig-apps] Daemon set [Serial] should … [Conformance]`. */
  name: z.string(),
  status: SpecStatusSchema,
  seconds: z.number(),
  /** For a spec that did not pass: Ginkgo's failure description (message and location), as the report holds it. */
  failure: z.string().optional(),
  /**
   * For a spec that did not pass: the last step it announced before failing (from the report's timeline), which says
   * which of the spec's checks failed when the failure's location is a helper shared by several checks.
   */
  lastStep: z.string().optional(),
});
export type SpecResult = z.infer<typeof SpecResultSchema>;

export interface JUnitReport {
  /** `[It]` specs that ran (skipped and pending ones left out: the focus deselects thousands). */
  specs: SpecResult[];
  /** Suite-level nodes (BeforeSuite, ReportAfterSuite, …) that did not pass: a broken setup fails the run too. */
  setupFailures: SpecResult[];
  /** Ginkgo's random seed, to rerun the same order with `--ginkgo.seed`. */
  seed: number | undefined;
  suiteSucceeded: boolean | undefined;
}

const failedStates: ReadonlySet<SpecStatus> = new Set(['failed', 'timedout', 'interrupted', 'aborted', 'panicked']);
export const isFailure = (status: SpecStatus): boolean => failedStates.has(status);

/** Decodes the entities Go's encoding/xml writes (named ones and `&#…;` / `&#x…;` code points). */
export function unescapeXml(text: string): string {
  const named: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (whole, entity: string) => {
    if (entity.startsWith('#x')) return String.fromCodePoint(parseInt(entity.slice(2), 16));
    if (entity.startsWith('#')) return String.fromCodePoint(parseInt(entity.slice(1), 10));
    return named[entity] ?? whole;
  });
}

function attributes(tag: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const match of tag.matchAll(/([A-Za-z_][\w:.-]*)="([^"]*)"/g)) found.set(match[1]!, unescapeXml(match[2]!));
  return found;
}

export class JUnitParseError extends Error {
  override name = 'JUnitParseError';
}

/**
 * Reads the report Ginkgo writes for `--report-dir` (`junit_01.xml`, reporters.GenerateJUnitReportWithConfig). Only
 * the shape Ginkgo produces is supported: one `<testcase>` element per spec, with a `status` attribute and, for a
 * failure, a `<failure>` or `<error>` child whose text is the description.
 */
export function parseJUnit(xml: string): JUnitReport {
  if (!/<testsuites?[\s>]/.test(xml)) throw new JUnitParseError('not a JUnit report: no <testsuites> or <testsuite> element');
  const specs: SpecResult[] = [];
  const setupFailures: SpecResult[] = [];
  for (const match of xml.matchAll(/<testcase\b([^>]*?)(?:\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const attrs = attributes(match[1]!);
    const rawName = attrs.get('name') ?? '';
    const status = SpecStatusSchema.safeParse(attrs.get('status'));
    if (!status.success) throw new JUnitParseError(`testcase ${JSON.stringify(rawName)} has an unknown status ${JSON.stringify(attrs.get('status'))}`);
    const body = match[2] ?? '';
    const failureText = /<(?:failure|error)\b[^>]*>([\s\S]*?)<\/(?:failure|error)>/.exec(body)?.[1];
    const timeline = /<system-err>([\s\S]*?)<\/system-err>/.exec(body)?.[1];
    const lastStep = timeline === undefined ? undefined : lastStepBeforeFailure(unescapeXml(timeline));
    const leaf = /^\[([^\]]+)\]\s*/.exec(rawName);
    const result: SpecResult = {
      name: leaf ? rawName.slice(leaf[0].length) : rawName,
      status: status.data,
      seconds: Number(attrs.get('time') ?? 0),
      ...(failureText !== undefined ? { failure: unescapeXml(failureText).trim() } : {}),
      ...(failureText !== undefined && lastStep !== undefined ? { lastStep } : {}),
    };
    if (leaf?.[1] === 'It') {
      if (result.status !== 'skipped' && result.status !== 'pending') specs.push(result);
    } else if (isFailure(result.status)) {
      setupFailures.push({ ...result, name: rawName });
    }
  }
  const property = (name: string): string | undefined =>
    new RegExp(`<property name="${name}" value="([^"]*)"`).exec(xml)?.[1];
  const seed = property('RandomSeed');
  const succeeded = property('SuiteSucceeded');
  return {
    specs,
    setupFailures,
    seed: seed === undefined ? undefined : Number(seed),
    suiteSucceeded: succeeded === undefined ? undefined : succeeded === 'true',
  };
}

/**
 * From a spec's timeline (`STEP: <text> - <file:line> @ <time>` lines, then `[FAILED] …`): the last step announced
 * before the first failure, as `<text> (<file:line>)`.
 */
export function lastStepBeforeFailure(timeline: string): string | undefined {
  let step: string | undefined;
  for (const line of timeline.split('\n')) {
    if (/^\[(FAILED|PANICKED|TIMEDOUT|INTERRUPTED|ABORTED)\]/.test(line)) return step;
    const found = /^STEP: (.*?)(?: - (?:\S+\/)?(\S+:\d+))?(?: @ .*)?$/.exec(line);
    if (found) step = found[2] ? `${found[1]} (${found[2]})` : found[1];
  }
  return step;
}

/**
 * Which lines of the suite's `--ginkgo.v` console output are progress worth showing: spec titles, steps, results and
 * the final tally. The rest (framework polling every 2 s, request logs) goes to the log file only.
 */
export function isProgressLine(line: string): boolean {
  return (
    /^\s*STEP: /.test(line) ||
    /^\[[^\]]+\] .*\[sig-/.test(line) || // spec title, e.g. "[Serial] [sig-apps] Daemon set [Serial] should …"
    /^\s*• /.test(line) || // spec result, e.g. "• [12.345 seconds]" or "• [FAILED] [300.1 seconds]"
    /^\s*\[(FAILED|PANICKED|TIMEDOUT|INTERRUPTED)\]/.test(line) ||
    /^Ran \d+ of \d+ Specs/.test(line) ||
    /^(SUCCESS|FAIL)! /.test(line)
  );
}

/**
 * "[sig-apps] Daemon set should run and stop simple daemon [Conformance] [Serial]" → "should run and stop simple daemon
 * [Conformance]": the DaemonSet container and the [Serial] label every one of its specs carries are left out.
 */
export function shortName(name: string): string {
  return name.startsWith('[sig-apps] Daemon set ') ? name.slice('[sig-apps] Daemon set '.length).replace(/ \[Serial\]$/, '') : name;
}

/** The first lines of a failure description: the assertion and where it failed, without the stack. */
export function failureSummary(failure: string, maxLines = 12): string {
  const lines = failure.split('\n');
  const cut = lines.findIndex((line) => /^\s*(Full Stack Trace|goroutine \d+)/.test(line));
  const kept = (cut === -1 ? lines : lines.slice(0, cut)).map((line) => line.trimEnd());
  while (kept.length > 0 && kept.at(-1) === '') kept.pop();
  return kept.length > maxLines ? [...kept.slice(0, maxLines), `… (${kept.length - maxLines} more lines)`].join('\n') : kept.join('\n');
}

export const ConformanceRunSchema = z.object({
  /** `daemonless` or `upstream` (the built-in DaemonSet controller); later shapes add their own names. */
  system: z.string(),
  /** What the system was started with, besides its name (pass-through system options). */
  systemOptions: z.record(z.string(), z.unknown()),
  kubernetes: z.string(),
  commit: z.string(),
  /** The working tree had uncommitted changes. */
  dirty: z.boolean(),
  date: z.string(),
  focus: z.string(),
  nodes: z.number().int(),
  seed: z.number().optional(),
  durations: z.object({
    /** Obtaining e2e.test: a build of minutes, or a cache hit. */
    binarySeconds: z.number(),
    binaryBuilt: z.boolean(),
    systemUpSeconds: z.number(),
    suiteSeconds: z.number(),
  }),
  passed: z.number().int(),
  failed: z.number().int(),
  specs: z.array(SpecResultSchema),
  setupFailures: z.array(SpecResultSchema),
});
export type ConformanceRun = z.infer<typeof ConformanceRunSchema>;

/** docs/conformance/latest.json: the latest run of each system, so the page can show them side by side. */
export const LatestSchema = z.object({ runs: z.record(z.string(), ConformanceRunSchema) });
export type Latest = z.infer<typeof LatestSchema>;

/** A run failed when any spec or setup node failed, or when nothing ran at all (a focus that matches no spec). */
export function runFailed(run: Pick<ConformanceRun, 'failed' | 'specs' | 'setupFailures'>): boolean {
  return run.failed > 0 || run.setupFailures.length > 0 || run.specs.length === 0;
}

const seconds = (s: number): string => `${s.toFixed(1)} s`;
/** Code-unit order: the same on every machine, whatever its locale. */
const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The console summary: one row per spec, then the tally. */
export function summaryTable(run: ConformanceRun): string {
  const rows = [...run.specs].sort((a, b) => byText(a.name, b.name)).map((spec) => [isFailure(spec.status) ? 'FAIL' : 'ok', seconds(spec.seconds).padStart(8), shortName(spec.name)]);
  const lines = [`result  duration  spec (${run.system})`, ...rows.map(([result, duration, name]) => `${result!.padEnd(6)} ${duration}  ${name}`)];
  for (const setup of run.setupFailures) lines.push(`FAIL   ${seconds(setup.seconds).padStart(8)}  ${setup.name} (suite setup)`);
  // Worded unlike vitest's "N passed, N failed", which .ci/run restates for CI to read.
  lines.push(`${run.system}: ${run.passed} of ${run.specs.length} DaemonSet specs passed (${run.failed} failing) in ${seconds(run.durations.suiteSeconds)}`);
  return lines.join('\n');
}

/** Each failing spec (and failed suite node) with the start of its message and its last step, for the console. */
export function failureDetails(run: ConformanceRun): string {
  const failures = [...run.setupFailures, ...run.specs.filter((spec) => isFailure(spec.status))];
  return failures
    .map((spec) => {
      const step = spec.lastStep ? `\n  last step: ${spec.lastStep}` : '';
      const message = failureSummary(spec.failure ?? '(no message)', 6).replaceAll('\n', '\n    ');
      return `${spec.status.toUpperCase()}: ${shortName(spec.name)}${step}\n    ${message}`;
    })
    .join('\n');
}

const cell = (text: string): string => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

function label(system: string): string {
  return ({ upstream: 'upstream controller', daemonless: 'daemonless (local server)', 'daemonless-lambda': 'daemonless (Lambda runtime)' } as Record<string, string>)[system] ?? system;
}

/** docs/conformance/latest.md: every system's latest run side by side, then each failure's message. */
export function renderMarkdown(latest: Latest): string {
  const systems = Object.keys(latest.runs).sort((a, b) => (a === 'daemonless' ? -1 : b === 'daemonless' ? 1 : byText(a, b)));
  const runs = systems.map((system) => latest.runs[system]!);
  const out: string[] = [
    "# Upstream's DaemonSet e2e suite",
    '',
    `Kubernetes' own end-to-end specs for DaemonSets (\`test/e2e/apps/daemon_set.go\` of k8s.io/kubernetes, the \`[Conformance]\``,
    'ones among them), built as `e2e.test` and run against the local system by `npm run conformance` (`-- --system upstream` for',
    "kube-controller-manager's own DaemonSet controller on the same control plane). Generated; do not edit.",
    '',
    '| system | passed | failed | suite time | e2e.test | system up | nodes | Kubernetes | commit | date |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const [i, run] of runs.entries()) {
    const binary = `${seconds(run.durations.binarySeconds)}${run.durations.binaryBuilt ? ' (built)' : ' (cached)'}`;
    const commit = `${run.commit.slice(0, 10)}${run.dirty ? ' (modified)' : ''}`;
    out.push(
      `| ${label(systems[i]!)} | ${run.passed} / ${run.specs.length} | ${run.failed} | ${seconds(run.durations.suiteSeconds)} | ${binary} | ` +
        `${seconds(run.durations.systemUpSeconds)} | ${run.nodes} | ${run.kubernetes} | ${commit} | ${run.date} |`,
    );
  }
  const names = [...new Set(runs.flatMap((run) => run.specs.map((spec) => spec.name)))].sort(byText);
  out.push('', `| spec | ${systems.map(label).join(' | ')} |`, `|---|${systems.map(() => '---|').join('')}`);
  for (const name of names) {
    const results = runs.map((run) => {
      const spec = run.specs.find((s) => s.name === name);
      if (!spec) return '—';
      return `${isFailure(spec.status) ? `**${spec.status.toUpperCase()}**` : spec.status} ${seconds(spec.seconds)}`;
    });
    out.push(`| ${cell(shortName(name))} | ${results.join(' | ')} |`);
  }
  for (const run of runs) {
    const failures = [...run.setupFailures, ...run.specs.filter((spec) => isFailure(spec.status))];
    if (failures.length === 0) continue;
    out.push('', `## Failures: ${label(systems[runs.indexOf(run)]!)}`);
    for (const spec of failures) {
      out.push('', `### ${shortName(spec.name)}`, '');
      if (spec.lastStep) out.push(`Last step before the failure: ${spec.lastStep}`, '');
      out.push('```', failureSummary(spec.failure ?? '(no message)'), '```');
    }
  }
  const focus = runs[0]?.focus;
  out.push('', `Focus: \`${focus ?? ''}\`. Seeds: ${runs.map((run) => `${label(systems[runs.indexOf(run)]!)} ${run.seed ?? '?'}`).join(', ')} (Ginkgo randomises the order; \`--seed\` repeats one).`, '');
  return out.join('\n');
}
