/**
 * Nodes and pods listed in protobuf (src/k8s/protobuf.ts, the default LIST_ENCODING) come out exactly as the same
 * lists in JSON, projected (core/fields.ts), from the real API server: pods bound and pending, owned, with
 * finalizers, being deleted, with required node affinity, Ready or not; nodes with labels, taints (one with
 * timeAdded) and cordoned. The protobuf decoder is checked to have run, and an error answer in protobuf still names
 * its cause.
 *
 * The nodes carry a taint of their own that only this test's pods tolerate, so no other suite's DaemonSet puts pods
 * on them while the two encodings are compared.
 */
import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { RejectedError } from '../../src/errors.ts';
import { readNoEarlier } from '../../src/core/versions.ts';
import { createCluster, type Cluster, type ListEncoding } from '../../src/k8s/cluster.ts';
import { createTransport, type Transport } from '../../src/k8s/transport.ts';
import { mergePatch } from '../../devcluster/simulator/client.ts';
import { addNodes, deleteNodes } from '../../devcluster/simulator/nodes.ts';
import { adminClient, createNamespace, deleteNamespace, reconcilerClient, uniqueName, waitFor } from '../support/cluster.ts';

const admin = adminClient();
const reconciler = reconcilerClient();
const OWN_TAINT = { key: 'daemonless.test/list-encoding', value: 'only', effect: 'NoSchedule' as const };
let namespace: string;
let nodes: string[] = [];

/** The reconciler's Cluster port in one encoding, and how many answers the protobuf decoder turned into a list. */
function clusterIn(encoding: ListEncoding): { cluster: Cluster; decoded: () => number } {
  const transport = createTransport(reconciler.kc, { requestTimeoutMs: 10_000 });
  let decoded = 0;
  const counting: Transport = {
    counter: transport.counter,
    send: (request) =>
      transport.send(request.decode ? { ...request, decode: (body) => ((decoded += 1), request.decode!(body)) } : request),
  };
  return { cluster: createCluster(counting, { deadline: Date.now() + 120_000, listEncoding: encoding }), decoded: () => decoded };
}

function pod(name: string, spec: Partial<NonNullable<V1Pod['spec']>>, metadata: Partial<NonNullable<V1Pod['metadata']>> = {}): V1Pod {
  return {
    metadata: { name, labels: { app: 'list-encoding', 'example.com/tier': name }, ...metadata },
    spec: {
      containers: [{ name: 'main', image: 'registry.example/agent:1', env: [{ name: 'A', value: 'b' }], ports: [{ containerPort: 8080 }] }],
      volumes: [{ name: 'logs', hostPath: { path: '/var/log' } }],
      tolerations: [{ key: OWN_TAINT.key, operator: 'Exists' }, { operator: 'Exists', effect: 'NoExecute' }],
      ...spec,
    },
  };
}

const affinityTo = (node: string) => ({
  nodeAffinity: {
    requiredDuringSchedulingIgnoredDuringExecution: {
      nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [node] }], matchExpressions: [{ key: 'kubernetes.io/os', operator: 'Exists' }] }],
    },
  },
});

beforeAll(async () => {
  namespace = await createNamespace(admin.core, uniqueName('list-encoding'));
  nodes = await addNodes(admin.kc, 2, { labels: { 'example.com/pool': 'list-encoding' }, taints: [OWN_TAINT] });
  // A NoExecute taint with the time it was added (as the node lifecycle controller writes them), and cordoned.
  const taints = (await admin.core.readNode({ name: nodes[1]! })).spec?.taints ?? [];
  const maintenance = { key: 'example.com/maintenance', effect: 'NoExecute', timeAdded: new Date(Date.now() - 60_000).toISOString() };
  await admin.core.patchNode({ name: nodes[1]!, body: { spec: { unschedulable: true, taints: [...taints, maintenance] } } }, mergePatch);
  // An owner that exists (the garbage collector deletes pods whose owner does not), and that no controller acts on.
  const cm = await admin.core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'owner' } } });
  const owner = { apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: cm.metadata!.uid!, controller: true, blockOwnerDeletion: true };
  const bodies = [
    pod('bound', { nodeName: nodes[0]!, affinity: affinityTo(nodes[0]!) }, { ownerReferences: [owner] }),
    pod('pending', { affinity: affinityTo('no-such-node') }, { ownerReferences: [{ ...owner, controller: false, blockOwnerDeletion: undefined }] }),
    pod('held', { nodeName: nodes[0]! }, { finalizers: ['example.com/hold'] }),
  ];
  for (const body of bodies) await admin.core.createNamespacedPod({ namespace, body });
  // `held` is being deleted: it keeps a deletionTimestamp until its finalizer goes.
  await admin.core.deleteNamespacedPod({ namespace, name: 'held' });
  // The simulator reports the bound pod Running and Ready (its status then has conditions and container statuses).
  await waitFor('the bound pod Ready', async () => {
    const p = await admin.core.readNamespacedPod({ namespace, name: 'bound' });
    return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? p : undefined;
  });
}, 120_000);

