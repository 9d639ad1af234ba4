import { describe, expect, it } from 'vitest';
import { hintFromObject, podTargetNode, reasons, type Operation } from '../../src/http/hints-from-object.ts';
import { KubeObjectSchema } from '../../src/http/schemas.ts';

const node = (name: string) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name } });
const pod = (spec: object | undefined) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', namespace: 'kube-system' },
  ...(spec ? { spec } : {}),
});
const pinnedTo = (...names: string[][]) => ({
  affinity: {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: names.map((values) => ({
          matchFields: [{ key: 'metadata.name', operator: 'In', values }],
        })),
      },
    },
  },
});
const daemonSet = { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'fluentd', namespace: 'kube-system' } };
/** `p` with an owner reference (the controller unless said otherwise). */
const owned = (p: ReturnType<typeof pod>, owner: { apiVersion: string; kind: string; name: string }, controller = true) => ({
  ...p,
  metadata: { ...p.metadata, ownerReferences: [{ ...owner, uid: 'u', controller }] },
});

/** A ControllerRevision, controlled by `owner` if given. */
const revision = (owner?: { apiVersion: string; kind: string; name: string }) => ({
  apiVersion: 'apps/v1',
  kind: 'ControllerRevision',
  metadata: { name: 'fluentd-abc', namespace: 'kube-system', labels: { app: 'fluentd' }, ...(owner ? { ownerReferences: [{ ...owner, uid: 'u', controller: true }] } : {}) },
  revision: 1,
});

/** `p` with these labels. */
const labelled = (p: ReturnType<typeof pod>, labels: Record<string, string>) => ({ ...p, metadata: { ...p.metadata, labels } });

/** `p` with its graceful deletion started. */
const terminating = <P extends { metadata: object }>(p: P) => ({ ...p, metadata: { ...p.metadata, deletionTimestamp: '2026-12-01T00:00:00Z' } });

