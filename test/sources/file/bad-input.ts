// The bad-input table shared by the unit tests (parseConfig), the CLI tests (validate/plan/run exit
// codes) and the kernel suite (nothing changes in the kernel). Each case: a config text, and what
// the first error must say (position and a fragment of the message).

import { ConfigError, parseConfig } from '../../../src/sources/file/index.ts';

/** The ConfigError `parseConfig` throws for `yaml` (as file lb.yaml); fails the test if it does not throw one. */
export function errorOf(yaml: string): ConfigError {
  try {
    parseConfig(yaml, 'lb.yaml');
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

export interface BadInputCase {
  name: string;
  yaml: string;
  line: number;
  column: number;
  path: string;
  message: RegExp;
}

const svc = (body: string): string => `services:\n  - name: web\n${body}`;

export const BAD_INPUT: BadInputCase[] = [
  { name: 'malformed YAML (unclosed flow sequence)', yaml: 'services: [\n  - name: web\n', line: 2, column: 3, path: '', message: /YAML syntax/ },
  { name: 'malformed YAML (bad indentation)', yaml: 'services:\n  - name: web\n   address: 1.2.3.4\n', line: 3, column: 1, path: '', message: /YAML syntax: Sequence item without - indicator/ },
  { name: 'duplicate key', yaml: svc('    address: 192.0.2.1\n    address: 192.0.2.2\n    port: 80\n    destinations: []\n'), line: 4, column: 5, path: '', message: /YAML syntax: Map keys must be unique/ },
  { name: 'empty file', yaml: '', line: 0, column: 0, path: '', message: /the file is empty/ },
  { name: 'top level is a list', yaml: '- a\n- b\n', line: 1, column: 1, path: '', message: /must be a mapping/ },
  { name: 'missing services', yaml: 'settings: {}\n', line: 1, column: 1, path: '', message: /missing required field "services"/ },
  { name: 'unknown top-level field', yaml: 'service: []\n', line: 1, column: 1, path: 'service', message: /unknown field "service" \(did you mean "services"\?\)/ },
  { name: 'unknown service field', yaml: svc('    address: 192.0.2.1\n    port: 80\n    schedular: mh\n    destinations: []\n'), line: 5, column: 5, path: 'services[web].schedular', message: /unknown field "schedular" \(did you mean "scheduler"\?\)/ },
  { name: 'unknown destination field', yaml: svc('    address: 192.0.2.1\n    port: 80\n    destinations:\n      - address: 10.0.0.1\n        wieght: 2\n'), line: 7, column: 9, path: 'services[web].destinations[0].wieght', message: /unknown field "wieght"/ },
  { name: 'bad VIP address', yaml: svc('    address: 192.0.2.300\n    port: 80\n    destinations: []\n'), line: 3, column: 14, path: 'services[web].address', message: /"192.0.2.300" is not an IPv4 or IPv6 address/ },
  { name: 'address with prefix length', yaml: svc('    address: 192.0.2.1/32\n    port: 80\n    destinations: []\n'), line: 3, column: 14, path: 'services[web].address', message: /not an IPv4 or IPv6 address/ },
  { name: 'bad destination address', yaml: svc('    address: 192.0.2.1\n    port: 80\n    destinations:\n      - address: backend-1\n'), line: 6, column: 18, path: 'services[web].destinations[0].address', message: /"backend-1" is not an IPv4 or IPv6 address/ },
  { name: 'mixed address families', yaml: svc('    address: 192.0.2.1\n    port: 80\n    destinations:\n      - address: 2001:db8::1\n'), line: 6, column: 18, path: 'services[web].destinations[0].address', message: /needs forwarding: tunnel/ },
  { name: 'port 0', yaml: svc('    address: 192.0.2.1\n    port: 0\n    destinations: []\n'), line: 4, column: 11, path: 'services[web].port', message: /0 is out of range: must be from 1 to 65535/ },
  { name: 'port too large', yaml: svc('    address: 192.0.2.1\n    port: 65536\n    destinations: []\n'), line: 4, column: 11, path: 'services[web].port', message: /65536 is out of range/ },
  { name: 'port as a string', yaml: svc('    address: 192.0.2.1\n    port: "80"\n    destinations: []\n'), line: 4, column: 11, path: 'services[web].port', message: /must be an integer from 1 to 65535, got the string "80"/ },
  { name: 'missing port', yaml: svc('    address: 192.0.2.1\n    destinations: []\n'), line: 2, column: 5, path: 'services[web]', message: /missing required field "port"/ },
  { name: 'unknown protocol', yaml: svc('    protocol: tcpp\n    address: 192.0.2.1\n    port: 80\n    destinations: []\n'), line: 3, column: 15, path: 'services[web].protocol', message: /unknown protocol "tcpp"; expected one of tcp, udp, sctp \(did you mean "tcp"\?\)/ },
  { name: 'protocol as a number', yaml: svc('    protocol: 6\n    address: 192.0.2.1\n    port: 80\n    destinations: []\n'), line: 3, column: 15, path: 'services[web].protocol', message: /must be one of tcp, udp, sctp, got number 6/ },
  { name: 'unknown scheduler', yaml: svc('    address: 192.0.2.1\n    port: 80\n    scheduler: maglev\n    destinations: []\n'), line: 5, column: 16, path: 'services[web].scheduler', message: /unknown scheduler "maglev"/ },
  { name: 'flag of another scheduler', yaml: svc('    address: 192.0.2.1\n    port: 80\n    scheduler: wrr\n    flags: [mh-port]\n    destinations: []\n'), line: 6, column: 13, path: 'services[web].flags[0]', message: /belongs to the "mh" scheduler/ },
  { name: 'unknown flag', yaml: svc('    address: 192.0.2.1\n    port: 80\n    flags: [mh-prot]\n    destinations: []\n'), line: 5, column: 13, path: 'services[web].flags[0]', message: /unknown flag the string "mh-prot".*did you mean "mh-port"/ },
  { name: 'duplicate service name', yaml: 'services:\n  - { name: web, address: 192.0.2.1, port: 80, destinations: [] }\n  - { name: web, address: 192.0.2.2, port: 80, destinations: [] }\n', line: 3, column: 13, path: 'services[web].name', message: /duplicate service name "web" \(first used at .*:2:13\)/ },
  { name: 'duplicate service key', yaml: 'services:\n  - { name: a, address: 192.0.2.1, port: 80, destinations: [] }\n  - { name: b, address: 192.0.2.1, port: 80, destinations: [] }\n', line: 3, column: 5, path: 'services[b]', message: /duplicate service tcp 192.0.2.1:80 \(already defined at .*:2:5\)/ },
  { name: 'duplicate fwmark service', yaml: 'services:\n  - { name: a, fwmark: 7, destinations: [] }\n  - { name: b, fwmark: 7, destinations: [] }\n', line: 3, column: 5, path: 'services[b]', message: /duplicate service fwmark 7/ },
  { name: 'duplicate destination', yaml: svc('    address: 192.0.2.1\n    port: 80\n    destinations:\n      - { address: 10.0.0.1 }\n      - { address: 10.0.0.1, port: 80 }\n'), line: 7, column: 9, path: 'services[web].destinations[1]', message: /duplicate destination 10.0.0.1:80/ },
  { name: 'weight out of range', yaml: svc('    address: 192.0.2.1\n    port: 80\n    destinations:\n      - { address: 10.0.0.1, weight: 70000 }\n'), line: 6, column: 38, path: 'services[web].destinations[0].weight', message: /70000 is out of range: must be from 0 to 65535/ },
  { name: 'negative weight', yaml: svc('    address: 192.0.2.1\n    port: 80\n    destinations:\n      - { address: 10.0.0.1, weight: -1 }\n'), line: 6, column: 38, path: 'services[web].destinations[0].weight', message: /-1 is out of range/ },
  { name: 'fractional weight', yaml: svc('    address: 192.0.2.1\n    port: 80\n    destinations:\n      - { address: 10.0.0.1, weight: 1.5 }\n'), line: 6, column: 38, path: 'services[web].destinations[0].weight', message: /must be an integer/ },
  { name: 'unknown forwarding method', yaml: svc('    address: 192.0.2.1\n    port: 80\n    destinations:\n      - { address: 10.0.0.1, forwarding: nat }\n'), line: 6, column: 42, path: 'services[web].destinations[0].forwarding', message: /unknown forwarding method "nat"/ },
  { name: 'thresholds inverted', yaml: svc('    address: 192.0.2.1\n    port: 80\n    destinations:\n      - { address: 10.0.0.1, upperThreshold: 10, lowerThreshold: 20 }\n'), line: 6, column: 66, path: 'services[web].destinations[0].lowerThreshold', message: /above upperThreshold/ },
  { name: 'fwmark and address together', yaml: svc('    fwmark: 7\n    address: 192.0.2.1\n    destinations: []\n'), line: 4, column: 5, path: 'services[web].address', message: /either "fwmark" or "address"/ },
  { name: 'bad service name', yaml: 'services:\n  - { name: "my web", address: 192.0.2.1, port: 80, destinations: [] }\n', line: 2, column: 13, path: 'services[0].name', message: /"my web" is not valid/ },
  { name: 'missing destinations', yaml: svc('    address: 192.0.2.1\n    port: 80\n'), line: 2, column: 5, path: 'services[web]', message: /missing required field "destinations"/ },
  { name: 'unknown health check type', yaml: svc('    address: 192.0.2.1\n    port: 80\n    healthCheck: { type: icmp }\n    destinations: []\n'), line: 5, column: 26, path: 'services[web].healthCheck.type', message: /unknown health check type "icmp"/ },
  { name: 'bad duration', yaml: svc('    address: 192.0.2.1\n    port: 80\n    healthCheck: { type: tcp, interval: 5 seconds }\n    destinations: []\n'), line: 5, column: 41, path: 'services[web].healthCheck.interval', message: /must be a duration/ },
  { name: 'timeout above interval', yaml: svc('    address: 192.0.2.1\n    port: 80\n    healthCheck: { type: tcp, interval: 1s, timeout: 2s }\n    destinations: []\n'), line: 5, column: 54, path: 'services[web].healthCheck.timeout', message: /must not exceed interval/ },
  { name: 'http field on a tcp check', yaml: svc('    address: 192.0.2.1\n    port: 80\n    healthCheck: { type: tcp, path: /x }\n    destinations: []\n'), line: 5, column: 31, path: 'services[web].healthCheck.path', message: /"path" applies to http\/https checks only, this one is tcp/ },
  { name: 'unknown onFailure', yaml: svc('    address: 192.0.2.1\n    port: 80\n    healthCheck: { type: tcp, onFailure: delete }\n    destinations: []\n'), line: 5, column: 42, path: 'services[web].healthCheck.onFailure', message: /unknown onFailure "delete"; expected one of weight0, remove/ },
  { name: 'bad IPv4 persistence netmask', yaml: svc('    address: 192.0.2.1\n    port: 80\n    persistence: { timeout: 60, netmask: 255.0.255.0 }\n    destinations: []\n'), line: 5, column: 42, path: 'services[web].persistence.netmask', message: /dotted mask/ },
];
