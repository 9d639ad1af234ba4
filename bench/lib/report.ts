/** The human-readable outputs: a Markdown summary (also printed) and a hand-written SVG bar chart. Pure. */
import { convergedSeconds, daemonlessOverloaded, effectiveFloor, shapeOf, shapeTitles, type BenchResults, type SystemRun } from './results.ts';
import type { ShapeName, ShapeResult } from './shapes.ts';
import { ratio } from './stats.ts';

const shapes: ShapeName[] = ['a', 'b', 'c'];
const s1 = (x: number) => (x < 10 ? x.toFixed(2) : x.toFixed(1));
const times = (x: number | undefined) => (x === undefined ? '–' : `${x.toFixed(2)}×`);

function cell(r: ShapeResult | undefined): string {
  if (!r) return '–';
  if (r.status === 'converged') return s1(r.seconds);
  const why = r.error ? `: ${r.error.slice(0, 80)}` : '';
  return `${r.status} ${r.satisfiedNodes}/${r.nodes} after ${s1(r.seconds)}${why}`;
}

const ms = (x: number | undefined) => (x === undefined ? '–' : x.toFixed(0));

export function markdown(results: BenchResults): string {
  const out: string[] = [];
  const up = results.systems.find((s) => s.kind === 'upstream');
  const raised = results.systems.find((s) => s.kind === 'raised');
  const dl = results.systems.find((s) => s.kind === 'daemonless');
  const n = results.args.nodes;
  out.push(`# daemonless vs the upstream DaemonSet controller — ${n} nodes`);
  out.push('');
  out.push(
    `Measured ${results.startedAt} in ${Math.round(results.durationSeconds)} s with \`${results.command}\` on one ${results.machine.cpus}-core machine ` +
      `(load average at start ${results.machine.loadAverageAtStart.map((x) => x.toFixed(1)).join(' / ')}; ` +
      `${results.machine.otherControlPlanes} other control plane(s) running on it). Commit ${results.git.commit.slice(0, 10)}` +
      (results.git.dirtyProductFiles.length ? ` plus uncommitted changes in ${results.git.dirtyProductFiles.length} product file(s)` : '') +
      `. Every system ran on a fresh control plane (etcd empty), Kubernetes v1.37.2, with the node simulator (pods Ready ≈ 500 ms after binding).`,
  );
  out.push('');
  out.push('## Convergence');
  out.push('');
  out.push('Seconds from the triggering write until every node has exactly one Ready pod of each DaemonSet (of the new image for (c)).');
  out.push('');
  const upLabel = up?.label ?? 'upstream';
  const raisedLabel = raised?.label ?? 'upstream raised';
  out.push(`| shape | N | pod writes | daemonless | ${upLabel} | ${raisedLabel} | plain-client floor | daemonless ÷ upstream | daemonless ÷ raised | daemonless ÷ floor |`);
  out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const shape of shapes) {
    const d = shapeOf(results, 'daemonless', shape);
    const u = shapeOf(results, 'upstream', shape);
    const r = shapeOf(results, 'raised', shape);
    if (!d && !u && !r) continue;
    const floor = effectiveFloor(results, shape);
    const writes = results.floor?.writes[shape] ?? (shape === 'b' ? 3 * n : shape === 'a' ? n : 2 * n);
    const floorCell =
      floor === undefined ? '–' : shape === 'c' && results.floor?.rolloutPacing ? `${s1(floor)} (paced; writes ${s1(results.floor.seconds.c)})` : s1(floor);
    out.push(
      `| ${shapeTitles[shape]} | ${d?.nodes ?? u?.nodes ?? n} | ${writes} | ${cell(d)} | ${cell(u)} | ${cell(r)} | ${floorCell} | ` +
        `${times(ratio(convergedSeconds(d), convergedSeconds(u)))} | ${times(ratio(convergedSeconds(d), convergedSeconds(r)))} | ${times(ratio(convergedSeconds(d), floor))} |`,
    );
  }
  const join = shapeOf(results, 'daemonless', 'b');
  if (join?.nodesRegisteredSeconds !== undefined) {
    out.push('');
    out.push(
      `(b) includes registering the nodes themselves (24 creates in flight, the same for every system): the last node create returned after ` +
        results.systems
          .map((s) => {
            const b = s.shapes.find((x) => x.shape === 'b');
            return b?.nodesRegisteredSeconds === undefined ? undefined : `${s1(b.nodesRegisteredSeconds)} s (${s.label})`;
          })
          .filter(Boolean)
          .join(', ') +
        '.',
    );
  }
  const staged = results.systems.flatMap((sys) => sys.shapes.filter((r) => r.stages).map((r) => ({ sys, r })));
  if (staged.length > 0) {
    out.push('');
    out.push(
      'Where the time went: seconds after the trigger until the last of the shape\'s new pods was created (first seen), bound to its node by ' +
        'kube-scheduler, and reported Ready by the simulator. DaemonSet pods of both systems are bound by the default scheduler (node affinity), whose ' +
        'own client is limited to QPS 50 / burst 100: one binding per pod.',
    );
    out.push('');
    out.push('| shape | system | pods | last created | last bound | last Ready | converged | load average at start |');
    out.push('|---|---|---:|---:|---:|---:|---:|---:|');
    for (const shape of shapes) {
      for (const { sys, r } of staged.filter((x) => x.r.shape === shape)) {
        const st = r.stages!;
        out.push(
          `| ${shape} | ${sys.label} | ${st.pods} | ${s1(st.created)} | ${s1(st.bound)} | ${s1(st.ready)} | ${cell(r)} | ${r.loadAverage === undefined ? '–' : r.loadAverage.toFixed(1)} |`,
        );
      }
    }
  }
  if (results.floor) {
    out.push('');
    out.push(
      `Floor: the same pod writes ((a) N creates, (b) 3N creates, (c) N deletes + N creates) sent by a plain client with ${results.floor.concurrency} in flight ` +
        `on the ${results.floor.on} API server: ${results.floor.createsPerSecond.toFixed(0)} pod creates/s.`,
    );
    const pacing = results.floor?.rolloutPacing;
    if (pacing) {
      const dlc = convergedSeconds(shapeOf(results, 'daemonless', 'c'));
      const upc = convergedSeconds(shapeOf(results, 'upstream', 'c'));
      out.push('');
      out.push(
        `(c) is paced, not throughput-bound: maxUnavailable 10 % means ${pacing.rounds} rounds, each waiting for the simulator to complete the old pods' ` +
          `deletion and report the new ones Ready (${pacing.perRoundMs} ms), so no system can finish in less than ≈ ${s1(pacing.seconds)} s; ` +
          `the write floor does not apply. Against that bound: daemonless ${times(ratio(dlc, pacing.seconds))}, upstream ${times(ratio(upc, pacing.seconds))}.`,
      );
    }
  }
  if (raised?.kcmQps !== undefined) {
    out.push('');
    out.push(`"Raised": kube-controller-manager with --kube-api-qps=${raised.kcmQps} --kube-api-burst=${raised.kcmBurst}.`);
  }

  out.push('');
  out.push('## API requests');
  out.push('');
  out.push(
    'From the API server\'s own counters (`apiserver_flowcontrol_dispatched_requests_total` per FlowSchema: the bench installs one per identity and verb, ' +
      'see bench/lib/apf.ts), scraped before the trigger and a few seconds after convergence. "Controller" is the user `daemonless-reconciler` for daemonless ' +
      'and the service account `kube-system/daemon-set-controller` for upstream (whose informer LIST/WATCH, shared by all controllers, is not included). ' +
      '"All clients" is `apiserver_request_total` (simulator, scheduler, other controllers and the bench included).',
  );
  out.push('');
  out.push(
    '| shape | system | controller reads | controller writes | reads / node | writes / node | mean queued / executing ms (APF) | all clients | LIST MiB (all clients) | daemonless log: invocations, apiRequests |',
  );
  out.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const shape of shapes) {
    for (const sys of results.systems) {
      const r = sys.shapes.find((x) => x.shape === shape);
      const w = r?.window;
      if (!r || !w) continue;
      const id = sys.kind === 'daemonless' ? w.cost.byIdentity.daemonless : w.cost.byIdentity['daemonset-controller'];
      const f = w.functions;
      const durations = f?.auditDurationsMs ?? [];
      const meanMs = durations.length ? durations.reduce((x, y) => x + y, 0) / durations.length : undefined;
      const fn = f
        ? `${f.requestsByRoute['audit'] ?? 0} audit batches (mean ${meanMs === undefined ? '–' : meanMs.toFixed(0)} ms, max ${durations.length ? Math.max(...durations).toFixed(0) : '–'} ms), ` +
          `${f.reconciles} reconciles, ${f.apiRequests} requests`
        : '–';
      out.push(
        `| ${shape} | ${sys.label} | ${id.reads} | ${id.writes} | ${(id.reads / r.nodes).toFixed(2)} | ${(id.writes / r.nodes).toFixed(2)} | ` +
          `${id.meanQueueMs === undefined ? '–' : id.meanQueueMs.toFixed(1)} / ${id.meanExecMs === undefined ? '–' : id.meanExecMs.toFixed(1)} | ${w.cost.total} | ` +
          `${w.cost.listResponseBytes === undefined ? '–' : (w.cost.listResponseBytes / 2 ** 20).toFixed(1)} | ${fn} |`,
      );
    }
  }
  const execLines: string[] = [];
  for (const sys of results.systems) {
    for (const r of sys.shapes) {
      const id = r.window && (sys.kind === 'daemonless' ? r.window.cost.byIdentity.daemonless : r.window.cost.byIdentity['daemonset-controller']);
      if (id?.execMsByVerb) {
        execLines.push(`${r.shape}, ${sys.label}: ${Object.entries(id.execMsByVerb).map(([v, x]) => `${v} ${x.toFixed(0)}`).join(', ')}`);
      }
    }
  }
  if (execLines.length > 0) {
    out.push('');
    out.push(`Mean time the API server spent executing the controller's requests, ms by verb (APF execution histogram): ${execLines.join('; ')}.`);
  }
  const latencyRuns = results.systems.filter((s) => s.latency?.window);
  if (latencyRuns.length > 0) {
    out.push('');
    out.push('Per single node join (warm, the latency phase below), divided by the number of joins:');
    out.push('');
    out.push(
      '| system | DaemonSets | controller reads / join | controller writes / join | by verb, per join | audit invocations / join | ' +
        'reconciles / join | requests / join on the node path (of which pod creates) |',
    );
    out.push('|---|---:|---:|---:|---|---:|---:|---:|');
    for (const sys of latencyRuns) {
      const lat = sys.latency!;
      const id = sys.kind === 'daemonless' ? lat.window!.cost.byIdentity.daemonless : lat.window!.cost.byIdentity['daemonset-controller'];
      const verbs = Object.entries(id.byVerb)
        .map(([v, k]) => `${v} ${(k / lat.samples).toFixed(1)}`)
        .join(', ');
      const f = lat.window!.functions;
      const per = (x: number) => (x / lat.samples).toFixed(1);
      const inv = f ? per(f.requestsByRoute['audit'] ?? 0) : '–';
      const rec = f ? per(f.reconciles) : '–';
      const nodePath = f ? `${per(f.nodeHinted.apiRequests)} (${per(f.nodeHinted.created)})` : '–';
      out.push(`| ${sys.label} | ${lat.podsPerNode} | ${per(id.reads)} | ${per(id.writes)} | ${verbs || '–'} | ${inv} | ${rec} | ${nodePath} |`);
    }
  }

  if (latencyRuns.length > 0) {
    out.push('');
    out.push('## Latency (warm)');
    out.push('');
    out.push(
      'Single nodes joining one at a time; milliseconds from the node create call to each daemon pod first seen in the bench\'s watch. ' +
        'A new node is schedulable only once the simulator (standing in for the kubelet) has removed the `not-ready` taint admission adds, so the second ' +
        'column starts at that moment (as seen in the same watch).',
    );
    out.push('');
    if (daemonlessOverloaded(results)) {
      out.push(
        '**Caution:** daemonless did not converge in every shape of this run; its latency samples were taken while it was still working off ' +
          'that backlog, so they describe an overloaded system, not a warm one.',
      );
      out.push('');
    }
    out.push('| system | pods | node create → pod p50 / p95 / p99 | schedulable → pod p50 / p95 / p99 | node create → last pod p50 / p95 | missing |');
    out.push('|---|---:|---|---|---|---:|');
    for (const sys of latencyRuns) {
      const l = sys.latency!;
      const c = l.createToPod;
      const e = l.eligibleToPod;
      const last = l.createToLastPod;
      out.push(
        `| ${sys.label} | ${c?.n ?? 0} | ${ms(c?.p50)} / ${ms(c?.p95)} / ${ms(c?.p99)} | ${ms(e?.p50)} / ${ms(e?.p95)} / ${ms(e?.p99)} | ${ms(last?.p50)} / ${ms(last?.p95)} | ${l.missing} |`,
      );
    }
  }

  const cold = results.coldStart;
  if (cold) {
    const base = cold.results.find((c) => c.kind === 'baseline');
    const floor = cold.results.find((c) => c.kind === 'floor');
    out.push('');
    out.push('## Cold start');
    out.push('');
    out.push(
      `Process start → first response (API Gateway v2 \`GET /healthz\` through the handler), median of ${cold.reps} fresh \`node\` processes (${cold.node}); ` +
        '"above floor" compares the time beyond `node -e 0`. resync has no HTTP route: process start → bundle imported.',
    );
    out.push('');
    out.push('| bundle | median ms | × baseline | above floor, × baseline | in-process ms | peak RSS MiB | raw KiB | gzip KiB |');
    out.push('|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const c of cold.results) {
      const vs = base ? c.medianMs / base.medianMs : undefined;
      const above = base && floor && c.kind !== 'floor' ? (c.medianMs - floor.medianMs) / (base.medianMs - floor.medianMs) : undefined;
      out.push(
        `| ${c.name}${c.mode === 'import' && !c.name.includes('import') ? ' (import only)' : ''} | ${c.medianMs.toFixed(0)} | ${times(vs)} | ${times(above)} | ` +
          `${c.inProcessMedianMs === undefined ? '–' : c.inProcessMedianMs.toFixed(0)} | ${c.maxRssMiB === undefined ? '–' : c.maxRssMiB.toFixed(0)} | ` +
          `${c.rawBytes === undefined ? '–' : (c.rawBytes / 1024).toFixed(0)} | ${c.gzipBytes === undefined ? '–' : (c.gzipBytes / 1024).toFixed(0)} |`,
      );
    }
  }

  if (cold && cold.auditComposition.length > 0) {
    const total = cold.auditComposition.reduce((sum, c) => sum + c.bytes, 0);
    const top = cold.auditComposition.slice(0, 8).map((c) => `${c.module} ${(c.bytes / 1024).toFixed(0)} KiB (${((100 * c.bytes) / total).toFixed(0)} %)`);
    out.push('');
    out.push(`What the audit bundle is made of (minified bytes by package, esbuild metafile): ${top.join(', ')}.`);
  }

  const cost = results.costModel;
  if (cost) {
    const i = cost.inputs;
    out.push('');
    out.push('## Cost model (a model, not a bill)');
    out.push('');
    out.push(
      `Inputs measured here: ${i.invocationsPerNodeEvent.toFixed(2)} invocations per node join (audit batches, latency phase), ` +
        `${i.warmDurationMs.toFixed(0)} ms mean warm invocation, ${i.coldStartMs.toFixed(0)} ms cold start (in-process, audit bundle), ` +
        `${i.memoryMB} MB configured memory (serverless.yml${i.peakRssMiB ? `; peak RSS of a cold function ${i.peakRssMiB.toFixed(0)} MiB` : ''}). ` +
        'Durations come from a loaded 2-core machine with the API server on the same cores; Lambda arm64 will differ. Prices: us-east-1 list prices (bench/lib/cost.ts).',
    );
    if (daemonlessOverloaded(results)) {
      out.push('');
      out.push(
        '**Caution:** these inputs come from an overloaded daemonless (see above: shapes that did not converge, invocations timing out); the ' +
          'model is only meaningful for a run where every shape converged.',
      );
    }
    out.push('');
    out.push('| item | USD |');
    out.push('|---|---:|');
    out.push(`| Lambda, per million node events, warm | ${cost.lambdaWarmPerMillion.toFixed(2)} |`);
    out.push(`| Lambda, per million node events, every invocation cold | ${cost.lambdaAllColdPerMillion.toFixed(2)} |`);
    out.push(`| API Gateway HTTP API in front, per million node events | ${cost.apiGatewayPerMillion.toFixed(2)} |`);
    out.push(`| always-on controller pod, 0.1 vCPU / 128 MiB share of an m7g.medium, per month | ${cost.podShareOnNodePerMonth.toFixed(2)} |`);
    out.push(`| always-on controller, smallest Fargate task (0.25 vCPU / 0.5 GB arm64), per month | ${cost.fargateMinTaskPerMonth.toFixed(2)} |`);
    out.push('');
    out.push(
      `Break-even against the pod share: ≈ ${Math.round(cost.breakEvenNodeEventsPerMonthVsPod).toLocaleString('en-US')} node events per month (warm, with API Gateway). ` +
        'Not modelled: the scheduled resync (every 5 min, one LIST of nodes and pods), data transfer, and the always-on option\'s own API watch traffic.',
    );
  }

  if (results.targets.length > 0) {
    out.push('');
    out.push('## Targets (issue 6)');
    out.push('');
    out.push('| target | measured | met |');
    out.push('|---|---|---|');
    for (const t of results.targets) out.push(`| ${t.target} | ${t.measured} | ${t.met === null ? 'not evaluated (N or data)' : t.met ? 'yes' : '**no**'} |`);
  }
  if (results.notes.length > 0) {
    out.push('');
    out.push('## Notes');
    out.push('');
    for (const note of results.notes) out.push(`- ${note}`);
  }
  out.push('');
  return out.join('\n');
}

