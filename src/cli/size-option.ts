import { InvalidArgumentError, Option } from 'commander';
import { formatBytes, parseByteSize } from '../bounded-read.ts';

// `--max-config-size` / `--max-input-size`: how much of a file or stdin a command reads before it refuses
// the input (every reader is bounded; this is the way to raise a bound for a legitimately large input).

export function maxSizeOption(flag: '--max-config-size' | '--max-input-size', what: string, defaultBytes: number): Option {
  return new Option(`${flag} <size>`, `refuse ${what} larger than this (e.g. 64MiB, 1GiB)`)
    .default(defaultBytes, formatBytes(defaultBytes).replace(' ', ''))
    .argParser((text: string) => {
      const n = parseByteSize(text);
      if (n === undefined) throw new InvalidArgumentError(`${JSON.stringify(text.slice(0, 32))} is not a size such as 64MiB, 1GiB or a number of bytes`);
      return n;
    });
}
