/**
 * The fault proxy in front of the real API server produces every fault kind it claims, only for the requests its
 * rules name, keeps the reconciler's least-privilege identity, and counts what it did. Requests are made with
 * node:https (the reconciler's client certificate), so each fault is observed as a client sees it: a status code, a
 * dropped or reset connection, a late or cut-off answer.
 */
import { type IncomingHttpHeaders, request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { FaultControlError, faultControl } from '../../devcluster/faults/control.ts';
import { type FaultProxy, startFaultProxy } from '../../devcluster/faults/proxy.ts';
import type { FaultConfigInput } from '../../devcluster/faults/rules.ts';
import { localPaths } from '../../devcluster/paths.ts';
import { pkiLayout } from '../../devcluster/pki.ts';
import { readState } from '../../devcluster/state.ts';
import { adminClient, apiStatus, createNamespace, deleteNamespace, ignoreNotFound, uniqueName } from '../support/cluster.ts';

const paths = localPaths();
const pki = pkiLayout(paths.pki);
const pem = (file: string) => readFileSync(file);
const reconciler = { cert: pem(pki.reconciler.cert), key: pem(pki.reconciler.key) };
const admin = adminClient();
let proxy: FaultProxy;
let namespace: string;

interface Outcome {
  status?: number;
  headers?: IncomingHttpHeaders;
  body: string;
  /** Bytes of body received. */
  bytes: number;
  /** A connection error, or the answer cut off before its end. */
  error?: string;
  ms: number;
}

/** One request through the proxy as the reconciler (or `as`), observed the way a client sees it. */
function call(method: string, path: string, options: { body?: unknown; timeoutMs?: number; as?: { cert: Buffer; key: Buffer } } = {}): Promise<Outcome> {
  const started = performance.now();
  const identity = options.as ?? reconciler;
  return new Promise((resolve) => {
    const outcome: Outcome = { body: '', bytes: 0, ms: 0 };
    const done = (error?: string) => {
      if (error && !outcome.error) outcome.error = error;
      outcome.ms = performance.now() - started;
      resolve(outcome);
    };
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const req = httpsRequest(
      `${proxy.url}${path}`,
      {
        method,
        ca: pem(pki.ca.cert),
        cert: identity.cert,
        key: identity.key,
        agent: false,
        headers: { accept: 'application/json', ...(payload ? { 'content-type': 'application/json' } : {}) },
        ...(options.timeoutMs ? { timeout: options.timeoutMs } : {}),
      },
      (res) => {
        outcome.status = res.statusCode;
        outcome.headers = res.headers;
        res.on('data', (chunk: Buffer) => {
          outcome.bytes += chunk.length;
          outcome.body += chunk.toString('utf8');
        });
        res.on('aborted', () => done('aborted'));
        res.on('error', (error: NodeJS.ErrnoException) => done(error.code ?? error.message));
        res.on('end', () => done());
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('client timeout'), { code: 'CLIENT_TIMEOUT' })));
    req.on('error', (error: NodeJS.ErrnoException) => done(error.code ?? error.message));
    req.end(payload);
  });
}

const only = (rules: FaultConfigInput['rules']) => proxy.setConfig({ rules, seed: 1 });

const pod = (name: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name },
  // Bound to a node that does not exist: nothing runs it, nothing else touches it.
  spec: { nodeName: 'no-such-node', containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] },
});

async function podExists(name: string): Promise<boolean> {
  try {
    await admin.core.readNamespacedPod({ namespace, name });
    return true;
  } catch (error) {
    ignoreNotFound(error);
    return false;
  }
}

beforeAll(async () => {
  const state = readState(paths.state)!;
  proxy = await startFaultProxy({
    upstream: state.server,
    ca: pem(pki.ca.cert),
    identity: reconciler,
    serving: { cert: pem(pki.webhook.cert), key: pem(pki.webhook.key) },
    controlPort: 0,
  });
  namespace = await createNamespace(admin.core, uniqueName('faults'));
});

afterAll(async () => {
  await proxy?.close();
  if (namespace) await deleteNamespace(admin.core, namespace);
});

