/**
 * The Kubernetes port: every read and write a reconcile makes, and nothing else. `createCluster` is the only
 * implementation (client-node against a real API server); unit tests of the shell pass a recording fake of the
 * `Cluster` interface instead (like upstream's fakePodControl).
 *
 * Each call counts as one API request (lists count each page), retries transient failures within the invocation's
 * deadline, and maps errors to src/errors.ts.
 */
import { createHash } from 'node:crypto';
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  PatchStrategy,
  ServerConfiguration,
  ApiException,
  HttpMethod,
  IsomorphicFetchHttpLibrary,
  RequestContext,
  createConfiguration,
  setHeaderOptions,
  type KubeConfig,
  type ResponseContext,
  type V1ControllerRevision,
  type V1DaemonSet,
  type V1DaemonSetStatus,
  type V1Lease,
  type V1Node,
  type V1Pod,
} from '@kubernetes/client-node';
import { ConflictError, NotFoundError } from '../errors.ts';
import type { BackoffState, EventToRecord, ObjectRef } from '../core/model.ts';
import { mapApiError } from './errors.ts';
import { withRetry } from './retry.ts';

export interface Cluster {
  getNode(name: string): Promise<V1Node | null>;
  listNodes(): Promise<V1Node[]>;
  getDaemonSet(namespace: string, name: string): Promise<V1DaemonSet | null>;
  listDaemonSets(): Promise<V1DaemonSet[]>;
  /** Pods bound to the node (fieldSelector spec.nodeName), all namespaces. */
  listPodsOnNode(nodeName: string): Promise<V1Pod[]>;
  /** Pods not yet bound to any node, all namespaces. */
  listUnscheduledPods(): Promise<V1Pod[]>;
  /** Pods in one namespace (or all, when undefined), optionally by label selector. */
  listPods(namespace?: string, labelSelector?: string): Promise<V1Pod[]>;
  getBackoff(daemonSet: ObjectRef, nodeName: string): Promise<BackoffState | undefined>;

  /** Idempotent: an existing pod of the same (deterministic) name counts as success. */
  createPod(pod: V1Pod): Promise<'created' | 'exists'>;
  /** Guarded by a UID precondition: a pod that is gone, or was replaced by a same-named one, is left alone. */
  deletePod(pod: ObjectRef, gracePeriodSeconds?: number): Promise<'deleted' | 'gone'>;
  adoptPod(daemonSet: ObjectRef, pod: ObjectRef): Promise<'done' | 'gone'>;
  releasePod(daemonSet: ObjectRef, pod: ObjectRef): Promise<'done' | 'gone'>;
  writeBackoff(daemonSet: ObjectRef, nodeName: string, state: BackoffState): Promise<void>;
  /** Best effort: an Event that cannot be written is logged by the caller, never fails a reconcile. */
  recordEvent(event: EventToRecord, now: Date): Promise<void>;
  /** Writes status with the resourceVersion it was computed from; a conflict surfaces as ConflictError. */
  updateDaemonSetStatus(daemonSet: V1DaemonSet, status: V1DaemonSetStatus): Promise<void>;

  /** ControllerRevisions in one namespace (or all, when undefined). */
  listControllerRevisions(namespace?: string): Promise<V1ControllerRevision[]>;
  /** Creates a revision; on AlreadyExists returns the existing one (the caller compares data: a hash collision). */
  createControllerRevision(revision: V1ControllerRevision): Promise<{ created: true } | { created: false; existing: V1ControllerRevision }>;
  /** JSON merge patch of a revision (ownership, hash label, revision number). */
  patchControllerRevision(namespace: string, name: string, patch: object): Promise<'done' | 'gone'>;
  deleteControllerRevision(namespace: string, name: string): Promise<'deleted' | 'gone'>;
  /** Merge-patches pod labels, guarded by the pod UID. */
  labelPod(pod: ObjectRef, labels: Record<string, string>): Promise<'done' | 'gone'>;
  /** Writes status.collisionCount if the stored count is still `observed` (resourceVersion-guarded). */
  bumpCollisionCount(namespace: string, name: string, observed: number): Promise<void>;
  /**
   * A short lock on a Lease (optimistic concurrency on its resourceVersion): true when `holder` now holds it for
   * `ttlSeconds`. Used to keep concurrent invocations within one rollout budget.
   */
  acquireLease(namespace: string, name: string, holder: string, ttlSeconds: number, now: Date, owner: ObjectRef): Promise<boolean>;
  releaseLease(namespace: string, name: string, holder: string): Promise<void>;

