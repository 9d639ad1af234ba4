/** Fail closed: a route without its secret does not start; several secrets at once for rotation; none ever logged. */
import type { LambdaEvent } from 'hono/aws-lambda';
import { describe, expect, it } from 'vitest';
import { createApp, type AppDeps } from '../../src/http/app.ts';
import { isAccepted, MissingSecretError, type RouteName } from '../../src/http/auth.ts';
import { createHttpLambdaHandler } from '../../src/http/lambda.ts';
import { fixture, fixtureText, json, postJson, recordingHandler, recordingLogger, secretsOf, testConfig } from './support.ts';

const oldToken = 'old-token-0123456789abcdef';
const newToken = 'new-token-0123456789abcdef';
const oldPath = 'old-path-secret-0123456789';
const newPath = 'new-path-secret-0123456789';

/** An app as a process would build it: secure unless `INSECURE_NO_AUTH` is in `env`. */
function app(env: Record<string, string>, routes?: readonly RouteName[]) {
  const { handler, calls } = recordingHandler();
  const logs = recordingLogger();
  const config = testConfig(env);
  const deps: AppDeps = { handler, config, secrets: secretsOf(config), log: logs.log, defer: async (task) => task(), routes };
  return { create: () => createApp(deps), calls, logs };
}

const watch = (headers: Record<string, string> = {}) => postJson('/events/watch', fixtureText('watch-node-added.json'), headers);
const admission = (path: string) => postJson(path, fixture('admission-node-create.json'));

describe('a route without its secret refuses to start', () => {
  it('every route missing: one error naming each route and the settings that give its secret', () => {
    const { create } = app({});
    expect(create).toThrow(MissingSecretError);
    expect(create).toThrow(
      'refusing to start: POST /events/watch, POST /events/audit, POST /events/cloudevents, POST /resync need a bearer ' +
        'token: set BEARER_TOKEN_PARAMETER (SSM) or BEARER_TOKEN; POST /events/admission needs a path secret: set ' +
        'ADMISSION_PATH_SECRET_PARAMETER (SSM) or ADMISSION_PATH_SECRET (for a local experiment without ' +
        'authentication: INSECURE_NO_AUTH=true)',
    );
  });

  it.each([
    ['a bearer token alone', { BEARER_TOKEN: oldToken }, /^refusing to start: POST \/events\/admission needs a path secret/],
    ['a path secret alone', { ADMISSION_PATH_SECRET: oldPath }, /^refusing to start: POST \/events\/watch, .* need a bearer token/],
  ])('%s is not enough for every route', (_name, env, message) => {
    expect(app(env).create).toThrow(message);
  });

  it('a function serving only admission needs only the path secret; the other routes are not served', async () => {
    const { create } = app({ ADMISSION_PATH_SECRET: oldPath }, ['admission']);
    const served = create();
    expect((await served.request(admission(`/events/admission/${oldPath}`))).status).toBe(200);
    expect((await served.request(watch())).status).toBe(404);
    expect((await served.request('/healthz')).status).toBe(200);
  });

  it('a function serving only watch needs only the bearer token; admission is not served', async () => {
    const served = app({ BEARER_TOKEN: oldToken }, ['watch']).create();
    expect((await served.request(watch({ authorization: `Bearer ${oldToken}` }))).status).toBe(200);
    expect((await served.request(admission(`/events/admission/${oldPath}`))).status).toBe(404);
    expect((await served.request(admission('/events/admission'))).status).toBe(404);
  });

  it('on Lambda the cold start fails with that error (and is retried on the next invocation)', async () => {
    const { handler } = recordingHandler();
    const config = testConfig({});
    const deps: AppDeps = { handler, config, secrets: secretsOf(config), log: recordingLogger().log, defer: () => {}, routes: ['watch'] };
    const lambda = createHttpLambdaHandler(() => deps);
    const event = fixture<LambdaEvent>('lambda-apigw-v2-watch.json');
    await expect(lambda(event)).rejects.toThrow('refusing to start: POST /events/watch need a bearer token');
    await expect(lambda(event)).rejects.toThrow(MissingSecretError);
  });
});

