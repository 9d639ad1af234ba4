/**
 * `npm start`: the same app the Lambda functions run, served by @hono/node-server. HTTP on PORT for the audit
 * webhook, watch events, CloudEvents and resync; HTTPS on HTTPS_PORT (when TLS_CERT_FILE/TLS_KEY_FILE are set) for
 * admission webhooks, which the API server only calls over https. Work deferred by the admission route runs in the
 * background of this long-lived process, and failed-pod backoffs are re-queued with timers.
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { serve } from '@hono/node-server';
import { loadConfig } from '../config.ts';
import { createApp } from '../http/app.ts';
import { createBackgroundDefer } from '../http/defer.ts';
import { createLogger } from '../log.ts';
import { createSsmParameterStore, loadSecrets } from '../secrets.ts';
import { withCoalescing, withTimers } from '../follow-up.ts';
import { mayWriteOnlyStatus } from '../hints.ts';
import { createHandler } from '../wiring-cluster.ts';

const config = loadConfig(process.env);
const log = createLogger(config.LOG_LEVEL);
const secrets = await loadSecrets(config, createSsmParameterStore(), log);
const kubeConfig = { ...config, KUBE_TOKEN: secrets.kubeToken };
const handler = withTimers(withCoalescing(createHandler(kubeConfig, log), { concurrency: config.MAX_CONCURRENT_RECONCILES, beside: mayWriteOnlyStatus }), log, {
  followUpIntervalMs: config.FOLLOW_UP_INTERVAL_MS,
  followUpDelayMs: config.FOLLOW_UP_DELAY_MS,
});
// The scheduled resync (on Lambda: the `resync` function's schedule): heals whatever events were lost.
const resync =
  config.RESYNC_INTERVAL_MS > 0
    ? setInterval(() => {
        handler.handle([{ kind: 'resync' }]).catch((error: unknown) => log.warn('resync failed', { error: String(error) }));
      }, config.RESYNC_INTERVAL_MS)
    : undefined;
resync?.unref();
const background = createBackgroundDefer(log);
const app = createApp({ handler, config, log, secrets, defer: background.defer });

const servers = [serve({ fetch: app.fetch, port: config.PORT, hostname: config.HOST })];
if (config.TLS_CERT_FILE && config.TLS_KEY_FILE) {
  servers.push(
    serve({
      fetch: app.fetch,
      port: config.HTTPS_PORT,
      hostname: config.HOST,
      createServer: createHttpsServer,
      serverOptions: { cert: readFileSync(config.TLS_CERT_FILE), key: readFileSync(config.TLS_KEY_FILE) },
    }),
  );
}
log.info('listening', {
  http: `http://${config.HOST}:${config.PORT}`,
  https: config.TLS_CERT_FILE ? `https://${config.HOST}:${config.HTTPS_PORT}` : undefined,
  kubeconfig: config.KUBECONFIG ?? '(default)',
});

const stop = async (signal: string) => {
  log.info('stopping', { signal, pending: background.pending });
  clearInterval(resync);
  for (const s of servers) s.close();
  await background.drain();
  process.exit(0);
};
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
