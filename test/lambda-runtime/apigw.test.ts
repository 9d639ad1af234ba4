import { describe, expect, it } from 'vitest';
import { fromResultV2, matchRoute, toEventV2, type RouteTarget } from '../../devcluster/lambda/apigw.ts';

const targets: RouteTarget[] = [
  { functionKey: 'admission', route: { method: 'POST', path: '/events/admission' } },
  { functionKey: 'admission-secret', route: { method: 'POST', path: '/events/admission/{secret}' } },
  { functionKey: 'literal', route: { method: 'POST', path: '/events/admission/fixed' } },
  { functionKey: 'any', route: { method: 'ANY', path: '/things/{id}' } },
  { functionKey: 'get', route: { method: 'GET', path: '/things/{id}' } },
  { functionKey: 'greedy', route: { method: 'GET', path: '/files/{path+}' } },
];

describe('matchRoute', () => {
  it.each([
    { method: 'POST', path: '/events/admission', key: 'admission', params: undefined },
    { method: 'POST', path: '/events/admission/abc', key: 'admission-secret', params: { secret: 'abc' } },
    // A literal segment beats a parameter.
    { method: 'POST', path: '/events/admission/fixed', key: 'literal', params: undefined },
    // A specific method beats ANY.
    { method: 'GET', path: '/things/1', key: 'get', params: { id: '1' } },
    { method: 'DELETE', path: '/things/1', key: 'any', params: { id: '1' } },
    { method: 'GET', path: '/files/a/b%20c', key: 'greedy', params: { path: 'a/b c' } },
    { method: 'GET', path: '/events/admission', key: undefined, params: undefined },
    { method: 'POST', path: '/events/admission/a/b', key: undefined, params: undefined },
    { method: 'POST', path: '/events/admission/', key: undefined, params: undefined },
  ])('$method $path → $key', ({ method, path, key, params }) => {
    const match = matchRoute(targets, method, path);
    expect(match?.target.functionKey).toBe(key);
    expect(match?.pathParameters).toEqual(params);
  });

  it('falls back to $default', () => {
    const match = matchRoute([...targets, { functionKey: 'default', route: { method: 'ANY', path: '*' } }], 'PUT', '/x');
    expect(match).toMatchObject({ target: { functionKey: 'default' }, routeKey: '$default' });
  });
});

const request = (overrides: Partial<Parameters<typeof toEventV2>[0]> = {}): Parameters<typeof toEventV2>[0] => ({
  method: 'POST',
  url: '/events/admission/s3?x=1&x=2&y=',
  rawHeaders: ['Content-Type', 'application/json', 'X-Dup', 'a', 'X-Dup', 'b', 'Cookie', 'k=v; k2=v2'],
  body: Buffer.from('{"a":1}'),
  sourceIp: '10.0.0.1',
  protocol: 'HTTP/1.1',
  scheme: 'https',
  port: 443,
  requestId: 'req-1',
  now: new Date(Date.UTC(2020, 2, 12, 19, 3, 58, 390)),
  ...overrides,
});
const api = { accountId: '123456789012', apiId: 'api', domainName: 'api.execute-api.us-east-1.amazonaws.com' };

describe('toEventV2', () => {
  const match = matchRoute(targets, 'POST', '/events/admission/s3')!;

  it('builds the documented v2 shape', () => {
    const event = toEventV2(request(), match, api);
    expect(event).toMatchObject({
      version: '2.0',
      routeKey: 'POST /events/admission/{secret}',
      rawPath: '/events/admission/s3',
      rawQueryString: 'x=1&x=2&y=',
      cookies: ['k=v', 'k2=v2'],
      queryStringParameters: { x: '1,2', y: '' },
      pathParameters: { secret: 's3' },
      body: '{"a":1}',
      isBase64Encoded: false,
      requestContext: {
        accountId: '123456789012',
        apiId: 'api',
        domainPrefix: 'api',
        http: { method: 'POST', path: '/events/admission/s3', protocol: 'HTTP/1.1', sourceIp: '10.0.0.1', userAgent: '' },
        requestId: 'req-1',
        routeKey: 'POST /events/admission/{secret}',
        stage: '$default',
        time: '12/Mar/2020:19:03:58 +0000',
        timeEpoch: 1584039838390,
      },
    });
    const headers = event.headers as Record<string, string>;
    expect(headers['x-dup']).toBe('a,b');
    expect(headers['content-type']).toBe('application/json');
    expect(headers.cookie).toBeUndefined();
    expect(headers['x-forwarded-proto']).toBe('https');
  });

  it.each([
    { type: 'application/octet-stream', base64: true },
    { type: undefined, base64: true },
    { type: 'text/plain; charset=utf-8', base64: false },
    { type: 'application/merge-patch+json', base64: false },
  ])('body with content-type $type: base64 $base64', ({ type, base64 }) => {
    const body = Buffer.from([104, 105, 255]);
    const event = toEventV2(request({ rawHeaders: type ? ['content-type', type] : [], body }), match, api);
    expect(event.isBase64Encoded).toBe(base64);
    if (base64) expect(Buffer.from(event.body as string, 'base64')).toEqual(body);
  });

  it('omits body, cookies, query and path parameters when there are none', () => {
    const event = toEventV2(request({ url: '/events/admission', rawHeaders: [], body: Buffer.alloc(0) }), matchRoute(targets, 'POST', '/events/admission')!, api);
    expect(event).not.toHaveProperty('body');
    expect(event).not.toHaveProperty('cookies');
    expect(event).not.toHaveProperty('queryStringParameters');
    expect(event).not.toHaveProperty('pathParameters');
    expect(event.isBase64Encoded).toBe(false);
  });
});

describe('fromResultV2', () => {
  it.each([
    { name: 'structured', result: { statusCode: 202, headers: { 'X-A': 'b' }, body: 'ok' }, status: 202, headers: [['x-a', 'b']], body: 'ok' },
    { name: 'structured, status as string', result: { statusCode: '204' }, status: 204, headers: [], body: '' },
    { name: 'structured, base64', result: { statusCode: 200, isBase64Encoded: true, body: Buffer.from('hi').toString('base64') }, status: 200, headers: [], body: 'hi' },
    { name: 'structured, cookies', result: { statusCode: 200, cookies: ['a=1', 'b=2'] }, status: 200, headers: [['set-cookie', 'a=1'], ['set-cookie', 'b=2']], body: '' },
    { name: 'simple: object', result: { hello: 'x' }, status: 200, headers: [['content-type', 'application/json']], body: '{"hello":"x"}' },
    { name: 'simple: string', result: 'Hello from Lambda!', status: 200, headers: [['content-type', 'application/json']], body: 'Hello from Lambda!' },
    { name: 'simple: null', result: null, status: 200, headers: [['content-type', 'application/json']], body: 'null' },
    { name: 'bad status', result: { statusCode: 'x' }, status: 500, headers: [['content-type', 'application/json']], body: '{"message":"Internal Server Error"}' },
    { name: 'bad cookies', result: { statusCode: 200, cookies: 'a=1' }, status: 500, headers: [['content-type', 'application/json']], body: '{"message":"Internal Server Error"}' },
  ])('$name', ({ result, status, headers, body }) => {
    const response = fromResultV2(JSON.stringify(result));
    expect(response.statusCode).toBe(status);
    expect(response.headers).toEqual(headers);
    expect(response.body.toString()).toBe(body);
  });

  it('answers 500 to a payload that is not JSON', () => {
    expect(fromResultV2('').statusCode).toBe(500);
  });
});
