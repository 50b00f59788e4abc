import { close, constants, fstat, fstatSync, open, read, type Stats } from 'node:fs';
import { Socket } from 'node:net';
import { promisify } from 'node:util';

// Bounds on untrusted input, shared by every reader (config files, Kubernetes object files, client lists,
// restore input on stdin, the state file, sysctls): a read stops at a size limit with a message naming the
// flag that raises it; a FIFO nobody writes to fails after a wait instead of blocking forever; and error
// messages quote at most a slice of a bad value and list at most a few problems. Imports nothing of ours,
// so the CLI and every source can use it.

export type BoundedReadErrorCode = 'INPUT_TOO_LARGE' | 'INPUT_TOO_MANY_VALUES' | 'INPUT_UNREADABLE' | 'INPUT_NO_WRITER' | 'INPUT_NOT_REGULAR';

export class BoundedReadError extends Error {
  readonly code: BoundedReadErrorCode;
  /** The system error behind INPUT_UNREADABLE ("ENOENT", "EACCES", ...), when there was one. */
  readonly errno: string | undefined;
  constructor(code: BoundedReadErrorCode, message: string, errno?: string) {
    super(message);
    this.name = 'BoundedReadError';
    this.code = code;
    this.errno = errno;
  }
}

export interface ReadBounds {
  /** Refuse input larger than this many bytes. */
  maxBytes: number;
  /** How the input is named in messages, e.g. "--clients-file clients.txt" or "stdin". */
  what: string;
  /** The flag that raises the limit, named in the message; omitted when the limit is fixed. */
  raiseWith?: string;
  /** Only regular files (config and state files): FIFOs, devices and directories are refused. */
  regularOnly?: boolean;
  /** How long a FIFO may go without a writer before the read fails (default 10 s). */
  writerWaitMs?: number;
  /** Do not follow a symbolic link in the last path component (the state file). */
  noFollow?: boolean;
  /** Checks the opened file (owner, mode) before anything is read; throws to refuse it. */
  inspect?: (stats: Stats) => void;
  /**
   * YAML/JSON input: refuse more values than one per this many bytes of `maxBytes`. Parsers spend 0.2-1.6 KB
   * of memory per value, so `[1,1,1,...]` costs far more than its size suggests. Counted as the bytes arrive.
   */
  bytesPerValue?: number;
}

/**
 * Bytes after which a YAML (or JSON) value can start: every value after the first follows one of
 * , : - ? [ { or a line break, so their count + 1 bounds the number of values (strings that contain them
 * make it an over-estimate; real files have one per 7-14 bytes).
 */
const VALUE_MARKS = new Uint8Array(256);
for (const c of ',:-?[{\n') VALUE_MARKS[c.charCodeAt(0)] = 1;

/** Counts value marks across chunks and refuses the input once they pass the bound. */
class ValueCounter {
  private count = 1;
  private readonly max: number;
  private readonly bounds: ReadBounds;
  constructor(bounds: ReadBounds) {
    this.bounds = bounds;
    this.max = bounds.bytesPerValue ? Math.floor(bounds.maxBytes / bounds.bytesPerValue) : Number.POSITIVE_INFINITY;
  }
  add(chunk: Uint8Array): void {
    if (this.max === Number.POSITIVE_INFINITY) return;
    let n = this.count;
    for (let i = 0; i < chunk.length; i++) n += VALUE_MARKS[chunk[i]];
    this.count = n;
    if (n > this.max) {
      const b = this.bounds;
      const raise = b.raiseWith ? `; raise it with ${b.raiseWith} SIZE` : '';
      throw new BoundedReadError(
        'INPUT_TOO_MANY_VALUES',
        `${b.what} has more than ${this.max.toLocaleString('en-US')} values (the size limit of ${formatBytes(b.maxBytes)} allows one per ${b.bytesPerValue} bytes)${raise}`,
      );
    }
  }
}

export const DEFAULT_WRITER_WAIT_MS = 10_000;
const CHUNK = 1 << 16;

const openFd = promisify(open);
const fstatFd = promisify(fstat);
const readFd = (fd: number, buf: Buffer): Promise<number> =>
  new Promise((resolve, reject) => read(fd, buf, 0, buf.length, null, (err, n) => (err ? reject(err) : resolve(n))));
const closeFd = (fd: number): Promise<void> => new Promise((resolve) => close(fd, () => resolve()));

