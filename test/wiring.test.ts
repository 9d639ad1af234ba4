/**
 * The intake functions' dependencies on Lambda (src/wiring.ts createDeps): with the queue they only enqueue, so they
 * never read the cluster token, even where a parameter is named; without a queue they reconcile and must read it.
 * The SSM endpoint points at a closed port: any attempt to read a parameter fails at once.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { createDeps } from '../src/wiring.ts';

const env = {
  KUBE_SERVER: 'https://127.0.0.1:9',
  KUBE_TOKEN_PARAMETER: '/daemonless/kube-token',
  BEARER_TOKEN: 'wiring-test-token-0123456789',
  LOG_LEVEL: 'error',
};
const saved = { ...process.env };

beforeEach(() => {
  process.env.AWS_ENDPOINT_URL_SSM = 'http://127.0.0.1:9';
  process.env.AWS_REGION = 'us-east-1';
  process.env.AWS_ACCESS_KEY_ID = 'test';
  process.env.AWS_SECRET_ACCESS_KEY = 'test';
});
afterEach(() => {
  process.env = { ...saved };
});

describe('createDeps (intake functions)', () => {
  it('with a queue: starts without reading the cluster token parameter, and holds no token', async () => {
    const deps = await createDeps(loadConfig({ ...env, QUEUE_URL: 'http://127.0.0.1:9/000000000000/hints' }));
    expect((deps.secrets as { kubeToken?: string }).kubeToken).toBeUndefined();
    expect(deps.secrets.bearerTokens).toEqual([env.BEARER_TOKEN]);
  });

  it('without a queue: it reconciles inline, so it reads the parameter (and fails closed when it cannot)', async () => {
    await expect(createDeps(loadConfig(env))).rejects.toThrow(/cannot read SSM parameters \/daemonless\/kube-token/);
  });
});
