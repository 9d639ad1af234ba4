/**
 * The HTTP transport to the API server: raw JSON in and out, through client-node's own request path (its
 * authentication from the kubeconfig, its TLS setup), without its generated models. The models drop every field they
 * do not know (a newer PodSpec field, unknown data in a ControllerRevision) and their conversion was the largest CPU
 * cost of a reconcile; raw JSON keeps every field as the API server serialises it, which the revision history needs
 * byte for byte (src/core/history.ts `revisionPatch`).
 *
 * Process-wide: built once per cold start, shared by every invocation of the process.
 */
// client-node's modules, not its index, which loads every generated API and model (scripts/build.ts).
import type { KubeConfig } from '@kubernetes/client-node/dist/config.js';
import { HttpMethod, RequestContext } from '@kubernetes/client-node/dist/gen/http/http.js';
import { IsomorphicFetchHttpLibrary } from '@kubernetes/client-node/dist/gen/http/isomorphic-fetch.js';
import { DaemonlessError } from '../errors.ts';
import { mapHttpError, mapNetworkError } from './errors.ts';
import { PROTOBUF, ProtobufError, decodeStatus } from './protobuf.ts';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface Request {
  method: Method;
  /** Relative to the server, e.g. `api/v1/nodes`. */
  path: string;
  query?: Record<string, string | undefined>;
  /** A JSON text (sent as is) or a value to serialise. */
  body?: string | object;
  /** Content-Type of the body; default `application/json`. */
  contentType?: string;
  /** Accept header; default `application/json`. */
  accept?: string;
  /** Names the call in errors, e.g. `create pod ns/name`. */
  what: string;
  /** This request's timeout, when it must be shorter than the transport's `requestTimeoutMs` (a small Lease write). */
  timeoutMs?: number;
  /**
   * A pod write decided from what a reconcile pass read (its view): retried only while that view is fresh enough
   * (src/k8s/calls.ts `mayRetryFromView`). Not sent.
   */
  fromView?: boolean;
  /**
   * The answer is asked for in Kubernetes' protobuf encoding and decoded by this (src/k8s/protobuf.ts). A server that
   * answers in JSON instead (a resource it does not encode in protobuf) is parsed as usual. Not sent.
   */
  decode?: (body: Uint8Array) => unknown;
}

export interface Transport {
  /** Sends one request; resolves to the parsed JSON answer; rejects with the typed errors of src/errors.ts. */
  send<T>(request: Request): Promise<T>;
  /** Every request of the process, for metrics; per-invocation counts are the Cluster port's. */
  readonly counter: { requests: number };
}

export interface TransportOptions {
  requestTimeoutMs: number;
  /**
   * A bearer token asked for on every request (EKS IAM authentication: a token that expires). It replaces any
   * Authorization header the kubeconfig user's credentials set. A request answered 401 is sent once more with a token
   * asked for `fresh` (a token EKS no longer takes, its clock minutes ahead of ours); a second 401 is the answer.
   */
  bearerToken?: (fresh?: boolean) => string;
}

const methods: Record<Method, HttpMethod> = {
  GET: HttpMethod.GET,
  POST: HttpMethod.POST,
  PUT: HttpMethod.PUT,
  PATCH: HttpMethod.PATCH,
  DELETE: HttpMethod.DELETE,
};

/**
 * client-node creates a new undici Agent (a new TLS connection) for every request; the first one is kept and reused,
 * so requests share keep-alive connections. Every request is bounded by `requestTimeoutMs`.
 */
export function createTransport(kc: KubeConfig, options: TransportOptions): Transport {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const base = cluster.server.endsWith('/') ? cluster.server : `${cluster.server}/`;
  const http = new IsomorphicFetchHttpLibrary();
  const counter = { requests: 0 };
  let dispatcher: ReturnType<RequestContext['getDispatcher']>;

  async function send<T>(request: Request, freshToken = false): Promise<T> {
    const url = new URL(request.path, base);
    for (const [key, value] of Object.entries(request.query ?? {})) if (value !== undefined && value !== '') url.searchParams.set(key, value);
    const context = new RequestContext(url.toString(), methods[request.method]);
    context.setHeaderParam('Accept', request.decode ? `${PROTOBUF}, application/json` : (request.accept ?? 'application/json'));
    context.setHeaderParam('User-Agent', 'daemonless');
    if (request.body !== undefined) {
      context.setHeaderParam('Content-Type', request.contentType ?? 'application/json');
      context.setBody(typeof request.body === 'string' ? request.body : JSON.stringify(request.body));
    }
    await kc.applySecurityAuthentication(context);
    if (options.bearerToken) context.setHeaderParam('Authorization', `Bearer ${options.bearerToken(freshToken)}`);
    // fetch refuses a value with a line break or NUL inside with an error that repeats the whole value: for the
    // Authorization header, the credential, into the log line of the failed pass. Refused here without it.
    for (const [name, value] of Object.entries(context.getHeaders())) {
      if (/[\0\r\n]/.test(value.replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, ''))) {
        throw new DaemonlessError(`${request.what}: the ${name} header is not a valid HTTP header value (a line break or NUL inside; not shown)`);
      }
    }
    if (dispatcher === undefined) dispatcher = context.getDispatcher();
    else context.setDispatcher(dispatcher);
    context.setSignal(AbortSignal.timeout(Math.min(options.requestTimeoutMs, request.timeoutMs ?? options.requestTimeoutMs)));
    counter.requests += 1;
    let status: number;
    let text = '';
    let bytes: Buffer | undefined;
    let headers: Record<string, string>;
    try {
      const response = await http.send(context).toPromise();
      status = response.httpStatusCode;
      headers = response.headers;
      if (request.decode && headers['content-type']?.startsWith(PROTOBUF)) bytes = await readAll(response.body.stream());
      else text = await response.body.text();
    } catch (error) {
      throw mapNetworkError(error, request.what);
    }
    // Unauthenticated: nothing was done, so any request may go again, once, with a token made now.
    if (status === 401 && options.bearerToken && !freshToken) return send<T>(request, true);
    if (bytes) {
      if (status >= 400) throw mapHttpError(status, JSON.stringify(decodeStatus(bytes) ?? {}), headers, request.what);
      try {
        return request.decode!(bytes) as T;
      } catch (error) {
        // A body this decoder cannot read (cut short without the stream saying so, or something it does not know):
        // the same request once more in JSON, which every reader of a decoded list also takes.
        if (error instanceof ProtobufError) return send<T>({ ...request, decode: undefined });
        throw error;
      }
    }
    if (status >= 400) throw mapHttpError(status, text, headers, request.what);
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }

  return { send, counter };
}

async function readAll(stream: ReadableStream<Uint8Array> | null): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  if (stream) for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) chunks.push(chunk);
  return Buffer.concat(chunks);
}
