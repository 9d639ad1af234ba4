/**
 * The API server calls us: a real AdmissionReview reaches a local HTTPS endpoint registered by a
 * ValidatingWebhookConfiguration, and real audit EventLists (with `responseObject`) reach a local audit webhook.
 * Parsing them for real is the reconciler's business; this proves the plumbing and the audit policy.
 *
 * Decision: this file starts a PRIVATE control plane (its own temp folder, its own free ports, no simulator) with the
 * audit webhook aimed at this test's listener. The shared control plane's audit webhook points at the functions
 * server the rest of the suite relies on; re-pointing it would mean restarting the cluster under the other tests'
 * feet. A second control plane costs about 10 s and leaves the shared one untouched.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1DaemonSet } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClusterInfo, down, status, up } from '../../devcluster/controlplane.ts';
import { localPaths } from '../../devcluster/paths.ts';
import { ensurePki } from '../../devcluster/pki.ts';
import { type Clients, clientsFor, freePorts, loadFixture, uniqueName, waitFor } from '../support/cluster.ts';
import { gzipSync } from 'node:zlib';
import { hintKey, type Hint } from '../../src/hints.ts';
import { intakeAudit } from '../../src/http/intake/audit.ts';
import { createCloudWatchLogsLambdaHandler } from '../../src/http/lambda.ts';
import { silentLogger } from '../../src/log.ts';
import { secretsOf, testConfig } from '../http/support.ts';

interface Received {
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: any;
}

const localDir = mkdtempSync(join(tmpdir(), 'daemonless-webhook-test-'));
const token = randomBytes(24).toString('base64url');
// The secret path is what a real deployment would use to keep strangers out of the admission endpoint.
const admissionPath = `/admission/${randomBytes(16).toString('hex')}`;
const admissions: Received[] = [];
const auditBatches: Received[] = [];
const upLog: string[] = [];
const servers: Server[] = [];

let cluster: ClusterInfo | undefined;
let admin: Clients;
const namespace = uniqueName('plumbing');
const nodeName = uniqueName('plumbing-node');
const podName = uniqueName('plumbing-pod');

function collect(into: Received[], respond: (body: any) => unknown) {
  return (req: IncomingMessage, res: ServerResponse) => {
    let data = '';
    req.setEncoding('utf8').on('data', (chunk: string) => (data += chunk));
    req.on('end', () => {
      let body: any;
      try {
        body = JSON.parse(data);
      } catch {
        body = data;
      }
      into.push({ url: req.url ?? '', headers: req.headers, body });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(respond(body) ?? {}));
    });
  };
}

async function listen(server: Server, port: number): Promise<void> {
  servers.push(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
}

beforeAll(async () => {
  const [apiserver, etcdClient, etcdPeer, scheduler, controllerManager, listenerPort] = (await freePorts(6)) as [
    number, number, number, number, number, number,
  ];
  // One HTTPS listener for both deliveries, as the functions serve them. Its certificate must exist before `up` (the
  // audit URL is part of the API server's flags), so the PKI is made first; `up` then reuses it.
  const { pki } = await ensurePki(localPaths(localDir).pki);
  const tls = { cert: readFileSync(pki.webhook.cert), key: readFileSync(pki.webhook.key) };
  const audit = collect(auditBatches, () => ({}));
  const admission = collect(admissions, (review) => ({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response: { uid: review?.request?.uid, allowed: true },
  }));
  await listen(
    createHttpsServer(tls, (req, res) => (req.url?.startsWith('/events/audit') ? audit(req, res) : admission(req, res))),
    listenerPort,
  );
  cluster = await up({
    localDir,
    ports: { apiserver, etcdClient, etcdPeer, scheduler, controllerManager },
    simulator: false,
    // A bearer token is sent over https only (client-go attaches credentials to TLS connections alone).
    auditWebhook: { url: `https://127.0.0.1:${listenerPort}/events/audit`, token },
    log: (line) => upLog.push(line),
  });

  admin = clientsFor(cluster.kubeconfig);
  await admin.admission.createValidatingWebhookConfiguration({
    body: {
      metadata: { name: 'daemonless-plumbing-test' },
      webhooks: [
        {
          name: 'plumbing.daemonless.dev',
          clientConfig: {
            url: `https://127.0.0.1:${listenerPort}${admissionPath}`,
            caBundle: readFileSync(cluster.caFile).toString('base64'),
          },
          rules: [
            { apiGroups: [''], apiVersions: ['v1'], resources: ['nodes', 'pods'], operations: ['CREATE', 'UPDATE', 'DELETE'] },
          ],
          // Never block the API server on our endpoint; observe only.
          failurePolicy: 'Ignore',
          sideEffects: 'None',
          admissionReviewVersions: ['v1'],
          timeoutSeconds: 5,
        },
      ],
    },
  });
}, 120_000);

afterAll(async () => {
  await down({ localDir, log: (line) => upLog.push(line) });
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  rmSync(localDir, { recursive: true, force: true });
});

describe('a private control plane with an audit webhook and a validating webhook', () => {
  it('starts and reports how long it took', () => {
    expect(cluster?.reused).toBe(false);
    expect(upLog.join('\n')).toMatch(/control plane ready in [\d.]+ s/);
  });

  it('makes changes to a Node, a DaemonSet and a Pod', async () => {
    // A validating webhook registration takes effect asynchronously (the API server's informer); creating objects
    // too early would slip past it. A dry-run pod create is a harmless probe that the webhook is live.
    await admin.core.createNamespace({ body: { metadata: { name: namespace } } });
    await waitFor('the default ServiceAccount', () => admin.core.readNamespacedServiceAccount({ name: 'default', namespace }));
    const probePod = { metadata: { name: 'probe' }, spec: { containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] } };
    await waitFor('the validating webhook to be called', async () => {
      await admin.core.createNamespacedPod({ namespace, body: probePod, dryRun: 'All' });
      return admissions.some((r) => r.body?.request?.dryRun === true);
    });

    await admin.core.createNode({ body: { metadata: { name: nodeName, labels: { 'kubernetes.io/hostname': nodeName } } } });
    const [fixture] = loadFixture('fluentd-elasticsearch.yaml');
    const ds = structuredClone(fixture) as V1DaemonSet;
    ds.metadata = { ...ds.metadata, namespace };
    await admin.apps.createNamespacedDaemonSet({ namespace, body: ds });
    await admin.core.createNamespacedPod({
      namespace,
      body: { metadata: { name: podName }, spec: { nodeName, containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] } },
    });
    // What a kubelet (the simulator) does when a container fails: a status write.
    await admin.core.patchNamespacedPodStatus({ name: podName, namespace, body: [{ op: 'add', path: '/status/phase', value: 'Failed' }] });
    await admin.core.deleteNamespacedPod({ name: podName, namespace, gracePeriodSeconds: 0 });
  });

  it('sends AdmissionReviews for the Node and the Pod to the local HTTPS endpoint', async () => {
    const review = (kind: string, operation: string, name: string) =>
      admissions.find((r) => {
        const q = r.body?.request;
        const object = operation === 'DELETE' ? q?.oldObject : q?.object;
        return q?.kind?.kind === kind && q?.operation === operation && object?.metadata?.name === name && q?.dryRun !== true;
      });
    const node = await waitFor('Node CREATE review', () => review('Node', 'CREATE', nodeName));
    expect(node.url).toMatch(new RegExp(`^${admissionPath}\\?timeout=\\d+s$`));
    expect(node.headers['content-type']).toContain('application/json');
    expect(node.body).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' });
    expect(node.body.request.userInfo.username).toBe('daemonless-admin');

    const pod = await waitFor('Pod CREATE review', () => review('Pod', 'CREATE', podName));
    expect(pod.body.request.namespace).toBe(namespace);
    expect(pod.body.request.object.spec.nodeName).toBe(nodeName);
    // DELETE carries only the old object.
    const deleted = await waitFor('Pod DELETE review', () => review('Pod', 'DELETE', podName));
    expect(deleted.body.request.object).toBeNull();
  });

  it('sends audit EventLists with responseObject to the audit webhook, as the policy asks', async () => {
    const events = () => auditBatches.flatMap((b) => (b.body?.kind === 'EventList' ? (b.body.items as any[]) : []));
    const find = (verb: string, resource: string, name: string, subresource?: string) =>
      events().find(
        (e) =>
          e.verb === verb &&
          e.objectRef?.resource === resource &&
          e.objectRef?.name === name &&
          e.objectRef?.subresource === subresource &&
          e.responseStatus?.code < 300,
      );

    const node = await waitFor('audit event: create node', () => find('create', 'nodes', nodeName));
    expect(node.responseObject).toMatchObject({ kind: 'Node', metadata: { name: nodeName } });
    expect(node.stage).toBe('ResponseComplete');
    expect(node.level).toBe('RequestResponse');

    const pod = await waitFor('audit event: create pod', () => find('create', 'pods', podName));
    expect(pod.responseObject).toMatchObject({ kind: 'Pod', metadata: { name: podName, namespace } });
    const failed = await waitFor('audit event: pod status patch', () => find('patch', 'pods', podName, 'status'));
    expect(failed.responseObject.status.phase).toBe('Failed');
    await waitFor('audit event: delete pod', () => find('delete', 'pods', podName));
    const ds = await waitFor('audit event: create daemonset', () => find('create', 'daemonsets', 'fluentd-elasticsearch'));
    expect(ds.objectRef.apiGroup).toBe('apps');
    // Taint changes are `nodes` writes: here the node lifecycle controller drops the not-ready taint admission added.
    const untaint = await waitFor('audit event: node lifecycle controller removes the not-ready taint', () =>
      events().find(
        (e) =>
          ['patch', 'update'].includes(e.verb) &&
          e.objectRef?.resource === 'nodes' &&
          e.objectRef?.name === nodeName &&
          e.objectRef?.subresource === undefined &&
          String(e.user?.username).endsWith(':node-controller'),
      ),
    );
    expect(untaint.responseObject.spec?.taints ?? []).not.toContainEqual(expect.objectContaining({ key: 'node.kubernetes.io/not-ready' }));
    // The TTL controller annotated the node (node.alpha.kubernetes.io/ttl), and the policy kept that write out.
    await waitFor('the TTL controller to annotate the node', async () =>
      (await admin.core.readNode({ name: nodeName })).metadata?.annotations?.['node.alpha.kubernetes.io/ttl'] !== undefined ? true : undefined,
    );
    await new Promise((resolve) => setTimeout(resolve, 1000)); // several audit batch waits (50 ms)
    expect(events().filter((e) => e.objectRef?.resource === 'nodes' && String(e.user?.username).endsWith(':ttl-controller'))).toEqual([]);

    // The stream carries nothing the reconciler did not ask for: no namespaces, service accounts, leases, node status.
    const unexpected = events().filter(
      (e) =>
        e.stage !== 'ResponseComplete' ||
        !['nodes', 'pods', 'daemonsets'].includes(e.objectRef?.resource) ||
        (e.objectRef?.subresource !== undefined && !(e.objectRef.resource === 'pods' && e.objectRef.subresource === 'status')) ||
        e.responseObject?.metadata?.managedFields !== undefined,
    );
    expect(unexpected).toEqual([]);
    // The receiver can authenticate the API server.
    expect(new Set(auditBatches.map((b) => b.headers.authorization))).toEqual(new Set([`Bearer ${token}`]));
    // Like admission, the API server appends its client timeout to the configured URL.
    for (const batch of auditBatches) expect(batch.url).toMatch(/^\/events\/audit\?timeout=\d+s$/);
  });

  it("the same audit events, as EKS ships them to CloudWatch Logs, give the webhook's hints", async () => {
    // What a CloudWatch Logs subscription delivers: base64(gzip(JSON)), one audit event per log event message, in
    // batches; a CONTROL_MESSAGE first, as CloudWatch sends when the subscription is created.
    const items = auditBatches.flatMap((b) => (b.body?.kind === 'EventList' ? (b.body.items as unknown[]) : []));
    expect(items.length).toBeGreaterThan(5);
    const envelope = (payload: object) => ({ awslogs: { data: gzipSync(JSON.stringify(payload)).toString('base64') } });
    const deliveries = [
      envelope({ messageType: 'CONTROL_MESSAGE', owner: 'CloudwatchLogs', logGroup: '', logStream: '', subscriptionFilters: [], logEvents: [{ id: '', timestamp: 0, message: 'CWL CONTROL MESSAGE: Checking health of destination Lambda function.' }] }),
      ...[0, 1].map((half) => {
        const part = items.filter((_, i) => i % 2 === half);
        return envelope({
          messageType: 'DATA_MESSAGE',
          owner: '123456789012',
          logGroup: '/aws/eks/plumbing/cluster',
          logStream: 'kube-apiserver-audit-0123456789abcdef',
          subscriptionFilters: ['daemonless'],
          logEvents: part.map((item, i) => ({ id: String(i), timestamp: Date.now(), message: JSON.stringify(item) })),
        });
      }),
    ];
    const handled: Hint[][] = [];
    const handler = createCloudWatchLogsLambdaHandler(() => ({
      handler: {
        async handle(hints) {
          handled.push([...hints]);
          return { hints: hints.length, created: 0, deleted: 0, apiRequests: 0 };
        },
      },
      config: testConfig({}),
      log: silentLogger,
      secrets: secretsOf(testConfig({})),
    }));
    for (const delivery of deliveries) await handler(delivery);
    const viaLogs = new Set(handled.flat().map(hintKey));
    const viaWebhook = new Set(auditBatches.flatMap((b) => (b.body?.kind === 'EventList' ? intakeAudit(b.body).hints : [])).map(hintKey));
    expect(viaLogs).toEqual(viaWebhook);
    expect(viaLogs).toContain(`node/${nodeName}`);
    expect(viaLogs).toContain(`ds/${namespace}/fluentd-elasticsearch`);
  });

  it('stops everything it started on down, and says so in status', async () => {
    const before = await status({ localDir, log: () => {} });
    expect(before.running).toBe(true);
    expect(before.components.map((c) => c.name)).toEqual(['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler']);

    await down({ localDir, log: (line) => upLog.push(line) });
    const after = await status({ localDir, log: () => {} });
    expect(after.running).toBe(false);
    expect(after.components).toEqual([]);
    // No process anywhere on the machine still refers to this cluster's folder.
    const leftovers = readdirSync('/proc')
      .filter((entry) => /^\d+$/.test(entry))
      .flatMap((pid) => {
        try {
          const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
          return cmdline.includes(localDir) ? [`${pid} ${cmdline}`] : [];
        } catch {
          return []; // exited meanwhile
        }
      });
    expect(leftovers).toEqual([]);
  });
});
