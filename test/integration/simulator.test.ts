/**
 * The node simulator against the real control plane: nodes it registers become schedulable and stay alive, pods
 * bound to them start (or not, for broken images), graceful deletions complete, and `fail-pod` sticks. Uses the
 * background simulator when the control plane runs one, otherwise one in-process.
 */
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status } from '../../devcluster/controlplane.ts';
import { closeConnections } from '../../devcluster/simulator/client.ts';
import {
  addNodes,
  deleteNode,
  failPod,
  isSchedulable,
  listSimulatedNodes,
  setLabels,
  setNodeReady,
  addTaint,
  removeTaint,
  waitForNodesSchedulable,
} from '../../devcluster/simulator/nodes.ts';
import { startSimulator, type Simulator } from '../../devcluster/simulator/simulator.ts';
import { type Clients, adminClient, apiStatus, createNamespace, deleteNamespace, uniqueName, waitFor } from '../support/cluster.ts';

// Keeps DaemonSets of other tests (which do not tolerate it) off these nodes; bound pods ignore NoSchedule.
const TEST_TAINT = { key: 'sim.daemonless.dev/test', value: 'simulator', effect: 'NoSchedule' as const };
const READY_DELAY_MS = 500;

let admin: Clients;
let namespace: string;
let names: string[] = [];
let inProcess: Simulator | undefined;

beforeAll(async () => {
  admin = adminClient();
  const cluster = await status({ log: () => {} });
  const background = cluster.components.some((c) => c.name === 'simulator' && c.alive);
  if (!background) inProcess = await startSimulator(admin.kc, { readyDelayMs: READY_DELAY_MS, deleteDelayMs: 200, summaryIntervalMs: 0 });
  process.stderr.write(`[simulator.test] using the ${background ? 'background' : 'in-process'} simulator\n`);
  namespace = await createNamespace(admin.core, uniqueName('sim'));
  names = await addNodes(admin.kc, 2, { labels: { 'sim.daemonless.dev/suite': 'simulator-test' }, taints: [TEST_TAINT] });
});

afterAll(async () => {
  if (namespace) await deleteNamespace(admin.core, namespace);
  for (const name of names) await deleteNode(admin.kc, name);
  await inProcess?.stop();
  await closeConnections(admin.kc);
});

const readNode = (name: string) => admin.core.readNode({ name });
const readPod = (name: string) => admin.core.readNamespacedPod({ name, namespace });
const condition = (pod: V1Pod, type: string) => pod.status?.conditions?.find((c) => c.type === type)?.status;

async function createBoundPod(name: string, image: string, nodeName = names[0]!): Promise<V1Pod> {
  return admin.core.createNamespacedPod({
    namespace,
    body: { metadata: { name }, spec: { nodeName, containers: [{ name: 'main', image }] } },
  });
}

const runningAndReady = (pod: V1Pod) => pod.status?.phase === 'Running' && condition(pod, 'Ready') === 'True';

describe('simulated nodes', () => {
  it('register with realistic labels and their taints, and become Ready without the not-ready taint', async () => {
    expect(names).toHaveLength(2);
    expect(new Set(names).size).toBe(2);
    await waitForNodesSchedulable(admin.kc, names, 20_000);
    const node = await readNode(names[0]!);
    expect(node.metadata?.labels).toMatchObject({
      'kubernetes.io/hostname': names[0],
      'kubernetes.io/os': 'linux',
      'kubernetes.io/arch': 'amd64',
      'sim.daemonless.dev/simulated': 'true',
      'sim.daemonless.dev/suite': 'simulator-test',
    });
    expect(node.metadata?.labels?.['topology.kubernetes.io/zone']).toMatch(/^sim-region-1[abc]$/);
    expect(node.spec?.taints).toEqual([TEST_TAINT]);
    expect(node.status?.allocatable?.pods).toBe('110');
    expect(node.status?.nodeInfo?.kubeletVersion).toBe('v1.37.2');
    const listed = (await listSimulatedNodes(admin.kc)).map((n) => n.metadata?.name);
    expect(listed).toEqual(expect.arrayContaining(names));
  });

  it('get a Lease in kube-node-lease that is renewed', async () => {
    const lease = await waitFor(`lease of ${names[0]}`, () => admin.coordination.readNamespacedLease({ name: names[0]!, namespace: 'kube-node-lease' }));
    expect(lease.spec?.holderIdentity).toBe(names[0]);
    expect(lease.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'Node', name: names[0] });
    const age = Date.now() - new Date(lease.spec!.renewTime as unknown as string).getTime();
    expect(age).toBeLessThan(60_000);
  });

  it('never reuse a name, not even that of a node deleted a moment ago', async () => {
    // A live node's name could not be taken again (the create would fail); a deleted one's could.
    const [gone] = await addNodes(admin.kc, 1, { taints: [TEST_TAINT] });
    expect(await deleteNode(admin.kc, gone!)).toBe(true);
    const more = await addNodes(admin.kc, 1, { taints: [TEST_TAINT] });
    names.push(...more);
    expect([...names.slice(0, 2), gone]).not.toContain(more[0]);
  });

  it('take taints and labels, and flip Ready on demand', async () => {
    const name = names[1]!;
    await addTaint(admin.kc, name, { key: 'example.com/maintenance', effect: 'NoExecute' });
    await setLabels(admin.kc, name, { 'example.com/pool': 'blue' });
    let node = await readNode(name);
    expect(node.spec?.taints).toEqual(expect.arrayContaining([TEST_TAINT, { key: 'example.com/maintenance', effect: 'NoExecute' }]));
    expect(node.metadata?.labels?.['example.com/pool']).toBe('blue');
    await removeTaint(admin.kc, name, 'example.com/maintenance');
    await setLabels(admin.kc, name, { 'example.com/pool': null });
    node = await readNode(name);
    expect(node.spec?.taints).toEqual([TEST_TAINT]);
    expect(node.metadata?.labels?.['example.com/pool']).toBeUndefined();

    await setNodeReady(admin.kc, name, false);
    // The node lifecycle controller taints a NotReady node within its --node-monitor-period; the simulator keeps it so.
    node = await waitFor(`${name} NotReady and tainted not-ready`, async () => {
      const n = await readNode(name);
      const ready = n.status?.conditions?.find((c) => c.type === 'Ready')?.status;
      return ready === 'False' && n.spec?.taints?.some((t) => t.key === 'node.kubernetes.io/not-ready') ? n : undefined;
    }, { timeoutMs: 30_000 });
    expect(isSchedulable(node)).toBe(false);

    await setNodeReady(admin.kc, name, true);
    await waitForNodesSchedulable(admin.kc, [name], 20_000);
  });
});

