import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { loadKubeConfig } from '../src/wiring.ts';

describe('configuration', () => {
  it('has defaults for everything optional', () => {
    expect(loadConfig({})).toMatchObject({ PORT: 8787, HTTPS_PORT: 8788, WRITE_CONCURRENCY: 32, WIDE_READ_THRESHOLD: 8, FOLLOW_UP_INTERVAL_MS: 250 });
  });

  it.each([
    ['a port that is not a number', { PORT: 'eighty' }, /PORT/],
    ['a short bearer token', { BEARER_TOKEN: 'short' }, /BEARER_TOKEN must be at least 16 characters/],
    ['an API server over plain http', { KUBE_SERVER: 'http://10.0.0.1', KUBE_TOKEN: 't' }, /KUBE_SERVER/],
    ['a server without a token', { KUBE_SERVER: 'https://10.0.0.1' }, /KUBE_TOKEN: KUBE_SERVER needs KUBE_TOKEN/],
    ['an unknown log level', { LOG_LEVEL: 'chatty' }, /LOG_LEVEL/],
  ])('refuses %s, naming the field', (_name, env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('KUBE_SERVER + KUBE_TOKEN build the client configuration without a kubeconfig file', () => {
    const config = loadConfig({ KUBE_SERVER: 'https://api.example:6443', KUBE_CA_DATA: 'Y2E=', KUBE_TOKEN: 'secret-token' });
    const kc = loadKubeConfig(config);
    expect(kc.getCurrentCluster()).toMatchObject({ server: 'https://api.example:6443', caData: 'Y2E=' });
    expect(kc.getCurrentUser()).toMatchObject({ token: 'secret-token' });
  });
});
