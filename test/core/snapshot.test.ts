/**
 * The questions a node pass asks before planning (src/core/snapshot.ts): which DaemonSets should run a pod on these
 * nodes (`wantingPods`: may the pass stop before reading pods?), and which count on them (`countedOn`: whose status a
 * follow-up must recompute).
 */
import { describe, expect, it } from 'vitest';
import type { V1DaemonSet, V1Node } from '@kubernetes/client-node';
import { countedOn, wantingPods } from '../../src/core/snapshot.ts';
import { readNoEarlier } from '../../src/core/versions.ts';
import type { NodeState } from '../../src/core/model.ts';
import { T0, newDaemonSet, newDaemonSetPod, newNode, taint } from '../support/builders.ts';

const plain = newDaemonSet('agent');
const tolerant = newDaemonSet('cni', { spec: { template: { spec: { tolerations: [{ operator: 'Exists' }] } } } });
const elsewhere = newDaemonSet('gpu', { spec: { template: { spec: { nodeSelector: { gpu: 'true' } } } } });
const deleting = newDaemonSet('going', { metadata: { deletionTimestamp: T0 } });
const ready = newNode('ready');
const registering = newNode('registering', { spec: { taints: [taint('node.kubernetes.io/not-ready', 'NoSchedule')] } });
const names = (list: V1DaemonSet[]) => list.map((d) => d.metadata?.name);

describe('wantingPods: the DaemonSets that should run a pod on one of the nodes, as read', () => {
  it.each<[string, V1DaemonSet[], (V1Node | null)[], string[]]>([
    ['a usable node: every DaemonSet whose selector and taints allow it', [plain, tolerant, elsewhere], [ready], ['agent', 'cni']],
    // A kubelet registers its node with the not-ready taint: only a DaemonSet tolerating it wants a pod there yet.
    ['a node registering (not-ready, NoSchedule): only the tolerating one', [plain, tolerant], [registering], ['cni']],
    ['a node registering, no tolerating DaemonSet: none (its creation pass reads no pods)', [plain, elsewhere], [registering], []],
    ['a node gone (null): none', [plain, tolerant], [null], []],
    ['several nodes: any of them', [plain], [registering, ready], ['agent']],
    ['a DaemonSet being deleted is not synced: none', [deleting], [ready], []],
  ])('%s', (_name, daemonSets, nodes, expected) => {
    expect(names(wantingPods(daemonSets, nodes))).toEqual(expected);
  });
});

describe('countedOn: the DaemonSets whose status these nodes contribute to', () => {
  const state = (node: V1Node | null, name: string, pods: NodeState['pods'] = []): NodeState => ({ name, node, pods });
  it.each<[string, V1DaemonSet[], NodeState[], string[]]>([
    ['should run there', [plain, elsewhere], [state(ready, 'ready')], ['agent']],
    ['nothing should run and nothing is there: none (no follow-up)', [plain], [state(registering, 'registering')], []],
    // A NoSchedule taint keeps a running pod: it now counts as misscheduled, so the status changes.
    ['a pod of it is there although it should not run: counted', [plain], [state(registering, 'registering', [newDaemonSetPod(plain, 'registering')])], ['agent']],
    ['a pod on a node that is gone: counted (it is to be deleted)', [plain], [state(null, 'gone', [newDaemonSetPod(plain, 'gone')])], ['agent']],
  ])('%s', (_name, daemonSets, states, expected) => {
    expect(names(countedOn(daemonSets, states))).toEqual(expected);
  });
});

describe('readNoEarlier: resourceVersions of two lists of one resource, compared as integers (KEP-5504)', () => {
  it.each<[string, string | undefined, string | undefined, boolean]>([
    ['later', '1008', '1007', true],
    ['the same', '1007', '1007', true],
    ['earlier', '1006', '1007', false],
    // Compared as numbers, not strings: "999" < "1000".
    ['more digits is later', '1000', '999', true],
    ['beyond 2^53', '9007199254740993', '9007199254740992', true],
    ['missing', undefined, '1007', false],
    ['missing, the other', '1007', undefined, false],
    ['not an integer', 'abc', '1007', false],
    ['a leading zero (not how Kubernetes writes them)', '01008', '1007', false],
    ['negative', '-1', '1007', false],
  ])('%s', (_name, later, earlier, want) => {
    expect(readNoEarlier(later, earlier)).toBe(want);
  });
});
