import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BoundedReadError, capLines, formatBytes, parseByteSize, quote, readBoundedFile, readBoundedStdin } from '../src/bounded-read.ts';

// The one bounded reader every file and stdin reader goes through, with small limits.

const dir = mkdtempSync(join(tmpdir(), 'bounded-'));
const fifo = (name: string): string => {
  const p = join(dir, name);
  expect(spawnSync('mkfifo', [p]).status).toBe(0);
  return p;
};

async function refusal(p: Promise<unknown>): Promise<BoundedReadError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BoundedReadError);
  return err as BoundedReadError;
}

describe('readBoundedFile', () => {
  it('reads a file within the limit', async () => {
    const p = join(dir, 'ok.txt');
    writeFileSync(p, 'héllo\n');
    expect(await readBoundedFile(p, { maxBytes: 100, what: 'ok.txt' })).toBe('héllo\n');
  });

  it('refuses a file over the limit from its size, naming the flag that raises it', async () => {
    const p = join(dir, 'big.txt');
    writeFileSync(p, 'x'.repeat(2048));
    const err = await refusal(readBoundedFile(p, { maxBytes: 1024, what: '--clients-file big.txt', raiseWith: '--max-input-size' }));
    expect(err.code).toBe('INPUT_TOO_LARGE');
    expect(err.message).toBe('--clients-file big.txt is 2 KiB, more than the limit of 1 KiB; raise it with --max-input-size SIZE (e.g. --max-input-size 4KiB)');
  });

  it('stops reading an endless device at the limit (/dev/zero)', async () => {
    const err = await refusal(readBoundedFile('/dev/zero', { maxBytes: 1 << 20, what: '/dev/zero' }));
    expect(err.code).toBe('INPUT_TOO_LARGE');
    expect(err.message).toBe('/dev/zero is larger than the limit of 1 MiB');
  });

  it('fails on a FIFO nobody writes to after the wait, instead of hanging', async () => {
    const p = fifo('idle');
    const t0 = Date.now();
    const err = await refusal(readBoundedFile(p, { maxBytes: 100, what: 'idle', writerWaitMs: 300 }));
    expect(err.code).toBe('INPUT_NO_WRITER');
    expect(err.message).toBe('idle: nothing is writing to this FIFO (waited 300 ms)');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
  });

  it('reads a FIFO whose writer comes late and writes in pieces', async () => {
    const p = fifo('late');
    const writer = spawn('sh', ['-c', `sleep 0.3; exec 3>"${p}"; printf 'one,' >&3; sleep 0.3; printf 'two' >&3`]);
    expect(await readBoundedFile(p, { maxBytes: 100, what: 'late', writerWaitMs: 5000 })).toBe('one,two');
    await new Promise((r) => writer.once('close', r));
  });

  it('stops a FIFO writer that sends too much', async () => {
    const p = fifo('flood');
    const writer = spawn('sh', ['-c', `exec cat /dev/zero > "${p}"`]);
    writer.on('error', () => {});
    const err = await refusal(readBoundedFile(p, { maxBytes: 1 << 20, what: 'flood', writerWaitMs: 5000 }));
    expect(err.code).toBe('INPUT_TOO_LARGE');
    writer.kill();
  });

  it('refuses directories, non-regular files where only files make sense, and symlinks with noFollow', async () => {
    expect((await refusal(readBoundedFile(dir, { maxBytes: 100, what: 'the dir' }))).message).toBe('the dir is a directory, not a file');
    expect((await refusal(readBoundedFile(fifo('cfg'), { maxBytes: 100, what: 'cfg', regularOnly: true }))).message).toBe('cfg is not a regular file');
    const target = join(dir, 'ok.txt');
    const link = join(dir, 'link');
    symlinkSync(target, link);
    expect(await readBoundedFile(link, { maxBytes: 100, what: 'link' })).toBe('héllo\n');
    expect((await refusal(readBoundedFile(link, { maxBytes: 100, what: 'link', noFollow: true }))).message).toBe('link is a symbolic link; it is not followed');
    expect((await refusal(readBoundedFile(join(dir, 'nope'), { maxBytes: 100, what: 'nope' }))).message).toBe('cannot read nope: no such file');
  });

  it('lets the caller inspect the opened file before reading', async () => {
    const err = await readBoundedFile(join(dir, 'ok.txt'), {
      maxBytes: 100,
      what: 'ok',
      inspect: (s) => {
        throw new Error(`mode ${(s.mode & 0o777).toString(8)} refused`);
      },
    }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/^mode \d+ refused$/);
  });
});

