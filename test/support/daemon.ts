/**
 * Helpers for integration tests of reconciliation: a DaemonSet confined to a test's own nodes, and waiting until the
 * cluster shows exactly one Ready daemon pod on each expected node and none elsewhere.
 */
import type { CoreV1Api, KubeConfig, V1DaemonSet, V1Pod } from '@kubernetes/client-node';
import { daemonSetKind, daemonSets } from '../../devcluster/daemonsets.ts';
import { NotFoundError } from '../../src/errors.ts';
import { waitFor } from './cluster.ts';

export const RUN_LABEL = 'test.daemonless.dev/run';

/** A small DaemonSet selecting pods `app=<name>`, placed only on nodes labelled `RUN_LABEL=<run>`. */
export function testDaemonSet(namespace: string, name: string, run: string, spec: Partial<V1DaemonSet['spec']> = {}): V1DaemonSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name, namespace },
    spec: {
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          nodeSelector: { [RUN_LABEL]: run },
          terminationGracePeriodSeconds: 1,
          containers: [{ name: 'agent', image: 'registry.example/agent:1.0' }],
        },
      },
      ...spec,
    },
  };
}

export const isReady = (pod: V1Pod): boolean =>
  pod.status?.phase === 'Running' && (pod.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

/** Pods matching the selector, grouped by node (spec.nodeName, or '' while unscheduled). */
export async function podsByNode(core: CoreV1Api, namespace: string, labelSelector: string): Promise<Map<string, V1Pod[]>> {
  const pods = await core.listNamespacedPod({ namespace, labelSelector });
  const byNode = new Map<string, V1Pod[]>();
  for (const pod of pods.items) {
    const node = pod.spec?.nodeName ?? '';
    byNode.set(node, [...(byNode.get(node) ?? []), pod]);
  }
  return byNode;
}

/**
 * Waits until each node in `nodes` has exactly one pod, Running and Ready, and no pod exists anywhere else
 * (terminating pods included). Returns the pods by node.
 */
export async function waitConverged(
  core: CoreV1Api,
  namespace: string,
  labelSelector: string,
  nodes: readonly string[],
  timeoutMs = 30_000,
): Promise<Map<string, V1Pod>> {
  return waitFor(
    `one Ready pod (${labelSelector}) on each of ${nodes.join(', ') || 'no nodes'} and none elsewhere`,
    async () => {
      const byNode = await podsByNode(core, namespace, labelSelector);
      const result = new Map<string, V1Pod>();
      for (const node of nodes) {
        const pods = byNode.get(node) ?? [];
        if (pods.length !== 1 || !isReady(pods[0]!) || pods[0]!.metadata?.deletionTimestamp) return summary(byNode);
        result.set(node, pods[0]!);
      }
      const elsewhere = [...byNode.keys()].filter((n) => !nodes.includes(n));
      return elsewhere.length === 0 ? result : summary(byNode);
    },
    { timeoutMs, intervalMs: 250 },
  );
}

/** Not converged yet: thrown so that waitFor's timeout message shows what the cluster looked like. */
function summary(byNode: Map<string, V1Pod[]>): never {
  const seen = Object.fromEntries(
    [...byNode].map(([node, pods]) => [
      node || '(unscheduled)',
      pods.map((p) => `${p.metadata?.name} ${p.status?.phase}${isReady(p) ? ' Ready' : ''}${p.metadata?.deletionTimestamp ? ' Terminating' : ''}`),
    ]),
  );
  throw new Error(`pods by node: ${JSON.stringify(seen)}`);
}

/**
 * What the integration suite runs against: `native` (apps/v1 DaemonSets; the built-in controller is off) or, with
 * DAEMONLESS_MODE=managed, a cluster as a managed one gives it (`npm run up -- --managed`): the built-in DaemonSet
 * controller runs, events come through admission only, and the suite's DaemonSets are ServerlessDaemonSets.
 */
export const MODE: 'native' | 'managed' = process.env.DAEMONLESS_MODE === 'managed' ? 'managed' : 'native';

/** The kind of DaemonSet the suite creates in this mode. */
export const DAEMONSET_KIND = daemonSetKind(MODE);

/**
 * The DaemonSets of this mode, in raw JSON (a ServerlessDaemonSet has no typed client): create (the body's
 * apiVersion/kind replaced by the mode's), read (NotFoundError when there is none), replace, merge-patch, delete.
 */
export function daemonSetApi(kc: KubeConfig) {
  const api = daemonSets(kc, MODE);
  return {
    create: api.create,
    read: async (namespace: string, name: string): Promise<V1DaemonSet> => {
      const ds = await api.get(namespace, name);
      if (!ds) throw new NotFoundError(`${api.kind} ${namespace}/${name} not found`);
      return ds;
    },
    replace: api.replace,
    patch: api.mergePatch,
    delete: api.delete,
  };
}
