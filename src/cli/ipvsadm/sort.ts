import type { Destination, Family, Protocol, Service } from '../../ipvs/types.ts';
import { addressBytes16 } from './inet.ts';

// ipvsadm lists services and destinations sorted with libipvs's ipvs_cmp_services /
// ipvs_cmp_dests through glibc qsort. Those comparators return the difference of two
// unsigned 32-bit values truncated to int, so addresses more than 2^31 apart compare
// "the wrong way" (200.0.0.1 sorts before 10.0.0.1). To print byte-for-byte what ipvsadm
// prints we replicate both the comparators and glibc's merge sort (qsort_r is a top-down
// merge sort splitting at n/2 for any table that fits in memory), because with a
// non-transitive comparator the result depends on the algorithm.

const AF: Record<Family, number> = { inet: 2, inet6: 10 };
const PROTO: Record<Protocol, number> = { tcp: 6, udp: 17, sctp: 132 };

/** (int)(a - b) for two u32 values, as C computes it. */
function diffU32(a: number, b: number): number {
  return (a - b) | 0;
}

function word(bytes: Uint8Array, i: number): number {
  return ((bytes[i * 4] << 24) | (bytes[i * 4 + 1] << 16) | (bytes[i * 4 + 2] << 8) | bytes[i * 4 + 3]) >>> 0;
}

interface SortKey {
  fwmark: number;
  af: number;
  protocol: number;
  addr: Uint8Array;
  port: number;
}

const ZERO16 = new Uint8Array(16);

function serviceSortKey(s: Service): SortKey {
  const k = s.key;
  if (k.kind === 'fwmark') return { fwmark: k.fwmark >>> 0, af: AF[k.family], protocol: 0, addr: ZERO16, port: 0 };
  return { fwmark: 0, af: AF[k.family], protocol: PROTO[k.protocol], addr: addressBytes16(k.address), port: k.port };
}

function compareAddr(af1: number, a1: Uint8Array, a2: Uint8Array): number {
  let r = 0;
  if (af1 === AF.inet6) {
    for (let i = 0; r === 0 && i < 4; i++) r = diffU32(word(a1, i), word(a2, i));
  } else {
    r = diffU32(word(a1, 0), word(a2, 0));
  }
  return r;
}

function compareServiceKeys(s1: SortKey, s2: SortKey): number {
  let r = diffU32(s1.fwmark, s2.fwmark);
  if (r !== 0) return r;
  r = s1.af - s2.af;
  if (r !== 0) return r;
  r = s1.protocol - s2.protocol;
  if (r !== 0) return r;
  r = compareAddr(s1.af, s1.addr, s2.addr);
  if (r !== 0) return r;
  return s1.port - s2.port;
}

interface DestKey {
  af: number;
  addr: Uint8Array;
  port: number;
}

function compareDestKeys(d1: DestKey, d2: DestKey): number {
  const r = compareAddr(d1.af, d1.addr, d2.addr);
  if (r !== 0) return r;
  return d1.port - d2.port;
}

/** glibc msort_with_tmp: stable top-down merge sort, left half = floor(n/2). */
export function glibcMergeSort<T>(items: T[], cmp: (a: T, b: T) => number): T[] {
  const a = items.slice();
  const tmp = new Array<T>(a.length);
  const sort = (lo: number, n: number): void => {
    if (n <= 1) return;
    const n1 = n >>> 1;
    const n2 = n - n1;
    sort(lo, n1);
    sort(lo + n1, n2);
    let i = lo;
    let j = lo + n1;
    const iEnd = lo + n1;
    const jEnd = lo + n;
    let t = 0;
    while (i < iEnd && j < jEnd) {
      if (cmp(a[i], a[j]) <= 0) tmp[t++] = a[i++];
      else tmp[t++] = a[j++];
    }
    while (i < iEnd) tmp[t++] = a[i++];
    // What is left of the right half is already in place.
    for (let k = 0; k < t; k++) a[lo + k] = tmp[k];
  };
  sort(0, a.length);
  return a;
}

/** Services in the order `ipvsadm -L` / `-S` prints them. */
export function sortServicesLikeIpvsadm<T extends { service: Service }>(entries: T[]): T[] {
  const keyed = entries.map((e) => ({ e, k: serviceSortKey(e.service) }));
  return glibcMergeSort(keyed, (x, y) => compareServiceKeys(x.k, y.k)).map((x) => x.e);
}

/** Destinations in the order ipvsadm prints them. */
export function sortDestinationsLikeIpvsadm(dests: Destination[]): Destination[] {
  const keyed = dests.map((d) => ({ d, k: { af: AF[d.key.family], addr: addressBytes16(d.key.address), port: d.key.port } }));
  return glibcMergeSort(keyed, (x, y) => compareDestKeys(x.k, y.k)).map((x) => x.d);
}
