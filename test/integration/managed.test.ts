/**
 * A managed cluster (DAEMONLESS_MODE=managed, as `npm run up -- --managed` gives it): the built-in DaemonSet controller
 * runs and cannot be switched off, so daemonless reconciles ServerlessDaemonSets. Both controllers side by side, with
 * the very same selector and template on the same nodes, never touch each other's pods. Skipped in native mode,
 * where the built-in controller is off.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { V1DaemonSet, V1Pod } from '@kubernetes/client-node';
import { crdFile, crdFromCluster } from '../../devcluster/crd-install.ts';
import { LIMITS } from '../../devcluster/crd.ts';
import { daemonSets } from '../../devcluster/daemonsets.ts';
import { createTransport } from '../../src/k8s/transport.ts';
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

/**
 * The CRD refuses what apps/v1's validation refuses and daemonless would mishandle (a pod template that restarts
 * nothing or ends on a deadline, a rolling update that can never step), and defaults what apps/v1 defaults outside the
 * template. Checked by the API server itself, with dry runs.
 */
describe.runIf(MODE === 'managed')('the ServerlessDaemonSet CRD validates as apps/v1 does', () => {
  const ds = (change: (ds: V1DaemonSet) => void): V1DaemonSet => {
    const d = testDaemonSet('default', uniqueName('crd'), 'crd-validation');
    change(d);
    return d;
  };
  const transport = createTransport(kc, { requestTimeoutMs: 30_000 });
  const sds = daemonSets(kc, 'managed');
  const dryRun = (body: V1DaemonSet) =>
    transport.send<V1DaemonSet>({ method: 'POST', path: sds.path('default').slice(1), query: { dryRun: 'All' }, body: { ...body, apiVersion: sds.apiVersion, kind: sds.kind }, what: 'create a ServerlessDaemonSet (dry run)' });
  const rolling = (rollingUpdate: Record<string, unknown>) => (d: V1DaemonSet) => {
    d.spec!.updateStrategy = { type: 'RollingUpdate', rollingUpdate: rollingUpdate as never };
  };

  it('the committed CRD is the one this cluster’s apps/v1 schema gives (npm run gen:crd)', async () => {
    expect(await crdFromCluster(kc)).toEqual(JSON.parse(readFileSync(crdFile, 'utf8')));
  });

  it.each([
    ['restartPolicy OnFailure', (d: V1DaemonSet) => void (d.spec!.template.spec!.restartPolicy = 'OnFailure'), /restartPolicy: Unsupported value: "OnFailure"/],
    ['activeDeadlineSeconds', (d: V1DaemonSet) => void (d.spec!.template.spec!.activeDeadlineSeconds = 60), /activeDeadlineSeconds in a DaemonSet is not supported/],
    ['a negative maxUnavailable', rolling({ maxUnavailable: -1 }), /maxUnavailable: Invalid value: must be a non-negative integer or a percentage/],
    ['a percentage over 100', rolling({ maxUnavailable: '101%' }), /maxUnavailable: Invalid value: must be a non-negative integer or a percentage/],
    ['a string that is no percentage', rolling({ maxSurge: 'one', maxUnavailable: 0 }), /maxSurge: Invalid value: must be a non-negative integer or a percentage/],
    ['both zero', rolling({ maxUnavailable: '0%', maxSurge: 0 }), /maxUnavailable: Invalid value: cannot be 0 when maxSurge is 0/],
    ['maxSurge beside the default maxUnavailable', rolling({ maxSurge: 1 }), /maxSurge: Invalid value: may not be set when maxUnavailable is non-zero/],
    ['a negative minReadySeconds', (d: V1DaemonSet) => void (d.spec!.minReadySeconds = -1), /minReadySeconds.*greater than or equal to 0/],
    ['a negative revisionHistoryLimit', (d: V1DaemonSet) => void (d.spec!.revisionHistoryLimit = -1), /revisionHistoryLimit.*greater than or equal to 0/],
    ['an operator that is none', (d: V1DaemonSet) => void (d.spec!.selector.matchExpressions = [{ key: 'a', operator: 'in', values: ['x'] }]), /operator: Unsupported value: "in"/],
    ['In without values', (d: V1DaemonSet) => void (d.spec!.selector.matchExpressions = [{ key: 'a', operator: 'In' }]), /values: Invalid value: In and NotIn take at least one value/],
    ['Exists with values', (d: V1DaemonSet) => void (d.spec!.selector.matchExpressions = [{ key: 'a', operator: 'Exists', values: ['x'] }]), /values: Invalid value: .*Exists and DoesNotExist none/],
    ['an empty selector', (d: V1DaemonSet) => void (d.spec!.selector = {}), /selector: Invalid value: .*empty selector is invalid for a DaemonSet/],
    ['a toleration of no key but Equal', (d: V1DaemonSet) => void (d.spec!.template.spec!.tolerations = [{ operator: 'Equal', value: 'x' }]), /operator: Invalid value: .*operator must be Exists when `key` is empty/],
    ['a toleration of no key and no operator', (d: V1DaemonSet) => void (d.spec!.template.spec!.tolerations = [{ effect: 'NoSchedule' }]), /operator: Invalid value: .*operator must be Exists when `key` is empty/],
    ['Exists with a value', (d: V1DaemonSet) => void (d.spec!.template.spec!.tolerations = [{ key: 'k', operator: 'Exists', value: 'v' }]), /operator: Invalid value: .*value must be empty when `operator` is 'Exists'/],
    ['tolerationSeconds without NoExecute', (d: V1DaemonSet) => void (d.spec!.template.spec!.tolerations = [{ key: 'k', operator: 'Exists', effect: 'NoSchedule', tolerationSeconds: 5 }]), /effect: Invalid value: .*effect must be 'NoExecute' when `tolerationSeconds` is set/],
    ['a selector the template labels do not match', (d: V1DaemonSet) => void (d.spec!.selector = { matchLabels: { app: 'other' } }), /labels: Invalid value: .*`selector` does not match template `labels`/],
    ['a selector of a label the template lacks', (d: V1DaemonSet) => void (d.spec!.selector.matchLabels = { ...d.spec!.selector.matchLabels, tier: 'node' }), /labels: Invalid value: .*`selector` does not match template `labels`/],
    ['a template without labels', (d: V1DaemonSet) => void delete d.spec!.template.metadata, /labels: Invalid value: .*`selector` does not match template `labels`/],
    ['In of values the label does not have', (d: V1DaemonSet) => void (d.spec!.selector.matchExpressions = [{ key: 'app', operator: 'In', values: ['x', 'y'] }]), /labels: Invalid value: .*`selector` does not match template `labels`/],
    ['NotIn of the label’s value', (d: V1DaemonSet) => void (d.spec!.selector.matchExpressions = [{ key: 'app', operator: 'NotIn', values: ['x', d.metadata!.name!] }]), /labels: Invalid value: .*`selector` does not match template `labels`/],
    ['Exists of a label the template lacks', (d: V1DaemonSet) => void (d.spec!.selector.matchExpressions = [{ key: 'tier', operator: 'Exists' }]), /labels: Invalid value: .*`selector` does not match template `labels`/],
    ['DoesNotExist of a label the template has', (d: V1DaemonSet) => void (d.spec!.selector.matchExpressions = [{ key: 'app', operator: 'DoesNotExist' }]), /labels: Invalid value: .*`selector` does not match template `labels`/],
    // A deviation (docs/deploy-eks.md): the selector rule needs sizes for the API server to bound its cost.
    ['more template labels than the CRD takes', (d: V1DaemonSet) => void Object.assign(d.spec!.template.metadata!.labels!, Object.fromEntries(Array.from({ length: LIMITS.templateLabels }, (_, i) => [`l${i}`, 'x']))), /labels: Too many: 1025: must have at most 1024 items/],
    ['an effect a taint cannot have', (d: V1DaemonSet) => void (d.spec!.template.spec!.tolerations = [{ key: 'k', operator: 'Exists', effect: 'NoExec' }]), /effect: Unsupported value: "NoExec"/],
  ])('refuses %s', async (_name, change, message) => {
    await expect(dryRun(ds(change))).rejects.toThrow(message);
  });

  it('accepts the tolerations apps/v1 accepts', async () => {
    const tolerations = [
      { operator: 'Exists' },
      { operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 30 },
      { key: 'k', value: 'v', effect: 'NoSchedule' },
      { key: 'k', operator: 'Equal', value: '', effect: '' },
    ];
    const stored = await dryRun(ds((d) => void (d.spec!.template.spec!.tolerations = tolerations)));
    expect(stored.spec?.template.spec?.tolerations).toEqual(tolerations);
  });

  it('accepts a selector whose every requirement the template labels meet', async () => {
    const selector = {
      matchLabels: { app: 'agent' },
      matchExpressions: [
        { key: 'tier', operator: 'In', values: ['node', 'edge'] },
        { key: 'tier', operator: 'Exists' },
        { key: 'app', operator: 'NotIn', values: ['other'] },
        { key: 'canary', operator: 'NotIn', values: ['true'] },
        { key: 'canary', operator: 'DoesNotExist' },
      ],
    };
    const stored = await dryRun(
      ds((d) => {
        d.spec!.selector = selector;
        d.spec!.template.metadata = { labels: { app: 'agent', tier: 'node', extra: 'x' } };
      }),
    );
    expect(stored.spec?.selector).toEqual(selector);
  });

  it.each([
    ['no rolling update parameters: 1 and 0, as apps/v1 defaults them', rolling({}), { maxUnavailable: 1, maxSurge: 0 }],
    ['a surge with none unavailable', rolling({ maxSurge: '10%', maxUnavailable: 0 }), { maxUnavailable: 0, maxSurge: '10%' }],
    ['a percentage with leading zeros', rolling({ maxUnavailable: '007%' }), { maxUnavailable: '007%', maxSurge: 0 }],
  ])('accepts %s', async (_name, change, rollingUpdate) => {
    const stored = await dryRun(ds(change));
    expect(stored.spec?.updateStrategy?.rollingUpdate).toEqual(rollingUpdate);
    // The template is not defaulted: a default there would change every stored template's revision hash.
    expect(stored.spec?.template.spec?.restartPolicy).toBeUndefined();
  });
});
