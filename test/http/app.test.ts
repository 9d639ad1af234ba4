import { describe, expect, it } from 'vitest';
import { ConflictError, RejectedError, TransientError } from '../../src/errors.ts';
import { daemonSetFingerprint, nodeFingerprint } from '../../src/core/fields.ts';
import { createBackgroundDefer } from '../../src/http/defer.ts';
import { reasons } from '../../src/http/hints-from-object.ts';
import { pendingOf } from '../../src/hints.ts';
import { nodeUnreadChange } from '../../src/http/intake/node-changes.ts';
import { fixture, fixtureText, json, postJson, testApp } from './support.ts';

const token = 'test-token-0123456789abcdef';
const bearer = { authorization: `Bearer ${token}` };
const secret = 'admission-secret-0123456789';

const node = (name: string) => ({ kind: 'node', name });
/** A node hint from the node's creation (Hint `created`). */
const createdNode = (name: string) => ({ kind: 'node', name, created: true, registered: expect.any(Object) });
/** A node hint from an AdmissionReview: it waits for the change to be stored (Hint `pending`). */
const admitted = (hint: object, before: string | null = expect.any(String)) => ({ ...hint, pending: { before, until: expect.any(Number) } });
const ds = (namespace: string, name: string, pods?: string[]) => ({ kind: 'daemonSet', namespace, name, ...(pods ? { pods } : {}) });

describe('POST /events/watch', () => {
  it('maps one watch event to a hint and answers with the HandleResult', async () => {
    const { app, calls } = testApp();
    const res = await app.request(postJson('/events/watch', fixtureText('watch-node-added.json')));
    expect(res.status).toBe(200);
    // ADDED: a creation or an existing node listed as the watch started, so not `created`.
    expect(calls).toEqual([[node('worker-8')]]);
    expect(await json(res)).toEqual({ accepted: 1, hints: 1, created: 1, deleted: 0, apiRequests: 3, ignored: [] });
  });

  it('reads newline-delimited events in one batch, ignoring BOOKMARK', async () => {
    const { app, calls } = testApp();
    const res = await app.request(postJson('/events/watch', fixtureText('watch-events.ndjson')));
    expect(res.status).toBe(200);
    // The two DaemonSet pods (worker-2, worker-3) map to their DaemonSet, like the DaemonSet's own event; the hint
    // names the two pods (the DaemonSet's own change names none).
    expect(calls).toEqual([[node('worker-1'), ds('kube-system', 'fluentd-elasticsearch', ['fluentd-elasticsearch-x7k2p', 'fluentd-elasticsearch-m4n5b']), node('worker-4')]]);
    expect((await json(res)).ignored).toEqual([{ reason: 'watch BOOKMARK event carries no change', count: 1 }]);
  });

  it('reads one pretty-printed event spanning many lines', async () => {
    const { app, calls } = testApp();
    const pretty = JSON.stringify({ type: 'DELETED', object: { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } } }, null, 2);
    const res = await app.request(postJson('/events/watch', pretty));
    expect(res.status).toBe(200);
    expect(calls).toEqual([[node('n1')]]);
  });

  it('reads pretty-printed events one after the other (kubectl get -w -o json --output-watch-events), and names a bad one', async () => {
    const { app, calls } = testApp();
    const event = (name: string, extra: object = {}) =>
      JSON.stringify({ type: 'MODIFIED', object: { apiVersion: 'v1', kind: 'Node', metadata: { name, annotations: { note: 'a "}{" in a string' }, ...extra } } }, null, 4);
    const res = await app.request(postJson('/events/watch', `${event('n1')}\n${event('n2')}\n`));
    expect(res.status).toBe(200);
    expect(calls).toEqual([[node('n1'), node('n2')]]);

    const bad = await app.request(postJson('/events/watch', `${event('n3')}\n${event('Not_A_Node')}\n`));
    expect(bad.status).toBe(400);
    expect((await json(bad)).issues).toEqual([{ path: 'document.2.object.metadata.name', message: expect.stringMatching(/^not a node name: /) }]);
    expect(calls).toHaveLength(1);
  });

  it('a 400 names at most 20 issues, each cut short: a large bad input is not echoed back', async () => {
    const { app, calls } = testApp();
    const long = 'x'.repeat(5_000);
    const many = await app.request(
      postJson('/events/watch', { type: 'ADDED', object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns' }, spec: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: Array.from({ length: 30 }, () => ({ matchFields: [{ key: 'metadata.name', operator: 'In', values: [`${long},`] }] })) } } } } } }),
    );
    expect(many.status).toBe(400);
    const text = await many.text();
    const issues = (JSON.parse(text) as { issues: { path: string; message: string }[] }).issues;
    expect(issues).toHaveLength(21);
    expect(issues[20]).toEqual({ path: '', message: '10 more issues' });
    expect(issues.every((i) => i.path.length <= 256 && i.message.length <= 256)).toBe(true);
    expect(text.length).toBeLessThan(20 * 600);
    expect(calls).toEqual([]);
  });

  it('dedupes hints from the same batch', async () => {
    const { app, calls } = testApp();
    const event = JSON.stringify({ type: 'MODIFIED', object: { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } } });
    await app.request(postJson('/events/watch', `${event}\n${event}\n`));
    expect(calls).toEqual([[node('n1')]]);
  });

  it('400 names the line and zod path of a bad event; nothing is handled', async () => {
    const { app, calls } = testApp();
    const good = JSON.stringify({ type: 'ADDED', object: { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } } });
    const bad = JSON.stringify({ type: 'ADDED', object: { apiVersion: 'v1', kind: 'Node', metadata: {} } });
    const res = await app.request(postJson('/events/watch', `${good}\n${bad}\n`));
    expect(res.status).toBe(400);
    const body = await json(res);
    expect(body.error).toBe('invalid watch event');
    expect(body.issues).toEqual([{ path: 'line.2.object.metadata.name', message: expect.stringContaining('expected string') }]);
    expect(calls).toEqual([]);
  });

  // Node names go into field selectors: `n0,spec.nodeName=n0` would read as another query (issue 12, item 9).
  it.each([
    ['a Node', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n0,spec.nodeName=n0' } }, 'object.metadata.name'],
    ['a Pod bound to it', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'd' }, spec: { nodeName: 'N0' } }, 'object.spec.nodeName'],
    [
      'a Pod aimed at it by affinity',
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'p', namespace: 'd' },
        spec: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['a=b'] }] }] } } } },
      },
      'object.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms.0.matchFields.0.values.0',
    ],
  ])('400 for %s with a name that is not a node name, naming the field; nothing is handled', async (_name, object, path) => {
    const { app, calls } = testApp();
    const res = await app.request(postJson('/events/watch', { type: 'ADDED', object }));
    expect(res.status).toBe(400);
    expect((await json(res)).issues).toEqual([{ path, message: expect.stringMatching(/^not a node name: /) }]);
    expect(calls).toEqual([]);
  });

  it('400 for an unknown event type, naming `type`', async () => {
    const { app } = testApp();
    const res = await app.request(postJson('/events/watch', { type: 'CHANGED', object: {} }));
    expect(res.status).toBe(400);
    expect((await json(res)).issues[0].path).toBe('type');
  });

  it('400 for a body that is not JSON', async () => {
    const { app } = testApp();
    const res = await app.request(postJson('/events/watch', '{nope'));
    expect(res.status).toBe(400);
    expect((await json(res)).error).toBe('invalid watch event: not JSON');
  });

  it('202 with the reason for kinds that are not handled', async () => {
    const { app, calls } = testApp();
    const event = { type: 'ADDED', object: { apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: 'd' } } };
    const res = await app.request(postJson('/events/watch', event));
    expect(res.status).toBe(202);
    expect(await json(res)).toEqual({ accepted: 0, ignored: [{ reason: 'v1 Service is not handled', count: 1 }] });
    expect(calls).toEqual([]);
  });
});

