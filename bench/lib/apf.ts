/**
 * Who made which API request, from the API server's own counters.
 *
 * `apiserver_request_total` has verb/resource/code labels but no client. API Priority and Fairness does classify every
 * request by its user: `apiserver_flowcontrol_dispatched_requests_total{flow_schema, priority_level}`. So the bench
 * installs one FlowSchema per (identity, verb), each sending that identity's requests to the priority level they get
 * anyway (no change in how they are served), and reads per-identity, per-verb counts straight from the API server:
 *
 *   daemonless   user daemonless-reconciler (the functions' client certificate)          → global-default
 *   upstream     service account kube-system/daemon-set-controller (kube-controller-manager
 *                runs with --use-service-account-credentials)                            → workload-high
 *
 * Not attributed to upstream's DaemonSet controller: kube-controller-manager's shared informers (a few long-running
 * LIST+WATCH under the user system:kube-controller-manager, shared by every controller; they are how upstream avoids
 * per-event reads). Everyone else shows up under the default flow schemas (exempt = admin: simulator and this bench;
 * kube-scheduler; kube-controller-manager; kube-system-service-accounts = the other controllers).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { FlowcontrolApiserverV1Api, type KubeConfig, type V1FlowSchema } from '@kubernetes/client-node';
import { httpsGet, type TlsOptions } from '../../devcluster/health.ts';
import { diffBy, parseCounters, type Sample } from './prom.ts';

export const verbs = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'] as const;
export const readVerbs: ReadonlySet<string> = new Set(['get', 'list', 'watch']);

export const identities = {
  daemonless: { subject: { kind: 'User', user: { name: 'daemonless-reconciler' } }, priorityLevel: 'global-default' },
  'daemonset-controller': {
    subject: { kind: 'ServiceAccount', serviceAccount: { namespace: 'kube-system', name: 'daemon-set-controller' } },
    priorityLevel: 'workload-high',
  },
} as const;
export type Identity = keyof typeof identities;

const flowSchemaName = (identity: Identity, verb: string) => `bench-${identity}-${verb}`;

/** Creates the FlowSchemas and waits until the API server has taken them in (their `Dangling` condition is set). */
export async function installFlowSchemas(kc: KubeConfig, timeoutMs = 15_000): Promise<void> {
  const api = kc.makeApiClient(FlowcontrolApiserverV1Api);
  const names: string[] = [];
  for (const [identity, { subject, priorityLevel }] of Object.entries(identities) as [Identity, (typeof identities)[Identity]][]) {
    for (const verb of verbs) {
      const name = flowSchemaName(identity, verb);
      names.push(name);
      const body: V1FlowSchema = {
        apiVersion: 'flowcontrol.apiserver.k8s.io/v1',
        kind: 'FlowSchema',
        metadata: { name, labels: { 'bench.daemonless.dev/accounting': 'true' } },
        spec: {
          // Ahead of kube-controller-manager/kube-scheduler (800), kube-system-service-accounts (900), global-default
          // (9900); behind exempt (1) and system-leader-election (100), which these identities do not hit.
          matchingPrecedence: 300,
          priorityLevelConfiguration: { name: priorityLevel },
          distinguisherMethod: { type: 'ByUser' },
          rules: [
            {
              subjects: [subject as never],
              resourceRules: [{ verbs: [verb], apiGroups: ['*'], resources: ['*'], clusterScope: true, namespaces: ['*'] }],
            },
          ],
        },
      };
      try {
        await api.createFlowSchema({ body });
      } catch (error) {
        if ((error as { code?: number }).code !== 409) throw error;
      }
    }
  }
  const end = Date.now() + timeoutMs;
  for (;;) {
    const list = await api.listFlowSchema({ labelSelector: 'bench.daemonless.dev/accounting=true' });
    const digested = list.items.filter((f) => f.status?.conditions?.some((c) => c.type === 'Dangling'));
    if (digested.length >= names.length) return;
    if (Date.now() > end) throw new Error(`API server did not take in the accounting FlowSchemas within ${timeoutMs} ms`);
    await sleep(200);
  }
}

export interface MetricsSnapshot {
  at: number;
  requests: Sample[];
  dispatched: Sample[];
  /** Histogram sums and counts per flow schema: time queued by APF, time executing. */
  waitSum?: Sample[];
  waitCount?: Sample[];
  execSum?: Sample[];
  execCount?: Sample[];
  /** apiserver_response_sizes_sum: bytes of responses by verb/resource (all clients). */
  responseBytes?: Sample[];
}

const REQUESTS = 'apiserver_request_total';
const DISPATCHED = 'apiserver_flowcontrol_dispatched_requests_total';
const WAIT = 'apiserver_flowcontrol_request_wait_duration_seconds';
const EXEC = 'apiserver_flowcontrol_request_execution_seconds';
const SIZES = 'apiserver_response_sizes_sum';

export async function scrapeMetrics(server: string, tls: TlsOptions): Promise<MetricsSnapshot> {
  const { status, body } = await httpsGet(`${server}/metrics`, tls, 15_000);
  if (status !== 200) throw new Error(`GET /metrics answered ${status}`);
  const names = [REQUESTS, DISPATCHED, `${WAIT}_sum`, `${WAIT}_count`, `${EXEC}_sum`, `${EXEC}_count`, SIZES];
  const c = parseCounters(body, names);
  return {
    at: Date.now(),
    requests: c.get(REQUESTS) ?? [],
    dispatched: c.get(DISPATCHED) ?? [],
    waitSum: c.get(`${WAIT}_sum`) ?? [],
    waitCount: c.get(`${WAIT}_count`) ?? [],
    execSum: c.get(`${EXEC}_sum`) ?? [],
    execCount: c.get(`${EXEC}_count`) ?? [],
    responseBytes: c.get(SIZES) ?? [],
  };
}