describe('without faults', () => {
  it('forwards as the reconciler: what it may do succeeds, what it may not is refused by the API server', async () => {
    only([]);
    const nodes = await call('GET', '/api/v1/nodes?limit=1');
    expect(nodes.status).toBe(200);
    expect(JSON.parse(nodes.body)).toMatchObject({ kind: 'NodeList' });
    const secrets = await call('GET', '/api/v1/secrets');
    expect(secrets.status).toBe(403);
    expect(JSON.parse(secrets.body).message).toContain('User "daemonless-reconciler" cannot list resource "secrets"');
  });

  it('refuses a client that presents another certificate, without forwarding it', async () => {
    const before = proxy.counters();
    const asAdmin = await call('GET', '/api/v1/secrets', { as: { cert: pem(pki.admin.cert), key: pem(pki.admin.key) } });
    expect(asAdmin.status).toBe(403);
    expect(JSON.parse(asAdmin.body).message).toMatch(/forwards only for the client certificate it re-originates with/);
    expect(proxy.counters().refused).toBe(before.refused + 1);
    expect(proxy.counters().requests).toBe(before.requests);
  });

  it("passes a watch through and returns the API server's answer as is (the reconciler may not watch: 403)", async () => {
    // daemonless never watches (infra/rbac.yaml grants no watch): the refusal comes from the API server, not the proxy.
    const watch = await call('GET', `/api/v1/namespaces/${namespace}/pods?watch=true&timeoutSeconds=1`);
    expect(watch.status).toBe(403);
    expect(watch.error).toBeUndefined();
  });

  it('works for client-node with a kubeconfig whose server is the proxy', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(paths.reconcilerKubeconfig);
    kc.clusters = kc.clusters.map((c) => ({ ...c, server: proxy.url }));
    const list = await kc.makeApiClient(CoreV1Api).listNode({ limit: 1 });
    expect(list.kind ?? 'NodeList').toBe('NodeList');
    only([{ match: { verbs: ['list'], resources: ['nodes'] }, rates: { '429': 1 }, retryAfterSeconds: 2 }]);
    const error = await kc.makeApiClient(CoreV1Api).listNode({ limit: 1 }).catch((e: unknown) => e);
    expect(apiStatus(error)).toBe(429);
    expect((error as { headers: Record<string, string> }).headers['retry-after']).toBe('2');
  });
});

describe('each fault kind, against the real API server', () => {
  const listNodes = '/api/v1/nodes?limit=1';

  it.each([
    ['429', 'TooManyRequests'],
    ['500', 'InternalError'],
    ['503', 'ServiceUnavailable'],
  ] as const)('%s: the status code and a Status body with reason %s', async (kind, reason) => {
    only([{ match: { verbs: ['list'], resources: ['nodes'] }, rates: { [kind]: 1 }, retryAfterSeconds: 3 }]);
    const before = proxy.counters().faults[kind];
    const outcome = await call('GET', listNodes);
    expect(outcome.status).toBe(Number(kind));
    expect(JSON.parse(outcome.body)).toMatchObject({ kind: 'Status', reason, code: Number(kind) });
    if (kind === '429') expect(outcome.headers?.['retry-after']).toBe('3');
    expect(proxy.counters().faults[kind]).toBe(before + 1);
    // The rule names LIST nodes only: a GET of one node is forwarded (the API server answers 404 for this name).
    expect((await call('GET', '/api/v1/nodes/no-such-node')).status).toBe(404);
  });

  it('timeout: no answer; the client gives up first, and the proxy drops the connection after holdMs', async () => {
    only([{ match: { resources: ['nodes'] }, rates: { timeout: 1 }, holdMs: 1_500 }]);
    const clientGaveUp = await call('GET', listNodes, { timeoutMs: 500 });
    expect(clientGaveUp.status).toBeUndefined();
    expect(clientGaveUp.error).toBe('CLIENT_TIMEOUT');
    const held = await call('GET', listNodes);
    expect(held.status).toBeUndefined();
    expect(held.error).toBe('ECONNRESET');
    expect(held.ms).toBeGreaterThanOrEqual(1_400);
    expect(proxy.counters().faults.timeout).toBeGreaterThanOrEqual(2);
  });

  it('reset: the connection is reset without an answer', async () => {
    only([{ match: { resources: ['nodes'] }, rates: { reset: 1 } }]);
    const outcome = await call('GET', listNodes);
    expect(outcome.status).toBeUndefined();
    expect(outcome.error).toBe('ECONNRESET');
    // At once, not held as a timeout is (≥ 1.4 s above); the bound leaves room for a new TLS handshake on a slow machine.
    expect(outcome.ms).toBeLessThan(1_400);
  });

  it('slow: the right answer, delayMs late', async () => {
    only([{ match: { resources: ['nodes'] }, rates: { slow: 1 }, delayMs: 800 }]);
    const outcome = await call('GET', listNodes);
    expect(outcome.status).toBe(200);
    expect(JSON.parse(outcome.body)).toMatchObject({ kind: 'NodeList' });
    expect(outcome.ms).toBeGreaterThanOrEqual(800);
  });

  it('truncated: status and headers of the real answer, then half of its body and a dropped connection', async () => {
    only([{ match: { resources: ['nodes'] }, rates: { truncated: 1 } }]);
    const outcome = await call('GET', '/api/v1/nodes');
    expect(outcome.status).toBe(200);
    expect(outcome.error).toBeDefined();
    expect(() => JSON.parse(outcome.body)).toThrow();
    const length = Number(outcome.headers?.['content-length'] ?? NaN);
    if (Number.isFinite(length)) expect(outcome.bytes).toBe(Math.floor(length / 2));
    expect(outcome.bytes).toBeGreaterThan(0);
  });

  it('counts every fault by kind, by request and by rule', () => {
    const c = proxy.counters();
    for (const kind of ['429', '500', '503', 'timeout', 'reset', 'slow', 'truncated'] as const) {
      expect(c.faults[kind], kind).toBeGreaterThan(0);
    }
    expect(c.faultsTotal).toBe(Object.values(c.faults).reduce((a, b) => a + b, 0));
    expect(c.byRequest['list nodes']?.faults['429']).toBeGreaterThan(0);
    expect(c.recent.at(-1)).toMatchObject({ kind: 'truncated', request: 'list nodes', path: '/api/v1/nodes' });
  });
});

