import { describe, expect, it } from 'vitest';
import { parseCommand } from '../../devcluster/simulator/cli-args.ts';
import { ArgumentError } from '../../devcluster/simulator/parse.ts';

describe('parseCommand', () => {
  it.each([
    ['add with repeated flags', ['add', '3', '--label', 'a=b', '--label', 'c=d', '--taint', 'x=y:NoSchedule'], {
      kind: 'add',
      count: 3,
      labels: { a: 'b', c: 'd' },
      taints: [{ key: 'x', value: 'y', effect: 'NoSchedule' }],
    }],
    ['add with --flag=value', ['add', '1', '--label=a=b', '--prefix=edge'], { kind: 'add', count: 1, labels: { a: 'b' }, taints: [], namePrefix: 'edge' }],
    ['delete several', ['delete', 'sim-a-0', 'sim-a-1'], { kind: 'delete', names: ['sim-a-0', 'sim-a-1'] }],
    ['not-ready', ['not-ready', 'sim-a-0'], { kind: 'ready', name: 'sim-a-0', ready: false }],
    ['ready', ['ready', 'sim-a-0'], { kind: 'ready', name: 'sim-a-0', ready: true }],
    ['taint', ['taint', 'n1', 'k=v:NoExecute'], { kind: 'taint', name: 'n1', add: { key: 'k', value: 'v', effect: 'NoExecute' } }],
    ['untaint', ['taint', 'n1', 'k:NoExecute-'], { kind: 'untaint', name: 'n1', key: 'k', effect: 'NoExecute' }],
    ['label set and remove', ['label', 'n1', 'a=b', 'c-'], { kind: 'label', name: 'n1', labels: { a: 'b', c: null } }],
    ['fail-pod', ['fail-pod', 'kube-system/fluentd-abc12'], { kind: 'fail-pod', namespace: 'kube-system', name: 'fluentd-abc12' }],
    ['list', ['list'], { kind: 'list' }],
    ['no command', [], { kind: 'help' }],
    ['--help', ['--help'], { kind: 'help' }],
  ])('%s', (_, argv, expected) => {
    expect(parseCommand(argv)).toEqual(expected);
  });

  it.each([
    ['unknown command', ['frobnicate']],
    ['add without count', ['add']],
    ['add zero', ['add', '0']],
    ['add non-number', ['add', 'three']],
    ['add fraction', ['add', '1.5']],
    ['add unknown option', ['add', '1', '--color', 'red']],
    ['add bad taint', ['add', '1', '--taint', 'x=y']],
    ['add label removal', ['add', '1', '--label', 'x-']],
    ['add bad prefix', ['add', '1', '--prefix', 'Edge_1']],
    // --label belongs to add only.
    ['option on another command', ['delete', 'n1', '--label', 'a=b']],
    ['delete without name', ['delete']],
    ['not-ready extra argument', ['not-ready', 'a', 'b']],
    ['bad node name', ['ready', 'Not_A_Name']],
    ['taint without taint', ['taint', 'n1']],
    ['label without pairs', ['label', 'n1']],
    ['fail-pod without namespace', ['fail-pod', 'pod-1']],
    ['list with argument', ['list', 'x']],
  ])('rejects %s', (_, argv) => {
    expect(() => parseCommand(argv)).toThrow(ArgumentError);
  });
});
