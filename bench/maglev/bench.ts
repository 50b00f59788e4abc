// `ipvs-maglev bench maglev`: populate and lookup speed, balance and churn of src/maglev, and the
// same measurements of a C baseline (bench/maglev/maglev.c, built here with C_FLAGS) in the same
// run, with ratios and an identity check of every table and every lookup result.
// Reported, not asserted: nothing here passes or fails on time.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';
import { threadCpuClock } from './cpu-clock.ts';
import {
  buildKernelTable,
  buildMaglevTable,
  diffTables,
  formatIPv4ForBench,
  type KernelTable,
  kernelLookupFolded,
  MAX_MAGLEV_WEIGHT,
  type MaglevTable,
  maglevLookupIPv4,
  maglevLookupKey,
  populateKernel,
  populateMaglev,
  type SlotTable,
  tableStats,
} from './workload.ts';

export interface MaglevBenchOptions {
  json: boolean;
  quick: boolean;
  write: (line: string) => void;
}

type Line = Record<string, unknown>;

interface Config {
  flavor: 'maglev' | 'kernel';
  tableSize: number;
  backends: number;
}

const CONFIGS: readonly Config[] = [
  { flavor: 'maglev', tableSize: 65537, backends: 100 },
  { flavor: 'maglev', tableSize: 65537, backends: 1000 },
  { flavor: 'maglev', tableSize: 655373, backends: 1000 },
  { flavor: 'kernel', tableSize: 65521, backends: 1000 },
  { flavor: 'kernel', tableSize: 4093, backends: 3 },
];

// Times are this thread's CPU time, not wall time: the dev machines are 2 shared cores where other
// work (test VMs under emulation) can take the CPU away mid-measurement, which would make any wall
// time, and any ratio between two wall times taken seconds apart, mostly noise. The C side uses
// CLOCK_THREAD_CPUTIME_ID for the same reason.
const clock = threadCpuClock();
const cpuMs = (): number => clock.nowMs();

const WARMUP_BUILDS = 8;
/** TypeScript's warm-up: at least this many builds and this much CPU time (see benchTs). */
const TS_WARMUP_BUILDS = 100;
const TS_WARMUP_MS = 1000;

/**
 * Builds timed together as one populate sample (the sample's time divided by the count). A build
 * of the small kernel table takes ~30 us, of the order of the clock call itself (~2 us through
 * koffi) and short enough that timing each one alone measured cold caches and branch predictors
 * after the clock call: 52-59 us per build timed alone against 42 us in a batch, the same code.
 * About 64k slots per sample gives 16 builds at M=4093 and 1 for the big tables. maglev.c is given
 * the same count.
 */
export function buildsPerSample(tableSize: number): number {
  return Math.max(1, Math.floor(65536 / tableSize));
}
const FIRST_BACKEND = 0x0a000001; // 10.0.0.1
const BACKEND_PORT = 8080;
const KEY_SEED = 0x12345678;

