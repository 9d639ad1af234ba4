import { describe, expect, it } from 'vitest';
import { loadSimulatorEnv, simulatorOptionsFromEnv } from '../../devcluster/simulator/config.ts';

describe('loadSimulatorEnv', () => {
  it('has defaults for everything', () => {
    const options = simulatorOptionsFromEnv(loadSimulatorEnv({}));
    expect(options).toEqual({
      readyDelayMs: 500,
      deleteDelayMs: 200,
      broken: /(:unready|non-existent)$/,
      leaseIntervalMs: 15_000,
      leaseDurationSeconds: 60,
      concurrency: 16,
      summaryIntervalMs: 60_000,
    });
  });

  // The default covers the images upstream's e2e suite expects never to start: the DaemonSet rollback spec updates
  // to an image tagged `:non-existent` and waits for it to stay unavailable.
  it.each([
    ['registry.k8s.io/e2e-test-images/httpd:unready', true],
    ['foo:non-existent', true],
    ['registry.k8s.io/e2e-test-images/httpd:2.4.38-4', false],
    ['registry.k8s.io/unready-tools:1.0', false],
  ])('by default treats %s as broken: %s', (image, broken) => {
    expect(loadSimulatorEnv({}).SIM_BROKEN_IMAGE.test(image)).toBe(broken);
  });

  it('reads SIM_* variables', () => {
    const env = loadSimulatorEnv({ SIM_READY_DELAY_MS: '0', SIM_BROKEN_IMAGE: 'broken|:bad$', SIM_LEASE_INTERVAL_MS: '30000' });
    expect(env.SIM_READY_DELAY_MS).toBe(0);
    expect(env.SIM_BROKEN_IMAGE.test('x:bad')).toBe(true);
    expect(env.SIM_LEASE_INTERVAL_MS).toBe(30_000);
  });

  it('names every bad field', () => {
    expect(() => loadSimulatorEnv({ SIM_BROKEN_IMAGE: '(', SIM_LEASE_INTERVAL_MS: '10', SIM_LOG_LEVEL: 'loud' })).toThrow(
      /SIM_BROKEN_IMAGE: not a regular expression.*SIM_LEASE_INTERVAL_MS.*SIM_LOG_LEVEL/,
    );
  });
});
