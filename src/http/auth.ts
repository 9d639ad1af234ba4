/**
 * The optional shared secrets: a bearer token for the event routes, a path segment for the admission route (the API
 * server cannot send credentials to a webhook). Compared in constant time; never logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { UnauthorizedError } from '../errors.ts';

/** Constant-time equality of two secrets of any length (both sides are hashed to the same length first). */
export function secretsEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** Requires `Authorization: Bearer <token>` when a token is configured; a no-op otherwise. */
export function requireBearer(token: string | undefined): MiddlewareHandler {
  if (token === undefined) return async (_c, next) => next();
  return async (c, next) => {
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(c.req.header('authorization') ?? '');
    if (!match || !secretsEqual(match[1]!, token)) throw new UnauthorizedError('missing or wrong bearer token');
    await next();
  };
}