export async function runMaglevBench(opts: MaglevBenchOptions): Promise<void> {
  const pairs = opts.quick ? 5 : POPULATE_PAIRS;
  const lookups = opts.quick ? 1_000_000 : 10_000_000;
  const emit = (line: Line): void => opts.write(opts.json ? JSON.stringify(line) : human(line));
  if (!opts.json) {
    opts.write(`# maglev bench: populate x${pairs} TS/C sample pairs (median, min), ${lookups.toLocaleString('en')} lookups x${LOOKUP_PASSES} passes (best, median), ${clock.kind === 'thread-cpu' ? 'thread CPU time' : 'WALL time (no thread CPU clock)'}; node ${process.version}`);
  }
  const c = compileC();
  try {
    if ('skipped' in c) emit({ impl: 'c', skipped: c.skipped });
    let allIdentical = true;
    // Each C case runs right after its TS twin so both meet the same machine load.
    for (const config of CONFIGS) {
      const t = benchTs(config, pairs, lookups, 'skipped' in c ? null : c);
      if ('skipped' in c) {
        emit(t.ts);
        continue;
      }
      // The binary builds its own table and generates its own keys, for the identity checksums, and
      // times itself as a plain standalone run: kept as standalone* beside the paired in-process
      // timings, which the ratios use, so a reader can see the in-process baseline is not handicapped.
      const alone = runC(c.binary, [String(pairs), String(lookups), config.flavor, String(config.tableSize), String(config.backends), String(buildsPerSample(config.tableSize))])[0];
      const k: Line = {
        ...alone,
        ...t.c,
        standalonePopulateMsMedian: alone.populateMsMedian,
        standalonePopulateMsMin: alone.populateMsMin,
        standaloneLookupsPerSec: alone.lookupsPerSec,
        standaloneLookupsPerSecMedian: alone.lookupsPerSecMedian,
      };
      emit(t.ts);
      emit(k);
      const ts = t.ts;
      const identical = k.tableChecksum === ts.tableChecksum && k.lookupChecksum === ts.lookupChecksum;
      allIdentical &&= identical;
      emit({
        impl: 'ratio',
        flavor: ts.flavor,
        tableSize: ts.tableSize,
        backends: ts.backends,
        // The median of the per-pair ratios: each pair is one TS and one C sample taken back to back.
        populateTsOverC: round(t.pairedRatioMedian, 3),
        populateMinTsOverC: round((ts.populateMsMin as number) / (k.populateMsMin as number), 3),
        // TS's populate loop alone (no public call around it, a reused table) against C's whole build.
        populateLoopTsOverC: round(t.loopPairedRatioMedian, 3),
        populateLoopMinTsOverC: round(t.loopMinOverCMin, 3),
        lookupsTsOverC: round(t.lookupsPairedRatioMedian, 3),
        lookupsBestTsOverC: round((ts.lookupsPerSec as number) / (k.lookupsPerSec as number), 3),
        ...(t.numeric === null
          ? {}
          : {
              numericLookupsTsOverC: round(t.numeric.pairedRatioMedian, 3),
              numericLookupsBestTsOverC: round((ts.numericLookupsPerSec as number) / (k.numericPairedLookupsPerSec as number), 3),
            }),
        // The C baseline in this process against itself: paired with TS, and alone back to back
        // (both against its standalone run): see "In-process against standalone" in RESULTS.md.
        cPairedOverStandalone: round((k.populateMsMin as number) / (k.standalonePopulateMsMin as number), 3),
        cAloneOverStandalone: round((k.inProcessAlonePopulateMsMin as number) / (k.standalonePopulateMsMin as number), 3),
        tablesIdentical: k.tableChecksum === ts.tableChecksum && t.loopIdentical,
        lookupsIdentical:
          k.lookupChecksum === ts.lookupChecksum &&
          k.pairedLookupSumsMatch === true &&
          (t.numeric === null || (ts.numericLookupChecksum === ts.lookupChecksum && k.numericPairedLookupSumsMatch === true)),
      });
    }
    for (const line of skewedWeights(opts.quick === true)) emit(line);
    const tsChurn = churnTs();
    emit(tsChurn);
    if ('skipped' in c) return;
    const cChurn = runC(c.binary, ['1', '1', 'churn'])[0];
    emit(cChurn);
    const churnIdentical = ['remove1', 'remove10', 'add1'].every((k) => sameChurn(tsChurn[k], cChurn[k]));
    emit({ impl: 'ratio', churn: true, churnIdentical });
    emit({ impl: 'check', tablesAndLookupsIdentical: allIdentical, churnIdentical });
  } finally {
    if ('dir' in c) rmSync(c.dir, { recursive: true, force: true });
  }
}

/**
 * Populate samples are taken in pairs, one TypeScript and one C (maglev.c loaded as a shared
 * library through koffi), back to back in this thread, alternating which goes first; the ratio is
 * the median of the pairs' ratios. This machine's speed moves under other tenants' load by up to
 * 2x between minutes (the same TS build: 0.040 ms, then 0.065-0.17 ms a few minutes later, with
 * nothing running here), which made ratios of a TS run and a C run seconds apart swing from 1.0x
 * to 1.9x within one bench run. 31 pairs: the median is the 16th.
 */
const POPULATE_PAIRS = 31;

