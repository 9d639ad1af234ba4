/**
 * API Gateway HTTP API (payload format 2.0) in front of the fixture functions: the event the function receives, the
 * response mapping (structured and simple forms, base64, cookies), and HTTP API's answers when the integration fails,
 * is throttled or takes too long. HTTPS with the local PKI's webhook certificate, as kube-apiserver needs.
 */
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SECRET, startFixtureService, type FixtureService } from './fixture-service.ts';

let service: FixtureService;

beforeAll(async () => {
  // A short integration limit so the 503 case does not take 30 s (the function's own timeout is 2 s).
  service = await startFixtureService({ integrationTimeoutMs: 1_000, sqs: false });
});
afterAll(async () => {
  await service?.stop();
});

type Echo = { event: Record<string, any>; functionName: string; env: Record<string, string> };

describe('request → v2 event', () => {
  it('maps method, raw path and query, lower-cased headers, cookies, requestContext', async () => {
    const response = await fetch(`${service.httpUrl}/echo?b=2&a=1&a=3&empty=`, {
      headers: { 'X-Mixed-Case': 'One', Cookie: 'c1=v1; c2=v2', 'User-Agent': 'fixture-agent' },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('apigw-requestid')).toBeTruthy();
    const { event, functionName, env } = (await response.json()) as Echo;
    expect(functionName).toBe('fixture-local-echo');
    expect(env).toMatchObject({ STAGE_SEEN: 'local', SECRET_FROM_SSM: SECRET, OPTIONAL_TOKEN: '', AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256' });
    expect(event).toMatchObject({
      version: '2.0',
      routeKey: 'GET /echo',
      rawPath: '/echo',
      rawQueryString: 'b=2&a=1&a=3&empty=',
      cookies: ['c1=v1', 'c2=v2'],
      queryStringParameters: { a: '1,3', b: '2', empty: '' },
      isBase64Encoded: false,
    });
    expect(event.headers['x-mixed-case']).toBe('One');
    expect(event.headers.cookie).toBeUndefined();
    expect(event.headers['x-forwarded-proto']).toBe('http');
    expect(event.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(event.body).toBeUndefined();
    expect(event.pathParameters).toBeUndefined();
    const ctx = event.requestContext;
    expect(ctx).toMatchObject({
      accountId: '000000000000',
      stage: '$default',
      routeKey: 'GET /echo',
      http: { method: 'GET', path: '/echo', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'fixture-agent' },
    });
    expect(ctx.requestId).toBe(response.headers.get('apigw-requestid'));
    expect(Math.abs(ctx.timeEpoch - Date.now())).toBeLessThan(5_000);
    expect(ctx.time).toMatch(/^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
  });

  it('passes path parameters and a JSON body as text', async () => {
    const response = await fetch(`${service.httpUrl}/echo/s%20cret-1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ hello: 'wörld' }),
    });
    const { event } = (await response.json()) as Echo;
    expect(event.routeKey).toBe('POST /echo/{secret}');
    expect(event.pathParameters).toEqual({ secret: 's cret-1' });
    expect(event.isBase64Encoded).toBe(false);
    expect(JSON.parse(event.body)).toEqual({ hello: 'wörld' });
  });

  it('base64-encodes a binary body', async () => {
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    const response = await fetch(`${service.httpUrl}/echo/x`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: bytes });
    const { event } = (await response.json()) as Echo;
    expect(event.isBase64Encoded).toBe(true);
    expect(Buffer.from(event.body, 'base64')).toEqual(bytes);
  });

  it('matches a greedy path parameter', async () => {
    const { event } = (await (await fetch(`${service.httpUrl}/files/a/b/c.txt`)).json()) as Echo;
    expect(event.routeKey).toBe('GET /files/{path+}');
    expect(event.pathParameters).toEqual({ path: 'a/b/c.txt' });
  });

  it('answers warm requests quickly (latency through the gateway, the Invoke API and the runtime)', async () => {
    await fetch(`${service.httpUrl}/mode/simple`);
    const times: number[] = [];
    for (let i = 0; i < 30; i += 1) {
      const started = performance.now();
      const response = await fetch(`${service.httpUrl}/mode/simple`);
      await response.text();
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    process.stderr.write(`[local-cloud] API Gateway → function (warm): median ${times[15]!.toFixed(1)} ms, p90 ${times[27]!.toFixed(1)} ms\n`);
    expect(times[15]).toBeLessThan(200);
  });

  it('serves the same routes over HTTPS with the local webhook certificate', async () => {
    const ca = readFileSync(service.caFile);
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpsRequest(`${service.httpsUrl}/echo`, { ca, method: 'GET' }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c)).on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(200);
    expect((JSON.parse(body) as Echo).event.headers['x-forwarded-proto']).toBe('https');
  });
});

describe('function result → HTTP response', () => {
  it.each([
    { mode: 'simple', status: 200, contentType: 'application/json', body: '{"hello":"world","n":' },
    { mode: 'string', status: 200, contentType: 'application/json', body: 'just a string' },
  ])('infers the simple form: $mode', async ({ mode, status, contentType, body }) => {
    const response = await fetch(`${service.httpUrl}/mode/${mode}`);
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toBe(contentType);
    expect(await response.text()).toContain(body);
  });

  it('decodes a base64 body with the status and headers the function set', async () => {
    const response = await fetch(`${service.httpUrl}/mode/binary`, { method: 'POST' });
    expect(response.status).toBe(201);
    expect(response.headers.get('content-type')).toBe('application/octet-stream');
    expect(Buffer.from(await response.arrayBuffer())).toEqual(Buffer.from([0, 1, 2, 255]));
  });

  it('turns cookies into set-cookie headers', async () => {
    const response = await fetch(`${service.httpUrl}/mode/cookies`);
    expect(response.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2']);
    expect(response.headers.get('x-custom')).toBe('yes');
    expect(await response.text()).toBe('with cookies');
  });

  it.each([
    { name: 'function error', path: '/mode/throw', status: 500, message: 'Internal Server Error' },
    { name: 'malformed response', path: '/mode/malformed', status: 500, message: 'Internal Server Error' },
    { name: 'no route', path: '/nowhere', status: 404, message: 'Not Found' },
  ])('answers as HTTP API does on $name', async ({ path, status, message }) => {
    const response = await fetch(`${service.httpUrl}${path}`);
    expect(response.status).toBe(status);
    expect(await response.json()).toEqual({ message });
  });

  it('answers 503 when the integration takes longer than the limit (1 s here, 30 s on HTTP API)', async () => {
    const started = Date.now();
    const response = await fetch(`${service.httpUrl}/slow`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"ms":1500}' });
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ message: 'Service Unavailable' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(Date.now() - started).toBeLessThan(1_450);
    // The invocation itself runs on to its end, as on Lambda.
    await new Promise((r) => setTimeout(r, 700));
  });

  it('answers 500 to a request throttled by the function’s reserved concurrency', async () => {
    // slow: reservedConcurrency 2; the echo-like body makes it sleep via the `ms` field of the parsed body. The test
    // before leaves an invocation running on after its 503: on a loaded machine it may still hold an instance, so
    // both must be free first (a CI run saw [200, 500, 500]).
    const deadline = Date.now() + 10_000;
    while ((await service.stats()).functions['slow']?.['concurrentNow'] !== 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect((await service.stats()).functions['slow']?.['concurrentNow']).toBe(0);
    const fire = () => fetch(`${service.httpUrl}/slow`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"ms":700}' });
    const responses = await Promise.all([fire(), fire(), fire()]);
    expect(responses.map((r) => r.status).sort()).toEqual([200, 200, 500]);
    expect(await responses.find((r) => r.status === 500)!.json()).toEqual({ message: 'Internal Server Error' });
  });
});
