/**
 * Where the local control plane keeps its files. Everything lives under one folder (`.local/` at the repository root
 * unless `DAEMONLESS_LOCAL_DIR` or an explicit `localDir` says otherwise) so that two control planes — the shared one
 * and a private one a test starts — can run side by side without touching each other's files.
 */
import { join, resolve } from 'node:path';

/** The repository root: this file sits in `<root>/devcluster/`. */
export const repoRoot = resolve(import.meta.dirname, '..');

export const buildScript = join(repoRoot, 'devcluster', 'go', 'controlplane', 'build.sh');
export const defaultAuditPolicyFile = join(repoRoot, 'infra', 'audit-policy.yaml');
export const rbacFile = join(repoRoot, 'infra', 'rbac.yaml');
export const simulatorEntry = join(repoRoot, 'devcluster', 'simulator', 'main.ts');

export interface LocalPaths {
  readonly root: string;
  readonly pki: string;
  readonly logs: string;
  readonly run: string;
  /** etcd's data: deleted by `down`, like the rest of the cluster's state. */
  readonly etcdData: string;
  /** Generated configuration the components read (their kubeconfigs, the audit webhook kubeconfig). */
  readonly config: string;
  readonly state: string;
  /** Admin identity (O=system:masters): for tests, kubectl and the simulator. */
  readonly kubeconfig: string;
  /** The least-privilege identity `daemonless-reconciler`, bound by infra/rbac.yaml. */
  readonly reconcilerKubeconfig: string;
}

/** Resolves the local folder: explicit argument, then `DAEMONLESS_LOCAL_DIR`, then `<repo>/.local`. */
export function localPaths(localDir?: string): LocalPaths {
  const root = resolve(localDir ?? process.env['DAEMONLESS_LOCAL_DIR'] ?? join(repoRoot, '.local'));
  return {
    root,
    pki: join(root, 'pki'),
    logs: join(root, 'logs'),
    run: join(root, 'run'),
    etcdData: join(root, 'etcd-data'),
    config: join(root, 'config'),
    state: join(root, 'state.json'),
    kubeconfig: join(root, 'kubeconfig'),
    reconcilerKubeconfig: join(root, 'reconciler.kubeconfig'),
  };
}
