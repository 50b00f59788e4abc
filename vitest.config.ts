import { defineConfig } from 'vitest/config';

// Unit tests: everything under test/ except the suites that need a real IPVS kernel.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/kernel/**', 'node_modules/**'],
    testTimeout: 20_000,
  },
});
