/**
 * The fault proxy in front of the local control plane of a folder: upstream, CA and certificates come from its state
 * and PKI, and a kubeconfig that reaches the API server through the proxy, as the least-privilege reconciler, is
 * written next to the pid files (`run/fault-proxy.kubeconfig`, removed by `down`).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeKubeconfig } from '../kubeconfig.ts';
import { localPaths } from '../paths.ts';
import { pkiLayout } from '../pki.ts';
import { readState } from '../state.ts';
import { type FaultProxy, type FaultProxyOptions, startFaultProxy } from './proxy.ts';

export interface LocalFaultProxyOptions extends Omit<FaultProxyOptions, 'upstream' | 'ca' | 'identity' | 'serving'> {
  /** Default `DAEMONLESS_LOCAL_DIR` or `<repo>/.local`. */
  readonly localDir?: string;
}

export interface LocalFaultProxy extends FaultProxy {
  /** Kubeconfig of the reconciler identity with the proxy as its server: give it to the functions as KUBECONFIG. */
  readonly kubeconfig: string;
}

export class NoClusterError extends Error {
  override name = 'NoClusterError';
}

export function faultProxyKubeconfigPath(localDir?: string): string {
  return join(localPaths(localDir).run, 'fault-proxy.kubeconfig');
}

export async function startLocalFaultProxy(options: LocalFaultProxyOptions = {}): Promise<LocalFaultProxy> {
  const paths = localPaths(options.localDir);
  const state = readState(paths.state);
  if (!state) throw new NoClusterError(`no control plane in ${paths.root}: start one first (npm run cluster:up)`);
  const pki = pkiLayout(paths.pki);
  const proxy = await startFaultProxy({
    ...options,
    upstream: state.server,
    ca: readFileSync(pki.ca.cert),
    identity: { cert: readFileSync(pki.reconciler.cert), key: readFileSync(pki.reconciler.key) },
    serving: { cert: readFileSync(pki.webhook.cert), key: readFileSync(pki.webhook.key) },
  });
  const kubeconfig = faultProxyKubeconfigPath(paths.root);
  mkdirSync(paths.run, { recursive: true });
  writeKubeconfig(kubeconfig, { name: 'daemonless-reconciler-via-fault-proxy', server: proxy.url, caFile: pki.ca.cert, user: { clientCert: pki.reconciler } });
  return { ...proxy, kubeconfig };
}