/** One C populate sample: `batch` builds, ms per build (maglev_bench_populate_sample in maglev.c). */
type CPopulateSample = (kernel: number, tableSize: number, backends: number, batch: number) => number;

interface TsResult {
  ts: Line;
  /** The C side's populate fields from the paired samples (empty without a C compiler). */
  c: Line;
  pairedRatioMedian: number;
  /** The populate loop alone against C's whole build (see populateLoopOf). */
  loopPairedRatioMedian: number;
  loopMinOverCMin: number;
  loopIdentical: boolean;
  lookupsPairedRatioMedian: number;
  numeric: Lookups | null;
}

/** The C baseline loaded in this process: one populate sample, one lookup pass. */
interface InProcessC {
  populateSample: CPopulateSample;
  lookupPass: CLookupPass;
}

function benchTs(config: Config, pairs: number, lookups: number, c: InProcessC | null): TsResult {
  const cSample = c?.populateSample ?? null;
  const dests = backendList(config.backends);
  // The input lists are made once, outside the timing, as maglev.c's arrays are.
  const kernelDests = dests.map((d) => ({ ...d, weight: 1 }));
  const build = (): SlotTable => (config.flavor === 'kernel' ? buildKernelTable(kernelDests, config.tableSize) : buildMaglevTable(dests, config.tableSize));
  const batch = buildsPerSample(config.tableSize);
  // Untimed warm-up builds: the first builds run before V8 has its final code for the populate,
  // and the populate time is meant to be the steady state. That takes dozens to hundreds of builds,
  // not a few. V8 optimises populateMaglev fully only once its own loop over the backends has run
  // long enough, so the fewer the backends, the later: at 65537x1000 the first build takes 6.5 ms,
  // builds 2 to ~50 1.2-2.4 ms, then a steady 1.19 ms; at 65537x100 builds up to ~350 take 1.35-1.5
  // ms (mid-tier code), then a steady 1.11 ms (--trace-opt: populateMaglev reaches TurboFan at ~350).
  // Eight builds, as this bench once did, left every timed sample in the middle phase. C needs no
  // warming beyond its caches: WARMUP_BUILDS samples, as its standalone run does.
  const kernel = config.flavor === 'kernel' ? 1 : 0;
  let table = build();
  const warmFrom = cpuMs();
  for (let w = 1; w < TS_WARMUP_BUILDS * batch || cpuMs() - warmFrom < TS_WARMUP_MS; w++) table = build();
  cSample?.(kernel, config.tableSize, config.backends, WARMUP_BUILDS * batch);
  const tsSample = (): number => {
    const t0 = cpuMs();
    for (let b = 0; b < batch; b++) table = build();
    return (cpuMs() - t0) / batch;
  };
  const cTimed = (): number => {
    const ms = cSample?.(kernel, config.tableSize, config.backends, batch) ?? Number.NaN;
    if (!(ms >= 0)) throw new Error('maglev.c could not allocate its bench case');
    return ms;
  };
  const { ts: times, c: cTimes } = pairedSamples(pairs, tsSample, cSample === null ? null : cTimed);
  // The same count of C samples back to back, with no TS build between them: what pairing costs C
  // (caches and branch predictors left to TS's build), measured rather than assumed.
  const cAlone = cSample === null ? [] : Array.from({ length: pairs }, cTimed);
  const ratios = cTimes.map((k, i) => times[i] / k);
  // The same pairing for the populate loop alone (below): how much of the ratio is V8's code for the
  // probe loop, and how much the public call around it.
  const loopSlots = new Int32Array(config.tableSize);
  const populateLoop = populateLoopOf(config.flavor, table, loopSlots);
  const loopSample = (): number => {
    const t0 = cpuMs();
    for (let b = 0; b < batch; b++) populateLoop();
    return (cpuMs() - t0) / batch;
  };
  const loopWarmFrom = cpuMs();
  for (let w = 0; w < TS_WARMUP_BUILDS * batch || cpuMs() - loopWarmFrom < TS_WARMUP_MS; w++) populateLoop();
  const loop = pairedSamples(pairs, loopSample, cSample === null ? null : cTimed);
  const loopIdentical = loopSlots.every((v, i) => v === table.slots[i]);
  const cPass = c?.lookupPass ?? null;
  const looked = config.flavor === 'kernel' ? lookupKernel(table as KernelTable, lookups, cPass) : lookupMaglev(table as MaglevTable, lookups, cPass);
  const { perSec, perSecMedian, checksum } = looked;
  const populateFields = (samples: number[]): Line => ({
    populateSamples: samples.length,
    buildsPerSample: batch,
    populateMsMedian: round(median(samples), 4),
    populateMsMin: round(Math.min(...samples), 4),
  });
  const ts: Line = {
    impl: 'ts',
    flavor: config.flavor,
    tableSize: config.tableSize,
    backends: config.backends,
    clock: clock.kind,
    ...populateFields(times),
    maxOverAvg: round(tableStats(table).maxOverAvg, 6),
    lookupsPerSec: Math.round(perSec),
    lookupsPerSecMedian: Math.round(perSecMedian),
    ...(looked.numeric === undefined
      ? {}
      : { numericLookupsPerSec: Math.round(looked.numeric.perSec), numericLookupsPerSecMedian: Math.round(looked.numeric.perSecMedian), numericLookupChecksum: looked.numeric.checksum }),
    tableBytes: table.slots.byteLength,
    tableChecksum: tableChecksum(table.slots),
    lookupChecksum: checksum,
  };
  const cLine: Line =
    cTimes.length > 0 && looked.c !== null
      ? {
          ...populateFields(cTimes),
          lookupsPerSec: Math.round(looked.c.perSec),
          lookupsPerSecMedian: Math.round(looked.c.perSecMedian),
          pairedWithTs: true,
          inProcessAlonePopulateMsMedian: round(median(cAlone), 4),
          inProcessAlonePopulateMsMin: round(Math.min(...cAlone), 4),
          pairedLookupSumsMatch: looked.c.sumsMatch,
          ...(looked.numeric?.c
            ? { numericPairedLookupsPerSec: Math.round(looked.numeric.c.perSec), numericPairedLookupSumsMatch: looked.numeric.c.sumsMatch }
            : {}),
        }
      : {};
  const loopRatios = loop.c.map((k, i) => loop.ts[i] / k);
  return {
    ts,
    c: cLine,
    pairedRatioMedian: ratios.length > 0 ? median(ratios) : Number.NaN,
    loopPairedRatioMedian: loopRatios.length > 0 ? median(loopRatios) : Number.NaN,
    loopMinOverCMin: loop.c.length > 0 ? Math.min(...loop.ts) / Math.min(...loop.c) : Number.NaN,
    loopIdentical,
    lookupsPairedRatioMedian: looked.pairedRatioMedian, numeric: looked.numeric ?? null };
}

