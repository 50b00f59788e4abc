import { spawn } from 'node:child_process';
import { type MasqueradeInput, type SetContents, TABLE, renderSetUpdate, renderTable, setContents } from './rules.ts';

// Applies the masquerade rules with the `nft` tool. The first apply (and any apply after a
// failure, or when the options change) rewrites the whole table in one `nft -f` transaction;
// later ones send only the set elements that changed (also one transaction), so a single
// endpoint change costs a few lines of nft input, not the whole ruleset.

export class NftError extends Error {
  readonly code = 'NFT_FAILED';
  constructor(message: string) {
    super(message);
    this.name = 'NftError';
  }
}

/** Runs `nft` with a script on stdin (`nft -f -`), or another argv (e.g. list). */
export type NftRunner = (args: readonly string[], stdin?: string) => Promise<string>;

export function nftRunner(nftPath = 'nft'): NftRunner {
  return (args, stdin) =>
    new Promise((resolve, reject) => {
      const child = spawn(nftPath, [...args], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
      });
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
      });
      child.on('error', (e: NodeJS.ErrnoException) => reject(new NftError(e.code === 'ENOENT' ? `${nftPath} not found: install nftables` : `${nftPath}: ${e.message}`)));
      child.on('close', (code) => {
        if (code === 0) resolve(out);
        else reject(new NftError(`${nftPath} ${args.join(' ')} failed (exit ${code}): ${err.trim().split('\n').slice(0, 6).join(' | ')}`));
      });
      child.stdin.on('error', () => undefined);
      child.stdin.end(stdin ?? '');
    });
}

export interface MasqueradeResult {
  mode: 'full' | 'incremental' | 'unchanged';
  /** Lines of nft input sent. */
  lines: number;
}

export class NftMasquerade {
  private readonly run: NftRunner;
  private applied: SetContents | undefined;
  private appliedOptions = '';

  constructor(run: NftRunner = nftRunner()) {
    this.run = run;
  }

  /**
   * Brings the table in line with `input`. `verify` (full resyncs) first checks that our table is
   * still there and rewrites it when someone deleted it.
   */
  async apply(input: MasqueradeInput, verify = false): Promise<MasqueradeResult> {
    const next = setContents(input);
    const options = JSON.stringify([input.clusterCIDRs, input.masqueradeAll]);
    if (verify && this.applied) {
      try {
        await this.run(['list', 'chain', 'inet', TABLE, 'postrouting']);
      } catch {
        this.applied = undefined;
      }
    }
    if (this.applied && options === this.appliedOptions) {
      const script = renderSetUpdate(this.applied, next);
      if (script === '') return { mode: 'unchanged', lines: 0 };
      try {
        await this.run(['-f', '-'], script);
        this.applied = next;
        return { mode: 'incremental', lines: countLines(script) };
      } catch {
        // The kernel's sets are not what we thought (hand edits, a partial failure): rewrite all.
        this.applied = undefined;
      }
    }
    const script = renderTable(input, next);
    this.applied = undefined;
    await this.run(['-f', '-'], script);
    this.applied = next;
    this.appliedOptions = options;
    return { mode: 'full', lines: countLines(script) };
  }

  /** Removes our table (explicit cleanup only; a normal shutdown keeps it so traffic keeps flowing). */
  async remove(): Promise<void> {
    await this.run(['-f', '-'], `add table inet ${TABLE}\ndelete table inet ${TABLE}\n`);
    this.applied = undefined;
  }
}

function countLines(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) === 10) n++;
  return n;
}
