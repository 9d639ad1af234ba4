// The entry points only wire things together; importing them must not touch Kubernetes (dependencies are built on the
// first invocation).
import { describe, expect, it } from 'vitest';

describe('functions/*', () => {
  it.each(['watch', 'admission', 'audit', 'cloudevents', 'resync'])('%s exports a handler', async (name) => {
    const module = (await import(`../../functions/${name}.ts`)) as { handler?: unknown };
    expect(typeof module.handler).toBe('function');
  });
});
