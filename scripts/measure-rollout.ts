/**
 * Measures one rollout's cost on the local system (`npm run up` first, or it is started and stopped here):
 * `node scripts/measure-rollout.ts [--nodes 5]`. Prints the rollout time, the events the API server delivered, the
 * reconciles they caused and the API requests daemonless made, from the functions' own log. Figures in docs/rollout.md.
 */
import { readFileSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { AppsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { addNodes, deleteNode } from '../devcluster/simulator/nodes.ts';
import { RUN_LABEL, testDaemonSet, waitConverged } from '../test/support/daemon.ts';
import { createNamespace, deleteNamespace, waitFor } from '../test/support/cluster.ts';
import { isSystemUp, startSystem, stopSystem } from '../devcluster/system.ts';

const { values } = parseArgs({ options: { nodes: { type: 'string', default: '5' } } });
const count = Number(values.nodes);
const wasUp = isSystemUp();
const system = await startSystem({ log: () => {} });
const kc = new KubeConfig();
kc.loadFromFile(system.kubeconfig);
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const run = `measure-${Date.now().toString(36)}`;
const ns = await createNamespace(core);
const nodes = await addNodes(kc, count, { labels: { [RUN_LABEL]: run } });
try {
  await apps.createNamespacedDaemonSet({ namespace: ns, body: testDaemonSet(ns, 'm', run) });
  await waitConverged(core, ns, 'app=m', nodes, 60_000);
  await new Promise((r) => setTimeout(r, 2_000)); // let follow-ups settle before counting
  const start = statSync(system.functionsLog).size;
  const t0 = Date.now();
  const ds = await apps.readNamespacedDaemonSet({ namespace: ns, name: 'm' });
  ds.spec!.template.spec!.containers[0]!.image = 'registry.example/agent:2.0';
  await apps.replaceNamespacedDaemonSet({ namespace: ns, name: 'm', body: ds });
  await waitFor(
    'rollout done',
    async () => [...(await waitConverged(core, ns, 'app=m', nodes, 1_000)).values()].every((p) => p.spec?.containers[0]?.image?.endsWith(':2.0')),
    { timeoutMs: 30_000 + count * 5_000 },
  );
  const seconds = (Date.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 1_500));
  const lines = readFileSync(system.functionsLog)
    .subarray(start)
    .toString()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg: string; route?: string; apiRequests?: number; created?: number; deleted?: number });
  const deliveries = lines.filter((l) => l.msg === 'request' && l.route === 'audit').length;
  const reconciles = lines.filter((l) => l.msg === 'reconciled');
  const sum = (k: 'apiRequests' | 'created' | 'deleted') => reconciles.reduce((a, l) => a + (l[k] ?? 0), 0);
  const apiRequests = sum('apiRequests');
  process.stdout.write(
    `${JSON.stringify({ nodes: count, rolloutSeconds: seconds, deliveries, reconciles: reconciles.length, apiRequests, perDelivery: +(apiRequests / Math.max(1, deliveries)).toFixed(1), created: sum('created'), deleted: sum('deleted') })}\n`,
  );
} finally {
  await deleteNamespace(core, ns);
  for (const node of nodes) await deleteNode(kc, node);
  if (!wasUp) await stopSystem(() => {});
}