export interface IdentityCost {
  reads: number;
  writes: number;
  byVerb: Record<string, number>;
  /** Mean time its requests waited in API Priority and Fairness queues, and executed, in ms (API server's view). */
  meanQueueMs?: number;
  meanExecMs?: number;
  /** Mean executing time by verb, ms. */
  execMsByVerb?: Record<string, number>;
}

export interface ApiCost {
  /** Requests the API server served in the window, all clients (apiserver_request_total). */
  total: number;
  byIdentity: Record<Identity, IdentityCost>;
  /** Every flow schema's dispatched count in the window (the API server's own who-is-who). */
  byFlowSchema: { flowSchema: string; requests: number }[];
  /** All clients, by verb and resource (apiserver_request_total). */
  byVerbResource: { verb: string; resource: string; requests: number }[];
  /** Bytes the API server sent in answer to LIST requests, all clients (apiserver_response_sizes). */
  listResponseBytes?: number;
  /** The same by verb (LIST, GET, …): reads are LIST and GET. */
  responseBytesByVerb?: Record<string, number>;
}

/** What happened between two snapshots of the same API server. Pure. */
export function apiCost(before: MetricsSnapshot, after: MetricsSnapshot): ApiCost {
  const flows = diffBy(before.dispatched, after.dispatched, ['flow_schema']);
  const byIdentity = {} as Record<Identity, IdentityCost>;
  for (const identity of Object.keys(identities) as Identity[]) {
    const cost: IdentityCost = { reads: 0, writes: 0, byVerb: {} };
    for (const verb of verbs) {
      const n = flows.find((f) => f.labels['flow_schema'] === flowSchemaName(identity, verb))?.value ?? 0;
      if (n === 0) continue;
      cost.byVerb[verb] = n;
      if (readVerbs.has(verb)) cost.reads += n;
      else cost.writes += n;
    }
    const ours = (fs: string) => fs.startsWith(`bench-${identity}-`);
    const mean = (sum: Sample[] | undefined, count: Sample[] | undefined, b: Sample[] | undefined, bc: Sample[] | undefined) => {
      if (!sum || !count || !b || !bc) return undefined;
      const total = (rows: { labels: Record<string, string>; value: number }[]) =>
        rows.filter((r) => ours(r.labels['flow_schema'] ?? '')).reduce((x, r) => x + r.value, 0);
      const n = total(diffBy(bc, count, ['flow_schema']));
      return n > 0 ? (1000 * total(diffBy(b, sum, ['flow_schema']))) / n : undefined;
    };
    const queue = mean(after.waitSum, after.waitCount, before.waitSum, before.waitCount);
    const exec = mean(after.execSum, after.execCount, before.execSum, before.execCount);
    if (queue !== undefined) cost.meanQueueMs = queue;
    if (exec !== undefined) cost.meanExecMs = exec;
    if (after.execSum && after.execCount && before.execSum && before.execCount) {
      const sums = diffBy(before.execSum, after.execSum, ['flow_schema']);
      const counts = diffBy(before.execCount, after.execCount, ['flow_schema']);
      const byVerb: Record<string, number> = {};
      for (const verb of verbs) {
        const name = flowSchemaName(identity, verb);
        const n = counts.find((r) => r.labels['flow_schema'] === name)?.value ?? 0;
        const sum = sums.find((r) => r.labels['flow_schema'] === name)?.value ?? 0;
        if (n > 0) byVerb[verb] = (1000 * sum) / n;
      }
      if (Object.keys(byVerb).length > 0) cost.execMsByVerb = byVerb;
    }
    byIdentity[identity] = cost;
  }
  const byVerbResource = diffBy(before.requests, after.requests, ['verb', 'group', 'resource', 'subresource'])
    .filter((r) => r.labels['resource'] !== '')
    .map((r) => ({
      verb: r.labels['verb'] ?? '',
      resource: [r.labels['group'] ? `${r.labels['group']}/` : '', r.labels['resource'], r.labels['subresource'] ? `/${r.labels['subresource']}` : ''].join(''),
      requests: r.value,
    }));
  const bytesByVerb =
    before.responseBytes && after.responseBytes
      ? Object.fromEntries(diffBy(before.responseBytes, after.responseBytes, ['verb']).map((r) => [r.labels['verb'] ?? '', r.value]))
      : undefined;
  const listBytes = bytesByVerb ? (bytesByVerb['LIST'] ?? 0) : undefined;
  return {
    ...(listBytes !== undefined ? { listResponseBytes: listBytes } : {}),
    ...(bytesByVerb ? { responseBytesByVerb: bytesByVerb } : {}),
    total: diffBy(before.requests, after.requests, []).reduce((s, r) => s + r.value, 0),
    byIdentity,
    byFlowSchema: flows.map((f) => ({ flowSchema: f.labels['flow_schema'] ?? '', requests: f.value })),
    byVerbResource,
  };
}
