/**
 * The local control plane is a real Kubernetes API: objects round-trip through etcd, the default admission plugins
 * apply, and the reconciler identity holds exactly the permissions infra/rbac.yaml grants.
 */
import type { V1DaemonSet, V1Node, V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Clients,
  adminClient,
  apiStatus,
  createNamespace,
  deleteNamespace,
  ignoreNotFound,
  loadFixture,
  reconcilerClient,
  uniqueName,
  waitFor,
} from '../support/cluster.ts';

let admin: Clients;
let reconciler: Clients;
let namespace: string;
const nodeName = uniqueName('cp-node');
// Keeps the fixture DaemonSet's pods (should a reconciler be running) on this test's node only.
const nodeLabel = { 'daemonless.dev/controlplane-test': nodeName };

beforeAll(async () => {
  admin = adminClient();
  reconciler = reconcilerClient();
  namespace = await createNamespace(admin.core, uniqueName('cp'));
});

afterAll(async () => {
  if (!admin) return;
  if (namespace) await deleteNamespace(admin.core, namespace);
  await admin.core.deleteNode({ name: nodeName }).catch(ignoreNotFound);
});

function node(): V1Node {
  return {
    metadata: { name: nodeName, labels: { 'kubernetes.io/hostname': nodeName, 'kubernetes.io/os': 'linux', ...nodeLabel } },
    status: { capacity: { cpu: '4', memory: '8Gi', pods: '110' }, allocatable: { cpu: '4', memory: '8Gi', pods: '110' } },
  };
}

function pod(name: string): V1Pod {
  return {
    metadata: { name, labels: { app: 'controlplane-test' } },
    // Bound directly: a test node without a kubelet never reports Ready, so the scheduler would not place it.
    spec: { nodeName, containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }] },
  };
}

