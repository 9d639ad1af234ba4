/**
 * The command lines of the control plane's components: pure data built from ports, paths and options, so what a
 * cluster runs with is readable in one place.
 */
import { join } from 'node:path';
import type { ComponentName, NormalizedOptions, Ports } from './options.ts';
import type { LocalPaths } from './paths.ts';
import { type Pki, serviceClusterIpRange } from './pki.ts';

export type { ComponentName };

export interface ComponentSpec {
  readonly name: ComponentName;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** Substrings of the command line that identify our process behind a pid (see processes.isOurProcess). */
  readonly identity: readonly string[];
  /** How long `down` waits after SIGTERM before SIGKILL. */
  readonly stopGraceMs: number;
  readonly port?: number;
}

export interface ComponentContext {
  readonly binDir: string;
  readonly paths: LocalPaths;
  readonly pki: Pki;
  readonly ports: Ports;
  readonly options: NormalizedOptions;
  /** Written by `up` when options.auditWebhook is set. */
  readonly auditKubeconfig?: string;
  readonly controllerManagerKubeconfig: string;
  readonly schedulerKubeconfig: string;
  readonly simulatorEntry: string;
  readonly nodeBinary: string;
}

/** Start order; `down` stops in reverse. */
export const componentOrder: readonly ComponentName[] = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'simulator',
];

export const serviceAccountIssuer = 'https://kubernetes.default.svc.cluster.local';

/**
 * The node lifecycle controller marks a node Unknown (and taints it unreachable) when its Lease or status has not been
 * renewed for this long. Upstream's 50 s default assumes kubelets renewing every 10 s; simulated nodes renew from one
 * Node.js process that may have a thousand of them on 2 busy cores, so we allow more slack. Tests that need a node
 * NotReady flip its Ready condition explicitly (the simulator's `not-ready`), which takes effect within one
 * `--node-monitor-period` (5 s), independent of this grace period.
 */
export const nodeMonitorGracePeriod = '2m';

const loopback = '127.0.0.1';

export function etcd(ctx: ComponentContext): ComponentSpec {
  const client = `http://${loopback}:${ctx.ports.etcdClient}`;
  const peer = `http://${loopback}:${ctx.ports.etcdPeer}`;
  return {
    name: 'etcd',
    command: join(ctx.binDir, 'etcd'),
    args: [
      '--name=daemonless',
      `--data-dir=${ctx.paths.etcdData}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=daemonless=${peer}`,
      // Plain http on loopback: only this machine's users can reach it, and the data is thrown away at `down`.
      // Skipping fsync for the same reason: a crash loses nothing we keep, and CI disks make fsync slow.
      '--unsafe-no-fsync',
      '--log-level=warn',
    ],
    identity: ['etcd', ctx.paths.etcdData],
    stopGraceMs: 10_000,
    port: ctx.ports.etcdClient,
  };
}

export function apiserver(ctx: ComponentContext): ComponentSpec {
  const { pki, options } = ctx;
  const audit =
    ctx.auditKubeconfig && options.auditPolicyFile
      ? [
          `--audit-policy-file=${options.auditPolicyFile}`,
          `--audit-webhook-config-file=${ctx.auditKubeconfig}`,
          // Batches flushed at most 50 ms after the first event. Every step of a rollout waits for an event (a
          // pod gone, a pod Ready), so this wait adds up: 200 ms made a 30-node rollout ~20 % slower. A burst still
          // fills batches (up to 400 events) well before the wait ends.
          '--audit-webhook-mode=batch',
          '--audit-webhook-batch-max-wait=50ms',
          // Upstream waits 10 s before the first retry; our receiver is local, so a restart of it is short.
          '--audit-webhook-initial-backoff=1s',
        ]
      : [];
  return {
    name: 'kube-apiserver',
    command: join(ctx.binDir, 'kube-apiserver'),
    args: [
      `--etcd-servers=http://${loopback}:${ctx.ports.etcdClient}`,
      `--bind-address=${loopback}`,
      `--secure-port=${ctx.ports.apiserver}`,
      `--advertise-address=${loopback}`,
      // A loopback advertise address is refused by the default endpoint reconciler; nothing in the cluster needs the
      // `kubernetes` Service's endpoints.
      '--endpoint-reconciler-type=none',
      `--tls-cert-file=${pki.apiserver.cert}`,
      `--tls-private-key-file=${pki.apiserver.key}`,
      `--client-ca-file=${pki.ca.cert}`,
      '--authorization-mode=Node,RBAC',
      `--service-account-issuer=${serviceAccountIssuer}`,
      `--service-account-key-file=${pki.serviceAccount.publicKey}`,
      `--service-account-signing-key-file=${pki.serviceAccount.privateKey}`,
      `--service-cluster-ip-range=${serviceClusterIpRange}`,
      // DaemonSets are the classic privileged workload (log shippers, CNI agents); kubeadm clusters allow it too.
      '--allow-privileged=true',
      // An alpha PodSpec field (Container.httpGet.protocol) that client-node's generated models do not know: the
      // integration suite proves such a template field reaches the pods and the revision history intact.
      '--feature-gates=H2CContainerProbe=true',
      '--profiling=false',
      ...audit,
    ],
    identity: ['kube-apiserver', ctx.paths.root + '/'],
    // Measured: it can take 20 s or more to drain on SIGTERM.
    stopGraceMs: 30_000,
    port: ctx.ports.apiserver,
  };
}

