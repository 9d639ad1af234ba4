/**
 * The fault proxy: a TLS-terminating HTTPS proxy between the functions and kube-apiserver that injects faults by rule
 * (devcluster/faults/rules.ts): 429 with Retry-After, 500, 503, timeouts, connection resets, slow and truncated
 * answers. Everything else is forwarded byte for byte, watches included.
 *
 * Identity: the proxy serves a certificate of the local CA for 127.0.0.1 and re-originates every request with ONE
 * client certificate, the reconciler's. A client must present that same certificate (mutual TLS, compared by
 * fingerprint), so the proxy never lets anyone act as more than the identity they already hold: the functions keep
 * their least-privilege `daemonless-reconciler` identity, and RBAC answers (403s) pass through unchanged.
 *
 * Control: `setConfig` / `counters` in process, or the small HTTP control endpoint on loopback (GET/PUT /config,
 * GET /counters, POST /counters/reset, GET /healthz) when the proxy runs as its own process (main.ts).
 */
import { X509Certificate } from 'node:crypto';
import { type IncomingMessage, type ServerResponse, createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { Agent, type Server as HttpsServer, createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { describeRequest, requestInfo, type RequestInfo } from './request-info.ts';
import {
  type Decision,
  type FaultConfig,
  type FaultConfigInput,
  type FaultKind,
  FaultConfigError,
  decide,
  faultKinds,
  parseFaultConfig,
  ruleName,
  seededRandom,
  statusBody,
} from './rules.ts';

export interface PemPair {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
}

export interface FaultProxyOptions {
  /** The API server, e.g. `https://127.0.0.1:16443`. */
  readonly upstream: string;
  /** The cluster CA: verifies the API server's certificate and the clients' certificates. */
  readonly ca: string | Buffer;
  /** The client certificate every request is re-originated with; clients must present the same one. */
  readonly identity: PemPair;
  /** The proxy's serving certificate, signed by `ca` for 127.0.0.1 (the local PKI's webhook certificate). */
  readonly serving: PemPair;
  readonly host?: string;
  /** 0 (default): any free port. */
  readonly port?: number;
  /** Port of the HTTP control endpoint; 0: any free port; null: none. Default null. */
  readonly controlPort?: number | null;
  readonly config?: FaultConfigInput;
  /** Called after each change of configuration (e.g. to persist it). */
  readonly onConfigChange?: (config: FaultConfig) => void;
  readonly log?: (line: string) => void;
}

export interface RecentFault {
  readonly at: string;
  readonly kind: FaultKind;
  /** e.g. "create pods". */
  readonly request: string;
  readonly path: string;
  readonly rule: string;
  readonly afterUpstream: boolean;
}

export interface FaultCounters {
  readonly since: string;
  /** Requests received from authorized clients. */
  readonly requests: number;
  /** Forwarded with no fault. */
  readonly passed: number;
  readonly faults: Readonly<Record<FaultKind, number>>;
  readonly faultsTotal: number;
  /** By "verb resource" (e.g. "list pods"): requests seen and faults injected. */
  readonly byRequest: Readonly<Record<string, { readonly requests: number; readonly faults: Partial<Record<FaultKind, number>> }>>;
  /** By rule of the current configuration. */
  readonly byRule: readonly { readonly name: string; readonly faults: Partial<Record<FaultKind, number>> }[];
  /** The API server could not be reached or failed mid-answer (e.g. it is restarting): the client's connection is dropped. */
  readonly upstreamErrors: number;
  /** Clients without the expected certificate, answered 403 and never forwarded. */
  readonly refused: number;
  /** The last 100 faults, oldest first. */
  readonly recent: readonly RecentFault[];
}

export interface FaultProxy {
  /** `https://127.0.0.1:<port>`: the server of the kubeconfig to give the functions. */
  readonly url: string;
  readonly port: number;
  /** `http://127.0.0.1:<port>` of the control endpoint, when started with one. */
  readonly controlUrl: string | undefined;
  config(): FaultConfig;
  /** Replaces the configuration (validated: throws a FaultConfigError); per-rule counters and limits start over. */
  setConfig(input: FaultConfigInput): FaultConfig;
  counters(): FaultCounters;
  resetCounters(): void;
  close(): Promise<void>;
}

const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);
const recentLimit = 100;

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const log = options.log ?? (() => {});
  const host = options.host ?? '127.0.0.1';
  const upstream = new URL(options.upstream);
  const expectedFingerprint = new X509Certificate(options.identity.cert).fingerprint256;
  const agent = new Agent({ keepAlive: true, maxSockets: 128, ca: options.ca, cert: options.identity.cert, key: options.identity.key });

  let config = withSeed(parseFaultConfig(options.config ?? {}));
  let random = seededRandom(config.seed!);
  let used: number[] = config.rules.map(() => 0);
  let counters = emptyCounters(config);
  const held = new Set<{ timer: NodeJS.Timeout; socket: Socket }>();

  const count = (info: RequestInfo, decision: Decision | undefined): void => {
    const key = describeRequest(info);
    const entry = (counters.byRequest[key] ??= { requests: 0, faults: {} });
    entry.requests += 1;
    counters.requests += 1;
    if (!decision) {
      counters.passed += 1;
      return;
    }
    used[decision.ruleIndex] = (used[decision.ruleIndex] ?? 0) + 1;
    counters.faults[decision.kind] += 1;
    entry.faults[decision.kind] = (entry.faults[decision.kind] ?? 0) + 1;
    const byRule = counters.byRule[decision.ruleIndex]!.faults;
    byRule[decision.kind] = (byRule[decision.kind] ?? 0) + 1;
    counters.recent.push({
      at: new Date().toISOString(),
      kind: decision.kind,
      request: key,
      path: info.path,
      rule: ruleName(decision.rule, decision.ruleIndex),
      afterUpstream: decision.rule.afterUpstream || decision.kind === 'slow' || decision.kind === 'truncated',
    });
    if (counters.recent.length > recentLimit) counters.recent.shift();
  };

  /** Forwards the request; `onResponse` gets the API server's answer, unread. Network failures drop the client. */
  const forward = (req: IncomingMessage, res: ServerResponse, onResponse: (answer: IncomingMessage) => void): void => {
    const headers = Object.fromEntries(Object.entries(req.headers).filter(([name]) => !hopByHop.has(name)));
    headers['host'] = upstream.host;
    const out = httpsRequest(
      { protocol: 'https:', hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent },
      onResponse,
    );
    out.on('error', (error) => {
      counters.upstreamErrors += 1;
      log(`upstream ${req.method} ${req.url}: ${error.message}`);
      dropConnection(res);
    });
    // A client that gives up (its timeout) or a watch it closes ends the upstream request too.
    res.on('close', () => {
      if (!res.writableFinished) out.destroy();
    });
    req.pipe(out);
  };

  const pipeAnswer = (answer: IncomingMessage, res: ServerResponse): void => {
    res.writeHead(answer.statusCode ?? 502, answer.statusMessage, responseHeaders(answer));
    answer.pipe(res);
    answer.on('error', () => dropConnection(res));
  };

  /** Reads an answer to the end (so a write is complete on the API server), then calls `then`. */
  const drain = (answer: IncomingMessage, then: (body: Buffer) => void): void => {
    const chunks: Buffer[] = [];
    answer.on('data', (chunk: Buffer) => chunks.push(chunk));
    answer.on('end', () => then(Buffer.concat(chunks)));
  };

  const hold = (res: ServerResponse, ms: number): void => {
    const socket = res.socket;
    if (!socket) return;
    const entry = { socket, timer: setTimeout(() => {
      held.delete(entry);
      socket.destroy();
    }, ms) };
    held.add(entry);
    socket.once('close', () => {
      clearTimeout(entry.timer);
      held.delete(entry);
    });
  };

  const inject = (req: IncomingMessage, res: ServerResponse, decision: Decision, info: RequestInfo): void => {
    const { kind, rule } = decision;
    const act = (): void => {
      switch (kind) {
        case '429':
        case '500':
        case '503':
          sendStatus(res, kind, rule.retryAfterSeconds);
          return;
        case 'timeout':
          hold(res, rule.holdMs);
          return;
        case 'reset':
          resetConnection(res);
          return;
        default:
          return;
      }
    };
    switch (kind) {
      case 'slow':
        setTimeout(() => {
          if (!res.destroyed) forward(req, res, (answer) => pipeAnswer(answer, res));
        }, rule.delayMs);
        return;
      case 'truncated':
        forward(req, res, (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.statusMessage, responseHeaders(answer));
          if (info.verb === 'watch') {
            // A watch never ends: cut it after its first chunk.
            answer.once('data', (chunk: Buffer) => res.write(chunk.subarray(0, Math.ceil(chunk.length / 2)), () => dropConnection(res)));
            return;
          }
          drain(answer, (body) => res.write(body.subarray(0, Math.floor(body.length / 2)), () => dropConnection(res)));
        });
        return;
      default:
        if (rule.afterUpstream) {
          forward(req, res, (answer) => drain(answer, () => act()));
        } else {
          // The request body is never read: the API server never sees the request.
          req.resume();
          act();
        }
    }
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const socket = req.socket as TLSSocket;
    const peer = socket.getPeerCertificate();
    if (!socket.authorized || !peer?.fingerprint256 || peer.fingerprint256 !== expectedFingerprint) {
      counters.refused += 1;
      res.writeHead(403, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          kind: 'Status',
          apiVersion: 'v1',
          status: 'Failure',
          reason: 'Forbidden',
          code: 403,
          message: 'the fault proxy forwards only for the client certificate it re-originates with; present that certificate',
        }),
      );
      req.resume();
      return;
    }
    const info = requestInfo(req.method ?? 'GET', req.url ?? '/');
    const decision = decide(config, info, used, random());
    count(info, decision);
    if (decision) inject(req, res, decision, info);
    else forward(req, res, (answer) => pipeAnswer(answer, res));
  };

  const server: HttpsServer = createHttpsServer(
    {
      cert: options.serving.cert,
      key: options.serving.key,
      ca: options.ca,
      requestCert: true,
      // Checked per request instead, so a wrong client gets a 403 that says why rather than a TLS alert.
      rejectUnauthorized: false,
      keepAliveTimeout: 60_000,
    },
    handle,
  );
  const port = await listen(server, options.port ?? 0, host);

  let control: HttpServer | undefined;
  const api: Omit<FaultProxy, 'controlUrl'> = {
    url: `https://${host}:${port}`,
    port,
    config: () => config,
    setConfig(input) {
      config = withSeed(parseFaultConfig(input));
      random = seededRandom(config.seed!);
      used = config.rules.map(() => 0);
      counters.byRule = config.rules.map((rule, i) => ({ name: ruleName(rule, i), faults: {} }));
      log(`fault proxy: ${config.rules.length} rule(s), seed ${config.seed}`);
      options.onConfigChange?.(config);
      return config;
    },
    counters: () => ({ ...structuredClone(counters), faultsTotal: Object.values(counters.faults).reduce((a, b) => a + b, 0) }),
    resetCounters() {
      counters = emptyCounters(config);
      used = config.rules.map(() => 0);
    },
    async close() {
      for (const entry of held) {
        clearTimeout(entry.timer);
        entry.socket.destroy();
      }
      held.clear();
      await Promise.all([closeServer(server), control ? closeServer(control) : undefined]);
      agent.destroy();
    },
  };

  let controlUrl: string | undefined;
  if (options.controlPort !== undefined && options.controlPort !== null) {
    control = createHttpServer((req, res) => void handleControl(api, req, res));
    controlUrl = `http://${host}:${await listen(control, options.controlPort, host)}`;
  }
  const proxy: FaultProxy = { ...api, controlUrl };
  log(`fault proxy: ${proxy.url} → ${options.upstream}; ${config.rules.length} rule(s), seed ${config.seed}${proxy.controlUrl ? `; control ${proxy.controlUrl}` : ''}`);
  return proxy;
}

