/**
 * The reliability report: the run's JSON as it is, and a Markdown summary of it, in reliability/results/ (committed,
 * like the benchmark summary). `verdict` says whether the run met issue 13's bar: zero invariant violations, every
 * trial converged, every fault kind survived, the restart rollout complete, no fuzz case written or crashed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../paths.ts';
import { isSurgeStall } from './known.ts';
import type { PhaseReport, Report, Stats } from './run.ts';

export const resultsDir = join(repoRoot, 'reliability', 'results');

export function writeReport(report: Report, name: string): string[] {
  mkdirSync(resultsDir, { recursive: true });
  const json = join(resultsDir, `${name}.json`);
  const md = join(resultsDir, `${name}.md`);
  writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(md, renderMarkdown(report));
  return [json, md].map((f) => f.slice(repoRoot.length + 1));
}

/**
 * `tolerate`: violation kinds reported but not failing the run (known, reported findings: known.ts); they are still
 * counted and named in the summary.
 */
export function verdict(report: Report, tolerate: readonly string[] = []): { ok: boolean; summary: string } {
  const problems: string[] = [];
  const notes: string[] = [];
  const tolerated = report.violations.filter((v) => tolerate.includes(v.kind));
  if (tolerated.length > 0) {
    const byKind = new Map<string, number>();
    for (const v of tolerated) byKind.set(v.kind, (byKind.get(v.kind) ?? 0) + 1);
    notes.push(`tolerated (known, reported): ${[...byKind].map(([k, n]) => `${n} ${k}`).join(', ')} in seeds ${[...new Set(tolerated.map((v) => v.seed))].slice(0, 20).join(', ')}`);
  }
  const failing = report.violations.filter((v) => !tolerate.includes(v.kind));
  if (failing.length > 0) {
    const byKind = new Map<string, number>();
    for (const v of failing) byKind.set(v.kind, (byKind.get(v.kind) ?? 0) + 1);
    problems.push(`${failing.length} invariant violation(s): ${[...byKind].map(([k, n]) => `${n} ${k}`).join(', ')} (seeds ${[...new Set(failing.map((v) => v.seed))].join(', ')})`);
  }
  for (const [name, phase] of [['trials', report.trials], ['loss', report.loss]] as const) {
    if (phase && phase.converged < phase.trials) {
      const stalls = tolerate.includes('surge-stall') ? phase.notConverged.filter((n) => isSurgeStall(n.why)) : [];
      const others = phase.notConverged.filter((n) => !stalls.includes(n));
      if (stalls.length > 0) notes.push(`tolerated (known, reported): ${stalls.length} ${name} trial(s) stalled by a surge pod that cannot be scheduled (seeds ${stalls.map((n) => n.seed).join(', ')})`);
      if (others.length > 0) problems.push(`${others.length} ${name} trial(s) did not converge (seeds ${others.map((n) => n.seed).join(', ')})`);
    }
    if (phase && phase.deliveries.refused > 0) {
      const text = `${phase.deliveries.refused} real watch event(s) refused with 4xx in ${name}`;
      if (tolerate.includes('refused')) notes.push(`tolerated (known, reported): ${text}`);
      else problems.push(text);
    }
  }
  if (report.loss && report.loss.healedWithinOnePeriod < report.loss.trials) {
    problems.push(`${report.loss.trials - report.loss.healedWithinOnePeriod} loss trial(s) took longer than one resync period (+3 s) to heal`);
  }
  // Fault trials' violations are in report.violations (judged above); here, whether each converged.
  for (const f of report.faults ?? []) if (f.converged < f.trials) problems.push(`fault ${f.kind}: ${f.trials - f.converged} of ${f.trials} trial(s) did not converge`);
  if (report.restart && !report.restart.converged) problems.push('the restart rollout did not complete');
  const crashes = report.functionsCrashes ?? [];
  if (crashes.length > 0) {
    const text = `the functions server crashed ${crashes.length}× (${[...new Set(crashes.map((c) => c.phase))].join(', ')})`;
    if (tolerate.includes('crash')) notes.push(`tolerated (known, reported): ${text}`);
    else problems.push(text);
  }
  if (report.fuzz) {
    const gaps = report.fuzz.properties.filter((p) => p.failure && p.knownGap);
    const failing = report.fuzz.properties.filter((p) => p.failure && !p.knownGap);
    if (failing.length > 0 || report.fuzz.crashes > 0) problems.push(`fuzz: ${failing.length} failing propert(ies), ${report.fuzz.crashes} crash(es)`);
    if (gaps.length > 0) notes.push(`fuzz: ${gaps.length} known gap(s) still open (reported)`);
  }
  const ok = problems.length === 0;
  const head = ok ? (report.violations.length === 0 ? 'all invariants held, everything converged' : 'no violation beyond the tolerated kinds, everything converged') : problems.join('; ');
  return { ok, summary: `reliability: ${head}${notes.length > 0 ? `\n  ${notes.join('\n  ')}` : ''}` };
}

