/**
 * Reconciliation end to end on the real control plane: the API server delivers audit events to the functions server
 * (started by the global setup), which reconciles with the least-privilege identity. Nothing here calls the
 * reconciler directly except where a test injects duplicate deliveries on purpose.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { V1DaemonSet } from '@kubernetes/client-node';
import { addNodes, addTaint, deleteNode, failPod, setLabels, setNodeReady, waitForNodesSchedulable } from '../../devcluster/simulator/nodes.ts';
import { localPaths } from '../../devcluster/paths.ts';
import { functionsPort } from '../../devcluster/system.ts';
import { adminClient, createNamespace, deleteNamespace, loadFixture, uniqueName, waitFor } from '../support/cluster.ts';
import { DAEMONSET_KIND, RUN_LABEL, daemonSetApi, podsByNode, testDaemonSet, waitConverged } from '../support/daemon.ts';
import { nodeShouldRunDaemonPod } from '../../src/core/eligibility.ts';
import { getTargetNodeName } from '../../src/core/pod-template.ts';

const admin = adminClient();
const { core, apps, kc } = admin;
const daemonSets = daemonSetApi(kc);
const functionsUrl = `http://127.0.0.1:${functionsPort()}`;
const token = () => readFileSync(join(localPaths().root, 'functions.token'), 'utf8').trim();

describe('the reference DaemonSet (fluentd-elasticsearch, unchanged)', () => {
  const fixture = loadFixture('fluentd-elasticsearch.yaml')[0] as V1DaemonSet;
  const namespace = fixture.metadata!.namespace!;
  const name = fixture.metadata!.name!;
  const selector = 'name=fluentd-elasticsearch';
  let nodes: string[] = [];

  beforeAll(async () => {
    nodes = await addNodes(kc, 3);
    // Admission gives each new node the not-ready NoSchedule taint, which the fixture does not tolerate, until the
    // node lifecycle controller removes it: the eligibility check below reads the nodes as they then are.
    await waitForNodesSchedulable(kc, nodes);
    await daemonSets.create(namespace, fixture);
  });

  afterAll(async () => {
    await daemonSets.delete(namespace, name).catch(() => undefined);
    for (const node of nodes) await deleteNode(kc, node);
  });

  it('gets one Ready pod on every node, and its status says so', async () => {
    // Every node that should run it (other test files may leave tainted nodes behind; eligibility itself is
    // covered row by row in test/core/eligibility.test.ts) — and our three fresh nodes among them.
    const ds = await daemonSets.read(namespace, name);
    const all = (await core.listNode()).items.filter((n) => nodeShouldRunDaemonPod(n, ds).shouldRun).map((n) => n.metadata!.name!);
    for (const node of nodes) expect(all).toContain(node);
    const pods = await waitConverged(core, namespace, selector, all, 30_000);
    for (const node of nodes) expect(pods.get(node)?.spec?.nodeName).toBe(node);
    // The pod carries upstream's labels and controllerRef, and is bound by kube-scheduler, not by us.
    const pod = pods.get(nodes[0]!)!;
    expect(pod.metadata?.labels?.['controller-revision-hash']).toMatch(/^[a-z0-9]+$/);
    expect(pod.metadata?.ownerReferences?.[0]).toMatchObject({ kind: DAEMONSET_KIND.kind, name, controller: true, blockOwnerDeletion: true });
    expect(pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms).toEqual([
      { matchFields: [{ key: 'metadata.name', operator: 'In', values: [nodes[0]] }] },
    ]);
  });

  it('its status records the current revision: the hash its pods carry, which a joining node\'s pass reads instead of the revisions', async () => {
    const recorded = await waitFor('the current revision in the status', async () => {
      const ds = await daemonSets.read(namespace, name);
      const condition = ds.status?.conditions?.find((c) => c.type === 'daemonless.dev/CurrentRevision');
      return condition && ds.status?.observedGeneration === ds.metadata?.generation ? condition : false;
    });
    const pods = (await core.listNamespacedPod({ namespace, labelSelector: selector })).items;
    const hashes = new Set(pods.map((p) => p.metadata?.labels?.['controller-revision-hash']));
    expect(hashes.size).toBe(1);
    const [hash] = hashes;
    expect(recorded).toMatchObject({ status: 'True', reason: 'RevisionWritten', message: `controller-revision-hash=${hash}` });
    const revisions = await apps.listNamespacedControllerRevision({ namespace, labelSelector: `controller-revision-hash=${hash}` });
    expect(revisions.items.map((r) => r.metadata?.ownerReferences?.[0]?.name)).toEqual([name]);
  });

  it('records SuccessfulCreate Events on the DaemonSet', async () => {
    const events = await waitFor('SuccessfulCreate events', async () => {
      const list = await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` });
      return list.items.filter((e) => e.reason === 'SuccessfulCreate').length > 0 ? list.items : false;
    });
    expect(events.some((e) => e.message?.startsWith('Created pod: fluentd-elasticsearch-'))).toBe(true);
  });

  it('deleted DaemonSet → its pods are removed by the garbage collector', async () => {
    await daemonSets.delete(namespace, name);
    await waitFor('no fluentd pods left', async () => (await core.listNamespacedPod({ namespace, labelSelector: selector })).items.length === 0, {
      timeoutMs: 30_000,
    });
  });
});

describe('node lifecycle and eligibility', () => {
  let namespace = '';
  const run = uniqueName('run');
  const name = 'agent';
  const selector = `app=${name}`;
  const nodes: string[] = [];

  beforeAll(async () => {
    namespace = await createNamespace(core);
    nodes.push(...(await addNodes(kc, 2, { labels: { [RUN_LABEL]: run } })));
    await daemonSets.create(namespace, testDaemonSet(namespace, name, run));
    await waitConverged(core, namespace, selector, nodes);
  });

  afterAll(async () => {
    await deleteNamespace(core, namespace);
    for (const node of nodes) await deleteNode(kc, node);
  });

  it('node added → it gets a pod', async () => {
    const [added] = await addNodes(kc, 1, { labels: { [RUN_LABEL]: run } });
    nodes.push(added!);
    await waitConverged(core, namespace, selector, nodes);
  });

  it('the status counts the new node, recording the node and pod lists it counted from (a later join follow-up reads only the DaemonSet)', async () => {
    // core/status.ts `countedCondition`: written with a status written anyway; the lists' resourceVersions compare as
    // integers with those of the objects they hold (KEP-5504), which is what lets a follow-up see it is covered.
    const counted = await waitFor('the status counting every node, with what it counted from', async () => {
      const ds = await daemonSets.read(namespace, name);
      const condition = ds.status?.conditions?.find((c) => c.type === 'daemonless.dev/Counted');
      const ready = ds.status?.observedGeneration === ds.metadata?.generation && ds.status?.numberReady === nodes.length;
      return ready && condition ? condition : false;
    });
    expect(counted).toMatchObject({ status: 'True', reason: 'ListsCounted', message: expect.stringMatching(/^nodes at resourceVersion \d+, pods at resourceVersion \d+$/) });
    const [, nodesAt, podsAt] = /(\d+), pods at resourceVersion (\d+)$/.exec(counted.message!)!;
    // Every pod as the status counted it Ready was in the pod list, so that list is no older than each pod's last
    // change; the new node, as it was when its pod was made, is no newer than the node list.
    const pods = (await core.listNamespacedPod({ namespace, labelSelector: selector })).items;
    expect(pods).toHaveLength(nodes.length);
    for (const pod of pods) expect(BigInt(podsAt!)).toBeGreaterThanOrEqual(BigInt(pod.metadata!.resourceVersion!));
    expect(BigInt(nodesAt!)).toBeGreaterThan(0n);
  });

  it('a node registering not Ready, as a kubelet does: a DaemonSet tolerating every taint gets its pod at once, the others once it reports Ready', async () => {
    // The node's creation pass (Hint `created`) reads no pods where no DaemonSet should run one; a CNI-like DaemonSet
    // should. Which pass creates its pod is not visible here (the node lifecycle controller's not-ready NoExecute
    // taint on the new node brings another pass at once): test/reconcile/shell.test.ts counts the creation pass's
    // reads and writes. This checks the outcome on the real control plane.
    const cni = testDaemonSet(namespace, 'cni', run);
    cni.spec!.template.spec!.tolerations = [{ operator: 'Exists' }];
    await daemonSets.create(namespace, cni);
    await waitConverged(core, namespace, 'app=cni', nodes);
    const [joining] = await addNodes(kc, 1, { labels: { [RUN_LABEL]: run }, notReady: true });
    const aimedAt = async (labelSelector: string) =>
      (await core.listNamespacedPod({ namespace, labelSelector })).items.filter((p) => getTargetNodeName(p) === joining);
    await waitFor('the tolerating DaemonSet’s pod on the node registering', async () => (await aimedAt('app=cni')).length === 1);
    // Give the node's events time to arrive and be acted on: no pod of the other DaemonSet while the node is not Ready.
    await new Promise((r) => setTimeout(r, 2_000));
    expect(await aimedAt(selector)).toEqual([]);
    await setNodeReady(kc, joining!, true);
    await waitConverged(core, namespace, selector, [...nodes, joining!]);
    await waitConverged(core, namespace, 'app=cni', [...nodes, joining!]);
    expect(await aimedAt('app=cni')).toHaveLength(1);
    await daemonSets.delete(namespace, 'cni');
    await deleteNode(kc, joining!);
    await waitConverged(core, namespace, selector, nodes);
  });

  it('node deleted → its pod is removed at once', async () => {
    const gone = nodes.pop()!;
    await deleteNode(kc, gone);
    await waitConverged(core, namespace, selector, nodes);
  });

  it('node loses the selected label → its pod is removed; label back → a pod again', async () => {
    const node = nodes[1]!;
    await setLabels(kc, node, { [RUN_LABEL]: null });
    await waitConverged(core, namespace, selector, [nodes[0]!]);
    await setLabels(kc, node, { [RUN_LABEL]: run });
    await waitConverged(core, namespace, selector, nodes);
  });

  it('NoSchedule taint on a running node keeps its pod; a node registered with it gets none', async () => {
    const before = await waitConverged(core, namespace, selector, nodes);
    await addTaint(kc, nodes[0]!, { key: 'example.com/maintenance', value: 'soon', effect: 'NoSchedule' });
    const [tainted] = await addNodes(kc, 1, {
      labels: { [RUN_LABEL]: run },
      taints: [{ key: 'example.com/maintenance', value: 'soon', effect: 'NoSchedule' }],
    });
    // Give the events time to arrive and be acted on; the state must not change.
    await new Promise((r) => setTimeout(r, 3_000));
    const after = await waitConverged(core, namespace, selector, nodes);
    expect(after.get(nodes[0]!)?.metadata?.uid).toBe(before.get(nodes[0]!)?.metadata?.uid);
    expect((await podsByNode(core, namespace, selector)).get(tainted!)).toBeUndefined();
    await deleteNode(kc, tainted!);
  });

  it('NoExecute taint → the pod is gone and no new one is created on that node', async () => {
    await addTaint(kc, nodes[1]!, { key: 'example.com/broken', effect: 'NoExecute' });
    // kube-controller-manager's taint-eviction controller deletes the pod too, so its disappearance alone proves little;
    // what only daemonless decides is that the node no longer runs one: none may come back once the events have settled.
    await waitConverged(core, namespace, selector, [nodes[0]!]);
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await podsByNode(core, namespace, selector)).get(nodes[1]!)).toBeUndefined();
  });
});

describe('failures and duplicates', () => {
  let namespace = '';
  const run = uniqueName('run');
  const name = 'agent';
  const selector = `app=${name}`;
  let nodes: string[] = [];

  beforeAll(async () => {
    namespace = await createNamespace(core);
    nodes = await addNodes(kc, 2, { labels: { [RUN_LABEL]: run } });
    await daemonSets.create(namespace, testDaemonSet(namespace, name, run));
    await waitConverged(core, namespace, selector, nodes);
  });

  afterAll(async () => {
    await deleteNamespace(core, namespace);
    for (const node of nodes) await deleteNode(kc, node);
  });

  it('failed pod → deleted and replaced; a second failure within the 1 s backoff is held back until it expires', async () => {
    const before = await waitConverged(core, namespace, selector, nodes);
    const failed = before.get(nodes[0]!)!;
    await failPod(kc, namespace, failed.metadata!.name!);
    // daemonless's Leases live in its own namespace, labelled with the DaemonSet they belong to.
    const dsUid = (await daemonSets.read(namespace, name)).metadata!.uid!;
    const backoffLeases = async () =>
      (await admin.coordination.listNamespacedLease({ namespace: 'daemonless-system', labelSelector: `daemonless.dev/daemonset-uid=${dsUid},daemonless.dev/purpose=backoff` })).items;
    const lastDeletion = async (): Promise<number> => {
      const leases = await backoffLeases();
      expect(leases).toHaveLength(1);
      return Date.parse(leases[0]!.metadata?.annotations?.['daemonless.dev/last-deletion'] ?? '');
    };

    // The replacement fails as soon as it exists, well inside the 1 s the first deletion started.
    const second = await waitFor('a replacement pod on the node', async () =>
      ((await podsByNode(core, namespace, selector)).get(nodes[0]!) ?? []).find((p) => p.metadata?.uid !== failed.metadata?.uid && !p.metadata?.deletionTimestamp),
    { intervalMs: 50 });
    const firstDeletion = await lastDeletion();
    await failPod(kc, namespace, second.metadata!.name!);
    const failedAt = Date.now();
    expect(failedAt - firstDeletion, 'the second failure must land inside the first backoff for this test to mean anything').toBeLessThan(1_000);

    // The backoff holds that delete back until 1 s after the first, a timer re-queues it, and the delay doubles.
    const third = await waitConverged(core, namespace, selector, nodes, 30_000);
    expect(third.get(nodes[0]!)?.metadata?.uid).not.toBe(second.metadata?.uid);
    const secondDeletion = await lastDeletion();
    expect(secondDeletion - firstDeletion).toBeGreaterThanOrEqual(1_000);
    const [lease] = await backoffLeases();
    expect(lease?.spec?.leaseDurationSeconds).toBe(2);
    const events = await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` });
    const failures = events.items.filter((e) => e.reason === 'FailedDaemonPod').map((e) => e.message ?? '');
    for (const pod of [failed, second]) expect(failures.some((m) => m.includes(pod.metadata!.name!))).toBe(true);
  });

  it('the same event delivered 20 times at once → exactly one pod', async () => {
    // A fresh node the DaemonSet selects; the API server's own delivery races with the 20 copies.
    const [node] = await addNodes(kc, 1, { labels: { [RUN_LABEL]: run } });
    nodes.push(node!);
    const event = JSON.stringify({ type: 'ADDED', object: { apiVersion: 'v1', kind: 'Node', metadata: { name: node } } });
    // Each sender retries a throttled or failed delivery (429/5xx), as the API server's webhooks do: in the Lambda
    // runtime 20 at once exceed the watch function's reserved concurrency, and API Gateway answers some with 500.
    const deliver = async (): Promise<number> => {
      for (let attempt = 0; ; attempt++) {
        const response = await fetch(`${functionsUrl}/events/watch`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token()}` },
          body: event,
        });
        if ((response.status !== 429 && response.status < 500) || attempt >= 10) return response.status;
        await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
      }
    };
    const statuses = await Promise.all(Array.from({ length: 20 }, deliver));
    expect(statuses.every((s) => s === 200)).toBe(true);
    await waitConverged(core, namespace, selector, nodes);
    // Stays at one: no duplicate shows up later, none was created and deleted.
    await new Promise((r) => setTimeout(r, 2_000));
    const pods = (await podsByNode(core, namespace, selector)).get(node!) ?? [];
    expect(pods).toHaveLength(1);
    const creates = await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name},reason=SuccessfulCreate` });
    expect(creates.items.filter((e) => e.message?.includes(pods[0]!.metadata!.name!))).toHaveLength(1);
  });
});