describe('pods on simulated nodes', () => {
  it('a bound pod turns Running and Ready, reported as a kubelet would', async () => {
    const started = Date.now();
    await createBoundPod('good', 'registry.k8s.io/pause:3.10');
    const pod = await waitFor('pod good Running and Ready', async () => {
      const p = await readPod('good');
      return runningAndReady(p) ? p : undefined;
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(READY_DELAY_MS - 50);
    const node: V1Node = await readNode(names[0]!);
    expect(pod.status?.hostIP).toBe(node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address);
    expect(pod.status?.podIP).toMatch(/^10\./);
    expect(pod.status?.startTime).toBeDefined();
    for (const type of ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready']) {
      expect(condition(pod, type), type).toBe('True');
      expect(pod.status?.conditions?.find((c) => c.type === type)?.lastTransitionTime, type).toBeDefined();
    }
    expect(pod.status?.containerStatuses).toEqual([
      expect.objectContaining({
        name: 'main',
        ready: true,
        started: true,
        image: 'registry.k8s.io/pause:3.10',
        imageID: expect.stringMatching(/@sha256:[0-9a-f]{64}$/),
        state: { running: { startedAt: expect.any(Date) } },
      }),
    ]);
  });

  it('a pod with an :unready image stays Pending, not Ready, in ImagePullBackOff', async () => {
    await createBoundPod('broken', 'registry.k8s.io/pause:unready');
    const pod = await waitFor('pod broken in ImagePullBackOff', async () => {
      const p = await readPod('broken');
      return p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'ImagePullBackOff' ? p : undefined;
    });
    expect(pod.status?.phase).toBe('Pending');
    expect(condition(pod, 'Ready')).toBe('False');
    // And it stays that way.
    await new Promise((r) => setTimeout(r, 3 * READY_DELAY_MS));
    const later = await readPod('broken');
    expect(later.status?.phase).toBe('Pending');
    expect(condition(later, 'Ready')).toBe('False');
  });

  it('deleting a bound pod completes (no kubelet would otherwise confirm it)', async () => {
    await createBoundPod('doomed', 'registry.k8s.io/pause:3.10');
    await waitFor('pod doomed Running', async () => runningAndReady(await readPod('doomed')));
    await admin.core.deleteNamespacedPod({ name: 'doomed', namespace });
    await waitFor('pod doomed gone', async () => {
      try {
        await readPod('doomed');
        return false;
      } catch (error) {
        return apiStatus(error) === 404;
      }
    }, { timeoutMs: 10_000 });
  });

  it('fail-pod makes a running pod Failed, and it stays Failed', async () => {
    await createBoundPod('victim', 'registry.k8s.io/pause:3.10');
    await waitFor('pod victim Running', async () => runningAndReady(await readPod('victim')));
    await failPod(admin.kc, namespace, 'victim');
    const pod = await readPod('victim');
    expect(pod.status?.phase).toBe('Failed');
    expect(condition(pod, 'Ready')).toBe('False');
    expect(pod.status?.containerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 1, reason: 'Error' });
    await new Promise((r) => setTimeout(r, 3 * READY_DELAY_MS));
    expect((await readPod('victim')).status?.phase).toBe('Failed');
  });

  it('a deleted node takes its Lease with it', async () => {
    const name = names.pop()!;
    await waitFor(`lease of ${name}`, () => admin.coordination.readNamespacedLease({ name, namespace: 'kube-node-lease' }));
    expect(await deleteNode(admin.kc, name)).toBe(true);
    await expect(readNode(name)).rejects.toSatisfy((e) => apiStatus(e) === 404);
    await waitFor(`lease of ${name} gone`, async () => {
      try {
        await admin.coordination.readNamespacedLease({ name, namespace: 'kube-node-lease' });
        return false;
      } catch (error) {
        return apiStatus(error) === 404;
      }
    });
  });
});
