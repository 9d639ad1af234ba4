/**
 * infra/rbac.yaml against the requests the code makes: every method of the Cluster port (src/k8s/cluster.ts) and the
 * pass scheduler (src/k8s/leases.ts) is driven through the real client path (createCluster → createTransport →
 * client-node) against a loopback HTTP listener that records each request's method and URL and answers a minimal JSON
 * body, or the 404/409 a row needs to reach a fallback branch (a lease created on first use, a revision that already
 * exists). It decides nothing: it is a recorder, not a stand-in for the API server.
 *
 * Each request is classified as kube-apiserver's RequestInfoFactory does (devcluster/faults/request-info.ts, its port)
 * and checked against the RBAC roles bound to `daemonless-reconciler`, with RBAC's scoping: a ClusterRole through a
 * ClusterRoleBinding holds in every namespace and for cluster-scoped resources, a Role (or a ClusterRole through a
 * RoleBinding) only inside the binding's namespace. Both directions fail the test: a request no rule allows (the YAML
 * forgets a call), and a granted (group, resource, verb, scope) no request uses (the YAML grants more than the code),
 * with one documented exception, `finalizers` update (see `intentionalExtras`).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig, type V1DaemonSet } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import * as z from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestInfo, type RequestInfo } from '../../devcluster/faults/request-info.ts';
import { loadConfig, managedKinds } from '../../src/config.ts';
import { createCalls, createCluster, type Cluster } from '../../src/k8s/cluster.ts';
import { createPassLock, createPassScheduler, leaseName } from '../../src/k8s/leases.ts';
import { createTransport, type Transport } from '../../src/k8s/transport.ts';

// ---------------------------------------------------------------------------------------------------------------
// infra/rbac.yaml, parsed once with a schema of the fields RBAC authorization reads.

const RuleSchema = z.object({
  apiGroups: z.array(z.string()),
  resources: z.array(z.string()),
  verbs: z.array(z.string()),
  resourceNames: z.array(z.string()).optional(),
});
const RoleSchema = z.object({
  kind: z.enum(['Role', 'ClusterRole']),
  metadata: z.object({ name: z.string(), namespace: z.string().optional() }),
  rules: z.array(RuleSchema),
});
const BindingSchema = z.object({
  kind: z.enum(['RoleBinding', 'ClusterRoleBinding']),
  metadata: z.object({ name: z.string(), namespace: z.string().optional() }),
  roleRef: z.object({ kind: z.enum(['Role', 'ClusterRole']), name: z.string() }),
  subjects: z.array(z.object({ kind: z.string(), name: z.string() })),
});
type Role = z.infer<typeof RoleSchema>;
type Binding = z.infer<typeof BindingSchema>;
interface Rbac {
  roles: Role[];
  bindings: Binding[];
}

function parseRbac(text: string): Rbac {
  const rbac: Rbac = { roles: [], bindings: [] };
  for (const document of parseAllDocuments(text)) {
    const object = document.toJS() as { kind?: string } | null;
    if (object?.kind === 'Role' || object?.kind === 'ClusterRole') rbac.roles.push(RoleSchema.parse(object));
    else if (object?.kind === 'RoleBinding' || object?.kind === 'ClusterRoleBinding') rbac.bindings.push(BindingSchema.parse(object));
  }
  return rbac;
}

const RECONCILER = 'daemonless-reconciler';
/** The default of LEASE_NAMESPACE (src/config.ts), where infra/rbac.yaml grants Lease rights. */
const LEASE_NAMESPACE = loadConfig({}).LEASE_NAMESPACE;
const rbacYaml = readFileSync(join(import.meta.dirname, '..', '..', 'infra', 'rbac.yaml'), 'utf8');

/** One granted permission: a verb on a group's resource (with `/subresource`), in a namespace or everywhere (`*`). */
interface Grant {
  group: string;
  resource: string;
  verb: string;
  scope: string;
}
/** `verb resource.group/subresource in scope`, the shape of `requestKey`. */
const grantKey = (g: Grant) => {
  const [resource, subresource] = g.resource.split('/');
  return `${g.verb} ${resource}${g.group ? `.${g.group}` : ''}${subresource ? `/${subresource}` : ''} in ${g.scope}`;
};

/**
 * What the roles bound to `user` grant, as RBAC scopes it: a ClusterRoleBinding applies its ClusterRole everywhere
 * (`*`: every namespace and cluster-scoped resources); a RoleBinding applies its Role, or a ClusterRole, in its own
 * namespace only. A binding whose role does not exist grants nothing (as in the API server).
 */
