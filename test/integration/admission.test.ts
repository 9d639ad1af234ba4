/**
 * The admission path end to end: a ValidatingWebhookConfiguration sends real AdmissionReviews to the functions'
 * HTTPS listener, which answers at once and reconciles after the change is stored (the EKS delivery path). The shared
 * system also delivers audit events; the functions' log shows the admission route did its own reconcile.
 */
import { readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mergePatch } from '../../devcluster/simulator/client.ts';
import { addNodes, deleteNode, waitForNodesSchedulable } from '../../devcluster/simulator/nodes.ts';
import { createTransport } from '../../src/k8s/transport.ts';
import { localPaths } from '../../devcluster/paths.ts';
import { admissionUrl, isAdmissionRegistered, registerAdmission } from '../../devcluster/system.ts';
import { adminClient, createNamespace, deleteNamespace, freePorts, uniqueName, waitFor } from '../support/cluster.ts';
import { RUN_LABEL, testDaemonSet, waitConverged, daemonSetApi } from '../support/daemon.ts';

const { core, apps, kc } = adminClient();
const daemonSets = daemonSetApi(kc);
const log = `${localPaths().logs}/functions.log`;
let namespace = '';
const nodes: string[] = [];
const run = uniqueName('adm');

/** The system delivered through admission already (managed mode): its webhook is left as it is, before and after. */
let registeredBySystem = false;

beforeAll(async () => {
  namespace = await createNamespace(core);
  await daemonSets.create(namespace, testDaemonSet(namespace, 'agent', run));
  registeredBySystem = await isAdmissionRegistered(kc);
  if (!registeredBySystem) {
    const offset = statSync(log).size;
    await registerAdmission(kc, admissionUrl());
    // The API server takes a registration up asynchronously: wait until a node write reaches the functions (a dry
    // run: reviewed, nothing stored, nothing reconciled).
    await waitFor('the admission webhook live', async () => {
      await core.createNode({ body: { metadata: { name: uniqueName('probe') } }, dryRun: 'All' });
      return readFileSync(log).subarray(offset).toString().includes('"route":"admission"');
    });
  }
});

afterAll(async () => {
  // Removing the system's own webhook would leave the files after this one without events in managed mode.
  if (!registeredBySystem) await registerAdmission(kc, undefined);
  await deleteNamespace(core, namespace);
  for (const node of nodes) await deleteNode(kc, node);
});

it('a node created → AdmissionReview → allowed at once → reconciled after it is stored → its pod', async () => {
  const offset = statSync(log).size;
  nodes.push(...(await addNodes(kc, 1, { labels: { [RUN_LABEL]: run } })));
  await waitConverged(core, namespace, 'app=agent', nodes);
  const lines = () => readFileSync(log).subarray(offset).toString().split('\n');
  // The AdmissionReview was answered (and its hints handed over) …
  await waitFor('the admission request for the new node', () => lines().find((l) => l.includes('"route":"admission"') && l.includes(`node/${nodes[0]}`)) ?? false);
  // … and reconciled: in the Lambda runtime by the queue's consumer (docs/adr/0003-queue.md), on the local server in the
  // background once the settle delay passed.
  const [where, message] =
    process.env.DAEMONLESS_RUNTIME === 'lambda' ? ['the queue consumer', 'queue batch reconciled'] : ['the admission route', 'deferred admission hints handled'];
  const handled = await waitFor(`${where} reconciling the new node`, () =>
    lines().find((l) => l.includes(`"msg":"${message}"`) && l.includes(`"node/${nodes[0]}"`)) ?? false,
  );
  const entry = JSON.parse(handled) as { result: { apiRequests: number } };
  expect(entry.result.apiRequests).toBeGreaterThan(0);
});

/**
 * The API server stores a change only once every validating webhook has answered, and calls them at once: with a
 * second webhook that answers 1.5 s later, daemonless's pass (handed the hint at once) reads the node before the
 * change is stored. Its hint waits for the change (src/hints.ts `PendingChange`): handed in again until a pass sees it
 * (docs/adr/0004-admitted-node-changes.md). The fixed 300 ms settle delay of before would have read too early and
 * left the pod to the resync (managed mode), or to the audit webhook (native mode).
 */
