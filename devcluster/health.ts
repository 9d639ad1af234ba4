/** Small HTTPS probes and a startup wait loop that fails fast when a component dies instead of timing out. */
import { connect } from 'node:net';
import { request } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Daemon, logTail } from './processes.ts';

export interface TlsOptions {
  readonly ca?: string | Buffer;
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  /** Only for loopback health probes of components serving a self-signed in-memory certificate. */
  readonly insecure?: boolean;
}

export class StartupError extends Error {
  override name = 'StartupError';
}

/** GET over HTTPS; resolves with the status code and body, rejects on connection errors and after `timeoutMs`. */
export function httpsGet(url: string, tls: TlsOptions, timeoutMs = 2_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'GET',
        ca: tls.ca,
        cert: tls.cert,
        key: tls.key,
        rejectUnauthorized: !tls.insecure,
        timeout: timeoutMs,
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Polls `probe` until it returns true. Throws a StartupError as soon as one of `watched` exits (with the tail of its
 * log, which says why far better than a timeout would), or after `timeoutMs` with the probe's last answer.
 */
export async function waitReady(
  what: string,
  probe: () => Promise<boolean | string>,
  watched: readonly Daemon[],
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  for (;;) {
    for (const daemon of watched) {
      const exit = daemon.exited();
      if (exit) {
        throw new StartupError(
          `${daemon.name} exited (${exit.signal ?? `code ${exit.code}`}) while waiting for ${what}; ${daemon.log}:\n${logTail(daemon.log)}`,
        );
      }
    }
    try {
      const answer = await probe();
      if (answer === true) return;
      if (typeof answer === 'string') last = answer;
    } catch (error) {
      last = (error as Error).message;
    }
    if (Date.now() > deadline) throw new StartupError(`${what}: not ready after ${timeoutMs / 1000} s (last: ${last})`);
    await sleep(200);
  }
}

/** Whether something accepts TCP connections on 127.0.0.1:`port` (a process that does not answer HTTP yet, too). */
export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