function grantsOf(rbac: Rbac, user: string): Grant[] {
  const grants: Grant[] = [];
  for (const binding of rbac.bindings) {
    if (!binding.subjects.some((s) => s.kind === 'User' && s.name === user)) continue;
    // A ClusterRoleBinding can only name a ClusterRole (the API server refuses the object otherwise).
    if (binding.kind === 'ClusterRoleBinding' && binding.roleRef.kind === 'Role') continue;
    const scope = binding.kind === 'ClusterRoleBinding' ? '*' : binding.metadata.namespace ?? 'default';
    const role = rbac.roles.find(
      (r) => r.kind === binding.roleRef.kind && r.metadata.name === binding.roleRef.name && (r.kind === 'ClusterRole' || (r.metadata.namespace ?? 'default') === scope),
    );
    for (const rule of role?.rules ?? []) {
      for (const group of rule.apiGroups) for (const resource of rule.resources) for (const verb of rule.verbs) grants.push({ group, resource, verb, scope });
    }
  }
  return grants;
}

/** Whether a grant allows a request. Exact matches only: the test refuses wildcards and resourceNames in the YAML. */
function allows(grant: Grant, info: RequestInfo): boolean {
  const resource = info.subresource ? `${info.resource}/${info.subresource}` : info.resource;
  // A namespaced grant covers requests inside that namespace only; cluster-scoped requests (nodes, lists across all
  // namespaces) have namespace '' and need a cluster-wide grant.
  const inScope = grant.scope === '*' || grant.scope === info.namespace;
  return inScope && grant.group === info.apiGroup && grant.resource === resource && grant.verb === info.verb;
}

/** A recorded request, classified. */
interface Seen {
  method: string;
  url: string;
  info: RequestInfo;
}
const requestKey = ({ info }: Seen) =>
  `${info.verb} ${info.resource}${info.apiGroup ? `.${info.apiGroup}` : ''}${info.subresource ? `/${info.subresource}` : ''}${info.namespace ? ` in ${info.namespace}` : ''}`;

/** Requests that no grant allows. */
function denied(requests: readonly Seen[], grants: readonly Grant[]): string[] {
  return [...new Set(requests.filter((r) => !r.info.isResourceRequest || !grants.some((g) => allows(g, r.info))).map(requestKey))].sort();
}

/**
 * The one intentional extra: `update` on the owners' `finalizers` subresource. Pods and ControllerRevisions are created
 * with an owner reference carrying `blockOwnerDeletion: true`; clusters that run the OwnerReferencesPermissionEnforcement
 * admission plugin (OpenShift, hardened clusters) accept such a reference only from a user who may update the owner's
 * `finalizers`. The API server checks that permission; no request of ours ever uses it, so no recorded request can.
 */
const intentionalExtras: readonly Grant[] = [
  { group: 'apps', resource: 'daemonsets/finalizers', verb: 'update', scope: '*' },
  { group: 'daemonless.dev', resource: 'serverlessdaemonsets/finalizers', verb: 'update', scope: '*' },
];

/**
 * Whether a request justifies a grant. A request in daemonless's own namespace (LEASE_NAMESPACE, fixed by
 * configuration) justifies a grant there, not a cluster-wide one; requests in the namespaces of the DaemonSets (rows
 * use `ns`, standing for any namespace a user picks) or cluster-scoped ones justify cluster-wide grants.
 */
const justifies = (g: Grant, r: Seen) => allows(g, r.info) && (g.scope !== '*' || r.info.namespace !== LEASE_NAMESPACE);

/** Grants that no request uses (or a wider scope than the requests need), the intentional extras aside. */
function unused(requests: readonly Seen[], grants: readonly Grant[]): string[] {
  const extra = new Set(intentionalExtras.map(grantKey));
  return [...new Set(grants.filter((g) => !extra.has(grantKey(g)) && !requests.some((r) => justifies(g, r))).map(grantKey))].sort();
}

// ---------------------------------------------------------------------------------------------------------------
// The recording listener and the port, built the way src/wiring.ts builds them.

interface Answer {
  status: number;
  body: unknown;
}
const ok = (body: unknown = {}): Answer => ({ status: 200, body });
const notFound: Answer = { status: 404, body: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 } };
const conflict: Answer = { status: 409, body: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Conflict', code: 409 } };
const alreadyExists: Answer = { status: 409, body: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'AlreadyExists', code: 409 } };

let server: Server;
let transport: Transport;
/** What the listener answers next, in order; `ok({})` once they are used up. */
let answers: Answer[] = [];
let recorded: { method: string; url: string }[] = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      recorded.push({ method: request.method ?? '', url: request.url ?? '' });
      const answer = answers.shift() ?? ok();
      response.writeHead(answer.status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    // client-node refuses plain http unless TLS verification is off; there is no TLS on the loopback anyway.
    clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: RECONCILER }],
    contexts: [{ name: 'c', cluster: 'c', user: RECONCILER }],
    currentContext: 'c',
  });
  transport = createTransport(kc, { requestTimeoutMs: 5000 });
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

