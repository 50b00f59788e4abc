import type { DestinationConfig, Protocol, ServiceConfig } from '../../src/ipvs/types.ts';
import type { DesiredDestination, DesiredService, DesiredState } from '../../src/model/types.ts';

export function svcConfig(over: Partial<ServiceConfig> = {}): ServiceConfig {
  return { scheduler: 'mh', flags: { fallback: true, portHash: true }, timeout: 0, netmask: '255.255.255.255', ...over };
}

export function destConfig(over: Partial<DestinationConfig> = {}): DestinationConfig {
  return { forwarding: 'masq', weight: 1, upperThreshold: 0, lowerThreshold: 0, ...over };
}

export function dest(address: string, port = 8080, over: Partial<DestinationConfig> = {}): DesiredDestination {
  return { key: { family: address.includes(':') ? 'inet6' : 'inet', address, port }, config: destConfig(over) };
}

export function service(
  name: string,
  address: string,
  port: number,
  destinations: DesiredDestination[],
  opts: { protocol?: Protocol; config?: Partial<ServiceConfig>; bindAddress?: boolean } = {},
): DesiredService {
  return {
    name,
    key: { kind: 'addr', family: address.includes(':') ? 'inet6' : 'inet', protocol: opts.protocol ?? 'tcp', address, port },
    config: svcConfig({ netmask: address.includes(':') ? '128' : '255.255.255.255', ...opts.config }),
    destinations,
    bindAddress: opts.bindAddress ?? true,
  };
}

export function state(...services: DesiredService[]): DesiredState {
  return { services };
}

/** A fake clock for drains. */
export function fakeClock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => { t += ms; } };
}
