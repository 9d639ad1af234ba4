/**
 * The Kubernetes port: every read and write a reconcile makes, and nothing else. `createCluster` is the only
 * implementation (raw JSON over src/k8s/transport.ts against a real API server); unit tests of the shell pass a
 * recording fake of the `Cluster` interface instead (like upstream's fakePodControl).
 *
 * Each call counts as one API request (lists count each page), retries transient failures within the invocation's
 * deadline, and fails with the typed errors of src/errors.ts. Objects are the API server's JSON, every field kept.
 */
import type { V1ControllerRevision, V1DaemonSet, V1DaemonSetStatus, V1Node, V1OwnerReference, V1Pod } from '@kubernetes/client-node';
import { BadRequestError, ConflictError, NotFoundError, RejectedError } from '../errors.ts';
import { projectNode, projectPod } from '../core/fields.ts';
import { decodeNodeList, decodePodList } from './protobuf.ts';
import { goJson } from '../core/go-json.ts';
import { daemonSetKinds, type DaemonSetKind, type EventToRecord, type ObjectRef } from '../core/model.ts';
import { daemonSetKindOf, nodeNameError } from '../core/refs.ts';
import { createLeaseProtocols, type LeaseProtocols } from './leases.ts';
import { createCalls, listAll, listAllAt, type CallTiming } from './calls.ts';
import type { Transport } from './transport.ts';

export { createCalls, type Calls } from './calls.ts';

/** A pod as a metadata-only list gives it (PartialObjectMetadata): enough to claim or release, not to plan. */
export interface PodMetadata {
  metadata?: V1Pod['metadata'];
}

/** The kinds whose controller reference daemonless adopts and releases. */
export type OwnedResource = 'pods' | 'controllerrevisions';

export interface Cluster extends LeaseProtocols {
  getNode(name: string): Promise<V1Node | null>;
  /** Every node, with the resourceVersion the list was read at (`ReadAt`). */
  listNodes(): Promise<ReadAt<V1Node>>;
  /** A DaemonSet of the given kind (default apps/v1 DaemonSet), as a DaemonSet-shaped object with its apiVersion/kind. */
  getDaemonSet(namespace: string, name: string, kind?: DaemonSetKind): Promise<V1DaemonSet | null>;
  /**
   * Every DaemonSet of the kinds this port manages (CallOptions.kinds), all namespaces; or, with `scope`, of one kind
   * and/or in one namespace.
   */
  listDaemonSets(scope?: { kind?: DaemonSetKind; namespace?: string }): Promise<V1DaemonSet[]>;
  getPod(namespace: string, name: string): Promise<V1Pod | null>;
  /** Nodes and pods from lists carry only the fields the core reads (core/fields.ts). */
  /**
   * Pods bound to the node (fieldSelector spec.nodeName), all namespaces, and the resourceVersion of the list. `again`:
   * a second list of the same node in one pass (counted as "relist pods" in the pass's log).
   */
  listPodsOnNode(nodeName: string, again?: boolean): Promise<PodList>;
  /** Pods not yet bound to any node, all namespaces, and the resourceVersion of the list. */
  listUnscheduledPods(): Promise<PodList>;
  /** Pods in one namespace (or all, when undefined), optionally by label selector, with the list's resourceVersion. */
  listPods(namespace?: string, labelSelector?: string): Promise<ReadAt<V1Pod>>;
  /** The metadata of the pods in a namespace, optionally by label selector (PartialObjectMetadataList): owners, labels, names, UIDs. */
  listPodMetadata(namespace: string, labelSelector?: string): Promise<PodMetadata[]>;
  /** ControllerRevisions in one namespace (or all, when undefined). */
  listControllerRevisions(namespace?: string): Promise<V1ControllerRevision[]>;

