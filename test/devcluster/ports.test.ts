import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort, freePorts } from '../../devcluster/ports.ts';

// Loopback listens only: the kernel's ports, no cluster.
const bindable = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });

describe('free ports', () => {
  it('are distinct within a call and across calls, and free when handed out', async () => {
    const ports = [...(await freePorts(8)), ...(await freePorts(8)), await freePort(), await freePort()];
    expect(new Set(ports).size).toBe(ports.length);
    for (const port of ports) expect(await bindable(port)).toBe(true);
  });

  it('with a span, come with their neighbours free and never handed out again', async () => {
    const [first] = (await freePorts(1, { span: 2 })) as [number];
    expect(await bindable(first + 1)).toBe(true);
    const later = await freePorts(16);
    expect(later).not.toContain(first);
    expect(later).not.toContain(first + 1);
  });

  it('skip a port someone is listening on', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const busy = (server.address() as { port: number }).port;
    try {
      expect(await freePorts(16)).not.toContain(busy);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
