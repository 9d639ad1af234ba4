/**
 * Options of `up`, their defaults, the normalized form stored in state.json, and the rule that decides what an `up`
 * on an existing control plane changes (docs/devcluster.md).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { defaultAuditPolicyFile } from './paths.ts';

export interface AuditWebhook {
  /**
   * Where kube-apiserver POSTs `audit.k8s.io/v1` EventLists, e.g. `https://127.0.0.1:8788/events/audit`. An https
   * server must present a certificate signed by the cluster CA, such as `<localDir>/pki/webhook.crt`.
   */
  readonly url: string;
  /**
   * Sent as `Authorization: Bearer <token>`; requires an https URL (client-go sends credentials over TLS only). Never
   * logged, never stored outside the 0600 audit kubeconfig.
   */
  readonly token?: string;
}

/** The processes of the local control plane (and the node simulator). */
export type ComponentName = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'simulator';

export interface Ports {
  readonly apiserver: number;
  readonly etcdClient: number;
  readonly etcdPeer: number;
  readonly scheduler: number;
  readonly controllerManager: number;
}

/**
 * What `up` is asked for. On a control plane that already exists in the local folder, an option left undefined keeps
 * the value the running system was started with (so a plain `up` never drops, say, the audit webhook `npm run up`
 * configured); an option given with another value restarts only the components it concerns, keeping etcd's data.
 * `null` asks explicitly for "none" / the upstream default. On a new control plane, undefined means the default.
 */
export interface UpOptions {
  /** Run the upstream DaemonSet controller in kube-controller-manager (for comparison runs). Default false. */
  readonly upstreamDaemonset?: boolean;
  /** kube-controller-manager's client rate limit (`--kube-api-qps` / `--kube-api-burst`); upstream default 20 / 30. */
  readonly kcmQps?: number | null;
  readonly kcmBurst?: number | null;
  /** `null`: no audit webhook. */
  readonly auditWebhook?: AuditWebhook | null;
  /** Defaults to infra/audit-policy.yaml; only used with `auditWebhook`. */
  readonly auditPolicyFile?: string;
  /** Start the node simulator in the background. Default true. */
  readonly simulator?: boolean;
  /**
   * Ports override the defaults and the DAEMONLESS_*_PORT variables. A control plane that exists keeps its ports;
   * asking for other ones (here or through the variables) is refused rather than moving a cluster with data.
   */
  readonly ports?: Partial<Ports>;
  /**
   * Stop whatever control plane runs in the local folder, DELETE its data (etcd), and start an empty one. The only
   * way `up` deletes a cluster's data (besides `down`, which always does).
   */
  readonly fresh?: boolean;
  /** Folder for state, PKI, kubeconfigs and logs; default `DAEMONLESS_LOCAL_DIR` or `<repo>/.local`. */
  readonly localDir?: string;
  /** Progress lines; default: stderr. */
  readonly log?: (line: string) => void;
}

export class OptionsError extends Error {
  override name = 'OptionsError';
}

/**
 * Defaults sit next to each component's upstream default plus 6000-ish, so they collide neither with a real
 * cluster's components on this machine nor with the usual dev servers.
 */
export const defaultPorts: Ports = {
  apiserver: 16443,
  etcdClient: 12379,
  etcdPeer: 12380,
  scheduler: 16259,
  controllerManager: 16257,
};

export const portEnvVars: Record<keyof Ports, string> = {
  apiserver: 'DAEMONLESS_APISERVER_PORT',
  etcdClient: 'DAEMONLESS_ETCD_PORT',
  etcdPeer: 'DAEMONLESS_ETCD_PEER_PORT',
  scheduler: 'DAEMONLESS_SCHEDULER_PORT',
  controllerManager: 'DAEMONLESS_CONTROLLER_MANAGER_PORT',
};

const PortSchema = z.coerce.number().int().min(1).max(65535);

export function resolvePorts(overrides: Partial<Ports> = {}, env: NodeJS.ProcessEnv = process.env): Ports {
  const entries = (Object.keys(defaultPorts) as (keyof Ports)[]).map((key) => [key, explicitPort(key, overrides, env) ?? defaultPorts[key]] as const);
  const ports = Object.fromEntries(entries) as unknown as Ports;
  if (new Set(Object.values(ports)).size !== entries.length) {
    throw new OptionsError(`ports must differ: ${JSON.stringify(ports)}`);
  }
  return ports;
}

