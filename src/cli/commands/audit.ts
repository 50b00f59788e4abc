import { type Command, InvalidArgumentError, Option } from 'commander';
import { BoundedReadError, readBoundedFile } from '../../bounded-read.ts';
import { serviceKeyString } from '../../ipvs/keys.ts';
import type { Destination, ServiceConfig } from '../../ipvs/types.ts';
import { type Agreement, buildKernelTable, DEFAULT_KERNEL_TABLE_SIZE, KERNEL_TABLE_SIZES, type KernelDest, MaglevError, tableAgreement } from '../../maglev/index.ts';
import { SCHEDULER_FLAG_NAMES } from '../../ipvs/vocabulary.ts';
import type { ServiceWithDestinations } from '../ipvsadm/format.ts';
import { opsToEntries, parseRestore, RestoreSyntaxError } from '../ipvsadm/parse.ts';
import { withIpvsClient } from '../netns-option.ts';
import { maxSizeOption } from '../size-option.ts';
import { readIpvsTable } from './list.ts';
import { kernelErrorMessage } from '../../app/exit.ts';
import { inAdditionOrder } from './save.ts';

// `ipvs-maglev audit`: do these load-balancer nodes send every flow to the same backend? Reads each node's table
// (a `save --kernel-order` file, a network namespace or the local kernel), rebuilds every `mh` service's lookup
// table with the kernel replica from the destinations in the order they were added, and prints per service the
// share of flows that would land on different backends. Exit 0 all agree, 1 some differ, 2 could not compare.

export const EXIT_AGREE = 0;
export const EXIT_DIFFER = 1;
export const EXIT_AUDIT_ERROR = 2;
const DEFAULT_MAX_AUDIT_INPUT = 64 * 1024 * 1024;

/** One node's table: services with destinations in order of addition. */
export interface AuditSource {
  name: string;
  services: readonly ServiceWithDestinations[];
}

export type ServiceAudit =
  | { service: string; status: 'agree' | 'differ'; scheduler: 'mh'; agreement: Agreement; assumedLastWeights: number }
  | { service: string; status: 'skipped'; reason: string }
  | { service: string; status: 'error'; reason: string };

export interface AuditReport {
  sources: string[];
  tableSize: number;
  services: ServiceAudit[];
  differ: number;
  errors: number;
}

const flagText = (c: ServiceConfig): string => SCHEDULER_FLAG_NAMES.filter((n) => n.scheduler === 'mh' && c.flags[n.field]).map((n) => n.name).join(',');
const destKey = (d: Destination): string => `${d.key.family} ${d.key.address} ${d.key.port}`;

/**
 * Compares the sources service by service. A service missing from some source, with different schedulers or
 * mh flags, or whose table cannot be built is an error for that service; services that are not `mh` on every
 * node are skipped (their choice is not a table). O(services x sources x table size).
 */
