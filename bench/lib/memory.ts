/**
 * Peak memory of the two passes that read a whole cluster, in the local Lambda runtime (the built bundles under AWS's
 * Runtime Interface Emulator and the official runtime client, the memory serverless.yml configures):
 *
 *   resync          the resync function, invoked through the Lambda Invoke API with a scheduled event (every
 *                   DaemonSet, every node)
 *   DaemonSet pass  the reconcile function, invoked with an SQS event carrying one DaemonSet hint for the reference
 *                   DaemonSet (what a DaemonSet change or a status follow-up runs)
 *
 * The figure is the invocation's own peak RSS (devcluster/lambda/instance.ts resets VmHWM before each invocation and
 * samples RSS every 20 ms); a cold invocation's includes the runtime's start and the bundle.
 *
 * Two settings:
 *   steady state    on the shapes' cluster after the latency phase: N simulated nodes, 4 DaemonSets, a Ready pod of
 *                   each on every node
 *   bare nodes      a sweep on a fresh cluster: Node objects created directly (no simulator, no kubelet, no Lease)
 *                   up to 100, 1,000 and 5,000, with 4 DaemonSets that do not tolerate the nodes' taint, so no pod is
 *                   created: the passes read every node and plan nothing. What pods would add is the steady state's
 *                   difference at the same N. The sweep's Lambda service stops environments idle for 3 s (and runs
 *                   no scheduled resync), so the first measurement of each pass runs in a fresh environment (runtime
 *                   start + import + the pass), the next one in the same environment right after.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { AppsV1Api, type KubeConfig, type V1DaemonSet, type V1Node } from '@kubernetes/client-node';
import { clientsFor } from '../../devcluster/simulator/client.ts';
import { mapLimit } from '../../devcluster/simulator/limiter.ts';
import { batchId, buildNode, nodeNames } from '../../devcluster/simulator/node-object.ts';
import { SIMULATED_LABEL } from '../../devcluster/simulator/well-known.ts';
import { encodeMessage } from '../../src/queue/message.ts';
import { scrapeLambdaStats } from './lambda-stats.ts';
import { M, NAMESPACE, fixture, fixtureCopy } from './shapes.ts';

export type MemoryPass = 'resync' | 'DaemonSet pass';

export interface MemoryMeasurement {
  pass: MemoryPass;
  setting: 'steady state' | 'bare nodes';
  /** Nodes in the cluster, and pods of the DaemonSets, when measured. */
  nodes: number;
  pods: number;
  daemonSets: number;
  coldStart: boolean;
  /** This invocation's peak RSS, and the execution environment's peak so far (what Lambda reports), MB. */
  peakRssMb: number;
  environmentPeakMb: number;
  memorySizeMb: number;
  durationMs: number;
  billedMs: number;
  outcome: string;
  /** Whether the functions were idle when measured (no queue traffic for a few seconds), see waitQuiet. */
  quiet: boolean;
}

const ReportFields = ['requestId', 'coldStart', 'durationMs', 'billedDurationMs', 'memorySizeMb', 'maxMemoryUsedMb', 'invocationPeakRssMb', 'outcome'] as const;
type Report = { [K in (typeof ReportFields)[number]]: K extends 'requestId' | 'outcome' ? string : K extends 'coldStart' ? boolean : number };

