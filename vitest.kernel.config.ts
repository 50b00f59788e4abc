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
    // Under software emulation on a shared 2-core host a wait can occasionally run out; a real
    // failure fails twice. Retries are reported by vitest, never hidden.
    retry: 1,
  },
});
