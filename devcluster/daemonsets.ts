/**
 * The DaemonSets the trials create, in either cluster mode: `native` (apps/v1 DaemonSets, the cluster's own DaemonSet
 * controller off) or `managed` (the cluster as EKS gives it: its own DaemonSet controller runs, and daemonless
 * reconciles ServerlessDaemonSets, `daemonless.dev/v1alpha1`, MANAGE=crd). Both kinds share the apps/v1 schema, so
 * scenarios, the checker, the delivery layer, the demo and the integration suite differ only in where the objects
 * live. Raw JSON through the project's transport: a ServerlessDaemonSet has no typed client.
 */
import type { KubeConfig, V1DaemonSet } from '@kubernetes/client-node';
import { daemonSetKinds, type DaemonSetKind } from '../src/core/model.ts';
import { NotFoundError } from '../src/errors.ts';
import { createTransport } from '../src/k8s/transport.ts';

export type ClusterMode = 'native' | 'managed';

/** The kind each mode's DaemonSets are (src/core/model.ts holds where each kind lives). */
const kindOf: Record<ClusterMode, DaemonSetKind> = { native: 'DaemonSet', managed: 'ServerlessDaemonSet' };

/** Where a mode's DaemonSets live: kind, apiVersion, group, version, plural. */
export function daemonSetKind(mode: ClusterMode) {
  const kind = kindOf[mode];
  return { kind, ...daemonSetKinds[kind] };
}

/** The `kind` of a pod's controller reference that names a DaemonSet of either kind. */
export const daemonSetOwnerKinds: ReadonlySet<string> = new Set(Object.keys(daemonSetKinds));

export interface DaemonSetList {
  items: V1DaemonSet[];
  metadata?: { resourceVersion?: string };
}

export interface DaemonSets {
  readonly kind: string;
  readonly apiVersion: string;
  /** The collection's path (for a watch), in one namespace or all. */
  path(namespace?: string): string;
  list(namespace?: string, labelSelector?: string): Promise<DaemonSetList>;
  /** The object as stored; undefined when there is none. */
  get(namespace: string, name: string): Promise<V1DaemonSet | undefined>;
  /** Creates `body` as this mode's kind (its apiVersion and kind replaced); the object as stored. */
  create(namespace: string, body: V1DaemonSet): Promise<V1DaemonSet>;
  /** Replaces the object with `body` (as this mode's kind); the object as stored. */
  replace(namespace: string, name: string, body: V1DaemonSet): Promise<V1DaemonSet>;
  /** A JSON merge patch; the object as stored. */
  mergePatch(namespace: string, name: string, body: object): Promise<V1DaemonSet>;
  /** Deletes with propagationPolicy Background (the garbage collector deletes the pods). */
  delete(namespace: string, name: string): Promise<void>;
  deleteCollection(namespace: string, labelSelector: string): Promise<void>;
}

export function daemonSets(kc: KubeConfig, mode: ClusterMode): DaemonSets {
  const k = daemonSetKind(mode);
  const transport = createTransport(kc, { requestTimeoutMs: 30_000 });
  const of = (body: V1DaemonSet): V1DaemonSet => ({ ...body, apiVersion: k.apiVersion, kind: k.kind });
  const collection = (namespace?: string) => `apis/${k.group}/${k.version}/${namespace ? `namespaces/${namespace}/` : ''}${k.plural}`;
  return {
    kind: k.kind,
    apiVersion: k.apiVersion,
    path: (namespace) => `/${collection(namespace)}`,
    list: (namespace, labelSelector) =>
      transport.send<DaemonSetList>({ method: 'GET', path: collection(namespace), query: { labelSelector }, what: `list ${k.plural}` }),
    get: async (namespace, name) => {
      try {
        return await transport.send<V1DaemonSet>({ method: 'GET', path: `${collection(namespace)}/${name}`, what: `get ${k.kind} ${namespace}/${name}` });
      } catch (error) {
        if (error instanceof NotFoundError) return undefined;
        throw error;
      }
    },
    create: (namespace, body) => transport.send<V1DaemonSet>({ method: 'POST', path: collection(namespace), body: of(body), what: `create ${k.kind}` }),
    replace: (namespace, name, body) =>
      transport.send<V1DaemonSet>({ method: 'PUT', path: `${collection(namespace)}/${name}`, body: of(body), what: `replace ${k.kind} ${namespace}/${name}` }),
    mergePatch: (namespace, name, body) =>
      transport.send<V1DaemonSet>({ method: 'PATCH', path: `${collection(namespace)}/${name}`, contentType: 'application/merge-patch+json', body, what: `patch ${k.kind} ${namespace}/${name}` }),
    delete: async (namespace, name) => {
      await transport.send({ method: 'DELETE', path: `${collection(namespace)}/${name}`, query: { propagationPolicy: 'Background' }, what: `delete ${k.kind} ${namespace}/${name}` });
    },
    deleteCollection: async (namespace, labelSelector) => {
      await transport.send({ method: 'DELETE', path: collection(namespace), query: { labelSelector, propagationPolicy: 'Background' }, what: `delete ${k.plural} ${labelSelector}` });
    },
  };
}