/**
 * The populate loop alone (populateMaglev / populateKernel), again and again into one reused table
 * from a built table's own permutations: no validation, parsing, canonical order or hashing, and no
 * fresh table, which is what C's build into its reused buffer leaves out too (it hashes its backends).
 */
function populateLoopOf(flavor: Config['flavor'], table: SlotTable, into: Int32Array): () => void {
  if (flavor === 'kernel') {
    const t = table as KernelTable;
    return () => populateKernel(into, t.offsets, t.skips, t.turns);
  }
  const t = table as MaglevTable;
  const weights = Int32Array.from(t.tableWeights);
  return () => populateMaglev(into, t.offsets, t.skips, weights);
}

/**
 * `count` TS samples, each paired with a C sample taken right before or after it (alternating), or
 * TS samples alone without C. The pairs line up by index.
 */
function pairedSamples(count: number, ts: () => number, c: (() => number) | null): { ts: number[]; c: number[] } {
  const out = { ts: [] as number[], c: [] as number[] };
  for (let r = 0; r < count; r++) {
    if (c !== null && r % 2 === 1) out.c.push(c());
    out.ts.push(ts());
    if (c !== null && r % 2 === 0) out.c.push(c());
  }
  return out;
}

function median(values: readonly number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const n = v.length;
  return n % 2 ? v[n >> 1] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

function lookupMaglev(table: MaglevTable, count: number, cPass: CLookupPass | null): Lookups {
  const keys = new Uint8Array(count * 13);
  let x = KEY_SEED;
  for (let i = 0, p = 0; i < count; i++, p += 13) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const s = x >>> 0;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const sp = x & 0xffff;
    keys[p] = s >>> 24;
    keys[p + 1] = s >>> 16;
    keys[p + 2] = s >>> 8;
    keys[p + 3] = s;
    keys[p + 4] = 198;
    keys[p + 5] = 51;
    keys[p + 6] = 100;
    keys[p + 7] = 1;
    keys[p + 8] = sp >>> 8;
    keys[p + 9] = sp;
    keys[p + 10] = 0;
    keys[p + 11] = 80;
    keys[p + 12] = 6;
  }
  // Warm the JIT on the lookup path before timing.
  let warm = 0;
  for (let i = 0; i < Math.min(count, 200_000); i++) warm += maglevLookupKey(table, keys, i * 13, 13);
  if (warm < 0) throw new Error('a maglev lookup returned a negative backend index');
  warmPass(() => maglevPass(table, keys, WARM_PASS_KEYS));
  const tsPass = (): number => maglevPass(table, keys, count);
  const cKeyPass = cPass === null ? null : (sum: Uint32Array): number => cPass(0, table.slots, table.size, keys, null, null, count, sum);
  const byKey = timePasses(count, tsPass, cKeyPass);
  // The same flows as numbers, as a packet's parsed header gives them (maglevLookupIPv4), 13 bytes
  // a key in four arrays like the C's 13-byte keys; against the same C pass over those keys.
  const src = new Uint32Array(count);
  const dst = new Uint32Array(count);
  const ports = new Uint32Array(count);
  const protocols = new Uint8Array(count);
  const view = new DataView(keys.buffer, keys.byteOffset, keys.byteLength);
  for (let i = 0, p = 0; i < count; i++, p += 13) {
    src[i] = view.getUint32(p);
    dst[i] = view.getUint32(p + 4);
    ports[i] = view.getUint32(p + 8);
    protocols[i] = keys[p + 12];
  }
  warmPass(() => maglevNumericPass(table, src, dst, ports, protocols, WARM_PASS_KEYS));
  const numeric = timePasses(count, () => maglevNumericPass(table, src, dst, ports, protocols, count), cKeyPass);
  return { ...byKey, numeric };
}

