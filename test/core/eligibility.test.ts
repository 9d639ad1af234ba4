import type { V1DaemonSet, V1Node } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { nodeShouldRunDaemonPod } from '../../src/core/eligibility.ts';
import type { Eligibility } from '../../src/core/model.ts';
import { newDaemonSet, newNode, taint } from '../support/builders.ts';

const ds = newDaemonSet('fluentd');
const withTemplate = (spec: Record<string, unknown>): V1DaemonSet =>
  newDaemonSet('fluentd', { spec: { template: { spec: spec as never } } });
const tainted = (...taints: ReturnType<typeof taint>[]): V1Node => newNode('node-1', { spec: { taints } });

const RUN = { shouldRun: true, shouldContinueRunning: true };
const KEEP = { shouldRun: false, shouldContinueRunning: true };
const NONE = { shouldRun: false, shouldContinueRunning: false };

describe('nodeShouldRunDaemonPod', () => {
  const rows: Array<{ name: string; node: V1Node; ds: V1DaemonSet; want: Omit<Eligibility, 'reason'>; reason?: string }> = [
    { name: 'plain node, plain DaemonSet', node: newNode('node-1'), ds, want: RUN },

    // Template nodeName
    { name: 'template nodeName equal to the node', node: newNode('node-1'), ds: withTemplate({ nodeName: 'node-1' }), want: RUN },
    { name: 'template nodeName naming another node', node: newNode('node-1'), ds: withTemplate({ nodeName: 'node-2' }), want: NONE, reason: 'template nodeName node-2 is not this node' },

    // Placement
    { name: 'nodeSelector matches', node: newNode('node-1', { metadata: { labels: { role: 'logs' } } }), ds: withTemplate({ nodeSelector: { role: 'logs' } }), want: RUN },
    { name: 'nodeSelector does not match', node: newNode('node-1'), ds: withTemplate({ nodeSelector: { role: 'logs' } }), want: NONE, reason: 'nodeSelector role=logs does not match: node has no label role' },
    {
      name: 'required affinity does not match',
      node: newNode('node-1'),
      ds: withTemplate({ affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'gpu', operator: 'Exists' }] }] } } } }),
      want: NONE,
      reason: 'required node affinity does not match (term 0: gpu Exists does not match)',
    },
    {
      // Preferred terms are for the scheduler's scoring; they never exclude a node.
      name: 'preferred affinity is ignored',
      node: newNode('node-1'),
      ds: withTemplate({ affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 1, preference: { matchExpressions: [{ key: 'gpu', operator: 'Exists' }] } }] } } }),
      want: RUN,
    },
    // Placement is checked before taints, so a node failing both reports the selector.
    { name: 'placement failure wins over taints', node: tainted(taint('x', 'NoExecute')), ds: withTemplate({ nodeSelector: { role: 'logs' } }), want: NONE, reason: 'nodeSelector role=logs does not match: node has no label role' },

    // Taints
    { name: 'untolerated NoSchedule: no new pod, existing pods stay', node: tainted(taint('dedicated', 'NoSchedule', 'db')), ds, want: KEEP, reason: 'taint dedicated=db:NoSchedule is not tolerated' },
    { name: 'untolerated NoExecute: no pod at all', node: tainted(taint('node.kubernetes.io/foo', 'NoExecute', 'bar')), ds, want: NONE, reason: 'taint node.kubernetes.io/foo=bar:NoExecute is not tolerated' },
    { name: 'PreferNoSchedule is ignored', node: tainted(taint('soft', 'PreferNoSchedule')), ds, want: RUN },
    // With both, the evicting taint decides and is the one named.
    { name: 'NoSchedule and NoExecute: the NoExecute one is named', node: tainted(taint('a', 'NoSchedule'), taint('b', 'NoExecute')), ds, want: NONE, reason: 'taint b:NoExecute is not tolerated' },
    { name: 'user toleration for NoSchedule', node: tainted(taint('dedicated', 'NoSchedule', 'db')), ds: withTemplate({ tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoSchedule' }] }), want: RUN },
    { name: 'user toleration for NoExecute', node: tainted(taint('maint', 'NoExecute')), ds: withTemplate({ tolerations: [{ key: 'maint', operator: 'Exists' }] }), want: RUN },
    // Tolerating the NoExecute taint but not the NoSchedule one: existing pods stay.
    {
      name: 'tolerates NoExecute, not NoSchedule',
      node: tainted(taint('a', 'NoSchedule'), taint('b', 'NoExecute')),
      ds: withTemplate({ tolerations: [{ key: 'b', operator: 'Exists' }] }),
      want: KEEP,
      reason: 'taint a:NoSchedule is not tolerated',
    },
    // The fluentd reference DaemonSet tolerates control-plane nodes this way.
    { name: 'tolerate-everything toleration', node: tainted(taint('node-role.kubernetes.io/control-plane', 'NoSchedule'), taint('x', 'NoExecute')), ds: withTemplate({ tolerations: [{ operator: 'Exists' }] }), want: RUN },

    // Default daemon tolerations count towards eligibility
    { name: 'default toleration: not-ready NoExecute', node: tainted(taint('node.kubernetes.io/not-ready', 'NoExecute')), ds, want: RUN },
    { name: 'default toleration: unreachable NoExecute', node: tainted(taint('node.kubernetes.io/unreachable', 'NoExecute')), ds, want: RUN },
    { name: 'default toleration: disk-pressure NoSchedule', node: tainted(taint('node.kubernetes.io/disk-pressure', 'NoSchedule')), ds, want: RUN },
    { name: 'default toleration: memory-pressure NoSchedule', node: tainted(taint('node.kubernetes.io/memory-pressure', 'NoSchedule')), ds, want: RUN },
    { name: 'default toleration: pid-pressure NoSchedule', node: tainted(taint('node.kubernetes.io/pid-pressure', 'NoSchedule')), ds, want: RUN },
    { name: 'default toleration: unschedulable NoSchedule (cordoned)', node: tainted(taint('node.kubernetes.io/unschedulable', 'NoSchedule')), ds, want: RUN },
    { name: 'network-unavailable with hostNetwork: tolerated', node: tainted(taint('node.kubernetes.io/network-unavailable', 'NoSchedule')), ds: withTemplate({ hostNetwork: true }), want: RUN },
    { name: 'network-unavailable without hostNetwork: not tolerated', node: tainted(taint('node.kubernetes.io/network-unavailable', 'NoSchedule')), ds, want: KEEP, reason: 'taint node.kubernetes.io/network-unavailable:NoSchedule is not tolerated' },
    // The defaults are NoExecute only for not-ready/unreachable: a NoSchedule disk-pressure toleration does not cover a NoExecute taint.
    { name: 'default tolerations are effect-specific', node: tainted(taint('node.kubernetes.io/disk-pressure', 'NoExecute')), ds, want: NONE, reason: 'taint node.kubernetes.io/disk-pressure:NoExecute is not tolerated' },

    // Not checked
    // Cordoning works only through the unschedulable taint (tolerated by default), never through spec.unschedulable.
    { name: 'spec.unschedulable is not checked', node: newNode('node-1', { spec: { unschedulable: true } }), ds, want: RUN },
    { name: 'a NotReady node still runs the pod', node: newNode('node-1', { status: { conditions: [{ type: 'Ready', status: 'False' }] } }), ds, want: RUN },
  ];

  it.each(rows)('$name', ({ node, ds, want, reason }) => {
    const got = nodeShouldRunDaemonPod(node, ds);
    expect({ shouldRun: got.shouldRun, shouldContinueRunning: got.shouldContinueRunning }).toEqual(want);
    if (want.shouldRun) expect(got.reason).toBeNull();
    else expect(got.reason).toBe(reason);
  });
});
