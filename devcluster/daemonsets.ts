/**
 * The DaemonSets the trials create, in either cluster mode: `native` (apps/v1 DaemonSets, the cluster's own DaemonSet
 * controller off) or `managed` (the cluster as EKS gives it: its own DaemonSet controller runs, and daemonless
 * reconciles ServerlessDaemonSets, `daemonless.dev/v1alpha1`, MANAGE=crd). Both kinds share the apps/v1 schema, so
 * scenarios, the checker, the delivery layer and the demo differ only in where the objects live. Raw JSON through the project's
 * transport: a ServerlessDaemonSet has no typed client.
 */
import type { KubeConfig, V1DaemonSet } from '@kubernetes/client-node';
import { NotFoundError } from '../src/errors.ts';
import { createTransport } from '../src/k8s/transport.ts';

export type ClusterMode = 'native' | 'managed';

interface Kind {
  apiVersion: string;
  kind: string;
  group: string;
  version: string;
  plural: string;
}

const kinds: Record<ClusterMode, Kind> = {
  native: { apiVersion: 'apps/v1', kind: 'DaemonSet', group: 'apps', version: 'v1', plural: 'daemonsets' },
  managed: { apiVersion: 'daemonless.dev/v1alpha1', kind: 'ServerlessDaemonSet', group: 'daemonless.dev', version: 'v1alpha1', plural: 'serverlessdaemonsets' },
};

/** The `kind` of a pod's controller reference that names a DaemonSet of either kind. */
export const daemonSetOwnerKinds: ReadonlySet<string> = new Set(Object.values(kinds).map((k) => k.kind));

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
  mergePatch(namespace: string, name: string, body: object): Promise<void>;
  /** Deletes with propagationPolicy Background (the garbage collector deletes the pods). */
  delete(namespace: string, name: string): Promise<void>;
  deleteCollection(namespace: string, labelSelector: string): Promise<void>;
}

export function daemonSets(kc: KubeConfig, mode: ClusterMode): DaemonSets {
  const k = kinds[mode];
  const transport = createTransport(kc, { requestTimeoutMs: 30_000 });
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
    create: (namespace, body) =>
      transport.send<V1DaemonSet>({ method: 'POST', path: collection(namespace), body: { ...body, apiVersion: k.apiVersion, kind: k.kind }, what: `create ${k.kind}` }),
    mergePatch: async (namespace, name, body) => {
      await transport.send({ method: 'PATCH', path: `${collection(namespace)}/${name}`, contentType: 'application/merge-patch+json', body, what: `patch ${k.kind} ${namespace}/${name}` });
    },
    delete: async (namespace, name) => {
      await transport.send({ method: 'DELETE', path: `${collection(namespace)}/${name}`, query: { propagationPolicy: 'Background' }, what: `delete ${k.kind} ${namespace}/${name}` });
    },
    deleteCollection: async (namespace, labelSelector) => {
      await transport.send({ method: 'DELETE', path: collection(namespace), query: { labelSelector, propagationPolicy: 'Background' }, what: `delete ${k.plural} ${labelSelector}` });
    },
  };
}
