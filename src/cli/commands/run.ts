import { type Command, Option } from 'commander';
import { DEFAULT_INTERFACE, DEFAULT_METRICS_ADDRESS, DEFAULT_STATE_DIR } from '../../app/defaults.ts';
import { type RunOptions, runLoadBalancer } from '../../app/standalone.ts';
import { LOG_LEVELS } from '../../log.ts';
import { maxConfigSizeOption } from './validate.ts';

// `ipvs-maglev run --config lb.yaml`: the standalone load balancer (src/app/standalone.ts) from its flags.

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run the standalone load balancer: program IPVS from a YAML file, health-check backends, serve metrics')
    .requiredOption('-c, --config <file>', 'the configuration file (see examples/README.md)')
    .option('--metrics-address <host:port>', 'where /metrics, /healthz and /readyz listen', DEFAULT_METRICS_ADDRESS)
    .option('--state-dir <dir>', 'where ownership of IPVS services is recorded across restarts', DEFAULT_STATE_DIR)
    .option('--interface <name>', 'dummy interface that holds the VIPs', DEFAULT_INTERFACE)
    .option('--netns <name>', 'network namespace (/var/run/netns/NAME) to program')
    .option('--log-level <level>', `one of ${LOG_LEVELS.join(', ')}`, process.env.LOG_LEVEL ?? 'info')
    .option('--no-watch', 'do not reload when the file changes (SIGHUP still reloads)')
    .option('--status-page', 'serve a read-only status page on the metrics port (/status: services, destinations, health, drains, Maglev tables)', false)
    .addOption(maxConfigSizeOption())
    // Only for the kernel suite's control (a node behaving as before canonical order): never in production.
    .addOption(new Option('--no-canonical-mh-order', 'leave mh destination lists in the order of their history').hideHelp())
    .action(async (opts: RunOptions) => {
      process.exitCode = await runLoadBalancer(opts);
    });
}
