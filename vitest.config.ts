import { defineConfig } from 'vitest/config';

// Two projects: `unit` (pure, no I/O, runs anywhere) and `integration` (against the real local control plane, which
// the globalSetup brings up once per run, or reuses when one is already up).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/integration/**'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // One control plane on 2 cores: integration files run one at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});
