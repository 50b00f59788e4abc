import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import { ConfigError } from './errors.ts';
import type { ConfigIssue } from './errors.ts';
import { Reader } from './reader.ts';
import { readConfig } from './schema.ts';
import type { LoadedConfig } from './types.ts';

// The YAML file source: text or a path in, a LoadedConfig (desired state + health checks +
// settings) out, or a ConfigError listing every problem with file:line:column and field path.

export { ConfigError, formatIssue } from './errors.ts';
export type { ConfigErrorCode, ConfigIssue } from './errors.ts';
export { CHECK_DEFAULTS, DEFAULT_MH_FLAGS, MAX_WEIGHT, SCHEDULERS } from './schema.ts';
export type { FailureAction, HealthCheckSpec, HealthCheckType, HealthTarget, LbSettings, LoadedConfig } from './types.ts';
export { watchConfig } from './watch.ts';
export type { ConfigWatcher } from './watch.ts';

export function parseConfig(text: string, file = '<config>'): LoadedConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true, strict: true });
  if (doc.errors.length > 0) {
    const issues: ConfigIssue[] = doc.errors.map((e) => {
      const pos = e.linePos?.[0] ?? lines.linePos(e.pos[0]);
      return { file, line: pos.line, column: pos.col, path: '', message: `YAML syntax: ${e.message.split('\n')[0]}` };
    });
    throw new ConfigError('CONFIG_SYNTAX', issues);
  }
  const reader = new Reader(file, lines);
  const config = readConfig(reader, doc.contents);
  if (reader.issues.length > 0) throw new ConfigError('CONFIG_INVALID', reader.issues);
  return { file, ...config };
}

export async function loadConfigFile(path: string): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new ConfigError('CONFIG_UNREADABLE', [{ file: path, line: 0, column: 0, path: '', message: `cannot read the configuration: ${reason}` }]);
  }
  return parseConfig(text, path);
}