type Manage = 'apps' | 'crd' | 'both';
/** The port methods, `schedule` and `scheduleMany` of the pass scheduler and `passLock` (take, give back) built on the same calls. */
type Method = Exclude<keyof Cluster, 'requestCount' | 'requestsByKind' | 'transientFailures'> | 'schedule' | 'scheduleMany' | 'passLock';

interface Row {
  name: string;
  method: Method;
  /** MANAGE (src/config.ts); default `apps`. */
  manage?: Manage;
  /** LEASE_NAMESPACE; default `daemonless-system`. */
  leaseNamespace?: string;
  /** Answers in order (the rest: 200 `{}`). */
  answers?: Answer[];
  drive: (cluster: Cluster, scheduler: ReturnType<typeof createPassScheduler>, lock: ReturnType<typeof createPassLock>) => Promise<unknown>;
  /** The requests made, classified (`requestKey`): proves the row took the branch it names. */
  want: string[];
}

const NOW = new Date('2026-01-01T00:00:00Z');
const ds = { namespace: 'ns', name: 'ds', uid: 'ds-uid' };
const sds = { ...ds, kind: 'ServerlessDaemonSet' as const };
const pod = { namespace: 'ns', name: 'ds-abcde', uid: 'pod-uid' };
const owner = { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'ds', uid: 'ds-uid', controller: true, blockOwnerDeletion: true };
const dsObject = (apiVersion: string, kind: string): V1DaemonSet => ({ apiVersion, kind, metadata: { namespace: 'ns', name: 'ds', uid: 'ds-uid', resourceVersion: '7' } });
const event = (daemonSet: typeof ds) => ({ daemonSet, type: 'Normal' as const, reason: 'SuccessfulCreate' as const, message: 'Created pod: ds-abcde' });
const backoff = { lastDeletion: NOW, delaySeconds: 10, generation: 1 };
/** A daemonless Lease the resync cleans up: its DaemonSet is gone. */
const doneLease = { metadata: { name: 'daemonless-rollout-x', uid: 'lease-uid', labels: { 'app.kubernetes.io/managed-by': 'daemonless', 'daemonless.dev/purpose': 'rollout', 'daemonless.dev/daemonset-uid': 'gone' } } };
const L = `in ${LEASE_NAMESPACE}`;

