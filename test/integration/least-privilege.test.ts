/**
 * Least privilege, checked (issue 13 item 6): every call of the Cluster port (src/k8s/cluster.ts) made as the
 * reconciler identity (`.local/reconciler.kubeconfig`, bound by infra/rbac.yaml) — what it needs works — and what
 * that identity may NOT do, proven against the real API server: a table of access reviews, real refused calls, and
 * other controllers' objects that the port's own preconditions and the API server's ownership rules keep it off.
 *
 * The table says what RBAC allows TODAY and what it SHOULD allow; each row checks TODAY against the API server. No row
 * differs now (the last gap, Leases in every namespace, closed with LEASE_NAMESPACE): a gap found later is written as a
 * row whose `today` differs from its `should`, which fails the suite until infra/rbac.yaml closes it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { V1OwnerReference, V1Pod } from '@kubernetes/client-node';
import { releaseLists } from '../../src/core/claim.ts';
import { complementQueries, selectorMatches } from '../../src/core/label-selector.ts';
import { ConflictError, RejectedError } from '../../src/errors.ts';
import { createCalls, createCluster, type Cluster } from '../../src/k8s/cluster.ts';
import { createPassLock, createPassScheduler, leaseName } from '../../src/k8s/leases.ts';
import { createTransport } from '../../src/k8s/transport.ts';
import { adminClient, apiStatus, createNamespace, deleteNamespace, reconcilerClient, uniqueName, waitFor } from '../support/cluster.ts';
import { addNodes, deleteNode } from '../../devcluster/simulator/nodes.ts';

const admin = adminClient();
const reconciler = reconcilerClient();

type Verdict = 'allow' | 'deny';
interface Row {
  label: string;
  attributes: { verb: string; resource: string; group?: string; subresource?: string; namespace?: string };
  today: Verdict;
  should: Verdict;
  /** Why it should be so, or why it cannot be narrower. */
  why: string;
}
const row = (label: string, attributes: Row['attributes'], today: Verdict, should: Verdict, why: string): Row => ({ label, attributes, today, should, why });
const lease = { resource: 'leases', group: 'coordination.k8s.io' };

