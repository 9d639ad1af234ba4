/** Builders for the HTTP tests: a config, a recording fake HintHandler, an app, fixtures. No module mocks. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../src/config.ts';
import type { HandleResult, Hint, HintHandler } from '../../src/hints.ts';
import { createApp, type AppDeps } from '../../src/http/app.ts';
import type { DeferredWork } from '../../src/http/defer.ts';
import { createLogger, type Logger } from '../../src/log.ts';
import type { RouteSecrets } from '../../src/secrets.ts';

export const fixturesDir = join(import.meta.dirname, '..', 'fixtures', 'http');

export function fixtureText(name: string): string {
  return readFileSync(join(fixturesDir, name), 'utf8');
}

export function fixture<T = any>(name: string): T {
  return JSON.parse(fixtureText(name)) as T;
}

export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({ ADMISSION_SETTLE_MS: '0', ...env });
}

/** The secrets a configuration gives directly (what `loadSecrets` returns when no parameter is named). */
export function secretsOf(config: Config): RouteSecrets {
  return { bearerTokens: config.BEARER_TOKEN ?? [], admissionPathSecrets: config.ADMISSION_PATH_SECRET ?? [] };
}

export const okResult = (hints: readonly Hint[]): HandleResult => ({
  hints: hints.length,
  created: 1,
  deleted: 0,
  apiRequests: 3,
});

/** Records every call; answers `behaviour(hints)` (default: a small success). */
export function recordingHandler(behaviour: (hints: readonly Hint[]) => HandleResult | Promise<HandleResult> = okResult) {
  const calls: Hint[][] = [];
  const handler: HintHandler = {
    async handle(hints) {
      calls.push([...hints]);
      return behaviour(hints);
    },
  };
  return { handler, calls };
}

export function recordingLogger(level: 'debug' | 'info' = 'debug'): { log: Logger; lines: string[]; entries: () => any[] } {
  const lines: string[] = [];
  return { log: createLogger(level, (line) => lines.push(line)), lines, entries: () => lines.map((l) => JSON.parse(l)) };
}

/**
 * An app over fakes. `defer` records the hand-over and runs the task at once (awaited), so a test sees the deferred
 * handling when the response arrives. Routes without a secret in `env` are open (INSECURE_NO_AUTH), so tests about
 * something else need none; the tests about authentication give `env` their secrets (and `INSECURE_NO_AUTH: 'false'`
 * to see a route refuse to start).
 */
export function testApp(
  options: {
    env?: Record<string, string>;
    behaviour?: (hints: readonly Hint[]) => HandleResult | Promise<HandleResult>;
    defer?: AppDeps['defer'];
    deferredRetryDelaysMs?: readonly number[];
  } = {},
) {
  const { handler, calls } = recordingHandler(options.behaviour);
  const logs = recordingLogger();
  const deferred: DeferredWork[] = [];
  const config = testConfig({ INSECURE_NO_AUTH: 'true', ...options.env });
  const deps: AppDeps = {
    handler,
    config,
    secrets: secretsOf(config),
    log: logs.log,
    // No retries unless a test asks for them: a test of a failing handler sees the failure at once.
    deferredRetryDelaysMs: options.deferredRetryDelaysMs ?? [],
    defer:
      options.defer ??
      (async (task, work) => {
        deferred.push(work);
        await task();
      }),
  };
  return { app: createApp(deps), calls, deferred, logs, deps };
}

export function postJson(path: string, body: unknown, headers: Record<string, string> = {}): Request {
  return new Request(`http://localhost${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** A response body as JSON, loosely typed for assertions. */
export async function json(res: Response): Promise<any> {
  return res.json();
}
