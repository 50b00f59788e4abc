import { ConfigError } from '../sources/file/index.ts';
import type { LoadedConfig } from '../sources/file/index.ts';
import { EXIT_BAD_CONFIG } from './exit.ts';

// The standalone program's configuration file as run, plan and validate report it. They load it with
// loadConfigFile, which checks the file schema and the desired-state model the reconciler enforces (kernel
// limits), so nothing the reconciler would refuse gets past validate.

/** Prints a configuration error for a human and sets a non-zero exit; other errors are rethrown. */
export function reportConfigError(err: unknown): void {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`ipvs-maglev: ${err.message}\n`);
  process.exitCode = EXIT_BAD_CONFIG;
}

/** "2 services, 5 destinations, 1 health check". */
export function summary(config: LoadedConfig): string {
  const services = config.desired.services.length;
  const destinations = config.desired.services.reduce((n, s) => n + s.destinations.length, 0);
  const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
  return `${plural(services, 'service')}, ${plural(destinations, 'destination')}, ${plural(config.health.length, 'health check')}`;
}
