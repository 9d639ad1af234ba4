/**
 * The HTTP intake: every input format becomes `Hint[]`, handed to `deps.handler`. The app never talks to Kubernetes.
 *
 *   POST /events/watch                 watch events, one or NDJSON                    bearer token
 *   POST /events/audit                 audit.k8s.io/v1 EventList                      bearer token
 *   POST /events/cloudevents           Knative ApiServerSource CloudEvents            bearer token
 *   POST /resync                       everything                                     bearer token
 *   POST /events/admission/:secret     AdmissionReview; answered at once, reconciled after the change is stored
 *   GET  /healthz
 *
 * A process serves `deps.routes` (a Lambda function its own; `npm start` all) and refuses to start when one of them
 * lacks its secret (./auth.ts). Bodies are bounded before they are parsed (./content-type.ts, ./json-guard.ts).
 *
 * Answers: 200 with the HandleResult when hints were handled; 202 `{accepted: 0, ignored}` when the input was valid
 * but asked for nothing; 400 `{error, issues: [{path, message}]}` when it was not (nothing is handled then); 401, 404,
 * 413, 415; and the handler's typed errors mapped in `onError` (503 with Retry-After for transient ones).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Config } from '../config.ts';
import { DaemonlessError, NotFoundError, PayloadTooLargeError, TransientError, UnauthorizedError, isTransient } from '../errors.ts';
import { dedupeHints, pendingOf, summarizeHints, type HandleResult, type Hint, type HintHandler } from '../hints.ts';
import { serializeError, type Logger } from '../log.ts';
import type { RouteSecrets } from '../secrets.ts';
import { allRoutes, isAccepted, requireBearer, requireRouteSecrets, type RouteName } from './auth.ts';
import { checkContentType, type BodyKind } from './content-type.ts';
import { handleUntilSeen, type Defer } from './defer.ts';
import type { Intake } from './hints-from-object.ts';
import { InvalidInputError, parseAt, parseJson } from './invalid-input.ts';
import { checkJson, type JsonLimits } from './json-guard.ts';
import { allowed, intakeAdmission } from './intake/admission.ts';
import { intakeAudit } from './intake/audit.ts';
import { intakeCloudEvents } from './intake/cloudevents.ts';
import { intakeWatch } from './intake/watch.ts';
import { AdmissionReviewSchema } from './schemas.ts';

export interface AppDeps {
  handler: HintHandler;
  config: Config;
  log: Logger;
  /** Runs admission work after the response is sent (see ./defer.ts). */
  defer: Defer;
  /** What the routes check, loaded at start (src/secrets.ts). */
  secrets: RouteSecrets;
  /** The routes this process serves; every one when unset. `GET /healthz` always. */
  routes?: readonly RouteName[];
  /**
   * Waits before retrying deferred admission work that failed transiently, when it runs in this process (a long-lived
   * server: nobody else would retry it). Default `deferredRetryDelaysMs`. Work handed to Lambda or the queue is retried
   * there instead.
   */
  deferredRetryDelaysMs?: readonly number[];
}

type Variables = { route: string; hints: Hint[]; result: HandleResult; ignored: number; body: string; sources: string[]; changeAgeMs: number };
export type App = Hono<{ Variables: Variables }>;

/**
 * How long an admission request may wait for its deferred work to be handed over (a no-op locally; an asynchronous
 * Lambda invoke, typically tens of milliseconds, on Lambda). Past this the request is answered anyway: the API
 * server's request must never be delayed for long, and the scheduled resync catches what is lost.
 */
export const deferHandOffBoundMs = 1_000;

/** 1 + 2 + 4 + 8 + 16 s: an API server restart or a namespace of the batch going away outlasts a single try. */
export const deferredRetryDelaysMs: readonly number[] = [1_000, 2_000, 4_000, 8_000, 16_000];

