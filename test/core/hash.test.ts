import { describe, expect, it } from 'vitest';
import { canonicalJson, fnv1a64, revisionHash, safeEncode, shortHash } from '../../src/core/hash.ts';
import { newDaemonSet, T0 } from '../support/builders.ts';

describe('canonicalJson', () => {
  it.each([
    { name: 'keys sorted at every depth', value: { b: 1, a: { d: [{ z: 1, y: 2 }], c: 'x' } }, want: '{"a":{"c":"x","d":[{"y":2,"z":1}]},"b":1}' },
    { name: 'undefined and null members dropped', value: { a: undefined, b: null, c: 1 }, want: '{"c":1}' },
    { name: 'Date as ISO string', value: { t: T0 }, want: '{"t":"2026-01-01T00:00:00.000Z"}' },
    { name: 'array order kept, undefined elements become null', value: [3, undefined, 1], want: '[3,null,1]' },
    { name: 'empty objects and arrays kept', value: { a: {}, b: [] }, want: '{"a":{},"b":[]}' },
  ])('$name', ({ value, want }) => expect(canonicalJson(value)).toBe(want));
});

describe('fnv1a64 and safeEncode', () => {
  // Published FNV-1a 64 test vectors.
  it.each([
    { input: '', want: 0xcbf29ce484222325n },
    { input: 'a', want: 0xaf63dc4c8601ec8cn },
    { input: 'foobar', want: 0x85944171f73967e8n },
  ])('fnv1a64($input)', ({ input, want }) => expect(fnv1a64(input)).toBe(want));

  it('encodes to a fixed length over consonants and digits', () => {
    expect(safeEncode(0n, 10)).toBe('bbbbbbbbbb');
    expect(shortHash('anything')).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]{10}$/);
  });
});

describe('revisionHash', () => {
  const ds = newDaemonSet('fluentd');
  const rows = [
    { name: 'same input, same hash', other: newDaemonSet('fluentd'), same: true },
    // Only the template and collisionCount count: not the name, generation, selector or status counters.
    { name: 'metadata and status counters do not count', other: newDaemonSet('fluentd', { metadata: { generation: 7, name: 'x' }, status: { numberReady: 3 } }), same: true },
    { name: 'template change changes it', other: newDaemonSet('fluentd', { spec: { template: { spec: { containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.9' }] } } } }), same: false },
    { name: 'template label change changes it', other: newDaemonSet('fluentd', { spec: { template: { metadata: { labels: { app: 'fluentd', v: '2' } } } } }), same: false },
    { name: 'collisionCount changes it', other: newDaemonSet('fluentd', { status: { collisionCount: 1 } }), same: false },
    // collisionCount absent and 0 are the same revision.
    { name: 'collisionCount 0 equals absent', other: newDaemonSet('fluentd', { status: { collisionCount: 0 } }), same: true },
    // client-node yields `creationTimestamp: null` in templates read from the API; tests build them without it.
    { name: 'null and absent fields hash alike', other: newDaemonSet('fluentd', { spec: { template: { metadata: { creationTimestamp: null as never } } } }), same: true },
  ];
  it.each(rows)('$name', ({ other, same }) => {
    expect(revisionHash(other) === revisionHash(ds)).toBe(same);
  });

  it('key order is irrelevant', () => {
    const reordered = structuredClone(ds);
    const container = reordered.spec!.template.spec!.containers[0]!;
    reordered.spec!.template.spec!.containers[0] = { image: container.image, name: container.name };
    reordered.spec!.template = { spec: reordered.spec!.template.spec, metadata: reordered.spec!.template.metadata };
    expect(Object.keys(reordered.spec!.template)).toEqual(['spec', 'metadata']);
    expect(revisionHash(reordered)).toBe(revisionHash(ds));
  });

  it('is a valid label value of 10 safe characters', () => {
    expect(revisionHash(ds)).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]{10}$/);
  });

  it('is pinned: changing the function would make every existing pod look outdated', () => {
    const pinned = { spec: { selector: {}, template: { metadata: { labels: { app: 'x' } }, spec: { containers: [{ name: 'c', image: 'i' }] } } } };
    expect(canonicalJson({ collisionCount: 0, template: pinned.spec.template })).toBe(
      '{"collisionCount":0,"template":{"metadata":{"labels":{"app":"x"}},"spec":{"containers":[{"image":"i","name":"c"}]}}}',
    );
    expect(revisionHash(pinned)).toMatchInlineSnapshot(`"x4g5vtxx8p"`);
  });
});
