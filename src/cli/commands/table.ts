// `ipvs-maglev table`: build a Maglev table (kernel `mh` replica or the paper's) and show its balance.
// Also exports the table flags shared by `predict` and `churn`.

import { isIPv4 } from 'node:net';
import { type Command, InvalidArgumentError, Option } from 'commander';
import {
  buildKernelTable,
  buildMaglevTable,
  DEFAULT_KERNEL_TABLE_SIZE,
  DEFAULT_MAGLEV_TABLE_SIZE,
  type DestSpec,
  type KernelTable,
  type MaglevTable,
  parseDestList,
  tableStats,
  toKernelDests,
} from '../../maglev/index.ts';

export type Flavor = 'kernel' | 'maglev';

export interface TableFlags {
  flavor: Flavor;
  size?: number;
  dest: string[];
  json?: boolean;
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function parseSize(value: string): number {
  if (!/^[0-9]+$/.test(value)) throw new InvalidArgumentError('must be a positive integer (a prime).');
  return Number(value);
}

export function flavorOption(): Option {
  return new Option('--flavor <flavor>', 'kernel (exact replica of Linux ip_vs_mh) or maglev (the paper, weighted)').choices(['kernel', 'maglev']).makeOptionMandatory();
}

export function sizeOption(): Option {
  return new Option('--size <M>', `table size: a kernel prime for kernel (default ${DEFAULT_KERNEL_TABLE_SIZE}), any prime for maglev (default ${DEFAULT_MAGLEV_TABLE_SIZE})`).argParser(parseSize);
}

export const DEST_HELP = 'IP:PORT[:WEIGHT[:LASTWEIGHT]] ([v6]:PORT for IPv6); repeat or comma-separate; for kernel, in order of addition';

/** Builds the table the flags describe; bad input surfaces as MaglevError (the CLI prints its message). */
export function buildTable(flavor: Flavor, specs: readonly DestSpec[], size: number | undefined): KernelTable | MaglevTable {
  if (flavor === 'kernel') return buildKernelTable(toKernelDests(specs), size ?? DEFAULT_KERNEL_TABLE_SIZE);
  for (const s of specs) {
    if (s.lastWeight !== undefined && s.lastWeight !== s.weight) {
      throw new InvalidArgumentError(`LASTWEIGHT models a kernel drain and is not used by the maglev flavour ("${s.address}:${s.port}")`);
    }
  }
  return buildMaglevTable(
    specs.map((s) => ({ address: s.address, port: s.port, weight: s.weight })),
    size ?? DEFAULT_MAGLEV_TABLE_SIZE,
  );
}

/**
 * parseDestList, after a check for the one mistake its message gets wrong: an IPv6 address without brackets
 * ("2001:db8::1" reads as address "2001", port "db8").
 */
export function parseDests(values: readonly string[], flag = '--dest'): DestSpec[] {
  for (const value of values) {
    for (const part of value.split(',')) {
      const t = part.trim();
      const colons = t.split(':').length - 1;
      if (!t.startsWith('[') && colons >= 2 && !isIPv4(t.slice(0, t.indexOf(':')))) {
        throw new InvalidArgumentError(`${flag} ${JSON.stringify(t.slice(0, 64))}: an IPv6 destination goes in brackets before its port, e.g. [2001:db8::1]:80`);
      }
    }
  }
  return parseDestList(values);
}

export function tableFromFlags(flags: TableFlags): KernelTable | MaglevTable {
  const specs = parseDests(flags.dest);
  if (specs.length === 0 && flags.flavor === 'maglev') throw new InvalidArgumentError('at least one --dest is required');
  return buildTable(flags.flavor, specs, flags.size);
}

export function registerTable(program: Command): void {
  program
    .command('table')
    .description('Build a Maglev table and show slots per destination and max/avg')
    .addOption(flavorOption())
    .addOption(sizeOption())
    .option('--dest <dests>', DEST_HELP, collect, [])
    .option('--json', 'print JSON')
    .action((flags: TableFlags) => {
      const table = tableFromFlags(flags);
      process.stdout.write(flags.json ? `${JSON.stringify(tableReport(table))}\n` : formatTableReport(table));
    });
}

interface TableReport {
  flavor: Flavor;
  size: number;
  destinations: { dest: string; weight: number; lastWeight?: number; slots: number; share: number }[];
  emptySlots: number;
  max: number;
  avg: number;
  maxOverAvg: number;
  maxOverExpected: number;
}

function tableReport(table: KernelTable | MaglevTable): TableReport {
  const stats = tableStats(table);
  const destinations = stats.destinations.map((d, i) => {
    const weight = table.flavor === 'kernel' ? table.dests[i].weight : d.tableWeight;
    const entry: TableReport['destinations'][number] = { dest: d.key, weight, slots: d.slots, share: d.slots / table.size };
    if (weight !== d.tableWeight) entry.lastWeight = d.tableWeight;
    return entry;
  });
  return {
    flavor: table.flavor,
    size: table.size,
    destinations,
    emptySlots: stats.emptySlots,
    max: stats.max,
    avg: stats.avg,
    maxOverAvg: stats.maxOverAvg,
    maxOverExpected: stats.maxOverExpected,
  };
}

function formatTableReport(table: KernelTable | MaglevTable): string {
  const r = tableReport(table);
  const rows = r.destinations.map((d) => [d.dest, d.lastWeight === undefined ? String(d.weight) : `${d.weight} (last ${d.lastWeight})`, String(d.slots), `${(d.share * 100).toFixed(2)}%`]);
  const header = ['DESTINATION', 'WEIGHT', 'SLOTS', 'SHARE'];
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
  const line = (cells: string[]): string => cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
  const out = [`flavor ${r.flavor}, table size ${r.size}, ${r.destinations.length} destination(s)`, line(header), ...rows.map(line)];
  if (r.emptySlots > 0) out.push(`empty slots: ${r.emptySlots}`);
  out.push(`max ${r.max}  avg ${r.avg.toFixed(2)}  max/avg ${r.maxOverAvg.toFixed(4)}  max/expected ${r.maxOverExpected.toFixed(4)}`);
  return `${out.join('\n')}\n`;
}