  /** API requests made through this port so far. */
  requestCount(): number;
}

/** Process-wide API clients, built once per cold start. */
export interface ApiClients {
  core: CoreV1Api;
  apps: AppsV1Api;
  coordination: CoordinationV1Api;
  /** Every API request of the process, for metrics; per-invocation counts come from `Cluster.requestCount()`. */
  counter: { requests: number };
  /**
   * GET a path and return the parsed JSON, without client-node's model conversion (which profiling showed to be the
   * largest CPU cost of a reconcile: it walks every field of every listed object). Same connection, credentials and
   * timeout as the typed clients. Errors are thrown as client-node ApiExceptions.
   */
  getJson(path: string, query: Record<string, string | undefined>): Promise<unknown>;
}

/**
 * Builds the API clients. client-node creates a new undici Agent (a new TLS connection) for every request; the
 * middleware keeps the first one and reuses it, so requests share keep-alive connections. It also bounds every
 * request with a timeout, and sets `Authorization: Bearer <token>` from `bearerToken` when given (EKS IAM
 * authentication: a token that expires, so it is asked for on every request; it runs after client-node applied the
 * kubeconfig user's credentials, and replaces any Authorization header they set).
 */
export function createApiClients(kc: KubeConfig, options: { requestTimeoutMs: number; bearerToken?: () => string }): ApiClients {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const counter = { requests: 0 };
  let dispatcher: ReturnType<RequestContext['getDispatcher']>;
  const middleware: { pre(c: RequestContext): Promise<RequestContext>; post(c: ResponseContext): Promise<ResponseContext> } = {
    pre: async (context: RequestContext) => {
      counter.requests += 1;
      if (dispatcher === undefined) dispatcher = context.getDispatcher();
      else context.setDispatcher(dispatcher);
      context.setSignal(AbortSignal.timeout(options.requestTimeoutMs));
      context.setHeaderParam('User-Agent', 'daemonless');
      if (options.bearerToken) context.setHeaderParam('Authorization', `Bearer ${options.bearerToken()}`);
      return context;
    },
    post: async (context: ResponseContext) => context,
  };
  const configuration = createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: kc },
    promiseMiddleware: [middleware],
  });
  const http = new IsomorphicFetchHttpLibrary();
  const getJson = async (path: string, query: Record<string, string | undefined>): Promise<unknown> => {
    const url = new URL(path, cluster.server.endsWith('/') ? cluster.server : `${cluster.server}/`);
    for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== '') url.searchParams.set(key, value);
    const context = new RequestContext(url.toString(), HttpMethod.GET);
    context.setHeaderParam('Accept', 'application/json');
    await kc.applySecurityAuthentication(context);
    await middleware.pre(context);
    const response = await http.send(context).toPromise();
    const text = await response.body.text();
    if (response.httpStatusCode >= 400) {
      throw new ApiException(response.httpStatusCode, `HTTP-Code: ${response.httpStatusCode}`, text, response.headers);
    }
    return JSON.parse(text) as unknown;
  };
  return {
    core: new CoreV1Api(configuration),
    apps: new AppsV1Api(configuration),
    coordination: new CoordinationV1Api(configuration),
    counter,
    getJson,
  };
}

/**
 * Raw JSON carries timestamps as RFC 3339 strings; client-node's models say `Date`. The fields the core reads as times
 * are turned into Dates here (object timestamps and condition transition times); deeper ones (container state times)
 * stay strings, and nothing reads them.
 */
