import type { V1Node, V1Taint } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  batchId,
  buildNode,
  internalIPOf,
  nodeNames,
  planNode,
  wantsReady,
  withTaint,
  withoutTaint,
  ZONES,
  zoneOf,
} from '../../devcluster/simulator/node-object.ts';
import { NOT_READY_ANNOTATION, SIMULATED_LABEL } from '../../devcluster/simulator/well-known.ts';

const NOW = '2026-11-28T00:00:00.000Z';

function node(opts: { ready?: 'True' | 'False' | 'Unknown'; taints?: V1Taint[]; heldNotReady?: boolean } = {}): V1Node {
  return {
    metadata: {
      name: 'sim-x-0',
      resourceVersion: '7',
      labels: { [SIMULATED_LABEL]: 'true' },
      ...(opts.heldNotReady ? { annotations: { [NOT_READY_ANNOTATION]: 'true' } } : {}),
    },
    spec: { ...(opts.taints ? { taints: opts.taints } : {}) },
    status: { conditions: opts.ready ? [{ type: 'Ready', status: opts.ready }] : [] },
  };
}

const notReadyNoSchedule = { key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' };
const notReadyNoExecute = { key: 'node.kubernetes.io/not-ready', effect: 'NoExecute', timeAdded: NOW as unknown as Date };
const unreachable = { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' };
const dedicated = { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' };

describe('buildNode', () => {
  const built = buildNode('sim-abc-3', { labels: { tier: 'web' }, taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] }, NOW);

  it('carries the labels a kubelet and cloud provider would set, plus ours', () => {
    expect(built.metadata?.labels).toMatchObject({
      'kubernetes.io/hostname': 'sim-abc-3',
      'kubernetes.io/os': 'linux',
      'kubernetes.io/arch': 'amd64',
      'topology.kubernetes.io/zone': zoneOf('sim-abc-3'),
      'node.kubernetes.io/instance-type': 'sim.xlarge',
      [SIMULATED_LABEL]: 'true',
      tier: 'web',
    });
  });

  it('cannot lose the simulated label to a caller label', () => {
    const n = buildNode('n', { labels: { [SIMULATED_LABEL]: 'false' } }, NOW);
    expect(n.metadata?.labels?.[SIMULATED_LABEL]).toBe('true');
  });

  it('registers taints in the create (as --register-with-taints)', () => {
    expect(built.spec?.taints).toEqual([{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }]);
    expect(buildNode('n', {}, NOW).spec?.taints).toBeUndefined();
  });

  it('notReady: registers as a kubelet whose runtime is not up yet, kept so by the not-ready wish until `nodes ready`', () => {
    const n = buildNode('n', { notReady: true }, NOW);
    expect(n.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('False');
    expect(wantsReady(n)).toBe(false);
    expect(planNode(n)).toEqual({});
    expect(wantsReady(buildNode('n', {}, NOW))).toBe(true);
  });

  it('reports capacity, Ready, addresses and nodeInfo', () => {
    expect(built.status?.capacity).toMatchObject({ cpu: '4', pods: '110' });
    expect(built.status?.allocatable).toMatchObject({ pods: '110' });
    expect(built.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'KubeletReady' });
    expect(built.status?.addresses).toEqual([
      { type: 'InternalIP', address: internalIPOf('sim-abc-3') },
      { type: 'Hostname', address: 'sim-abc-3' },
    ]);
    expect(built.status?.nodeInfo).toMatchObject({ kubeletVersion: 'v1.37.2', operatingSystem: 'linux', architecture: 'amd64' });
  });
});

describe('names', () => {
  it('embed a time-ordered batch id and an index', () => {
    expect(nodeNames('sim', 'abc', 3)).toEqual(['sim-abc-0', 'sim-abc-1', 'sim-abc-2']);
    const a = batchId(1_700_000_000_000, 0);
    const b = batchId(1_700_000_000_001, 0);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^[0-9a-z]+$/);
    // Same millisecond, different processes: the random suffix differs.
    expect(batchId(1_700_000_000_000, 0.1)).not.toBe(batchId(1_700_000_000_000, 0.9));
  });

  it('spread over every zone', () => {
    const zones = new Set(nodeNames('sim', 'abc', 30).map(zoneOf));
    expect([...zones].sort()).toEqual([...ZONES].sort());
  });
});

describe('planNode', () => {
  it.each<[string, Parameters<typeof node>[0], ReturnType<typeof planNode>]>([
    ['Ready and clean: nothing', { ready: 'True' }, {}],
    // TaintNodesByCondition adds this on create; the node lifecycle controller would remove it seconds later.
    ['Ready with the admission not-ready taint: drop it', { ready: 'True', taints: [notReadyNoSchedule, dedicated] }, { taints: [dedicated] }],
    ['Ready with controller taints: drop them all, keep others whole', { ready: 'True', taints: [notReadyNoExecute, unreachable] }, { taints: [] }],
    ['Unknown (controller lost heartbeats): Ready again, taints later', { ready: 'Unknown', taints: [unreachable] }, { ready: true }],
    ['no Ready condition yet', {}, { ready: true }],
    ['held not-ready but True: False', { ready: 'True', heldNotReady: true }, { ready: false }],
    ['held not-ready, False with taints: leave them', { ready: 'False', heldNotReady: true, taints: [notReadyNoExecute] }, {}],
    ['held not-ready, Unknown: fine', { ready: 'Unknown', heldNotReady: true }, {}],
  ])('%s', (_, opts, plan) => {
    expect(planNode(node(opts))).toEqual(plan);
  });
});

describe('taint edits', () => {
  it('withTaint replaces the same key and effect', () => {
    const t = withTaint([dedicated, notReadyNoExecute], { key: 'dedicated', value: 'cpu', effect: 'NoSchedule' });
    expect(t).toEqual([notReadyNoExecute, { key: 'dedicated', value: 'cpu', effect: 'NoSchedule' }]);
  });

  it('withoutTaint removes by key, or key and effect', () => {
    const all = [notReadyNoSchedule, notReadyNoExecute, dedicated];
    expect(withoutTaint(all, 'node.kubernetes.io/not-ready')).toEqual([dedicated]);
    expect(withoutTaint(all, 'node.kubernetes.io/not-ready', 'NoExecute')).toEqual([notReadyNoSchedule, dedicated]);
  });
});
