import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { formatNodeTable } from '../../devcluster/simulator/node-table.ts';
import { NOT_READY_ANNOTATION } from '../../devcluster/simulator/well-known.ts';

const node = (name: string, ready: string, taints: V1Node['spec'] = {}, annotations?: Record<string, string>): V1Node => ({
  metadata: { name, ...(annotations ? { annotations } : {}) },
  spec: taints,
  status: { conditions: [{ type: 'Ready', status: ready }] },
});

describe('formatNodeTable', () => {
  it('shows ready, taints and pods per node, sorted by name', () => {
    const pods = new Map<string, V1Pod[]>([['sim-b', [{ status: { phase: 'Running' } }, { status: { phase: 'Pending' } }]]]);
    const table = formatNodeTable(
      [
        node('sim-b', 'True'),
        node('sim-a', 'False', { taints: [{ key: 'node.kubernetes.io/not-ready', effect: 'NoExecute' }, { key: 'x', value: 'y', effect: 'NoSchedule' }] }, { [NOT_READY_ANNOTATION]: 'true' }),
      ],
      pods,
    );
    expect(table).toBe(
      [
        `NAME   READY         ${'TAINTS'.padEnd(53)}  PODS`,
        'sim-a  False (held)  node.kubernetes.io/not-ready:NoExecute,x=y:NoSchedule  0',
        `sim-b  True          ${'-'.padEnd(53)}  2 (1 running)`,
        '',
      ].join('\n'),
    );
  });
});
