import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Two cores: integration tests start their own processes, so keep file-level parallelism modest.
    maxWorkers: 2,
  },
});
