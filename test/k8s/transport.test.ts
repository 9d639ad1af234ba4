/**
 * createTransport's `bearerToken` option, through client-node's real request path against a loopback HTTP server
 * that records the Authorization header of each request (no cluster, no outside network).
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig, type User } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RejectedError, isTransient } from '../../src/errors.ts';
import { createTransport } from '../../src/k8s/transport.ts';

let server: Server;
let url: string;
const seen: IncomingHttpHeaders[] = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    // Never answered: a request that hangs (a dropped connection).
    if (request.url?.endsWith('/hang')) return;
    seen.push(request.headers);
    const asksProtobuf = request.headers.accept?.startsWith('application/vnd.kubernetes.protobuf') ?? false;
    // A protobuf answer this decoder cannot read, then (asked again in JSON) the list in JSON.
    if (request.url?.endsWith('/broken-protobuf') && asksProtobuf) {
      response.writeHead(200, { 'content-type': 'application/vnd.kubernetes.protobuf' });
      response.end(Buffer.from([0x6b, 0x38, 0x73, 0x00, 0x0a, 0x7f]));
      return;
    }
    // 401 to any token but one made fresh: a token EKS no longer takes.
    if (request.url?.endsWith('/needs-fresh-token')) {
      const fresh = request.headers.authorization === 'Bearer fresh';
      response.writeHead(fresh ? 200 : 401, { 'content-type': 'application/json' });
      response.end(JSON.stringify(fresh ? { kind: 'Node', metadata: { name: 'n1' } } : { kind: 'Status', reason: 'Unauthorized', message: 'Unauthorized', code: 401 }));
      return;
    }
    if (request.url?.includes('/lists/')) {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ kind: 'NodeList', apiVersion: 'v1', metadata: {}, items: [{ metadata: { name: 'n1' } }] }));
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function kubeConfig(user: User): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    // client-node refuses plain http unless TLS verification is off; there is no TLS on the loopback anyway.
    clusters: [{ name: 'c', server: url, skipTLSVerify: true }],
    users: [user],
    contexts: [{ name: 'c', cluster: 'c', user: user.name }],
    currentContext: 'c',
  });
  return kc;
}

async function authorizationOf(requests: number, kc: KubeConfig, bearerToken?: () => string): Promise<(string | undefined)[]> {
  seen.length = 0;
  const transport = createTransport(kc, { requestTimeoutMs: 5000, ...(bearerToken ? { bearerToken } : {}) });
  for (let i = 0; i < requests; i += 1) await transport.send({ method: 'GET', path: 'api/v1/nodes/n1', what: 'get node n1' });
  return seen.map((headers) => headers.authorization);
}

describe('createTransport bearerToken', () => {
  it('asks for a token on every request and sends it as the bearer (EKS: a user without credentials)', async () => {
    let calls = 0;
    const tokens = () => `k8s-aws-v1.token-${(calls += 1)}`;
    expect(await authorizationOf(3, kubeConfig({ name: 'eks' }), tokens)).toEqual([
      'Bearer k8s-aws-v1.token-1',
      'Bearer k8s-aws-v1.token-2',
      'Bearer k8s-aws-v1.token-3',
    ]);
  });

  it("replaces the kubeconfig user's token: the middleware runs after client-node's authentication", async () => {
    expect(await authorizationOf(1, kubeConfig({ name: 'static', token: 'static-token' }), () => 'fresh')).toEqual(['Bearer fresh']);
  });

  it("leaves client-node's authentication alone without the option", async () => {
    expect(await authorizationOf(2, kubeConfig({ name: 'static', token: 'static-token' }))).toEqual(['Bearer static-token', 'Bearer static-token']);
    expect(await authorizationOf(1, kubeConfig({ name: 'nobody' }))).toEqual([undefined]);
  });

  it('fails the request, without sending it, when no token can be made', async () => {
    seen.length = 0;
    const transport = createTransport(kubeConfig({ name: 'eks' }), {
      requestTimeoutMs: 5000,
      bearerToken: () => {
        throw new Error('EKS authentication needs AWS credentials: AWS_ACCESS_KEY_ID not set');
      },
    });
    await expect(transport.send({ method: 'GET', path: 'api/v1/nodes/n1', what: 'get node n1' })).rejects.toThrow(/AWS_ACCESS_KEY_ID not set/);
    expect(seen).toEqual([]);
  });
});

describe('a 401 with a bearerToken (EKS)', () => {
  const send = (bearerToken: (fresh?: boolean) => string, method: 'GET' | 'POST' = 'GET') => {
    seen.length = 0;
    const transport = createTransport(kubeConfig({ name: 'eks' }), { requestTimeoutMs: 5000, bearerToken });
    return transport.send<{ metadata: { name: string } }>({ method, path: 'api/v1/nodes/needs-fresh-token', what: 'get node', ...(method === 'POST' ? { body: { kind: 'Node' } } : {}) });
  };

  it.each(['GET', 'POST'] as const)('%s: sent once more with a token asked for fresh, which the server takes', async (method) => {
    const asked: (boolean | undefined)[] = [];
    const answer = await send((fresh) => {
      asked.push(fresh);
      return fresh ? 'fresh' : 'cached';
    }, method);
    expect(answer.metadata.name).toBe('n1');
    expect(asked).toEqual([false, true]);
    expect(seen.map((h) => h.authorization)).toEqual(['Bearer cached', 'Bearer fresh']);
  });

  it('a second 401 is the answer: a refusal, not retried again', async () => {
    const error = await send(() => 'never-taken').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RejectedError);
    expect((error as RejectedError).apiStatus).toBe(401);
    expect(seen).toHaveLength(2);
  });

  it('without a bearerToken (a static token) a 401 is the answer at once', async () => {
    seen.length = 0;
    const transport = createTransport(kubeConfig({ name: 'static', token: 'static-token' }), { requestTimeoutMs: 5000 });
    await expect(transport.send({ method: 'GET', path: 'api/v1/nodes/needs-fresh-token', what: 'get node' })).rejects.toBeInstanceOf(RejectedError);
    expect(seen).toHaveLength(1);
  });
});

describe('a credential that is not a valid header value', () => {
  // A token pasted with a line break in it (a wrapped value in a kubeconfig or an SSM parameter): undici's own error
  // repeats the whole header value, which would carry the token into the log line of the failed pass.
  it.each([
    ["the kubeconfig user's token", { name: 'u', token: 'sekrit-token-part1\nsekrit-token-part2' }, undefined],
    ['the bearerToken option', { name: 'eks' }, () => 'k8s-aws-v1.sekrit\r\nsekrit'],
  ])('%s: the request fails without being sent, and the error does not contain it', async (_name, user, bearerToken) => {
    seen.length = 0;
    const transport = createTransport(kubeConfig(user), { requestTimeoutMs: 5000, ...(bearerToken ? { bearerToken } : {}) });
    const error = (await transport.send({ method: 'GET', path: 'api/v1/nodes/n1', what: 'get node n1' }).catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(/^get node n1: the Authorization header is not a valid HTTP header value/);
    expect(`${error.message} ${error.stack}`).not.toContain('sekrit');
    expect(isTransient(error)).toBe(false);
    expect(seen).toEqual([]);
  });

  it('a token with a trailing line feed is sent as before (fetch trims it)', async () => {
    expect(await authorizationOf(1, kubeConfig({ name: 'u', token: 'static-token\n' }))).toEqual(['Bearer static-token']);
  });
});

describe('request timeout', () => {
  it("a request's own timeoutMs bounds it below the transport's (the pass lock's small Lease writes)", async () => {
    const transport = createTransport(kubeConfig({ name: 'u', token: 't' }), { requestTimeoutMs: 60_000 });
    const started = Date.now();
    const error = await transport.send({ method: 'GET', path: 'api/v1/nodes/hang', what: 'get node hang', timeoutMs: 300 }).catch((e: unknown) => e);
    expect(isTransient(error)).toBe(true);
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});

describe('lists asked for in protobuf', () => {
  const kc = () => kubeConfig({ name: 'u', token: 'static' });
  const decode = () => {
    throw new Error('the decoder must not see a JSON answer');
  };

  it('a server that answers JSON anyway: parsed as JSON, the decoder not called', async () => {
    const transport = createTransport(kc(), { requestTimeoutMs: 2_000 });
    const before = seen.length;
    const list = await transport.send<{ items: unknown[] }>({ method: 'GET', path: 'lists/json-only', what: 'list nodes', decode });
    expect(list.items).toEqual([{ metadata: { name: 'n1' } }]);
    expect(seen[before]?.accept).toBe('application/vnd.kubernetes.protobuf, application/json');
  });

  it('a protobuf answer the decoder cannot read: the same request once more in JSON', async () => {
    const { decodeNodeList } = await import('../../src/k8s/protobuf.ts');
    const transport = createTransport(kc(), { requestTimeoutMs: 2_000 });
    const before = seen.length;
    const list = await transport.send<{ items: unknown[] }>({ method: 'GET', path: 'lists/broken-protobuf', what: 'list nodes', decode: decodeNodeList });
    expect(list.items).toEqual([{ metadata: { name: 'n1' } }]);
    expect(seen.slice(before).map((h) => h.accept)).toEqual(['application/vnd.kubernetes.protobuf, application/json', 'application/json']);
  });
});
