import { defineConfig } from 'vitest/config';

// Suites that talk to a real IPVS kernel. They run inside the test VM (test/kernel/vm),
// or directly on a host whose kernel has IPVS when we are root. One file at a time:
// they share the kernel's network namespaces and interfaces.
export default defineConfig({
  test: {
    include: ['test/kernel/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});
