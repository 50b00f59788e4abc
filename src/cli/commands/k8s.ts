import { readFileSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import type { DesiredState } from '../../model/types.ts';
import { parseObjectsText } from '../../sources/kubernetes/file.ts';
import type { TranslationWarning } from '../../sources/kubernetes/objects.ts';
import { translate } from '../../sources/kubernetes/translate.ts';
import { type ServiceWithDestinations, formatSave } from '../ipvsadm/format.ts';

// `ipvs-maglev k8s translate`: what the controller would program on a node, from objects in a
// file, without a cluster or a kernel. Same translation code as the controller.

export function registerK8s(program: Command): void {
  const k8s = program.command('k8s').description('Kubernetes mode tools (offline)');
  k8s
    .command('translate')
    .description('print the IPVS rules (ipvsadm -S -n format) the controller would program for Services, EndpointSlices and Nodes in a file')
    .requiredOption('-f, --filename <file>', 'YAML/JSON as `kubectl get -o yaml` prints it (a List or multi-document); "-" for stdin')
    .requiredOption('--node-name <name>', 'the node to translate for (local endpoints, its Node object)')
    .option('--node-ip <ips>', 'node addresses for node ports, comma separated (default: the Node object\'s InternalIP/ExternalIP)', splitList)
    .option('--strict', 'exit with status 2 when any object was skipped or any value fell back to a default')
    .action((opts: { filename: string; nodeName: string; nodeIp?: string[]; strict?: boolean }) => {
      const text = opts.filename === '-' ? readFileSync(0, 'utf8') : readInput(opts.filename);
      const loaded = parseObjectsText(text, opts.filename === '-' ? 'stdin' : opts.filename);
      const { state, warnings } = translate(loaded.objects, { nodeName: opts.nodeName, nodeIPs: opts.nodeIp });
      const all = [...loaded.warnings, ...warnings];
      for (const w of all) process.stderr.write(`warning: ${formatWarning(w)}\n`);
      if (loaded.ignoredKinds.size > 0) {
        const kinds = [...loaded.ignoredKinds].map(([k, n]) => `${n} ${k}`).join(', ');
        process.stderr.write(`note: ignored objects translation does not read: ${kinds}\n`);
      }
      process.stdout.write(formatSave(toEntries(state)));
      if (opts.strict && all.length > 0) process.exitCode = 2;
    });
}

function splitList(value: string): string[] {
  const list = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (list.length === 0) throw new InvalidArgumentError('expected one or more addresses separated by commas');
  return list;
}

function readInput(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : err instanceof Error ? err.message : String(err)}`);
  }
}

export function formatWarning(w: TranslationWarning): string {
  return w.object ? `${w.kind} ${w.object}: ${w.message}` : w.message;
}

export function toEntries(state: DesiredState): ServiceWithDestinations[] {
  return state.services.map((s) => ({
    service: { key: s.key, config: s.config },
    destinations: s.destinations.map((d) => ({ key: d.key, config: d.config })),
  }));
}