/** The ports a caller asked for, by option or DAEMONLESS_*_PORT variable; the others are absent. */
export function explicitPorts(overrides: Partial<Ports> = {}, env: NodeJS.ProcessEnv = process.env): Partial<Ports> {
  const entries = (Object.keys(defaultPorts) as (keyof Ports)[]).flatMap((key) => {
    const port = explicitPort(key, overrides, env);
    return port === undefined ? [] : [[key, port] as const];
  });
  return Object.fromEntries(entries);
}

function explicitPort(key: keyof Ports, overrides: Partial<Ports>, env: NodeJS.ProcessEnv): number | undefined {
  const raw = overrides[key] ?? env[portEnvVars[key]];
  if (raw === undefined || raw === '') return undefined;
  const parsed = PortSchema.safeParse(raw);
  if (!parsed.success) throw new OptionsError(`${portEnvVars[key]}: not a port: ${String(raw)}`);
  return parsed.data;
}

/** One line per port asked for that differs from the port a control plane runs on; empty when none does. */
export function portConflicts(running: Ports, asked: Partial<Ports>): string[] {
  return (Object.keys(asked) as (keyof Ports)[])
    .filter((key) => asked[key] !== running[key])
    .map((key) => `${portEnvVars[key]}=${asked[key]} but it runs on ${running[key]}`);
}

/** What a running control plane was started with; equal normalized options mean `up` can reuse it. */
export const NormalizedOptionsSchema = z.object({
  upstreamDaemonset: z.boolean(),
  kcmQps: z.number().nullable(),
  kcmBurst: z.number().nullable(),
  // The token itself is never stored: its hash is enough to notice that it changed.
  auditWebhook: z.object({ url: z.string(), tokenSha256: z.string().nullable() }).nullable(),
  auditPolicyFile: z.string().nullable(),
  // So that editing the policy and running `up` again takes effect.
  auditPolicySha256: z.string().nullable(),
  simulator: z.boolean(),
});
export type NormalizedOptions = z.infer<typeof NormalizedOptionsSchema>;

/** The options a caller set, normalized; an absent field keeps the running value (or the default, on a new cluster). */
export type RequestedOptions = Partial<NormalizedOptions>;

export const defaultOptions: NormalizedOptions = {
  upstreamDaemonset: false,
  kcmQps: null,
  kcmBurst: null,
  auditWebhook: null,
  auditPolicyFile: null,
  auditPolicySha256: null,
  simulator: true,
};

export const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

/** The sha256 of an audit policy file, or an OptionsError naming it. */
export function auditPolicySha256(file: string): string {
  try {
    return sha256(readFileSync(file));
  } catch {
    throw new OptionsError(`audit policy file not readable: ${file}`);
  }
}

/** Validates and normalizes what the caller set; fields it did not set stay absent. Reads the audit policy file. */
export function requestedOptions(options: UpOptions): RequestedOptions {
  const positive = (name: string, value: number | null | undefined): number | null | undefined => {
    if (value === undefined || value === null) return value;
    if (!Number.isFinite(value) || value <= 0) throw new OptionsError(`${name} must be a positive number, got ${value}`);
    return value;
  };
  const requested: { -readonly [K in keyof NormalizedOptions]?: NormalizedOptions[K] } = {};
  if (options.upstreamDaemonset !== undefined) requested.upstreamDaemonset = options.upstreamDaemonset;
  const kcmQps = positive('kcmQps', options.kcmQps);
  if (kcmQps !== undefined) requested.kcmQps = kcmQps;
  const kcmBurst = positive('kcmBurst', options.kcmBurst);
  if (kcmBurst !== undefined) requested.kcmBurst = kcmBurst;
  if (options.simulator !== undefined) requested.simulator = options.simulator;
  if (options.auditWebhook === null) {
    Object.assign(requested, { auditWebhook: null, auditPolicyFile: null, auditPolicySha256: null });
  } else if (options.auditWebhook !== undefined) {
    const url = z.url({ protocol: /^https?$/ }).safeParse(options.auditWebhook.url);
    if (!url.success) throw new OptionsError(`auditWebhook.url must be an http(s) URL, got ${options.auditWebhook.url}`);
    const token = options.auditWebhook.token;
    // client-go (clientcmd) attaches credentials only to TLS connections: with an http:// server the API server would
    // silently send no Authorization header, and a receiver that checks it would refuse every batch.
    if (token !== undefined && url.data.startsWith('http:')) {
      throw new OptionsError(
        'auditWebhook: the API server sends the bearer token only over https; use an https:// URL served with ' +
          '<localDir>/pki/webhook.crt (signed by the cluster CA, which the audit kubeconfig trusts), or drop the token',
      );
    }
    const policy = options.auditPolicyFile ?? defaultAuditPolicyFile;
    requested.auditWebhook = { url: url.data, tokenSha256: token === undefined ? null : sha256(token) };
    requested.auditPolicyFile = policy;
    requested.auditPolicySha256 = auditPolicySha256(policy);
  } else if (options.auditPolicyFile !== undefined) {
    throw new OptionsError('auditPolicyFile needs auditWebhook');
  }
  return requested;
}

