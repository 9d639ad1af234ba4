/**
 * The `lists` phase: what one DaemonSet-wide pass's reads cost in each list encoding (LIST_ENCODING, src/k8s/protobuf.ts),
 * on the cluster the shapes left (every node, and the pods of the bench's namespace: one per node and DaemonSet).
 *
 * Each round lists every node and every pod of the namespace through the reconciler's own Cluster port, once in
 * protobuf and once in JSON, in alternating order; per list it takes the wall time, the bench process's CPU time
 * (where the function's parsing would run) and kube-apiserver's CPU time (its /proc entry). Medians over the rounds,
 * and protobuf ÷ JSON, are the figures.
 */
import { readFileSync } from 'node:fs';
import { ticksOfStat } from './cpu.ts';
import { KubeConfig } from '@kubernetes/client-node';
import { createCluster, type ListEncoding } from '../../src/k8s/cluster.ts';
import { createTransport } from '../../src/k8s/transport.ts';
import { localPaths } from '../../devcluster/paths.ts';
import { readState } from '../../devcluster/state.ts';
import { median } from './stats.ts';

export interface ListCost {
  wallMs: number;
  clientCpuMs: number;
  apiserverCpuMs: number;
}

export interface ListsResult {
  nodes: number;
  pods: number;
  rounds: number;
  /** Medians per round (one list of every node and one of every pod). */
  protobuf: ListCost;
  json: ListCost;
}

/** CPU ms a process has used so far (its /proc stat: utime + stime, in 1/100 s). */
function cpuMsOf(pid: number): number {
  return ticksOfStat(readFileSync(`/proc/${pid}/stat`, 'utf8')) * 10;
}

export async function measureLists(namespace: string, rounds: number, log: (line: string) => void): Promise<ListsResult> {
  const paths = localPaths();
  const apiserver = readState(paths.state)?.components.find((c) => c.name === 'kube-apiserver')?.pid;
  if (!apiserver) throw new Error('lists: no kube-apiserver pid in the state file');
  const kc = new KubeConfig();
  kc.loadFromFile(paths.reconcilerKubeconfig);
  const transport = createTransport(kc, { requestTimeoutMs: 30_000 });
  const clusterIn = (listEncoding: ListEncoding) => createCluster(transport, { deadline: Date.now() + 600_000, listEncoding });
  const samples: Record<ListEncoding, ListCost[]> = { protobuf: [], json: [] };
  let counts = { nodes: 0, pods: 0 };
  const once = async (encoding: ListEncoding) => {
    const cluster = clusterIn(encoding);
    const [wall0, cpu0, api0] = [performance.now(), process.cpuUsage(), cpuMsOf(apiserver)];
    const nodes = await cluster.listNodes();
    const pods = await cluster.listPods(namespace);
    const cpu = process.cpuUsage(cpu0);
    samples[encoding].push({ wallMs: performance.now() - wall0, clientCpuMs: (cpu.user + cpu.system) / 1000, apiserverCpuMs: cpuMsOf(apiserver) - api0 });
    counts = { nodes: nodes.length, pods: pods.length };
  };
  // One unmeasured round of each warms the connection and the code.
  await once('protobuf');
  await once('json');
  samples.protobuf.length = 0;
  samples.json.length = 0;
  for (let i = 0; i < rounds; i++) {
    for (const encoding of i % 2 === 0 ? (['protobuf', 'json'] as const) : (['json', 'protobuf'] as const)) await once(encoding);
  }
  const med = (xs: ListCost[]): ListCost => ({
    wallMs: median(xs.map((x) => x.wallMs)) ?? NaN,
    clientCpuMs: median(xs.map((x) => x.clientCpuMs)) ?? NaN,
    apiserverCpuMs: median(xs.map((x) => x.apiserverCpuMs)) ?? NaN,
  });
  const result = { ...counts, rounds, protobuf: med(samples.protobuf), json: med(samples.json) };
  log(
    `  ${counts.nodes} nodes + ${counts.pods} pods, median of ${rounds}: protobuf ${result.protobuf.wallMs.toFixed(0)} ms wall, ` +
      `${result.protobuf.clientCpuMs.toFixed(0)} ms client CPU, ${result.protobuf.apiserverCpuMs.toFixed(0)} ms kube-apiserver CPU; ` +
      `JSON ${result.json.wallMs.toFixed(0)} / ${result.json.clientCpuMs.toFixed(0)} / ${result.json.apiserverCpuMs.toFixed(0)} ms`,
  );
  return result;
}