export function createApp(deps: AppDeps): App {
  const { config, log, secrets } = deps;
  const routes = new Set(deps.routes ?? allRoutes);
  requireRouteSecrets([...routes], secrets, config.INSECURE_NO_AUTH, log);
  const app: App = new Hono<{ Variables: Variables }>();

  app.use('*', requestLog(log));

  const named =
    (route: string) =>
    async (c: Context<{ Variables: Variables }>, next: () => Promise<void>): Promise<void> => {
      c.set('route', route);
      await next();
    };
  const bearer = requireBearer(secrets.bearerTokens);
  const limit = bodyLimit({
    maxSize: config.BODY_LIMIT_BYTES,
    onError: () => {
      throw new PayloadTooLargeError(`request body exceeds ${config.BODY_LIMIT_BYTES} bytes`);
    },
  });
  const jsonLimits: JsonLimits = { maxDepth: config.JSON_MAX_DEPTH, maxTokens: config.JSON_MAX_TOKENS };
  /**
   * Reads a route's body within bounds, in this order: Content-Type (415), size (413), JSON depth (400) and number of
   * values (413) before anything parses it. The text is left in `c.var.body`.
   */
  const boundedBody =
    (kind: BodyKind) =>
    async (c: Context<{ Variables: Variables }>, next: () => Promise<void>): Promise<void> => {
      const json = checkContentType(kind, c.req.raw.headers);
      await limit(c, async () => {
        const text = await c.req.text();
        // Content-Length is what the limit above trusted; the body read must agree.
        if (Buffer.byteLength(text) > config.BODY_LIMIT_BYTES) {
          throw new PayloadTooLargeError(`request body exceeds ${config.BODY_LIMIT_BYTES} bytes`);
        }
        if (json) checkJson(text, jsonLimits, bodyNames[kind]);
        c.set('body', text);
        await next();
      });
    };

  /** Hands the intake's hints to the handler and answers 200, or 202 when there is nothing to do. */
  const respond = async (c: Context<{ Variables: Variables }>, intake: Intake): Promise<Response> => {
    const hints = dedupeHints(intake.hints);
    c.set('hints', hints);
    c.set('ignored', intake.ignored.length);
    if (intake.sources) c.set('sources', intake.sources);
    // Latency trace: how old the oldest change behind these hints was when it arrived (the API server's clock).
    if (intake.oldestChangeAt !== undefined) c.set('changeAgeMs', Math.max(0, Date.now() - intake.oldestChangeAt));
    const summary = {
      ignored: groupReasons(intake.ignored),
      ...(intake.skipped > 0 ? { skipped: intake.skipped } : {}),
    };
    if (hints.length === 0) return c.json({ accepted: 0, ...summary }, 202);
    const result = await deps.handler.handle(hints);
    c.set('result', result);
    return c.json({ accepted: hints.length, ...result, ...summary }, 200);
  };

  app.get('/healthz', named('healthz'), (c) => c.json({ ok: true }));

  if (routes.has('watch')) {
    app.post('/events/watch', named('watch'), bearer, boundedBody('watch'), async (c) => respond(c, intakeWatch(c.var.body)));
  }

  if (routes.has('audit')) {
    app.post('/events/audit', named('audit'), bearer, boundedBody('audit'), async (c) =>
      respond(c, intakeAudit(parseJson(c.var.body, 'audit EventList'))),
    );
  }

  if (routes.has('cloudevents')) {
    app.post('/events/cloudevents', named('cloudevents'), bearer, boundedBody('cloudevents'), async (c) =>
      respond(c, intakeCloudEvents(c.req.raw.headers, c.var.body, jsonLimits)),
    );
  }

  if (routes.has('resync')) {
    app.post('/resync', named('resync'), bearer, async (c) => respond(c, { hints: [{ kind: 'resync' }], ignored: [], skipped: 0 }));
  }

  // Admission: the path secret is the only protection; a wrong one looks like any unknown path. The bare path is
  // served only when the route was let start without a secret (INSECURE_NO_AUTH).
  const pathSecrets = secrets.admissionPathSecrets;
  const admissionGate =
    (withSecret: boolean) =>
    async (c: Context<{ Variables: Variables }>, next: () => Promise<void>): Promise<void> => {
      const given = withSecret ? c.req.param('secret') : undefined;
      const ok = pathSecrets.length === 0 ? given === undefined : given !== undefined && isAccepted(given, pathSecrets);
      if (!ok) throw new NotFoundError('not found');
      await next();
    };
  const admission = async (c: Context<{ Variables: Variables }>): Promise<Response> => {
    // Only a body that is not an AdmissionReview at all is refused (400); from here on the answer is allowed:true.
    const review = parseAt(AdmissionReviewSchema, parseJson(c.var.body, 'AdmissionReview'), [], 'AdmissionReview');
    try {
      const intake = intakeAdmission(review, { now: Date.now(), storedWithinMs: config.ADMISSION_STORED_WITHIN_MS });
      const hints = dedupeHints(intake.hints);
      c.set('hints', hints);
      c.set('ignored', intake.ignored.length);
      if (hints.length > 0) await handOff(hints);
    } catch (error) {
      log.warn('admission request not reconciled', {
        uid: review.request.uid,
        error: error instanceof InvalidInputError ? { message: error.message, issues: error.issues } : serializeError(error),
      });
    }
    return c.json(allowed(review), 200);
  };
  /**
   * Defers the handling; waits at most `deferHandOffBoundMs` for the hand-over itself. A node's or DaemonSet's change
   * is handled at once and again until the pass sees it stored (Hint `pending`, defer.ts `handleUntilSeen`); anything
   * else (a pod's change, a DaemonSet's metadata) after ADMISSION_SETTLE_MS.
   */
  const handOff = async (hints: Hint[]): Promise<void> => {
    const delayMs = hints.every((h) => pendingOf(h) !== undefined) ? 0 : config.ADMISSION_SETTLE_MS;
    const retryDelays = deps.deferredRetryDelaysMs ?? deferredRetryDelaysMs;
    const task = async (): Promise<void> => {
      if (delayMs > 0) await sleep(delayMs);
      for (let attempt = 0; ; attempt++) {
        try {
          const { result, unseen } = await handleUntilSeen((h) => deps.handler.handle(h), hints);
          log.info('deferred admission hints handled', { hints: summarizeHints(hints), result });
          if (unseen.length > 0) log.info('admitted change not seen stored in time: taken as refused', { hints: summarizeHints(unseen) });
          return;
        } catch (error) {
          const retryIn = isTransient(error) ? retryDelays[attempt] : undefined;
          if (retryIn === undefined) {
            log.error('deferred admission hints failed', { hints: summarizeHints(hints), attempts: attempt + 1, error: serializeError(error) });
            return;
          }
          log.warn('deferred admission hints failed; retrying', { hints: summarizeHints(hints), retryInMs: retryIn, error: serializeError(error) });
          await sleep(retryIn);
        }
      }
    };
    const bound = new AbortController();
    const outcome = await Promise.race([
      Promise.resolve()
        .then(() => deps.defer(task, { hints, delayMs }))
        .then(() => 'handed over' as const),
      sleep(deferHandOffBoundMs, 'timed out' as const, { signal: bound.signal, ref: false }),
    ]).finally(() => bound.abort());
    if (outcome === 'timed out') log.warn('admission hand-over timed out', { hints: summarizeHints(hints) });
  };
  if (routes.has('admission')) {
    app.post('/events/admission', named('admission'), admissionGate(false), boundedBody('admission'), admission);
    app.post('/events/admission/:secret', named('admission'), admissionGate(true), boundedBody('admission'), admission);
  }

  app.notFound((c) => c.json({ error: 'not found' }, 404));
  app.onError((error, c) => errorResponse(error, c));

  return app;
}

