/**
 * API Gateway HTTP API (payload format 2.0), the pure part: route selection, the request → event mapping and the
 * function result → HTTP response mapping, as documented for HTTP APIs ("Working with AWS Lambda proxy integrations
 * for HTTP APIs"; "Handling Lambda errors with an API Gateway API"). The server that uses it is apigw-server.ts.
 *
 * What HTTP API answers when the integration does not produce a response (docs/adr/0002-local-lambda-runtime.md):
 *  - no route matches                     → 404 {"message":"Not Found"}
 *  - the function fails or answers badly  → 500 {"message":"Internal Server Error"}
 *  - Lambda rejects the invoke (throttled)→ 500 {"message":"Internal Server Error"} (API Gateway never retries)
 *  - no answer within 30 s                → 503 {"message":"Service Unavailable"}
 *  - request larger than 10 MB            → 413 {"message":"Request Entity Too Large"}
 */
import type { HttpRoute } from './serverless-config.ts';

export interface RouteTarget {
  functionKey: string;
  route: HttpRoute;
}

export interface RouteMatch {
  target: RouteTarget;
  routeKey: string;
  pathParameters: Record<string, string> | undefined;
}

/** HTTP API's integration limit: 30 s (not configurable above). */
export const INTEGRATION_TIMEOUT_MS = 30_000;
export const MAX_REQUEST_BYTES = 10 * 1024 * 1024;

export const gatewayErrors = {
  notFound: { statusCode: 404, message: 'Not Found' },
  internal: { statusCode: 500, message: 'Internal Server Error' },
  timeout: { statusCode: 503, message: 'Service Unavailable' },
  tooLarge: { statusCode: 413, message: 'Request Entity Too Large' },
} as const;

/**
 * Picks the route as HTTP API does: the most specific path wins (a literal segment beats a `{param}`, which beats a
 * greedy `{proxy+}`), then a specific method beats `ANY`; `$default` (`*`) catches the rest.
 */
export function matchRoute(targets: readonly RouteTarget[], method: string, path: string): RouteMatch | undefined {
  const segments = path.split('/').slice(1);
  let best: { match: RouteMatch; score: number[] } | undefined;
  for (const target of targets) {
    const { route } = target;
    if (route.method !== 'ANY' && route.method !== method.toUpperCase()) continue;
    if (route.path === '*') {
      const score = [-1, route.method === 'ANY' ? 0 : 1];
      if (!best || compare(score, best.score) > 0) best = { match: { target, routeKey: '$default', pathParameters: undefined }, score };
      continue;
    }
    const params = matchPath(route.path, segments);
    if (!params) continue;
    const templ = route.path.split('/').slice(1);
    const literal = templ.filter((s) => !s.startsWith('{')).length;
    const greedy = templ.some((s) => s.endsWith('+}')) ? 0 : 1;
    const score = [greedy, literal, templ.length, route.method === 'ANY' ? 0 : 1];
    if (!best || compare(score, best.score) > 0) {
      best = {
        match: { target, routeKey: `${route.method} ${route.path}`, pathParameters: Object.keys(params).length > 0 ? params : undefined },
        score,
      };
    }
  }
  return best?.match;
}

function compare(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i += 1) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function matchPath(template: string, segments: string[]): Record<string, string> | undefined {
  const parts = template.split('/').slice(1);
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i += 1) {
    const part = parts[i]!;
    const greedy = /^\{(.+)\+\}$/.exec(part);
    if (greedy) {
      if (i >= segments.length) return undefined;
      params[greedy[1]!] = decodeURIComponent(segments.slice(i).join('/'));
      return params;
    }
    const segment = segments[i];
    if (segment === undefined) return undefined;
    const param = /^\{(.+)\}$/.exec(part);
    if (param) {
      if (segment === '') return undefined;
      params[param[1]!] = decodeURIComponent(segment);
    } else if (part !== segment) return undefined;
  }
  return parts.length === segments.length ? params : undefined;
}

export interface IncomingRequest {
  method: string;
  /** Path and query as received (`/a/b?x=1`). */
  url: string;
  /** Raw header pairs, in order (node's `rawHeaders`). */
  rawHeaders: readonly string[];
  body: Buffer;
  sourceIp: string;
  protocol: string;
  /** 'http' or 'https', for x-forwarded-proto. */
  scheme: string;
  port: number;
  requestId: string;
  now: Date;
}

export interface ApiContext {
  accountId: string;
  apiId: string;
  domainName: string;
}

/** Content types whose bodies HTTP API passes as text; every other body is base64-encoded (isBase64Encoded: true). */
export function isTextContentType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  return (
    type.startsWith('text/') ||
    type === 'application/json' ||
    type.endsWith('+json') ||
    type === 'application/xml' ||
    type.endsWith('+xml') ||
    type === 'application/javascript'
  );
}

