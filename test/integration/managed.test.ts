/**
 * A managed cluster (DAEMONLESS_MODE=managed, as `npm run up -- --managed` gives it): the built-in DaemonSet controller
 * runs and cannot be switched off, so daemonless reconciles ServerlessDaemonSets. Both controllers side by side, with
 * the very same selector and template on the same nodes, never touch each other's pods. Skipped in native mode,
 * where the built-in controller is off.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { V1DaemonSet, V1Pod } from '@kubernetes/client-node';
import { addNodes, deleteNode } from '../../devcluster/simulator/nodes.ts';
import { adminClient, createNamespace, deleteNamespace, functionsLogLines, uniqueName, waitFor } from '../support/cluster.ts';
import { MODE, RUN_LABEL, daemonSetApi, isReady, testDaemonSet } from '../support/daemon.ts';

const { core, apps, kc } = adminClient();
const serverless = daemonSetApi(kc);

describe.runIf(MODE === 'managed')('two controllers side by side (managed cluster)', () => {
  let namespace = '';
  let nodes: string[] = [];
  const run = uniqueName('managed');
  const builtin = 'builtin';
  const ours = 'serverless';

  beforeAll(async () => {
    namespace = await createNamespace(core);
    nodes = await addNodes(kc, 3, { labels: { [RUN_LABEL]: run } });
    // The same labels for both: each controller must tell its pods apart by their controller reference alone.
    const shared = (name: string): V1DaemonSet => {
      const ds = testDaemonSet(namespace, name, run);
      ds.spec!.selector = { matchLabels: { app: 'shared' } };
      ds.spec!.template.metadata = { labels: { app: 'shared' } };
      return ds;
    };
    await apps.createNamespacedDaemonSet({ namespace, body: shared(builtin) });
    await serverless.create(namespace, shared(ours));
  });

  afterAll(async () => {
    await deleteNamespace(core, namespace);
    for (const node of nodes) await deleteNode(kc, node);
  });

  /** Ready, not terminating pods by owner kind and node. */
  async function podsByOwner(): Promise<{ pods: V1Pod[]; byOwner: Map<string, Map<string, V1Pod[]>> }> {
    const pods = (await core.listNamespacedPod({ namespace, labelSelector: 'app=shared' })).items;
    const byOwner = new Map<string, Map<string, V1Pod[]>>();
    for (const pod of pods) {
      const kind = pod.metadata?.ownerReferences?.find((o) => o.controller)?.kind ?? 'none';
      const perNode = byOwner.get(kind) ?? new Map<string, V1Pod[]>();
      perNode.set(pod.spec?.nodeName ?? '', [...(perNode.get(pod.spec?.nodeName ?? '') ?? []), pod]);
      byOwner.set(kind, perNode);
    }
    return { pods, byOwner };
  }

  /** On a timeout, what the functions logged about this test's objects: CI keeps nothing else. */
  const withLog = async <T>(wait: Promise<T>): Promise<T> => {
    try {
      return await wait;
    } catch (error) {
      const lines = functionsLogLines([namespace, ...nodes], 40);
      throw new Error(`${(error as Error).message}\nfunctions log (${lines.length} last lines naming the namespace or a node):\n${lines.join('\n')}`);
    }
  };
  const converged = () =>
    withLog(waitFor('one Ready pod of each controller on every node', async () => {
      const { pods, byOwner } = await podsByOwner();
      // Thrown, so a timeout names what was still missing.
      for (const kind of ['DaemonSet', 'ServerlessDaemonSet']) {
        for (const node of nodes) {
          const here = byOwner.get(kind)?.get(node) ?? [];
          if (here.length !== 1 || !isReady(here[0]!) || here[0]!.metadata?.deletionTimestamp) {
            const seen = here.map((p) => `${p.metadata?.name} ${p.status?.phase}${isReady(p) ? ' Ready' : ''}${p.metadata?.deletionTimestamp ? ' terminating' : ''}`);
            throw new Error(`${kind} on ${node}: ${seen.length === 0 ? 'no pod' : seen.join(', ')}`);
          }
        }
      }
      if (byOwner.has('none')) throw new Error(`pods without a controller: ${[...(byOwner.get('none')?.values() ?? [])].flat().map((p) => p.metadata?.name).join(', ')}`);
      return pods;
    }, { timeoutMs: 60_000 }));

  it('each controller runs one pod per node, and writes only its own', async () => {
    const pods = await converged();
    const managers = (pod: V1Pod) => new Set((pod.metadata?.managedFields ?? []).map((f) => f.manager));
    for (const pod of pods) {
      const kind = pod.metadata?.ownerReferences?.find((o) => o.controller)?.kind;
      if (kind === 'DaemonSet') expect(managers(pod).has('daemonless')).toBe(false);
      else expect(managers(pod).has('kube-controller-manager')).toBe(false);
    }
  });

  it("a rollout of the ServerlessDaemonSet replaces its pods and leaves the built-in controller's alone", async () => {
    const before = await converged();
    const builtinUids = new Set(before.filter((p) => p.metadata?.ownerReferences?.[0]?.kind === 'DaemonSet').map((p) => p.metadata!.uid!));
    await serverless.patch(namespace, ours, { spec: { template: { spec: { containers: [{ name: 'agent', image: 'registry.example/agent:2.0' }] } } } });
    const after = await waitFor('the ServerlessDaemonSet rolled out', async () => {
      const pods = await converged();
      const mine = pods.filter((p) => p.metadata?.ownerReferences?.[0]?.kind === 'ServerlessDaemonSet');
      return mine.every((p) => p.spec?.containers[0]?.image === 'registry.example/agent:2.0') ? pods : false;
    }, { timeoutMs: 90_000 });
    const builtinAfter = after.filter((p) => p.metadata?.ownerReferences?.[0]?.kind === 'DaemonSet');
    expect(new Set(builtinAfter.map((p) => p.metadata!.uid!))).toEqual(builtinUids);
    await waitFor('RolloutComplete=True', async () => (await serverless.read(namespace, ours)).status?.conditions?.find((c) => c.type === 'RolloutComplete')?.status === 'True');
  });
});