/** Synchronous invocation through the Invoke API; retried while throttled (the resync's reserved concurrency is 1). */
async function invoke(invokeUrl: string, fn: string, payload: unknown): Promise<Report> {
  const end = Date.now() + 120_000;
  for (;;) {
    const response = await fetch(`${invokeUrl}/2015-03-31/functions/${fn}/invocations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-amz-invocation-type': 'RequestResponse' },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(400_000),
    });
    const text = await response.text();
    if (response.status === 429 && Date.now() < end) {
      await sleep(500);
      continue;
    }
    if (!response.ok) throw new Error(`invoke ${fn}: ${response.status} ${text.slice(0, 300)}`);
    const requestId = response.headers.get('x-amzn-requestid') ?? '';
    const reports = (await (await fetch(`${invokeUrl}/_local/reports?function=${fn}`)).json()) as Report[];
    const report = reports.find((r) => r.requestId === requestId);
    if (!report) throw new Error(`invoke ${fn}: no report for request ${requestId}`);
    if (response.headers.get('x-amz-function-error')) report.outcome = `function error: ${text.slice(0, 200)}`;
    return report;
  }
}

const scheduledEvent = () => ({
  version: '0',
  id: `bench-${Date.now()}`,
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  account: '000000000000',
  time: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  region: 'us-east-1',
  resources: ['arn:aws:events:us-east-1:000000000000:rule/daemonless-local-resync'],
  detail: {},
});

/** The event the SQS event source mapping would build for one message carrying `hint`. */
export function sqsEventFor(hint: object, now: number): object {
  return {
    Records: [
      {
        messageId: `bench-${now}`,
        receiptHandle: `bench-${now}`,
        body: encodeMessage([hint as never]),
        attributes: { ApproximateReceiveCount: '1', SentTimestamp: String(now), SenderId: 'bench', ApproximateFirstReceiveTimestamp: String(now) },
        messageAttributes: {},
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:HintsQueue',
        awsRegion: 'us-east-1',
      },
    ],
  };
}

/**
 * Waits until the functions are idle: no message received by the queue's mapping and no invocation for `quietMs`.
 * Resolves false when that did not happen within `timeoutMs` (then the measurement runs beside other work).
 */
export async function waitQuiet(invokeUrl: string, quietMs = 5_000, timeoutMs = 120_000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  const activity = async () => {
    const stats = await scrapeLambdaStats(invokeUrl);
    return Object.values(stats.functions).reduce((s, f) => s + f.invocations, 0) + stats.mappings.reduce((s, m) => s + m.messages, 0);
  };
  let last = await activity();
  let since = Date.now();
  while (Date.now() < end) {
    await sleep(1_000);
    const now = await activity();
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return true;
  }
  return false;
}

/**
 * Measures a resync and a DaemonSet-wide pass of the reference DaemonSet, each `reps` times in a row: in the sweep the
 * first runs in a fresh environment (cold), the next ones in the same environment right after (warm: what the previous
 * pass left in its heap counts, as it does on Lambda).
 */
export async function measurePasses(
  kc: KubeConfig,
  invokeUrl: string,
  setting: MemoryMeasurement['setting'],
  reps: number,
  log: (line: string) => void,
): Promise<MemoryMeasurement[]> {
  const apps = kc.makeApiClient(AppsV1Api);
  const { core } = clientsFor(kc);
  const out: MemoryMeasurement[] = [];
  const context = async (quiet: boolean) => {
    const page = await core.listNode({ limit: 1 });
    const dsList = (await apps.listNamespacedDaemonSet({ namespace: NAMESPACE })).items;
    return {
      reference: dsList.find((d) => d.metadata?.name === fixture().metadata!.name) ?? dsList[0],
      at: {
        setting,
        nodes: page.items.length + (page.metadata?.remainingItemCount ?? 0),
        pods: dsList.reduce((s, d) => s + (d.status?.currentNumberScheduled ?? 0), 0),
        daemonSets: dsList.length,
        quiet,
      },
    };
  };
  const passes: { pass: MemoryPass; payload: (ref: V1DaemonSet) => object; fn: string }[] = [
    { pass: 'resync', fn: 'resync', payload: () => scheduledEvent() },
    {
      pass: 'DaemonSet pass',
      fn: 'reconcile',
      payload: (ref) => sqsEventFor({ kind: 'daemonSet', namespace: NAMESPACE, name: ref.metadata!.name!, uid: ref.metadata!.uid! }, Date.now()),
    },
  ];
  for (const { pass, fn, payload } of passes) {
    const { reference, at } = await context(await waitQuiet(invokeUrl));
    if (!reference) continue;
    for (let i = 0; i < reps; i++) {
      const m = toMeasurement(pass, await invoke(invokeUrl, fn, payload(reference)), at);
      out.push(m);
      log(`  ${setting}, ${at.nodes} nodes: ${pass} ${m.peakRssMb} MB (${m.coldStart ? 'cold' : 'warm'}) in ${m.durationMs.toFixed(0)} ms`);
    }
  }
  return out;
}

function toMeasurement(pass: MemoryPass, r: Report, context: Pick<MemoryMeasurement, 'setting' | 'nodes' | 'pods' | 'daemonSets' | 'quiet'>): MemoryMeasurement {
  return {
    pass,
    ...context,
    coldStart: r.coldStart,
    peakRssMb: r.invocationPeakRssMb,
    environmentPeakMb: r.maxMemoryUsedMb,
    memorySizeMb: r.memorySizeMb,
    durationMs: r.durationMs,
    billedMs: r.billedDurationMs,
    outcome: r.outcome,
  };
}

export const BARE_TAINT = { key: 'bench.daemonless.dev/memory', value: 'true', effect: 'NoSchedule' } as const;

/** Node objects as a kubelet would register them, but not simulated (no Lease, no pods run) and tainted. */
export function bareNode(name: string, now: string): V1Node {
  const node = buildNode(name, { labels: { 'bench.daemonless.dev/batch': 'memory' }, taints: [{ ...BARE_TAINT }] }, now);
  delete node.metadata!.labels![SIMULATED_LABEL];
  return node;
}

export async function addBareNodes(kc: KubeConfig, count: number): Promise<void> {
  const { core } = clientsFor(kc);
  const names = nodeNames('mem', batchId(Date.now(), Math.random()), count);
  await mapLimit(names, 24, async (name) => {
    await core.createNode({ body: bareNode(name, new Date().toISOString()) });
  });
}

/** The sweep on a fresh cluster: 4 DaemonSets, bare nodes added up to each count, both passes measured at each. */
export async function bareNodeSweep(
  kc: KubeConfig,
  invokeUrl: string,
  counts: readonly number[],
  reps: number,
  log: (line: string) => void,
): Promise<MemoryMeasurement[]> {
  const apps = kc.makeApiClient(AppsV1Api);
  await apps.createNamespacedDaemonSet({ namespace: NAMESPACE, body: fixture() });
  for (let i = 0; i < M; i++) await apps.createNamespacedDaemonSet({ namespace: NAMESPACE, body: fixtureCopy(`bench-ds-${i}`) });
  const out: MemoryMeasurement[] = [];
  let have = 0;
  for (const n of [...counts].sort((a, b) => a - b)) {
    const started = performance.now();
    await addBareNodes(kc, n - have);
    log(`  ${n - have} bare nodes added in ${((performance.now() - started) / 1000).toFixed(1)} s (${n} in all)`);
    have = n;
    out.push(...(await measurePasses(kc, invokeUrl, 'bare nodes', reps, log)));
  }
  return out;
}