function reviveTimes<T extends { metadata?: object; status?: { conditions?: { lastTransitionTime?: unknown }[] } }>(item: T): T {
  const meta = item.metadata as Record<string, unknown> | undefined;
  if (meta) {
    for (const key of ['creationTimestamp', 'deletionTimestamp']) {
      if (typeof meta[key] === 'string') meta[key] = new Date(meta[key] as string);
    }
  }
  for (const condition of item.status?.conditions ?? []) {
    if (typeof condition.lastTransitionTime === 'string') condition.lastTransitionTime = new Date(condition.lastTransitionTime);
  }
  return item;
}

export interface CallOptions {
  /** Epoch ms after which transient failures are no longer retried. */
  deadline: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

const PAGE = 500;
const strategic = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** Lease holding the failed-pod backoff of one (DaemonSet, node). Deterministic, within name limits. */
export function backoffLeaseName(daemonSet: ObjectRef, nodeName: string): string {
  const digest = createHash('sha256').update(`${daemonSet.uid}/${nodeName}`).digest('hex').slice(0, 16);
  return `daemonless-backoff-${digest}`;
}

const GENERATION_ANNOTATION = 'daemonless.dev/backoff-generation';
const LAST_DELETION_ANNOTATION = 'daemonless.dev/last-deletion';
const HELD_UNTIL_ANNOTATION = 'daemonless.dev/held-until';

export function createCluster(clients: ApiClients, options: CallOptions): Cluster {
  const { core, apps, coordination } = clients;
  // Per invocation: the local server runs several invocations at once over the same clients.
  let requests = 0;
  const retry = {
    deadline: options.deadline,
    now: options.now ?? Date.now,
    sleep: options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))),
    random: options.random ?? Math.random,
  };
  const call = <T>(what: string, fn: () => Promise<T>): Promise<T> =>
    withRetry(async () => {
      requests += 1;
      try {
        return await fn();
      } catch (error) {
        throw mapApiError(error, what);
      }
    }, retry);
  const orNull = async <T>(promise: Promise<T>): Promise<T | null> => {
    try {
      return await promise;
    } catch (error) {
      if (error instanceof NotFoundError) return null;
      throw error;
    }
  };
  /** Follows `continue` tokens; a list restarts from scratch when its token expired (410, retried by `call`). */
  async function listAll<T>(what: string, page: (cont?: string) => Promise<{ items: T[]; metadata?: { _continue?: string } }>): Promise<T[]> {
    return call(what, async () => {
      const items: T[] = [];
      let cont: string | undefined;
      do {
        if (cont) requests += 1;
        const result = await page(cont);
        items.push(...result.items);
        cont = result.metadata?._continue || undefined;
      } while (cont);
      return items;
    });
  }
  /** A list page as plain JSON (see ApiClients.getJson), with the times the core reads revived. */
  async function rawList<T extends { metadata?: object; status?: { conditions?: { lastTransitionTime?: unknown }[] } }>(
    path: string,
    query: Record<string, string | undefined>,
  ): Promise<{ items: T[]; metadata?: { _continue?: string } }> {
    const page = (await clients.getJson(path, query)) as { items?: T[]; metadata?: { continue?: string } };
    return { items: (page.items ?? []).map(reviveTimes), metadata: { _continue: page.metadata?.continue } };
  }
  const ownerPatch = (daemonSet: ObjectRef, pod: ObjectRef, remove: boolean) => ({
    metadata: {
      // The UID in the patch is a precondition: it fails if the pod was replaced by a same-named one.
      uid: pod.uid,
      ownerReferences: remove
        ? [{ $patch: 'delete', uid: daemonSet.uid }]
        : [
            {
              apiVersion: 'apps/v1',
              kind: 'DaemonSet',
              name: daemonSet.name,
              uid: daemonSet.uid,
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
    },
  });
  async function patchOwner(daemonSet: ObjectRef, pod: ObjectRef, remove: boolean): Promise<'done' | 'gone'> {
    try {
      await call(`${remove ? 'release' : 'adopt'} pod ${pod.namespace}/${pod.name}`, () =>
        core.patchNamespacedPod({ name: pod.name, namespace: pod.namespace, body: ownerPatch(daemonSet, pod, remove) }, strategic),
      );
      return 'done';
    } catch (error) {
      if (error instanceof NotFoundError) return 'gone';
      // A UID mismatch is a 409/422-style precondition failure: the pod we decided about is no longer there.
      if (error instanceof ConflictError) return 'gone';
      throw error;
    }
  }

  return {
    getNode: (name) =>
      orNull(call(`get node ${name}`, async () => reviveTimes((await clients.getJson(`api/v1/nodes/${encodeURIComponent(name)}`, {})) as V1Node))),
    listNodes: () => listAll('list nodes', (cont) => rawList<V1Node>('api/v1/nodes', { limit: String(PAGE), continue: cont })),
    getDaemonSet: (namespace, name) =>
      orNull(call(`get daemonset ${namespace}/${name}`, () => apps.readNamespacedDaemonSet({ namespace, name }))),
    listDaemonSets: () =>
      listAll('list daemonsets', (cont) => apps.listDaemonSetForAllNamespaces({ limit: PAGE, _continue: cont })),
    listPodsOnNode: (nodeName) =>
      listAll(`list pods on ${nodeName}`, (cont) =>
        rawList<V1Pod>('api/v1/pods', { fieldSelector: `spec.nodeName=${nodeName}`, limit: String(PAGE), continue: cont }),
      ),
    listUnscheduledPods: () =>
      listAll('list unscheduled pods', (cont) =>
        rawList<V1Pod>('api/v1/pods', { fieldSelector: 'spec.nodeName=', limit: String(PAGE), continue: cont }),
      ),
    listPods: (namespace, labelSelector) =>
      listAll(`list pods${namespace ? ` in ${namespace}` : ''}`, (cont) =>
        rawList<V1Pod>(namespace ? `api/v1/namespaces/${encodeURIComponent(namespace)}/pods` : 'api/v1/pods', {
          labelSelector,
          limit: String(PAGE),
          continue: cont,
        }),
      ),
    async getBackoff(daemonSet, nodeName) {
      const name = backoffLeaseName(daemonSet, nodeName);
      const lease = await orNull(
        call(`get lease ${daemonSet.namespace}/${name}`, () => coordination.readNamespacedLease({ name, namespace: daemonSet.namespace })),
      );
      return lease ? backoffFromLease(lease) : undefined;
    },

    async createPod(pod) {
      const namespace = pod.metadata?.namespace ?? 'default';
      try {
        await call(`create pod ${namespace}/${pod.metadata?.name}`, () => core.createNamespacedPod({ namespace, body: pod }));
        return 'created';
      } catch (error) {
        if (error instanceof ConflictError && error.reason === 'AlreadyExists') return 'exists';
        throw error;
      }
    },
    async deletePod(pod, gracePeriodSeconds) {
      try {
        await call(`delete pod ${pod.namespace}/${pod.name}`, () =>
          core.deleteNamespacedPod({
            name: pod.name,
            namespace: pod.namespace,
            body: { preconditions: { uid: pod.uid }, ...(gracePeriodSeconds === undefined ? {} : { gracePeriodSeconds }) },
          }),
        );
        return 'deleted';
      } catch (error) {
        // 404: already gone. 409: the UID precondition failed, so the pod we decided about is gone too.
        if (error instanceof NotFoundError || error instanceof ConflictError) return 'gone';
        throw error;
      }
    },
    adoptPod: (daemonSet, pod) => patchOwner(daemonSet, pod, false),
    releasePod: (daemonSet, pod) => patchOwner(daemonSet, pod, true),
    async writeBackoff(daemonSet, nodeName, state) {
      const name = backoffLeaseName(daemonSet, nodeName);
      const body: V1Lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: {
          name,
          namespace: daemonSet.namespace,
          annotations: {
            [GENERATION_ANNOTATION]: String(state.generation),
            // In an annotation, not spec.acquireTime: MicroTime wants 6 fractional digits, client-node sends 3.
            [LAST_DELETION_ANNOTATION]: state.lastDeletion.toISOString(),
            'daemonless.dev/node': nodeName,
          },
          // Garbage-collected with its DaemonSet.
          ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: daemonSet.name, uid: daemonSet.uid }],
        },
        spec: {
          holderIdentity: `${daemonSet.namespace}/${daemonSet.name}/${nodeName}`,
          leaseDurationSeconds: Math.max(1, Math.round(state.delaySeconds)),
        },
      };
      // Last writer wins: two invocations deleting the same failed pod compute the same state.
      await call(`write lease ${daemonSet.namespace}/${name}`, async () => {
        try {
          // A merge patch needs no resourceVersion; the Lease is created on first use.
          await coordination.patchNamespacedLease({ name, namespace: daemonSet.namespace, body }, mergePatch);
        } catch (error) {
          const mapped = mapApiError(error, 'patch lease');
          if (!(mapped instanceof NotFoundError)) throw error;
          await coordination.createNamespacedLease({ namespace: daemonSet.namespace, body });
        }
      });
    },
    async recordEvent(event, now) {
      const { daemonSet } = event;
      await call(`record event ${event.reason}`, () =>
        core.createNamespacedEvent({
          namespace: daemonSet.namespace,
          body: {
            metadata: { generateName: `${daemonSet.name}.`, namespace: daemonSet.namespace },
            involvedObject: {
              apiVersion: 'apps/v1',
              kind: 'DaemonSet',
              name: daemonSet.name,
              namespace: daemonSet.namespace,
              uid: daemonSet.uid,
            },
            reason: event.reason,
            message: event.message,
            type: event.type,
            source: { component: 'daemonset-controller' },
            reportingComponent: 'daemonless',
            reportingInstance: 'daemonless',
            firstTimestamp: now,
            lastTimestamp: now,
            count: 1,
          },
        }),
      );
    },
    async updateDaemonSetStatus(daemonSet, status) {
      const namespace = daemonSet.metadata?.namespace ?? 'default';
      const name = daemonSet.metadata?.name ?? '';
      await call(`update status of daemonset ${namespace}/${name}`, () =>
        apps.replaceNamespacedDaemonSetStatus({ namespace, name, body: { ...daemonSet, status } }),
      );
    },

    listControllerRevisions: (namespace) =>
      listAll(`list controllerrevisions${namespace ? ` in ${namespace}` : ''}`, (cont) =>
        namespace
          ? apps.listNamespacedControllerRevision({ namespace, limit: PAGE, _continue: cont })
          : apps.listControllerRevisionForAllNamespaces({ limit: PAGE, _continue: cont }),
      ),
    async createControllerRevision(revision) {
      const namespace = revision.metadata?.namespace ?? 'default';
      const name = revision.metadata?.name ?? '';
      try {
        await call(`create controllerrevision ${namespace}/${name}`, () => apps.createNamespacedControllerRevision({ namespace, body: revision }));
        return { created: true };
      } catch (error) {
        if (!(error instanceof ConflictError && error.reason === 'AlreadyExists')) throw error;
        const existing = await call(`get controllerrevision ${namespace}/${name}`, () => apps.readNamespacedControllerRevision({ namespace, name }));
        return { created: false, existing };
      }
    },
    async patchControllerRevision(namespace, name, patch) {
      try {
        await call(`patch controllerrevision ${namespace}/${name}`, () => apps.patchNamespacedControllerRevision({ namespace, name, body: patch }, mergePatch));
        return 'done';
      } catch (error) {
        if (error instanceof NotFoundError) return 'gone';
        throw error;
      }
    },
    async deleteControllerRevision(namespace, name) {
      try {
        await call(`delete controllerrevision ${namespace}/${name}`, () => apps.deleteNamespacedControllerRevision({ namespace, name }));
        return 'deleted';
      } catch (error) {
        if (error instanceof NotFoundError) return 'gone';
        throw error;
      }
    },
    async labelPod(pod, labels) {
      try {
        await call(`label pod ${pod.namespace}/${pod.name}`, () =>
          core.patchNamespacedPod({ name: pod.name, namespace: pod.namespace, body: { metadata: { uid: pod.uid, labels } } }, mergePatch),
        );
        return 'done';
      } catch (error) {
        if (error instanceof NotFoundError || error instanceof ConflictError) return 'gone';
        throw error;
      }
    },
    async bumpCollisionCount(namespace, name, observed) {
      await call(`bump collisionCount of daemonset ${namespace}/${name}`, async () => {
        const ds = await apps.readNamespacedDaemonSetStatus({ namespace, name });
        // Stale: someone bumped it already; the next sync hashes with the new count.
        if ((ds.status?.collisionCount ?? 0) !== observed) return;
        const status = { ...(ds.status ?? { currentNumberScheduled: 0, desiredNumberScheduled: 0, numberMisscheduled: 0, numberReady: 0 }), collisionCount: observed + 1 };
        await apps.replaceNamespacedDaemonSetStatus({ namespace, name, body: { ...ds, status } });
      });
    },
    async acquireLease(namespace, name, holder, ttlSeconds, now, owner) {
      const heldUntil = new Date(now.getTime() + ttlSeconds * 1000).toISOString();
      const body = (resourceVersion?: string): V1Lease => ({
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: {
          name,
          namespace,
          ...(resourceVersion ? { resourceVersion } : {}),
          annotations: { [HELD_UNTIL_ANNOTATION]: heldUntil },
          ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: owner.name, uid: owner.uid }],
        },
        spec: { holderIdentity: holder, leaseDurationSeconds: ttlSeconds },
      });
      try {
        const lease = await orNull(call(`get lease ${namespace}/${name}`, () => coordination.readNamespacedLease({ namespace, name })));
        if (lease === null) {
          await call(`create lease ${namespace}/${name}`, () => coordination.createNamespacedLease({ namespace, body: body() }));
          return true;
        }
        const until = Date.parse(lease.metadata?.annotations?.[HELD_UNTIL_ANNOTATION] ?? '');
        const free = !Number.isFinite(until) || until <= now.getTime() || lease.spec?.holderIdentity === holder;
        if (!free) return false;
        // The resourceVersion makes this a compare-and-swap: of two invocations that both saw it free, one wins.
        await call(`take lease ${namespace}/${name}`, () =>
          coordination.replaceNamespacedLease({ namespace, name, body: body(lease.metadata?.resourceVersion) }),
        );
        return true;
      } catch (error) {
        if (error instanceof ConflictError) return false;
        throw error;
      }
    },
    async releaseLease(namespace, name, holder) {
      try {
        const lease = await call(`get lease ${namespace}/${name}`, () => coordination.readNamespacedLease({ namespace, name }));
        if (lease.spec?.holderIdentity !== holder) return;
        await call(`release lease ${namespace}/${name}`, () =>
          coordination.replaceNamespacedLease({
            namespace,
            name,
            body: { ...lease, metadata: { ...lease.metadata, annotations: { ...lease.metadata?.annotations, [HELD_UNTIL_ANNOTATION]: new Date(0).toISOString() } } },
          }),
        );
      } catch (error) {
        // Not released: it expires after its TTL.
        if (!(error instanceof NotFoundError || error instanceof ConflictError)) throw error;
      }
    },

    requestCount: () => requests,
  };
}

function backoffFromLease(lease: V1Lease): BackoffState | undefined {
  const acquired = lease.metadata?.annotations?.[LAST_DELETION_ANNOTATION];
  const delay = lease.spec?.leaseDurationSeconds;
  const generation = Number(lease.metadata?.annotations?.[GENERATION_ANNOTATION]);
  const lastDeletion = acquired ? new Date(acquired) : undefined;
  if (!lastDeletion || Number.isNaN(lastDeletion.getTime()) || !delay || !Number.isFinite(generation)) return undefined;
  return { lastDeletion, delaySeconds: delay, generation };
}
