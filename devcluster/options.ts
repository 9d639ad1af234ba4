/**
 * Options of `up`, their defaults, and the normalized form stored in state.json to decide whether a running control
 * plane can be reused as is.
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

export interface Ports {
  readonly apiserver: number;
  readonly etcdClient: number;
  readonly etcdPeer: number;
  readonly scheduler: number;
  readonly controllerManager: number;
}

export interface UpOptions {
  /** Run the upstream DaemonSet controller in kube-controller-manager (for comparison runs). Default false. */
  readonly upstreamDaemonset?: boolean;
  /** kube-controller-manager's client rate limit (`--kube-api-qps` / `--kube-api-burst`); upstream default 20 / 30. */
  readonly kcmQps?: number;
  readonly kcmBurst?: number;
  readonly auditWebhook?: AuditWebhook;
  /** Defaults to infra/audit-policy.yaml; only used with `auditWebhook`. */
  readonly auditPolicyFile?: string;
  /** Start the node simulator in the background. Default true. */
  readonly simulator?: boolean;
  /** Ports override the defaults and the DAEMONLESS_*_PORT variables. */
  readonly ports?: Partial<Ports>;
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
  const entries = (Object.keys(defaultPorts) as (keyof Ports)[]).map((key) => {
    const raw = overrides[key] ?? env[portEnvVars[key]] ?? defaultPorts[key];
    const parsed = PortSchema.safeParse(raw);
    if (!parsed.success) throw new OptionsError(`${portEnvVars[key]}: not a port: ${String(raw)}`);
    return [key, parsed.data] as const;
  });
  const ports = Object.fromEntries(entries) as unknown as Ports;
  if (new Set(Object.values(ports)).size !== entries.length) {
    throw new OptionsError(`ports must differ: ${JSON.stringify(ports)}`);
  }
  return ports;
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

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

export function normalizeOptions(options: UpOptions): NormalizedOptions {
  const positive = (name: string, value: number | undefined): number | null => {
    if (value === undefined) return null;
    if (!Number.isFinite(value) || value <= 0) throw new OptionsError(`${name} must be a positive number, got ${value}`);
    return value;
  };
  let auditWebhook: NormalizedOptions['auditWebhook'] = null;
  let auditPolicyFile: string | null = null;
  let auditPolicySha256: string | null = null;
  if (options.auditWebhook) {
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
    auditWebhook = { url: url.data, tokenSha256: token === undefined ? null : sha256(token) };
    auditPolicyFile = options.auditPolicyFile ?? defaultAuditPolicyFile;
    try {
      auditPolicySha256 = sha256(readFileSync(auditPolicyFile));
    } catch {
      throw new OptionsError(`audit policy file not readable: ${auditPolicyFile}`);
    }
  }
  return {
    upstreamDaemonset: options.upstreamDaemonset ?? false,
    kcmQps: positive('kcmQps', options.kcmQps),
    kcmBurst: positive('kcmBurst', options.kcmBurst),
    auditWebhook,
    auditPolicyFile,
    auditPolicySha256,
    simulator: options.simulator ?? true,
  };
}

export function sameOptions(a: NormalizedOptions, b: NormalizedOptions): boolean {
  return JSON.stringify(NormalizedOptionsSchema.parse(a)) === JSON.stringify(NormalizedOptionsSchema.parse(b));
}