export function auditSources(sources: readonly AuditSource[], tableSize: number = DEFAULT_KERNEL_TABLE_SIZE, samples?: number): AuditReport {
  const byService = new Map<string, Array<ServiceWithDestinations | undefined>>();
  sources.forEach((src, n) => {
    for (const entry of src.services) {
      const id = serviceKeyString(entry.service.key);
      let row = byService.get(id);
      if (!row) {
        row = new Array(sources.length).fill(undefined);
        byService.set(id, row);
      }
      row[n] = entry;
    }
  });
  const services: ServiceAudit[] = [];
  for (const id of [...byService.keys()].sort()) {
    const row = byService.get(id) as Array<ServiceWithDestinations | undefined>;
    const missing = sources.filter((_, n) => row[n] === undefined).map((s) => s.name);
    if (missing.length > 0) {
      const present = sources.filter((_, n) => row[n] !== undefined).map((s) => s.name);
      services.push({ service: id, status: 'error', reason: `only in ${present.join(', ')}; missing in ${missing.join(', ')}` });
      continue;
    }
    const entries = row as ServiceWithDestinations[];
    const schedulers = [...new Set(entries.map((e) => e.service.config.scheduler))];
    if (schedulers.length > 1) {
      services.push({ service: id, status: 'error', reason: `different schedulers: ${entries.map((e, n) => `${e.service.config.scheduler} in ${sources[n].name}`).join(', ')}` });
      continue;
    }
    if (schedulers[0] !== 'mh') {
      services.push({ service: id, status: 'skipped', reason: `scheduler ${schedulers[0]}: not a hash table, nothing to compare` });
      continue;
    }
    const flags = [...new Set(entries.map((e) => flagText(e.service.config)))];
    if (flags.length > 1) {
      services.push({ service: id, status: 'error', reason: `different mh flags: ${entries.map((e, n) => `[${flagText(e.service.config) || 'none'}] in ${sources[n].name}`).join(', ')}` });
      continue;
    }
    // A dump does not carry the kernel's last weight of a destination at weight 0 (a drain keeps its slots with
    // it): take its positive weight on another node, else the service's most common positive weight. The same
    // value on every node, so identical lists still compare equal.
    const seen = new Map<string, number>();
    const common = new Map<number, number>();
    for (const e of entries) {
      for (const d of e.destinations) {
        const w = d.config.weight;
        if (w > 0) {
          seen.set(destKey(d), Math.max(seen.get(destKey(d)) ?? 0, w));
          common.set(w, (common.get(w) ?? 0) + 1);
        }
      }
    }
    let mostCommon = 0;
    for (const [w, c] of common) if (c > (common.get(mostCommon) ?? 0) || (c === common.get(mostCommon) && w > mostCommon)) mostCommon = w;
    let assumed = 0;
    try {
      const tables = entries.map((e) =>
        buildKernelTable(
          e.destinations.map((d): KernelDest => {
            if (d.config.weight > 0) return { address: d.key.address, port: d.key.port, weight: d.config.weight };
            assumed++;
            return { address: d.key.address, port: d.key.port, weight: 0, lastWeight: seen.get(destKey(d)) ?? mostCommon };
          }),
          tableSize,
        ),
      );
      const agreement = tableAgreement(tables, { fallback: entries[0].service.config.flags.fallback === true, samples });
      services.push({ service: id, status: agreement.differentFraction > 0 ? 'differ' : 'agree', scheduler: 'mh', agreement, assumedLastWeights: assumed });
    } catch (err) {
      if (!(err instanceof MaglevError)) throw err;
      services.push({ service: id, status: 'error', reason: `cannot build its table: ${err.message}` });
    }
  }
  return {
    sources: sources.map((s) => s.name),
    tableSize,
    services,
    differ: services.filter((s) => s.status === 'differ').length,
    errors: services.filter((s) => s.status === 'error').length,
  };
}

export function auditExitCode(report: AuditReport): number {
  return report.errors > 0 ? EXIT_AUDIT_ERROR : report.differ > 0 ? EXIT_DIFFER : EXIT_AGREE;
}

function pct(x: number): string {
  return x === 0 ? '0%' : x < 0.0001 ? '<0.01%' : `${(x * 100).toFixed(2)}%`;
}

export function formatAudit(report: AuditReport): string {
  const lines = [`audit: ${report.sources.length} nodes (${report.sources.join(', ')}), mh table size ${report.tableSize}`];
  for (const s of report.services) {
    if (s.status === 'error') lines.push(`  ${s.service}: ERROR: ${s.reason}`);
    else if (s.status === 'skipped') lines.push(`  ${s.service}: skipped (${s.reason})`);
    else {
      const a = s.agreement;
      let detail = `${a.slotsDiffer} of ${a.size} slots differ`;
      if (!a.exact) detail += `; ${a.fallbackSlots} slots hold a destination at weight 0 somewhere, their flows sampled: ${a.fallbackDiffer} of ${a.fallbackSampled} differ`;
      if (s.assumedLastWeights > 0) detail += `; ${s.assumedLastWeights} destination(s) at weight 0 with their last weight assumed (a dump does not carry it)`;
      lines.push(`  ${s.service}: ${pct(a.differentFraction)} of flows land on different backends (${a.exact ? 'exact' : 'estimated'}: ${detail})`);
    }
  }
  const compared = report.services.filter((s) => s.status === 'agree' || s.status === 'differ').length;
  lines.push(`${compared} mh service(s) compared: ${report.differ} differ, ${report.errors} error(s)`);
  return `${lines.join('\n')}\n`;
}

