import { openIpvs, openVips } from '../ipvs/index.ts';
import type { IpvsApi, VipApi } from '../ipvs/index.ts';

/** What a program programs: IPVS and the VIP interface. Tests pass in-memory ones; the programs open the kernel's. */
export interface Kernel {
  ipvs: IpvsApi & { close(): void };
  vips: VipApi & { close(): void };
}

/** Opens IPVS and the VIP interface (in a named network namespace if given); nothing is left open on failure. */
export async function openKernel(where: { interfaceName: string; netns?: string }): Promise<Kernel> {
  const ipvs = await openIpvs({ netns: where.netns });
  try {
    return { ipvs, vips: await openVips({ interfaceName: where.interfaceName, netns: where.netns }) };
  } catch (err) {
    ipvs.close();
    throw err;
  }
}
