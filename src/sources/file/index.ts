import { LineCounter, parseDocument } from 'yaml';
import { validateDesiredState } from '../../model/validate.ts';
import { ConfigError, MAX_ISSUES } from './errors.ts';
import type { ConfigIssue } from './errors.ts';
import { type ConfigReadOptions, readConfigText } from './read.ts';
import { locate } from './locate.ts';
import { Reader } from './reader.ts';
import { readConfig } from './schema.ts';
import type { LoadedConfig } from './types.ts';

// The YAML file source: text or a path in, a LoadedConfig (desired state + health checks +
// settings) out, or a ConfigError listing every problem with file:line:column and field path.

export { ConfigError, MAX_ISSUES, formatIssue } from './errors.ts';
export type { ConfigErrorCode, ConfigIssue } from './errors.ts';
export { CHECK_DEFAULTS, DEFAULT_MH_FLAGS, MAX_WEIGHT } from './schema.ts';
export { SCHEDULERS } from '../../ipvs/vocabulary.ts';
export type { FailureAction, HealthCheckSpec, HealthCheckType, HealthTarget, LbSettings, LoadedConfig } from './types.ts';
export { DEFAULT_MAX_CONFIG_BYTES, readConfigText } from './read.ts';
export type { ConfigReadOptions } from './read.ts';
export { watchConfig } from './watch.ts';
export type { ConfigWatcher } from './watch.ts';

export function parseConfig(text: string, file = '<config>'): LoadedConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true, strict: true });
  if (doc.errors.length > 0) {
    const issues: ConfigIssue[] = doc.errors.slice(0, MAX_ISSUES).map((e) => {
      const pos = e.linePos?.[0] ?? lines.linePos(e.pos[0]);
      return { file, line: pos.line, column: pos.col, path: '', message: `YAML syntax: ${e.message.split('\n')[0]}` };
    });
    throw new ConfigError('CONFIG_SYNTAX', issues, doc.errors.length);
  }
  const reader = new Reader(file, lines);
  const config = readConfig(reader, doc.contents);
  if (reader.issues.length > 0) throw new ConfigError('CONFIG_INVALID', reader.issues, reader.issues.length + reader.dropped);
  // What the schema let through must also be what the reconciler accepts (kernel limits): checked here so
  // that a refusal names file:line:column like every other problem of the file.
  const problems = validateDesiredState(config.desired);
  if (problems.length > 0) {
    const issues = problems.slice(0, MAX_ISSUES).map((p) => {
      const at = locate(doc.contents, p.path);
      const pos = at === undefined ? { line: 0, col: 0 } : lines.linePos(at);
      return { file, line: pos.line, column: pos.col, path: p.path, message: p.message };
    });
    throw new ConfigError('CONFIG_INVALID', issues, problems.length);
  }
  return { file, ...config };
}

/** Reads and parses a configuration file: a regular file, at most `maxBytes` long. */
export async function loadConfigFile(path: string, options: ConfigReadOptions = {}): Promise<LoadedConfig> {
  return parseConfig(await readConfigText(path, options), path);
}