const rows: Row[] = [
  { name: 'getNode', method: 'getNode', drive: (c) => c.getNode('n1'), want: ['get nodes'] },
  { name: 'listNodes', method: 'listNodes', drive: (c) => c.listNodes(), want: ['list nodes'] },
  { name: 'getDaemonSet (apps/v1)', method: 'getDaemonSet', drive: (c) => c.getDaemonSet('ns', 'ds'), want: ['get daemonsets.apps in ns'] },
  {
    name: 'getDaemonSet (ServerlessDaemonSet)',
    method: 'getDaemonSet',
    manage: 'crd',
    drive: (c) => c.getDaemonSet('ns', 'ds', 'ServerlessDaemonSet'),
    want: ['get serverlessdaemonsets.daemonless.dev in ns'],
  },
  { name: 'listDaemonSets, MANAGE=apps', method: 'listDaemonSets', manage: 'apps', drive: (c) => c.listDaemonSets(), want: ['list daemonsets.apps'] },
  { name: 'listDaemonSets, MANAGE=crd', method: 'listDaemonSets', manage: 'crd', drive: (c) => c.listDaemonSets(), want: ['list serverlessdaemonsets.daemonless.dev'] },
  {
    name: 'listDaemonSets, MANAGE=both',
    method: 'listDaemonSets',
    manage: 'both',
    drive: (c) => c.listDaemonSets(),
    want: ['list daemonsets.apps', 'list serverlessdaemonsets.daemonless.dev'],
  },
  {
    name: 'listDaemonSets of one kind in a namespace',
    method: 'listDaemonSets',
    manage: 'both',
    drive: (c) => c.listDaemonSets({ kind: 'ServerlessDaemonSet', namespace: 'ns' }),
    want: ['list serverlessdaemonsets.daemonless.dev in ns'],
  },
  { name: 'listDaemonSets in a namespace', method: 'listDaemonSets', drive: (c) => c.listDaemonSets({ namespace: 'ns' }), want: ['list daemonsets.apps in ns'] },
  { name: 'getPod', method: 'getPod', drive: (c) => c.getPod('ns', 'p'), want: ['get pods in ns'] },
  { name: 'listPodsOnNode (all namespaces)', method: 'listPodsOnNode', drive: (c) => c.listPodsOnNode('n1'), want: ['list pods'] },
  { name: 'listUnscheduledPods (all namespaces)', method: 'listUnscheduledPods', drive: (c) => c.listUnscheduledPods(), want: ['list pods'] },
  { name: 'listPods in a namespace', method: 'listPods', drive: (c) => c.listPods('ns', 'app=x'), want: ['list pods in ns'] },
  { name: 'listPods, all namespaces', method: 'listPods', drive: (c) => c.listPods(), want: ['list pods'] },
  // A metadata-only list (Accept: PartialObjectMetadataList) is still `list pods` to the authorizer.
  { name: 'listPodMetadata', method: 'listPodMetadata', drive: (c) => c.listPodMetadata('ns'), want: ['list pods in ns'] },
  { name: 'listControllerRevisions in a namespace', method: 'listControllerRevisions', drive: (c) => c.listControllerRevisions('ns'), want: ['list controllerrevisions.apps in ns'] },
  { name: 'listControllerRevisions, all namespaces', method: 'listControllerRevisions', drive: (c) => c.listControllerRevisions(), want: ['list controllerrevisions.apps'] },
  { name: 'createPod', method: 'createPod', drive: (c) => c.createPod({ metadata: { namespace: 'ns', name: 'ds-abcde' } }), want: ['create pods in ns'] },
  { name: 'deletePod', method: 'deletePod', drive: (c) => c.deletePod(pod, 0), want: ['delete pods in ns'] },
  { name: 'adopt a pod', method: 'adopt', drive: (c) => c.adopt('pods', pod, owner), want: ['patch pods in ns'] },
  { name: 'adopt a revision', method: 'adopt', drive: (c) => c.adopt('controllerrevisions', pod, owner), want: ['patch controllerrevisions.apps in ns'] },
  { name: 'release a pod', method: 'release', drive: (c) => c.release('pods', pod, 'ds-uid'), want: ['patch pods in ns'] },
  { name: 'release a revision', method: 'release', drive: (c) => c.release('controllerrevisions', pod, 'ds-uid'), want: ['patch controllerrevisions.apps in ns'] },
  { name: 'labelPod', method: 'labelPod', drive: (c) => c.labelPod(pod, { 'controller-revision-hash': 'h' }), want: ['patch pods in ns'] },
  // Events go to the DaemonSet's namespace, whichever kind it is.
  { name: 'recordEvent (apps/v1)', method: 'recordEvent', drive: (c) => c.recordEvent(event(ds), NOW), want: ['create events in ns'] },
  { name: 'recordEvent (ServerlessDaemonSet)', method: 'recordEvent', manage: 'crd', drive: (c) => c.recordEvent(event(sds), NOW), want: ['create events in ns'] },
  {
    name: 'updateDaemonSetStatus (apps/v1)',
    method: 'updateDaemonSetStatus',
    drive: (c) => c.updateDaemonSetStatus(dsObject('apps/v1', 'DaemonSet'), { currentNumberScheduled: 1, desiredNumberScheduled: 1, numberMisscheduled: 0, numberReady: 1 }),
    want: ['update daemonsets.apps/status in ns'],
  },
  {
    name: 'updateDaemonSetStatus (ServerlessDaemonSet)',
    method: 'updateDaemonSetStatus',
    manage: 'crd',
    drive: (c) =>
      c.updateDaemonSetStatus(dsObject('daemonless.dev/v1alpha1', 'ServerlessDaemonSet'), { currentNumberScheduled: 1, desiredNumberScheduled: 1, numberMisscheduled: 0, numberReady: 1 }),
    want: ['update serverlessdaemonsets.daemonless.dev/status in ns'],
  },
  // Reads the status subresource, then writes it if the count is still the one observed (the answer `{}` has 0).
  { name: 'bumpCollisionCount (apps/v1)', method: 'bumpCollisionCount', drive: (c) => c.bumpCollisionCount(ds, 0), want: ['get daemonsets.apps/status in ns', 'update daemonsets.apps/status in ns'] },
  {
    name: 'bumpCollisionCount (ServerlessDaemonSet)',
    method: 'bumpCollisionCount',
    manage: 'crd',
    drive: (c) => c.bumpCollisionCount(sds, 0),
    want: ['get serverlessdaemonsets.daemonless.dev/status in ns', 'update serverlessdaemonsets.daemonless.dev/status in ns'],
  },
  {
    name: 'createControllerRevision',
    method: 'createControllerRevision',
    drive: (c) => c.createControllerRevision({ metadata: { namespace: 'ns', name: 'ds-h' }, revision: 1, data: {} }),
    want: ['create controllerrevisions.apps in ns'],
  },
  // A hash collision or a concurrent create: the existing revision is read to compare its data.
  {
    name: 'createControllerRevision, AlreadyExists',
    method: 'createControllerRevision',
    answers: [alreadyExists],
    drive: (c) => c.createControllerRevision({ metadata: { namespace: 'ns', name: 'ds-h' }, revision: 1, data: {} }),
    want: ['create controllerrevisions.apps in ns', 'get controllerrevisions.apps in ns'],
  },
  { name: 'patchControllerRevision', method: 'patchControllerRevision', drive: (c) => c.patchControllerRevision('ns', 'ds-h', { revision: 2 }), want: ['patch controllerrevisions.apps in ns'] },
  { name: 'deleteControllerRevision', method: 'deleteControllerRevision', drive: (c) => c.deleteControllerRevision('ns', 'ds-h'), want: ['delete controllerrevisions.apps in ns'] },
  { name: 'getBackoff', method: 'getBackoff', drive: (c) => c.getBackoff(ds, 'n1'), want: [`get leases.coordination.k8s.io ${L}`] },
  { name: 'writeBackoff, existing Lease', method: 'writeBackoff', drive: (c) => c.writeBackoff(ds, 'n1', backoff), want: [`patch leases.coordination.k8s.io ${L}`] },
  {
    name: 'writeBackoff, first use',
    method: 'writeBackoff',
    answers: [notFound],
    drive: (c) => c.writeBackoff(ds, 'n1', backoff),
    want: [`patch leases.coordination.k8s.io ${L}`, `create leases.coordination.k8s.io ${L}`],
  },
  {
    name: 'acquireRolloutLock, first use',
    method: 'acquireRolloutLock',
    answers: [notFound],
    drive: (c) => c.acquireRolloutLock(ds, 'me', 30, NOW),
    want: [`get leases.coordination.k8s.io ${L}`, `create leases.coordination.k8s.io ${L}`],
  },
  {
    name: 'acquireRolloutLock, free Lease',
    method: 'acquireRolloutLock',
    drive: (c) => c.acquireRolloutLock(ds, 'me', 30, NOW),
    want: [`get leases.coordination.k8s.io ${L}`, `update leases.coordination.k8s.io ${L}`],
  },
  {
    name: 'releaseRolloutLock',
    method: 'releaseRolloutLock',
    answers: [ok({ metadata: { name: leaseName('rollout', 'ds-uid'), resourceVersion: '3' }, spec: { holderIdentity: 'me' } })],
    drive: (c) => c.releaseRolloutLock(ds, 'me'),
    want: [`get leases.coordination.k8s.io ${L}`, `update leases.coordination.k8s.io ${L}`],
  },
  {
    name: 'cleanUpLeases',
    method: 'cleanUpLeases',
    answers: [ok({ items: [doneLease] })],
    drive: (c) => c.cleanUpLeases(new Set(['ds-uid']), new Set(['n1']), NOW, 60_000),
    want: [`list leases.coordination.k8s.io ${L}`, `delete leases.coordination.k8s.io ${L}`],
  },
  {
    name: 'PassScheduler.schedule, first use',
    method: 'schedule',
    answers: [notFound],
    drive: (_c, s) => s.schedule(ds, NOW.getTime(), 1000, NOW.getTime()),
    want: [`get leases.coordination.k8s.io ${L}`, `create leases.coordination.k8s.io ${L}`],
  },
  {
    name: 'PassScheduler.scheduleMany: one list of the Leases by UID, then a write each',
    method: 'scheduleMany',
    answers: [ok({ items: [] })],
    drive: (_c, s) =>
      s.scheduleMany(
        [
          { daemonSet: { ...ds, uid: 'uid-a' }, atMs: NOW.getTime() },
          { daemonSet: { ...ds, name: 'other', uid: 'uid-b' }, atMs: NOW.getTime() },
        ],
        1000,
        NOW.getTime(),
      ),
    want: [`list leases.coordination.k8s.io ${L}`, `create leases.coordination.k8s.io ${L}`, `create leases.coordination.k8s.io ${L}`],
  },
  {
    name: 'PassScheduler.schedule, existing Lease',
    method: 'schedule',
    drive: (_c, s) => s.schedule(ds, NOW.getTime(), 1000, NOW.getTime()),
    want: [`get leases.coordination.k8s.io ${L}`, `update leases.coordination.k8s.io ${L}`],
  },
  {
    // A create that applied although its answer was lost: the retry conflicts with it, the read finds our own
    // schedule, whose pass is then ours to enqueue (not taken as another's that covers this one).
    name: 'PassScheduler.schedule, our own create met again: ours to enqueue',
    method: 'schedule',
    answers: [notFound, alreadyExists, ok({ metadata: { annotations: { 'daemonless.dev/pass-scheduled-at': '2026-01-01T00:00:02.000Z', 'daemonless.dev/pass-scheduled-by': 'me' } } })],
    drive: async (_c, s) => {
      const delay = await s.schedule(ds, NOW.getTime() + 2000, 1000, NOW.getTime());
      if (delay !== 2) throw new Error(`our own schedule was not enqueued: ${delay}`);
    },
    want: [`get leases.coordination.k8s.io ${L}`, `create leases.coordination.k8s.io ${L}`, `get leases.coordination.k8s.io ${L}`],
  },
  {
    name: "PassScheduler.schedule, another's schedule covers it: nothing to enqueue",
    method: 'schedule',
    answers: [notFound, alreadyExists, ok({ metadata: { annotations: { 'daemonless.dev/pass-scheduled-at': '2026-01-01T00:00:02.000Z', 'daemonless.dev/pass-scheduled-by': 'other' } } })],
    drive: async (_c, s) => {
      const delay = await s.schedule(ds, NOW.getTime() + 2000, 1000, NOW.getTime());
      if (delay !== null) throw new Error(`a covered pass was enqueued again: ${delay}`);
    },
    want: [`get leases.coordination.k8s.io ${L}`, `create leases.coordination.k8s.io ${L}`, `get leases.coordination.k8s.io ${L}`],
  },
  {
    name: 'PassLock, free: taken, renewed and given back',
    method: 'passLock',
    answers: [ok({ metadata: { uid: 'lock-uid', resourceVersion: '1' } })],
    drive: async (_c, _s, l) => {
      const held = await l.tryAcquire('me', NOW.getTime() + 20_000, NOW.getTime());
      await held?.renew(NOW.getTime() + 25_000, NOW.getTime() + 5_000);
      await held?.release(NOW.getTime());
    },
    want: [`create leases.coordination.k8s.io ${L}`, `update leases.coordination.k8s.io ${L}`, `delete leases.coordination.k8s.io ${L}`],
  },
  {
    name: 'PassLock, held by another',
    method: 'passLock',
    answers: [alreadyExists, ok({ metadata: { uid: 'theirs', annotations: { 'daemonless.dev/held-until': '2026-01-01T00:01:00Z' } }, spec: { holderIdentity: 'other' } })],
    drive: (_c, _s, l) => l.tryAcquire('me', NOW.getTime() + 30_000, NOW.getTime()),
    want: [`create leases.coordination.k8s.io ${L}`, `get leases.coordination.k8s.io ${L}`],
  },
  {
    // A create that applied although its answer was lost: the retry meets our own Lease, which is then ours.
    name: 'PassLock, our own create met again: ours',
    method: 'passLock',
    answers: [alreadyExists, ok({ metadata: { uid: 'mine', annotations: { 'daemonless.dev/held-until': '2026-01-01T00:00:20Z' } }, spec: { holderIdentity: 'me' } })],
    drive: async (_c, _s, l) => {
      if ((await l.tryAcquire('me', NOW.getTime() + 20_000, NOW.getTime())) === null) throw new Error('our own Lease was not taken as ours');
    },
    want: [`create leases.coordination.k8s.io ${L}`, `get leases.coordination.k8s.io ${L}`],
  },
  {
    // A renewal that applied although its answer was lost conflicts with itself on the retry: still ours.
    name: 'PassLock, our own renewal met again: still ours',
    method: 'passLock',
    answers: [ok({ metadata: { uid: 'mine', resourceVersion: '1' } }), conflict, ok({ metadata: { uid: 'mine', resourceVersion: '2' }, spec: { holderIdentity: 'me' } })],
    drive: async (_c, _s, l) => {
      const held = await l.tryAcquire('me', NOW.getTime() + 20_000, NOW.getTime());
      if (!(await held?.renew(NOW.getTime() + 25_000, NOW.getTime() + 5_000))) throw new Error('our own renewal was taken as a lost lock');
    },
    want: [`create leases.coordination.k8s.io ${L}`, `update leases.coordination.k8s.io ${L}`, `get leases.coordination.k8s.io ${L}`, `update leases.coordination.k8s.io ${L}`],
  },
  {
    name: 'PassLock, expired: taken over',
    method: 'passLock',
    answers: [alreadyExists, ok({ metadata: { uid: 'theirs', resourceVersion: '5', annotations: { 'daemonless.dev/held-until': '2025-12-31T23:59:00Z' } } }), ok(), ok({ metadata: { uid: 'mine' } })],
    drive: (_c, _s, l) => l.tryAcquire('me', NOW.getTime() + 30_000, NOW.getTime()),
    want: [`create leases.coordination.k8s.io ${L}`, `get leases.coordination.k8s.io ${L}`, `delete leases.coordination.k8s.io ${L}`, `create leases.coordination.k8s.io ${L}`],
  },
];

