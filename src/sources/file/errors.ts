import { capLines } from '../../bounded-read.ts';

// Errors from reading a configuration file. Every problem carries where it is (file:line:column)
// and which field it concerns, so a user can fix all of them in one pass. A file with very many
// problems keeps the first MAX_ISSUES of them and counts the rest; the message lists a few.

export interface ConfigIssue {
  file: string;
  /** 1-based; 0 when the problem has no position (e.g. the file cannot be read). */
  line: number;
  column: number;
  /** Field path such as `services[web].destinations[1].weight`; empty for the whole document. */
  path: string;
  message: string;
}

export function formatIssue(issue: ConfigIssue): string {
  const where = issue.line > 0 ? `${issue.file}:${issue.line}:${issue.column}` : issue.file;
  return issue.path === '' ? `${where}: ${issue.message}` : `${where}: ${issue.path}: ${issue.message}`;
}

export type ConfigErrorCode = 'CONFIG_UNREADABLE' | 'CONFIG_SYNTAX' | 'CONFIG_INVALID';

/** Problems kept per file (the rest are only counted): bounds memory and time for a file of garbage. */
export const MAX_ISSUES = 1000;

export class ConfigError extends Error {
  readonly code: ConfigErrorCode;
  /** The first problems found (at most MAX_ISSUES). */
  readonly issues: readonly ConfigIssue[];
  /** All problems found, including those not kept. */
  readonly total: number;
  constructor(code: ConfigErrorCode, issues: readonly ConfigIssue[], total = issues.length) {
    const head = total === 1 ? '1 problem' : `${total.toLocaleString('en-US')} problems`;
    const shown = capLines(issues.slice(0, 20).map(formatIssue), 20, total);
    super(`invalid configuration (${head}):\n${shown.map((l) => `  ${l}`).join('\n')}`);
    this.name = 'ConfigError';
    this.code = code;
    this.issues = issues;
    this.total = total;
  }
}
