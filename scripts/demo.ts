/**
 * `npm run demo [-- --keep] [--nodes N] [--runtime server|lambda] [--managed]`: the README's main command. Brings up the local system (a real control
 * plane whose API server delivers audit events to the daemonless functions, and the node simulator), registers
 * simulated nodes, applies the reference DaemonSet unchanged, and shows a live per-node table while the pods
 * converge. With --managed the cluster is one as EKS gives it (its own DaemonSet controller on, no audit webhook:
 * admission delivers the events) and the reference DaemonSet is applied as a ServerlessDaemonSet, unchanged but for
 * its kind (test/fixtures/fluentd-elasticsearch-sds.yaml). Then it adds a node, deletes a node, fails a pod and taints a node NoExecute, showing each converge, and
 * prints a summary. Everything is torn down at the end unless --keep.
 */
import { openSync, readFileSync, readSync, statSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CoreV1Api, KubeConfig, loadAllYaml, type V1DaemonSet, type V1Node, type V1Pod } from '@kubernetes/client-node';
import { daemonSets } from '../devcluster/daemonsets.ts';
import { addNodes, addTaint, deleteNode, failPod } from '../devcluster/simulator/nodes.ts';
import { repoRoot } from '../devcluster/paths.ts';
import { nodeShouldRunDaemonPod } from '../src/core/eligibility.ts';
import { isSystemUp, startSystem, stopSystem, type Runtime } from '../devcluster/system.ts';