describe('rules by verb and resource', () => {
  it('a fault on writes only, before the API server: the create fails and nothing is created; reads pass', async () => {
    only([{ match: { verbs: ['write'] }, rates: { '500': 1 } }]);
    const name = uniqueName('not-created');
    const create = await call('POST', `/api/v1/namespaces/${namespace}/pods`, { body: pod(name) });
    expect(create.status).toBe(500);
    expect(await podExists(name)).toBe(false);
    expect((await call('GET', `/api/v1/namespaces/${namespace}/pods`)).status).toBe(200);
  });

  it('afterUpstream: the API server applied the create, the client sees a 503', async () => {
    only([{ match: { verbs: ['create'], resources: ['pods'] }, rates: { '503': 1 }, afterUpstream: true }]);
    const name = uniqueName('created');
    const create = await call('POST', `/api/v1/namespaces/${namespace}/pods`, { body: pod(name) });
    expect(create.status).toBe(503);
    expect(await podExists(name)).toBe(true);
    expect(proxy.counters().recent.at(-1)).toMatchObject({ kind: '503', request: 'create pods', afterUpstream: true });
  });

  it('afterUpstream reset: the delete happened, the client saw its connection reset', async () => {
    only([]);
    const name = uniqueName('deleted');
    expect((await call('POST', `/api/v1/namespaces/${namespace}/pods`, { body: pod(name) })).status).toBe(201);
    only([{ match: { verbs: ['delete'], resources: ['pods'] }, rates: { reset: 1 }, afterUpstream: true }]);
    const del = await call('DELETE', `/api/v1/namespaces/${namespace}/pods/${name}?gracePeriodSeconds=0`);
    expect(del.error).toBe('ECONNRESET');
    expect(await podExists(name)).toBe(false);
  });

  it('a limit: the first N matching requests fault, the rest pass', async () => {
    only([{ match: { verbs: ['list'], resources: ['nodes'] }, rates: { '503': 1 }, limit: 2 }]);
    const statuses = [];
    for (let i = 0; i < 4; i += 1) statuses.push((await call('GET', '/api/v1/nodes?limit=1')).status);
    expect(statuses).toEqual([503, 503, 200, 200]);
  });

  it('rates: about the configured share of matching requests, reproducible from the seed', async () => {
    const sample = async () => {
      proxy.setConfig({ rules: [{ match: { resources: ['nodes'] }, rates: { '429': 0.3 } }], seed: 99 });
      const statuses: (number | undefined)[] = [];
      for (let i = 0; i < 60; i += 1) statuses.push((await call('GET', '/api/v1/nodes?limit=1')).status);
      return statuses;
    };
    const first = await sample();
    const throttled = first.filter((s) => s === 429).length;
    expect(throttled).toBeGreaterThan(6);
    expect(throttled).toBeLessThan(36);
    expect(first.every((s) => s === 200 || s === 429)).toBe(true);
    // Sequential requests draw in the same order: the same seed gives the same faults.
    expect(await sample()).toEqual(first);
  });
});

describe('the control endpoint', () => {
  it('reads and replaces the rules and reads the counters while the proxy runs', async () => {
    const control = faultControl(proxy.controlUrl!);
    await control.setConfig({ rules: [{ name: 'slow reads', match: { verbs: ['read'] }, rates: { slow: 1 }, delayMs: 300 }], seed: 5 });
    expect(await control.config()).toMatchObject({ seed: 5, rules: [{ name: 'slow reads', delayMs: 300 }] });
    await control.resetCounters();
    expect((await call('GET', '/api/v1/nodes?limit=1')).ms).toBeGreaterThanOrEqual(300);
    const counters = await control.counters();
    expect(counters).toMatchObject({ requests: 1, passed: 0, faults: { slow: 1 }, byRule: [{ name: 'slow reads', faults: { slow: 1 } }] });
  });

  it('refuses an invalid configuration with 400 naming the problem, and keeps the rules in force', async () => {
    const control = faultControl(proxy.controlUrl!);
    const before = await control.config();
    await expect(control.setConfig({ rules: [{ rates: { '503': 1.5 } }] })).rejects.toThrow(FaultControlError);
    await expect(control.setConfig({ rules: [{ rates: { '503': 1.5 } }] })).rejects.toThrow(/400 rules\.0\.rates\.503/);
    const notJson = await new Promise<number>((resolve, reject) => {
      const req = request(`${proxy.controlUrl}/config`, { method: 'PUT' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end('{not json');
    });
    expect(notJson).toBe(400);
    expect(await control.config()).toEqual(before);
  });
});
