// `ipvs-maglev bench netlink`: program N services x D destinations into IPVS with our netlink
// client (pipelined batch) and with `ipvsadm -R` from the same rules, and dump the table with our
// client (+ ipvsadm -Ln formatting) and with `ipvsadm -Ln`; print both times and the ratios.
// Reported, not asserted: nothing here passes or fails on time.
//
// Everything happens in a private network namespace created for the run (IPVS state is per
// namespace), so the host's own table is never touched, and flushing between phases is safe.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { formatList, formatSave, type ServiceWithDestinations } from '../../src/cli/ipvsadm/format.ts';
import { readIpvsTable } from '../../src/cli/commands/list.ts';
import { type IpvsClient, type IpvsOperation, openIpvs } from '../../src/ipvs/index.ts';
import type { Destination, Service } from '../../src/ipvs/types.ts';
import { countCommandSyscalls, countOwnSyscalls, type SyscallCounts } from './syscalls.ts';

export interface NetlinkBenchOptions {
  services: number;
  dests: number;
  rounds: number;
  scheduler: string;
  json: boolean;
  /** Dump comparisons per programmed table (each: our read + format, and ipvsadm -Ln, alternating who goes first). */
  dumpRepeats: number;
  /** Also program with `ipvsadm -R` (timed); without it only our client programs, and the dumps are still compared. */
  programBaseline: boolean;
  /** Count system calls of one read with strace (ours and ipvsadm -Ln); untimed. */
  syscalls: boolean;
  write: (line: string) => void;
}

export class NetlinkBenchError extends Error {
  readonly code = 'NETLINK_BENCH';
  constructor(message: string) {
    super(message);
    this.name = 'NetlinkBenchError';
  }
}

interface Exec {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs argv with `input` on stdin; the time covers spawn to exit (what a user of ipvsadm pays). */
function exec(argv: string[], input = ''): Promise<Exec> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => reject(new NetlinkBenchError(`cannot run ${argv.join(' ')}: ${e.message}`)));
    child.on('close', (code) =>
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), ms: performance.now() - t0 }),
    );
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

async function must(argv: string[], input = ''): Promise<Exec> {
  const r = await exec(argv, input);
  if (r.code !== 0) throw new NetlinkBenchError(`${argv.join(' ')} failed (exit ${r.code}): ${r.stderr.trim().slice(0, 500)}`);
  return r;
}