describe('an admitted node change stored only after a slower webhook has answered', () => {
  const SLOW_WEBHOOK = 'daemonless-test-slow';
  /**
   * How much later the slower webhook answers: long enough for a first pass to read the node before the change is
   * stored even through the queue on a slow machine (admission → SQS → consumer → reconcile), well within
   * ADMISSION_STORED_WITHIN_MS (3 s).
   */
  const SLOW_MS = 1_500;
  const SLOW_LABEL = 'test.daemonless.dev/slow-webhook';
  const slowRun = uniqueName('slow');
  /** The slower webhook denies a node update that gives RUN_LABEL this value. */
  let denying: string | undefined;
  /** AdmissionReviews the slower webhook has been sent. */
  let reviews = 0;
  let server: Server;
  const api = createTransport(kc, { requestTimeoutMs: 30_000 });
  const path = 'apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations';

  function answerLater(req: IncomingMessage, res: ServerResponse): void {
    let data = '';
    req.setEncoding('utf8').on('data', (chunk: string) => (data += chunk));
    req.on('end', () => {
      reviews += 1;
      const review = JSON.parse(data) as { request: { uid: string; object?: { metadata?: { labels?: Record<string, string> } } } };
      const allowed = denying === undefined || review.request.object?.metadata?.labels?.[RUN_LABEL] !== denying;
      const response = { uid: review.request.uid, allowed, ...(allowed ? {} : { status: { code: 403, message: 'denied by the test' } }) };
      setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response })), SLOW_MS);
    });
  }

  beforeAll(async () => {
    const pki = localPaths().pki;
    server = createHttpsServer({ cert: readFileSync(join(pki, 'webhook.crt')), key: readFileSync(join(pki, 'webhook.key')) }, answerLater);
    const [port] = (await freePorts(1)) as [number];
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    const webhook = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: SLOW_WEBHOOK },
      webhooks: [
        {
          name: 'slow.test.daemonless.dev',
          admissionReviewVersions: ['v1'],
          sideEffects: 'None',
          failurePolicy: 'Fail',
          timeoutSeconds: 10,
          clientConfig: { url: `https://127.0.0.1:${port}/`, caBundle: readFileSync(join(pki, 'ca.crt')).toString('base64') },
          rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['nodes'], scope: 'Cluster' }],
          // Only this block's nodes: the simulator's writes to every other node go on unhindered.
          objectSelector: { matchLabels: { [SLOW_LABEL]: slowRun } },
        },
      ],
    };
    await api.send({ method: 'POST', path, body: JSON.stringify(webhook), what: 'register the slower webhook' });
    // Taken up asynchronously: wait until a (dry-run) update of one of this block's nodes reaches it.
    const probe = await outsideNode();
    await waitFor('the slower webhook live', async () => {
      await core.patchNode({ name: probe, body: { metadata: { labels: { 'test.daemonless.dev/probe': 'x' } } }, dryRun: 'All' }, mergePatch);
      return reviews > 0;
    });
  });

  afterAll(async () => {
    await api.send({ method: 'DELETE', path: `${path}/${SLOW_WEBHOOK}`, what: 'remove the slower webhook' }).catch(() => undefined);
    await new Promise((resolve) => server.close(resolve));
  });

  /**
   * A node of this block, outside the DaemonSet's node selector until a test labels it in. Returned once the node
   * lifecycle controller has removed the not-ready taint admission gave it at creation: that removal is a change to
   * the node, and a pass that sees it stored counts the admitted change as settled (any change after `before`: if the
   * admitted one is stored later, the API server admits it again on the changed node, with a new `before`). Left to
   * race with the test's patch, it made "taken as refused" never come (seen once in CI).
   */
  async function outsideNode(): Promise<string> {
    const [name] = await addNodes(kc, 1, { labels: { [RUN_LABEL]: `${run}-not-yet`, [SLOW_LABEL]: slowRun } });
    nodes.push(name!);
    await waitForNodesSchedulable(kc, [name!]);
    return name!;
  }

  const linesSince = (offset: number) => readFileSync(log).subarray(offset).toString().split('\n');

  it('is handed in again until a pass sees it stored, and its pod is made', async () => {
    const node = await outsideNode();
    const offset = statSync(log).size;
    const started = Date.now();
    // Into the selector: this update returns only after the slower webhook answered (and the change was stored).
    await core.patchNode({ name: node, body: { metadata: { labels: { [RUN_LABEL]: run } } } }, mergePatch);
    expect(Date.now() - started).toBeGreaterThanOrEqual(SLOW_MS);
    await waitFor(`the DaemonSet's pod on ${node}`, async () => {
      const pods = await core.listNamespacedPod({ namespace, labelSelector: 'app=agent', fieldSelector: `spec.nodeName=${node}` });
      return pods.items.length === 1;
    });
    // A pass read the node before the change was stored, and said so (HandleResult `unsettled`) …
    const unsettled = linesSince(offset).filter((l) => l.includes('"msg":"reconciled"') && l.includes('"unsettled"') && l.includes(`"name":"${node}"`));
    expect(unsettled.length).toBeGreaterThan(0);
    // … and the change was not given up on.
    expect(linesSince(offset).some((l) => l.includes('taken as refused') && l.includes(`node/${node}`))).toBe(false);
  });

  it('refused by the slower webhook: given up once ADMISSION_STORED_WITHIN_MS (3 s) has passed, and logged', async () => {
    const node = await outsideNode();
    const offset = statSync(log).size;
    denying = run;
    try {
      await expect(core.patchNode({ name: node, body: { metadata: { labels: { [RUN_LABEL]: run } } } }, mergePatch)).rejects.toThrow();
    } finally {
      denying = undefined;
    }
    await waitFor('the change taken as refused', () => linesSince(offset).some((l) => l.includes('taken as refused') && l.includes(`node/${node}`)), { timeoutMs: 15_000 });
    const pods = await core.listNamespacedPod({ namespace, labelSelector: 'app=agent', fieldSelector: `spec.nodeName=${node}` });
    expect(pods.items).toEqual([]);
  });
});