/** `base` with every field the caller set replaced. */
export function mergeOptions(base: NormalizedOptions, requested: RequestedOptions): NormalizedOptions {
  const defined = Object.fromEntries(Object.entries(requested).filter(([, value]) => value !== undefined));
  return NormalizedOptionsSchema.parse({ ...base, ...defined });
}

/** The options of a new control plane: the defaults with what the caller set. */
export function normalizeOptions(options: UpOptions): NormalizedOptions {
  return mergeOptions(defaultOptions, requestedOptions(options));
}

export function sameOptions(a: NormalizedOptions, b: NormalizedOptions): boolean {
  return JSON.stringify(NormalizedOptionsSchema.parse(a)) === JSON.stringify(NormalizedOptionsSchema.parse(b));
}

/** Which component reads each option: changing the option restarts (or, for the simulator, starts or stops) it. */
const optionComponent: Record<keyof NormalizedOptions, ComponentName> = {
  upstreamDaemonset: 'kube-controller-manager',
  kcmQps: 'kube-controller-manager',
  kcmBurst: 'kube-controller-manager',
  auditWebhook: 'kube-apiserver',
  auditPolicyFile: 'kube-apiserver',
  auditPolicySha256: 'kube-apiserver',
  simulator: 'simulator',
};

export interface OptionChange {
  readonly option: keyof NormalizedOptions;
  readonly from: string;
  readonly to: string;
  readonly component: ComponentName;
}

/** The differences between the options a control plane runs with and the ones asked for, in words without secrets. */
export function optionChanges(running: NormalizedOptions, wanted: NormalizedOptions): OptionChange[] {
  return (Object.keys(optionComponent) as (keyof NormalizedOptions)[])
    .filter((key) => JSON.stringify(running[key]) !== JSON.stringify(wanted[key]))
    // The policy's hash only matters when the file stayed the same; otherwise the file's change says it all.
    .filter((key) => key !== 'auditPolicySha256' || running.auditPolicyFile === wanted.auditPolicyFile)
    .map((key) => ({ option: key, from: describeValue(key, running), to: describeValue(key, wanted), component: optionComponent[key] }));
}

function describeValue(key: keyof NormalizedOptions, o: NormalizedOptions): string {
  switch (key) {
    case 'auditWebhook':
      return o.auditWebhook ? `${o.auditWebhook.url} (token ${o.auditWebhook.tokenSha256 ? 'set' : 'none'})` : 'none';
    case 'auditPolicySha256':
      return o.auditPolicySha256 ? `sha256 ${o.auditPolicySha256.slice(0, 12)}` : 'none';
    default: {
      const value = o[key];
      return value === null ? 'default' : String(value);
    }
  }
}

/** One line for logs and `status` (never a token). */
export function describeOptions(o: NormalizedOptions): string {
  return (
    `upstream DaemonSet controller ${o.upstreamDaemonset ? 'on' : 'off'}, kcm qps ${o.kcmQps ?? 'default'} burst ${o.kcmBurst ?? 'default'}, ` +
    `audit webhook ${o.auditWebhook ? describeValue('auditWebhook', o) : 'off'}, simulator ${o.simulator ? 'on' : 'off'}`
  );
}
