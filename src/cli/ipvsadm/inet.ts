import { parseAddress } from '../../address/address.ts';
import type { Family } from '../../ipvs/types.ts';

// Address text exactly as ipvsadm prints it. ipvsadm formats with glibc's inet_ntop, which
// differs from RFC 5952 in one corner: an address whose first 96 bits are zero (and is not
// :: or ::1-like with a longer zero run) prints as "::a.b.c.d". Byte-for-byte output needs that.

/** 16 bytes of an address (IPv4 in the first 4), as the kernel and libipvs hold it. */
export function addressBytes16(address: string): Uint8Array {
  return parseAddress(address).bytes;
}

/** glibc inet_ntop(AF_INET6, ...) of 16 bytes. */
export function ntop6(bytes: Uint8Array): string {
  const words = new Array<number>(8);
  for (let i = 0; i < 8; i++) words[i] = (bytes[i * 2] << 8) | bytes[i * 2 + 1];
  let bestBase = -1;
  let bestLen = 0;
  let curBase = -1;
  let curLen = 0;
  for (let i = 0; i < 8; i++) {
    if (words[i] === 0) {
      if (curBase === -1) {
        curBase = i;
        curLen = 1;
      } else curLen++;
    } else if (curBase !== -1) {
      if (bestBase === -1 || curLen > bestLen) {
        bestBase = curBase;
        bestLen = curLen;
      }
      curBase = -1;
    }
  }
  if (curBase !== -1 && (bestBase === -1 || curLen > bestLen)) {
    bestBase = curBase;
    bestLen = curLen;
  }
  if (bestBase !== -1 && bestLen < 2) bestBase = -1;
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (bestBase !== -1 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) out += ':';
      continue;
    }
    if (i !== 0) out += ':';
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff))) {
      out += `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
      return out;
    }
    out += words[i].toString(16);
  }
  if (bestBase !== -1 && bestBase + bestLen === 8) out += ':';
  return out;
}

/** The address as ipvsadm -n prints it. */
export function ntop(family: Family, address: string): string {
  if (family === 'inet') return address;
  return ntop6(addressBytes16(address));
}

/** ipvsadm's numeric "addr:port" / "[addr]:port". */
export function numericHostPort(family: Family, address: string, port: number): string {
  return family === 'inet' ? `${address}:${port}` : `[${ntop6(addressBytes16(address))}]:${port}`;
}
