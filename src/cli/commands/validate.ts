import type { Command } from 'commander';
import { ConfigError, DEFAULT_MAX_CONFIG_BYTES, loadConfigFile } from '../../sources/file/index.ts';
import type { ConfigReadOptions, LoadedConfig } from '../../sources/file/index.ts';
import { maxSizeOption } from '../size-option.ts';

// `ipvs-maglev validate --config lb.yaml`: read and check a configuration, change nothing.
// Exit 0 when valid, 2 when not (every problem listed with file:line:column and field path).

/** Exit status for a configuration that was refused (validate, plan, run start-up). */
export const EXIT_BAD_CONFIG = 2;

/**
 * Loads a configuration: parseConfig checks it against the file schema and against the desired-state model
 * the reconciler enforces (kernel limits), so nothing the reconciler would refuse gets past validate.
 */
export async function loadValidConfig(path: string, options: ConfigReadOptions = {}): Promise<LoadedConfig> {
  return loadConfigFile(path, options);
}

/** `--max-config-size` for every command that reads a configuration file (validate, plan, run). */
export function maxConfigSizeOption() {
  return maxSizeOption('--max-config-size', 'a configuration file', DEFAULT_MAX_CONFIG_BYTES);
}

/** Prints a configuration error for a human and sets a non-zero exit; other errors are rethrown. */
export function reportConfigError(err: unknown): void {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`ipvs-maglev: ${err.message}\n`);
  process.exitCode = EXIT_BAD_CONFIG;
}

export function summary(config: LoadedConfig): string {
  const services = config.desired.services.length;
  const destinations = config.desired.services.reduce((n, s) => n + s.destinations.length, 0);
  const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
  return `${plural(services, 'service')}, ${plural(destinations, 'destination')}, ${plural(config.health.length, 'health check')}`;
}

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('check a load-balancer configuration file (YAML) and report every problem; changes nothing')
    .requiredOption('-c, --config <file>', 'the configuration file (see examples/README.md)')
    .option('--json', 'print the desired state the file describes as JSON')
    .addOption(maxConfigSizeOption())
    .action(async (opts: { config: string; json?: boolean; maxConfigSize: number }) => {
      try {
        const config = await loadValidConfig(opts.config, { maxBytes: opts.maxConfigSize });
        if (opts.json) process.stdout.write(`${JSON.stringify({ desired: config.desired, health: config.health, quorum: config.quorum, settings: config.settings }, null, 2)}\n`);
        else process.stdout.write(`${opts.config}: valid (${summary(config)})\n`);
      } catch (err) {
        reportConfigError(err);
      }
    });
}
