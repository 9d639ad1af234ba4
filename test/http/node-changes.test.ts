import { describe, expect, it } from 'vitest';
import { nodePatchChangesNothingRead, nodeUpdateChangesNothingRead } from '../../src/http/intake/node-changes.ts';

describe('nodePatchChangesNothingRead: a node patch (audit requestObject) that cannot change a decision', () => {
  it.each([
    ['the TTL controller: one annotation (strategic merge)', { metadata: { annotations: { 'node.alpha.kubernetes.io/ttl': '60' } } }, true],
    ['annotations removed (null) with a resourceVersion precondition', { metadata: { annotations: { a: null }, resourceVersion: '9' } }, true],
    ['status only (a nodes/status patch)', { status: { conditions: [{ type: 'Ready', status: 'True' }] } }, true],
    ['annotations and status', { metadata: { annotations: { a: 'b' } }, status: { capacity: { pods: '110' } } }, true],
    ['JSON patch: add and remove annotations', [{ op: 'add', path: '/metadata/annotations/a', value: 'b' }, { op: 'remove', path: '/metadata/annotations/c' }], true],
    ['JSON patch: test a resourceVersion, replace status', [{ op: 'test', path: '/metadata/resourceVersion', value: '3' }, { op: 'replace', path: '/status/phase', value: 'Running' }], true],
    ['taints (the node lifecycle controller, the simulator)', { metadata: { resourceVersion: '7' }, spec: { taints: null } }, false],
    ['unschedulable (kubectl cordon)', { spec: { unschedulable: true } }, false],
    ['labels', { metadata: { labels: { zone: 'a' } } }, false],
    ['labels beside annotations', { metadata: { annotations: { a: 'b' }, labels: { zone: 'a' } } }, false],
    ['server-side apply (apiVersion and kind): omitted labels may be removed', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n', annotations: { a: 'b' } } }, false],
    ['strategic merge directive replacing metadata', { metadata: { $patch: 'replace', annotations: { a: 'b' } } }, false],
    ['set-element-order directive', { '$setElementOrder/metadata': [], metadata: { annotations: { a: 'b' } } }, false],
    ['JSON patch into labels', [{ op: 'add', path: '/metadata/labels/zone', value: 'a' }], false],
    ['JSON patch moving a label into the annotations', [{ op: 'move', from: '/metadata/labels/zone', path: '/metadata/annotations/zone' }], false],
    ['JSON patch replacing all of metadata', [{ op: 'replace', path: '/metadata', value: {} }], false],
    ['an empty merge patch', {}, false],
    ['an empty metadata', { metadata: {} }, false],
    ['an empty JSON patch', [], false],
    ['no requestObject (audit level Metadata)', undefined, false],
    ['a string', 'metadata', false],
  ])('%s → %s', (_what, patch, expected) => {
    expect(nodePatchChangesNothingRead(patch)).toBe(expected);
  });
});

describe('nodeUpdateChangesNothingRead: AdmissionReview UPDATE, old and new node as daemonless reads them', () => {
  const node = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'w1', uid: 'u', labels: { zone: 'a' } }, spec: { taints: [{ key: 'k', effect: 'NoSchedule' }] } };
  it.each([
    ['annotations and resourceVersion changed', { ...node, metadata: { ...node.metadata, annotations: { a: 'b' }, resourceVersion: '2' } }, true],
    ['status changed', { ...node, status: { conditions: [{ type: 'Ready', status: 'False' }] } }, true],
    ['a label changed', { ...node, metadata: { ...node.metadata, labels: { zone: 'b' } } }, false],
    ['taints removed', { ...node, spec: {} }, false],
    ['cordoned', { ...node, spec: { ...node.spec, unschedulable: true } }, false],
    ['deletion started', { ...node, metadata: { ...node.metadata, deletionTimestamp: '2026-12-02T00:00:00Z' } }, false],
  ])('%s → %s', (_what, updated, expected) => {
    expect(nodeUpdateChangesNothingRead(node, updated)).toBe(expected);
  });
  it('delivers when either side is missing', () => {
    expect(nodeUpdateChangesNothingRead(null, node)).toBe(false);
    expect(nodeUpdateChangesNothingRead(node, undefined)).toBe(false);
  });
});
