/**
 * The admission webhook configuration daemonless ships (infra/admission-webhook.json), registered on a PRIVATE control
 * plane whose deliveries a test listener records: which writes reach the function and which the API server itself
 * filters out (objectSelector, matchConditions). Admission is the only event source on EKS, where every pod write in
 * the cluster would otherwise cost an invocation.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClusterInfo, down, up } from '../../devcluster/controlplane.ts';
import { mergePatch } from '../../devcluster/simulator/client.ts';
import { localPaths, repoRoot } from '../../devcluster/paths.ts';
import { ensurePki } from '../../devcluster/pki.ts';
import { createTransport } from '../../src/k8s/transport.ts';
import { type Clients, clientsFor, freePorts, uniqueName, waitFor } from '../support/cluster.ts';

interface Review {
  kind: string;
  subResource?: string;
  operation: string;
  name: string;
  user: string;
  /** For an UPDATE: what differs between oldObject and object (metadata.labels, metadata.annotations, spec, status). */
  changed?: string[];
}

function changes(before: Record<string, any> | undefined, after: Record<string, any> | undefined): string[] {
  const parts: [string, (o: Record<string, any> | undefined) => unknown][] = [
    ['labels', (o) => o?.metadata?.labels],
    ['annotations', (o) => o?.metadata?.annotations],
    ['spec', (o) => o?.spec],
    ['status', (o) => o?.status],
  ];
  return parts.filter(([, get]) => JSON.stringify(get(before) ?? null) !== JSON.stringify(get(after) ?? null)).map(([name]) => name);
}

const localDir = mkdtempSync(join(tmpdir(), 'daemonless-admission-filter-'));
const reviews: Review[] = [];
let server: Server;
let cluster: ClusterInfo;
let admin: Clients;
let reconciler: Clients;
const namespace = uniqueName('filter');

function record(req: IncomingMessage, res: ServerResponse): void {
  let data = '';
  req.setEncoding('utf8').on('data', (chunk: string) => (data += chunk));
  req.on('end', () => {
    const review = JSON.parse(data) as {
      request: { uid: string; kind: { kind: string }; subResource?: string; operation: string; name: string; userInfo: { username: string }; dryRun?: boolean; object?: Record<string, any>; oldObject?: Record<string, any> };
    };
    const q = review.request;
    if (!q.dryRun) {
      reviews.push({
        kind: q.kind.kind,
        ...(q.subResource ? { subResource: q.subResource } : {}),
        operation: q.operation,
        name: q.name,
        user: q.userInfo.username,
        ...(q.operation === 'UPDATE' ? { changed: changes(q.oldObject, q.object) } : {}),
      });
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: q.uid, allowed: true } }));
  });
}

beforeAll(async () => {
  const [apiserver, etcdClient, etcdPeer, scheduler, controllerManager, listenerPort] = (await freePorts(6)) as [number, number, number, number, number, number];
  const { pki } = await ensurePki(localPaths(localDir).pki);
  server = createHttpsServer({ cert: readFileSync(pki.webhook.cert), key: readFileSync(pki.webhook.key) }, record);
  await new Promise<void>((resolve) => server.listen(listenerPort, '127.0.0.1', resolve));
  cluster = await up({ localDir, ports: { apiserver, etcdClient, etcdPeer, scheduler, controllerManager }, simulator: false, log: () => {} });
  admin = clientsFor(cluster.kubeconfig);
  reconciler = clientsFor(cluster.reconcilerKubeconfig);
  const manifest = readFileSync(join(repoRoot, 'infra', 'admission-webhook.json'), 'utf8')
    .replaceAll('${URL}', `https://127.0.0.1:${listenerPort}/events/admission/secret`)
    .replaceAll('${CA_BUNDLE}', readFileSync(cluster.caFile).toString('base64'))
    .replaceAll('${RECONCILER_USERNAME}', 'daemonless-reconciler');
  await createTransport(admin.kc, { requestTimeoutMs: 10_000 }).send({
    method: 'POST',
    path: 'apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations',
    body: manifest,
    what: 'register',
  });
  await admin.core.createNamespace({ body: { metadata: { name: namespace } } });
  await waitFor('the default ServiceAccount', () => admin.core.readNamespacedServiceAccount({ name: 'default', namespace }));
  // The registration takes effect asynchronously: wait until a node write is delivered.
  await waitFor('the webhook live', async () => {
    const probe = uniqueName('probe');
    await admin.core.createNode({ body: { metadata: { name: probe } } });
    await admin.core.deleteNode({ name: probe });
    return reviews.some((r) => r.kind === 'Node' && r.name === probe);
  });
}, 120_000);

afterAll(async () => {
  await down({ localDir, log: () => {} });
  await new Promise((resolve) => server.close(resolve));
  rmSync(localDir, { recursive: true, force: true });
});