const table: Row[] = [
  row('read secrets', { verb: 'get', resource: 'secrets', namespace: 'kube-system' }, 'deny', 'deny', 'never needed'),
  row('list secrets cluster-wide', { verb: 'list', resource: 'secrets' }, 'deny', 'deny', 'never needed'),
  row('read configmaps', { verb: 'get', resource: 'configmaps', namespace: 'kube-system' }, 'deny', 'deny', 'never needed'),
  row('delete nodes', { verb: 'delete', resource: 'nodes' }, 'deny', 'deny', 'node lifecycle is not ours'),
  row('write node status', { verb: 'patch', resource: 'nodes', subresource: 'status' }, 'deny', 'deny', 'kubelets and kube-controller-manager own it'),
  row('change a DaemonSet spec', { verb: 'update', resource: 'daemonsets', group: 'apps', namespace: 'default' }, 'deny', 'deny', 'the spec is the user\'s'),
  row('delete DaemonSets', { verb: 'delete', resource: 'daemonsets', group: 'apps', namespace: 'default' }, 'deny', 'deny', 'the user\'s'),
  row('evict pods', { verb: 'create', resource: 'pods', subresource: 'eviction', namespace: 'default' }, 'deny', 'deny', 'deletes carry UID preconditions instead'),
  row('exec into pods', { verb: 'create', resource: 'pods', subresource: 'exec', namespace: 'default' }, 'deny', 'deny', 'never needed'),
  row('mint service-account tokens', { verb: 'create', resource: 'serviceaccounts', subresource: 'token', namespace: 'kube-system' }, 'deny', 'deny', 'escalation'),
  row('impersonate users', { verb: 'impersonate', resource: 'users' }, 'deny', 'deny', 'escalation'),
  row('bind cluster roles', { verb: 'bind', resource: 'clusterroles', group: 'rbac.authorization.k8s.io' }, 'deny', 'deny', 'escalation'),
  row('escalate cluster roles', { verb: 'escalate', resource: 'clusterroles', group: 'rbac.authorization.k8s.io' }, 'deny', 'deny', 'escalation'),
  row('create namespaces', { verb: 'create', resource: 'namespaces' }, 'deny', 'deny', 'never needed'),
  row('write webhook configurations', { verb: 'create', resource: 'validatingwebhookconfigurations', group: 'admissionregistration.k8s.io' }, 'deny', 'deny', 'would let it see every request'),
  // Closed: the Lease rule was cluster-wide; daemonless's Leases now live in their own namespace (LEASE_NAMESPACE,
  // daemonless-system), granted by a Role there (infra/rbac.yaml).
  row('write Leases in kube-node-lease (node heartbeats)', { verb: 'update', ...lease, namespace: 'kube-node-lease' }, 'deny', 'deny', 'could keep a dead node looking alive, or make a live one look dead'),
  row('create Leases in kube-node-lease', { verb: 'create', ...lease, namespace: 'kube-node-lease' }, 'deny', 'deny', 'as above'),
  row('write Leases in kube-system (leader election)', { verb: 'update', ...lease, namespace: 'kube-system' }, 'deny', 'deny', 'could take the controller-manager\'s or scheduler\'s leadership'),
  row('delete Leases in kube-system', { verb: 'delete', ...lease, namespace: 'kube-system' }, 'deny', 'deny', 'as above'),
  row('write Leases in a namespace without DaemonSets', { verb: 'create', ...lease, namespace: 'default' }, 'deny', 'deny', 'not needed there'),
  // Inherent to a DaemonSet controller (upstream's daemon-set-controller role is the same): RBAC cannot scope by
  // owner. What keeps the reconciler off other controllers' objects is the core's ownership check and the port's
  // preconditions (tested below), not RBAC.
  row('delete any pod, e.g. in kube-system', { verb: 'delete', resource: 'pods', namespace: 'kube-system' }, 'allow', 'allow', 'daemon pods live in any namespace; RBAC cannot scope by owner'),
  row('patch any pod (adopt/release)', { verb: 'patch', resource: 'pods', namespace: 'kube-system' }, 'allow', 'allow', 'as above'),
  row('delete any ControllerRevision', { verb: 'delete', resource: 'controllerrevisions', group: 'apps', namespace: 'kube-system' }, 'allow', 'allow', 'history cleanup; RBAC cannot scope by owner'),
  row('write any DaemonSet status', { verb: 'update', resource: 'daemonsets', group: 'apps', subresource: 'status', namespace: 'kube-system' }, 'allow', 'allow', 'every DaemonSet is ours'),
];

async function allowed(attributes: Row['attributes']): Promise<boolean> {
  const review = await reconciler.authorization.createSelfSubjectAccessReview({ body: { spec: { resourceAttributes: { group: '', ...attributes } } } });
  return review.status?.allowed === true;
}

const status = (call: Promise<unknown>): Promise<number | undefined> =>
  call.then(
    () => 200,
    (error: unknown) => apiStatus(error),
  );

describe('what RBAC lets the reconciler do (today vs should)', () => {
  it.each(table)('$label: today $today, should $should', async (r) => {
    expect(await allowed(r.attributes)).toBe(r.today === 'allow');
  });

  it('has no gap left: what RBAC allows today is what it should', () => {
    expect(table.filter((r) => r.today !== r.should).map((r) => `${r.label}: ${r.why}`)).toEqual([]);
  });
});