describe('objects round-trip through the API server', () => {
  it('creates and reads back a Namespace', async () => {
    const ns = await admin.core.readNamespace({ name: namespace });
    expect(ns.status?.phase).toBe('Active');
    expect(ns.metadata?.labels?.['daemonless.dev/test']).toBe('true');
  });

  it('creates a Node, tainted not-ready by admission, and reads it back', async () => {
    const created = await admin.core.createNode({ body: node() });
    // TaintNodesByCondition: proves the default admission plugins are on. Only the create response is checked: the
    // node lifecycle controller drops the taint again within milliseconds for a node that reports no conditions.
    expect(created.spec?.taints).toContainEqual(expect.objectContaining({ key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' }));
    const read = await admin.core.readNode({ name: nodeName });
    expect(read.metadata?.labels).toMatchObject(nodeLabel);
    expect(read.status?.allocatable?.['pods']).toBe('110');
  });

  it('creates the reference DaemonSet from the fixture and reads it back', async () => {
    const [fixture] = loadFixture('fluentd-elasticsearch.yaml');
    expect(fixture?.['kind']).toBe('DaemonSet');
    // Same object, in this test's namespace instead of kube-system, and kept to this test's node.
    const body = structuredClone(fixture) as V1DaemonSet;
    body.metadata = { ...body.metadata, namespace };
    body.spec!.template.spec!.nodeSelector = nodeLabel;
    const created = await admin.apps.createNamespacedDaemonSet({ namespace, body });
    expect(created.metadata?.generation).toBe(1);

    const read = await admin.apps.readNamespacedDaemonSet({ name: 'fluentd-elasticsearch', namespace });
    expect(read.metadata?.labels).toEqual({ 'k8s-app': 'fluentd-logging' });
    expect(read.spec?.selector.matchLabels).toEqual({ name: 'fluentd-elasticsearch' });
    expect(read.spec?.template.spec?.containers[0]?.image).toBe('k8s.gcr.io/fluentd-elasticsearch:1.20');
    // Defaults filled in by the API server.
    expect(read.spec?.updateStrategy?.type).toBe('RollingUpdate');
    expect(read.spec?.revisionHistoryLimit).toBe(10);
  });

  it('creates a Pod and reads it back, with the admission defaults applied', async () => {
    const name = uniqueName('cp-pod');
    await admin.core.createNamespacedPod({ namespace, body: pod(name) });
    const read = await admin.core.readNamespacedPod({ name, namespace });
    expect(read.spec?.nodeName).toBe(nodeName);
    expect(read.spec?.serviceAccountName).toBe('default'); // ServiceAccount admission
    // DefaultTolerationSeconds admission.
    expect(read.spec?.tolerations).toContainEqual(
      expect.objectContaining({ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute', tolerationSeconds: 300 }),
    );
  });
});

describe('the reconciler identity', () => {
  interface Access {
    readonly verb: string;
    readonly resource: string;
    readonly group?: string;
    readonly subresource?: string;
    readonly namespaced?: boolean;
    /** Another namespace than the test's (daemonless's Lease namespace, kube-system, …). */
    readonly in?: string;
    readonly label: string;
  }
  const access = (verb: string, resource: string, more: Partial<Access> = {}): Access => ({
    verb,
    resource,
    ...more,
    label: `${verb} ${more.group ? `${more.group}/` : ''}${resource}${more.subresource ? `/${more.subresource}` : ''}${more.in ? ` in ${more.in}` : ''}`,
  });

  async function allowed(a: Access): Promise<boolean> {
    const review = await reconciler.authorization.createSelfSubjectAccessReview({
      body: {
        spec: {
          resourceAttributes: {
            verb: a.verb,
            resource: a.resource,
            group: a.group ?? '',
            ...(a.subresource ? { subresource: a.subresource } : {}),
            ...(a.namespaced === false ? {} : { namespace: a.in ?? namespace }),
          },
        },
      },
    });
    return review.status?.allowed === true;
  }

  // One row per rule of infra/rbac.yaml.
  it.each([
    access('get', 'nodes', { namespaced: false }),
    access('list', 'nodes', { namespaced: false }),
    access('get', 'pods'),
    access('list', 'pods'),
    access('create', 'pods'),
    access('delete', 'pods'),
    access('patch', 'pods'), // adoption: ownerReferences
    access('list', 'daemonsets', { group: 'apps' }),
    access('update', 'daemonsets', { group: 'apps', subresource: 'status' }),
    access('update', 'daemonsets', { group: 'apps', subresource: 'finalizers' }), // blockOwnerDeletion
    access('list', 'serverlessdaemonsets', { group: 'daemonless.dev' }),
    access('update', 'serverlessdaemonsets', { group: 'daemonless.dev', subresource: 'status' }),
    access('create', 'controllerrevisions', { group: 'apps' }),
    access('delete', 'controllerrevisions', { group: 'apps' }),
    access('create', 'events'),
    access('create', 'leases', { group: 'coordination.k8s.io', in: 'daemonless-system' }),
    access('update', 'leases', { group: 'coordination.k8s.io', in: 'daemonless-system' }),
  ])('may $label', async (a) => {
    expect(await allowed(a)).toBe(true);
  });

  it.each([
    access('get', 'secrets'),
    access('list', 'secrets'),
    access('delete', 'nodes', { namespaced: false }),
    access('patch', 'nodes', { namespaced: false }), // node lifecycle belongs to kubelets and kube-controller-manager
    access('update', 'nodes', { namespaced: false, subresource: 'status' }),
    access('update', 'daemonsets', { group: 'apps' }), // the spec is the user's
    access('patch', 'daemonsets', { group: 'apps' }),
    access('delete', 'daemonsets', { group: 'apps' }),
    access('update', 'pods'), // pods are replaced, never edited in place
    access('update', 'pods', { subresource: 'status' }),
    access('create', 'pods', { subresource: 'eviction' }),
    access('create', 'configmaps'),
    access('create', 'rolebindings', { group: 'rbac.authorization.k8s.io' }),
    access('watch', 'nodes', { namespaced: false }), // never used: nothing watches
    access('update', 'controllerrevisions', { group: 'apps' }),
    // Leases only in daemonless's own namespace: not node heartbeats, not leader election, not the test's namespace.
    access('update', 'leases', { group: 'coordination.k8s.io', in: 'kube-node-lease' }),
    access('update', 'leases', { group: 'coordination.k8s.io', in: 'kube-system' }),
    access('create', 'leases', { group: 'coordination.k8s.io' }),
  ])('may not $label', async (a) => {
    expect(await allowed(a)).toBe(false);
  });

  it('lists nodes, creates and deletes a pod, writes DaemonSet status, records an event and takes a lease', async () => {
    const nodes = await reconciler.core.listNode();
    expect(nodes.items.map((n) => n.metadata?.name)).toContain(nodeName);

    const name = uniqueName('rec-pod');
    await reconciler.core.createNamespacedPod({ namespace, body: pod(name) });
    // Zero grace period: no kubelet will confirm a graceful deletion of a pod bound to this node.
    await reconciler.core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 });
    await expect(reconciler.core.readNamespacedPod({ name, namespace })).rejects.toMatchObject({ code: 404 });

    // The running functions reconcile this DaemonSet too: a status write of theirs in between is a 409; read again.
    const written = await waitFor('a status write not raced by the functions', async () => {
      const current = await reconciler.apps.readNamespacedDaemonSet({ name: 'fluentd-elasticsearch', namespace });
      try {
        return await reconciler.apps.replaceNamespacedDaemonSetStatus({
          name: 'fluentd-elasticsearch',
          namespace,
          body: { ...current, status: { ...current.status!, observedGeneration: 1 } },
        });
      } catch (error) {
        if ((error as { code?: number }).code === 409) return false;
        throw error;
      }
    });
    expect(written.status?.observedGeneration).toBe(1);

    const ds = await reconciler.apps.readNamespacedDaemonSet({ name: 'fluentd-elasticsearch', namespace });
    const event = await reconciler.core.createNamespacedEvent({
      namespace,
      body: {
        metadata: { generateName: 'fluentd-elasticsearch-' },
        involvedObject: { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'fluentd-elasticsearch', namespace, uid: ds.metadata!.uid! },
        reason: 'ControlPlaneTest',
        message: 'the reconciler identity may record events',
        type: 'Normal',
        source: { component: 'daemonless' },
      },
    });
    expect(event.reason).toBe('ControlPlaneTest');

    const lease = await reconciler.coordination.createNamespacedLease({
      namespace: 'daemonless-system',
      body: { metadata: { name: uniqueName('lock') }, spec: { holderIdentity: 'controlplane-test', leaseDurationSeconds: 15 } },
    });
    await reconciler.coordination.deleteNamespacedLease({ name: lease.metadata!.name!, namespace: 'daemonless-system' });
  });

  it('is refused (403) reading secrets, deleting nodes and changing a DaemonSet spec', async () => {
    const refused = async (call: Promise<unknown>): Promise<number | undefined> =>
      call.then(
        () => 200,
        (error: unknown) => apiStatus(error),
      );
    expect(await refused(reconciler.core.listNamespacedSecret({ namespace }))).toBe(403);
    expect(await refused(reconciler.core.deleteNode({ name: nodeName }))).toBe(403);
    expect(
      await refused(
        reconciler.apps.patchNamespacedDaemonSet({
          name: 'fluentd-elasticsearch',
          namespace,
          body: [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'example.com/evil:1' }],
        }),
      ),
    ).toBe(403);
    // Nothing changed.
    const node = await admin.core.readNode({ name: nodeName });
    expect(node.metadata?.deletionTimestamp).toBeUndefined();
  });
});