  /**
   * Idempotent: an existing pod of the same name answers 'exists' (the caller decides whether it is the same pod). A
   * created pod comes with the resourceVersion the API server stored it at.
   */
  createPod(pod: V1Pod): Promise<{ outcome: 'created' | 'exists'; resourceVersion?: string }>;
  /** Guarded by a UID precondition: a pod that is gone, or was replaced by a same-named one, is left alone. */
  deletePod(pod: ObjectRef, gracePeriodSeconds?: number): Promise<'deleted' | 'gone'>;
  /**
   * Adopts an orphan: adds `owner` as its controller reference (upstream's ClaimObject patch), a strategic merge patch
   * on `ownerReferences` by UID (other owners' references stay), with the object's UID as precondition.
   */
  adopt(resource: OwnedResource, obj: ObjectRef, owner: V1OwnerReference): Promise<'done' | 'gone'>;
  /** Releases: removes only the reference to `ownerUid`, the same way. */
  release(resource: OwnedResource, obj: ObjectRef, ownerUid: string): Promise<'done' | 'gone'>;
  /** Merge-patches pod labels, guarded by the pod UID. */
  labelPod(pod: ObjectRef, labels: Record<string, string>): Promise<'done' | 'gone'>;
  /** Best effort: an Event that cannot be written is logged by the caller, never fails a reconcile. */
  recordEvent(event: EventToRecord, now: Date): Promise<void>;
  /** Writes status with the resourceVersion the DaemonSet was read at; a conflict surfaces as ConflictError. */
  updateDaemonSetStatus(daemonSet: V1DaemonSet, status: V1DaemonSetStatus): Promise<void>;
  /** Writes status.collisionCount if the stored count is still `observed` (resourceVersion-guarded). */
  bumpCollisionCount(daemonSet: ObjectRef, observed: number): Promise<void>;

  /**
   * Creates a revision, its `data` written in Go's canonical JSON (core/go-json.ts: upstream's getPatch bytes); on
   * AlreadyExists returns the existing one (the caller compares data: a hash collision).
   */
  createControllerRevision(revision: V1ControllerRevision): Promise<{ created: true } | { created: false; existing: V1ControllerRevision }>;
  /** JSON merge patch of a revision's hash label or revision number. */
  patchControllerRevision(namespace: string, name: string, patch: object): Promise<'done' | 'gone'>;
  deleteControllerRevision(namespace: string, name: string): Promise<'deleted' | 'gone'>;

  /** API requests made through this port so far. */
  requestCount(): number;
  /** The same, by kind of request ("list pods", "create pod", "update status", …). */
  requestsByKind(): Record<string, number>;
  /** Requests that failed transiently so far (each attempt), retried or not. */
  transientFailures(): number;
}

export interface CallOptions extends CallTiming {
  /** The DaemonSet kinds `listDaemonSets` returns; default apps/v1 DaemonSet only. */
  kinds?: readonly DaemonSetKind[];
  /** The namespace of daemonless's own Leases (src/k8s/leases.ts); default `daemonless-system`. */
  leaseNamespace?: string;
  /** How nodes and pods are listed: `protobuf` (default; src/k8s/protobuf.ts) or `json` (LIST_ENCODING). */
  listEncoding?: ListEncoding;
}

export type ListEncoding = 'protobuf' | 'json';

const STRATEGIC = 'application/strategic-merge-patch+json';
const MERGE = 'application/merge-patch+json';
const METADATA_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';
const enc = encodeURIComponent;

/** Refuses a node name that is not a DNS-1123 subdomain before it reaches a URL or a field selector. */
function checkedNodeName(name: string): string {
  const problem = nodeNameError(name);
  if (problem !== null) throw new BadRequestError(`node name ${JSON.stringify(name)} ${problem}`);
  return name;
}

/**
 * Nodes and pods listed for their projection come in protobuf, decoded straight into it (src/k8s/protobuf.ts): the
 * API server encodes them with its generated marshallers instead of reflection, and no unread field is parsed.
 */
function protobufFor(project: ((item: never) => unknown) | undefined, encoding: ListEncoding): { decode?: (body: Uint8Array) => unknown } {
  if (encoding === 'json') return {};
  if (project === projectNode) return { decode: decodeNodeList };
  if (project === projectPod) return { decode: decodePodList };
  return {};
}