const palette: Record<string, string> = {
  daemonless: '#2f7ed8',
  upstream: '#d9534f',
  raised: '#f0ad4e',
  floor: '#7a7a7a',
};

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Horizontal grouped bars: one group per shape, one bar per system plus the floor; seconds on a linear axis. */
export function svgChart(results: BenchResults): string {
  type Bar = { label: string; color: string; value: number | undefined; note: string };
  const groups: { title: string; bars: Bar[] }[] = [];
  for (const shape of shapes) {
    const bars: Bar[] = [];
    for (const sys of results.systems) {
      const r = sys.shapes.find((x) => x.shape === shape);
      if (!r) continue;
      const value = convergedSeconds(r);
      const vsUp = sys.kind === 'daemonless' ? ratio(value, convergedSeconds(shapeOf(results, 'upstream', shape))) : undefined;
      const note = value === undefined ? cell(r) : `${s1(value)} s${vsUp === undefined ? '' : ` (${vsUp.toFixed(2)}× upstream)`}`;
      bars.push({ label: sys.label, color: palette[sys.kind] ?? '#999', value, note });
    }
    const floor = effectiveFloor(results, shape);
    if (floor !== undefined) {
      bars.push({ label: shape === 'c' ? 'pacing bound' : 'plain-client floor', color: palette['floor']!, value: floor, note: `${s1(floor)} s` });
    }
    if (bars.length > 0) groups.push({ title: `${shapeTitles[shape]} (N = ${results.args.nodes})`, bars });
  }
  const width = 900;
  const left = 190;
  const right = 210;
  const barH = 20;
  const gap = 6;
  const groupGap = 34;
  const top = 56;
  let y = top;
  const parts: string[] = [];
  for (const g of groups) {
    // Each shape on its own axis: (c) takes ten times longer than (a) for every system.
    const max = Math.max(0.001, ...g.bars.map((b) => b.value ?? 0));
    const scale = (v: number) => ((width - left - right) * v) / max;
    parts.push(`<text x="12" y="${y - 8}" font-weight="bold">${esc(g.title)}</text>`);
    for (const b of g.bars) {
      const w = b.value === undefined ? 0 : Math.max(1, scale(b.value));
      parts.push(`<text x="${left - 8}" y="${y + barH - 6}" text-anchor="end">${esc(b.label)}</text>`);
      if (b.value === undefined) {
        parts.push(`<rect x="${left}" y="${y}" width="${width - left - right}" height="${barH}" fill="url(#hatch)" stroke="#bbb"/>`);
        parts.push(`<text x="${left + 6}" y="${y + barH - 6}" fill="#555">${esc(b.note.slice(0, 70))}</text>`);
      } else {
        parts.push(`<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${b.color}"/>`);
        parts.push(`<text x="${(left + w + 6).toFixed(1)}" y="${y + barH - 6}">${esc(b.note)}</text>`);
      }
      y += barH + gap;
    }
    y += groupGap;
  }
  const height = y + 10;
  const title = `Convergence, seconds (shorter is better; each shape on its own scale) — ${results.startedAt.slice(0, 10)}`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="13">`,
    '<defs><pattern id="hatch" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="8" height="8" fill="#f4f4f4"/><line x1="0" y1="0" x2="0" y2="8" stroke="#ddd" stroke-width="3"/></pattern></defs>',
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="12" y="24" font-size="15" font-weight="bold">${esc(title)}</text>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

/** One line per system for progress output. */
export function systemLine(run: SystemRun): string {
  return run.shapes.map((r) => `${r.shape}: ${cell(r)}${r.status === 'converged' ? ' s' : ''}`).join(', ');
}
