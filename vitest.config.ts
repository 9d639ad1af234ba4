import { defineConfig } from 'vitest/config';

// Two projects: `unit` (pure, no I/O, runs anywhere) and `integration` (against the real local control plane, which
// the globalSetup brings up once per run, or reuses when one is already up).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          // The bench's own pure parts (parsing, statistics, reports, target checks) too.
          include: ['test/**/*.test.ts', 'bench/test/**/*.test.ts'],
          exclude: ['test/integration/**'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          // The local cloud's own tests need no control plane: project `local-cloud` below.
          exclude: ['test/integration/lambda-runtime/**'],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // One control plane on 2 cores: integration files run one at a time.
          fileParallelism: false,
        },
      },
      {
        // The local cloud (devcluster/lambda, devcluster/queue) against fixture handlers: RIE + runtime + ElasticMQ,
        // no Kubernetes.
        test: {
          name: 'local-cloud',
          include: ['test/integration/lambda-runtime/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