/** The v2.0 event for one request. */
export function toEventV2(request: IncomingRequest, match: RouteMatch, api: ApiContext): Record<string, unknown> {
  const question = request.url.indexOf('?');
  const rawPath = question < 0 ? request.url : request.url.slice(0, question);
  const rawQueryString = question < 0 ? '' : request.url.slice(question + 1);
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  for (let i = 0; i + 1 < request.rawHeaders.length; i += 2) {
    const name = request.rawHeaders[i]!.toLowerCase();
    const value = request.rawHeaders[i + 1]!;
    if (name === 'cookie') {
      cookies.push(...value.split(';').map((c) => c.trim()).filter(Boolean));
      continue;
    }
    headers[name] = name in headers ? `${headers[name]},${value}` : value;
  }
  const existingForwarded = headers['x-forwarded-for'];
  headers['x-forwarded-for'] = existingForwarded ? `${existingForwarded}, ${request.sourceIp}` : request.sourceIp;
  headers['x-forwarded-port'] = String(request.port);
  headers['x-forwarded-proto'] = request.scheme;
  headers['x-amzn-trace-id'] ??= `Root=1-${Math.floor(request.now.getTime() / 1000).toString(16)}-${request.requestId.replaceAll('-', '').slice(0, 24)}`;

  const query: Record<string, string> = {};
  if (rawQueryString) {
    for (const [key, value] of new URLSearchParams(rawQueryString)) query[key] = key in query ? `${query[key]},${value}` : value;
  }
  const event: Record<string, unknown> = {
    version: '2.0',
    routeKey: match.routeKey,
    rawPath,
    rawQueryString,
  };
  if (cookies.length > 0) event.cookies = cookies;
  event.headers = headers;
  if (Object.keys(query).length > 0) event.queryStringParameters = query;
  event.requestContext = {
    accountId: api.accountId,
    apiId: api.apiId,
    domainName: api.domainName,
    domainPrefix: api.domainName.split('.')[0],
    http: {
      method: request.method.toUpperCase(),
      path: rawPath,
      protocol: request.protocol,
      sourceIp: request.sourceIp,
      userAgent: headers['user-agent'] ?? '',
    },
    requestId: request.requestId,
    routeKey: match.routeKey,
    stage: '$default',
    time: clfTime(request.now),
    timeEpoch: request.now.getTime(),
  };
  if (request.body.length > 0) {
    const text = isTextContentType(headers['content-type']);
    event.body = text ? request.body.toString('utf8') : request.body.toString('base64');
    event.isBase64Encoded = !text;
  } else {
    event.isBase64Encoded = false;
  }
  if (match.pathParameters) event.pathParameters = match.pathParameters;
  return event;
}

/** `12/Mar/2020:19:03:58 +0000`, API Gateway's requestContext.time. */
export function clfTime(date: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(date.getUTCDate())}/${months[date.getUTCMonth()]}/${date.getUTCFullYear()}:${p(date.getUTCHours())}:${p(date.getUTCMinutes())}:${p(date.getUTCSeconds())} +0000`;
}

export interface GatewayResponse {
  statusCode: number;
  /** Header name → values (set-cookie may repeat). */
  headers: [string, string][];
  body: Buffer;
}

export function gatewayError(error: { statusCode: number; message: string }): GatewayResponse {
  return {
    statusCode: error.statusCode,
    headers: [['content-type', 'application/json']],
    body: Buffer.from(JSON.stringify({ message: error.message })),
  };
}

/**
 * The function's successful result (the invoke payload, as text) → the HTTP response, per format 2.0: an object with
 * `statusCode` is the structured form; any other valid JSON is the simple form (200, application/json, the JSON as
 * body — a JSON string is sent as its content); anything else is a malformed response (500).
 */
export function fromResultV2(payload: string): GatewayResponse {
  let result: unknown;
  try {
    result = JSON.parse(payload);
  } catch {
    return gatewayError(gatewayErrors.internal);
  }
  if (result !== null && typeof result === 'object' && !Array.isArray(result) && 'statusCode' in result) {
    const r = result as { statusCode: unknown; headers?: unknown; cookies?: unknown; body?: unknown; isBase64Encoded?: unknown; multiValueHeaders?: unknown };
    const status = typeof r.statusCode === 'string' ? Number(r.statusCode) : r.statusCode;
    if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599) return gatewayError(gatewayErrors.internal);
    const headers: [string, string][] = [];
    if (r.headers !== undefined) {
      if (r.headers === null || typeof r.headers !== 'object') return gatewayError(gatewayErrors.internal);
      for (const [name, value] of Object.entries(r.headers)) headers.push([name.toLowerCase(), String(value)]);
    }
    if (r.cookies !== undefined) {
      if (!Array.isArray(r.cookies)) return gatewayError(gatewayErrors.internal);
      for (const cookie of r.cookies) headers.push(['set-cookie', String(cookie)]);
    }
    let body = Buffer.alloc(0);
    if (r.body !== undefined && r.body !== null) {
      const text = typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
      body = r.isBase64Encoded === true ? Buffer.from(text, 'base64') : Buffer.from(text, 'utf8');
    }
    return { statusCode: status, headers, body };
  }
  return {
    statusCode: 200,
    headers: [['content-type', 'application/json']],
    body: Buffer.from(typeof result === 'string' ? result : JSON.stringify(result)),
  };
}
