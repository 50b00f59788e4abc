// Errors from reading a configuration file. Every problem carries where it is (file:line:column)
// and which field it concerns, so a user can fix all of them in one pass.

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

export class ConfigError extends Error {
  readonly code: ConfigErrorCode;
  readonly issues: readonly ConfigIssue[];
  constructor(code: ConfigErrorCode, issues: readonly ConfigIssue[]) {
    const head = issues.length === 1 ? '1 problem' : `${issues.length} problems`;
    super(`invalid configuration (${head}):\n${issues.map((i) => `  ${formatIssue(i)}`).join('\n')}`);
    this.name = 'ConfigError';
    this.code = code;
    this.issues = issues;
  }
}