/**
 * A list's items and, where the port knows it, the resourceVersion the list was read at (compared: core/versions.ts
 * `readNoEarlier`). The version rides on the array itself, so a caller that only wants the items takes it as one; a
 * copy (`filter`, spread) drops it, and a pass without it only loses what it would have recorded (core/status.ts
 * `withCounted`).
 */
export type ReadAt<T> = T[] & { readonly resourceVersion?: string };

/** `items` as a `ReadAt` list read at `resourceVersion`. */
export function readAt<T>(items: T[], resourceVersion: string | undefined): ReadAt<T> {
  return resourceVersion === undefined ? items : Object.assign(items, { resourceVersion });
}

/** The pods of a list by node, and the resourceVersion it was read at (compared: core/versions.ts `readNoEarlier`). */
export interface PodList {
  pods: V1Pod[];
  resourceVersion?: string | undefined;
}

export function createCluster(transport: Transport, options: CallOptions): Cluster {
  // Per invocation: a long-lived server runs several invocations at once over the same transport.
  const calls = createCalls(transport, options);
  const { call, orNull } = calls;
  const list = <T>(what: string, path: string, query: Record<string, string | undefined>, accept?: string, project?: (item: T) => T): Promise<T[]> =>
    listAll(transport, calls, { what, path, query, ...(accept ? { accept } : {}), ...protobufFor(project, options.listEncoding ?? 'protobuf') }, project);
  const listAt = async <T>(what: string, path: string, query: Record<string, string | undefined>, project: (item: T) => T): Promise<ReadAt<T>> => {
    const listed = await listAllAt(transport, calls, { what, path, query, ...protobufFor(project, options.listEncoding ?? 'protobuf') }, project);
    return readAt(listed.items, listed.resourceVersion);
  };
  const podList = async (what: string, fieldSelector: string): Promise<PodList> => {
    const listed = await listAllAt<V1Pod>(transport, calls, { what, path: 'api/v1/pods', query: { fieldSelector }, ...protobufFor(projectPod, options.listEncoding ?? 'protobuf') }, projectPod);
    return { pods: listed.items, resourceVersion: listed.resourceVersion };
  };
  /**
   * 404 (gone), 409 (UID precondition failed) and, for a patch carrying the UID, 422 on `metadata.uid` (the API server
   * answers a patch whose UID differs from the stored one "field is immutable") all mean the same here: the object we
   * decided about was replaced or removed.
   */
  const unlessGone = async <T extends string>(done: T, write: Promise<unknown>): Promise<T | 'gone'> => {
    try {
      await write;
      return done;
    } catch (error) {
      if (error instanceof NotFoundError || error instanceof ConflictError) return 'gone';
      if (error instanceof RejectedError && error.apiStatus === 422 && /metadata\.uid/.test(error.message)) return 'gone';
      throw error;
    }
  };
  const podPath = (namespace: string, name?: string) => `api/v1/namespaces/${enc(namespace)}/pods${name === undefined ? '' : `/${enc(name)}`}`;
  const dsBase = (kind: DaemonSetKind) => `apis/${daemonSetKinds[kind].group}/${daemonSetKinds[kind].version}`;
  const dsPath = (namespace: string, name: string, kind: DaemonSetKind = 'DaemonSet') =>
    `${dsBase(kind)}/namespaces/${enc(namespace)}/${daemonSetKinds[kind].plural}/${enc(name)}`;
  const kinds = options.kinds ?? ['DaemonSet'];
  const revPath = (namespace: string, name?: string) =>
    `apis/apps/v1/namespaces/${enc(namespace)}/controllerrevisions${name === undefined ? '' : `/${enc(name)}`}`;
  const patchOwners = (resource: OwnedResource, obj: ObjectRef, entry: object, verb: string) =>
    unlessGone(
      'done' as const,
      call({
        method: 'PATCH',
        path: resource === 'pods' ? podPath(obj.namespace, obj.name) : revPath(obj.namespace, obj.name),
        contentType: STRATEGIC,
        // The UID in the patch is a precondition: it fails if the object was replaced by a same-named one.
        body: { metadata: { uid: obj.uid, ownerReferences: [entry] } },
        what: `${verb} ${resource} ${obj.namespace}/${obj.name}`,
      }),
    );
  // List items carry no apiVersion/kind; the core reads them (owner references, which status to write).
  const asDaemonSet = (kind: DaemonSetKind) => (ds: V1DaemonSet): V1DaemonSet => ({ ...ds, apiVersion: daemonSetKinds[kind].apiVersion, kind });

  return {
    getNode: (name) => orNull<V1Node>({ method: 'GET', path: `api/v1/nodes/${enc(checkedNodeName(name))}`, what: `get node ${name}` }),
    listNodes: () => listAt<V1Node>('list nodes', 'api/v1/nodes', {}, projectNode),
    getDaemonSet: async (namespace, name, kind = 'DaemonSet') => {
      const ds = await orNull<V1DaemonSet>({ method: 'GET', path: dsPath(namespace, name, kind), what: `get ${kind} ${namespace}/${name}` });
      return ds && asDaemonSet(kind)(ds);
    },
    listDaemonSets: async (scope = {}) =>
      (
        await Promise.all(
          (scope.kind ? [scope.kind] : kinds).map(async (kind) => {
            const { plural } = daemonSetKinds[kind];
            const path = scope.namespace ? `${dsBase(kind)}/namespaces/${enc(scope.namespace)}/${plural}` : `${dsBase(kind)}/${plural}`;
            return (await list<V1DaemonSet>(`list ${plural}${scope.namespace ? ` in ${scope.namespace}` : ''}`, path, {})).map(asDaemonSet(kind));
          }),
        )
      ).flat(),
    getPod: (namespace, name) => orNull<V1Pod>({ method: 'GET', path: podPath(namespace, name), what: `get pod ${namespace}/${name}` }),
    listPodsOnNode: (nodeName, again) => podList(`${again ? 'relist' : 'list'} pods on ${nodeName}`, `spec.nodeName=${checkedNodeName(nodeName)}`),
    listUnscheduledPods: () => podList('list unscheduled pods', 'spec.nodeName='),
    listPods: (namespace, labelSelector) =>
      listAt<V1Pod>(`list pods${namespace ? ` in ${namespace}` : ''}`, namespace ? podPath(namespace) : 'api/v1/pods', { labelSelector }, projectPod),
    listPodMetadata: (namespace, labelSelector) => list<PodMetadata>(`list pod-metadata in ${namespace}`, podPath(namespace), { labelSelector }, METADATA_LIST),
    listControllerRevisions: (namespace) =>
      list<V1ControllerRevision>(`list controllerrevisions${namespace ? ` in ${namespace}` : ''}`, namespace ? revPath(namespace) : 'apis/apps/v1/controllerrevisions', {}),

    async createPod(pod) {
      const namespace = pod.metadata?.namespace ?? 'default';
      try {
        const created = await call<V1Pod>({ method: 'POST', path: podPath(namespace), body: pod, what: `create pod ${namespace}/${pod.metadata?.name}`, fromView: true });
        const resourceVersion = created?.metadata?.resourceVersion;
        return { outcome: 'created', ...(resourceVersion ? { resourceVersion } : {}) };
      } catch (error) {
        if (error instanceof ConflictError && error.reason === 'AlreadyExists') return { outcome: 'exists' };
        throw error;
      }
    },
    deletePod: (pod, gracePeriodSeconds) =>
      unlessGone(
        'deleted',
        call({
          method: 'DELETE',
          path: podPath(pod.namespace, pod.name),
          body: { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid: pod.uid }, ...(gracePeriodSeconds === undefined ? {} : { gracePeriodSeconds }) },
          what: `delete pod ${pod.namespace}/${pod.name}`,
          fromView: true,
        }),
      ),
    adopt: (resource, obj, owner) => patchOwners(resource, obj, owner, 'adopt'),
    release: (resource, obj, ownerUid) => patchOwners(resource, obj, { $patch: 'delete', uid: ownerUid }, 'release'),
    labelPod: (pod, labels) =>
      unlessGone(
        'done',
        call({ method: 'PATCH', path: podPath(pod.namespace, pod.name), contentType: MERGE, body: { metadata: { uid: pod.uid, labels } }, what: `label pod ${pod.namespace}/${pod.name}` }),
      ),
    async recordEvent(event, now) {
      const { daemonSet } = event;
      await call({
        method: 'POST',
        path: `api/v1/namespaces/${enc(daemonSet.namespace)}/events`,
        body: {
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { generateName: `${daemonSet.name}.`, namespace: daemonSet.namespace },
          involvedObject: {
            apiVersion: daemonSetKinds[daemonSet.kind ?? 'DaemonSet'].apiVersion,
            kind: daemonSet.kind ?? 'DaemonSet',
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
          firstTimestamp: now.toISOString(),
          lastTimestamp: now.toISOString(),
          count: 1,
        },
        what: `record event ${event.reason}`,
      });
    },
    async updateDaemonSetStatus(daemonSet, status) {
      const namespace = daemonSet.metadata?.namespace ?? 'default';
      const name = daemonSet.metadata?.name ?? '';
      const kind = daemonSetKindOf(daemonSet);
      await call({ method: 'PUT', path: `${dsPath(namespace, name, kind)}/status`, body: { ...daemonSet, status }, what: `update status of ${kind} ${namespace}/${name}` });
    },
    async bumpCollisionCount(daemonSet, observed) {
      const { namespace, name } = daemonSet;
      const path = `${dsPath(namespace, name, daemonSet.kind)}/status`;
      const what = `bump collisionCount of ${daemonSet.kind ?? 'DaemonSet'} ${namespace}/${name}`;
      const ds = await call<V1DaemonSet>({ method: 'GET', path, what });
      // Stale: someone bumped it already; the next sync hashes with the new count.
      if ((ds.status?.collisionCount ?? 0) !== observed) return;
      const status = { ...ds.status, collisionCount: observed + 1 };
      await call({ method: 'PUT', path, body: { ...ds, status }, what });
    },

    async createControllerRevision(revision) {
      const namespace = revision.metadata?.namespace ?? 'default';
      const name = revision.metadata?.name ?? '';
      const { data, ...rest } = revision;
      // `data` in Go's bytes, spliced into the JSON text: JSON.stringify would order and escape it differently.
      const body = `${JSON.stringify(rest).slice(0, -1)},"data":${goJson(data ?? null)}}`;
      try {
        await call({ method: 'POST', path: revPath(namespace), body, what: `create controllerrevision ${namespace}/${name}` });
        return { created: true };
      } catch (error) {
        if (!(error instanceof ConflictError && error.reason === 'AlreadyExists')) throw error;
        const existing = await call<V1ControllerRevision>({ method: 'GET', path: revPath(namespace, name), what: `get controllerrevision ${namespace}/${name}` });
        return { created: false, existing };
      }
    },
    patchControllerRevision: (namespace, name, patch) =>
      unlessGone('done', call({ method: 'PATCH', path: revPath(namespace, name), contentType: MERGE, body: patch, what: `patch controllerrevision ${namespace}/${name}` })),
    deleteControllerRevision: (namespace, name) =>
      unlessGone('deleted', call({ method: 'DELETE', path: revPath(namespace, name), what: `delete controllerrevision ${namespace}/${name}` })),

    ...createLeaseProtocols(calls, options.leaseNamespace ?? 'daemonless-system'),
    requestCount: calls.count,
    requestsByKind: calls.byKind,
    transientFailures: calls.failures,
  };
}