const usage = 'usage: npm run demo -- [--keep] [--nodes N] [--runtime server|lambda] [--managed]\n';
function parse() {
  try {
    return parseArgs({
      options: {
        keep: { type: 'boolean', default: false },
        nodes: { type: 'string', default: '3' },
        runtime: { type: 'string', default: 'server' },
        managed: { type: 'boolean', default: false },
      },
    }).values;
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${usage}`);
    process.exit(2);
  }
}
const values = parse();
const nodeCount = Number(values.nodes);
const runtime = values.runtime as Runtime;
const managed = values.managed;
if (!Number.isInteger(nodeCount) || nodeCount < 1 || !['server', 'lambda'].includes(runtime)) {
  process.stderr.write(usage);
  process.exit(2);
}

const tty = process.stdout.isTTY === true;
const bold = (s: string) => (tty ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string) => (tty ? `\x1b[2m${s}\x1b[0m` : s);
const green = (s: string) => (tty ? `\x1b[32m${s}\x1b[0m` : s);
const say = (s: string) => process.stdout.write(`${s}\n`);
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

const fixturePath = join(repoRoot, 'test', 'fixtures', managed ? 'fluentd-elasticsearch-sds.yaml' : 'fluentd-elasticsearch.yaml');
const fixture = loadAllYaml(readFileSync(fixturePath, 'utf8'))[0] as V1DaemonSet;
const namespace = fixture.metadata!.namespace!;
const dsName = fixture.metadata!.name!;
const selector = Object.entries(fixture.spec!.selector.matchLabels!).map(([k, v]) => `${k}=${v}`).join(',');

say(bold('daemonless demo') + dim(' — DaemonSets reconciled by webhook-triggered functions, on a real local control plane'));
const t0 = Date.now();
// A system already up (`npm run up`, `demo -- --keep`) is used as it is and left running: the demo removes only what
// it added, never the cluster and its data.
const reused = isSystemUp();
const system = await startSystem({ runtime, managed, log: (line) => say(dim(`  ${line}`)) });
say(`system up in ${seconds(Date.now() - t0)}: events flow kube-apiserver → ${managed ? 'admission' : 'audit'} webhook → ${system.functionsUrl}`);
if (managed) say('managed cluster: the built-in DaemonSet controller runs; daemonless reconciles ServerlessDaemonSets');
const logStart = statSync(system.functionsLog).size;

const kc = new KubeConfig();
kc.loadFromFile(system.kubeconfig);
const core = kc.makeApiClient(CoreV1Api);
const kind = daemonSets(kc, managed ? 'managed' : 'native');
if (reused && (await kind.get(namespace, dsName)) !== undefined) {
  process.stderr.write(
    `demo: the running system already has ${kind.kind} ${namespace}/${dsName} (an earlier demo --keep, or applied by hand); ` +
      `the demo applies it itself: delete it (npm run kubectl -- -n ${namespace} delete ${managed ? 'serverlessdaemonsets.daemonless.dev' : 'daemonset'} ${dsName}) ` +
      'or stop the system (npm run down) first\n',
  );
  process.exit(1);
}

interface View {
  nodes: V1Node[];
  pods: V1Pod[];
  converged: boolean;
}

async function look(): Promise<View> {
  const [nodeList, podList, ds] = await Promise.all([
    core.listNode(),
    core.listNamespacedPod({ namespace, labelSelector: selector }),
    kind.get(namespace, dsName),
  ]);
  const nodes = nodeList.items;
  const pods = podList.items;
  // Before the DaemonSet exists, converged means: nodes registered and no daemon pods.
  let converged = ds !== undefined || pods.length === 0;
  for (const node of nodes) {
    const on = pods.filter((p) => p.spec?.nodeName === node.metadata?.name);
    const e = ds ? nodeShouldRunDaemonPod(node, ds) : { shouldRun: false, shouldContinueRunning: false };
    if (e.shouldRun && !(on.length === 1 && ready(on[0]!) && !on[0]!.metadata?.deletionTimestamp)) converged = false;
    if (!e.shouldContinueRunning && on.length > 0) converged = false;
  }
  const names = new Set(nodes.map((n) => n.metadata?.name));
  if (pods.some((p) => !p.spec?.nodeName || !names.has(p.spec.nodeName))) converged = false;
  return { nodes, pods, converged };
}

const ready = (p: V1Pod) => (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

function table(view: View): string[] {
  const rows = [['NODE', 'TAINTS', 'DAEMON POD', 'PHASE', 'READY']];
  for (const node of view.nodes) {
    const name = node.metadata?.name ?? '';
    const taints = (node.spec?.taints ?? []).map((t) => `${t.key.split('/').pop()}:${t.effect}`).join(',') || '-';
    const on = view.pods.filter((p) => p.spec?.nodeName === name);
    if (on.length === 0) rows.push([name, taints, '-', '-', '-']);
    for (const p of on) {
      const phase = p.metadata?.deletionTimestamp ? 'Terminating' : (p.status?.phase ?? '?');
      rows.push([name, taints, p.metadata?.name ?? '', phase, ready(p) ? green('yes') : 'no']);
    }
  }
  for (const p of view.pods.filter((p) => !p.spec?.nodeName)) rows.push(['(unscheduled)', '-', p.metadata?.name ?? '', 'Pending', 'no']);
  const width = (i: number) => Math.max(...rows.map((r) => stripAnsi(r[i] ?? '').length));
  return rows.map((r) => r.map((c, i) => c + ' '.repeat(width(i) - stripAnsi(c).length)).join('  '));
}

// eslint-disable-next-line no-control-regex
const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');

const steps: { name: string; ms: number }[] = [];

/** Runs a change, then redraws the table until the cluster converges (or 60 s pass). */
async function step(name: string, change: () => Promise<unknown>): Promise<void> {
  say('');
  say(bold(`▶ ${name}`));
  const started = Date.now();
  await change();
  let drawn = 0;
  let last = '';
  for (;;) {
    const view = await look();
    const lines = table(view);
    const text = lines.join('\n');
    if (tty) {
      if (drawn > 0) process.stdout.write(`\x1b[${drawn}A\x1b[J`);
      process.stdout.write(`${text}\n`);
      drawn = lines.length;
    } else if (text !== last) {
      say(`${dim(`t+${seconds(Date.now() - started)}`)}\n${text}`);
    }
    last = text;
    if (view.converged) break;
    if (Date.now() - started > 60_000) throw new Error(`"${name}" did not converge within 60 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const ms = Date.now() - started;
  steps.push({ name, ms });
  say(green(`✔ converged in ${seconds(ms)}`));
}

let failure: unknown;
/** The simulated nodes the demo registered and has not deleted. */
let nodes: string[] = [];
try {
  await step(`register ${nodeCount} simulated nodes`, async () => {
    nodes = await addNodes(kc, nodeCount);
  });
  await step(`apply the reference ${kind.kind} unchanged (${namespace}/${dsName})`, () => kind.create(namespace, fixture));
  await step('add a node', async () => nodes.push(...(await addNodes(kc, 1))));
  const gone = nodes.shift()!;
  await step(`delete node ${gone}`, () => deleteNode(kc, gone));
  const victim = (await look()).pods.find((p) => p.spec?.nodeName === nodes[0]);
  await step(`fail pod ${victim?.metadata?.name} (it is replaced)`, () => failPod(kc, namespace, victim!.metadata!.name!));
  await step(`taint node ${nodes[1]} NoExecute (its pod is evicted)`, () =>
    addTaint(kc, nodes[1]!, { key: 'example.com/maintenance', value: 'now', effect: 'NoExecute' }),
  );
} catch (error) {
  failure = error;
}

// What the functions did, from their own log (one JSON line per request and per reconcile).
const size = statSync(system.functionsLog).size - logStart;
const buffer = Buffer.alloc(Math.max(0, size));
const fd = openSync(system.functionsLog, 'r');
readSync(fd, buffer, 0, buffer.length, logStart);
closeSync(fd);
let deliveries = 0;
let hints = 0;
let apiRequests = 0;
let created = 0;
let deleted = 0;
for (const line of buffer.toString('utf8').split('\n')) {
  if (!line.startsWith('{')) continue;
  const entry = JSON.parse(line) as { msg?: string; route?: string; hints?: number; apiRequests?: number; created?: number; deleted?: number };
  if (entry.msg === 'request' && entry.route !== 'healthz') deliveries += 1;
  if (entry.msg === 'reconciled') {
    hints += entry.hints ?? 0;
    apiRequests += entry.apiRequests ?? 0;
    created += entry.created ?? 0;
    deleted += entry.deleted ?? 0;
  }
}

say('');
say(bold('summary'));
const nameWidth = Math.max(0, ...steps.map((s) => s.name.length));
for (const s of steps) say(`  ${s.name.padEnd(nameWidth)}  ${seconds(s.ms)}`);
say(`  webhook deliveries received: ${deliveries}   hints reconciled: ${hints}`);
say(`  API requests made by daemonless: ${apiRequests}   pods created: ${created}   deleted: ${deleted}`);

if (values.keep) {
  say('');
  say(`kept running. Explore: npm run kubectl -- get pods -A -o wide · npm run nodes -- list · stop: npm run down`);
} else if (reused) {
  await kind.delete(namespace, dsName).catch(() => undefined);
  for (const node of nodes) await deleteNode(kc, node).catch(() => undefined);
  say('');
  say('removed the demo\'s DaemonSet and nodes; the system was up before the demo and is left running (stop: npm run down)');
} else {
  await kind.delete(namespace, dsName).catch(() => undefined);
  await stopSystem((line) => say(dim(`  ${line}`)));
}
if (failure) {
  process.stderr.write(`demo failed: ${failure instanceof Error ? failure.message : String(failure)}\n`);
  process.exit(1);
}