/** Reads a whole file as UTF-8 within `bounds`. Throws BoundedReadError (never hangs on a FIFO). */
export async function readBoundedFile(path: string, bounds: ReadBounds): Promise<string> {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer (a plain open blocks a pool thread, forever).
    fd = await openFd(path, constants.O_RDONLY | constants.O_NONBLOCK | (bounds.noFollow ? constants.O_NOFOLLOW : 0));
  } catch (err) {
    if (bounds.noFollow && (err as NodeJS.ErrnoException).code === 'ELOOP') {
      throw new BoundedReadError('INPUT_NOT_REGULAR', `${bounds.what} is a symbolic link; it is not followed`);
    }
    throw unreadable(bounds.what, err);
  }
  let owned = true;
  try {
    let stats: Stats;
    try {
      stats = await fstatFd(fd);
    } catch (err) {
      throw unreadable(bounds.what, err);
    }
    if (stats.isDirectory()) throw new BoundedReadError('INPUT_NOT_REGULAR', `${bounds.what} is a directory, not a file`);
    if (bounds.regularOnly && !stats.isFile()) throw new BoundedReadError('INPUT_NOT_REGULAR', `${bounds.what} is not a regular file`);
    bounds.inspect?.(stats);
    if (stats.isFile() && stats.size > bounds.maxBytes) throw tooLarge(bounds, stats.size);
    if (stats.isFIFO()) {
      owned = false; // the pipe reader closes it
      return await readFifo(fd, bounds);
    }
    return await readAll(fd, bounds);
  } finally {
    if (owned) await closeFd(fd);
  }
}

/** Reads all of standard input within `bounds` (a regular file on stdin is checked by its size first). */
export async function readBoundedStdin(bounds: ReadBounds, stdin: NodeJS.ReadableStream = process.stdin): Promise<string> {
  const fd = (stdin as { fd?: unknown }).fd;
  if (typeof fd === 'number') {
    let size = -1;
    try {
      const s = fstatSync(fd);
      if (s.isFile()) size = s.size;
    } catch {
      // no size known: the streaming limit below does the job
    }
    if (size > bounds.maxBytes) throw tooLarge(bounds, size);
  }
  const chunks: Buffer[] = [];
  const values = new ValueCounter(bounds);
  let total = 0;
  try {
    for await (const chunk of stdin) {
      const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      total += b.length;
      if (total > bounds.maxBytes) throw tooLarge(bounds);
      values.add(b);
      chunks.push(b);
    }
  } catch (err) {
    if (err instanceof BoundedReadError) throw err;
    throw unreadable(bounds.what, err);
  }
  return Buffer.concat(chunks, total).toString('utf8');
}

async function readAll(fd: number, bounds: ReadBounds): Promise<string> {
  const chunks: Buffer[] = [];
  const values = new ValueCounter(bounds);
  let total = 0;
  for (;;) {
    const buf = Buffer.allocUnsafe(CHUNK);
    let n: number;
    try {
      n = await readFd(fd, buf);
    } catch (err) {
      throw unreadable(bounds.what, err);
    }
    if (n === 0) break;
    total += n;
    // Files that grow while read, and devices such as /dev/zero, are caught here.
    if (total > bounds.maxBytes) throw tooLarge(bounds);
    const chunk = n === CHUNK ? buf : buf.subarray(0, n);
    values.add(chunk);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total).toString('utf8');
}

/**
 * A FIFO opened without blocking: a read that returns 0 bytes means no writer (yet), EAGAIN means a writer
 * that has not written yet. Wait up to `writerWaitMs` for a writer, then stream until it closes. Takes
 * ownership of `fd`.
 */