describe('readBoundedStdin', () => {
  it('reads a stream within the limit and refuses one over it', async () => {
    expect(await readBoundedStdin({ maxBytes: 10, what: 'stdin' }, Readable.from([Buffer.from('abc'), Buffer.from('def')]))).toBe('abcdef');
    const endless = new Readable({
      read() {
        this.push(Buffer.alloc(4096));
      },
    });
    const err = await refusal(readBoundedStdin({ maxBytes: 65536, what: 'stdin', raiseWith: '--max-input-size' }, endless));
    expect(err.message).toBe('stdin is larger than the limit of 64 KiB; raise it with --max-input-size SIZE (e.g. --max-input-size 256KiB)');
  });
});

describe('sizes, quotes and capped lists', () => {
  it('parses and formats byte sizes', () => {
    expect(parseByteSize('64MiB')).toBe(64 * 1024 * 1024);
    expect(parseByteSize('1 GiB')).toBe(1024 ** 3);
    expect(parseByteSize('500kB')).toBe(500_000);
    expect(parseByteSize('1048576')).toBe(1048576);
    for (const bad of ['', '0', '-1', '1 parsec', 'MiB', '1e3']) expect(parseByteSize(bad), bad).toBeUndefined();
    expect(formatBytes(16 * 1024 * 1024)).toBe('16 MiB');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(12)).toBe('12 bytes');
  });

  it('quotes at most a slice of a bad value', () => {
    expect(quote('short')).toBe('"short"');
    const huge = 'n'.repeat(50_000_000);
    const q = quote(huge);
    expect(q.length).toBeLessThan(120);
    expect(q).toBe(`"${'n'.repeat(64)}"... (49999936 more characters)`);
    expect(quote([1, 2, 3])).toBe('a list of 3 entries');
    expect(quote({ a: 1 })).toBe('an object');
    expect(quote(42)).toBe('42');
    expect(quote(null)).toBe('null');
  });

  it('caps a list of problems with "... and N more"', () => {
    const lines = Array.from({ length: 600_000 }, (_, i) => `problem ${i}`);
    const shown = capLines(lines, 10);
    expect(shown).toHaveLength(11);
    expect(shown[10]).toBe('... and 599,990 more');
    expect(capLines(['a', 'b'], 10)).toEqual(['a', 'b']);
    expect(capLines(['a', 'b'], 10, 5)).toEqual(['a', 'b', '... and 3 more']);
  });
});

describe('value counting while reading (YAML/JSON inputs)', () => {
  it('refuses more values than one per bytesPerValue of the limit, counted as the bytes arrive', async () => {
    const p = join(dir, 'ones.json');
    writeFileSync(p, `[${'1,'.repeat(600)}1]`);
    const bounds = { maxBytes: 4096, what: 'ones.json', raiseWith: '--max-input-size', bytesPerValue: 8 };
    const err = await refusal(readBoundedFile(p, bounds));
    expect(err.code).toBe('INPUT_TOO_MANY_VALUES');
    expect(err.message).toBe('ones.json has more than 512 values (the size limit of 4 KiB allows one per 8 bytes); raise it with --max-input-size SIZE');
    const fine = join(dir, 'fine.json');
    writeFileSync(fine, JSON.stringify({ kind: 'List', items: [{ kind: 'Service', metadata: { name: 'a-b-c' } }] }));
    expect(await readBoundedFile(fine, bounds)).toContain('"a-b-c"');
    await refusal(readBoundedStdin(bounds, Readable.from([Buffer.from(`[${'1,'.repeat(600)}1]`)])));
  });
});