const ms = (s: Stats) => (s.count === 0 ? '—' : `${fmt(s.p50)} / ${fmt(s.p95)} / ${fmt(s.max)}`);
const fmt = (milliseconds: number) => `${(milliseconds / 1000).toFixed(1)} s`;
const seedRange = (seeds: number[]) => (seeds.length === 0 ? '—' : seeds.length === 1 ? `${seeds[0]}` : `${seeds[0]}–${seeds.at(-1)} (${seeds.length})`);

function phaseRows(name: string, p: PhaseReport): string[] {
  const answers = Object.entries(p.deliveries.answers).map(([k, n]) => `${k}: ${n}`).join(', ');
  return [
    `| ${name} | ${p.trials} | ${seedRange(p.seeds)} | ${p.converged}/${p.trials} | ${Object.values(p.violations).reduce((s, n) => s + n, 0)} | ${ms(p.convergeMs)} | ${p.deliveries.events} events, ${p.deliveries.duplicates} duplicate copies, ${p.deliveries.dropped} dropped, ${p.deliveries.requests} requests (${answers}), ${p.deliveries.retries} redelivered, max ${p.deliveries.maxInFlight} in flight |`,
  ];
}

export function renderMarkdown(r: Report): string {
  const { ok, summary } = verdict(r);
  const lines: string[] = [
    `# Reliability run (${r.mode}), ${r.generatedAt.slice(0, 10)}`,
    '',
    `Runtime: ${r.runtime}. Cluster: ${r.cluster === 'managed' ? 'managed (the built-in DaemonSet controller on; the trials create ServerlessDaemonSets, MANAGE=crd)' : 'native (apps/v1 DaemonSets, the built-in DaemonSet controller off)'}. Duration: ${Math.round(r.durationSeconds / 60)} min. Generated by \`npm run reliability${command(r)}\`; method in [docs/reliability.md](../../docs/reliability.md).`,
    '',
    `**${ok ? 'PASS' : 'FAIL'}** — ${summary.replace(/^reliability: /, '')}`,
    '',
  ];
  if (r.trials || r.loss) {
    lines.push(
      '## Randomized trials',
      '',
      '| phase | trials | seeds | converged | violations | converge after last action p50 / p95 / max | delivery |',
      '|---|---|---|---|---|---|---|',
      ...(r.trials ? phaseRows('events (resync off)', r.trials) : []),
      ...(r.loss ? phaseRows(`loss ${Math.round(r.loss.dropRate * 100)} % (resync ${r.loss.resyncIntervalMs / 1000} s)`, r.loss) : []),
      '',
    );
    const t = r.trials;
    if (t) {
      lines.push(
        `Checker: ${t.podEvents.toLocaleString('en')} pod events judged over ${t.pods.toLocaleString('en')} pods; watch relists (gaps) ${t.feedGaps}, events later than the ordering window ${t.feedLate}; scenario actions with nothing to act on: ${t.skippedActions}. Eviction allowance ${r.settings.evictionAllowanceMs / 1000} s, grace ${r.settings.graceMs / 1000} s; rollout writes excused because they acted on a state younger than the grace (a pod that turned Ready just before): ${t.excused.budget} deletes, ${t.excused.surge} surge creates.`,
        '',
      );
    }
    if (r.loss) {
      lines.push(
        `Loss: ${r.loss.deliveries.dropped} of ${r.loss.deliveries.events} events dropped; time to heal (the last action or the last dropped event, whichever came later → converged) p50 / p95 / max ${ms(r.loss.healMs)}; healed within one resync period (+3 s): ${r.loss.healedWithinOnePeriod}/${r.loss.trials}.`,
        '',
      );
    }
  }
  if (r.faults) {
    lines.push(
      '## Faults between the functions and kube-apiserver',
      '',
      '| kind | rule | trials | survived | injected | answered 5xx to the sender | redelivered | given up | violations | converge p50 / p95 / max |',
      '|---|---|---|---|---|---|---|---|---|---|',
      ...r.faults.map(
        (f) =>
          `| ${f.kind} | ${JSON.stringify(f.rule.rates)}${f.rule.afterUpstream ? ' after upstream' : ''} on ${f.rule.match?.verbs?.join(',') ?? 'all'} | ${f.trials} | ${f.survived} | ${Object.entries(f.injected).map(([k, n]) => `${k}: ${n}`).join(', ') || '0'} of ${f.proxiedRequests} | ${f.answered5xx} | ${f.redeliveries} | ${f.givenUp} | ${f.violations} | ${ms(f.convergeMs)} |`,
      ),
      '',
    );
  }
  if (r.restart) {
    const x = r.restart;
    lines.push(
      '## kube-apiserver SIGKILLed mid-rollout',
      '',
      `${x.nodes} nodes, RollingUpdate maxUnavailable ${x.maxUnavailable}, every fault kind at a low rate through the proxy (injected: ${Object.entries(x.faultsInjected).map(([k, n]) => `${k} ${n}`).join(', ')}; ${x.upstreamErrors} requests failed upstream while it was down). kube-apiserver out ${x.apiserver.outageSeconds} s. ` +
        `${x.converged ? `Rollout complete ${x.rolloutSeconds} s after the edit` : `NOT complete: ${x.notConverged}`}; invariant violations: ${x.violations.length}; checker watch relists: ${x.feedGaps}. Seed ${x.seed}.`,
      '',
    );
  }
  if (r.fuzz) {
    const f = r.fuzz;
    lines.push(
      '## Hostile input (property-based)',
      '',
      `${f.cases.toLocaleString('en')} cases in ${f.durationSeconds} s; outcomes: ${Object.entries(f.outcomes).sort().map(([k, n]) => `${k}: ${n.toLocaleString('en')}`).join(', ')}; handler calls on a refused request: ${f.handlerCallsOnRefusal}; crashes: ${f.crashes}; peak heap ${f.peakHeapMB} MB.`,
      ...(f.failures.length > 0 ? ['', 'Failing properties:', ...f.failures.map((x) => `- ${x}`)] : []),
      '',
    );
  }
  if (r.violations.length > 0) {
    lines.push(
      '## Violations',
      '',
      '| phase | seed | kind | DaemonSet @ node | what | pods | lasted |',
      '|---|---|---|---|---|---|---|',
      ...r.violations.slice(0, 50).map((v) => `| ${v.phase} | ${v.seed} | ${v.kind} | ${v.daemonSet.split('/')[1]} @ ${v.node} | ${v.message} | ${v.pods.join(', ')} | ${v.durationMs !== undefined ? `${v.durationMs} ms` : '—'} |`),
      ...(r.violations.length > 50 ? [`| … ${r.violations.length - 50} more in latest.json | | | | | | |`] : []),
      '',
    );
  }
  const crashes = r.functionsCrashes ?? [];
  if (crashes.length > 0) {
    lines.push('## The functions server crashed', '', ...crashes.map((c) => `- during ${c.phase}, ${c.at} (started again):\n\n  \`\`\`\n${c.error.split('\n').map((l) => `  ${l}`).join('\n')}\n  \`\`\``), '');
  }
  const functionsMemory =
    r.runtime === 'lambda'
      ? 'the functions run in Lambda instances, whose memory each invocation reports (the REPORT lines of the functions log)'
      : `functions server peak RSS ${r.memory.functionsPeakRssMB ?? '—'} MB`;
  lines.push('## Memory', '', `Runner peak RSS ${r.memory.runnerPeakRssMB} MB; ${functionsMemory}.`, '');
  return `${lines.join('\n')}`;
}

/** The flags that name a run's kind: `--short`, `--runtime lambda`, `--managed`. */
function command(r: Report): string {
  const flags = [...(r.mode === 'short' ? ['--short'] : []), ...(r.runtime === 'lambda' ? ['--runtime', 'lambda'] : []), ...(r.cluster === 'managed' ? ['--managed'] : [])];
  return flags.length > 0 ? ` -- ${flags.join(' ')}` : '';
}