describe('INSECURE_NO_AUTH=true (local experiments)', () => {
  it('opens the routes without a secret, and says so loudly at start', async () => {
    const { create, logs, calls } = app({ INSECURE_NO_AUTH: 'true' });
    const served = create();
    expect(logs.entries()).toEqual([
      expect.objectContaining({
        level: 'warn',
        msg: 'INSECURE_NO_AUTH=true: these routes accept requests from ANYONE; never expose this process',
        open: ['POST /events/watch', 'POST /events/audit', 'POST /events/cloudevents', 'POST /resync', 'POST /events/admission'],
      }),
    ]);
    expect((await served.request(watch())).status).toBe(200);
    expect((await served.request(admission('/events/admission'))).status).toBe(200);
    expect(calls).toHaveLength(2);
  });

  it('routes that have a secret still require it', async () => {
    const { create, logs } = app({ INSECURE_NO_AUTH: 'true', BEARER_TOKEN: oldToken });
    const served = create();
    expect(logs.entries()[0].open).toEqual(['POST /events/admission']);
    expect((await served.request(watch())).status).toBe(401);
    expect((await served.request(watch({ authorization: `Bearer ${oldToken}` }))).status).toBe(200);
  });
});

describe('rotation: several secrets at once', () => {
  const env = { BEARER_TOKEN: `${oldToken},${newToken}`, ADMISSION_PATH_SECRET: `${oldPath}\n${newPath}` };

  it.each([
    ['the old token', `Bearer ${oldToken}`, 200],
    ['the new token', `Bearer ${newToken}`, 200],
    ['neither', 'Bearer other-token-0123456789abcdef', 401],
    ['both at once', `Bearer ${oldToken},${newToken}`, 401],
  ])('bearer: %s → %i', async (_name, authorization, status) => {
    const { create } = app(env);
    expect((await create().request(watch({ authorization }))).status).toBe(status);
  });

  it.each([
    ['the old path secret', `/events/admission/${oldPath}`, 200],
    ['the new path secret', `/events/admission/${newPath}`, 200],
    ['the bare path', '/events/admission', 404],
    ['another secret', '/events/admission/other-path-secret-0123456', 404],
  ])('admission: %s → %i', async (_name, path, status) => {
    const { create } = app(env);
    expect((await create().request(admission(path))).status).toBe(status);
  });

  it('isAccepted: one of several, exact match only', () => {
    expect(isAccepted(newToken, [oldToken, newToken])).toBe(true);
    expect(isAccepted(newToken.slice(0, -1), [oldToken, newToken])).toBe(false);
    expect(isAccepted(`${newToken}x`, [oldToken, newToken])).toBe(false);
    expect(isAccepted(newToken, [])).toBe(false);
  });
});

describe('secrets are never logged', () => {
  it('not at start, not on success, not on refusals (wrong, near-miss, or secret-looking input)', async () => {
    const env = { BEARER_TOKEN: `${oldToken},${newToken}`, ADMISSION_PATH_SECRET: `${oldPath},${newPath}` };
    const { create, logs } = app(env);
    const served = create();
    const statuses = [];
    for (const request of [
      watch({ authorization: `Bearer ${oldToken}` }),
      watch({ authorization: `Bearer ${newToken}x` }),
      watch({ authorization: `Basic ${newToken}` }),
      postJson('/events/watch', 'not json', { authorization: `Bearer ${newToken}` }),
      watch({ authorization: `Bearer ${newToken}`, 'content-type': 'text/plain' }),
      admission(`/events/admission/${oldPath}`),
      admission(`/events/admission/${newPath}?timeout=10s`),
      admission(`/events/admission/${newPath}x`),
      admission('/events/admission'),
    ]) {
      statuses.push((await served.request(request)).status);
    }
    expect(statuses).toEqual([200, 401, 401, 400, 415, 200, 200, 404, 404]);
    const text = logs.lines.join('\n');
    expect(logs.lines.length).toBeGreaterThanOrEqual(statuses.length);
    for (const secret of [oldToken, newToken, oldPath, newPath]) expect(text).not.toContain(secret);
    // The request log names the route, never the path that carried the secret.
    expect(logs.entries().filter((e) => e.msg === 'request' && e.route === 'admission')).toHaveLength(4);
  });

  it('the 404 for a wrong admission path does not echo it', async () => {
    const res = await app({ ADMISSION_PATH_SECRET: oldPath }, ['admission']).create().request(admission(`/events/admission/${newPath}`));
    expect(await json(res)).toEqual({ error: 'not found' });
  });
});
