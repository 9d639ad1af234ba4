/** The human-readable outputs: a Markdown summary (also printed) and a hand-written SVG bar chart. Pure. */
import type { CostModel } from './cost.ts';
import { cpuGroups, localCloudGroups } from './cpu.ts';
import type { MemoryMeasurement } from './memory.ts';
import {
  convergedSeconds,
  daemonlessOverloaded,
  effectiveFloor,
  fmtRecord,
  identityOf,
  isDaemonless,
  minReadyBoundSeconds,
  perEventRows,
  shapeOf,
  shapeTitles,
  type BenchResults,
  type SystemRun,
} from './results.ts';
import type { ShapeName, ShapeResult } from './shapes.ts';
import type { SystemKind } from './systems.ts';
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
  const raised = results.systems.find((s) => s.kind === 'raised');
  const n = results.args.nodes;
  const runtimes = results.systems.some((x) => x.kind === 'lambda') ? ' (local server and Lambda runtimes)' : '';
  out.push(`# daemonless${runtimes} vs the upstream DaemonSet controller — ${n} nodes`);
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
  out.push(...convergenceTable(results));
  const join = results.systems.flatMap((x) => x.shapes).find((r) => r.shape === 'b');
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
      const against = results.systems
        .filter((x) => x.kind !== 'raised')
        .map((x) => `${x.label} ${times(ratio(convergedSeconds(x.shapes.find((r) => r.shape === 'c')), pacing.seconds))}`);
      out.push('');
      out.push(
        `(c) is paced, not throughput-bound: maxUnavailable 10 % means ${pacing.rounds} rounds, each waiting for the simulator to complete the old pods' ` +
          `deletion and report the new ones Ready (${pacing.perRoundMs} ms), so no system can finish in less than ≈ ${s1(pacing.seconds)} s; ` +
          `the write floor does not apply. Against that bound: ${against.join(', ')}.`,
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
      const id = w.cost.byIdentity[identityOf(sys.kind)];
      const f = w.functions;
      const durations = f?.auditDurationsMs ?? [];
      const meanMs = durations.length ? durations.reduce((x, y) => x + y, 0) / durations.length : undefined;
      const fn = w.lambda
        ? `${fmtRecord(w.lambda.invocations, 0)} invocations (${Object.values(w.lambda.coldStarts).reduce((x, y) => x + y, 0)} cold` +
          `${w.lambda.errors > 0 ? `, ${w.lambda.errors} failed${w.lambda.memoryKills ? ` of which ${w.lambda.memoryKills} killed at the memory limit` : ''}` : ''}), ` +
          `${w.lambda.messagesReceived} queue messages in ${w.lambda.batches} batches, ${f?.reconciles ?? 0} reconciles, ${f?.apiRequests ?? 0} requests`
        : f
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
      const id = r.window?.cost.byIdentity[identityOf(sys.kind)];
      if (id?.execMsByVerb) {
        execLines.push(`${r.shape}, ${sys.label}: ${Object.entries(id.execMsByVerb).map(([v, x]) => `${v} ${x.toFixed(0)}`).join(', ')}`);
      }
    }
  }
  if (execLines.length > 0) {
    out.push('');
    out.push(`Mean time the API server spent executing the controller's requests, ms by verb (APF execution histogram): ${execLines.join('; ')}.`);
  }
  out.push(...cpuSection(results));
  out.push(...perEventSection(results));
  const latencyRuns = results.systems.filter((x) => x.latency || x.soloLatency);
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
    out.push('| system | DaemonSets | pods | node create → pod p50 / p95 / p99 | schedulable → pod p50 / p95 / p99 | node create → last pod p50 / p95 | missing |');
    out.push('|---|---:|---:|---|---|---|---:|');
    for (const l of latencyRuns.flatMap((x) => [x.soloLatency, x.latency].filter(Boolean).map((lat) => ({ sys: x, lat: lat! })))) {
      const c = l.lat.createToPod;
      const e = l.lat.eligibleToPod;
      const last = l.lat.createToLastPod;
      out.push(
        `| ${l.sys.label} | ${l.lat.podsPerNode} | ${c?.n ?? 0} | ${ms(c?.p50)} / ${ms(c?.p95)} / ${ms(c?.p99)} | ${ms(e?.p50)} / ${ms(e?.p95)} / ${ms(e?.p99)} | ` +
          `${ms(last?.p50)} / ${ms(last?.p95)} | ${l.lat.missing} |`,
      );
    }
  }

  const minReadyRuns = results.systems.filter((x) => x.minReady);
  if (minReadyRuns.length > 0) {
    out.push('');
    out.push('## Rollout paced by minReadySeconds');
    out.push('');
    out.push(
      'A DaemonSet on 5 nodes of its own, RollingUpdate maxUnavailable 1, minReadySeconds 10, its pods available before the edit: ' +
        'seconds from the image edit until every pod runs the new image and is Ready. Each step waits until the previous new pod has been ' +
        'Ready for minReadySeconds; upstream re-queues the DaemonSet after the exact remaining time, daemonless with a timer (server) or a ' +
        'delayed queue message (Lambda). The bound: every step but the last waits minReadySeconds (the measurement ends when the last new pod is Ready).',
    );
    out.push('');
    out.push('| system | nodes | minReadySeconds | outcome | seconds | bound s | × upstream |');
    out.push('|---|---:|---:|---|---:|---:|---:|');
    const up = results.systems.find((x) => x.kind === 'upstream')?.minReady;
    for (const x of minReadyRuns) {
      const m = x.minReady!;
      const vs = m.status === 'converged' && up?.status === 'converged' ? m.seconds / up.seconds : undefined;
      out.push(`| ${x.label} | ${m.nodes} | ${m.minReadySeconds} | ${m.status}${m.error ? ` (${m.error})` : ''} | ${m.seconds.toFixed(1)} | ${minReadyBoundSeconds(m)} | ${times(vs)} |`);
    }
  }

  const lists = results.systems.find((x) => x.lists)?.lists;
  if (lists) {
    out.push('');
    out.push('## List encoding');
    out.push('');
    out.push(
      `What a DaemonSet-wide pass reads, in each encoding (\`LIST_ENCODING\`): every node (${lists.nodes}) and every pod of the bench's namespace ` +
        `(${lists.pods}), listed through the reconciler's own Cluster port in pages of 500, protobuf and JSON alternately, ${lists.rounds} rounds; ` +
        'medians per round. Client CPU is the bench process (where the function would parse); kube-apiserver CPU is its own process (/proc).',
    );
    out.push('');
    out.push('| encoding | wall ms | client CPU ms | kube-apiserver CPU ms |');
    out.push('|---|---:|---:|---:|');
    for (const [name, c] of [['protobuf', lists.protobuf], ['JSON', lists.json]] as const) {
      out.push(`| ${name} | ${c.wallMs.toFixed(0)} | ${c.clientCpuMs.toFixed(0)} | ${c.apiserverCpuMs.toFixed(0)} |`);
    }
    const r = (a: number, b: number) => times(b > 0 ? a / b : undefined);
    out.push(`| protobuf ÷ JSON | ${r(lists.protobuf.wallMs, lists.json.wallMs)} | ${r(lists.protobuf.clientCpuMs, lists.json.clientCpuMs)} | ${r(lists.protobuf.apiserverCpuMs, lists.json.apiserverCpuMs)} |`);
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
        '"above floor" compares the time beyond `node -e 0`. Functions without an HTTP route (reconcile, resync, auditlogs): process start → bundle ' +
        'imported. The route secrets are given in the environment (a deployment reads them from SSM at cold start: one more request, not measured).',
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

  out.push(...memorySection(results));
  for (const model of results.costModels ?? []) out.push(...costSection(model, daemonlessOverloaded(results)));
  if (results.costModel && !results.costModels) {
    out.push('', '## Cost model', '', 'This run predates the per-runtime cost model (bench/lib/cost.ts); see its JSON, or run the bench again.');
  }

  if (results.targets.length > 0) {
    out.push('');
    out.push('## Targets (issues 6, 9 and 11)');
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
  lambda: '#5cb85c',
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
      const vsUp = isDaemonless(sys.kind) ? ratio(value, convergedSeconds(shapeOf(results, 'upstream', shape))) : undefined;
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

const systemOrder: SystemKind[] = ['daemonless', 'lambda', 'upstream', 'raised'];

/**
 * One column per system that ran (local server, Lambda runtime, upstream, upstream raised), the floor, then ratios:
 * each daemonless runtime against upstream (and the server against raised and the floor, as before), and the Lambda
 * runtime against the local server.
 */
export function convergenceTable(results: BenchResults): string[] {
  const n = results.args.nodes;
  const present = systemOrder.map((k) => results.systems.find((x) => x.kind === k)).filter((x): x is SystemRun => x !== undefined);
  const server = present.find((x) => x.kind === 'daemonless');
  const lambda = present.find((x) => x.kind === 'lambda');
  const upstream = present.find((x) => x.kind === 'upstream');
  const raised = present.find((x) => x.kind === 'raised');
  const ratios: { title: string; of: (shape: ShapeName) => number | undefined }[] = [];
  const sec = (kind: SystemKind, shape: ShapeName) => convergedSeconds(shapeOf(results, kind, shape));
  for (const d of [server, lambda].filter((x): x is SystemRun => x !== undefined)) {
    if (upstream) ratios.push({ title: `${d.label} ÷ upstream`, of: (s) => ratio(sec(d.kind, s), sec('upstream', s)) });
  }
  if (server && lambda) ratios.push({ title: 'lambda ÷ server', of: (s) => ratio(sec('lambda', s), sec('daemonless', s)) });
  const main = server ?? lambda;
  if (main && raised) ratios.push({ title: `${main.label} ÷ raised`, of: (s) => ratio(sec(main.kind, s), sec('raised', s)) });
  if (main && results.floor) ratios.push({ title: `${main.label} ÷ floor`, of: (s) => ratio(sec(main.kind, s), effectiveFloor(results, s)) });
  const out: string[] = [];
  if (!present.some((x) => x.shapes.length > 0)) return ['No shape was run.'];
  const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
  out.push(row(['shape', 'N', 'pod writes', ...present.map((x) => x.label), 'plain-client floor', ...ratios.map((r) => r.title)]));
  out.push(`|---|${['N', 'writes', ...present, 'floor', ...ratios].map(() => '---:|').join('')}`);
  for (const shape of shapes) {
    const runs = present.map((x) => x.shapes.find((r) => r.shape === shape));
    if (runs.every((r) => r === undefined)) continue;
    const floor = effectiveFloor(results, shape);
    const writes = results.floor?.writes[shape] ?? (shape === 'b' ? 3 * n : shape === 'a' ? n : 2 * n);
    const floorCell =
      floor === undefined ? '–' : shape === 'c' && results.floor?.rolloutPacing ? `${s1(floor)} (paced; writes ${s1(results.floor.seconds.c)})` : s1(floor);
    const nodes = runs.find((r) => r !== undefined)?.nodes ?? n;
    out.push(row([shapeTitles[shape], String(nodes), String(writes), ...runs.map(cell), floorCell, ...ratios.map((r) => times(r.of(shape)))]));
  }
  return out;
}

const f1 = (x: number | undefined) => (x === undefined ? '–' : x.toFixed(1));

/**
 * What one event costs in each system: warm joins with 1 and 4 DaemonSets, a DaemonSet change that changes no pod,
 * and an image rollout per node; invocations by function, cold starts, billed time, queue messages and SQS requests,
 * API requests (the API server's count for the system's identity), bytes read (all clients), and the functions' own
 * count of their requests by kind.
 */
export function perEventSection(results: BenchResults): string[] {
  const rows = perEventRows(results);
  if (rows.length === 0) return [];
  const out: string[] = [''];
  out.push('## Per event');
  out.push('');
  out.push(
    'Everything one event causes, divided by the number of events in the window (joins, changes, or nodes for the rollout); the window closes a few ' +
      'seconds after the last event, so trailing status passes are counted. Invocations: in the Lambda runtime the local Lambda service\'s count by ' +
      'function (HTTP intake through API Gateway, `reconcile` from the queue); in the local server its HTTP deliveries and in-process reconciles. ' +
      'Queue: messages sent (SendMessage) and received by the event source mapping, and every SQS request (sends, long-poll receives, deletes). API ' +
      'requests: the API server\'s count for the system\'s identity (APF FlowSchemas). Bytes read: LIST and GET response bytes of all clients ' +
      '(`apiserver_response_sizes`; upstream reads from its informers\' watch instead, not counted there).',
  );
  out.push('');
  out.push('| event | system | invocations / event | cold starts | billed ms | queue msgs sent / received | SQS requests (billed) | API reads / writes | by verb | LIST+GET MiB (all clients) |');
  out.push('|---|---|---|---:|---:|---:|---:|---:|---|---:|');
  for (const r of rows) {
    const total = Object.entries(r.invocations)
      .filter(([fn]) => !fn.startsWith('reconciles'))
      .reduce((s, [, x]) => s + x, 0);
    const inv = isDaemonless(r.system.kind) ? `${total.toFixed(2)} (${fmtRecord(r.invocations, 2)})` : '– (always running)';
    out.push(
      `| ${r.event} | ${r.system.label} | ${inv} | ${r.system.kind === 'lambda' ? r.coldStarts.toFixed(2) : '–'} | ${f1(r.billedMs)} | ` +
        `${r.queue ? `${r.queue.sent.toFixed(2)} / ${r.queue.received.toFixed(2)}` : '–'} | ${r.queue ? `${r.queue.requests.toFixed(2)} (${r.queue.billedRequests.toFixed(2)})` : '–'} | ` +
        `${r.reads.toFixed(1)} / ${r.writes.toFixed(1)} | ${fmtRecord(r.byVerb)} | ${r.readMiB === undefined ? '–' : r.readMiB.toFixed(3)} |`,
    );
  }
  const kinds = rows.filter((r) => Object.keys(r.requestsByKind).length > 0);
  if (kinds.length > 0) {
    out.push('');
    out.push(
      'The functions\' own count of their API requests by kind (their `reconciled` log lines; the API server\'s count above also has the Leases ' +
        'that rate-limit status passes and what the intake reads), per event:',
    );
    out.push('');
    out.push('| event | system | requests by kind, per event |');
    out.push('|---|---|---|');
    for (const r of kinds) out.push(`| ${r.event} | ${r.system.label} | ${fmtRecord(r.requestsByKind, 2)} |`);
  }
  const billed = rows.filter((r) => r.billedMsByFunction);
  if (billed.length > 0) {
    out.push('');
    out.push(`Billed ms per event by function (Lambda runtime): ${billed.map((r) => `${r.event}: ${fmtRecord(r.billedMsByFunction!, 1)}`).join('; ')}.`);
  }
  return out;
}

function memoryRows(measurements: readonly MemoryMeasurement[]): string[] {
  return measurements.map(
    (m) =>
      `| ${m.setting} | ${m.nodes.toLocaleString('en-US')} | ${m.pods.toLocaleString('en-US')} | ${m.pass} | **${m.peakRssMb}** | ` +
        `${((100 * m.peakRssMb) / m.memorySizeMb).toFixed(0)} % of ${m.memorySizeMb} | ${m.environmentPeakMb} | ${m.coldStart ? 'cold' : 'warm'} | ` +
        `${m.durationMs.toFixed(0)} | ${m.outcome}${m.quiet ? '' : ' (functions busy)'} |`,
  );
}

/** Peak RSS of a resync and a DaemonSet-wide pass under the RIE: steady state of the run, and the bare-node sweep. */
export function memorySection(results: BenchResults): string[] {
  const steady = results.systems.flatMap((x) => x.memory ?? []);
  const sweep = results.memorySweep ?? [];
  if (steady.length === 0 && sweep.length === 0) return [];
  const out: string[] = ['', '## Memory of a whole-cluster pass (Lambda runtime)', ''];
  out.push(
    'Peak resident memory of one invocation of the built bundle under AWS\'s Runtime Interface Emulator and the official runtime client, at the ' +
      'memory serverless.yml configures: the resync (scheduled event through the Invoke API) and the reconcile function with one DaemonSet hint (a ' +
      'DaemonSet-wide pass of the reference DaemonSet). The kernel\'s peak RSS (VmHWM) is reset before each invocation; a cold invocation includes ' +
      'the runtime\'s start and the import. "steady state": the run\'s cluster after the latency phase (simulated nodes, a Ready pod of each of the 4 ' +
      'DaemonSets on every node; its environments warm, their memory what earlier work left). "bare nodes": a fresh cluster, Node objects ' +
      'created directly (no simulator), tainted so that none of the 4 DaemonSets places a pod: the pass reads every node and plans nothing; ' +
      'each pass first in a fresh environment (cold), then again in the same one (warm: what the first left in the heap counts, as on Lambda). ' +
      '"functions busy": the intake was still working off the nodes\' own events (one audit delivery per node create) when measured.',
  );
  const heap = results.args.lambdaHeapMb;
  out.push('');
  out.push(
    heap === undefined
      ? 'The functions ran as the nodejs22.x bootstrap starts them: V8\'s heap sized from the memory on node\'s command line (at 256 MB ' +
          '`--max-semi-space-size=12 --max-old-space-size=231`), and serverless.yml\'s `DAEMONLESS_V8_FLAGS` through its exec wrapper ' +
          '(reconcile: 4 MB semi-spaces, resync: 2 MB; devcluster/lambda/bootstrap.ts).'
      : `The functions ran with NODE_OPTIONS=--max-old-space-size=${heap}: V8's heap limit as Node 22 sizes it inside a 256 MB memory cgroup ` +
          '(259 MB), as in a 256 MB Lambda environment; without it V8 takes its default for this machine (≈ 4 GB) and lets garbage pile up.',
  );
  out.push('');
  out.push('| setting | nodes | DaemonSet pods | pass | peak RSS MB | of configured | environment peak MB | start | duration ms | outcome |');
  out.push('|---|---:|---:|---|---:|---:|---:|---|---:|---|');
  out.push(...memoryRows(steady), ...memoryRows(sweep));
  return out;
}

const usd = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x >= 0.001 || x === 0 ? x.toFixed(3) : x.toPrecision(2));

export function costSection(model: CostModel, overloaded: boolean): string[] {
  const i = model.inputs;
  const out: string[] = ['', `## Cost model — ${i.source.split(':')[0]} (a model, not a bill)`, ''];
  out.push(
    `${i.source}. Prices: us-east-1 list prices as of 2026 (bench/lib/cost.ts, docs/benchmarks.md): Lambda arm64 $0.0000133334 per GB-s and ` +
      '$0.20 per million requests, SQS standard $0.40 per million requests, API Gateway HTTP API $1.00 per million. Durations come from a loaded ' +
      '2-core machine with the API server on the same cores; Lambda arm64 will differ.' +
      (i.coldStart
        ? ` A cold invocation adds ${i.coldStart.extraBilledMs.toFixed(0)} billed ms${i.coldStart.basis ? ` (${i.coldStart.basis})` : ''}; INIT is billed since ` +
          '2025-08. Cold starts here come in bursts on 2 loaded cores (shape (b) starts several environments at once): the "every invocation cold" ' +
          'column is a pessimistic bound.'
        : ''),
  );
  if (overloaded) {
    out.push('', '**Caution:** a daemonless runtime did not converge in every shape of this run; read these figures with that in mind.');
  }
  out.push('');
  out.push('| per million events | invocations / event | Lambda requests | Lambda duration | SQS | API Gateway | total, warm | total, every invocation cold |');
  out.push('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const e of model.events) {
    const p = e.perMillion;
    out.push(
      `| ${e.label} | ${e.invocationsPerEvent.toFixed(2)} | ${usd(p.lambdaRequests)} | ${usd(p.lambdaDuration)} | ${usd(p.sqs)} | ${usd(p.apiGateway)} | ` +
        `**${usd(p.total)}** | ${usd(e.perMillionAllCold)} |`,
    );
  }
  const ex = i.example;
  const fixed = model.fixedPerMonth;
  out.push('');
  out.push(
    `Per month whatever happens: the resync every 5 minutes ${i.resync ? `(${i.resync.billedMs.toFixed(0)} billed ms at ${i.resync.nodes.toLocaleString('en-US')} nodes, measured) ` : '(not measured here) '}` +
      `$${usd(fixed.resync)}, the idle queue's long polls (5 pollers, 20 s receives) $${usd(fixed.sqsIdlePolling)}.`,
  );
  out.push('');
  out.push(
    `Example: a ${ex.nodes.toLocaleString('en-US')}-node cluster replacing 10 % of its nodes a day (${ex.nodeEventsPerMonth.toLocaleString('en-US')} node events a month, ` +
      `each priced as a "${ex.nodeEvent}") and ${ex.daemonSetChangesPerMonth} DaemonSet changes a month: **$${usd(model.example.total)} a month** ` +
      `($${usd(model.example.nodeEvents)} node events, $${usd(model.example.changes)} changes, $${usd(model.example.fixed)} fixed; ` +
      `$${usd(model.example.totalAllCold)} if every invocation were cold). Always on instead: a controller pod of 0.1 vCPU / 128 MiB on a node the ` +
      `cluster runs anyway $${usd(model.alwaysOn.podShareOnNodePerMonth)} a month, the smallest Fargate task (0.25 vCPU / 0.5 GB arm64) ` +
      `$${usd(model.alwaysOn.fargateMinTaskPerMonth)}. Break-even with the pod share: ≈ ${Number.isFinite(model.breakEvenNodeEventsPerMonthVsPod) ? Math.round(model.breakEvenNodeEventsPerMonthVsPod).toLocaleString('en-US') : '∞'} ` +
      'node events a month (warm). Not modelled: data transfer, CloudWatch Logs, the always-on controller\'s own API watch traffic.',
  );
  return out;
}


/** CPU seconds by component during each shape's window (bench/lib/cpu.ts); empty when no window measured it. */
export function cpuSection(results: BenchResults): string[] {
  const rows = results.systems.flatMap((sys) => sys.shapes.filter((r) => r.window?.cpu).map((r) => ({ sys, r, cpu: r.window!.cpu! })));
  if (rows.length === 0) return [];
  const groups = cpuGroups.filter((g) => rows.some(({ cpu }) => (cpu[g] ?? 0) > 0));
  const cores = results.machine.cpus;
  const out: string[] = [''];
  out.push(
    `CPU seconds each component used during the shape's window (user + system, /proc; the same window as the API requests). ` +
      `"Busy" is all of it against the window's wall time × ${cores} cores. "Local AWS" is the local Lambda service, the Runtime Interface ` +
      'Emulators and ElasticMQ: stand-ins whose CPU Amazon\'s services would not take from the API server\'s machine.',
  );
  out.push('');
  out.push(`| shape | system | window s | ${groups.join(' | ')} | busy | local AWS |`);
  out.push(`|---|---|---:|${groups.map(() => '---:').join('|')}|---:|---:|`);
  for (const shape of shapes) {
    for (const { sys, r, cpu } of rows.filter((x) => x.r.shape === shape)) {
      const seconds = r.window!.seconds;
      const total = Object.values(cpu).reduce((x, y) => x + (y ?? 0), 0);
      const local = localCloudGroups.reduce((x, g) => x + (cpu[g] ?? 0), 0);
      const pct = (x: number) => `${Math.round((x / (seconds * cores)) * 100)} %`;
      out.push(
        `| ${shape} | ${sys.label} | ${seconds.toFixed(1)} | ${groups.map((g) => (cpu[g] ?? 0).toFixed(1)).join(' | ')} | ${pct(total)} | ${local > 0 ? pct(local) : '–'} |`,
      );
    }
  }
  return out;
}
