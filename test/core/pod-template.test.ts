import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { daemonPodName, getTargetNodeName, newDaemonPod, templateGeneration } from '../../src/core/pod-template.ts';
import { defaultDaemonTolerations } from '../../src/core/tolerations.ts';
import { newDaemonSet, newPod } from '../support/builders.ts';

const HASH = 'bcdfghjklm';

describe('newDaemonPod', () => {
  const ds = newDaemonSet('fluentd', {
    spec: {
      template: {
        metadata: { labels: { app: 'fluentd', tier: 'logging' }, annotations: { 'prometheus.io/scrape': 'true' }, finalizers: ['example.com/keep'] },
        spec: {
          containers: [{ name: 'main', image: 'fluentd:v1' }],
          nodeSelector: { 'kubernetes.io/os': 'linux' },
          tolerations: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' }],
          affinity: {
            nodeAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }] },
              preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 10, preference: { matchExpressions: [{ key: 'ssd', operator: 'Exists' }] } }],
            },
            podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'kubernetes.io/hostname' }] },
          },
        },
      },
    },
  });
  const pod = newDaemonPod(ds, 'node-1', HASH);

  it.each<{ name: string; check: (pod: V1Pod) => void }>([
    { name: 'name is the deterministic daemon pod name', check: (p) => expect(p.metadata?.name).toBe(daemonPodName(ds, 'node-1', HASH)) },
    { name: 'namespace is the DaemonSet’s', check: (p) => expect(p.metadata?.namespace).toBe('default') },
    { name: 'no generateName', check: (p) => expect(p.metadata?.generateName).toBeUndefined() },
    {
      name: 'labels: template labels + controller-revision-hash + pod-template-generation',
      check: (p) => expect(p.metadata?.labels).toEqual({ app: 'fluentd', tier: 'logging', 'controller-revision-hash': HASH, 'pod-template-generation': '1' }),
    },
    { name: 'template annotations copied', check: (p) => expect(p.metadata?.annotations).toEqual({ 'prometheus.io/scrape': 'true' }) },
    { name: 'template finalizers copied', check: (p) => expect(p.metadata?.finalizers).toEqual(['example.com/keep']) },
    {
      name: 'controllerRef',
      check: (p) =>
        expect(p.metadata?.ownerReferences).toEqual([
          { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'fluentd', uid: 'ds-uid-fluentd', controller: true, blockOwnerDeletion: true },
        ]),
    },
    {
      name: 'tolerations: the user’s, then the defaults',
      check: (p) => expect(p.spec?.tolerations).toEqual([ds.spec!.template.spec!.tolerations![0], ...defaultDaemonTolerations(false)]),
    },
    {
      // All required terms are replaced, so the scheduler can only bind the pod to its node.
      name: 'required node affinity replaced by matchFields metadata.name In [node]',
      check: (p) =>
        expect(p.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution).toEqual({
          nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['node-1'] }] }],
        }),
    },
    { name: 'preferred node affinity kept', check: (p) => expect(p.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution).toHaveLength(1) },
    { name: 'pod anti-affinity kept', check: (p) => expect(p.spec?.affinity?.podAntiAffinity).toBeDefined() },
    { name: 'nodeSelector kept', check: (p) => expect(p.spec?.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux' }) },
    // kube-scheduler binds the pod, as upstream.
    { name: 'spec.nodeName unset', check: (p) => expect(p.spec?.nodeName).toBeUndefined() },
    { name: 'target node is the node', check: (p) => expect(getTargetNodeName(p)).toBe('node-1') },
  ])('$name', ({ check }) => check(pod));

  it('does not modify the DaemonSet', () => {
    const before = structuredClone(ds);
    newDaemonPod(ds, 'node-2', HASH);
    expect(ds).toEqual(before);
  });

  it.each([
    { name: 'no affinity: one is created', spec: {}, hostNetwork: false },
    { name: 'hostNetwork gets network-unavailable', spec: { hostNetwork: true }, hostNetwork: true },
  ])('$name', ({ spec, hostNetwork }) => {
    const p = newDaemonPod(newDaemonSet('x', { spec: { template: { spec } } }), 'node-9', HASH);
    expect(getTargetNodeName(p)).toBe('node-9');
    expect(p.spec?.tolerations).toEqual(defaultDaemonTolerations(hostNetwork));
  });

  it.each([
    { name: 'integer annotation', annotation: '42', want: '42' },
    // Only a value that parses as int64 becomes the pod-template-generation label.
    // `GetTemplateGeneration` parses with strconv.ParseInt and the label is fmt.Sprint of the int64: canonical digits.
    { name: 'non-canonical annotation "+01": label "1"', annotation: '+01', want: '1' },
    { name: 'non-integer annotation: no label', annotation: 'abc', want: undefined },
    { name: 'no annotation: no label', annotation: undefined, want: undefined },
  ])('pod-template-generation: $name', ({ annotation, want }) => {
    const d = newDaemonSet('x', { metadata: { annotations: { 'deprecated.daemonset.template.generation': annotation } } });
    expect(templateGeneration(d)).toBe(want);
    expect(newDaemonPod(d, 'n', HASH).metadata?.labels?.['pod-template-generation']).toBe(want);
  });

  // Nothing raises the annotation on a custom resource: copied from an exported DaemonSet, it would make every pod
  // count as updated whatever its template (tried: a rollout then deleted no pod).
  it('a ServerlessDaemonSet: the annotation is not its template generation, and no pod gets the label', () => {
    const d = newDaemonSet('x', { apiVersion: 'daemonless.dev/v1alpha1', kind: 'ServerlessDaemonSet', metadata: { annotations: { 'deprecated.daemonset.template.generation': '3' } } });
    expect(templateGeneration(d)).toBeUndefined();
    expect(newDaemonPod(d, 'n', HASH).metadata?.labels).not.toHaveProperty('pod-template-generation');
  });
});

