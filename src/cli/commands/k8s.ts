import { type Command, InvalidArgumentError, Option } from 'commander';
import { capLines } from '../../bounded-read.ts';
import type { DesiredState } from '../../model/types.ts';
import { DEFAULT_MAX_OBJECTS_BYTES, readObjectsFile } from '../../sources/kubernetes/file.ts';
import { DEFAULT_NODE_PORT_RANGE, type NodePortRange, parseNodePortRange } from '../../sources/kubernetes/objects.ts';
import { translate } from '../../sources/kubernetes/translate.ts';
import { describeWarning } from '../../sources/kubernetes/warnings.ts';
import { type ServiceWithDestinations, formatSave } from '../ipvsadm/format.ts';
import { maxSizeOption } from '../size-option.ts';

// `ipvs-maglev k8s translate`: what the controller would program on a node, from objects in a
// file, without a cluster or a kernel. Same translation code as the controller.

/** Warnings printed one per line at most; the rest are counted. */
const MAX_WARNING_LINES = 1000;

export function registerK8s(program: Command): void {
  const k8s = program.command('k8s').description('Kubernetes mode tools (offline)');
  k8s
    .command('translate')
    .description('print the IPVS rules (ipvsadm -S -n format) the controller would program for Services, EndpointSlices and Nodes in a file')
    .requiredOption('-f, --filename <file>', 'YAML/JSON as `kubectl get -o yaml|json` prints it (a List or multi-document; for large Lists -o json is ~2x faster); "-" for stdin')
    .requiredOption('--node-name <name>', 'the node to translate for (local endpoints, its Node object)')
    .option('--node-ip <ips>', 'node addresses for node ports, comma separated (default: the Node object\'s InternalIP/ExternalIP)', splitList)
    .addOption(nodePortRangeOption())
    .option('--strict', 'exit with status 2 when any object was skipped or any value fell back to a default')
    .addOption(maxSizeOption('--max-input-size', 'an objects file (or stdin)', DEFAULT_MAX_OBJECTS_BYTES))
    .action(async (opts: { filename: string; nodeName: string; nodeIp?: string[]; nodePortRange: NodePortRange; strict?: boolean; maxInputSize: number }) => {
      const loaded = await readObjectsFile(opts.filename, opts.maxInputSize);
      const { state, warnings } = translate(loaded.objects, { nodeName: opts.nodeName, nodeIPs: opts.nodeIp, nodePortRange: opts.nodePortRange });
      const all = [...loaded.warnings, ...warnings];
      const lines = all.slice(0, MAX_WARNING_LINES).map((w) => `warning: ${describeWarning(w)}`);
      for (const line of capLines(lines, MAX_WARNING_LINES, all.length)) process.stderr.write(`${line}\n`);
      if (loaded.ignoredKinds.size > 0) {
        const kinds = [...loaded.ignoredKinds].map(([k, n]) => `${n} ${k}`).join(', ');
        process.stderr.write(`note: ignored objects translation does not read: ${kinds}\n`);
      }
      process.stdout.write(formatSave(toEntries(state)));
      if (opts.strict && all.length > 0) process.exitCode = 2;
    });
}

/** `--node-port-range MIN-MAX` (k8s translate and the controller): node ports outside it are refused. */
export function nodePortRangeOption(): Option {
  const { min, max } = DEFAULT_NODE_PORT_RANGE;
  return new Option('--node-port-range <min-max>', 'the cluster\'s node port range (the API server\'s --service-node-port-range); node ports outside it are refused')
    .default(DEFAULT_NODE_PORT_RANGE, `${min}-${max}`)
    .argParser(nodePortRangeArg);
}

export function nodePortRangeArg(text: string): NodePortRange {
  const range = parseNodePortRange(text);
  if (!range) throw new InvalidArgumentError(`${JSON.stringify(text.slice(0, 32))} is not a port range such as 30000-32767`);
  return range;
}

function splitList(value: string): string[] {
  const list = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (list.length === 0) throw new InvalidArgumentError('expected one or more addresses separated by commas');
  return list;
}

export function toEntries(state: DesiredState): ServiceWithDestinations[] {
  return state.services.map((s) => ({
    service: { key: s.key, config: s.config },
    destinations: s.destinations.map((d) => ({ key: d.key, config: d.config })),
  }));
}
