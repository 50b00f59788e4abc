import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { BoundedReadError, formatBytes, quote, readBoundedFile } from '../bounded-read.ts';
import type { DrainRecord, Logger, PersistedState, StateStore, SyncError } from './types.ts';

// Ownership survives restarts through a small JSON file under --state-dir, written atomically (temp file,
// fsync, rename, fsync of the directory) and BEFORE any service is created: a crash between the write and the
// create leaves an owned key with no service (harmless, forgotten at the next sync), never a service we made
// but do not know we own.
//
// The file decides what a sync may delete, so it is not trusted blindly: it must be a regular file (a
// symbolic link is not followed) owned by our uid and writable by nobody else, in a directory nobody else
// can write to. The temporary file has an unpredictable name and is created exclusively (O_EXCL, no
// symlink followed) with mode 0600. Any problem is a StateFileError whose message says how to fix it; the
// reconciler then changes nothing (fail safe) and StateFileHealth makes it loud.

/** The stable code of every state file problem (SyncReport errors carry it). */
export const STATE_FILE_ERROR = 'STATE_FILE';

export class StateFileError extends Error {
  readonly code = STATE_FILE_ERROR;
  constructor(message: string) {
    super(message);
    this.name = 'StateFileError';
  }
}

/** The state of 100,000 services with drains is a few MB: anything this large is not ours. */
const MAX_STATE_BYTES = 64 * 1024 * 1024;

const EMPTY: PersistedState = { services: [], addresses: [], drains: [] };
const VERSION = 1;

/** Keeps state in memory only: ownership is lost on restart (tests, dry runs). */
export class MemoryStateStore implements StateStore {
  private state: PersistedState;
  saves = 0;
  constructor(initial: PersistedState = EMPTY) {
    this.state = structuredClone(initial);
  }
  async load(): Promise<PersistedState> {
    return structuredClone(this.state);
  }
  async save(state: PersistedState): Promise<void> {
    this.saves++;
    this.state = structuredClone(state);
  }
}

/** `<dir>/state.json`: { version, services, addresses, drains }. */
export class FileStateStore implements StateStore {
  readonly path: string;
  private readonly dir: string;
  constructor(dir: string, fileName = 'state.json') {
    this.dir = dir;
    this.path = join(dir, fileName);
  }

  async load(): Promise<PersistedState> {
    let text: string;
    try {
      await this.checkDirectory();
      text = await readBoundedFile(this.path, {
        maxBytes: MAX_STATE_BYTES,
        what: `state file ${this.path}`,
        noFollow: true,
        regularOnly: true,
        inspect: (st) => this.checkFile(st),
      });
    } catch (err) {
      if (err instanceof StateFileError) throw err;
      if (err instanceof BoundedReadError && err.errno === 'ENOENT') return structuredClone(EMPTY);
      if (err instanceof BoundedReadError && err.code === 'INPUT_TOO_LARGE') {
        throw new StateFileError(`state file ${this.path} is larger than ${formatBytes(MAX_STATE_BYTES)}: it is not one this program wrote; ${this.moveAway()}`);
      }
      if (err instanceof BoundedReadError && err.code === 'INPUT_NOT_REGULAR') {
        throw new StateFileError(`${err.message}: the state file must be a regular file; ${this.moveAway()}`);
      }
      throw new StateFileError(`${err instanceof Error ? err.message : String(err)}; nothing is synced until the state file can be read`);
    }
    return parseState(text, this.path, this.moveAway());
  }