// ---------------------------------------------------------------------------------------------------------------

type MutableCounters = {
  -readonly [K in keyof FaultCounters]: K extends 'faults'
    ? Record<FaultKind, number>
    : K extends 'byRequest'
      ? Record<string, { requests: number; faults: Partial<Record<FaultKind, number>> }>
      : K extends 'byRule'
        ? { name: string; faults: Partial<Record<FaultKind, number>> }[]
        : K extends 'recent'
          ? RecentFault[]
          : FaultCounters[K];
};

function emptyCounters(config: FaultConfig): MutableCounters {
  return {
    since: new Date().toISOString(),
    requests: 0,
    passed: 0,
    faults: Object.fromEntries(faultKinds.map((k) => [k, 0])) as Record<FaultKind, number>,
    faultsTotal: 0,
    byRequest: {},
    byRule: config.rules.map((rule, i) => ({ name: ruleName(rule, i), faults: {} })),
    upstreamErrors: 0,
    refused: 0,
    recent: [],
  };
}

function withSeed(config: FaultConfig): FaultConfig {
  return config.seed === undefined ? { ...config, seed: Math.floor(Math.random() * 2 ** 32) } : config;
}

function responseHeaders(answer: IncomingMessage): Record<string, string | string[]> {
  return Object.fromEntries(
    Object.entries(answer.headers).filter((entry): entry is [string, string | string[]] => entry[1] !== undefined && !hopByHop.has(entry[0])),
  );
}

