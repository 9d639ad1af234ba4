/**
 * The systems under test, each on a fresh control plane in the bench's own folder (etcd starts empty every time):
 *
 *   daemonless  devcluster/system.ts startSystem(): control plane + simulator + our functions server, events delivered by
 *               the API server's audit webhook; kube-controller-manager runs without its DaemonSet controller
 *   lambda      startSystem({ runtime: 'lambda' }): the same cluster, the built bundles in the local Lambda runtime
 *               (AWS's Runtime Interface Emulator + the official runtime client, API Gateway v2 in front, ElasticMQ as
 *               SQS, the reconcile function consuming the hints queue), SQS requests counted (sqs-counter.ts)
 *   upstream    devcluster up({ upstreamDaemonset: true }): kube-controller-manager with its DaemonSet controller at the
 *               default client rate limit (QPS 20, burst 30); no audit webhook, no functions
 *   raised      the same with --kube-api-qps/--kube-api-burst raised
 *   plain       neither (only for the floor when no upstream system runs)
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { down, up } from '../../devcluster/controlplane.ts';
import type { TlsOptions } from '../../devcluster/health.ts';
import { localPaths } from '../../devcluster/paths.ts';
import { functionsPort, startSystem, stopSystem } from '../../devcluster/system.ts';
import { lambdaStateDir } from '../../devcluster/lambda/product.ts';
import type { DeliveryName, SystemName } from './args.ts';

export type SystemKind = SystemName | 'plain';

export interface RunningSystem {
  kind: SystemKind;
  /** Column header: "daemonless", "upstream QPS 20", ... */
  label: string;
  kc: KubeConfig;
  server: string;
  tls: TlsOptions;
  /** daemonless (either runtime): the functions' JSON-lines log. */
  functionsLog?: string;
  /** lambda only: the local Lambda service's invoke API (and /_local/stats). */
  lambda?: { invokeUrl: string };
  kcmQps?: number;
  kcmBurst?: number;
  upSeconds: number;
}

/** The label's mark of events delivered by the admission webhook instead of the audit webhook. */
const byAdmission = (delivery: DeliveryName | undefined): string => (delivery === 'admission' ? ' (admission)' : '');

export const UPSTREAM_DEFAULT_QPS = 20;
export const UPSTREAM_DEFAULT_BURST = 30;

export async function startBenchSystem(
  kind: SystemKind,
  options: { qps?: number; burst?: number; delivery?: DeliveryName; log: (line: string) => void },
): Promise<RunningSystem> {
  const started = performance.now();
  const paths = localPaths();
  let functionsLog: string | undefined;
  let lambda: RunningSystem['lambda'];
  let label: string;
  let kcmQps: number | undefined;
  let kcmBurst: number | undefined;
  if (kind === 'daemonless') {
    const system = await startSystem({ port: functionsPort(), log: options.log, functionsEnv: { LOG_LEVEL: 'info' }, delivery: options.delivery });
    functionsLog = system.functionsLog;
    label = `daemonless-server${byAdmission(options.delivery)}`;
  } else if (kind === 'lambda') {
    // The SQS counter of the local Lambda service (its /_local/stats): queue requests per event, for the cost model.
    process.env.DAEMONLESS_LAMBDA_SQS_STATS = '1';
    const functionsEnv: Record<string, string> = { LOG_LEVEL: 'info' };
    // V8's heap sizes: the bootstrap's, from each function's memory size (devcluster/lambda/bootstrap.ts).
    const system = await startSystem({ runtime: 'lambda', port: functionsPort(), log: options.log, functionsEnv, delivery: options.delivery });
    functionsLog = system.functionsLog;
    lambda = { invokeUrl: readLambdaInvokeUrl() };
    label = `daemonless-lambda${byAdmission(options.delivery)}`;
  } else if (kind === 'plain') {
    await up({ log: options.log });
    label = 'plain (no DaemonSet controller)';
  } else {
    kcmQps = kind === 'raised' ? options.qps : undefined;
    kcmBurst = kind === 'raised' ? options.burst : undefined;
    await up({ upstreamDaemonset: true, kcmQps, kcmBurst, log: options.log });
    label = `upstream QPS ${kcmQps ?? UPSTREAM_DEFAULT_QPS}/${kcmBurst ?? UPSTREAM_DEFAULT_BURST}`;
  }
  const kc = new KubeConfig();
  kc.loadFromFile(paths.kubeconfig);
  const server = kc.getCurrentCluster()?.server ?? '';
  const tls: TlsOptions = {
    ca: readFileSync(join(paths.pki, 'ca.crt')),
    cert: readFileSync(join(paths.pki, 'admin.crt')),
    key: readFileSync(join(paths.pki, 'admin.key')),
  };
  return {
    kind,
    label,
    kc,
    server,
    tls,
    ...(functionsLog ? { functionsLog } : {}),
    ...(lambda ? { lambda } : {}),
    ...(kcmQps !== undefined ? { kcmQps } : {}),
    ...(kcmBurst !== undefined ? { kcmBurst } : {}),
    upSeconds: (performance.now() - started) / 1000,
  };
}

/** The running local Lambda service's invoke API, from the ready file it writes in the bench's folder. */
function readLambdaInvokeUrl(): string {
  const file = join(lambdaStateDir(localPaths()), 'ready.json');
  if (!existsSync(file)) throw new Error(`the local Lambda service wrote no ${file}`);
  const ready = JSON.parse(readFileSync(file, 'utf8')) as { invokeUrl?: string };
  if (!ready.invokeUrl) throw new Error(`${file} names no invoke URL`);
  return ready.invokeUrl;
}

/** Stops whatever runs in the bench's folder (functions server, then the control plane). Safe when nothing runs. */
export async function stopBenchSystem(log: (line: string) => void): Promise<void> {
  await stopSystem(log);
  // stopSystem ends with the control plane's down(); a second down() is a no-op unless stopSystem failed half-way.
  await down({ log });
}