describe('daemonPodName', () => {
  const ds = newDaemonSet('fluentd');
  it.each([
    { name: 'deterministic', a: daemonPodName(ds, 'node-1', HASH), b: daemonPodName(ds, 'node-1', HASH), same: true },
    { name: 'differs per node', a: daemonPodName(ds, 'node-1', HASH), b: daemonPodName(ds, 'node-2', HASH), same: false },
    { name: 'differs per revision', a: daemonPodName(ds, 'node-1', HASH), b: daemonPodName(ds, 'node-1', 'zzzzzzzzzz'), same: false },
    // A DaemonSet deleted and recreated under the same name gets new names (the UID is hashed, not the name).
    { name: 'differs per DaemonSet UID', a: daemonPodName(ds, 'node-1', HASH), b: daemonPodName(newDaemonSet('fluentd', { metadata: { uid: 'other' } }), 'node-1', HASH), same: false },
  ])('$name', ({ a, b, same }) => expect(a === b).toBe(same));

  it.each([
    { name: 'short name kept whole', dsName: 'fluentd', prefix: 'fluentd-' },
    { name: 'long name truncated to 63', dsName: 'a'.repeat(80), prefix: `${'a'.repeat(52)}-` },
    // Truncation must not leave a dash before the separator.
    { name: 'trailing dash after truncation removed', dsName: `${'a'.repeat(51)}-bbbb`, prefix: `${'a'.repeat(51)}-` },
  ])('$name', ({ dsName, prefix }) => {
    const name = daemonPodName(newDaemonSet(dsName), `node-${'x'.repeat(200)}`, HASH);
    expect(name.length).toBeLessThanOrEqual(63);
    expect(name.startsWith(prefix)).toBe(true);
    expect(name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(name.slice(prefix.length)).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]{10}$/);
  });
});

describe('getTargetNodeName', () => {
  const fields = (...reqs: Array<{ key: string; operator: string; values?: string[] }>) => ({
    affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: reqs }] } } },
  });
  it.each([
    { name: 'bound: spec.nodeName', pod: newPod('p', { spec: { nodeName: 'n1', ...fields({ key: 'metadata.name', operator: 'In', values: ['n2'] }) } }), want: 'n1' },
    { name: 'unbound: matchFields metadata.name In [node]', pod: newPod('p', { spec: fields({ key: 'metadata.name', operator: 'In', values: ['n2'] }) }), want: 'n2' },
    { name: 'unbound, no affinity', pod: newPod('p'), want: undefined },
    // Only a single-valued In names a target.
    { name: 'In with two values: no target', pod: newPod('p', { spec: fields({ key: 'metadata.name', operator: 'In', values: ['a', 'b'] }) }), want: undefined },
    { name: 'NotIn is not a target', pod: newPod('p', { spec: fields({ key: 'metadata.name', operator: 'NotIn', values: ['a'] }) }), want: undefined },
    { name: 'other field keys are skipped', pod: newPod('p', { spec: fields({ key: 'spec.x', operator: 'In', values: ['a'] }, { key: 'metadata.name', operator: 'In', values: ['n3'] }) }), want: 'n3' },
  ])('$name', ({ pod, want }) => expect(getTargetNodeName(pod)).toBe(want));
});