/** How each body is named in a 400/413. */
const bodyNames: Record<BodyKind, string> = {
  watch: 'watch event',
  audit: 'audit EventList',
  admission: 'AdmissionReview',
  cloudevents: 'CloudEvent',
};

/** The one place errors become HTTP. Messages are shown only below 500. */
export function errorResponse(error: Error, c: Context): Response {
  if (error instanceof InvalidInputError) return c.json({ error: error.message, issues: error.issues }, 400);
  if (error instanceof DaemonlessError) {
    const status = error.status as ContentfulStatusCode;
    if (error instanceof TransientError && error.retryAfterSeconds !== undefined) {
      c.header('Retry-After', String(Math.max(0, Math.ceil(error.retryAfterSeconds))));
    }
    if (error instanceof UnauthorizedError) c.header('WWW-Authenticate', 'Bearer');
    return c.json({ error: status < 500 ? error.message : genericMessage(status) }, status);
  }
  if (error instanceof HTTPException) return error.getResponse();
  return c.json({ error: genericMessage(500) }, 500);
}

function genericMessage(status: number): string {
  if (status === 503) return 'temporarily unavailable, retry later';
  if (status === 502) return 'the Kubernetes API refused the change';
  return 'internal error';
}

/** One JSON line per request: route, hints, result, duration. Never headers (the bearer token is one). */
function requestLog(log: Logger) {
  return async (c: Context<{ Variables: Variables }>, next: () => Promise<void>): Promise<void> => {
    const started = performance.now();
    await next();
    const status = c.res.status;
    const hints = c.get('hints');
    const fields = {
      method: c.req.method,
      route: c.get('route') ?? 'none',
      status,
      durationMs: Math.round((performance.now() - started) * 10) / 10,
      ...(hints ? { hints: summarizeHints(hints) } : {}),
      ...(c.get('changeAgeMs') !== undefined ? { changeAgeMs: c.get('changeAgeMs') } : {}),
      ...(c.get('ignored') ? { ignored: c.get('ignored') } : {}),
      ...(c.get('result') ? { result: c.get('result') } : {}),
      ...(c.error ? { error: status >= 500 ? serializeError(c.error) : { name: c.error.name, message: c.error.message } } : {}),
    };
    if (status >= 500) log.error('request', fields);
    else if (status >= 400) log.warn('request', fields);
    else log.info('request', fields);
    // What in the input produced the hints (audit: verb, resource, user), to see why a change costs what it costs.
    const sources = c.get('sources');
    if (sources) log.debug('request sources', { route: fields.route, sources: sources.slice(0, 50) });
  };
}

function groupReasons(reasons: readonly string[]): { reason: string; count: number }[] {
  const counts = new Map<string, number>();
  for (const reason of reasons) counts.set(reason, (counts.get(reason) ?? 0) + 1);
  return [...counts].map(([reason, count]) => ({ reason, count }));
}
