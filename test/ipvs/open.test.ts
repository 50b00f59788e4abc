import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openIpvs, openVips } from '../../src/ipvs/index.ts';

// Opening against this machine's own kernel (no VM): on a kernel without IPVS the client
// must say so clearly; a missing namespace is a clear error either way.
const linux = process.platform === 'linux';

describe('openIpvs / openVips on the host kernel', () => {
  it.runIf(linux && !existsSync('/proc/net/ip_vs'))('NoIpvs when the kernel has no IPVS', async () => {
    await expect(openIpvs()).rejects.toMatchObject({ name: 'NoIpvs', code: 'NO_IPVS', message: 'the kernel has no IPVS: load the ip_vs module (modprobe ip_vs)' });
  });

  it.runIf(linux)('a missing named namespace is a clear error', async () => {
    await expect(openIpvs({ netns: 'h3-no-such-ns' })).rejects.toThrow(/h3-no-such-ns.*ENOENT/);
    await expect(openVips({ netns: 'h3-no-such-ns' })).rejects.toThrow(/h3-no-such-ns.*ENOENT/);
    await expect(openVips({ netns: '../etc' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it.runIf(linux)('an invalid interface name is refused before anything happens', async () => {
    await expect(openVips({ interfaceName: 'way-too-long-interface' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