function sendStatus(res: ServerResponse, kind: '429' | '500' | '503', retryAfterSeconds: number): void {
  if (res.headersSent || res.destroyed) return;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (kind === '429') headers['retry-after'] = String(retryAfterSeconds);
  res.writeHead(Number(kind), headers).end(JSON.stringify(statusBody(kind, retryAfterSeconds)));
}

/** A TCP RST to the client: the raw socket under the TLS one is reset (a TLS socket itself cannot be). */
function resetConnection(res: ServerResponse): void {
  const tls = res.socket as (Socket & { _parent?: Socket }) | null;
  const raw = tls?._parent;
  try {
    if (raw && typeof raw.resetAndDestroy === 'function') raw.resetAndDestroy();
    else tls?.destroy();
  } catch {
    tls?.destroy();
  }
}

function dropConnection(res: ServerResponse): void {
  res.socket?.destroy();
}

async function handleControl(proxy: Omit<FaultProxy, 'controlUrl'>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const send = (status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body, null, 2) + '\n');
  };
  const route = `${req.method} ${new URL(req.url ?? '/', 'http://control.invalid').pathname}`;
  try {
    switch (route) {
      case 'GET /healthz':
        return send(200, { ok: true });
      case 'GET /config':
        return send(200, proxy.config());
      case 'PUT /config': {
        const text = await readBody(req, 1024 * 1024);
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch (error) {
          return send(400, { error: `not JSON: ${(error as Error).message}` });
        }
        return send(200, proxy.setConfig(json as FaultConfigInput));
      }
      case 'GET /counters':
        return send(200, proxy.counters());
      case 'POST /counters/reset':
        proxy.resetCounters();
        return send(200, proxy.counters());
      default:
        return send(404, { error: `no route ${route}; try GET|PUT /config, GET /counters, POST /counters/reset` });
    }
  } catch (error) {
    if (error instanceof FaultConfigError) return send(400, { error: error.message });
    if (error instanceof BodyTooLargeError) return send(413, { error: error.message });
    send(500, { error: (error as Error).message });
  }
}

class BodyTooLargeError extends Error {
  override name = 'BodyTooLargeError';
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new BodyTooLargeError(`configuration larger than ${limit} bytes`));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function listen(server: HttpServer | HttpsServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as { port: number }).port);
    });
  });
}

function closeServer(server: HttpServer | HttpsServer): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
