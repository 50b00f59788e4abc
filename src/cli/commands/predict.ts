// `ipvs-maglev predict`: which destination a client lands on, before the kernel decides.

import { type Command, InvalidArgumentError, Option } from 'commander';
import { readBoundedFile } from '../../bounded-read.ts';
import { type ClientSpec, kernelLookup, maglevLookup, parseAddress, parseClientSpec } from '../../maglev/index.ts';
import { maxSizeOption } from '../size-option.ts';
import { collect, DEST_HELP, flavorOption, sizeOption, type TableFlags, tableFromFlags } from './table.ts';

interface PredictFlags extends TableFlags {
  portHash?: boolean;
  fallback?: boolean;
  client: string[];
  clientsFile?: string;
  maxInputSize: number;
  vip?: string;
  protocol: 'tcp' | 'udp' | 'sctp';
}

const PROTOCOL_NUMBERS = { tcp: 6, udp: 17, sctp: 132 } as const;
/** Default limit of --clients-file: ~3 million clients. */
const DEFAULT_MAX_CLIENTS_FILE = 64 * 1024 * 1024;

export function registerPredict(program: Command): void {
  program
    .command('predict')
    .description('Predict the destination each client is scheduled to')
    .addOption(flavorOption())
    .addOption(sizeOption())
    .option('--dest <dests>', DEST_HELP, collect, [])
    .option('--port-hash', 'kernel: the service has mh-port (hash the client source port too)')
    .option('--fallback', 'kernel: the service has mh-fallback (skip unavailable destinations)')
    .option('--client <client>', 'IP[:PORT] ([v6]:PORT with a port); repeat or comma-separate', collect, [])
    .option('--clients-file <file>', 'clients, one IP[:PORT] per line (# comments allowed)')
    .addOption(maxSizeOption('--max-input-size', 'a --clients-file', DEFAULT_MAX_CLIENTS_FILE))
    .option('--vip <vip>', 'maglev: the service address IP:PORT, part of the hashed 5-tuple')
    .addOption(new Option('--protocol <protocol>', 'maglev: the protocol in the 5-tuple').choices(['tcp', 'udp', 'sctp']).default('tcp'))
    .option('--json', 'print a JSON array of {client, dest}')
    .action(async (flags: PredictFlags) => {
      const clients = await clientTexts(flags);
      if (clients.length === 0) {
        throw new InvalidArgumentError(
          flags.clientsFile === undefined ? 'give at least one --client or a --clients-file' : `--clients-file ${flags.clientsFile} has no clients (only blank lines and # comments)`,
        );
      }
      const table = tableFromFlags(flags);
      const results: { client: string; dest: string | null }[] = [];
      if (table.flavor === 'kernel') {
        if (flags.vip !== undefined) throw new InvalidArgumentError('--vip is for the maglev flavour (the kernel hashes the client only)');
        const opts = { portHash: flags.portHash === true, fallback: flags.fallback === true };
        for (const text of clients) {
          const c = parseClient(text);
          if (opts.portHash && c.port === undefined) throw new InvalidArgumentError(`client "${text}" needs a port: --port-hash hashes the source port`);
          const i = kernelLookup(table, c.address, c.port ?? 0, opts);
          results.push({ client: text, dest: i < 0 ? null : table.keys[i] });
        }
      } else {
        if (flags.portHash || flags.fallback) throw new InvalidArgumentError('--port-hash and --fallback describe kernel mh services; the maglev flavour hashes the 5-tuple');
        if (flags.vip === undefined) throw new InvalidArgumentError('the maglev flavour hashes the 5-tuple: give the service address with --vip IP:PORT');
        const vip = parseClient(flags.vip);
        if (vip.port === undefined) throw new InvalidArgumentError(`--vip "${flags.vip}" needs a port`);
        for (const text of clients) {
          const c = parseClient(text);
          const i = maglevLookup(table, {
            srcAddress: c.address,
            srcPort: c.port ?? 0,
            dstAddress: vip.address,
            dstPort: vip.port,
            protocol: PROTOCOL_NUMBERS[flags.protocol],
          });
          results.push({ client: text, dest: i < 0 ? null : table.keys[i] });
        }
      }
      if (flags.json) process.stdout.write(`${JSON.stringify(results)}\n`);
      else process.stdout.write(results.map((r) => `${r.client} ${r.dest ?? 'none'}\n`).join(''));
    });
}

async function clientTexts(flags: PredictFlags): Promise<string[]> {
  const out: string[] = [];
  for (const v of flags.client) for (const part of v.split(',')) if (part.trim() !== '') out.push(part.trim());
  if (flags.clientsFile !== undefined) {
    let text: string;
    try {
      text = await readBoundedFile(flags.clientsFile, { maxBytes: flags.maxInputSize, what: `--clients-file ${flags.clientsFile}`, raiseWith: '--max-input-size' });
    } catch (err) {
      throw new InvalidArgumentError(err instanceof Error ? err.message : String(err));
    }
    for (const line of text.split('\n')) {
      const t = line.trim();
      if (t !== '' && !t.startsWith('#')) out.push(t);
    }
  }
  return out;
}

function parseClient(text: string): ClientSpec {
  const c = parseClientSpec(text);
  parseAddress(c.address);
  return c;
}
