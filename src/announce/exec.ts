import { execFile } from 'node:child_process';

// Running the speaker's own tools (bird -p, birdc): bounded in time and in output, never a shell.

export interface ToolResult {
  /** Exit status; null when the tool could not be started or was killed. */
  code: number | null;
  stdout: string;
  stderr: string;
  /** ENOENT when the executable is missing, ETIMEDOUT when it overran, ... */
  errno?: string;
}

export type ToolRunner = (file: string, args: readonly string[]) => Promise<ToolResult>;

/** Output beyond this is cut off: a status table of thousands of peers fits; a runaway tool does not. */
const MAX_OUTPUT = 4 * 1024 * 1024;
const TOOL_TIMEOUT_MS = 15_000;

export const runTool: ToolRunner = (file, args) =>
  new Promise((resolve) => {
    execFile(file, [...args], { timeout: TOOL_TIMEOUT_MS, maxBuffer: MAX_OUTPUT, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } }, (err, stdout, stderr) => {
      if (!err) {
        resolve({ code: 0, stdout, stderr });
        return;
      }
      const e = err as NodeJS.ErrnoException & { code?: string | number; killed?: boolean };
      if (typeof e.code === 'number') resolve({ code: e.code, stdout, stderr });
      else resolve({ code: null, stdout, stderr, errno: e.killed ? 'ETIMEDOUT' : (e.code ?? 'EIO') });
    });
  });