describe('POST /events/audit', () => {
  it('takes completed 2xx writes: responseObject, objectRef for deletes, the Binding for pods/binding', async () => {
    const { app, calls } = testApp();
    const res = await app.request(postJson('/events/audit', fixtureText('audit-eventlist.json')));
    expect(res.status).toBe(200);
    expect(calls).toEqual([
      [
        createdNode('worker-1'), // nodes create: responseObject (Hint `created`)
        // nodes/status patch of a condition: ignored, daemonless reads no node status (node-changes.ts)
        node('worker-3'), // nodes delete: the response is a Status, so the objectRef
        // pods create 409: skipped
        // pods/status patch of a DaemonSet pod: its DaemonSet, naming the pod; daemonsets create and an unbound
        // DaemonSet pod merge into it (the create names no pod, the pod its own name)
        ds('kube-system', 'fluentd-elasticsearch', ['fluentd-elasticsearch-x7k2p', 'fluentd-elasticsearch-m4n5b']),
        node('worker-4'), // pods/binding: requestObject.target
        // daemonsets delete: ignored; RequestReceived and configmaps: skipped
      ],
    ]);
    const body = await json(res);
    expect(body.ignored).toEqual([
      { reason: nodeUnreadChange, count: 1 },
      { reason: reasons.daemonSetDeleted, count: 1 },
    ]);
    expect(body.skipped).toBe(3);
  });

  it('a node patch of annotations only (the TTL controller) is ignored; one of taints or labels is delivered', async () => {
    const { app, calls } = testApp();
    const patchOf = (name: string, requestObject: object) =>
      auditEvent({ verb: 'patch', objectRef: { resource: 'nodes', name }, requestObject, responseObject: { apiVersion: 'v1', kind: 'Node', metadata: { name } } });
    const list = auditList([
      patchOf('ttl', { metadata: { annotations: { 'node.alpha.kubernetes.io/ttl': '60' } } }),
      patchOf('tainted', { metadata: { resourceVersion: '7' }, spec: { taints: null } }),
      patchOf('labelled', [{ op: 'add', path: '/metadata/labels/zone', value: 'a' }]),
      patchOf('applied', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'applied', annotations: { a: 'b' } } }),
    ]);
    const res = await app.request(postJson('/events/audit', list));
    expect(res.status).toBe(200);
    expect(calls).toEqual([[node('tainted'), node('labelled'), node('applied')]]);
    expect((await json(res)).ignored).toEqual([{ reason: nodeUnreadChange, count: 1 }]);
  });

  it('a pod deleted with its object in the response maps to its node', async () => {
    const { app, calls } = testApp();
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns' }, spec: { nodeName: 'w9' } };
    const list = auditList([auditEvent({ verb: 'delete', objectRef: { resource: 'pods', namespace: 'ns', name: 'p' }, responseObject: pod })]);
    expect((await app.request(postJson('/events/audit', list))).status).toBe(200);
    expect(calls).toEqual([[node('w9')]]);
  });

  // A revision delete answers with a Status: the DaemonSet its name implies (`<DaemonSet>-<hash>`), of either kind.
  it('a ControllerRevision deleted without its object maps to the DaemonSet its name implies', async () => {
    const { app, calls } = testApp();
    const list = auditList([
      auditEvent({ verb: 'delete', objectRef: { resource: 'controllerrevisions', apiGroup: 'apps', namespace: 'ns', name: 'fluentd-7d4b9c6f8' }, responseObject: { kind: 'Status', status: 'Success' } }),
      auditEvent({ verb: 'delete', objectRef: { resource: 'controllerrevisions', apiGroup: 'apps', namespace: 'ns', name: 'nodash' } }),
    ]);
    const res = await app.request(postJson('/events/audit', list));
    expect(res.status).toBe(200);
    expect(calls).toEqual([[
      { kind: 'daemonSet', namespace: 'ns', name: 'fluentd', pods: [] },
      { kind: 'daemonSet', namespace: 'ns', name: 'fluentd', type: 'ServerlessDaemonSet', pods: [] },
    ]]);
    expect((await json(res)).ignored).toEqual([{ reason: expect.stringMatching(/^ControllerRevision change without the stored object/), count: 1 }]);
  });

  it('a ControllerRevision with its object: an orphan names the DaemonSets that may adopt it, one of a StatefulSet nothing', async () => {
    const { app, calls } = testApp();
    const revision = (owner?: object) => ({
      apiVersion: 'apps/v1',
      kind: 'ControllerRevision',
      metadata: { name: 'loose-1', namespace: 'ns', labels: { app: 'agent' }, ...(owner ? { ownerReferences: [{ ...owner, uid: 'u', controller: true }] } : {}) },
      revision: 1,
    });
    const ref = { resource: 'controllerrevisions', apiGroup: 'apps', namespace: 'ns', name: 'loose-1' };
    const list = auditList([
      auditEvent({ verb: 'create', objectRef: ref, responseObject: revision() }),
      auditEvent({ verb: 'patch', objectRef: ref, responseObject: revision({ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db' }) }),
    ]);
    const res = await app.request(postJson('/events/audit', list));
    expect(res.status).toBe(200);
    expect(calls).toEqual([[{ kind: 'orphan', resource: 'controllerrevisions', namespace: 'ns', name: 'loose-1', labels: { app: 'agent' } }]]);
  });

  it('pods/binding without requestObject is ignored with a reason', async () => {
    const { app } = testApp();
    const list = auditList([
      auditEvent({ verb: 'create', objectRef: { resource: 'pods', namespace: 'ns', name: 'p', subresource: 'binding' } }),
    ]);
    const res = await app.request(postJson('/events/audit', list));
    expect(res.status).toBe(202);
    expect((await json(res)).ignored[0].reason).toMatch(/^pods\/binding without requestObject/);
  });

  it('only skipped events: 202 with the count', async () => {
    const { app, calls } = testApp();
    const list = auditList([
      auditEvent({ verb: 'get', objectRef: { resource: 'nodes', name: 'n' } }),
      auditEvent({ verb: 'update', objectRef: { resource: 'secrets', namespace: 'd', name: 's' } }),
      auditEvent({ verb: 'update', objectRef: { resource: 'daemonsets', apiGroup: 'apps', namespace: 'd', name: 'x', subresource: 'status' } }),
      auditEvent({ verb: 'patch', objectRef: { resource: 'nodes', name: 'n' }, code: 422 }),
    ]);
    const res = await app.request(postJson('/events/audit', list));
    expect(res.status).toBe(202);
    expect(await json(res)).toEqual({ accepted: 0, ignored: [], skipped: 4 });
    expect(calls).toEqual([]);
  });

  it('400 names items.N.objectRef.name when a delete names nothing', async () => {
    const { app, calls } = testApp();
    const list = auditList([
      auditEvent({ verb: 'delete', objectRef: { resource: 'nodes', name: 'fine' } }),
      auditEvent({ verb: 'delete', objectRef: { resource: 'nodes' } }),
    ]);
    const res = await app.request(postJson('/events/audit', list));
    expect(res.status).toBe(400);
    expect((await json(res)).issues).toEqual([{ path: 'items.1.objectRef.name', message: expect.any(String) }]);
    expect(calls).toEqual([]);
  });

  it('a create whose objectRef has no name (generateName, level Metadata) is ignored with a reason, and the rest of the batch handled', async () => {
    const { app, calls } = testApp();
    const list = auditList([
      auditEvent({ verb: 'create', objectRef: { resource: 'nodes', name: 'n1' } }),
      { ...auditEvent({ verb: 'create', objectRef: { resource: 'pods', namespace: 'ns' }, code: 201 }), level: 'Metadata' },
      { ...auditEvent({ verb: 'create', objectRef: { resource: 'daemonsets', apiGroup: 'apps', namespace: 'ns' }, code: 201 }), level: 'Metadata' },
    ]);
    const res = await app.request(postJson('/events/audit', list));
    expect(res.status).toBe(200);
    expect(calls).toEqual([[{ ...node('n1'), created: true }]]);
    expect((await json(res)).ignored).toEqual([{ reason: expect.stringMatching(/^create names no object \(generateName/), count: 2 }]);
  });

  it('deletecollection: the items of a built-in kind list, which carry no apiVersion or kind, map as their kind', async () => {
    const { app, calls } = testApp();
    const podList = {
      apiVersion: 'v1',
      kind: 'PodList',
      metadata: {},
      items: [
        { metadata: { name: 'p1', namespace: 'ns' }, spec: { nodeName: 'w1' } },
        { metadata: { name: 'p2', namespace: 'ns' }, spec: { nodeName: 'w2' } },
      ],
    };
    const list = auditList([auditEvent({ verb: 'deletecollection', objectRef: { resource: 'pods', namespace: 'ns' }, responseObject: podList })]);
    const res = await app.request(postJson('/events/audit', list));
    expect(res.status).toBe(200);
    expect(calls).toEqual([[node('w1'), node('w2')]]);
  });

  it('a pod whose controller names no possible DaemonSet is ignored, not refused: the API server stores any owner name', async () => {
    const { app, calls } = testApp();
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', namespace: 'ns', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'Not_A_DNS_Name', uid: 'x', controller: true }] },
      spec: { nodeName: 'w1' },
    };
    const list = auditList([
      auditEvent({ verb: 'create', objectRef: { resource: 'nodes', name: 'n1' } }),
      auditEvent({ verb: 'create', objectRef: { resource: 'pods', namespace: 'ns', name: 'p' }, responseObject: pod }),
    ]);
    const res = await app.request(postJson('/events/audit', list));
    expect(res.status).toBe(200);
    expect(calls).toEqual([[{ ...node('n1'), created: true }]]);
    expect((await json(res)).ignored).toEqual([{ reason: 'pod controlled by a DaemonSet of a name no DaemonSet can have', count: 1 }]);
  });

  it('400 names items.N.objectRef.name when a node event names something that is not a node name', async () => {
    const { app, calls } = testApp();
    const res = await app.request(postJson('/events/audit', auditList([auditEvent({ verb: 'delete', objectRef: { resource: 'nodes', name: 'n0,spec.nodeName=n0' } })])));
    expect(res.status).toBe(400);
    expect((await json(res)).issues).toEqual([{ path: 'items.0.objectRef.name', message: expect.stringMatching(/^not a node name: /) }]);
    expect(calls).toEqual([]);
  });

  it('400 for something that is not an EventList', async () => {
    const { app } = testApp();
    const res = await app.request(postJson('/events/audit', { apiVersion: 'audit.k8s.io/v1', kind: 'Event' }));
    expect(res.status).toBe(400);
    expect((await json(res)).issues[0].path).toBe('kind');
  });
});

describe('POST /events/cloudevents', () => {
  it('binary mode, Resource mode: the object in the body', async () => {
    const { app, calls } = testApp();
    const { headers, body } = fixture('knative-binary-node-update.json');
    const res = await app.request(postJson('/events/cloudevents', body, headers));
    expect(res.status).toBe(200);
    expect(calls).toEqual([[node('worker-9')]]);
  });

  it('binary mode, Reference mode: an ObjectReference naming a node', async () => {
    const { app, calls } = testApp();
    const { headers, body } = fixture('knative-binary-ref-node-delete.json');
    const res = await app.request(postJson('/events/cloudevents', body, headers));
    expect(res.status).toBe(200);
    expect(calls).toEqual([[node('worker-10')]]);
  });

  it('structured mode (application/cloudevents+json)', async () => {
    const { app, calls } = testApp();
    const res = await app.request(
      postJson('/events/cloudevents', fixtureText('knative-structured-pod-add.json'), {
        'content-type': 'application/cloudevents+json; charset=utf-8',
      }),
    );
    expect(res.status).toBe(200);
    // A DaemonSet's pod: its DaemonSet, naming the pod.
    expect(calls).toEqual([[ds('kube-system', 'fluentd-elasticsearch', ['fluentd-elasticsearch-m4n5b'])]]);
  });

  it('batch mode, with data_base64', async () => {
    const { app, calls } = testApp();
    const first = fixture('knative-structured-pod-add.json');
    const ref = { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'fluentd', namespace: 'kube-system' };
    const second = {
      ...first,
      id: 'x',
      type: 'dev.knative.apiserver.ref.update',
      data: undefined,
      data_base64: Buffer.from(JSON.stringify(ref)).toString('base64'),
    };
    const res = await app.request(
      postJson('/events/cloudevents', [first, second], { 'content-type': 'application/cloudevents-batch+json' }),
    );
    expect(res.status).toBe(200);
    expect(calls).toEqual([[ds('kube-system', 'fluentd-elasticsearch', ['fluentd-elasticsearch-m4n5b']), ds('kube-system', 'fluentd', [])]]);
  });

  it.each([
    ['a namespace that is a path segment', { namespace: '..', name: 'fluentd' }, 'data.namespace'],
    ['a name that is a path segment', { namespace: 'kube-system', name: '..' }, 'data.name'],
    ['a name with a selector in it', { namespace: 'kube-system', name: 'a,b=c' }, 'data.name'],
  ])('400 for a DaemonSet reference with %s; nothing is handled', async (_name, ref, path) => {
    const { app, calls } = testApp();
    const event = { ...fixture('knative-structured-pod-add.json'), type: 'dev.knative.apiserver.ref.update', data: { apiVersion: 'apps/v1', kind: 'DaemonSet', ...ref } };
    const res = await app.request(postJson('/events/cloudevents', event, { 'content-type': 'application/cloudevents+json' }));
    expect(res.status).toBe(400);
    expect((await json(res)).issues.map((i: { path: string }) => i.path)).toEqual([path]);
    expect(calls).toEqual([]);
  });

  it('a pod reference names no node: 202 with the reason', async () => {
    const { app } = testApp();
    const { headers } = fixture('knative-binary-ref-node-delete.json');
    const res = await app.request(
      postJson('/events/cloudevents', { kind: 'Pod', name: 'p', namespace: 'ns', apiVersion: 'v1' }, headers),
    );
    expect(res.status).toBe(202);
    expect((await json(res)).ignored).toEqual([{ reason: reasons.podWithoutNode, count: 1 }]);
  });

  it('other event types: 202 with the reason', async () => {
    const { app } = testApp();
    const { headers, body } = fixture('knative-binary-node-update.json');
    const res = await app.request(postJson('/events/cloudevents', body, { ...headers, 'ce-type': 'dev.knative.sources.ping' }));
    expect(res.status).toBe(202);
    expect((await json(res)).ignored[0].reason).toBe('CloudEvent type dev.knative.sources.ping is not handled');
  });

  it('percent-encoded and quoted header values are decoded', async () => {
    const { app } = testApp();
    const { headers, body } = fixture('knative-binary-node-update.json');
    const res = await app.request(
      postJson('/events/cloudevents', body, { ...headers, 'ce-type': '"dev.knative.apiserver.resource%2Eupdate"' }),
    );
    expect(res.status).toBe(200);
  });

  it('400 names the missing header in binary mode', async () => {
    const { app } = testApp();
    const { headers, body } = fixture('knative-binary-node-update.json');
    const { 'ce-type': _dropped, ...rest } = headers;
    const res = await app.request(postJson('/events/cloudevents', body, rest));
    expect(res.status).toBe(400);
    expect((await json(res)).issues[0].path).toBe('headers.ce-type');
  });

  it('a binary-mode event of another type is ignored (202) whatever its data; of a type it reads, data not JSON is 415', async () => {
    const { app, calls } = testApp();
    const { headers } = fixture('knative-binary-node-update.json');
    const post = (type: string | undefined, contentType: string, body: string) => {
      const { 'ce-type': _type, 'content-type': _contentType, ...rest } = headers;
      return app.request(postJson('/events/cloudevents', body, { ...rest, ...(type === undefined ? {} : { 'ce-type': type }), 'content-type': contentType }));
    };
    const ping = await post('dev.knative.sources.ping', 'text/plain', '['.repeat(1000));
    expect(ping.status).toBe(202);
    expect((await json(ping)).ignored).toEqual([{ reason: 'CloudEvent type dev.knative.sources.ping is not handled', count: 1 }]);
    expect((await post('dev.knative.apiserver.resource.update', 'text/plain', 'hello')).status).toBe(415);
    const untyped = await post(undefined, 'text/plain', 'hello');
    expect(untyped.status).toBe(400);
    expect((await json(untyped)).issues[0].path).toBe('headers.ce-type');
    expect(calls).toEqual([]);
  });

  it('415 when the request is no CloudEvent at all (plain JSON, no ce-* headers)', async () => {
    const { app } = testApp();
    const res = await app.request(postJson('/events/cloudevents', { hello: 'world' }));
    expect(res.status).toBe(415);
    expect((await json(res)).error).toMatch(/send application\/cloudevents\+json/);
  });

  it('400 names the data path of a bad object', async () => {
    const { app, calls } = testApp();
    const { headers, body } = fixture('knative-binary-node-update.json');
    const res = await app.request(postJson('/events/cloudevents', { ...body, metadata: {} }, headers));
    expect(res.status).toBe(400);
    expect((await json(res)).issues[0].path).toBe('data.metadata.name');
    expect(calls).toEqual([]);
  });
});

describe('POST /events/admission', () => {
  it('answers allowed:true with the echoed uid, then reconciles the node being created', async () => {
    const { app, calls, deferred } = testApp();
    const review = fixture('admission-node-create.json');
    const res = await app.request(postJson('/events/admission?timeout=10s', review));
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true },
    });
    // Handled at once, and again until the pass sees the node stored (Hint `pending`: there was none before).
    expect(deferred).toEqual([{ hints: [admitted(createdNode('worker-7'), null)], delayMs: 0 }]);
    expect(calls).toEqual([[admitted(createdNode('worker-7'), null)]]);
  });

  it('DELETE carries only oldObject: the deleted DaemonSet pod’s DaemonSet', async () => {
    const { app, calls } = testApp();
    const res = await app.request(postJson('/events/admission', fixture('admission-pod-delete.json')));
    expect((await json(res)).response).toEqual({ uid: 'c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f', allowed: true });
    // A deleted pod needs no release check: none named.
    expect(calls).toEqual([[ds('kube-system', 'fluentd-elasticsearch', [])]]);
  });

  it('a node UPDATE that changes only what daemonless does not read is ignored; a taint change is delivered', async () => {
    const { app, calls } = testApp();
    const before = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'w1', uid: 'u', labels: { zone: 'a' } }, spec: { taints: [{ key: 'k', effect: 'NoSchedule' }] } };
    const annotated = { ...before, metadata: { ...before.metadata, annotations: { 'node.alpha.kubernetes.io/ttl': '0' } }, status: { conditions: [] } };
    const untainted = { ...before, spec: {} };
    const first = await app.request(postJson('/events/admission', admissionReview({ operation: 'UPDATE', oldObject: before, object: annotated })));
    expect((await json(first)).response).toMatchObject({ allowed: true });
    expect(calls).toEqual([]);
    await app.request(postJson('/events/admission', admissionReview({ operation: 'UPDATE', oldObject: before, object: untainted })));
    expect(calls).toEqual([[admitted(node('w1'), nodeFingerprint(before as never))]]);
  });

  it.each([
    ['moved to another DaemonSet', { name: 'b', uid: 'ub' }, [ds('ns', 'b', ['p1']), ds('ns', 'a', [])]],
    ['released (an orphan on its node)', undefined, [node('w1'), ds('ns', 'a', [])]],
    ['moved to a ReplicaSet', { name: 'r', uid: 'ur', kind: 'ReplicaSet' }, [ds('ns', 'a', [])]],
    ['still owned by the same DaemonSet', { name: 'a', uid: 'ua' }, [ds('ns', 'a', ['p1'])]],
  ])('a pod UPDATE whose controller changed syncs its old DaemonSet too (upstream updatePod): %s', async (_, owner, expected) => {
    const { app, calls } = testApp();
    const ref = (o: { name: string; uid: string; kind?: string }) => [{ apiVersion: 'apps/v1', kind: o.kind ?? 'DaemonSet', name: o.name, uid: o.uid, controller: true }];
    const pod = (o?: { name: string; uid: string; kind?: string }) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p1', namespace: 'ns', uid: 'pu', labels: { app: 'x' }, ...(o ? { ownerReferences: ref(o) } : {}) },
      spec: { nodeName: 'w1' },
    });
    await app.request(postJson('/events/admission', admissionReview({ operation: 'UPDATE', oldObject: pod({ name: 'a', uid: 'ua' }), object: pod(owner) })));
    expect(calls).toEqual([expected]);
  });

  it('a node DELETE waits for the node as it was to be gone', async () => {
    const { app, calls } = testApp();
    const before = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'w1', uid: 'u', labels: { zone: 'a' } }, spec: {} };
    await app.request(postJson('/events/admission', admissionReview({ operation: 'DELETE', oldObject: before })));
    expect(calls).toEqual([[admitted(node('w1'), nodeFingerprint(before as never))]]);
  });

  it('a DaemonSet created without metadata.namespace takes the request’s namespace', async () => {
    const { app, calls } = testApp();
    const review = admissionReview({
      operation: 'CREATE',
      namespace: 'team-a',
      object: { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'agent' } },
    });
    await app.request(postJson('/events/admission', review));
    expect(calls).toEqual([[admitted(ds('team-a', 'agent', []), null)]]);
  });

  it('still allowed:true when the handler throws (the error is logged)', async () => {
    const { app, logs } = testApp({
      behaviour: () => {
        throw new TransientError('apiserver is down');
      },
    });
    const res = await app.request(postJson('/events/admission', fixture('admission-node-create.json')));
    expect(res.status).toBe(200);
    expect((await json(res)).response.allowed).toBe(true);
    expect(logs.entries().some((e) => e.msg === 'deferred admission hints failed')).toBe(true);
  });

  it('deferred work that fails transiently is retried after the given delays; a refusal is not', async () => {
    let failures = 2;
    const flaky = testApp({
      deferredRetryDelaysMs: [5, 5, 5],
      behaviour: () => {
        if (failures-- > 0) throw new TransientError('apiserver is restarting');
        return { hints: 1, created: 1, deleted: 0, apiRequests: 3 };
      },
    });
    await flaky.app.request(postJson('/events/admission', fixture('admission-node-create.json')));
    expect(flaky.calls).toHaveLength(3);
    expect(flaky.logs.entries().filter((e) => e.msg === 'deferred admission hints failed; retrying')).toHaveLength(2);
    expect(flaky.logs.entries().some((e) => e.msg === 'deferred admission hints handled')).toBe(true);

    const refused = testApp({
      deferredRetryDelaysMs: [5, 5, 5],
      behaviour: () => {
        throw new RejectedError('403 Forbidden', 403);
      },
    });
    await refused.app.request(postJson('/events/admission', fixture('admission-node-create.json')));
    expect(refused.calls).toHaveLength(1);
    expect(refused.logs.entries().find((e) => e.msg === 'deferred admission hints failed')?.attempts).toBe(1);
  });

  it('still allowed:true when handing over fails', async () => {
    const { app } = testApp({
      defer: () => {
        throw new Error('cannot defer');
      },
    });
    const res = await app.request(postJson('/events/admission', fixture('admission-node-create.json')));
    expect(res.status).toBe(200);
    expect((await json(res)).response.allowed).toBe(true);
  });

  it('answers within the hand-over bound even when handing over hangs', async () => {
    const { app } = testApp({ defer: () => new Promise<void>(() => {}) });
    const started = performance.now();
    const res = await app.request(postJson('/events/admission', fixture('admission-node-create.json')));
    expect(res.status).toBe(200);
    expect(performance.now() - started).toBeLessThan(1_500);
  });

  it('still allowed:true when the object is unreadable; nothing is reconciled', async () => {
    const { app, calls, logs } = testApp();
    const review = admissionReview({
      operation: 'CREATE',
      object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { nodeName: 7 } },
    });
    const res = await app.request(postJson('/events/admission', review));
    expect(res.status).toBe(200);
    expect((await json(res)).response).toEqual({ uid: 'u-1', allowed: true });
    expect(calls).toEqual([]);
    const warning = logs.entries().find((e) => e.msg === 'admission request not reconciled');
    expect(warning.error.issues[0].path).toBe('request.object.spec.nodeName');
  });

  it('dryRun: allowed, no hints', async () => {
    const { app, calls, deferred } = testApp();
    const review = fixture('admission-node-create.json');
    review.request.dryRun = true;
    const res = await app.request(postJson('/events/admission', review));
    expect((await json(res)).response.allowed).toBe(true);
    expect(deferred).toEqual([]);
    expect(calls).toEqual([]);
  });

  it('a DaemonSet update that leaves its generation (metadata only) waits ADMISSION_SETTLE_MS before reconciling (background defer)', async () => {
    const background = createBackgroundDefer(testApp().logs.log);
    const { app, calls } = testApp({ env: { ADMISSION_SETTLE_MS: '50' }, defer: background.defer });
    const before = { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'agent', namespace: 'team-a', uid: 'u', generation: 3 } };
    const relabelled = { ...before, metadata: { ...before.metadata, labels: { team: 'a' } } };
    const res = await app.request(postJson('/events/admission', admissionReview({ operation: 'UPDATE', oldObject: before, object: relabelled })));
    expect(res.status).toBe(200);
    expect(calls).toEqual([]); // answered before the object is stored
    await background.drain();
    expect(calls).toEqual([[ds('team-a', 'agent', [])]]);
  });

  it('a DaemonSet spec change (a new generation) waits for the pass to see that generation (Hint `pending`)', async () => {
    const { app, calls, deferred } = testApp({ env: { ADMISSION_SETTLE_MS: '5000' } });
    const before = { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'agent', namespace: 'team-a', uid: 'u', generation: 3 } };
    const changed = { ...before, metadata: { ...before.metadata, generation: 4 } };
    await app.request(postJson('/events/admission', admissionReview({ operation: 'UPDATE', oldObject: before, object: changed })));
    expect(calls).toEqual([[admitted(ds('team-a', 'agent', []), daemonSetFingerprint(before as never))]]);
    expect(deferred).toEqual([{ hints: calls[0], delayMs: 0 }]);
  });

  it('a node change is handled at once, and again while the pass reports it unsettled (background defer)', async () => {
    const background = createBackgroundDefer(testApp().logs.log);
    let unsettledFor = 2;
    const { app, calls } = testApp({
      env: { ADMISSION_SETTLE_MS: '5000' },
      defer: background.defer,
      behaviour: (hints) => ({ hints: hints.length, created: 0, deleted: 0, apiRequests: 1, ...(unsettledFor-- > 0 ? { unsettled: [...hints] } : {}) }),
    });
    const started = Date.now();
    const res = await app.request(postJson('/events/admission', fixture('admission-node-create.json')));
    expect(res.status).toBe(200);
    await background.drain();
    // Not after the 5 s of ADMISSION_SETTLE_MS: at once, then after 5 and 10 ms.
    expect(Date.now() - started).toBeLessThan(1000);
    expect(calls).toEqual([[admitted(createdNode('worker-7'), null)], [admitted(createdNode('worker-7'), null)], [admitted(createdNode('worker-7'), null)]]);
  });

  it('a node change the pass never sees stored is given up at ADMISSION_STORED_WITHIN_MS, and logged', async () => {
    const background = createBackgroundDefer(testApp().logs.log);
    const { app, calls, logs } = testApp({
      env: { ADMISSION_STORED_WITHIN_MS: '40' },
      defer: background.defer,
      behaviour: (hints) => ({ hints: hints.length, created: 0, deleted: 0, apiRequests: 1, unsettled: [...hints] }),
    });
    await app.request(postJson('/events/admission', fixture('admission-node-create.json')));
    await background.drain();
    // At once, after 5, 10 and 20 ms; the next wait (40 ms) would pass the 40 ms.
    expect(calls.length).toBeGreaterThanOrEqual(2);
    expect(calls.length).toBeLessThanOrEqual(4);
    expect(logs.entries().filter((e) => e.msg === 'admitted change not seen stored in time: taken as refused')).toHaveLength(1);
  });

  it("a DaemonSet change never seen stored: given up, then one last pass without pending on the DaemonSet as stored", async () => {
    const background = createBackgroundDefer(testApp().logs.log);
    const { app, calls } = testApp({
      env: { ADMISSION_STORED_WITHIN_MS: '40' },
      defer: background.defer,
      behaviour: (hints) => ({ hints: hints.length, created: 0, deleted: 0, apiRequests: 1, unsettled: hints.filter((h) => pendingOf(h) !== undefined) }),
    });
    const ds = { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'agent', namespace: 'ns', uid: 'u1', generation: 2 } };
    await app.request(postJson('/events/admission', admissionReview({ operation: 'UPDATE', namespace: 'ns', object: ds, oldObject: { ...ds, metadata: { ...ds.metadata, generation: 1 } } })));
    await background.drain();
    // Passes with the change pending, then the last one without.
    expect(calls.length).toBeGreaterThanOrEqual(2);
    const last = calls.at(-1)!;
    expect(last).toEqual([expect.objectContaining({ kind: 'daemonSet', namespace: 'ns', name: 'agent' })]);
    expect(last[0]).not.toHaveProperty('pending');
    expect(calls.slice(0, -1).every((c) => c.every((h) => pendingOf(h) !== undefined))).toBe(true);
  });

  it('400 only when the body is not an AdmissionReview at all', async () => {
    const { app } = testApp();
    const res = await app.request(postJson('/events/admission', { apiVersion: 'v1', kind: 'Pod' }));
    expect(res.status).toBe(400);
  });

  it('v1beta1 reviews are answered in v1beta1', async () => {
    const { app } = testApp();
    const review = { ...fixture('admission-node-create.json'), apiVersion: 'admission.k8s.io/v1beta1' };
    expect((await json(await app.request(postJson('/events/admission', review)))).apiVersion).toBe(
      'admission.k8s.io/v1beta1',
    );
  });

  describe('with ADMISSION_PATH_SECRET', () => {
    const env = { ADMISSION_PATH_SECRET: secret, BEARER_TOKEN: token };

    it.each([
      ['the bare path', '/events/admission'],
      ['a wrong secret', '/events/admission/wrong-secret-0123456789'],
      ['a secret prefix', `/events/admission/${secret.slice(0, -1)}`],
    ])('404 for %s', async (_name, path) => {
      const { app, calls } = testApp({ env });
      const res = await app.request(postJson(path, fixture('admission-node-create.json')));
      expect(res.status).toBe(404);
      expect(calls).toEqual([]);
    });

    // The API server cannot send credentials to webhooks, so the bearer token does not apply here.
    it('200 on the secret path, with the API server’s ?timeout and without a bearer token', async () => {
      const { app, calls, logs } = testApp({ env });
      const res = await app.request(postJson(`/events/admission/${secret}?timeout=10s`, fixture('admission-node-create.json')));
      expect(res.status).toBe(200);
      expect(calls).toEqual([[admitted(createdNode('worker-7'), null)]]);
      expect(logs.lines.join('\n')).not.toContain(secret);
    });
  });

  it('without ADMISSION_PATH_SECRET a secret path is unknown', async () => {
    const { app } = testApp();
    const res = await app.request(postJson(`/events/admission/${secret}`, fixture('admission-node-create.json')));
    expect(res.status).toBe(404);
  });
});

