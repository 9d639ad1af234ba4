/**
 * src/k8s/protobuf.ts against hand-built messages: the wire format's cases (varints, a negative int64, unknown fields
 * of every wire type skipped), what JSON leaves out (empty strings, false, the zero time), and broken input. That the
 * decoded lists equal the JSON ones projected is checked against the real API server (test/integration/list-encoding).
 */
import { describe, expect, it } from 'vitest';
import { ProtobufError, decodeNodeList, decodePodList, decodeStatus, rfc3339 } from '../../src/k8s/protobuf.ts';

/** A protobuf writer just big enough for these tests: fields by number, wire type from the value. */
type Value = string | number | boolean | bigint | Uint8Array | Value[];
function varint(n: bigint): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, n);
  do {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? byte | 0x80 : byte);
  } while (v > 0n);
  return out;
}
function msg(...fields: [number, Value][]): Uint8Array {
  const out: number[] = [];
  for (const [n, value] of fields) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') {
        out.push(...varint(BigInt(n) * 8n), ...varint(BigInt(typeof v === 'boolean' ? Number(v) : v)));
      } else {
        const bytes = typeof v === 'string' ? new TextEncoder().encode(v) : (v as Uint8Array);
        out.push(...varint(BigInt(n) * 8n + 2n), ...varint(BigInt(bytes.length)), ...bytes);
      }
    }
  }
  return Uint8Array.from(out);
}
/** `k8s\0` + runtime.Unknown { typeMeta { apiVersion v1, kind }, raw }. */
function envelope(kind: string, raw: Uint8Array): Uint8Array {
  const unknown = msg([1, msg([1, 'v1'], [2, kind])], [2, raw], [3, ''], [4, '']);
  return Uint8Array.from([0x6b, 0x38, 0x73, 0x00, ...unknown]);
}
const time = (iso: string) => msg([1, Date.parse(iso) / 1000], [2, 0]);
const ZERO_TIME = msg([1, -62_135_596_800n], [2, 0]);