// The timed pass functions are each called LOOKUP_PASSES times with one long loop: without this
// V8 ran every timed pass in on-stack-replacement code, entered mid-loop from the interpreter,
// whose loop kept the running sum tagged (a heap-number check and float64 add per lookup). Measured
// on a 13-byte murmur3 pass: 43 M/s in OSR code, 59-64 M/s once the function itself was optimised
// by many short calls, which is the state a long-running caller's per-packet function is in.
const WARM_PASS_KEYS = 1000;
const WARM_PASS_CALLS = 500;

function warmPass(pass: () => number): void {
  let sum = 0;
  for (let i = 0; i < WARM_PASS_CALLS; i++) sum = (sum + pass()) | 0;
  if (sum === 0.5) throw new Error('unreachable: keeps the warm-up sum live');
}

// Lookups: LOOKUP_PASSES passes over the same keys, each TS pass paired with a C pass over the
// same keys and table (maglev_bench_lookup_pass through koffi), back to back, alternating which
// goes first, for the reason given at POPULATE_PAIRS. Best and median pass reported on each side;
// the ratio is the median of the pairs' ratios.
const LOOKUP_PASSES = 5;

/** maglev_bench_lookup_pass in maglev.c: thread CPU seconds of one pass; the sum goes to sum[0]. */
type CLookupPass = (
  kernel: number,
  slots: Int32Array,
  tableSize: number,
  keys: Uint8Array | null,
  addrs: Uint32Array | null,
  ports: Uint16Array | null,
  count: number,
  sum: Uint32Array,
) => number;