/** Drives one row on a fresh port; the requests it made, classified. */
async function drive(row: Pick<Row, 'manage' | 'leaseNamespace' | 'answers' | 'drive'>): Promise<Seen[]> {
  recorded = [];
  answers = [...(row.answers ?? [])];
  const leaseNamespace = row.leaseNamespace ?? LEASE_NAMESPACE;
  // A deadline in the past: nothing is retried, so a wrong answer fails the row instead of looping.
  const deadline = Date.now() - 1;
  const cluster = createCluster(transport, { deadline, kinds: managedKinds(row.manage ?? 'apps'), leaseNamespace });
  const scheduler = createPassScheduler(createCalls(transport, { deadline }), leaseNamespace, () => 'me');
  const lock = createPassLock(() => createCalls(transport, { deadline }), leaseNamespace);
  await row.drive(cluster, scheduler, lock);
  return recorded.map(({ method, url }) => ({ method, url, info: requestInfo(method, url) }));
}

const results = new Map<string, Seen[]>();
const all = () => [...results.values()].flat();
const grants = grantsOf(parseRbac(rbacYaml), RECONCILER);

beforeAll(async () => {
  for (const row of rows) results.set(row.name, await drive(row));
});

describe('the requests of the Cluster port', () => {
  it.each(rows)('$name', (row) => {
    expect(results.get(row.name)?.map(requestKey)).toEqual(row.want);
  });

  it('every method of the port, and the pass scheduler, is driven by a row', () => {
    const cluster = createCluster(transport, { deadline: 0 });
    const methods = [...Object.keys(cluster).filter((key) => key !== 'requestCount' && key !== 'requestsByKind' && key !== 'transientFailures'), 'schedule', 'scheduleMany', 'passLock'].sort();
    expect([...new Set(rows.map((row) => row.method))].sort()).toEqual(methods);
  });

  it('every lease request stays in LEASE_NAMESPACE', () => {
    const leases = all().filter((r) => r.info.resource === 'leases');
    expect(leases.length).toBeGreaterThan(0);
    expect(leases.filter((r) => r.info.namespace !== LEASE_NAMESPACE)).toEqual([]);
  });
});

