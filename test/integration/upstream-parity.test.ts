/**
 * Behaviour where daemonless used to differ from upstream's DaemonSet controller (issue 12), end to end on the real
 * control plane with audit delivery. The pure decisions behind them have rows in test/core and test/reconcile.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { V1ControllerRevision, V1Pod } from '@kubernetes/client-node';
import { mergePatch } from '../../devcluster/simulator/client.ts';
import { addNodes, deleteNode, failPod } from '../../devcluster/simulator/nodes.ts';
import { createTransport } from '../../src/k8s/transport.ts';
import { adminClient, createNamespace, deleteNamespace, uniqueName, waitFor } from '../support/cluster.ts';
import { MODE, RUN_LABEL, isReady, testDaemonSet, waitConverged, daemonSetApi } from '../support/daemon.ts';

const { core, apps, kc } = adminClient();
const daemonSets = daemonSetApi(kc);
const MERGE = mergePatch;
// client-node's typed clients drop fields their models lack, on the way out and back: raw JSON for those tests.
const raw = createTransport(kc, { requestTimeoutMs: 10_000 });

describe('upstream parity', () => {
  const namespace = uniqueName('parity');
  const run = uniqueName('run');
  let nodes: string[] = [];

  beforeAll(async () => {
    await createNamespace(core, namespace);
    nodes = await addNodes(kc, 2, { labels: { [RUN_LABEL]: run } });
  });

  afterAll(async () => {
    // Finalizers the tests set would keep pods (and the namespace) forever.
    for (const pod of (await core.listNamespacedPod({ namespace })).items) {
      if (pod.metadata?.finalizers?.length) {
        await core.patchNamespacedPod({ namespace, name: pod.metadata.name!, body: { metadata: { finalizers: null } } }, MERGE).catch(() => undefined);
      }
    }
    await deleteNamespace(core, namespace);
    for (const node of nodes) await deleteNode(kc, node);
  });

  const podsOf = async (app: string) => (await core.listNamespacedPod({ namespace, labelSelector: `app=${app}` })).items;
  const liveReadyOn = (pods: V1Pod[], node: string, except: string) =>
    pods.find((p) => p.spec?.nodeName === node && p.metadata?.name !== except && !p.metadata?.deletionTimestamp && isReady(p));

  it('a template field client-node does not model reaches the pods and the revision intact', async () => {
    const name = uniqueName('rawfields');
    const ds = testDaemonSet(namespace, name, run);
    // `httpGet.protocol` is alpha in Kubernetes 1.37 (enabled on the local API server): client-node 2.0 has no field for it.
    ds.spec!.template.spec!.containers[0]!.readinessProbe = { httpGet: { path: '/healthz', port: 8080, protocol: 'HTTP2' } as never };
    await daemonSets.create(namespace, ds);
    const served = (await daemonSets.read(namespace, name)) as unknown as { spec: { template: { spec: { containers: { readinessProbe: { httpGet: { protocol?: string } } }[] } } } };
    expect(served.spec.template.spec.containers[0]!.readinessProbe.httpGet.protocol).toBe('HTTP2'); // the API server keeps it
    await waitConverged(core, namespace, `app=${name}`, nodes, 30_000);
    type WithProbe = { spec: { containers: { readinessProbe: { httpGet: { protocol?: string } } }[] } };
    const pods = await raw.send<{ items: WithProbe[] }>({ method: 'GET', path: `api/v1/namespaces/${namespace}/pods`, query: { labelSelector: `app=${name}` }, what: 'list pods' });
    expect(pods.items).toHaveLength(nodes.length);
    for (const pod of pods.items) expect(pod.spec.containers[0]!.readinessProbe.httpGet.protocol).toBe('HTTP2');
    const revisions = await raw.send<{ items: { metadata: { name: string }; data: { spec: { template: WithProbe } } }[] }>({
      method: 'GET',
      path: `apis/apps/v1/namespaces/${namespace}/controllerrevisions`,
      what: 'list revisions',
    });
    const ours = revisions.items.filter((r) => r.metadata.name.startsWith(`${name}-`));
    expect(ours).toHaveLength(1);
    expect(ours[0]!.data.spec.template.spec.containers[0]!.readinessProbe.httpGet.protocol).toBe('HTTP2');
  });

  it('a Failed pod kept by a finalizer is replaced within seconds, under another name', async () => {
    const name = uniqueName('finalized');
    await daemonSets.create(namespace, testDaemonSet(namespace, name, run));
    const pods = await waitConverged(core, namespace, `app=${name}`, nodes, 30_000);
    const victim = pods.get(nodes[0]!)!;
    await core.patchNamespacedPod({ namespace, name: victim.metadata!.name!, body: { metadata: { finalizers: ['example.com/keep'] } } }, MERGE);
    await failPod(kc, namespace, victim.metadata!.name!);
    const replacement = await waitFor('a Ready replacement beside the Failed pod', async () => liveReadyOn(await podsOf(name), nodes[0]!, victim.metadata!.name!), { timeoutMs: 30_000 });
    expect(replacement.metadata?.name).not.toBe(victim.metadata?.name);
    // The Failed pod is still there (its finalizer holds it), being deleted.
    const held = await core.readNamespacedPod({ namespace, name: victim.metadata!.name! });
    expect(held.status?.phase).toBe('Failed');
    expect(held.metadata?.deletionTimestamp).toBeDefined();
  });

  it('with surge, a terminating pod of the current revision does not hold up the new one', async () => {
    const name = uniqueName('surge');
    await daemonSets.create(namespace, testDaemonSet(namespace, name, run, { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } }));
    const pods = await waitConverged(core, namespace, `app=${name}`, nodes, 30_000);
    const victim = pods.get(nodes[1]!)!;
    await core.patchNamespacedPod({ namespace, name: victim.metadata!.name!, body: { metadata: { finalizers: ['example.com/keep'] } } }, MERGE);
    await core.deleteNamespacedPod({ namespace, name: victim.metadata!.name! });
    const replacement = await waitFor('a Ready pod beside the terminating one', async () => liveReadyOn(await podsOf(name), nodes[1]!, victim.metadata!.name!), { timeoutMs: 30_000 });
    expect(replacement.metadata?.name).not.toBe(victim.metadata?.name);
  });

  // In a namespace of its own: with one DaemonSet there, the pass lists only the pods outside its selector to find
  // the one to release (core/claim.ts `releaseLists`), which this checks against the API server's query syntax.
  it('a pod relabelled out of the selector is released and replaced within seconds', async () => {
    const name = uniqueName('relabel');
    const own = uniqueName('relabel');
    await createNamespace(core, own);
    try {
      await daemonSets.create(own, testDaemonSet(own, name, run));
      const pods = await waitConverged(core, own, `app=${name}`, nodes, 30_000);
      const ds = await daemonSets.read(own, name);
      const victim = pods.get(nodes[0]!)!;
      // As `kubectl label pod <pod> app=other --overwrite` does.
      await core.patchNamespacedPod({ namespace: own, name: victim.metadata!.name!, body: { metadata: { labels: { app: 'other' } } } }, MERGE);
      const released = await waitFor('the pod released', async () => {
        const pod = await core.readNamespacedPod({ namespace: own, name: victim.metadata!.name! });
        return (pod.metadata?.ownerReferences ?? []).some((o) => o.uid === ds.metadata?.uid) ? false : pod;
      }, { timeoutMs: 30_000 });
      expect(released.metadata?.deletionTimestamp).toBeUndefined(); // released, not deleted, as upstream
      await waitConverged(core, own, `app=${name}`, nodes, 30_000);
    } finally {
      await deleteNamespace(core, own);
    }
  });

  // Upstream claims every pod of the namespace before it maps pods to nodes: a selected orphan that targets no node is
  // adopted, then skipped (counted nowhere); owned, it is garbage-collected with the DaemonSet. Its own creation brings
  // the pass (Hint `orphan`), as upstream's addPod syncs the DaemonSets that select an orphan.
  it('a selected orphan that targets no node is adopted on its own creation, counted nowhere, and goes with the DaemonSet', async () => {
    const name = uniqueName('loose');
    await daemonSets.create(namespace, testDaemonSet(namespace, name, run));
    await waitConverged(core, namespace, `app=${name}`, nodes, 30_000);
    // Every pass the convergence asked for is done (the status counts every pod available), and a little more: the
    // adoption below must come from the orphan's own change.
    await waitFor('the converged status', async () => (await daemonSets.read(namespace, name)).status?.numberAvailable === nodes.length, { timeoutMs: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const ds = await daemonSets.read(namespace, name);
    // No nodeName, no node affinity, and a scheduler that does not exist: it stays unbound.
    const loose = await core.createNamespacedPod({
      namespace,
      body: { metadata: { name: `${name}-loose`, labels: { app: name } }, spec: { schedulerName: 'nobody', containers: [{ name: 'c', image: 'registry.example/other:1' }] } },
    });
    // Managed mode's admission webhook sends only pods carrying `controller-revision-hash` (infra/admission-webhook.json):
    // there a change to the DaemonSet brings the pass.
    if (MODE === 'managed') await daemonSets.patch(namespace, name, { metadata: { annotations: { 'test.daemonless.dev/poke': '1' } } });
    const adopted = await waitFor('the targetless orphan adopted', async () => {
      const pod = await core.readNamespacedPod({ namespace, name: loose.metadata!.name! });
      return (pod.metadata?.ownerReferences ?? []).some((o) => o.uid === ds.metadata?.uid && o.controller === true) ? pod : false;
    }, { timeoutMs: 10_000 });
    expect(adopted.spec?.nodeName).toBeUndefined();
    expect(adopted.metadata?.deletionTimestamp).toBeUndefined();
    // Counted nowhere: the status is that of the two nodes' pods.
    await waitFor('the status of the poked generation', async () => {
      const status = (await daemonSets.read(namespace, name)).status;
      return status?.observedGeneration === ds.metadata?.generation && status?.currentNumberScheduled === nodes.length && status.numberMisscheduled === 0 && status.desiredNumberScheduled === nodes.length;
    }, { timeoutMs: 10_000 });
    await daemonSets.delete(namespace, name);
    await waitFor('the adopted orphan garbage-collected with its DaemonSet', async () =>
      (await core.listNamespacedPod({ namespace, fieldSelector: `metadata.name=${loose.metadata!.name!}` })).items.length === 0,
    { timeoutMs: 60_000 });
  });

  // Upstream requeues a sync whose creates were refused, with backoff, so pods come once the refusal ends, with no
  // other event. daemonless records when the refusals began (condition daemonless.dev/ReplicaFailure) and tries again
  // 1, 2, 4 … 256 s after that (core/status.ts `refusedRetryAfterSeconds`).
  it('pods a ResourceQuota refused are created once it allows them, with no other event', async () => {
    const own = uniqueName('quota');
    await createNamespace(core, own);
    try {
      await core.createNamespacedResourceQuota({ namespace: own, body: { metadata: { name: 'pods' }, spec: { hard: { pods: '1' } } } });
      const name = uniqueName('refused');
      await daemonSets.create(own, testDaemonSet(own, name, run));
      const refused = await waitFor('the refusal recorded', async () => {
        const ds = await daemonSets.read(own, name);
        return ds.status?.conditions?.find((c) => c.type === 'daemonless.dev/ReplicaFailure' && c.status === 'True') ?? false;
      }, { timeoutMs: 20_000 });
      expect(refused.message).toMatch(/exceeded quota/);
      // The one pod allowed is Ready and counted, and its events have had their passes: what comes next is a retry.
      await waitFor('the allowed pod counted available', async () => (await daemonSets.read(own, name)).status?.numberAvailable === 1, { timeoutMs: 10_000 });
      await new Promise((resolve) => setTimeout(resolve, 3000));
      expect((await core.listNamespacedPod({ namespace: own })).items).toHaveLength(1);
      await core.patchNamespacedResourceQuota({ namespace: own, name: 'pods', body: { spec: { hard: { pods: '10' } } } }, MERGE);
      await waitConverged(core, own, `app=${name}`, nodes, 30_000);
      await waitFor('the refusal cleared', async () => !(await daemonSets.read(own, name)).status?.conditions?.some((c) => c.type === 'daemonless.dev/ReplicaFailure'), { timeoutMs: 10_000 });
    } finally {
      await deleteNamespace(core, own);
    }
  });

  // Upstream's history handlers: a revision's deletion syncs its DaemonSet (whose constructHistory makes the current
  // one again), and an orphan revision's creation syncs the DaemonSets that select it (which adopt it). Managed mode's
  // admission webhook sends no revisions: a change to the DaemonSet brings the pass there.
  const revisionsOf = async (name: string) => (await apps.listNamespacedControllerRevision({ namespace })).items.filter((r) => r.metadata?.name?.startsWith(`${name}-`));
  const pokeIfManaged = async (name: string) => {
    if (MODE === 'managed') await daemonSets.patch(namespace, name, { metadata: { annotations: { 'test.daemonless.dev/poke': String(Date.now()) } } });
  };
  const quiet = async (name: string) => {
    await waitFor('the converged status', async () => (await daemonSets.read(namespace, name)).status?.numberAvailable === nodes.length, { timeoutMs: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 3000));
  };

  it('a ControllerRevision deleted by hand is made again, on its deletion', async () => {
    const name = uniqueName('revgone');
    await daemonSets.create(namespace, testDaemonSet(namespace, name, run));
    await waitConverged(core, namespace, `app=${name}`, nodes, 30_000);
    await quiet(name);
    const [current] = await revisionsOf(name);
    expect(current).toBeDefined();
    await apps.deleteNamespacedControllerRevision({ namespace, name: current!.metadata!.name! });
    await pokeIfManaged(name);
    const again = await waitFor('the revision made again', async () =>
      (await revisionsOf(name)).find((r) => r.metadata?.name === current!.metadata!.name && r.metadata?.uid !== current!.metadata!.uid),
    { timeoutMs: 10_000 });
    expect(again.metadata?.labels?.['controller-revision-hash']).toBe(current!.metadata?.labels?.['controller-revision-hash']);
  });

  it('an orphan ControllerRevision the selector matches is adopted, on its creation', async () => {
    const name = uniqueName('revorphan');
    await daemonSets.create(namespace, testDaemonSet(namespace, name, run));
    await waitConverged(core, namespace, `app=${name}`, nodes, 30_000);
    await quiet(name);
    const ds = await daemonSets.read(namespace, name);
    const [current] = await revisionsOf(name);
    // An older template's revision, left without an owner (as `kubectl delete ds --cascade=orphan` leaves them). Its
    // data's keys in Go's order, as a Go client writes them: the API server stores `data` as sent, and a strategic
    // merge patch (the claim's, upstream's too) re-encodes it sorted, which it refuses as a change to immutable data.
    const orphan = await apps.createNamespacedControllerRevision({
      namespace,
      body: { metadata: { name: `${name}-older`, labels: { app: name, 'controller-revision-hash': 'older' } }, data: { spec: { template: { $patch: 'replace', spec: { containers: [{ image: 'registry.example/older:1', name: 'c' }] } } } }, revision: 1 },
    });
    await pokeIfManaged(name);
    await waitFor('the orphan revision adopted', async () => {
      const r = await apps.readNamespacedControllerRevision({ namespace, name: orphan.metadata!.name! });
      return (r.metadata?.ownerReferences ?? []).some((o) => o.uid === ds.metadata?.uid && o.controller === true);
    }, { timeoutMs: 10_000 });
    expect(current).toBeDefined();
  });

  it('releasing a ControllerRevision removes only its reference to the DaemonSet', async () => {
    const name = uniqueName('revrelease');
    await daemonSets.create(namespace, testDaemonSet(namespace, name, run));
    await waitConverged(core, namespace, `app=${name}`, nodes, 30_000);
    const ds = await daemonSets.read(namespace, name);
    const revision = await waitFor('the revision', async () =>
      (await apps.listNamespacedControllerRevision({ namespace })).items.find((r) => r.metadata?.name?.startsWith(`${name}-`)),
    );
    const other = await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: `${name}-owner` } } });
    const otherRef = { apiVersion: 'v1', kind: 'ConfigMap', name: other.metadata!.name!, uid: other.metadata!.uid! };
    // A second (non-controller) owner, and labels that no longer match the DaemonSet's selector.
    await apps.patchNamespacedControllerRevision(
      {
        namespace,
        name: revision.metadata!.name!,
        body: { metadata: { labels: { app: 'elsewhere' }, ownerReferences: [...revision.metadata!.ownerReferences!, otherRef] } },
      },
      MERGE,
    );
    // A DaemonSet-wide pass (any change to the DaemonSet brings one).
    await daemonSets.patch(namespace, name, { metadata: { annotations: { 'test.daemonless.dev/poke': '1' } } });
    const after = await waitFor('the revision released', async () => {
      const r: V1ControllerRevision = await apps.readNamespacedControllerRevision({ namespace, name: revision.metadata!.name! });
      return (r.metadata?.ownerReferences ?? []).some((o) => o.uid === ds.metadata?.uid) ? false : r;
    }, { timeoutMs: 30_000 });
    expect(after.metadata?.ownerReferences).toEqual([expect.objectContaining({ uid: otherRef.uid, kind: 'ConfigMap' })]);
  });
});
