// The text forms the CLI and config files use for destinations and clients:
//   IP:PORT[:WEIGHT[:LASTWEIGHT]]   with IPv6 in brackets: [2001:db8::1]:80:2
//   IP[:PORT]                       a client; a bare IPv6 address needs no brackets
// Lists may be comma-separated.

import { MaglevError } from './errors.ts';
import type { KernelDest } from './kernel.ts';

export interface DestSpec {
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  readonly lastWeight?: number;
}

export interface ClientSpec {
  readonly address: string;
  /** Undefined when the client was given without a port. */
  readonly port?: number;
}

/** Parses one `IP:PORT[:WEIGHT[:LASTWEIGHT]]`; weight defaults to 1, last weight to the weight. */
export function parseDestSpec(text: string): DestSpec {
  const { address, rest } = splitAddress(text.trim(), text);
  const fields = rest === '' ? [] : rest.split(':');
  if (fields.length < 1 || fields.length > 3) {
    throw new MaglevError('BAD_SPEC', `destination "${text}" is not IP:PORT[:WEIGHT[:LASTWEIGHT]] (IPv6 as [addr]:port)`);
  }
  const port = parseInteger(fields[0], 65535, `port in "${text}"`, 'BAD_PORT');
  const weight = fields.length > 1 ? parseInteger(fields[1], 0x7fffffff, `weight in "${text}"`, 'BAD_WEIGHT') : 1;
  if (fields.length > 2) {
    const lastWeight = parseInteger(fields[2], 0x7fffffff, `last weight in "${text}"`, 'BAD_WEIGHT');
    return { address, port, weight, lastWeight };
  }
  return { address, port, weight };
}

/** Parses repeated and/or comma-separated destination lists, in order. */
export function parseDestList(values: readonly string[]): DestSpec[] {
  const out: DestSpec[] = [];
  for (const value of values) {
    for (const part of value.split(',')) {
      if (part.trim() === '') continue;
      out.push(parseDestSpec(part));
    }
  }
  return out;
}

/** As KernelDest (the same shape; kept as a function so callers do not depend on that). */
export function toKernelDests(specs: readonly DestSpec[]): KernelDest[] {
  return specs.map((s) => (s.lastWeight === undefined ? { address: s.address, port: s.port, weight: s.weight } : { ...s }));
}

/** Parses `IP[:PORT]`, `[IPv6]:PORT` or a bare IPv6 address. */
export function parseClientSpec(text: string): ClientSpec {
  const t = text.trim();
  if (t.startsWith('[')) {
    const { address, rest } = splitAddress(t, text);
    if (rest === '') return { address };
    return { address, port: parseInteger(rest, 65535, `port in "${text}"`, 'BAD_PORT') };
  }
  const colons = t.split(':').length - 1;
  if (colons === 1) {
    const [address, port] = t.split(':');
    return { address, port: parseInteger(port, 65535, `port in "${text}"`, 'BAD_PORT') };
  }
  // No colon: IPv4 alone. Several: a bare IPv6 address.
  return { address: t };
}

function splitAddress(t: string, original: string): { address: string; rest: string } {
  if (t.startsWith('[')) {
    const close = t.indexOf(']');
    if (close < 0) throw new MaglevError('BAD_SPEC', `"${original}": missing "]" after the IPv6 address`);
    const after = t.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) throw new MaglevError('BAD_SPEC', `"${original}": expected ":" after "]"`);
    return { address: t.slice(1, close), rest: after.slice(1) };
  }
  const colon = t.indexOf(':');
  if (colon < 0) return { address: t, rest: '' };
  if (t.split(':').length - 1 > 3) {
    throw new MaglevError('BAD_SPEC', `"${original}": write IPv6 destinations in brackets, e.g. [2001:db8::1]:80`);
  }
  return { address: t.slice(0, colon), rest: t.slice(colon + 1) };
}

function parseInteger(text: string, max: number, what: string, code: 'BAD_PORT' | 'BAD_WEIGHT'): number {
  if (!/^[0-9]+$/.test(text)) throw new MaglevError(code, `${what}: "${text}" is not a non-negative integer`);
  const v = Number(text);
  if (v > max) throw new MaglevError(code, `${what}: ${text} is larger than ${max}`);
  return v;
}