describe('infra/rbac.yaml', () => {
  it('uses no wildcard and no resourceNames (the matcher here compares exactly)', () => {
    const rules = parseRbac(rbacYaml).roles.flatMap((role) => role.rules);
    expect(rules.length).toBeGreaterThan(0);
    expect(rules.filter((rule) => rule.resourceNames !== undefined || [...rule.apiGroups, ...rule.resources, ...rule.verbs].some((s) => s.includes('*')))).toEqual([]);
  });

  it('creates the namespace of the Leases', () => {
    const namespaces = parseAllDocuments(rbacYaml).map((d) => d.toJS() as { kind?: string; metadata?: { name?: string } });
    expect(namespaces.filter((o) => o.kind === 'Namespace').map((o) => o.metadata?.name)).toEqual([LEASE_NAMESPACE]);
  });

  it('allows every request the port makes', () => {
    expect(all().length).toBeGreaterThan(0);
    expect(denied(all(), grants)).toEqual([]);
  });

  it('grants nothing the port does not use, but the finalizers updates', () => {
    expect(unused(all(), grants)).toEqual([]);
  });

  it('grants the finalizers updates for every kind reconciled (owner references with blockOwnerDeletion)', () => {
    const granted = new Set(grants.map(grantKey));
    expect(intentionalExtras.filter((extra) => !granted.has(grantKey(extra)))).toEqual([]);
  });
});