/** The benchmark table: service i = tcp 10.(100+i>>16).(i>>8).(i&255):80, destinations 172.16.0.1..D:8080, masq. */
export function benchTable(services: number, dests: number, scheduler: string): ServiceWithDestinations[] {
  const out: ServiceWithDestinations[] = [];
  for (let i = 0; i < services; i++) {
    const service: Service = {
      key: { kind: 'addr', family: 'inet', protocol: 'tcp', address: `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, port: 80 },
      config: { scheduler, flags: {}, timeout: 0, netmask: '255.255.255.255' },
    };
    const destinations: Destination[] = [];
    for (let j = 0; j < dests; j++) {
      destinations.push({
        key: { family: 'inet', address: `172.16.${(j + 1) >> 8}.${(j + 1) & 255}`, port: 8080 },
        config: { forwarding: 'masq', weight: 1, upperThreshold: 0, lowerThreshold: 0 },
      });
    }
    out.push({ service, destinations });
  }
  return out;
}

function writeOps(table: ServiceWithDestinations[]): IpvsOperation[] {
  const ops: IpvsOperation[] = [];
  for (const { service, destinations } of table) {
    ops.push({ op: 'addService', service: service.key, config: service.config });
    for (const d of destinations) ops.push({ op: 'addDestination', service: service.key, destination: d.key, config: d.config });
  }
  return ops;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export async function runNetlinkBench(opts: NetlinkBenchOptions): Promise<void> {
  if (process.getuid?.() !== 0) throw new NetlinkBenchError('bench netlink needs root (CAP_NET_ADMIN)');
  if (!existsSync('/proc/net/ip_vs') && (await exec(['modprobe', 'ip_vs'])).code !== 0) {
    throw new NetlinkBenchError(
      'this kernel has no IPVS: run the benchmark in the test VM: bash test/kernel/vm/run-in-vm.sh node bin/ipvs-maglev.mjs bench netlink',
    );
  }
  if (opts.syscalls && (await exec(['strace', '-V']).catch(() => undefined))?.code !== 0) {
    throw new NetlinkBenchError('counting system calls needs strace (bash scripts/vm-deps.sh installs it), or pass --no-syscalls');
  }
  const ns = `ipvsbench${process.pid}`;
  const inNs = (argv: string[]): string[] => ['ip', 'netns', 'exec', ns, ...argv];
  const table = benchTable(opts.services, opts.dests, opts.scheduler);
  const rules = formatSave(table);
  const ops = writeOps(table);
  const emit = (o: Record<string, unknown>, text: string): void => opts.write(opts.json ? JSON.stringify({ bench: 'netlink', ...o }) : text);
  const version = (await exec(['ipvsadm', '--version'])).stdout.trim().split('\n')[0];

  await must(['ip', 'netns', 'add', ns]);
  let client: IpvsClient | undefined;
  try {
    // Destinations must be routable inside the namespace.
    await must(inNs(['ip', 'link', 'add', 'bench0', 'type', 'dummy']));
    await must(inNs(['ip', 'link', 'set', 'bench0', 'up']));
    await must(inNs(['ip', 'addr', 'add', '172.16.255.254/16', 'dev', 'bench0']));
    client = await openIpvs({ netns: ns, timeoutMs: 60_000 });
    const c = client;
    const info = await c.getInfo();
    emit(
      { event: 'start', services: opts.services, destsPerService: opts.dests, writes: ops.length, rounds: opts.rounds, dumpRepeats: opts.dumpRepeats, scheduler: opts.scheduler, ipvsadm: version },
      `bench netlink: ${opts.services} services x ${opts.dests} destinations (${ops.length} writes), scheduler ${opts.scheduler}, ${opts.rounds} round(s); baseline ${version}`,
    );
    const flush = async (): Promise<void> => {
      await must(inNs(['ipvsadm', '-C']));
    };
    const checkTable = async (who: string): Promise<void> => {
      const saved = (await must(inNs(['ipvsadm', '-S', '-n']))).stdout;
      if (saved !== rules) throw new NetlinkBenchError(`after programming with ${who}, ipvsadm -S -n differs from the rules`);
    };
    const times = { ours: [] as number[], ipvsadm: [] as number[], oursDump: [] as number[], oursRead: [] as number[], ipvsadmDump: [] as number[] };
    let dumpCount = 0;
    const dumps = async (): Promise<void> => {
      for (let k = 0; k < opts.dumpRepeats; k++) {
        // Alternate who reads first, as the rounds alternate who programs first.
        const ipvsadmFirst = dumpCount++ % 2 === 1;
        const theirsFirst = ipvsadmFirst ? await must(inNs(['ipvsadm', '-L', '-n'])) : undefined;
        const t0 = performance.now();
        const read = await readIpvsTable(c);
        const t1 = performance.now();
        const text = formatList(read, info);
        const t2 = performance.now();
        const theirs = theirsFirst ?? (await must(inNs(['ipvsadm', '-L', '-n'])));
        if (theirs.stdout !== text) throw new NetlinkBenchError('our dump (formatted like ipvsadm -Ln) differs from ipvsadm -Ln');
        times.oursRead.push(t1 - t0);
        times.oursDump.push(t2 - t0);
        times.ipvsadmDump.push(theirs.ms);
      }
    };
    await flush();
    for (let round = 1; round <= opts.rounds; round++) {
      // Alternate who goes first, so a slow moment of the machine does not always hit the same side.
      const order: ReadonlyArray<'ours' | 'ipvsadm'> = !opts.programBaseline ? ['ours'] : round % 2 === 1 ? ['ours', 'ipvsadm'] : ['ipvsadm', 'ours'];
      for (const who of order) {
        if (who === 'ours') {
          const t0 = performance.now();
          const results = await c.batch(ops);
          const ms = performance.now() - t0;
          const failed = results.findIndex((r) => r !== undefined);
          if (failed !== -1) throw new NetlinkBenchError(`our client: write ${failed} failed: ${results[failed]?.message}`);
          times.ours.push(ms);
        } else {
          const r = await must(inNs(['ipvsadm', '-R']), rules);
          times.ipvsadm.push(r.ms);
        }
        await checkTable(who === 'ours' ? 'our client' : 'ipvsadm -R');
        await dumps();
        await flush();
        const last = (xs: number[]): string => `${xs[xs.length - 1].toFixed(0)} ms`;
        emit(
          who === 'ours'
            ? { event: 'round', round, tool: 'ipvs-maglev', programMs: times.ours.at(-1) }
            : { event: 'round', round, tool: 'ipvsadm', programMs: times.ipvsadm.at(-1) },
          `  round ${round}: program with ${who === 'ours' ? 'our client (batch)' : 'ipvsadm -R       '}: ${last(who === 'ours' ? times.ours : times.ipvsadm)}; dump: ours ${last(times.oursDump)} (read ${last(times.oursRead)}), ipvsadm -Ln ${last(times.ipvsadmDump)}`,
        );
      }
    }
    if (opts.syscalls) {
      // One more programming (untimed) so both sides read the same full table under strace.
      const results = await c.batch(ops);
      const failed = results.findIndex((x) => x !== undefined);
      if (failed !== -1) throw new NetlinkBenchError(`our client: write ${failed} failed: ${results[failed]?.message}`);
      const ours = await countOwnSyscalls(() => readIpvsTable(c));
      const theirs = await countCommandSyscalls(['ipvsadm', '-L', '-n'], ['ip', 'netns', 'exec', ns]);
      await flush();
      const destinations = opts.services * opts.dests;
      const per1000 = (n: number): number => (n * 1000) / destinations;
      const top = (s: SyscallCounts): string =>
        Object.entries(s.byName)
          .slice(0, 6)
          .map(([name, n]) => `${name} ${per1000(n).toFixed(0)}`)
          .join(', ');
      emit(
        {
          event: 'syscalls',
          destinations,
          oursTotal: ours.total,
          ipvsadmTotal: theirs.total,
          oursPer1000Dests: per1000(ours.total),
          ipvsadmPer1000Dests: per1000(theirs.total),
          ours: ours.byName,
          ipvsadm: theirs.byName,
        },
        [
          `system calls per 1,000 destinations (strace -f -c, one read of ${destinations} destinations):`,
          `  ours (read, every thread):    ${per1000(ours.total).toFixed(0)} (${top(ours)})`,
          `  ipvsadm -Ln (process start included): ${per1000(theirs.total).toFixed(0)} (${top(theirs)})`,
        ].join('\n'),
      );
    }
    const r = {
      programOursMs: median(times.ours),
      programIpvsadmMs: opts.programBaseline ? median(times.ipvsadm) : Number.NaN,
      dumpOursMs: median(times.oursDump),
      dumpOursReadOnlyMs: median(times.oursRead),
      dumpIpvsadmMs: median(times.ipvsadmDump),
    };
    const programRatio = r.programOursMs / r.programIpvsadmMs;
    // The first read of the process runs cold (interpreter, no optimized code yet), as every `ipvs-maglev list`
    // does; the medians are mostly warm. ipvsadm's first run is as cold as any of its runs.
    const cold = { coldDumpOursMs: times.oursDump[0], coldReadOursMs: times.oursRead[0], coldDumpIpvsadmMs: times.ipvsadmDump[0] };
    const dumpRatio = r.dumpOursMs / r.dumpIpvsadmMs;
    const readRatio = r.dumpOursReadOnlyMs / r.dumpIpvsadmMs;
    emit(
      { event: 'result', ...r, programRatio, dumpRatio, readRatio, ...cold, programTarget: 1.5, dumpTarget: 1, readTarget: 0.7 },
      [
        opts.programBaseline
          ? `program ${opts.services}x${opts.dests}: ours ${r.programOursMs.toFixed(0)} ms, ipvsadm -R ${r.programIpvsadmMs.toFixed(0)} ms, ratio ${programRatio.toFixed(2)} (target <= 1.5)`
          : `program ${opts.services}x${opts.dests}: ours ${r.programOursMs.toFixed(0)} ms (ipvsadm -R not timed: --no-program-baseline)`,
        `dump:            ours ${r.dumpOursMs.toFixed(0)} ms (read + format), ipvsadm -Ln ${r.dumpIpvsadmMs.toFixed(0)} ms, ratio ${dumpRatio.toFixed(2)} (target <= 1.0)`,
        `read only:       ours ${r.dumpOursReadOnlyMs.toFixed(0)} ms, against ipvsadm -Ln ${r.dumpIpvsadmMs.toFixed(0)} ms, ratio ${readRatio.toFixed(2)} (target <= 0.7)`,
        `first dump (cold code): ours ${cold.coldDumpOursMs.toFixed(0)} ms (read ${cold.coldReadOursMs.toFixed(0)} ms), ipvsadm -Ln ${cold.coldDumpIpvsadmMs.toFixed(0)} ms, ratio ${(cold.coldDumpOursMs / cold.coldDumpIpvsadmMs).toFixed(2)}`,
        '(medians of wall times; ipvsadm times include its process start)',
      ].join('\n'),
    );
  } finally {
    client?.close();
    await exec(['ip', 'netns', 'del', ns]);
  }
}
