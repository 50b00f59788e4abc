import type { Command } from 'commander';
import { type ListOptions, formatList, type ServiceWithDestinations } from '../ipvsadm/format.ts';
import { toJsonTable } from '../ipvsadm/json.ts';
import { netnsOption, withIpvsClient } from '../netns-option.ts';
import type { IpvsApi } from '../../ipvs/types.ts';

// `ipvs-maglev list`: the virtual servers and their destinations, laid out like `ipvsadm -Ln`.

/** Every service (one dump) and the destinations of each (one dump per service, as ipvsadm does). */
export async function readIpvsTable(client: Pick<IpvsApi, 'listServices' | 'listDestinations' | 'listDestinationsOf'>): Promise<ServiceWithDestinations[]> {
  const services = await client.listServices();
  if (client.listDestinationsOf) {
    const destinations = await client.listDestinationsOf(services.map((s) => s.key));
    return services.map((service, i) => ({ service, destinations: destinations[i] }));
  }
  const out: ServiceWithDestinations[] = [];
  for (const service of services) out.push({ service, destinations: await client.listDestinations(service.key) });
  return out;
}

/** The list variants as formatList takes them, with commander's spelling of --nosort. */
interface ListFlags extends Omit<ListOptions, 'noSort'> {
  json?: boolean;
  nosort?: boolean;
  netns?: string;
}

export function registerList(program: Command): void {
  program
    .command('list')
    .description('List IPVS virtual services and destinations like `ipvsadm -Ln` (or as JSON)')
    .option('--json', 'print a JSON document (stable shape; u64 counters as decimal strings)')
    .option('--stats', 'packet and byte counters (ipvsadm --stats)')
    .option('--rate', 'rates (ipvsadm --rate)')
    .option('--thresholds', 'upper/lower connection thresholds (ipvsadm --thresholds)')
    .option('--persistent-conn', 'persistent connection counts (ipvsadm --persistent-conn)')
    .option('--tun-info', 'tunnel type, port and checksum flags (ipvsadm --tun-info)')
    .option('--exact', 'exact numbers instead of K/M/G/T (ipvsadm --exact)')
    .option('--nosort', 'kernel order instead of ipvsadm order')
    .addOption(netnsOption())
    .action(async (flags: ListFlags) => {
      const views = ['stats', 'rate', 'thresholds', 'persistentConn', 'tunInfo'].filter((k) => flags[k as keyof ListFlags]);
      if (views.length > 1 && !flags.json) throw new Error(`list: choose one of --stats, --rate, --thresholds, --persistent-conn, --tun-info (got ${views.length})`);
      const text = await withIpvsClient(flags.netns, async (client) => {
        const info = await client.getInfo();
        const table = await readIpvsTable(client);
        if (flags.json) return `${JSON.stringify(toJsonTable(table, info), null, 2)}\n`;
        return formatList(table, info, {
          stats: flags.stats,
          rate: flags.rate,
          thresholds: flags.thresholds,
          persistentConn: flags.persistentConn,
          tunInfo: flags.tunInfo,
          exact: flags.exact,
          noSort: flags.nosort,
        });
      });
      process.stdout.write(text);
    });
}
