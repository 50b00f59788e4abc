// Builds the data planes; the IPVS ones open this project's netlink client in the current
// network namespace (the node).
import { openIpvs, openVips } from '../../src/ipvs/index.ts';
import type { IpvsClient, VipClient } from '../../src/ipvs/index.ts';
import { iptablesPlane } from './plane-iptables.ts';
import { ipvsPlane } from './plane-ipvs.ts';
import { nftablesPlane } from './plane-nftables.ts';
import { openVipBatch, type VipBatch } from './vip-batch.ts';
import type { DataPlane, PlaneName } from './planes.ts';
import type { Topology } from './topology.ts';

export interface PlaneFactory {
  make: (name: PlaneName, topology: Topology) => Promise<DataPlane>;
  close: () => Promise<void>;
}

/** Opens the IPVS client up front when an IPVS plane is wanted, so a kernel without IPVS fails fast. */
export async function makePlaneFactory(planes: readonly PlaneName[]): Promise<PlaneFactory> {
  let ipvs: IpvsClient | undefined;
  const vips = new Map<string, { client: VipClient; batch: VipBatch }>();
  if (planes.some((p) => p.startsWith('ipvs'))) {
    try {
      ipvs = await openIpvs();
      await ipvs.getInfo();
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      throw new Error(`${why}\n  IPVS planes need a kernel with IPVS; run in the test VM (bash test/kernel/vm/run-in-vm.sh node bin/ipvs-maglev.mjs bench dataplane ...) or pass --planes iptables,nftables`);
    }
  }
  return {
    async make(name, topology) {
      if (name === 'iptables') return iptablesPlane(topology.clusterCidr, 'legacy');
      if (name === 'iptables-nft') return iptablesPlane(topology.clusterCidr, 'nft');
      if (name === 'nftables') return nftablesPlane(topology.clusterCidr);
      let v = vips.get(topology.dummy);
      if (!v) {
        const client = await openVips({ interfaceName: topology.dummy });
        v = { client, batch: openVipBatch(client) };
        vips.set(topology.dummy, v);
      }
      return ipvsPlane(name === 'ipvs-mh' ? 'mh' : 'rr', { ipvs: ipvs!, vips: v.client, vipBatch: v.batch, clusterCidr: topology.clusterCidr, dummyInterface: topology.dummy });
    },
    async close() {
      ipvs?.close();
      for (const v of vips.values()) {
        v.batch.close();
        v.client.close();
      }
    },
  };
}