describe('POST /resync and GET /healthz', () => {
  it('resync hands over one resync hint', async () => {
    const { app, calls } = testApp();
    const res = await app.request('/resync', { method: 'POST' });
    expect(res.status).toBe(200);
    expect(calls).toEqual([[{ kind: 'resync' }]]);
  });

  it('healthz answers without touching the handler, even with a token configured', async () => {
    const { app, calls } = testApp({ env: { BEARER_TOKEN: token } });
    const res = await app.request('/healthz');
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ ok: true });
    expect(calls).toEqual([]);
  });

  it('unknown paths: 404', async () => {
    const { app } = testApp();
    expect((await app.request('/nope')).status).toBe(404);
  });
});

describe('bearer token', () => {
  const env = { BEARER_TOKEN: token };
  const routes: [string, () => Request][] = [
    ['watch', () => postJson('/events/watch', fixtureText('watch-node-added.json'))],
    ['audit', () => postJson('/events/audit', fixtureText('audit-eventlist.json'))],
    ['cloudevents', () => postJson('/events/cloudevents', fixture('knative-binary-node-update.json').body, fixture('knative-binary-node-update.json').headers)],
    ['resync', () => postJson('/resync', '')],
  ];
  const withAuth = (req: Request, value: string | undefined): Request => {
    const headers = new Headers(req.headers);
    if (value === undefined) headers.delete('authorization');
    else headers.set('authorization', value);
    return new Request(req, { headers });
  };

  describe.each(routes)('%s', (_route, make) => {
    it.each([
      ['missing', undefined],
      ['wrong', 'Bearer wrong-token-0123456789abcdef'],
      ['a prefix of the right one', `Bearer ${token.slice(0, -1)}`],
      ['another scheme', `Basic ${token}`],
    ])('401 when the token is %s; nothing is handled', async (_name, value) => {
      const { app, calls } = testApp({ env });
      const res = await app.request(withAuth(make(), value));
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      expect(calls).toEqual([]);
    });

    it('200 with the right token, which is never logged', async () => {
      const { app, logs } = testApp({ env });
      const res = await app.request(withAuth(make(), `Bearer ${token}`));
      expect(res.status).toBe(200);
      expect(logs.lines.join('\n')).not.toContain(token);
    });
  });
});

