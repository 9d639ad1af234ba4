/**
 * The real entry points (functions/*.ts, their real `createDeps`) at cold start: each needs its own route's secret and
 * nothing else, refuses to start without it, and refuses INSECURE_NO_AUTH on Lambda. Secrets are given directly here
 * (the SSM path is tested through its port in test/secrets.test.ts); nothing reaches a cluster: /healthz and an
 * admission review with nowhere to defer to need none.
 */
import type { LambdaEvent } from 'hono/aws-lambda';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { fixture } from '../http/support.ts';

const token = 'cold-start-token-0123456789';
const pathSecret = 'fixture-admission-secret-0123456789';
/** What every function has on Lambda besides its secret (a static token stands in for EKS authentication). */
const base = { AWS_LAMBDA_FUNCTION_NAME: 'daemonless-dev-fn', KUBE_SERVER: 'https://127.0.0.1:9', KUBE_TOKEN: 'unused', LOG_LEVEL: 'error' };
const saved = { ...process.env };

afterEach(() => {
  process.env = { ...saved };
});

type Handler = (event: LambdaEvent) => Promise<{ statusCode?: number }>;

/** A fresh import of functions/<name>.ts (its cold start is memoised per module instance) under `env`. */
async function coldStart(name: string, env: Record<string, string>): Promise<Handler> {
  process.env = { PATH: saved.PATH, ...base, ...env };
  vi.resetModules();
  return ((await import(`../../functions/${name}.ts`)) as { handler: Handler }).handler;
}

const healthz = (() => {
  const event = fixture('lambda-apigw-v2-watch.json');
  event.routeKey = 'GET /healthz';
  event.rawPath = '/healthz';
  event.requestContext.http = { ...event.requestContext.http, method: 'GET', path: '/healthz' };
  delete event.body;
  return event as LambdaEvent;
})();

describe('functions/* at cold start', () => {
  it.each(['watch', 'audit', 'cloudevents'])('%s starts with the bearer token alone', async (name) => {
    const handler = await coldStart(name, { BEARER_TOKEN: token });
    expect((await handler(healthz)).statusCode).toBe(200);
  });

  it.each(['watch', 'audit', 'cloudevents'])('%s refuses to start without it, naming the settings', async (name) => {
    const handler = await coldStart(name, { ADMISSION_PATH_SECRET: pathSecret });
    await expect(handler(healthz)).rejects.toThrow(
      `refusing to start: POST /events/${name} need a bearer token: set BEARER_TOKEN_PARAMETER (SSM) or BEARER_TOKEN`,
    );
  });

  it('admission starts with the path secret alone and answers on the secret path', async () => {
    const handler = await coldStart('admission', { ADMISSION_PATH_SECRET: pathSecret });
    const result = await handler(fixture<LambdaEvent>('lambda-function-url-admission.json'));
    expect(result.statusCode).toBe(200);
  });

  it('admission refuses to start without it', async () => {
    const handler = await coldStart('admission', { BEARER_TOKEN: token });
    await expect(handler(fixture<LambdaEvent>('lambda-function-url-admission.json'))).rejects.toThrow(
      'refusing to start: POST /events/admission needs a path secret: set ADMISSION_PATH_SECRET_PARAMETER (SSM) or ADMISSION_PATH_SECRET',
    );
  });

  it('INSECURE_NO_AUTH is refused on Lambda', async () => {
    const handler = await coldStart('watch', { INSECURE_NO_AUTH: 'true' });
    await expect(handler(healthz)).rejects.toThrow(/INSECURE_NO_AUTH: is for local experiments and is refused on Lambda/);
  });

  it('a function deployed without a cluster refuses to start', async () => {
    const handler = await coldStart('watch', { BEARER_TOKEN: token, KUBE_SERVER: '', KUBE_TOKEN: '' });
    await expect(handler(healthz)).rejects.toThrow(/KUBE_SERVER: required on Lambda/);
  });
});