describe('hintFromObject: one row per mapping rule', () => {
  it.each<[string, unknown, Operation, unknown]>([
    // A creation says so: where no DaemonSet should run a pod on the node yet, its pass reads no pods there.
    ['node created → that node, created', node('w1'), 'create', { hint: { kind: 'node', name: 'w1', created: true, registered: {} } }],
    // With it, what eligibility reads of the node as created (Hint `registered`): labels and taints, nothing else.
    [
      'node created with labels and taints → they ride along',
      { ...node('w1'), metadata: { name: 'w1', labels: { zone: 'a' }, annotations: { x: 'y' } }, spec: { podCIDR: '10.0.0.0/24', taints: [{ key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule', timeAdded: null }, { key: 'k', value: 'v', effect: 'NoExecute' }] }, status: { capacity: { cpu: '2' } } },
      'create',
      { hint: { kind: 'node', name: 'w1', created: true, registered: { labels: { zone: 'a' }, taints: [{ key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' }, { key: 'k', value: 'v', effect: 'NoExecute' }] } } },
    ],
    // Hundreds of labels: the pass reads the node instead, and queue messages stay small.
    [
      'node created with labels beyond 8 KiB → created, without them',
      { ...node('w1'), metadata: { name: 'w1', labels: Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`example.com/label-${i}`, 'x'.repeat(20)])) } },
      'create',
      { hint: { kind: 'node', name: 'w1', created: true } },
    ],
    ['node updated with labels → that node, nothing more', { ...node('w1'), metadata: { name: 'w1', labels: { zone: 'a' } } }, 'update', { hint: { kind: 'node', name: 'w1' } }],
    // A watch or informer reports every existing node as added when it (re)starts: not a creation.
    ['node added (watch, CloudEvent) → that node, not created', node('w1'), 'added', { hint: { kind: 'node', name: 'w1' } }],
    ['node updated → that node', node('w1'), 'update', { hint: { kind: 'node', name: 'w1' } }],
    // A deleted node's daemon pods must be removed: deletes are hints too.
    ['node deleted → that node', node('w1'), 'delete', { hint: { kind: 'node', name: 'w1' } }],
    ['bound pod → its spec.nodeName', pod({ nodeName: 'w2' }), 'update', { hint: { kind: 'node', name: 'w2' } }],
    ['bound pod deleted → its node', pod({ nodeName: 'w2' }), 'delete', { hint: { kind: 'node', name: 'w2' } }],
    // DaemonSet pods are created unbound, pinned by affinity, and bound by kube-scheduler later.
    ['unbound pod pinned by matchFields → that node', pod(pinnedTo(['w3'])), 'create', { hint: { kind: 'node', name: 'w3' } }],
    ['nodeName wins over affinity', pod({ nodeName: 'w4', ...pinnedTo(['w3']) }), 'update', { hint: { kind: 'node', name: 'w4' } }],
    ['terms agreeing on one node → that node', pod(pinnedTo(['w3'], ['w3'])), 'create', { hint: { kind: 'node', name: 'w3' } }],
    ['pod without spec → ignored', pod(undefined), 'create', { ignored: reasons.podWithoutNode }],
    // A DaemonSet's own pod: a DaemonSet-wide pass covers its node, the status and the next rollout step.
    [
      "a DaemonSet's pod → its DaemonSet",
      owned(pod({ nodeName: 'w2' }), { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'fluentd' }),
      'update',
      // Named: only if it left the selector does the pass read the namespace's other pods (Hint `pods`).
      { hint: { kind: 'daemonSet', namespace: 'kube-system', name: 'fluentd', pods: [pod({ nodeName: 'w2' }).metadata.name] } },
    ],
    [
      // Being deleted: no release needed, and it may be gone before the pass lists (a rollout's old pods).
      "a DaemonSet's pod being deleted → its DaemonSet, no pod named",
      terminating(owned(pod({ nodeName: 'w2' }), { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'fluentd' })),
      'update',
      { hint: { kind: 'daemonSet', namespace: 'kube-system', name: 'fluentd', pods: [] } },
    ],
    [
      "a ServerlessDaemonSet's pod → its ServerlessDaemonSet",
      owned(pod({ nodeName: 'w2' }), { apiVersion: 'daemonless.dev/v1alpha1', kind: 'ServerlessDaemonSet', name: 'fluentd' }),
      'delete',
      // A deleted pod needs no release: no pod named.
      { hint: { kind: 'daemonSet', namespace: 'kube-system', name: 'fluentd', type: 'ServerlessDaemonSet', pods: [] } },
    ],
    ["another controller's pod → ignored", owned(pod({ nodeName: 'w2' }), { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d4' }), 'create', { ignored: reasons.podOfAnotherController('ReplicaSet') }],
    // Only the controller reference counts: a pod merely owned (not controlled) by a DaemonSet is an orphan.
    [
      'a non-controller owner reference → its node, as an orphan',
      owned(pod({ nodeName: 'w2' }), { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'fluentd' }, false),
      'create',
      { hint: { kind: 'node', name: 'w2' } },
    ],
    // An orphan that targets no node: the DaemonSets of its namespace that select its labels may adopt it.
    ['orphan with no target → the DaemonSets selecting it', labelled(pod({ containers: [] }), { app: 'agent' }), 'create', { hint: { kind: 'orphan', namespace: 'kube-system', name: 'p', labels: { app: 'agent' } } }],
    ['orphan with no target, updated → the same', labelled(pod({ containers: [] }), { app: 'agent' }), 'update', { hint: { kind: 'orphan', namespace: 'kube-system', name: 'p', labels: { app: 'agent' } } }],
    ['matchFields with two values names no single node: an orphan with no target', labelled(pod(pinnedTo(['a', 'b'])), { app: 'agent' }), 'create', { hint: { kind: 'orphan', namespace: 'kube-system', name: 'p', labels: { app: 'agent' } } }],
    ['terms naming different nodes name no single node: an orphan with no target', labelled(pod(pinnedTo(['a'], ['b'])), { app: 'agent' }), 'added', { hint: { kind: 'orphan', namespace: 'kube-system', name: 'p', labels: { app: 'agent' } } }],
    // Hundreds of labels: the pass reads the pod instead, and queue messages stay small.
    [
      'orphan with no target and labels beyond 8 KiB → the same, without them',
      labelled(pod({ containers: [] }), Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`example.com/label-${i}`, 'x'.repeat(20)]))),
      'create',
      { hint: { kind: 'orphan', namespace: 'kube-system', name: 'p' } },
    ],
    // An empty selector selects nothing: no DaemonSet can select a pod without labels.
    ['orphan with no target and no labels → ignored', pod({ containers: [] }), 'create', { ignored: reasons.orphanWithoutLabels }],
    ['orphan with no target and empty labels → ignored', labelled(pod({ containers: [] }), {}), 'update', { ignored: reasons.orphanWithoutLabels }],
    // Going: nothing to adopt (upstream's claim adopts no pod being deleted).
    ['orphan with no target deleted → ignored', labelled(pod({ containers: [] }), { app: 'agent' }), 'delete', { ignored: reasons.orphanGone }],
    ['orphan with no target being deleted → ignored', terminating(labelled(pod({ containers: [] }), { app: 'agent' })), 'update', { ignored: reasons.orphanGone }],
    // A pod without a spec (a reference, an audit event without the object) cannot tell bound from unbound.
    ['labelled pod without a spec → ignored', labelled(pod(undefined), { app: 'agent' }), 'create', { ignored: reasons.podWithoutNode }],
    ['orphan without a namespace → ignored', { ...labelled(pod({ containers: [] }), { app: 'agent' }), metadata: { name: 'p', labels: { app: 'agent' } } }, 'create', { ignored: reasons.podWithoutNode }],
    // ControllerRevisions, as upstream's history handlers: an owned one's change or deletion brings its DaemonSet's
    // pass, not its creation (its DaemonSet's pass made it); an orphan brings the passes that may adopt it.
    ['revision of a DaemonSet changed → that DaemonSet', revision({ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'fluentd' }), 'update', { hint: { kind: 'daemonSet', namespace: 'kube-system', name: 'fluentd', pods: [] } }],
    ['revision of a DaemonSet deleted → that DaemonSet', revision({ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'fluentd' }), 'delete', { hint: { kind: 'daemonSet', namespace: 'kube-system', name: 'fluentd', pods: [] } }],
    ['revision of a ServerlessDaemonSet changed → that one', revision({ apiVersion: 'daemonless.dev/v1alpha1', kind: 'ServerlessDaemonSet', name: 'fluentd' }), 'update', { hint: { kind: 'daemonSet', namespace: 'kube-system', name: 'fluentd', type: 'ServerlessDaemonSet', pods: [] } }],
    ['revision of a DaemonSet created → ignored', revision({ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'fluentd' }), 'create', { ignored: reasons.revisionCreatedOwned }],
    ['revision of a DaemonSet added (watch) → ignored', revision({ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'fluentd' }), 'added', { ignored: reasons.revisionCreatedOwned }],
    ["a StatefulSet's revision → ignored", revision({ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db' }), 'update', { ignored: reasons.revisionOfAnotherController('StatefulSet') }],
    ['revision of a DaemonSet of an impossible name → ignored', revision({ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'Not_A_Name' }), 'update', { ignored: reasons.revisionOfNoDaemonSet }],
    ['orphan revision created → the DaemonSets selecting it', revision(), 'create', { hint: { kind: 'orphan', resource: 'controllerrevisions', namespace: 'kube-system', name: 'fluentd-abc', labels: { app: 'fluentd' } } }],
    ['orphan revision changed → the same', revision(), 'update', { hint: { kind: 'orphan', resource: 'controllerrevisions', namespace: 'kube-system', name: 'fluentd-abc', labels: { app: 'fluentd' } } }],
    ['orphan revision deleted → ignored', revision(), 'delete', { ignored: reasons.orphanRevisionGone }],
    ['orphan revision without labels → ignored', { ...revision(), metadata: { name: 'fluentd-abc', namespace: 'kube-system' } }, 'create', { ignored: reasons.orphanRevisionWithoutLabels }],
    [
      'binding → its target node',
      { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'p', namespace: 'ns' }, target: { kind: 'Node', name: 'w5' } },
      'create',
      { hint: { kind: 'node', name: 'w5' } },
    ],
    // `pods: []`: no pod changed, and the selector is immutable, so the pass needs no release check.
    ['DaemonSet created → that DaemonSet', daemonSet, 'create', { hint: { kind: 'daemonSet', namespace: 'kube-system', name: 'fluentd', pods: [] } }],
    ['DaemonSet updated → that DaemonSet', daemonSet, 'update', { hint: { kind: 'daemonSet', namespace: 'kube-system', name: 'fluentd', pods: [] } }],
    ['DaemonSet deleted → left to the garbage collector', daemonSet, 'delete', { ignored: reasons.daemonSetDeleted }],
    [
      'ServerlessDaemonSet changed → that ServerlessDaemonSet',
      { ...daemonSet, apiVersion: 'daemonless.dev/v1alpha1', kind: 'ServerlessDaemonSet' },
      'update',
      { hint: { kind: 'daemonSet', namespace: 'kube-system', name: 'fluentd', type: 'ServerlessDaemonSet', pods: [] } },
    ],
    ['ServerlessDaemonSet deleted → left to the garbage collector', { ...daemonSet, apiVersion: 'daemonless.dev/v1alpha1', kind: 'ServerlessDaemonSet' }, 'delete', { ignored: reasons.daemonSetDeleted }],
    [
      'DaemonSet of another API version → not handled',
      { ...daemonSet, apiVersion: 'extensions/v1beta1' },
      'create',
      { ignored: 'extensions/v1beta1 DaemonSet is not handled' },
    ],
    [
      'other kinds → not handled, with the reason',
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'd' } },
      'update',
      { ignored: 'v1 ConfigMap is not handled' },
    ],
  ])('%s', (_name, raw, operation, expected) => {
    expect(hintFromObject(KubeObjectSchema.parse(raw), operation)).toEqual(expected);
  });
});

describe('KubeObjectSchema', () => {
  it('validates the pod fields it reads, naming the path', () => {
    const result = KubeObjectSchema.safeParse(pod({ nodeName: 42 }));
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['spec', 'nodeName']);
  });

  it('validates the node fields it reads (labels, taints), naming the path', () => {
    const badLabel = KubeObjectSchema.safeParse({ ...node('w1'), metadata: { name: 'w1', labels: { zone: 7 } } });
    expect(badLabel.error?.issues[0]?.path).toEqual(['metadata', 'labels', 'zone']);
    const badTaint = KubeObjectSchema.safeParse({ ...node('w1'), spec: { taints: [{ key: 'k' }] } });
    expect(badTaint.error?.issues[0]?.path).toEqual(['spec', 'taints', 0, 'effect']);
  });

  it('does not validate pod fields on other kinds', () => {
    const odd = { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' }, spec: { nodeName: 42 } };
    expect(KubeObjectSchema.safeParse(odd).success).toBe(true);
  });

  it('requires metadata.name', () => {
    const result = KubeObjectSchema.safeParse({ apiVersion: 'v1', kind: 'Node', metadata: {} });
    expect(result.error?.issues[0]?.path).toEqual(['metadata', 'name']);
  });
});

describe('podTargetNode', () => {
  it('ignores matchFields on other keys or operators', () => {
    const spec = {
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'NotIn', values: ['x'] }] }],
          },
        },
      },
    };
    expect(podTargetNode(spec)).toBeNull();
  });
});