function timePasses(count: number, tsPass: () => number, cPass: ((sum: Uint32Array) => number) | null): Lookups {
  const cSum = new Uint32Array(1);
  let tsPasses = 0;
  let checksum = 0;
  let cSumsMatch = true;
  const tsTimed = (): number => {
    const t0 = cpuMs();
    const sum = tsPass() >>> 0;
    const secs = (cpuMs() - t0) / 1000;
    if (tsPasses++ === 0) checksum = sum;
    else if (sum !== checksum) checksum = 0;
    return secs;
  };
  // The first pass is TS's (pairedSamples), so the checksum a C pass is compared with is set.
  const cTimed = (pass: (sum: Uint32Array) => number) => (): number => {
    const secs = pass(cSum);
    cSumsMatch &&= cSum[0] === checksum;
    return secs;
  };
  const { ts: tsSecs, c: cSecs } = pairedSamples(LOOKUP_PASSES, tsTimed, cPass === null ? null : cTimed(cPass));
  const ratios = cSecs.map((k, i) => k / tsSecs[i]);
  const rates = (secs: number[]): { perSec: number; perSecMedian: number } => ({ perSec: count / Math.min(...secs), perSecMedian: count / median(secs) });
  return {
    ...rates(tsSecs),
    checksum,
    c: cSecs.length > 0 ? { ...rates(cSecs), sumsMatch: cSumsMatch } : null,
    pairedRatioMedian: ratios.length > 0 ? median(ratios) : Number.NaN,
  };
}

interface Lookups {
  perSec: number;
  perSecMedian: number;
  checksum: number;
  /** The paired C passes: rates, and whether every C pass summed the same results as TS. */
  c: { perSec: number; perSecMedian: number; sumsMatch: boolean } | null;
  pairedRatioMedian: number;
  /** Maglev flavour: the same flows looked up as numbers (maglevLookupIPv4), against new C passes. */
  numeric?: Lookups;
}

function lookupKernel(table: KernelTable, count: number, cPass: CLookupPass | null): Lookups {
  const addrs = new Uint32Array(count);
  const ports = new Uint16Array(count);
  let x = KEY_SEED;
  for (let i = 0; i < count; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    addrs[i] = x;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    ports[i] = x & 0xffff;
  }
  let warm = 0;
  for (let i = 0; i < Math.min(count, 200_000); i++) warm += kernelLookupFolded(table, addrs[i], ports[i], true, false);
  if (warm < 0) throw new Error('a kernel lookup dropped a connection on a table without drained destinations');
  warmPass(() => kernelPass(table, addrs, ports, WARM_PASS_KEYS));
  const tsPass = (): number => kernelPass(table, addrs, ports, count);
  return timePasses(count, tsPass, cPass === null ? null : (sum) => cPass(1, table.slots, table.size, null, addrs, ports, count, sum));
}

// The timed loops take everything as parameters, like maglev.c's. A closure over the table and the
// keys measured 10-15% faster for the first configuration only: while a function literal has one
// closure, V8 compiles its captured variables in as constants, and from the second configuration
// on (a second closure) it loads them again, so the ratio depended on the order of the cases.
// The sum wraps as maglev.c's uint32 does: `(sum + r) | 0` of two int32s is a plain 32-bit add,
// where `(sum + lookup + 1) | 0` was compiled with an overflow check whose first overflow (the
// sum passes 2^31 with 1000 backends) sent V8 back to float64 adds: 10-15% of the lookup rate.
function maglevPass(table: MaglevTable, keys: Uint8Array, count: number): number {
  let sum = 0;
  for (let i = 0, p = 0; i < count; i++, p += 13) {
    const r = maglevLookupKey(table, keys, p, 13) + 1;
    sum = (sum + r) | 0;
  }
  return sum;
}

function maglevNumericPass(table: MaglevTable, src: Uint32Array, dst: Uint32Array, ports: Uint32Array, protocols: Uint8Array, count: number): number {
  let sum = 0;
  for (let i = 0; i < count; i++) {
    const p = ports[i];
    const r = maglevLookupIPv4(table, src[i], dst[i], p >>> 16, p & 0xffff, protocols[i]) + 1;
    sum = (sum + r) | 0;
  }
  return sum;
}

function kernelPass(table: KernelTable, addrs: Uint32Array, ports: Uint16Array, count: number): number {
  let sum = 0;
  for (let i = 0; i < count; i++) {
    const r = kernelLookupFolded(table, addrs[i], ports[i], true, false) + 1;
    sum = (sum + r) | 0;
  }
  return sum;
}