export function controllerManager(ctx: ComponentContext): ComponentSpec {
  const { pki, options } = ctx;
  return {
    name: 'kube-controller-manager',
    command: join(ctx.binDir, 'kube-controller-manager'),
    args: [
      `--kubeconfig=${ctx.controllerManagerKubeconfig}`,
      `--bind-address=${loopback}`,
      `--secure-port=${ctx.ports.controllerManager}`,
      // What a cluster whose DaemonSet controller is replaced by daemonless runs: every default controller but one.
      `--controllers=${options.upstreamDaemonset ? '*' : '*,-daemonset'}`,
      '--leader-elect=false',
      // Each controller acts as its own service account, as in production clusters (and their RBAC roles apply).
      '--use-service-account-credentials=true',
      `--service-account-private-key-file=${pki.serviceAccount.privateKey}`,
      `--root-ca-file=${pki.ca.cert}`,
      `--cluster-signing-cert-file=${pki.ca.cert}`,
      `--cluster-signing-key-file=${pki.ca.key}`,
      `--service-cluster-ip-range=${serviceClusterIpRange}`,
      `--node-monitor-grace-period=${nodeMonitorGracePeriod}`,
      // Its default is a system folder it would create on the host; keep it inside the cluster's own folder.
      `--flex-volume-plugin-dir=${join(ctx.paths.config, 'flexvolume')}`,
      '--profiling=false',
      ...(options.kcmQps !== null ? [`--kube-api-qps=${options.kcmQps}`] : []),
      ...(options.kcmBurst !== null ? [`--kube-api-burst=${options.kcmBurst}`] : []),
    ],
    identity: ['kube-controller-manager', ctx.paths.root + '/'],
    stopGraceMs: 10_000,
    port: ctx.ports.controllerManager,
  };
}

export function scheduler(ctx: ComponentContext): ComponentSpec {
  return {
    name: 'kube-scheduler',
    command: join(ctx.binDir, 'kube-scheduler'),
    args: [
      `--kubeconfig=${ctx.schedulerKubeconfig}`,
      `--bind-address=${loopback}`,
      `--secure-port=${ctx.ports.scheduler}`,
      '--leader-elect=false',
      '--profiling=false',
    ],
    identity: ['kube-scheduler', ctx.paths.root + '/'],
    stopGraceMs: 10_000,
    port: ctx.ports.scheduler,
  };
}

export function simulator(ctx: Pick<ComponentContext, 'paths' | 'simulatorEntry' | 'nodeBinary'>): ComponentSpec {
  return {
    name: 'simulator',
    command: ctx.nodeBinary,
    args: [ctx.simulatorEntry],
    env: { ...process.env, KUBECONFIG: ctx.paths.kubeconfig, DAEMONLESS_LOCAL_DIR: ctx.paths.root },
    // Every cluster's simulator has the same command line; its environment says which cluster it belongs to.
    identity: [ctx.simulatorEntry, `env:DAEMONLESS_LOCAL_DIR=${ctx.paths.root}`],
    stopGraceMs: 5_000,
  };
}
