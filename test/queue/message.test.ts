/** Queue message bodies: one per send unless the hints would not fit in SQS's 256 KiB (encodeMessages). */
import { describe, expect, it } from 'vitest';
import type { Hint } from '../../src/hints.ts';
import { encodeMessages, QueueMessageSchema } from '../../src/queue/message.ts';

const ds = (name: string, pods?: string[]): Hint => ({ kind: 'daemonSet', namespace: 'default', name, ...(pods ? { pods } : {}) });
const named = (n: number) => Array.from({ length: n }, (_, i) => `pod-with-a-long-generated-name-${'x'.repeat(180)}-${i}`);
const decode = (bodies: string[]) => bodies.map((b) => QueueMessageSchema.parse(JSON.parse(b)));

describe('encodeMessages', () => {
  it('small: one body, the hints as they are', () => {
    // A node's creation rides along (Hint `created`): the reconcile side reads no pods where nothing should run.
    const hints = [
      ds('a', ['p1']),
      { kind: 'node', name: 'n1' } as Hint,
      { kind: 'node', name: 'n2', created: true } as Hint,
      { kind: 'node', name: 'n3', created: true, registered: { labels: { zone: 'a' }, taints: [{ key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' }] } } as Hint,
      { kind: 'orphan', namespace: 'default', name: 'loose', labels: { app: 'agent' } } as Hint,
    ];
    const bodies = encodeMessages(hints, 123, { failures: 2 });
    expect(decode(bodies)).toEqual([{ v: 1, hints, notBefore: 123, failures: 2 }]);
  });

  it('too large with pod names: one body whose DaemonSet hints ask for the full pass instead', () => {
    const bodies = encodeMessages([ds('a', named(900)), ds('b', [])], undefined, {}, 100_000);
    expect(bodies).toHaveLength(1);
    expect(decode(bodies)[0]!.hints).toEqual([ds('a'), ds('b')]);
  });

  it('too large with orphans\' labels: one body whose orphan hints have their pods read instead', () => {
    const labels = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`example.com/label-${i}`, 'x'.repeat(50)]));
    const orphans = Array.from({ length: 30 }, (_, i) => ({ kind: 'orphan', namespace: 'default', name: `loose-${i}`, labels }) as Hint);
    const bodies = encodeMessages([...orphans, ds('a', [])], undefined, {}, 100_000);
    expect(bodies).toHaveLength(1);
    expect(decode(bodies)[0]!.hints).toEqual([...orphans.map((_, i) => ({ kind: 'orphan', namespace: 'default', name: `loose-${i}` })), ds('a')]);
  });

  it('too large even without them: split, every hint kept once, each body within the limit', () => {
    const hints = Array.from({ length: 3000 }, (_, i) => ({ kind: 'node', name: `node-${'n'.repeat(200)}-${i}` }) as Hint);
    const bodies = encodeMessages(hints, undefined, {}, 250_000);
    expect(bodies.length).toBeGreaterThan(1);
    for (const body of bodies) expect(Buffer.byteLength(body)).toBeLessThanOrEqual(250_000);
    expect(decode(bodies).flatMap((m) => m.hints)).toEqual(hints);
  });
});
