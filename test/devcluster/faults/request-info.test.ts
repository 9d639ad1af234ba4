import { describe, expect, it } from 'vitest';
import { describeRequest, requestInfo } from '../../../devcluster/faults/request-info.ts';

describe('requestInfo (port of RequestInfoFactory)', () => {
  it.each([
    // [method, url, verb, resource, subresource, namespace, name, apiGroup]
    ['GET', '/api/v1/nodes', 'list', 'nodes', '', '', '', ''],
    ['GET', '/api/v1/nodes/n1', 'get', 'nodes', '', '', 'n1', ''],
    ['GET', '/api/v1/pods?fieldSelector=spec.nodeName%3Dn1', 'list', 'pods', '', '', '', ''],
    ['GET', '/api/v1/namespaces/ns/pods', 'list', 'pods', '', 'ns', '', ''],
    ['GET', '/api/v1/namespaces/ns/pods?watch=true', 'watch', 'pods', '', 'ns', '', ''],
    ['GET', '/api/v1/watch/namespaces/ns/pods', 'watch', 'pods', '', 'ns', '', ''],
    ['POST', '/api/v1/namespaces/ns/pods', 'create', 'pods', '', 'ns', '', ''],
    ['DELETE', '/api/v1/namespaces/ns/pods/p', 'delete', 'pods', '', 'ns', 'p', ''],
    ['DELETE', '/api/v1/namespaces/ns/pods', 'deletecollection', 'pods', '', 'ns', '', ''],
    ['PATCH', '/api/v1/namespaces/ns/pods/p', 'patch', 'pods', '', 'ns', 'p', ''],
    ['POST', '/api/v1/namespaces/ns/pods/p/eviction', 'create', 'pods', 'eviction', 'ns', 'p', ''],
    ['PUT', '/apis/apps/v1/namespaces/ns/daemonsets/ds/status', 'update', 'daemonsets', 'status', 'ns', 'ds', 'apps'],
    ['GET', '/apis/apps/v1/daemonsets', 'list', 'daemonsets', '', '', '', 'apps'],
    ['PUT', '/apis/coordination.k8s.io/v1/namespaces/ns/leases/l', 'update', 'leases', '', 'ns', 'l', 'coordination.k8s.io'],
    // The namespace object itself, and its status subresource (namespaceSubresources in requestinfo.go).
    ['GET', '/api/v1/namespaces', 'list', 'namespaces', '', '', '', ''],
    ['GET', '/api/v1/namespaces/ns', 'get', 'namespaces', '', 'ns', 'ns', ''],
    ['PUT', '/api/v1/namespaces/ns/finalize', 'update', 'namespaces', 'finalize', 'ns', 'ns', ''],
  ])('%s %s → %s %s/%s in %s', (method, url, verb, resource, subresource, namespace, name, apiGroup) => {
    expect(requestInfo(method, url)).toMatchObject({ isResourceRequest: true, verb, resource, subresource, namespace, name, apiGroup });
  });

  it.each([
    ['GET', '/version'],
    ['GET', '/healthz'],
    ['GET', '/openapi/v3'],
    ['GET', '/api'],
    ['GET', '/apis/apps'],
  ])('%s %s is not a resource request', (method, url) => {
    expect(requestInfo(method, url)).toMatchObject({ isResourceRequest: false, verb: 'get', resource: '' });
  });

  it('names requests for counters', () => {
    expect(describeRequest(requestInfo('PATCH', '/apis/apps/v1/namespaces/a/daemonsets/b/status'))).toBe('patch daemonsets/status');
    expect(describeRequest(requestInfo('GET', '/version'))).toBe('get /version');
  });
});
