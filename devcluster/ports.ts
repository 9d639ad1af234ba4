/**
 * Free loopback ports, the kernel's choice, for the processes the dev cluster starts (control plane, functions, Lambda
 * instances, ElasticMQ, the fault proxy) and for test listeners.
 *
 * Asking the kernel for a port means listening on port 0 and closing again; a second ask may be handed the port just
 * closed (CI once drew 43111 for both kube-apiserver and kube-scheduler). So the sockets of one call stay open until
 * all its ports are picked, and this process never hands out the same port twice. Another process can still take a
 * port before its user binds it; on a test machine that window is small.
 */
import { createServer, type Server } from 'node:net';

const handedOut = new Set<number>();

function listen(port: number, host: string): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, host, () => resolve(server));
  });
}

const portOf = (server: Server) => (server.address() as { port: number }).port;
const close = (servers: Server[]) => Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));

/**
 * `count` distinct free ports; with `span` > 1 each is the first of `span` adjacent free ones (the functions' HTTP and
 * HTTPS), and the others are not handed out either.
 */
export async function freePorts(count: number, options: { host?: string; span?: number } = {}): Promise<number[]> {
  const { host = '127.0.0.1', span = 1 } = options;
  const held: Server[] = [];
  const picked: number[] = [];
  try {
    for (let attempt = 0; picked.length < count; attempt++) {
      if (attempt >= 50 * count) throw new Error(`no ${count} free port(s) of ${span} adjacent found on ${host}`);
      const first = await listen(0, host);
      if (first === undefined) continue;
      held.push(first);
      const port = portOf(first);
      const range = Array.from({ length: span }, (_, i) => port + i);
      if (range.some((p) => handedOut.has(p) || p > 65535)) continue;
      let ok = true;
      for (const next of range.slice(1)) {
        const server = await listen(next, host);
        if (server === undefined) {
          ok = false;
          break;
        }
        held.push(server);
      }
      if (!ok) continue;
      for (const p of range) handedOut.add(p);
      picked.push(port);
    }
    return picked;
  } finally {
    await close(held);
  }
}

/** One free port (see `freePorts`). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const [port] = await freePorts(1, { host });
  return port as number;
}
