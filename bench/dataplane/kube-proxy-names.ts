// kube-proxy's chain names (pkg/proxy/iptables/proxier.go: servicePortChainName,
// servicePortEndpointChainName): a prefix plus the first 16 characters of the standard
// base32 encoding of sha256(servicePortName + protocol [+ endpoint "ip:port"]).
import { createHash } from 'node:crypto';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 with the standard alphabet; padding is irrelevant here (we keep 16 chars). */
export function base32(bytes: Uint8Array): string {
  let out = '';
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < bytes.length; i++) {
    acc = ((acc << 8) | bytes[i]) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(acc << (5 - bits)) & 31];
  return out;
}

function hash16(text: string): string {
  return base32(createHash('sha256').update(text).digest()).slice(0, 16);
}

/** "KUBE-SVC-" + hash of servicePortName + protocol (lower-case). */
export function serviceChainName(servicePortName: string, protocol: string): string {
  return `KUBE-SVC-${hash16(servicePortName + protocol.toLowerCase())}`;
}

/** "KUBE-SEP-" + hash of servicePortName + protocol + "ip:port". */
export function endpointChainName(servicePortName: string, protocol: string, endpoint: string): string {
  return `KUBE-SEP-${hash16(servicePortName + protocol.toLowerCase() + endpoint)}`;
}

/**
 * nftables mode (pkg/proxy/nftables: hashAndTruncate) names chains readably: the base is
 * "ns/name/proto/port" prefixed with the first 8 base32 chars of its own sha256,
 * e.g. "service-ULMVA6XW-ns1/svc1/tcp/p80".
 */
export function nftServiceChainName(namespace: string, name: string, portName: string, protocol: string): string {
  return `service-${hashAndTruncate(`${namespace}/${name}/${protocol.toLowerCase()}/${portName}`)}`;
}

/** "endpoint-<hash8>-ns/name/proto/port__ip/port", e.g. "endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80". */
export function nftEndpointChainName(namespace: string, name: string, portName: string, protocol: string, ip: string, port: number): string {
  return `endpoint-${hashAndTruncate(`${namespace}/${name}/${protocol.toLowerCase()}/${portName}__${ip}/${port}`)}`;
}

// nftables chain names may be long, but kube-proxy keeps the readable base under 200 chars.
const NFT_BASE_MAX = 200;

function hashAndTruncate(base: string): string {
  const named = `${hash16(base).slice(0, 8)}-${base}`;
  return named.length > NFT_BASE_MAX ? `${named.slice(0, NFT_BASE_MAX - 3)}...` : named;
}
