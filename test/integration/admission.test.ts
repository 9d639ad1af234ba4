/**
 * The admission path end to end: a ValidatingWebhookConfiguration sends real AdmissionReviews to the functions'
 * HTTPS listener, which answers at once and reconciles after the change is stored (the EKS delivery path). The shared
 * system also delivers audit events; the functions' log shows the admission route did its own reconcile.
 */
import { readFileSync, statSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { addNodes, deleteNode } from '../../devcluster/simulator/nodes.ts';
import { localPaths } from '../../devcluster/paths.ts';
import { admissionUrl, isAdmissionRegistered, registerAdmission } from '../../devcluster/system.ts';
import { adminClient, createNamespace, deleteNamespace, uniqueName, waitFor } from '../support/cluster.ts';
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
  if (!registeredBySystem) await registerAdmission(kc, admissionUrl());
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
  if (process.env.DAEMONLESS_RUNTIME === 'lambda') return; // … to the queue (docs/adr/0003-queue.md): reconciled by the consumer.
  // … and, on the local server, reconciled in the background once the settle delay passed.
  const handled = await waitFor('the admission route reconciling the new node', () =>
    lines().find((l) => l.includes('deferred admission hints handled') && l.includes(`node/${nodes[0]}`)) ?? false,
  );
  const entry = JSON.parse(handled) as { result: { apiRequests: number } };
  expect(entry.result.apiRequests).toBeGreaterThan(0);
});
