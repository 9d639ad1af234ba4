/**
 * Kubeconfig files for the local control plane. Credentials are embedded (`*-data`), so a kubeconfig is a single
 * self-contained file that can be copied or read by any client; files holding credentials are written mode 0600.
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { dumpYaml } from '@kubernetes/client-node';
import type { CertFiles } from './pki.ts';

export type KubeconfigUser = { readonly clientCert: CertFiles } | { readonly token?: string };

export interface KubeconfigSpec {
  readonly name: string;
  readonly server: string;
  /** PEM file of the CA that signed the server's certificate; omitted for plain http servers. */
  readonly caFile?: string;
  readonly user: KubeconfigUser;
}

const b64 = (file: string): string => readFileSync(file).toString('base64');

export function kubeconfigObject(spec: KubeconfigSpec): Record<string, unknown> {
  const user: Record<string, string> = {};
  if ('clientCert' in spec.user) {
    user['client-certificate-data'] = b64(spec.user.clientCert.cert);
    user['client-key-data'] = b64(spec.user.clientCert.key);
  } else if (spec.user.token !== undefined) {
    user['token'] = spec.user.token;
  }
  const cluster: Record<string, string> = { server: spec.server };
  if (spec.caFile !== undefined) cluster['certificate-authority-data'] = b64(spec.caFile);
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: spec.name, cluster }],
    users: [{ name: spec.name, user }],
    contexts: [{ name: spec.name, context: { cluster: spec.name, user: spec.name } }],
    'current-context': spec.name,
  };
}

export function writeKubeconfig(path: string, spec: KubeconfigSpec): void {
  writeFileSync(path, dumpYaml(kubeconfigObject(spec)), { mode: 0o600 });
  chmodSync(path, 0o600); // `mode` applies only when the file is created
}
