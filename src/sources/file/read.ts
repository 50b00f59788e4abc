import { readBoundedFile } from '../../bounded-read.ts';
import { ConfigError } from './errors.ts';

// Reading a configuration file: a regular file (no FIFO or device), within a size limit.

/** Default size limit of a configuration file (`--max-config-size` raises it). */
export const DEFAULT_MAX_CONFIG_BYTES = 16 * 1024 * 1024;
/**
 * The YAML parser spends ~1.2 KB and ~10 us per value: a file may hold one value per this many bytes of its
 * size limit (1,398,101 at 16 MiB, about 10 MB of compact configuration; at worst ~14 s and ~1.7 GB).
 */
export const CONFIG_BYTES_PER_VALUE = 12;

export interface ConfigReadOptions {
  /** Refuse files larger than this (default DEFAULT_MAX_CONFIG_BYTES). */
  maxBytes?: number;
}

/** The text of a configuration file, within the size limit; a ConfigError (CONFIG_UNREADABLE) otherwise. */
export async function readConfigText(path: string, options: ConfigReadOptions = {}): Promise<string> {
  try {
    return await readBoundedFile(path, {
      maxBytes: options.maxBytes ?? DEFAULT_MAX_CONFIG_BYTES,
      what: 'the configuration',
      raiseWith: '--max-config-size',
      regularOnly: true,
      bytesPerValue: CONFIG_BYTES_PER_VALUE,
    });
  } catch (err) {
    throw new ConfigError('CONFIG_UNREADABLE', [{ file: path, line: 0, column: 0, path: '', message: err instanceof Error ? err.message : String(err) }]);
  }
}