function churnTs(): Line {
  const n = 1000;
  const size = 65537;
  const all = backendList(n + 1);
  const base = all.slice(0, n);
  const before = buildMaglevTable(base, size);
  const measure = (after: typeof base): Line => {
    const d = diffTables(before, buildMaglevTable(after, size));
    return { changedFraction: round(d.changedFraction, 8), minimumFraction: round(d.minimumFraction, 8), changedSlots: d.changedSlots, minimumSlots: d.minimumSlots };
  };
  return {
    impl: 'ts',
    churn: true,
    flavor: 'maglev',
    tableSize: size,
    backends: n,
    remove1: measure(base.filter((_, i) => i !== 500)),
    remove10: measure(base.filter((_, i) => i % 100 !== 0)),
    add1: measure(all),
  };
}

/**
 * Populate with one backend at the largest weight among many at weight 1 (issue 11.7: the paper's
 * per-round counter loop took 26 s for 200 such backends at M=16777213), against the equal-weight
 * populate of the same N and M in the same process: the ratio shows what skewed weights cost.
 */
function skewedWeights(quick: boolean): Line[] {
  const cases: [number, number][] = quick ? [[65537, 201], [65537, 2001]] : [[65537, 201], [65537, 2001], [16777213, 201], [16777213, 2001]];
  const out: Line[] = [];
  for (const [size, n] of cases) {
    const equal = backendList(n);
    const skewed = equal.map((b, i) => ({ ...b, weight: i === 0 ? MAX_MAGLEV_WEIGHT : 1 }));
    const time = (list: typeof equal): number => {
      let best = Number.POSITIVE_INFINITY;
      for (let r = 0; r < (size > 1e6 ? 2 : 5); r++) {
        const t0 = cpuMs();
        buildMaglevTable(list, size);
        best = Math.min(best, cpuMs() - t0);
      }
      return best;
    };
    const equalMs = time(equal);
    const skewedMs = time(skewed);
    out.push({ impl: 'ts', skewedWeights: true, flavor: 'maglev', tableSize: size, backends: n, heavyWeight: MAX_MAGLEV_WEIGHT, equalWeightsMsMin: round(equalMs, 2), skewedMsMin: round(skewedMs, 2), skewedOverEqual: round(skewedMs / equalMs, 2) });
  }
  return out;
}

function backendList(n: number): { address: string; port: number }[] {
  return Array.from({ length: n }, (_, i) => ({ address: formatIPv4ForBench(FIRST_BACKEND + i), port: BACKEND_PORT }));
}

function tableChecksum(slots: Int32Array): number {
  let h = 2166136261;
  for (let s = 0; s < slots.length; s++) h = Math.imul(h ^ (slots[s] + 1), 16777619);
  return h >>> 0;
}

/**
 * The C baseline is built as fast as this compiler makes it: -O3, and -march=native because V8's JIT
 * compiles for this CPU too. (Measured against -O2 on the same code: populate the same within the
 * noise, maglev lookups 4-12% faster.)
 */
const C_FLAGS = ['-O3', '-march=native'];

function compileC(): ({ binary: string; dir: string } & InProcessC) | { skipped: string } {
  const source = fileURLToPath(new URL('./maglev.c', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'ipvs-maglev-bench-'));
  const binary = join(dir, 'maglev-bench');
  const library = join(dir, 'maglev-bench.so');
  try {
    execFileSync('cc', [...C_FLAGS, '-o', binary, source], { stdio: ['ignore', 'ignore', 'pipe'] });
    execFileSync('cc', [...C_FLAGS, '-shared', '-fPIC', '-o', library, source], { stdio: ['ignore', 'ignore', 'pipe'] });
    const lib = koffi.load(library);
    const populateSample = lib.func('double maglev_bench_populate_sample(int kernel, int m, int n, int batch)') as CPopulateSample;
    const lookupPass = lib.func(
      'double maglev_bench_lookup_pass(int kernel, const int32_t *slots, int m, const uint8_t *keys, const uint32_t *addrs, const uint16_t *ports, int count, uint32_t *sum)',
    ) as CLookupPass;
    return { binary, dir, populateSample, lookupPass };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    const reason = err instanceof Error && 'code' in err && err.code === 'ENOENT' ? 'no C compiler (cc) on PATH' : `cc failed: ${err instanceof Error ? err.message : String(err)}`;
    return { skipped: reason };
  }
}

