/**
 * `npm run up [-- --nodes N] [--delivery audit|admission|both] [--runtime server|lambda] [--managed] [--upstream-daemonset]`:
 * the whole local system
 * (control plane with event delivery wired to the functions, the functions, the node simulator), left running for
 * people to explore with `npm run kubectl` and `npm run nodes`. `npm run down` stops all of it.
 */
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { addNodes } from '../devcluster/simulator/nodes.ts';
import { startSystem, type Delivery, type Runtime } from '../devcluster/system.ts';

const usage = 'usage: npm run up -- [--nodes N] [--delivery audit|admission|both] [--runtime server|lambda] [--managed] [--upstream-daemonset]\n';
const options = {
  nodes: { type: 'string', default: '0' },
  delivery: { type: 'string' },
  // lambda: the built bundles in the local Lambda runtime (RIE + aws-lambda-ric) behind a local API Gateway.
  runtime: { type: 'string', default: 'server' },
  // Both controllers on apps/v1 DaemonSets, for comparison. Not given: off, even on a cluster running with it (a
  // managed one before), since daemonless replaces it (devcluster/system.ts).
  'upstream-daemonset': { type: 'boolean', default: false },
  // As EKS gives it: the built-in DaemonSet controller on, no audit webhook (admission only), ServerlessDaemonSets.
  managed: { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
} as const;
function usageError(problem: string): never {
  process.stderr.write(`up: ${problem}\n${usage}`);
  process.exit(2);
}
const { values } = (() => {
  try {
    return parseArgs({ options });
  } catch (error) {
    return usageError((error as Error).message);
  }
})();
if (values.help) {
  process.stdout.write(usage);
  process.exit(0);
}
const nodes = Number(values.nodes);
const managed = values.managed;
// A managed cluster has no audit webhook: admission delivers the events.
if (managed && values.delivery !== undefined && values.delivery !== 'admission') usageError(`--managed delivers by admission only, not --delivery ${values.delivery}`);
const delivery = (managed ? 'admission' : (values.delivery ?? 'audit')) as Delivery;
const runtime = values.runtime as Runtime;
if (!Number.isInteger(nodes) || nodes < 0) usageError(`--nodes must be a whole number ≥ 0, got ${values.nodes}`);
if (!['audit', 'admission', 'both'].includes(delivery)) usageError(`--delivery must be audit, admission or both, got ${delivery}`);
if (!['server', 'lambda'].includes(runtime)) usageError(`--runtime must be server or lambda, got ${runtime}`);
const system = await startSystem({ delivery, runtime, managed, upstreamDaemonset: values['upstream-daemonset'] });
if (nodes > 0) {
  const kc = new KubeConfig();
  kc.loadFromFile(system.kubeconfig);
  const names = await addNodes(kc, nodes);
  process.stdout.write(`nodes: ${names.join(' ')}\n`);
}
process.stdout.write(
  [
    `daemonless is up (runtime: ${runtime}${managed ? ', managed: the built-in DaemonSet controller runs, daemonless reconciles ServerlessDaemonSets' : ''}).`,
    `  functions:  ${system.functionsUrl}   (log: ${system.functionsLog})`,
    `  kubeconfig: ${system.kubeconfig}`,
    managed
      ? '  try:        npm run kubectl -- apply -f test/fixtures/fluentd-elasticsearch-sds.yaml'
      : '  try:        npm run kubectl -- apply -f test/fixtures/fluentd-elasticsearch.yaml',
    '              npm run nodes -- add 3 ; npm run kubectl -- get pods -A -o wide',
    '  stop:       npm run down',
    '',
  ].join('\n'),
);