describe('decodePodList', () => {
  it('keeps what the pod projection keeps, in its JSON form', () => {
    const meta = msg(
      [1, 'agent-x1'],
      [2, 'agent-'],
      [3, 'ns'],
      [5, 'uid-1'],
      [6, '42'],
      [7, 3],
      [8, time('2026-12-01T10:00:00Z')],
      [9, time('2026-12-01T10:05:00Z')],
      [11, [msg([1, 'app'], [2, 'agent']), msg([1, 'tier'], [2, ''])]],
      [12, msg([1, 'note'], [2, 'not kept'])],
      [13, msg([1, 'DaemonSet'], [3, 'agent'], [4, 'ds-uid'], [5, 'apps/v1'], [6, true], [7, false])],
      [14, ['example.com/hold']],
      [17, msg([1, 'kubelet'], [2, 'Update'])],
    );
    const requirement = msg([1, 'metadata.name'], [2, 'In'], [3, ['n1']]);
    const spec = msg(
      [1, msg([1, 'unread-volume'])],
      [2, msg([1, 'c'], [2, 'image:1'])],
      [10, 'n1'],
      [18, msg([1, msg([1, msg([1, msg([2, requirement], [1, msg([1, 'zone'], [2, 'Exists'])])])])], [2, msg([1, 'unread pod affinity'])])],
    );
    const status = msg(
      [1, 'Running'],
      [2, [msg([1, 'PodScheduled'], [2, 'True']), msg([1, 'Ready'], [2, 'True'], [3, ZERO_TIME], [4, time('2026-12-01T10:01:02Z')], [5, 'r'], [7, 0])]],
      [7, msg([1, 'unread container status'])],
    );
    const list = msg([1, msg([2, '99'], [3, 'next-token'], [4, 5])], [2, msg([1, meta], [2, spec], [3, status])]);
    expect(decodePodList(envelope('PodList', list))).toEqual({
      metadata: { resourceVersion: '99', continue: 'next-token' },
      items: [
        {
          metadata: {
            name: 'agent-x1',
            namespace: 'ns',
            uid: 'uid-1',
            creationTimestamp: '2026-12-01T10:00:00Z',
            deletionTimestamp: '2026-12-01T10:05:00Z',
            labels: { app: 'agent', tier: '' },
            ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'agent', uid: 'ds-uid', controller: true, blockOwnerDeletion: false }],
            finalizers: ['example.com/hold'],
          },
          spec: {
            containers: [],
            nodeName: 'n1',
            affinity: {
              nodeAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: {
                  nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }], matchExpressions: [{ key: 'zone', operator: 'Exists' }] }],
                },
              },
            },
          },
          status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2026-12-01T10:01:02Z' }] },
        },
      ],
    });
  });

  it.each([
    ['empty strings, as JSON leaves them out', msg([1, msg([1, 'p'], [3, ''], [5, ''])], [2, msg([10, ''])], [3, msg([1, ''])]), { metadata: { name: 'p' }, spec: { containers: [] }, status: {} }],
    ['the zero time left out', msg([1, msg([1, 'p'], [8, ZERO_TIME])]), { metadata: { name: 'p' }, spec: { containers: [] }, status: {} }],
    [
      // Only the Ready condition is kept, with its own time, in whatever order the fields come.
      'the other conditions dropped with their times, the Ready one keeping its time written before its type',
      msg([3, msg([2, [msg([1, 'Initialized'], [2, 'True'], [4, time('2026-12-01T09:00:00Z')]), msg([4, time('2026-12-01T10:01:02Z')], [1, 'Ready'], [2, 'True'])]])]),
      { metadata: {}, spec: { containers: [] }, status: { conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2026-12-01T10:01:02Z' }] } },
    ],
    [
      'a Ready condition without a transition time',
      msg([3, msg([2, msg([1, 'Ready'], [2, 'False'], [4, ZERO_TIME])])]),
      { metadata: {}, spec: { containers: [] }, status: { conditions: [{ type: 'Ready', status: 'False' }] } },
    ],
    // What Go writes for a zero time in a field that is no pointer: an empty message (JSON: null), not the epoch. Read
    // as the epoch, a Ready pod would count as Available at once under minReadySeconds.
    [
      'a Ready condition whose transition time is an empty message (Go: the zero time)',
      msg([1, msg([1, 'p'], [8, msg()])], [3, msg([2, msg([1, 'Ready'], [2, 'True'], [4, msg()])])]),
      { metadata: { name: 'p' }, spec: { containers: [] }, status: { conditions: [{ type: 'Ready', status: 'True' }] } },
    ],
  ])('%s', (_, pod, expected) => {
    expect(decodePodList(envelope('PodList', msg([2, pod]))).items).toEqual([expected]);
  });

  it('skips unknown fields of every wire type Kubernetes uses', () => {
    const withFixed = (bytes: Uint8Array, extra: number[]) => Uint8Array.from([...bytes, ...extra]);
    // field 90 as varint, fixed64 (wire 1) and fixed32 (wire 5), then the name.
    const meta = withFixed(msg([90, 7]), [...varint(91n * 8n + 1n), 1, 2, 3, 4, 5, 6, 7, 8, ...varint(92n * 8n + 5n), 1, 2, 3, 4, ...msg([1, 'p'])]);
    expect(decodePodList(envelope('PodList', msg([2, msg([1, meta])]))).items[0]!.metadata).toEqual({ name: 'p' });
  });

  it.each([
    ['no k8s prefix', Uint8Array.from([1, 2, 3, 4, 5]), /no k8s/],
    ['another kind', envelope('NodeList', msg()), /expected a PodList, got NodeList/],
    ['a body cut short', envelope('PodList', msg([2, msg([1, msg([1, 'agent-x1'])])])).slice(0, -3), /past the end/],
    ['a wire type Kubernetes does not use (groups)', envelope('PodList', Uint8Array.from([...varint(2n * 8n + 3n)])), /wire type 3/],
    // A 10-byte length varint can be negative: it would move the reader back to its own key, for ever.
    ['a negative length of an item', envelope('PodList', Uint8Array.from([...varint(2n * 8n + 2n), ...varint(-11n)])), /negative length/],
    ['a negative length of an unknown field', envelope('PodList', Uint8Array.from([...varint(90n * 8n + 2n), ...varint(-3n)])), /negative length/],
  ])('rejects %s', (_, body, message) => {
    expect(() => decodePodList(body)).toThrow(ProtobufError);
    expect(() => decodePodList(body)).toThrow(message);
  });
});