describe('body limit', () => {
  const env = { BODY_LIMIT_BYTES: '1024' };
  const big = JSON.stringify({ type: 'ADDED', object: { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n'.repeat(2000) } } });

  it('413 for a streamed body over the limit', async () => {
    const { app, calls } = testApp({ env });
    const res = await app.request(postJson('/events/watch', big));
    expect(res.status).toBe(413);
    expect((await json(res)).error).toBe('request body exceeds 1024 bytes');
    expect(calls).toEqual([]);
  });

  it('413 from Content-Length alone', async () => {
    const { app } = testApp({ env });
    const res = await app.request(postJson('/events/audit', big, { 'content-length': String(big.length) }));
    expect(res.status).toBe(413);
  });

  it('applies to admission too', async () => {
    const { app } = testApp({ env });
    const res = await app.request(postJson('/events/admission', big));
    expect(res.status).toBe(413);
  });
});

describe('bounded input', () => {
  const watchEvent = fixtureText('watch-node-added.json');
  const routes: [string, (headers: Record<string, string>) => Request][] = [
    ['watch', (h) => postJson('/events/watch', watchEvent, h)],
    ['audit', (h) => postJson('/events/audit', fixtureText('audit-eventlist.json'), h)],
    ['admission', (h) => postJson('/events/admission', fixture('admission-node-create.json'), h)],
    ['cloudevents', (h) => postJson('/events/cloudevents', fixtureText('knative-structured-pod-add.json'), h)],
  ];

  it.each(routes)('%s: 415 naming the expected type; nothing is handled', async (_route, make) => {
    const { app, calls } = testApp();
    const res = await app.request(make({ 'content-type': 'text/plain' }));
    expect(res.status).toBe(415);
    expect((await json(res)).error).toMatch(/^Content-Type text\/plain: .*application\/(cloudevents\+)?json/);
    expect(calls).toEqual([]);
  });

  it('authentication comes first: 401, not 415, for a stranger', async () => {
    const { app } = testApp({ env: { BEARER_TOKEN: token } });
    const res = await app.request(postJson('/events/watch', watchEvent, { 'content-type': 'text/plain' }));
    expect(res.status).toBe(401);
  });

  it('NDJSON is accepted as application/x-ndjson', async () => {
    const { app, calls } = testApp();
    const res = await app.request(postJson('/events/watch', fixtureText('watch-events.ndjson'), { 'content-type': 'application/x-ndjson' }));
    expect(res.status).toBe(200);
    expect(calls).toHaveLength(1);
  });

  it('400 naming the depth for nesting beyond JSON_MAX_DEPTH; nothing is handled', async () => {
    const { app, calls } = testApp({ env: { JSON_MAX_DEPTH: '8' } });
    const res = await app.request(postJson('/events/audit', `${'['.repeat(9)}${']'.repeat(9)}`));
    expect(res.status).toBe(400);
    expect(await json(res)).toEqual({
      error: 'invalid audit EventList: JSON nested deeper than 8 levels',
      issues: [{ path: '', message: 'nesting exceeds 8 at character 8' }],
    });
    expect(calls).toEqual([]);
  });

  it('413 naming the limit for more values than JSON_MAX_TOKENS', async () => {
    const { app, calls } = testApp({ env: { JSON_MAX_TOKENS: '50' } });
    const res = await app.request(postJson('/events/watch', JSON.stringify(JSON.parse(watchEvent))));
    expect(res.status).toBe(413);
    expect((await json(res)).error).toBe('watch event has more than 50 JSON values (JSON_MAX_TOKENS)');
    expect(calls).toEqual([]);
  });

  it('admission is bounded too, and the API server still gets no answer but the error (it is failurePolicy: Ignore)', async () => {
    const { app, calls } = testApp({ env: { JSON_MAX_TOKENS: '20' } });
    const res = await app.request(postJson('/events/admission', fixture('admission-node-create.json')));
    expect(res.status).toBe(413);
    expect(calls).toEqual([]);
  });

  it('CloudEvent data_base64 is JSON inside a string: bounded before it is parsed, at its own path', async () => {
    const { app, calls } = testApp({ env: { JSON_MAX_DEPTH: '8' } });
    const event = {
      ...fixture('knative-structured-pod-add.json'),
      data: undefined,
      data_base64: Buffer.from(`${'['.repeat(9)}${']'.repeat(9)}`).toString('base64'),
    };
    const res = await app.request(postJson('/events/cloudevents', event, { 'content-type': 'application/cloudevents+json' }));
    expect(res.status).toBe(400);
    expect((await json(res)).issues).toEqual([{ path: 'data_base64', message: 'nesting exceeds 8 at character 8' }]);
    expect(calls).toEqual([]);
  });

  it('the data_base64 of a batch share one JSON_MAX_TOKENS budget', async () => {
    const { app, calls } = testApp({ env: { JSON_MAX_TOKENS: '60' } });
    const ref = { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'fluentd', namespace: 'kube-system' };
    const base = { ...fixture('knative-structured-pod-add.json'), type: 'dev.knative.apiserver.ref.update', data: undefined };
    const event = (id: string) => ({ ...base, id, data_base64: Buffer.from(JSON.stringify(ref)).toString('base64') });
    const batch = (n: number) => Array.from({ length: n }, (_, i) => event(String(i)));
    // Each ref is 9 values: 5 of them fit in 60 with the envelope's own; 7 do not.
    const small = await app.request(postJson('/events/cloudevents', batch(1), { 'content-type': 'application/cloudevents-batch+json' }));
    expect(small.status).toBe(200);
    const large = await app.request(postJson('/events/cloudevents', batch(7), { 'content-type': 'application/cloudevents-batch+json' }));
    expect(large.status).toBe(413);
    expect(calls).toHaveLength(1);
  });
});

describe('errors from the handler, mapped once', () => {
  const watchNode = () => postJson('/events/watch', fixtureText('watch-node-added.json'));

  it('TransientError → 503 with Retry-After, message not exposed', async () => {
    const { app } = testApp({
      behaviour: () => {
        throw new TransientError('etcd leader lost at 10.0.0.3', 7);
      },
    });
    const res = await app.request(watchNode());
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('7');
    const text = await res.text();
    expect(text).not.toContain('10.0.0.3');
    expect(JSON.parse(text)).toEqual({ error: 'temporarily unavailable, retry later' });
  });

  it('TransientError without a known delay → 503 without Retry-After', async () => {
    const { app } = testApp({
      behaviour: () => {
        throw new TransientError('timeout');
      },
    });
    const res = await app.request(watchNode());
    expect(res.status).toBe(503);
    expect(res.headers.has('retry-after')).toBe(false);
  });

  it('a 4xx typed error shows its message', async () => {
    const { app } = testApp({
      behaviour: () => {
        throw new ConflictError('pod fluentd-x already exists', 'AlreadyExists');
      },
    });
    const res = await app.request(watchNode());
    expect(res.status).toBe(409);
    expect(await json(res)).toEqual({ error: 'pod fluentd-x already exists' });
  });

  it('RejectedError → 502, message not exposed', async () => {
    const { app } = testApp({
      behaviour: () => {
        throw new RejectedError('forbidden: system:serviceaccount:x cannot create pods', 403);
      },
    });
    const res = await app.request(watchNode());
    expect(res.status).toBe(502);
    expect(await res.text()).not.toContain('serviceaccount');
  });

  it('an unknown error → 500, generic, logged with its message', async () => {
    const { app, logs } = testApp({
      behaviour: () => {
        throw new Error('secret internals');
      },
    });
    const res = await app.request(watchNode());
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(text).not.toContain('secret internals');
    expect(JSON.parse(text)).toEqual({ error: 'internal error' });
    const line = logs.entries().find((e) => e.msg === 'request');
    expect(line).toMatchObject({ level: 'error', status: 500, error: { message: 'secret internals' } });
  });
});

describe('request log', () => {
  it('one JSON line per request: route, status, hints, result, duration', async () => {
    const { app, logs } = testApp();
    await app.request(postJson('/events/watch', fixtureText('watch-node-added.json')));
    const requests = logs.entries().filter((e) => e.msg === 'request');
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({
      level: 'info',
      method: 'POST',
      route: 'watch',
      status: 200,
      hints: { count: 1, keys: ['node/worker-8'] },
      result: { hints: 1, created: 1, deleted: 0, apiRequests: 3 },
      durationMs: expect.any(Number),
    });
  });
});

describe('latency trace', () => {
  it('an audit delivery logs the age of its oldest change (event completed → delivered), from stageTimestamp', async () => {
    const { app, logs } = testApp();
    const node = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } };
    const event = (ageMs: number) => ({
      ...auditEvent({ verb: 'create', objectRef: { resource: 'nodes', name: 'n1' }, responseObject: node }),
      stageTimestamp: new Date(Date.now() - ageMs).toISOString(),
    });
    await app.request(postJson('/events/audit', auditList([event(400), event(1_500)])));
    const line = logs.entries().find((e) => e.msg === 'request');
    expect(line.changeAgeMs).toBeGreaterThanOrEqual(1_500);
    expect(line.changeAgeMs).toBeLessThan(10_000);
  });
});

function auditList(items: object[]) {
  return { apiVersion: 'audit.k8s.io/v1', kind: 'EventList', metadata: {}, items };
}

function auditEvent(e: { verb: string; objectRef: object; code?: number; responseObject?: object; requestObject?: object }) {
  return {
    level: 'RequestResponse',
    stage: 'ResponseComplete',
    verb: e.verb,
    objectRef: { apiVersion: 'v1', ...e.objectRef },
    responseStatus: { metadata: {}, code: e.code ?? 200 },
    ...(e.responseObject ? { responseObject: e.responseObject } : {}),
    ...(e.requestObject ? { requestObject: e.requestObject } : {}),
  };
}

function admissionReview(request: { operation: string; object?: object; oldObject?: object; namespace?: string }) {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: 'u-1', object: null, oldObject: null, ...request },
  };
}