describe('the reconciler identity against the real API server', () => {
  let namespace = '';
  let cluster: Cluster;
  let node = '';
  let dsOwner: V1OwnerReference;
  let rsPod: V1Pod;
  let rsUid = '';

  beforeAll(async () => {
    namespace = await createNamespace(admin.core, uniqueName('least-privilege'));
    [node] = (await addNodes(admin.kc, 1, { labels: { 'test.daemonless.dev/least-privilege': 'true' } })) as [string];
    const ds = await admin.apps.createNamespacedDaemonSet({
      namespace,
      body: {
        metadata: { name: 'agent' },
        spec: {
          selector: { matchLabels: { app: 'agent' } },
          // Placed nowhere: the functions leave it alone, this test drives the port by hand.
          template: { metadata: { labels: { app: 'agent' } }, spec: { nodeSelector: { 'test.daemonless.dev/nowhere': 'true' }, containers: [{ name: 'a', image: 'registry.example/agent:1' }] } },
        },
      },
    });
    dsOwner = { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'agent', uid: ds.metadata!.uid!, controller: true, blockOwnerDeletion: true };
    const rs = await admin.apps.createNamespacedReplicaSet({
      namespace,
      body: {
        metadata: { name: 'other' },
        spec: { replicas: 1, selector: { matchLabels: { app: 'other' } }, template: { metadata: { labels: { app: 'other' } }, spec: { containers: [{ name: 'a', image: 'registry.example/other:1' }] } } },
      },
    });
    rsUid = rs.metadata!.uid!;
    rsPod = await waitFor('the ReplicaSet pod', async () => (await admin.core.listNamespacedPod({ namespace, labelSelector: 'app=other' })).items[0]);
    const kc = reconciler.kc;
    cluster = createCluster(createTransport(kc, { requestTimeoutMs: 10_000 }), { deadline: Date.now() + 120_000 });
  });

  afterAll(async () => {
    await deleteNamespace(admin.core, namespace);
    if (node) await deleteNode(admin.kc, node);
  });

  it('every call of the Cluster port works as the reconciler', async () => {
    const ds = (await cluster.getDaemonSet(namespace, 'agent'))!;
    const ref = { namespace, name: 'agent', uid: ds.metadata!.uid! };
    expect(await cluster.getNode(node)).toMatchObject({ metadata: { name: node } });
    expect((await cluster.listNodes()).map((n) => n.metadata?.name)).toContain(node);
    expect((await cluster.listDaemonSets()).map((d) => d.metadata?.name)).toContain('agent');
    expect(Array.isArray((await cluster.listPodsOnNode(node)).pods)).toBe(true);
    await cluster.listUnscheduledPods();
    expect((await cluster.listPods(namespace, 'app=other')).length).toBe(1);
    expect((await cluster.listPodMetadata(namespace)).length).toBeGreaterThan(0);
    await cluster.listControllerRevisions(namespace);

    const pod: V1Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'agent-by-hand', namespace, labels: { app: 'agent' }, ownerReferences: [dsOwner] },
      // Bound to a node that does not exist: on a simulated node the simulator would make it Ready within ~500 ms,
      // an audited write whose pass deletes it (its DaemonSet places nowhere) in the middle of the calls below.
      spec: { nodeName: `${node}-absent`, containers: [{ name: 'a', image: 'registry.example/agent:1' }] },
    };
    expect((await cluster.createPod(pod)).outcome).toBe('created');
    expect(await cluster.createPod(pod)).toEqual({ outcome: 'exists' });
    // The queries the core writes to find pods to release, as the API server reads them: each finds exactly the pods
    // its DaemonSet's selector does not select (core/label-selector.ts `complementQueries`).
    expect(releaseLists([ds])).toEqual([{ namespace, labelSelector: 'app!=agent' }]);
    const everyPod = await cluster.listPodMetadata(namespace);
    for (const selector of [ds.spec!.selector!, { matchExpressions: [{ key: 'app', operator: 'In', values: ['agent', 'x'] }, { key: 'tier', operator: 'DoesNotExist' }] }]) {
      const found = new Set<string>();
      for (const query of complementQueries(selector)!) for (const p of await cluster.listPodMetadata(namespace, query)) found.add(p.metadata!.name!);
      const outside = everyPod.filter((p) => !selectorMatches(selector, p.metadata?.labels)).map((p) => p.metadata!.name!);
      expect([...found].sort()).toEqual(outside.sort());
      expect(found.has('agent-by-hand')).toBe(false);
      expect(found.has(rsPod.metadata!.name!)).toBe(true);
    }
    const created = (await cluster.getPod(namespace, 'agent-by-hand'))!;
    const podRef = { namespace, name: 'agent-by-hand', uid: created.metadata!.uid! };
    expect(await cluster.labelPod(podRef, { extra: 'x' })).toBe('done');
    expect(await cluster.release('pods', podRef, ds.metadata!.uid!)).toBe('done');
    expect(await cluster.adopt('pods', podRef, dsOwner)).toBe('done');
    expect(await cluster.deletePod(podRef, 0)).toBe('deleted');

    await cluster.recordEvent({ daemonSet: ref, reason: 'SuccessfulCreate', message: 'recorded as the reconciler (least-privilege test)', type: 'Normal' }, new Date());
    // The running functions reconcile this DaemonSet too: a status write of theirs in between is a 409; read again.
    await waitFor('a status write not raced by the functions', async () => {
      const current = (await cluster.getDaemonSet(namespace, 'agent'))!;
      try {
        await cluster.updateDaemonSetStatus(current, { ...current.status, observedGeneration: current.metadata!.generation!, currentNumberScheduled: 0, desiredNumberScheduled: 0, numberMisscheduled: 0, numberReady: 0 });
        return true;
      } catch (error) {
        if (error instanceof ConflictError) return false;
        throw error;
      }
    });
    await cluster.bumpCollisionCount(ref, 0);

    const revision = { apiVersion: 'apps/v1', kind: 'ControllerRevision', metadata: { name: 'agent-by-hand-rev', namespace, ownerReferences: [dsOwner] }, data: { spec: {} }, revision: 1 };
    expect(await cluster.createControllerRevision(revision)).toEqual({ created: true });
    expect(await cluster.createControllerRevision(revision)).toMatchObject({ created: false });
    expect(await cluster.patchControllerRevision(namespace, 'agent-by-hand-rev', { revision: 2 })).toBe('done');
    expect(await cluster.deleteControllerRevision(namespace, 'agent-by-hand-rev')).toBe('deleted');

    await cluster.writeBackoff(ref, node, { lastDeletion: new Date(), delaySeconds: 1, generation: 1 });
    expect(await cluster.getBackoff(ref, node)).toMatchObject({ delaySeconds: 1, generation: 1 });
    expect(await cluster.acquireRolloutLock(ref, 'holder-a', 15, new Date())).toBe(true);
    expect(await cluster.acquireRolloutLock(ref, 'holder-b', 15, new Date())).toBe(false);
    await cluster.releaseRolloutLock(ref, 'holder-a');
    expect(await cluster.acquireRolloutLock(ref, 'holder-b', 15, new Date())).toBe(true);
    expect(cluster.requestCount()).toBeGreaterThan(20);
  });

  it('takes, refuses, gives back and takes over the pass lock as the reconciler: the API server decides', async () => {
    const calls = createCalls(createTransport(reconciler.kc, { requestTimeoutMs: 10_000 }), { deadline: Date.now() + 60_000 });
    // Its own Lease name: a running system's passes use the real one.
    const name = `daemonless-lock-test-${Date.now().toString(36)}`;
    const lock = createPassLock(() => calls, 'daemonless-system', name);
    const t = Date.now();
    try {
      // Ten passes at once: exactly one holds it.
      const ten = await Promise.all(Array.from({ length: 10 }, (_, i) => lock.tryAcquire(`p${i}`, t + 15_000, t)));
      const holders = ten.filter((h) => h !== null);
      expect(holders.length).toBe(1);
      expect(await lock.tryAcquire('late', t + 15_000, t)).toBeNull();
      await holders[0]!.release(Date.now());
      // A holder that dies without giving it back: refused until its held-until, taken over after it.
      const dead = await lock.tryAcquire('dead', t + 1_000, t);
      expect(dead).not.toBeNull();
      expect(await lock.tryAcquire('next', t + 15_000, t)).toBeNull();
      const next = await lock.tryAcquire('next', t + 15_000, t + 2_000);
      expect(next).not.toBeNull();
      // The new holder renews; the dead one, back late, can neither renew (resourceVersion) nor give it back (UID).
      expect(await next!.renew(t + 20_000, t + 5_000)).toBe(true);
      expect(await next!.renew(t + 25_000, t + 10_000)).toBe(true);
      expect(await dead!.renew(t + 30_000, t + 10_000)).toBe(false);
      await dead!.release(Date.now());
      expect(await lock.tryAcquire('third', t + 15_000, t + 2_000)).toBeNull();
      await next!.release(Date.now());
      expect(await lock.tryAcquire('third', t + 15_000, t + 2_000)).not.toBeNull();
    } finally {
      await admin.coordination.deleteNamespacedLease({ name, namespace: 'daemonless-system' }).catch(() => undefined);
    }
  });

  it('schedules DaemonSet-wide passes as the reconciler: one per interval, and a pod\'s request keeps the Lease\'s owner', async () => {
    const calls = createCalls(createTransport(reconciler.kc, { requestTimeoutMs: 10_000 }), { deadline: Date.now() + 60_000 });
    const scheduler = createPassScheduler(calls, 'daemonless-system');
    // Its own DaemonSet name: a running system's passes use the real ones.
    const ds = { namespace: 'least-privilege', name: `sched-test-${Date.now().toString(36)}` };
    const leaseOf = async () => admin.coordination.readNamespacedLease({ name: leaseName('pass', 'DaemonSet', ds.namespace, ds.name), namespace: 'daemonless-system' });
    const t = Date.now();
    try {
      // A follow-up (it knows the DaemonSet's UID) a second ahead, as the intake's inline path asks for one.
      expect(await scheduler.schedule({ ...ds, uid: 'uid-1' }, t + 1_000, 1_000, t)).toBe(1);
      // A pod turning Ready meanwhile (its hint names no UID): covered by that pass, which reads after it.
      expect(await scheduler.schedule(ds, t + 300, 1_000, t + 300)).toBeNull();
      // After that pass: the next one not closer than the interval to it.
      expect(await scheduler.schedule(ds, t + 1_500, 1_000, t + 1_500)).toBe(1);
      // The Lease still names the DaemonSet's UID, by which the resync cleans up after a deleted DaemonSet.
      expect((await leaseOf()).metadata?.labels?.['daemonless.dev/daemonset-uid']).toBe('uid-1');
    } finally {
      await admin.coordination
        .deleteNamespacedLease({ name: leaseName('pass', 'DaemonSet', ds.namespace, ds.name), namespace: 'daemonless-system' })
        .catch(() => undefined);
    }
  });

  it('schedules the passes of several DaemonSets at once: one list of their Leases, the same answers as one by one', async () => {
    const calls = createCalls(createTransport(reconciler.kc, { requestTimeoutMs: 10_000 }), { deadline: Date.now() + 60_000 });
    const scheduler = createPassScheduler(calls, 'daemonless-system');
    const stamp = Date.now().toString(36);
    const a = { namespace: 'least-privilege', name: `many-a-${stamp}`, uid: `uid-a-${stamp}` };
    const b = { namespace: 'least-privilege', name: `many-b-${stamp}`, uid: `uid-b-${stamp}` };
    // Scheduled before by a pod's change, which names no UID: a Lease the list by UID does not show.
    const c = { namespace: 'least-privilege', name: `many-c-${stamp}`, uid: `uid-c-${stamp}` };
    const t = Date.now();
    try {
      expect(await scheduler.schedule(a, t + 1_000, 1_000, t)).toBe(1);
      expect(await scheduler.schedule({ namespace: c.namespace, name: c.name }, t + 1_000, 1_000, t)).toBe(1);
      // a: covered by its pass at t + 1 s; b: first use, now; c: covered (found after its create conflicts).
      const requests = [a, b, c].map((daemonSet) => ({ daemonSet, atMs: t + 200 }));
      expect(await scheduler.scheduleMany(requests, 1_000, t + 200)).toEqual([null, 0, null]);
      // Again, later: each one interval after its last, as `schedule` answers.
      expect(await scheduler.scheduleMany(requests.map((r) => ({ ...r, atMs: t + 1_500 })), 1_000, t + 1_500)).toEqual([1, 0, 1]);
    } finally {
      for (const d of [a, b, c]) {
        await admin.coordination.deleteNamespacedLease({ name: leaseName('pass', 'DaemonSet', d.namespace, d.name), namespace: 'daemonless-system' }).catch(() => undefined);
      }
    }
  });

  it('is refused (403) for secrets, node deletes and node status, with nothing changed', async () => {
    expect(await status(reconciler.core.readNamespacedSecret({ name: 'anything', namespace: 'kube-system' }))).toBe(403);
    expect(await status(reconciler.core.listSecretForAllNamespaces())).toBe(403);
    expect(await status(reconciler.core.deleteNode({ name: node }))).toBe(403);
    expect(await status(reconciler.core.patchNodeStatus({ name: node, body: [{ op: 'add', path: '/metadata/labels/x', value: 'y' }] }))).toBe(403);
    expect((await admin.core.readNode({ name: node })).metadata?.deletionTimestamp).toBeUndefined();
  });

  it('cannot write Leases in kube-node-lease (the table row says what today is)', async () => {
    const gap = table.find((r) => r.label === 'create Leases in kube-node-lease')!;
    const name = uniqueName('least-privilege');
    const code = await status(reconciler.coordination.createNamespacedLease({ namespace: 'kube-node-lease', body: { metadata: { name }, spec: { holderIdentity: 'not-a-node' } } }));
    await admin.coordination.deleteNamespacedLease({ name, namespace: 'kube-node-lease' }).catch(() => undefined);
    if (gap.today === 'allow') expect([200, 201]).toContain(code);
    else expect(code).toBe(403);
  });

  /** The write did not happen: the port answered 'gone' or the API server refused it. */
  const refused = (call: Promise<unknown>) =>
    call.then(
      (outcome) => outcome,
      (error: unknown) => (error instanceof RejectedError ? `refused ${error.apiStatus}` : Promise.reject(error)),
    );

  it('cannot take over a pod owned by a ReplicaSet: adoption is refused by the API server, release and deletes by preconditions leave it', async () => {
    const ref = { namespace, name: rsPod.metadata!.name!, uid: rsPod.metadata!.uid! };
    const stale = { ...ref, uid: '00000000-0000-0000-0000-000000000000' };
    // A second controller reference: the API server allows only one controller per object.
    await expect(cluster.adopt('pods', ref, dsOwner)).rejects.toBeInstanceOf(RejectedError);
    // Releasing our DaemonSet's reference removes nothing else.
    expect(await cluster.release('pods', ref, dsOwner.uid)).toBe('done');
    // Writes about a pod we decided on earlier (same name, another UID) are refused by the UID precondition.
    expect(await cluster.deletePod(stale, 0)).toBe('gone');
    expect(await refused(cluster.labelPod(stale, { stolen: 'true' }))).toMatch(/^(gone|refused 4\d\d)$/);
    expect(await refused(cluster.release('pods', stale, rsUid))).toMatch(/^(gone|refused 4\d\d)$/);
    const after = await admin.core.readNamespacedPod({ namespace, name: ref.name });
    expect(after.metadata?.uid).toBe(ref.uid);
    expect(after.metadata?.deletionTimestamp).toBeUndefined();
    expect(after.metadata?.labels?.['stolen']).toBeUndefined();
    expect(after.metadata?.ownerReferences).toEqual([expect.objectContaining({ kind: 'ReplicaSet', uid: rsUid, controller: true })]);
  });

  // The API server answers a patch whose metadata.uid differs with 422 Invalid ("metadata.uid: field is immutable"),
  // not 409: the port maps that to 'gone' too (the reliability work found it threw RejectedError before).
  it('a patch with a stale UID answers "gone", as the port documents', async () => {
    const stale = { namespace, name: rsPod.metadata!.name!, uid: '00000000-0000-0000-0000-000000000000' };
    expect(await cluster.labelPod(stale, { stolen: 'true' })).toBe('gone');
  });

  it('cannot take over a ControllerRevision another controller owns', async () => {
    await admin.apps.createNamespacedControllerRevision({
      namespace,
      body: { metadata: { name: 'other-rev', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'other', uid: rsUid, controller: true }] }, data: {}, revision: 1 },
    });
    const rev = await admin.apps.readNamespacedControllerRevision({ namespace, name: 'other-rev' });
    await expect(cluster.adopt('controllerrevisions', { namespace, name: 'other-rev', uid: rev.metadata!.uid! }, dsOwner)).rejects.toBeInstanceOf(RejectedError);
    expect(await refused(cluster.release('controllerrevisions', { namespace, name: 'other-rev', uid: 'not-its-uid' }, rsUid))).toMatch(/^(gone|refused 4\d\d)$/);
    const after = await admin.apps.readNamespacedControllerRevision({ namespace, name: 'other-rev' });
    expect(after.metadata?.ownerReferences).toEqual([expect.objectContaining({ uid: rsUid })]);
  });
});