afterAll(async () => {
  await admin.core.patchNamespacedPod({ namespace, name: 'held', body: { metadata: { finalizers: null } } }, mergePatch).catch(() => undefined);
  await deleteNamespace(admin.core, namespace);
  await deleteNodes(admin.kc, nodes);
});

describe('lists in protobuf and in JSON', () => {
  it('pods of a namespace and of a node, and nodes: the same projections', async () => {
    const protobuf = clusterIn('protobuf');
    const json = clusterIn('json');
    // Compared until two reads in a row agree: the simulator may still be writing a status between them.
    const pair = await waitFor('both encodings to read the same', async () => {
      const [p, j] = await Promise.all([read(protobuf.cluster), read(json.cluster)]);
      return isDeepStrictEqual(p, j) ? { p, j } : undefined;
    });
    expect(pair.p).toEqual(pair.j);
    // What the decoder had to get right is there.
    const byName = new Map(pair.p.pods.map((x) => [x.metadata?.name, x]));
    expect(byName.get('bound')?.status?.conditions?.[0]).toMatchObject({ type: 'Ready', status: 'True', lastTransitionTime: expect.any(String) });
    expect(byName.get('bound')?.metadata?.ownerReferences?.[0]).toMatchObject({ controller: true, blockOwnerDeletion: true });
    expect(byName.get('pending')?.spec?.nodeName).toBeUndefined();
    expect(byName.get('pending')?.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms[0]?.matchFields?.[0]?.values).toEqual(['no-such-node']);
    expect(byName.get('held')?.metadata?.deletionTimestamp).toEqual(expect.any(String));
    expect(byName.get('held')?.metadata?.finalizers).toEqual(['example.com/hold']);
    expect(pair.p.nodes[1]?.spec).toMatchObject({ unschedulable: true, taints: expect.arrayContaining([expect.objectContaining({ key: 'example.com/maintenance', timeAdded: expect.any(String) })]) });
    expect(protobuf.decoded()).toBeGreaterThanOrEqual(3);
    expect(json.decoded()).toBe(0);
  });

  it('a pod list by node carries the resourceVersion it was read at, in both encodings, and a later list is no earlier', async () => {
    for (const cluster of [clusterIn('protobuf').cluster, clusterIn('json').cluster]) {
      const unbound = await cluster.listUnscheduledPods();
      await admin.core.patchNamespacedPod({ namespace, name: 'bound', body: { metadata: { labels: { touched: String(Date.now()) } } } }, mergePatch);
      const onNode = await cluster.listPodsOnNode(nodes[0]!);
      expect(unbound.resourceVersion).toMatch(/^[1-9][0-9]*$/);
      expect(readNoEarlier(onNode.resourceVersion, unbound.resourceVersion)).toBe(true);
      expect(readNoEarlier(unbound.resourceVersion, onNode.resourceVersion)).toBe(false);
    }
  });

  it('an error answer in protobuf still says what was wrong', async () => {
    const { cluster } = clusterIn('protobuf');
    const error = await cluster.listPods(namespace, 'app in (a').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RejectedError);
    expect(String((error as Error).message)).toMatch(/400.*BadRequest.*unable to parse requirement/);
  });
});

async function read(cluster: Cluster) {
  const [pods, onNode, allNodes] = await Promise.all([cluster.listPods(namespace), cluster.listPodsOnNode(nodes[0]!), cluster.listNodes()]);
  return { pods, onNode: onNode.pods, nodes: allNodes.filter((n) => nodes.includes(n.metadata?.name ?? '')) };
}
