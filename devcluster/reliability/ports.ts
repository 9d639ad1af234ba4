/** Free loopback ports (the kernel's choice), optionally `span` adjacent ones (the functions' HTTP and HTTPS). */
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

export async function freePort(span = 1): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await listen(0);
    if (port === undefined) continue;
    let ok = true;
    for (let i = 1; i < span && ok; i++) ok = (await listen(port + i)) !== undefined;
    if (ok) return port;
  }
  throw new Error(`no ${span} adjacent free port(s) found`);
}