/** A `save --kernel-order` file (ipvsadm -S syntax; each service's destinations in order of addition). */
export async function readSaveFile(path: string, maxBytes: number): Promise<AuditSource> {
  const text = await readBoundedFile(path, { maxBytes, what: path, raiseWith: '--max-input-size' });
  try {
    return { name: path, services: opsToEntries(parseRestore(text)) };
  } catch (err) {
    if (err instanceof RestoreSyntaxError) throw new AuditInputError(`${path}: ${err.message}`);
    throw err;
  }
}

export class AuditInputError extends Error {
  readonly code = 'AUDIT_INPUT';
  constructor(message: string) {
    super(message);
    this.name = 'AuditInputError';
  }
}

function tableSizeOption(): Option {
  return new Option('--table-size <n>', `the kernel's mh table size (CONFIG_IP_VS_MH_TAB_INDEX): one of ${KERNEL_TABLE_SIZES.join(', ')}`)
    .default(DEFAULT_KERNEL_TABLE_SIZE)
    .argParser((text: string) => {
      const n = Number(text);
      if (!KERNEL_TABLE_SIZES.includes(n)) throw new InvalidArgumentError(`must be one of ${KERNEL_TABLE_SIZES.join(', ')}`);
      return n;
    });
}

interface AuditFlags {
  netns: string[];
  local?: boolean;
  json?: boolean;
  tableSize: number;
  maxInputSize: number;
}

export function registerAudit(program: Command): void {
  program
    .command('audit')
    .description('check that load-balancer nodes agree: per mh service, the share of flows that would land on different backends (kernel-exact)')
    .argument('[files...]', 'tables saved with `ipvs-maglev save --kernel-order` (one per node)')
    .addOption(
      new Option('--netns <name>', 'also read the IPVS table of network namespace /var/run/netns/NAME (repeatable)').default([]).argParser((name: string, prev: string[]) => {
        if (name === '' || name.includes('/') || name === '.' || name === '..') throw new InvalidArgumentError('give the name of a namespace in /var/run/netns');
        return [...prev, name];
      }),
    )
    .option('--local', "also read this host's own IPVS table")
    .option('--json', 'print the report as JSON')
    .addOption(tableSizeOption())
    .addOption(maxSizeOption('--max-input-size', 'a saved table', DEFAULT_MAX_AUDIT_INPUT))
    .addHelpText('after', '\nExit status: 0 every compared service agrees, 1 some differ, 2 could not compare (bad input, a service missing on a node, different schedulers).\n')
    .action(async (files: string[], flags: AuditFlags) => {
      const fail = (message: string): void => {
        process.stderr.write(`ipvs-maglev: audit: ${message}\n`);
        process.exitCode = EXIT_AUDIT_ERROR;
      };
      const count = files.length + flags.netns.length + (flags.local ? 1 : 0);
      if (count < 2) return fail(`needs at least two nodes' tables (files, --netns NAME, --local); got ${count}`);
      const sources: AuditSource[] = [];
      try {
        for (const f of files) sources.push(await readSaveFile(f, flags.maxInputSize));
        const kernels: Array<{ name: string; netns: string | undefined }> = [
          ...flags.netns.map((n) => ({ name: `netns:${n}`, netns: n as string | undefined })),
          ...(flags.local ? [{ name: 'local', netns: undefined }] : []),
        ];
        for (const k of kernels) {
          const table = await withIpvsClient(k.netns, (client) => readIpvsTable(client));
          sources.push({ name: k.name, services: inAdditionOrder(table) });
        }
      } catch (err) {
        if (err instanceof AuditInputError || err instanceof BoundedReadError) return fail(err.message);
        const kernel = kernelErrorMessage(err);
        if (kernel !== undefined) return fail(kernel);
        throw err;
      }
      const report = auditSources(sources, flags.tableSize);
      process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatAudit(report));
      process.exitCode = auditExitCode(report);
    });
}
