import { fileURLToPath } from 'node:url';

import { defineConfig } from 'vitest/config';

const src = (p: string) => fileURLToPath(new URL(`./src/${p}`, import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^dbleases\/bullmq$/, replacement: src('bullmq/index.ts') },
      { find: /^dbleases\/dashboard$/, replacement: src('dashboard/index.ts') },
      { find: /^dbleases$/, replacement: src('index.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
  },
});
