/**
 * Helpers for integration tests against the real local control plane (brought up by the integration globalSetup, or
 * by a test itself for a private one). Node helpers live with the simulator: devcluster/simulator/nodes.ts.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AdmissionregistrationV1Api,
  ApiException,
  AppsV1Api,
  AuthorizationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  EventsV1Api,
  KubeConfig,
  KubernetesObjectApi,
  RbacAuthorizationV1Api,
  loadAllYaml,
} from '@kubernetes/client-node';
import { localPaths } from '../../devcluster/paths.ts';
import { ConflictError, NotFoundError, RejectedError } from '../../src/errors.ts';

export interface Clients {
  readonly kc: KubeConfig;
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly coordination: CoordinationV1Api;
  readonly events: EventsV1Api;
  readonly authorization: AuthorizationV1Api;
  readonly rbac: RbacAuthorizationV1Api;
  readonly admission: AdmissionregistrationV1Api;
  /** Generic access by apiVersion/kind, e.g. for objects loaded from YAML. */
  readonly objects: KubernetesObjectApi;
}

export function clientsFor(kubeconfigFile: string): Clients {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigFile);
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    coordination: kc.makeApiClient(CoordinationV1Api),
    events: kc.makeApiClient(EventsV1Api),
    authorization: kc.makeApiClient(AuthorizationV1Api),
    rbac: kc.makeApiClient(RbacAuthorizationV1Api),
    admission: kc.makeApiClient(AdmissionregistrationV1Api),
    objects: KubernetesObjectApi.makeApiClient(kc),
  };
}

/** The admin identity (system:masters) of the control plane in `localDir` (default: DAEMONLESS_LOCAL_DIR or .local). */
export function adminClient(localDir?: string): Clients {
  return clientsFor(localPaths(localDir).kubeconfig);
}

/** The least-privilege `daemonless-reconciler` identity, bound by infra/rbac.yaml. */
export function reconcilerClient(localDir?: string): Clients {
  return clientsFor(localPaths(localDir).reconcilerKubeconfig);
}

export class WaitTimeoutError extends Error {
  override name = 'WaitTimeoutError';
}

export interface WaitOptions {
  /** Default 30 s. */
  readonly timeoutMs?: number;
  /** Default 200 ms. */
  readonly intervalMs?: number;
}

/**
 * Polls `fn` until it returns a value other than undefined, null or false, and resolves with that value. An error
 * thrown by `fn` counts as "not yet". On timeout, throws a WaitTimeoutError that reports the last value or error seen,
 * which usually says why the condition did not hold.
 */
export async function waitFor<T>(
  description: string,
  fn: () => T | Promise<T>,
  { timeoutMs = 30_000, intervalMs = 200 }: WaitOptions = {},
): Promise<Exclude<T, undefined | null | false>> {
  const started = Date.now();
  let last: { value: unknown } | { error: unknown } = { value: undefined };
  let attempts = 0;
  for (;;) {
    attempts += 1;
    try {
      const value = await fn();
      if (value !== undefined && value !== null && value !== false) return value as Exclude<T, undefined | null | false>;
      last = { value };
    } catch (error) {
      last = { error };
    }
    if (Date.now() - started >= timeoutMs) {
      const seen = 'error' in last ? `last error: ${describeError(last.error)}` : `last value: ${preview(last.value)}`;
      throw new WaitTimeoutError(`timed out after ${timeoutMs} ms (${attempts} attempts) waiting for ${description}; ${seen}`);
    }
    await sleep(intervalMs);
  }
}

function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 2_000 ? `${text.slice(0, 2_000)}…` : text;
}

function describeError(error: unknown): string {
  if (error instanceof ApiException) return `HTTP ${error.code}: ${preview(error.body)}`;
  return error instanceof Error ? `${error.name}: ${error.message}` : preview(error);
}

/** The HTTP status of a failed API call (client-node's, or the typed errors of daemonless's own transport), or undefined. */
export function apiStatus(error: unknown): number | undefined {
  if (error instanceof ApiException) return error.code;
  if (error instanceof ConflictError) return 409;
  if (error instanceof NotFoundError) return 404;
  if (error instanceof RejectedError) return error.apiStatus;
  return undefined;
}

/**
 * A name no earlier run used: tests share one cluster, and reusing the name of a deleted Node (or of an object
 * still being deleted) would mix its leftovers into the test. DNS-1123 label, at most 63 characters.
 */
export function uniqueName(prefix: string): string {
  const suffix = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const head = prefix
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63 - suffix.length - 1);
  return head ? `${head}-${suffix}` : suffix;
}

/**
 * Creates a namespace and waits for its `default` ServiceAccount: until the serviceaccount controller has made it, the
 * ServiceAccount admission plugin rejects every pod in the namespace.
 */
export async function createNamespace(
  core: CoreV1Api,
  name: string = uniqueName('test'),
  labels: Record<string, string> = {},
): Promise<string> {
  await core.createNamespace({ body: { metadata: { name, labels: { 'daemonless.dev/test': 'true', ...labels } } } });
  await waitFor(`ServiceAccount ${name}/default`, () => core.readNamespacedServiceAccount({ name: 'default', namespace: name }));
  return name;
}

/**
 * Deletes a namespace without waiting for it to disappear. Its pods are deleted first with a zero grace period:
 * no kubelet runs here, so a pod bound to a node the simulator does not own would otherwise stay Terminating and keep
 * the namespace in Terminating forever.
 */
export async function deleteNamespace(core: CoreV1Api, name: string): Promise<void> {
  try {
    const pods = await core.listNamespacedPod({ namespace: name });
    await Promise.all(
      pods.items.map((pod) =>
        core.deleteNamespacedPod({ name: pod.metadata!.name!, namespace: name, gracePeriodSeconds: 0 }).catch(ignoreNotFound),
      ),
    );
    await core.deleteNamespace({ name });
  } catch (error) {
    ignoreNotFound(error);
  }
}

export function ignoreNotFound(error: unknown): void {
  if (apiStatus(error) !== 404) throw error;
}

export const fixturesDir = join(import.meta.dirname, '..', 'fixtures');

/** Every object of a YAML file under test/fixtures, as plain objects (tests adapt copies, never the file). */
export function loadFixture(file: string): Record<string, any>[] {
  return loadAllYaml(readFileSync(join(fixturesDir, file), 'utf8')).filter(Boolean);
}

/** Free loopback ports for a private control plane or a test listener (devcluster/ports.ts). */
export { freePorts } from '../../devcluster/ports.ts';

/** The lines of the functions' logs, of either runtime (the local server's, the local Lambda service's). */
export function functionsLog(): string[] {
  const root = localPaths().root;
  return [join(root, 'logs', 'functions.log'), join(root, 'lambda', 'service.log')].flatMap((file) => {
    try {
      return readFileSync(file, 'utf8').split('\n');
    } catch {
      return [];
    }
  });
}

/** The last `max` lines of the functions' logs that contain one of `needles`, each cut to 400 characters. */
export function functionsLogLines(needles: readonly string[], max: number): string[] {
  return functionsLog()
    .filter((line) => needles.some((n) => n !== '' && line.includes(n)))
    .map((line) => line.slice(0, 400))
    .slice(-max);
}
