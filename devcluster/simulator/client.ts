/**
 * API access for the simulator. client-node 2.x builds a fresh undici Agent for every request
 * (KubeConfig.applySecurityAuthentication → createDispatcher), i.e. a new TLS handshake per call. At 1,000 nodes
 * the lease renewals alone are ~70 requests/s, so we reuse one dispatcher (keep-alive connections) per kubeconfig.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  HttpMethod,
  KubeConfig,
  PatchStrategy,
  RequestContext,
  setHeaderOptions,
} from '@kubernetes/client-node';

interface AuthTemplate {
  headers: Record<string, string>;
  dispatcher: unknown;
}

/** A KubeConfig whose authentication (headers + TLS dispatcher) is computed once and then shared by all requests. */
class PooledKubeConfig extends KubeConfig {
  #template: Promise<AuthTemplate> | undefined;

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    this.#template ??= this.#compute();
    const template = await this.#template;
    for (const [key, value] of Object.entries(template.headers)) context.setHeaderParam(key, value);
    if (template.dispatcher !== undefined) context.setDispatcher(template.dispatcher as never);
  }

  async close(): Promise<void> {
    const template = this.#template;
    this.#template = undefined;
    const dispatcher = (await template?.catch(() => undefined))?.dispatcher as { close?: () => Promise<void> } | undefined;
    await dispatcher?.close?.();
  }

  async #compute(): Promise<AuthTemplate> {
    const probe = new RequestContext('https://probe.invalid/', HttpMethod.GET);
    await super.applySecurityAuthentication(probe);
    return { headers: probe.getHeaders(), dispatcher: probe.getDispatcher() };
  }
}

const pooled = new WeakMap<KubeConfig, PooledKubeConfig>();

/**
 * Closes the shared connections of `kc`'s twin (idle keep-alive sockets otherwise hold a short-lived process open
 * for a few seconds). Later calls with `kc` open new ones.
 */
export async function closeConnections(kc: KubeConfig): Promise<void> {
  const twin = kc instanceof PooledKubeConfig ? kc : pooled.get(kc);
  if (!twin) return;
  pooled.delete(kc);
  await twin.close();
}

/** The shared-connection twin of `kc` (same clusters, users and context). */
export function pooledKubeConfig(kc: KubeConfig): KubeConfig {
  if (kc instanceof PooledKubeConfig) return kc;
  let twin = pooled.get(kc);
  if (!twin) {
    twin = new PooledKubeConfig();
    twin.loadFromOptions({
      clusters: kc.getClusters(),
      users: kc.getUsers(),
      contexts: kc.getContexts(),
      currentContext: kc.getCurrentContext(),
    });
    pooled.set(kc, twin);
  }
  return twin;
}

export interface Clients {
  kc: KubeConfig;
  core: CoreV1Api;
  coordination: CoordinationV1Api;
}

export function clientsFor(kc: KubeConfig): Clients {
  const twin = pooledKubeConfig(kc);
  return { kc: twin, core: twin.makeApiClient(CoreV1Api), coordination: twin.makeApiClient(CoordinationV1Api) };
}

export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
export const strategicMergePatch = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

/** HTTP status of a failed API call (ApiException, or the Watch's `statusCode`), undefined for network errors. */
export function statusOf(error: unknown): number | undefined {
  if (error instanceof ApiException) return error.code;
  const code = (error as { statusCode?: unknown; code?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** 429, 5xx and network errors: worth retrying. */
export function isRetryable(error: unknown): boolean {
  const status = statusOf(error);
  return status === undefined || status === 429 || status >= 500;
}

/** A one-line description of an API failure for logs (ApiException messages carry the whole response). */
export function describe(error: unknown): string {
  if (error instanceof ApiException) {
    const body = error.body as { message?: string } | string | undefined;
    const message = typeof body === 'string' ? safeMessage(body) : body?.message;
    return `HTTP ${error.code}${message ? `: ${message}` : ''}`;
  }
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function safeMessage(body: string): string {
  try {
    return (JSON.parse(body) as { message?: string }).message ?? body.slice(0, 200);
  } catch {
    return body.slice(0, 200);
  }
}

/**
 * The admin kubeconfig: KUBECONFIG if set, else `kubeconfig` in DAEMONLESS_LOCAL_DIR, else `.local/kubeconfig` at
 * the repo root (the same resolution as devcluster/paths.ts).
 */
export function defaultKubeconfigPath(env: { KUBECONFIG?: string | undefined; DAEMONLESS_LOCAL_DIR?: string | undefined }): string {
  if (env.KUBECONFIG) return env.KUBECONFIG;
  const local = env.DAEMONLESS_LOCAL_DIR ? resolve(env.DAEMONLESS_LOCAL_DIR) : resolve(import.meta.dirname, '..', '..', '.local');
  return join(local, 'kubeconfig');
}

export function loadKubeConfig(path: string): KubeConfig {
  if (!existsSync(path)) {
    throw new Error(`no kubeconfig at ${path}: is the local system up? (npm run up; npm run cluster:up starts the control plane alone)`);
  }
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return kc;
}
