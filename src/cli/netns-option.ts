import { Option } from 'commander';
import type { IpvsClient } from '../ipvs/index.ts';

// `--netns NAME` for commands that talk to IPVS: the client's socket is opened inside
// /var/run/netns/NAME (IPVS state is per network namespace).

export function netnsOption(): Option {
  return new Option('--netns <name>', 'act inside the network namespace /var/run/netns/NAME').argParser((name: string) => {
    if (name === '' || name.includes('/') || name === '.' || name === '..') {
      throw new Error(`invalid --netns ${JSON.stringify(name)}: give the name of a namespace in /var/run/netns`);
    }
    return name;
  });
}

/** Opens an IPVS client (in `netns` if given), runs `fn`, and always closes the client. */
export async function withIpvsClient<T>(netns: string | undefined, fn: (client: IpvsClient) => Promise<T>): Promise<T> {
  const { openIpvs } = await import('../ipvs/index.ts');
  const client = await openIpvs({ netns });
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}
