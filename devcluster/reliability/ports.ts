/**
 * Free loopback ports (the kernel's choice), optionally `span` adjacent ones (the functions' HTTP and HTTPS). Each probe
 * closes its socket, so two calls may be handed the same port: callers picking several pass one `taken` set, which
 * every call checks and extends.
 */
import { createServer } from 'node:net';

function listen(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => {
      const bound = (server.address() as { port: number }).port;
      server.close(() => resolve(bound));
    });
  });
}

export async function freePort(span = 1, taken: Set<number> = new Set()): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await listen(0);
    if (port === undefined) continue;
    const range = Array.from({ length: span }, (_, i) => port + i);
    if (range.some((p) => taken.has(p))) continue;
    let ok = true;
    for (let i = 1; i < span && ok; i++) ok = (await listen(port + i)) !== undefined;
    if (ok) {
      for (const p of range) taken.add(p);
      return port;
    }
  }
  throw new Error(`no ${span} adjacent free port(s) found`);
}
