/**
 * What a Kubernetes API request is, from its method and URL alone: the verb, resource, subresource, namespace and name,
 * as kube-apiserver's RequestInfoFactory (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go) derives them for
 * authorization. Pure, so the fault rules that match on it are unit-tested without a server.
 */

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';
export const verbs: readonly Verb[] = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'];

export interface RequestInfo {
  /** False for paths outside /api and /apis (e.g. /version, /healthz, /openapi/v3). */
  readonly isResourceRequest: boolean;
  /** A Kubernetes verb for resource requests; the lower-case HTTP method otherwise. */
  readonly verb: Verb | string;
  /** '' for the core group. */
  readonly apiGroup: string;
  readonly apiVersion: string;
  readonly namespace: string;
  /** e.g. 'pods'; '' for non-resource requests. */
  readonly resource: string;
  /** e.g. 'status', 'eviction'; '' when none. */
  readonly subresource: string;
  readonly name: string;
  /** The request path without its query. */
  readonly path: string;
}

// requestinfo.go: "namespaces/{name}/status" and "namespaces/{name}/finalize" address the namespace itself.
const namespaceSubresources = new Set(['status', 'finalize']);

/** Port of RequestInfoFactory.NewRequestInfo (without the API prefix configuration: /api and /apis only). */
export function requestInfo(method: string, url: string): RequestInfo {
  const parsed = new URL(url, 'http://proxy.invalid');
  const path = parsed.pathname;
  const nonResource: RequestInfo = {
    isResourceRequest: false,
    verb: method.toLowerCase(),
    apiGroup: '',
    apiVersion: '',
    namespace: '',
    resource: '',
    subresource: '',
    name: '',
    path,
  };
  let parts = path.split('/').filter((p) => p !== '');
  let apiGroup = '';
  let apiVersion: string;
  if (parts[0] === 'api' && parts.length >= 3) {
    apiVersion = parts[1]!;
    parts = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 4) {
    apiGroup = parts[1]!;
    apiVersion = parts[2]!;
    parts = parts.slice(3);
  } else {
    return nonResource;
  }
  let watch = parsed.searchParams.get('watch') === 'true' || parsed.searchParams.get('watch') === '1';
  // The deprecated /watch/ path prefix.
  if (parts[0] === 'watch') {
    watch = true;
    parts = parts.slice(1);
  }
  let namespace = '';
  if (parts[0] === 'namespaces' && parts.length > 1) {
    namespace = parts[1]!;
    if (parts.length > 2 && !namespaceSubresources.has(parts[2]!)) parts = parts.slice(2);
  }
  const [resource = '', name = '', subresource = ''] = parts;
  return {
    isResourceRequest: true,
    verb: resourceVerb(method, name !== '', watch),
    apiGroup,
    apiVersion,
    namespace,
    resource,
    subresource,
    name,
    path,
  };
}

function resourceVerb(method: string, named: boolean, watch: boolean): Verb | string {
  switch (method.toUpperCase()) {
    case 'GET':
    case 'HEAD':
      return watch ? 'watch' : named ? 'get' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return named ? 'delete' : 'deletecollection';
    default:
      return method.toLowerCase();
  }
}

/** "list pods", "patch daemonsets/status", "get /version": how counters and logs name a request. */
export function describeRequest(info: RequestInfo): string {
  if (!info.isResourceRequest) return `${info.verb} ${info.path}`;
  return `${info.verb} ${info.resource}${info.subresource ? `/${info.subresource}` : ''}`;
}