/**
 * The comparison fails both ways: each row changes a copy of the parsed YAML (never the file) or the requests, and
 * names what the test must then report.
 */
describe('the comparison catches a difference', () => {
  const edit = (change: (rbac: Rbac) => void): Grant[] => {
    const rbac = structuredClone(parseRbac(rbacYaml));
    change(rbac);
    return grantsOf(rbac, RECONCILER);
  };
  const rule = (rbac: Rbac, group: string, resource: string) => {
    const found = rbac.roles.flatMap((r) => r.rules).find((r) => r.apiGroups.includes(group) && r.resources.includes(resource));
    if (!found) throw new Error(`no rule for ${resource}.${group}`);
    return found;
  };
  const dropVerb = (group: string, resource: string, verb: string) => (rbac: Rbac) => {
    const r = rule(rbac, group, resource);
    r.verbs = r.verbs.filter((v) => v !== verb);
  };
  const addVerb = (group: string, resource: string, verb: string) => (rbac: Rbac) => {
    rule(rbac, group, resource).verbs.push(verb);
  };

  it.each([
    { name: 'pods patch dropped (adopt, release, label)', change: dropVerb('', 'pods', 'patch'), denied: ['patch pods in ns'] },
    { name: 'controllerrevisions get dropped (the AlreadyExists branch)', change: dropVerb('apps', 'controllerrevisions', 'get'), denied: ['get controllerrevisions.apps in ns'] },
    {
      name: 'serverlessdaemonsets/status update dropped (MANAGE=crd)',
      change: dropVerb('daemonless.dev', 'serverlessdaemonsets/status', 'update'),
      denied: ['update serverlessdaemonsets.daemonless.dev/status in ns'],
    },
    { name: 'events create dropped', change: dropVerb('', 'events', 'create'), denied: ['create events in ns'] },
    { name: 'nodes list dropped', change: dropVerb('', 'nodes', 'list'), denied: ['list nodes'] },
    {
      name: 'the leases RoleBinding removed',
      change: (rbac: Rbac) => {
        rbac.bindings = rbac.bindings.filter((b) => b.kind !== 'RoleBinding');
      },
      denied: ['create', 'delete', 'get', 'list', 'patch', 'update'].map((verb) => `${verb} leases.coordination.k8s.io ${L}`),
    },
    {
      // The Role and its binding in kube-system: Lease rights there, none where daemonless keeps its Leases.
      name: 'the leases Role bound in another namespace',
      change: (rbac: Rbac) => {
        for (const item of [...rbac.roles, ...rbac.bindings]) if (item.kind === 'Role' || item.kind === 'RoleBinding') item.metadata.namespace = 'kube-system';
      },
      denied: ['create', 'delete', 'get', 'list', 'patch', 'update'].map((verb) => `${verb} leases.coordination.k8s.io ${L}`),
      unused: ['create', 'delete', 'get', 'list', 'patch', 'update'].map((verb) => `${verb} leases.coordination.k8s.io in kube-system`),
    },
    {
      name: 'the ClusterRoleBinding names another user',
      change: (rbac: Rbac) => {
        for (const b of rbac.bindings) if (b.kind === 'ClusterRoleBinding') b.subjects = [{ kind: 'User', name: 'someone-else' }];
      },
      // Every request but the Leases' (the RoleBinding still names the reconciler).
      denied: 'all but leases' as const,
    },
  ])('$name → denied', ({ change, denied: want, unused: wantUnused = [] }) => {
    const changed = edit(change);
    const expected = want === 'all but leases' ? [...new Set(all().filter((r) => r.info.resource !== 'leases').map(requestKey))].sort() : want;
    expect(expected.length).toBeGreaterThan(0);
    expect(denied(all(), changed)).toEqual(expected);
    expect(unused(all(), changed)).toEqual(wantUnused);
  });

  it.each([
    { name: 'nodes watch added', change: addVerb('', 'nodes', 'watch'), unused: ['watch nodes in *'] },
    { name: 'pods update added', change: addVerb('', 'pods', 'update'), unused: ['update pods in *'] },
    { name: 'daemonsets/status patch added', change: addVerb('apps', 'daemonsets/status', 'patch'), unused: ['patch daemonsets.apps/status in *'] },
    { name: 'leases deletecollection added', change: addVerb('coordination.k8s.io', 'leases', 'deletecollection'), unused: [`deletecollection leases.coordination.k8s.io in ${LEASE_NAMESPACE}`] },
    {
      name: 'a rule for secrets added',
      change: (rbac: Rbac) => {
        rbac.roles.find((r) => r.kind === 'ClusterRole')?.rules.push({ apiGroups: [''], resources: ['secrets'], verbs: ['get'] });
      },
      unused: ['get secrets in *'],
    },
    {
      // The Lease Role as a ClusterRole bound cluster-wide: Lease rights in kube-node-lease and kube-system too.
      name: 'leases granted cluster-wide instead of in LEASE_NAMESPACE',
      change: (rbac: Rbac) => {
        const role = rbac.roles.find((r) => r.kind === 'Role')!;
        rbac.roles.find((r) => r.kind === 'ClusterRole')!.rules.push(...role.rules);
      },
      unused: ['create', 'delete', 'get', 'list', 'patch', 'update'].map((verb) => `${verb} leases.coordination.k8s.io in *`),
    },
  ])('$name → unused', ({ change, unused: want }) => {
    const changed = edit(change);
    expect(unused(all(), changed)).toEqual(want);
    expect(denied(all(), changed)).toEqual([]);
  });

  it('a port whose LEASE_NAMESPACE is not the Role namespace is denied its Leases', async () => {
    const seen = await drive({ leaseNamespace: 'elsewhere', answers: [notFound], drive: (c) => c.acquireRolloutLock(ds, 'me', 30, NOW) });
    expect(denied(seen, grants)).toEqual(['create leases.coordination.k8s.io in elsewhere', 'get leases.coordination.k8s.io in elsewhere']);
  });

  it('the finalizers rule removed → the exception check reports it', () => {
    const changed = edit((rbac) => {
      for (const role of rbac.roles) role.rules = role.rules.filter((r) => !r.resources.some((res) => res.endsWith('/finalizers')));
    });
    const granted = new Set(changed.map(grantKey));
    expect(intentionalExtras.filter((extra) => !granted.has(grantKey(extra))).map(grantKey)).toEqual([
      'update daemonsets.apps/finalizers in *',
      'update serverlessdaemonsets.daemonless.dev/finalizers in *',
    ]);
  });
});
