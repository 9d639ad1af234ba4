/**
 * The routes' secrets: a bearer token for the event routes, a path segment for the admission route (the API server
 * cannot send credentials to a webhook, so the URL is the secret). Fail closed: a route whose secret is missing does
 * not start (`requireRouteSecrets`), unless INSECURE_NO_AUTH is set for a local experiment. Several secrets may be
 * accepted at once while one is rotated. Compared in constant time; never logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { UnauthorizedError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { RouteSecrets } from '../secrets.ts';

/** The HTTP routes that need a secret. `GET /healthz` needs none. */
export type RouteName = 'watch' | 'audit' | 'cloudevents' | 'resync' | 'admission';

export const allRoutes: readonly RouteName[] = ['watch', 'audit', 'cloudevents', 'resync', 'admission'];

const paths: Record<RouteName, string> = {
  watch: 'POST /events/watch',
  audit: 'POST /events/audit',
  cloudevents: 'POST /events/cloudevents',
  resync: 'POST /resync',
  admission: 'POST /events/admission/<secret>',
};

/** A process that would serve a route without its secret: the cold start (or `npm start`) fails with this. */
export class MissingSecretError extends Error {
  override name = 'MissingSecretError';
}

/**
 * Throws `MissingSecretError` naming each route without its secret and the settings that give it; with `insecure`,
 * logs those routes as open instead (a warning, at start).
 */
export function requireRouteSecrets(routes: readonly RouteName[], secrets: RouteSecrets, insecure: boolean, log: Logger): void {
  const open = routes.filter((route) =>
    route === 'admission' ? secrets.admissionPathSecrets.length === 0 : secrets.bearerTokens.length === 0,
  );
  if (open.length === 0) return;
  if (insecure) {
    log.warn('INSECURE_NO_AUTH=true: these routes accept requests from ANYONE; never expose this process', {
      open: open.map((route) => (route === 'admission' ? 'POST /events/admission' : paths[route])),
    });
    return;
  }
  const bearer = open.filter((route) => route !== 'admission').map((route) => paths[route]);
  const problems = [
    ...(bearer.length > 0 ? [`${bearer.join(', ')} need a bearer token: set BEARER_TOKEN_PARAMETER (SSM) or BEARER_TOKEN`] : []),
    ...(open.includes('admission')
      ? ['POST /events/admission needs a path secret: set ADMISSION_PATH_SECRET_PARAMETER (SSM) or ADMISSION_PATH_SECRET']
      : []),
  ];
  throw new MissingSecretError(
    `refusing to start: ${problems.join('; ')} (for a local experiment without authentication: INSECURE_NO_AUTH=true)`,
  );
}

/** Constant-time equality of two secrets of any length (both sides are hashed to the same length first). */
export function secretsEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** Whether `given` is one of `accepted`; every one is compared, so the time does not tell which matched. */
export function isAccepted(given: string, accepted: readonly string[]): boolean {
  let ok = false;
  for (const secret of accepted) ok = secretsEqual(given, secret) || ok;
  return ok;
}

/**
 * Requires `Authorization: Bearer <token>` with one of `tokens`. No tokens is only possible when
 * `requireRouteSecrets` let the route start open (INSECURE_NO_AUTH): then it is a no-op.
 */
export function requireBearer(tokens: readonly string[]): MiddlewareHandler {
  if (tokens.length === 0) return async (_c, next) => next();
  return async (c, next) => {
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(c.req.header('authorization') ?? '');
    if (!match || !isAccepted(match[1]!, tokens)) throw new UnauthorizedError('missing or wrong bearer token');
    await next();
  };
}