async function readFifo(fd: number, bounds: ReadBounds): Promise<string> {
  const wait = bounds.writerWaitMs ?? DEFAULT_WRITER_WAIT_MS;
  const deadline = Date.now() + wait;
  const chunks: Buffer[] = [];
  const values = new ValueCounter(bounds);
  let total = 0;
  try {
    for (;;) {
      const buf = Buffer.allocUnsafe(CHUNK);
      try {
        const n = await readFd(fd, buf);
        if (n > 0) {
          chunks.push(buf.subarray(0, n));
          values.add(chunks[0]);
          total = n;
          break;
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') break; // a writer is there
        throw unreadable(bounds.what, err);
      }
      if (Date.now() >= deadline) {
        throw new BoundedReadError('INPUT_NO_WRITER', `${bounds.what}: nothing is writing to this FIFO (waited ${wait < 1000 ? `${wait} ms` : `${Math.round(wait / 1000)} s`})`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (total > bounds.maxBytes) throw tooLarge(bounds);
  } catch (err) {
    await closeFd(fd);
    throw err;
  }
  // From here the event loop watches the fd (no pool thread blocks on it); the writer closing ends the
  // stream. The socket owns the fd and closes it when destroyed.
  const socket = new Socket({ fd, readable: true, writable: false });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.on('data', (b: Buffer) => {
        total += b.length;
        try {
          if (total > bounds.maxBytes) throw tooLarge(bounds);
          values.add(b);
          chunks.push(b);
        } catch (err) {
          reject(err);
        }
      });
      socket.once('end', () => resolve());
      socket.once('error', (err) => reject(unreadable(bounds.what, err)));
    });
  } finally {
    socket.destroy();
  }
  return Buffer.concat(chunks, total).toString('utf8');
}

function tooLarge(bounds: ReadBounds, size?: number): BoundedReadError {
  const how = size === undefined ? 'is larger than' : `is ${formatBytes(size)}, more than`;
  const raise = bounds.raiseWith ? `; raise it with ${bounds.raiseWith} SIZE (e.g. ${bounds.raiseWith} ${formatBytes(bounds.maxBytes * 4).replace(' ', '')})` : '';
  return new BoundedReadError('INPUT_TOO_LARGE', `${bounds.what} ${how} the limit of ${formatBytes(bounds.maxBytes)}${raise}`);
}

function unreadable(what: string, err: unknown): BoundedReadError {
  const e = err as NodeJS.ErrnoException;
  const reason = e?.code === 'ENOENT' ? 'no such file' : e?.code === 'EACCES' ? 'permission denied' : e?.code === 'EISDIR' ? 'is a directory' : err instanceof Error ? err.message : String(err);
  return new BoundedReadError('INPUT_UNREADABLE', `cannot read ${what}: ${reason}`, typeof e?.code === 'string' ? e.code : undefined);
}

const UNITS: Readonly<Record<string, number>> = { '': 1, b: 1, k: 1e3, kb: 1e3, kib: 1024, m: 1e6, mb: 1e6, mib: 1024 ** 2, g: 1e9, gb: 1e9, gib: 1024 ** 3 };

/** "64MiB", "1GiB", "500kB", "1048576" -> bytes; undefined when the text is not a size. */
export function parseByteSize(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(text.trim());
  if (!m) return undefined;
  const unit = UNITS[m[2].toLowerCase()];
  if (unit === undefined) return undefined;
  const n = Math.floor(Number(m[1]) * unit);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/** 16777216 -> "16 MiB". */
export function formatBytes(n: number): string {
  for (const [unit, size] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (n >= size) return `${Number((n / size).toFixed(n % size === 0 ? 0 : 1))} ${unit}`;
  }
  return `${n} bytes`;
}

/** Characters of a bad value quoted in an error message; the rest is counted, not echoed. */
export const QUOTE_LIMIT = 64;

/** A value for an error message: strings quoted and cut to `max` characters, lists and objects described. */
export function quote(value: unknown, max = QUOTE_LIMIT): string {
  if (typeof value === 'string') {
    if (value.length <= max) return JSON.stringify(value);
    return `${JSON.stringify(value.slice(0, max))}... (${value.length - max} more characters)`;
  }
  if (Array.isArray(value)) return `a list of ${value.length} entr${value.length === 1 ? 'y' : 'ies'}`;
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  if (value === undefined) return 'nothing';
  return String(value);
}

/** Unquoted text (a field path, a name) cut to `max` characters. */
export function clip(text: string, max = QUOTE_LIMIT): string {
  return text.length <= max ? text : `${text.slice(0, max)}...(${text.length - max} more)`;
}

/** Problems listed in one message at most; the rest are counted ("... and 599,990 more"). */
export const LIST_LIMIT = 20;

/** The first `max` lines, then "... and N more" when there were more (`total` counts lines not passed in). */
export function capLines(lines: readonly string[], max = LIST_LIMIT, total = lines.length): string[] {
  if (total <= lines.length && lines.length <= max) return [...lines];
  const shown = lines.slice(0, max);
  return [...shown, `... and ${(total - shown.length).toLocaleString('en-US')} more`];
}