describe('decodeNodeList', () => {
  it('name, uid, labels, times, taints and unschedulable; nothing of the status', () => {
    const meta = msg([1, 'n1'], [3, ''], [5, 'node-uid'], [8, time('2026-11-30T00:00:00Z')], [11, msg([1, 'kubernetes.io/os'], [2, 'linux'])], [14, ['not kept for a node']]);
    const taints = [msg([1, 'dedicated'], [2, 'infra'], [3, 'NoSchedule']), msg([1, 'node.kubernetes.io/unreachable'], [3, 'NoExecute'], [4, time('2026-12-01T09:00:00Z')])];
    const nodes = [
      msg([1, meta], [2, msg([1, '10.0.0.0/24'], [4, true], [5, taints])], [3, msg([1, msg([1, 'unread capacity'])])]),
      msg([1, msg([1, 'n2'])], [2, msg([4, false])]),
    ];
    expect(decodeNodeList(envelope('NodeList', msg([1, msg([2, '7'], [3, ''])], [2, nodes])))).toEqual({
      metadata: { resourceVersion: '7' },
      items: [
        {
          metadata: { name: 'n1', uid: 'node-uid', creationTimestamp: '2026-11-30T00:00:00Z', labels: { 'kubernetes.io/os': 'linux' } },
          spec: {
            unschedulable: true,
            taints: [
              { key: 'dedicated', value: 'infra', effect: 'NoSchedule' },
              { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute', timeAdded: '2026-12-01T09:00:00Z' },
            ],
          },
        },
        { metadata: { name: 'n2' }, spec: {} },
      ],
    });
  });
});

describe('rfc3339: what JSON writes for a metav1.Time, without Date', () => {
  const viaDate = (seconds: number) => new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  it.each([
    ['the epoch', '1970-01-01T00:00:00Z'],
    ['a second before it', '1969-12-31T23:59:59Z'],
    ['a leap day', '2024-02-29T12:34:56Z'],
    ['a century year that is a leap year', '2000-02-29T23:59:59Z'],
    ['the day after February in a century year that is not', '2100-03-01T00:00:00Z'],
    ['the last second of a year', '2026-12-31T23:59:59Z'],
    ['the first year with four digits', '1000-01-01T00:00:00Z'],
    ['the last second a four-digit year has', '9999-12-31T23:59:59Z'],
  ])('%s: %s', (_, iso) => {
    expect(rfc3339(Date.parse(iso) / 1000)).toBe(iso);
  });

  it('equals the Date formatting every 3,197,293 s (37 days and 3 s) from year 1000 to 9999, and outside those years falls back to it', () => {
    const from = Date.parse('1000-01-01T00:00:00Z') / 1000;
    const to = Date.parse('9999-12-31T23:59:59Z') / 1000;
    const wrong: string[] = [];
    for (let s = from; s <= to; s += 3_197_293) if (rfc3339(s) !== viaDate(s)) wrong.push(`${s}: ${rfc3339(s)} ≠ ${viaDate(s)}`);
    expect(wrong).toEqual([]);
    expect(rfc3339(-62_135_596_799)).toBe('0001-01-01T00:00:01Z');
  });
});

describe('decodeStatus', () => {
  it('reads an error answer as its JSON would', () => {
    const status = msg([1, msg()], [2, 'Failure'], [3, 'pods "x" not found'], [4, 'NotFound'], [5, msg([1, 'x'], [3, 'pods'])], [6, 404]);
    expect(decodeStatus(envelope('Status', status))).toEqual({ kind: 'Status', message: 'pods "x" not found', reason: 'NotFound', code: 404 });
  });

  it('is undefined for a body that is not a Status', () => {
    expect(decodeStatus(Uint8Array.from([0x7b, 0x7d]))).toBeUndefined();
    expect(decodeStatus(envelope('PodList', msg()))).toBeUndefined();
  });
});
