import { defineConfig } from 'vitest/config';

// The bench's own unit tests (pure parts only: parsing, statistics, reports). `npm run bench:test`.
export default defineConfig({
  test: { include: ['bench/test/**/*.test.ts'], root: `${import.meta.dirname}/..` },
});