function runC(binary: string, args: string[]): Line[] {
  const out = execFileSync(binary, args, { encoding: 'utf8', maxBuffer: 1 << 20 });
  return out
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Line);
}

function sameChurn(a: unknown, b: unknown): boolean {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return false;
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  return x.changedSlots === y.changedSlots && x.minimumSlots === y.minimumSlots;
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

function human(line: Line): string {
  if (line.skipped !== undefined) return `c      skipped: ${String(line.skipped)}`;
  if (line.impl === 'check') return `check  C and TS tables and lookups identical: ${String(line.tablesAndLookupsIdentical)}; churn identical: ${String(line.churnIdentical)}`;
  if (line.skewedWeights === true) {
    return `ts     skewed maglev M=${String(line.tableSize)} N=${String(line.backends)} (one at ${String(line.heavyWeight)}, rest at 1): populate ${String(line.skewedMsMin)} ms min vs ${String(line.equalWeightsMsMin)} ms with equal weights (${String(line.skewedOverEqual)}x)`;
  }
  if (line.churn === true && line.impl === 'ratio') return `ratio  churn identical to C: ${String(line.churnIdentical)}`;
  if (line.churn === true) {
    const part = (k: string): string => {
      const d = line[k] as Record<string, number>;
      return `${k} ${(d.changedFraction * 100).toFixed(3)}% (min ${(d.minimumFraction * 100).toFixed(3)}%, ${(d.changedFraction / d.minimumFraction).toFixed(1)}x)`;
    };
    return `${String(line.impl).padEnd(6)} churn maglev M=${String(line.tableSize)} N=${String(line.backends)}: ${part('remove1')}; ${part('remove10')}; ${part('add1')}`;
  }
  const head = `${String(line.impl).padEnd(6)} ${String(line.flavor).padEnd(6)} M=${String(line.tableSize).padEnd(6)} N=${String(line.backends).padEnd(4)}`;
  if (line.impl === 'ratio') {
    const numeric = line.numericLookupsTsOverC === undefined ? '' : `, numeric ${String(line.numericLookupsTsOverC)} (best/best ${String(line.numericLookupsBestTsOverC)})`;
    return `${head} populate ts/c ${String(line.populateTsOverC)} (min/min ${String(line.populateMinTsOverC)}; the loop alone ${String(line.populateLoopTsOverC)})  lookups ts/c ${String(line.lookupsTsOverC)} (best/best ${String(line.lookupsBestTsOverC)})${numeric}  identical ${String(line.tablesIdentical && line.lookupsIdentical)}  c in-process/standalone ${String(line.cPairedOverStandalone)} paired, ${String(line.cAloneOverStandalone)} alone`;
  }
  const mops = (v: unknown): string => ((v as number) / 1e6).toFixed(1);
  const numeric = line.numericLookupsPerSec === undefined ? '' : `, numeric ${mops(line.numericLookupsPerSec)} M/s`;
  const main = `${head} populate ${String(line.populateMsMedian)} ms (min ${String(line.populateMsMin)})  max/avg ${String(line.maxOverAvg)}  ${mops(line.lookupsPerSec)} M lookups/s (median ${mops(line.lookupsPerSecMedian)})${numeric}  table ${((line.tableBytes as number) / 1e6).toFixed(2)} MB`;
  if (line.standalonePopulateMsMin === undefined) return main;
  return `${main}\n${' '.repeat(head.length)} standalone: populate ${String(line.standalonePopulateMsMedian)} ms (min ${String(line.standalonePopulateMsMin)}), ${mops(line.standaloneLookupsPerSec)} M lookups/s, batched ${mops(line.batchedLookupsPerSec)} M/s; in-process alone: populate ${String(line.inProcessAlonePopulateMsMedian)} ms (min ${String(line.inProcessAlonePopulateMsMin)})`;
}