  async save(state: PersistedState): Promise<void> {
    const body = `${JSON.stringify({ version: VERSION, ...state }, null, 1)}\n`;
    // Unpredictable, created exclusively and never through a symlink: nobody can pre-plant it.
    const tmp = `${this.path}.${randomBytes(8).toString('hex')}.tmp`;
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      await this.checkDirectory();
      const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try {
        await fh.chmod(0o600); // whatever the umask
        await fh.writeFile(body, 'utf8');
        await fh.sync();
      } finally {
        await fh.close();
      }
      // rename replaces the old file (whatever its mode) and never follows a symlink in its place.
      await rename(tmp, this.path);
      const dh = await open(this.dir, 'r');
      try {
        await dh.sync();
      } finally {
        await dh.close();
      }
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      if (err instanceof StateFileError) throw err;
      throw new StateFileError(`cannot write state file ${this.path}: ${err instanceof Error ? err.message : String(err)}; nothing new is created until it can be written`);
    }
  }

  /** The fix for a state file that cannot be used, as one command. */
  private moveAway(): string {
    return `to start afresh, move it away: mv ${this.path} ${this.path}.bad (services made before are then not ours: left alone, never deleted)`;
  }

  private checkFile(st: Stats): void {
    const uid = process.geteuid?.();
    if (uid !== undefined && st.uid !== uid) {
      throw new StateFileError(
        `state file ${this.path} is owned by uid ${st.uid}, not by this process (uid ${uid}): someone else may have written it, and it decides what a sync deletes; check its content, then: chown ${uid} ${this.path} && chmod 600 ${this.path}`,
      );
    }
    if ((st.mode & 0o022) !== 0) {
      throw new StateFileError(
        `state file ${this.path} is writable by ${(st.mode & 0o002) !== 0 ? 'anyone' : 'its group'} (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}), and it decides what a sync deletes; check its content, then: chmod 600 ${this.path}`,
      );
    }
  }

  /** Another user who can write the directory can swap the file: refuse such a directory. */
  private async checkDirectory(): Promise<void> {
    let st: Stats;
    try {
      st = await stat(this.dir);
    } catch {
      return; // no directory yet: load finds no file, save creates it (0700)
    }
    const uid = process.geteuid?.();
    if (uid !== undefined && st.uid !== uid && st.uid !== 0) {
      throw new StateFileError(`state directory ${this.dir} is owned by uid ${st.uid}, not by this process (uid ${uid}) or root: chown ${uid} ${this.dir} && chmod 700 ${this.dir}`);
    }
    if ((st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0 /* not sticky */) {
      throw new StateFileError(`state directory ${this.dir} is writable by others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}): anyone could replace the state file; chmod 700 ${this.dir}`);
    }
  }
}

function parseState(text: string, path: string, fix: string): PersistedState {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new StateFileError(`state file ${path} is not valid JSON (${err instanceof Error ? err.message : String(err)}); ${fix}`);
  }
  const bad = (what: string): StateFileError => new StateFileError(`state file ${path}: ${what}; ${fix}`);
  if (!raw || typeof raw !== 'object') throw bad('expected an object');
  const o = raw as Record<string, unknown>;
  if (o.version !== VERSION) throw bad(`unsupported version ${quote(o.version)}`);
  const strings = (v: unknown, field: string): string[] => {
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw bad(`${field} must be a list of strings`);
    return v;
  };
  const drains: DrainRecord[] = [];
  if (!Array.isArray(o.drains)) throw bad('drains must be a list');
  for (const d of o.drains as unknown[]) {
    const r = d as Record<string, unknown>;
    if (!r || typeof r.service !== 'string' || typeof r.destination !== 'string' || typeof r.since !== 'number' || typeof r.lastWeight !== 'number') {
      throw bad(`malformed drain record ${quote(JSON.stringify(d))}`);
    }
    drains.push({ service: r.service, destination: r.destination, since: r.since, lastWeight: r.lastWeight });
  }
  return { services: strings(o.services, 'services'), addresses: strings(o.addresses, 'addresses'), drains };
}

/**
 * Makes state file trouble loud. The reconciler fails safe on its own (a sync that cannot read or write the
 * file changes nothing); fed every sync's errors, this logs the problem once at error level with the command
 * that fixes it, and holds it (`problem`) so /readyz can say why the instance is not ready.
 */
export class StateFileHealth {
  private readonly log: Logger;
  /** The message of the last sync's state file error; undefined when that sync had none. */
  problem: string | undefined;
  constructor(log: Logger) {
    this.log = log;
  }

  observe(errors: readonly SyncError[]): void {
    const e = errors.find((x) => x.code === STATE_FILE_ERROR);
    if (e && e.message !== this.problem) this.log.error({ code: e.code, err: e.message }, `state file problem; syncs change nothing until it is fixed: ${e.message}`);
    else if (!e && this.problem !== undefined) this.log.info({}, 'state file usable again');
    this.problem = e?.message;
  }
}