const pod = (name: string, labels: Record<string, string>) => ({
  metadata: { name, labels },
  spec: { nodeName: 'nowhere', containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] },
});

describe('the shipped admission webhook configuration', () => {
  it('delivers node label and taint changes, not annotation-only node updates', async () => {
    const node = uniqueName('node');
    await admin.core.createNode({ body: { metadata: { name: node } } });
    await admin.core.patchNode({ name: node, body: { metadata: { annotations: { 'example.com/noise': '1' } } } }, mergePatch);
    await admin.core.patchNode({ name: node, body: { metadata: { labels: { 'example.com/zone': 'a' } } } }, mergePatch);
    await admin.core.patchNode({ name: node, body: { spec: { taints: [{ key: 'example.com/t', effect: 'NoSchedule' }] } } }, mergePatch);
    await admin.core.deleteNode({ name: node });
    await waitFor('the node delete delivered', () => reviews.some((r) => r.kind === 'Node' && r.name === node && r.operation === 'DELETE'));
    // A write the API server retries (a conflict with the node lifecycle controller's taints) is reviewed again:
    // repeats are merged; what matters is which kinds of change reach the function.
    const delivered = [...new Set(reviews.filter((r) => r.kind === 'Node' && r.name === node).map((r) => `${r.operation} ${(r.changed ?? []).join('+')}`.trim()))];
    expect(delivered).toContain('CREATE');
    expect(delivered).toContain('UPDATE labels');
    expect(delivered).toContain('UPDATE spec');
    expect(delivered).toContain('DELETE');
    expect(delivered.filter((d) => d === 'UPDATE annotations')).toEqual([]);
  });

  it("delivers daemon pods' changes that matter, not other workloads' pods nor the reconciler's own creates and patches", async () => {
    const plain = uniqueName('plain');
    const daemon = uniqueName('daemon');
    const ours = uniqueName('ours');
    // Another workload's pod (a Deployment's carries pod-template-hash): nothing of it is delivered.
    await admin.core.createNamespacedPod({ namespace, body: pod(plain, { app: 'web', 'pod-template-hash': 'abc' }) });
    await admin.core.patchNamespacedPod({ namespace, name: plain, body: { metadata: { labels: { tier: 'x' } } } }, mergePatch);
    await admin.core.deleteNamespacedPod({ namespace, name: plain, gracePeriodSeconds: 0 });
    // A daemon pod written by someone else (a user, the upstream controller): delivered.
    await admin.core.createNamespacedPod({ namespace, body: pod(daemon, { app: 'agent', 'controller-revision-hash': 'h1' }) });
    await admin.core.patchNamespacedPod({ namespace, name: daemon, body: { metadata: { labels: { app: 'relabelled' } } } }, mergePatch);
    // kubelet status writes: a change of phase or readiness is delivered, anything else is not.
    const status = createTransport(admin.kc, { requestTimeoutMs: 10_000 });
    const patchStatus = (body: object) =>
      status.send({ method: 'PATCH', path: `api/v1/namespaces/${namespace}/pods/${daemon}/status`, contentType: 'application/merge-patch+json', body, what: 'patch status' });
    await patchStatus({ status: { message: 'only a message changed' } });
    await patchStatus({ status: { phase: 'Running' } });
    await patchStatus({ status: { conditions: [{ type: 'Ready', status: 'True' }] } });
    await admin.core.deleteNamespacedPod({ namespace, name: daemon, gracePeriodSeconds: 0 });
    // The reconciler's own create and patch are not delivered (it knows what it wrote); its delete is.
    await reconciler.core.createNamespacedPod({ namespace, body: pod(ours, { app: 'agent', 'controller-revision-hash': 'h1' }) });
    await reconciler.core.patchNamespacedPod({ namespace, name: ours, body: { metadata: { labels: { 'controller-revision-hash': 'h2' } } } }, mergePatch);
    await reconciler.core.deleteNamespacedPod({ namespace, name: ours, gracePeriodSeconds: 0 });
    await waitFor('the last delete delivered', () => reviews.some((r) => r.name === ours && r.operation === 'DELETE'));

    // A pod delete may call the webhook more than once (one per phase of the deletion): repeats are merged here.
    const of = (name: string) =>
      reviews
        .filter((r) => r.kind === 'Pod' && r.name === name)
        .map((r) => `${r.operation}${r.subResource ? ` ${r.subResource}` : ''}`)
        .filter((op, i, all) => op !== 'DELETE' || all[i - 1] !== 'DELETE');
    expect(of(plain)).toEqual([]);
    expect(of(daemon)).toEqual(['CREATE', 'UPDATE', 'UPDATE status', 'UPDATE status', 'DELETE']);
    expect(of(ours)).toEqual(['DELETE']);
  });
});
