import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { DrainRecord, PersistedState, StateStore } from './types.ts';

// Ownership survives restarts through a small JSON file under --state-dir, written atomically (temp file,
// fsync, rename, fsync of the directory) and BEFORE any service is created: a crash between the write and the
// create leaves an owned key with no service (harmless, forgotten at the next sync), never a service we made
// but do not know we own.

export class StateFileError extends Error {
  readonly code = 'STATE_FILE';
  constructor(message: string) {
    super(message);
    this.name = 'StateFileError';
  }
}

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
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if (err && typeof err === 'object' && 'code' in err && err.code === 'ENOENT') return structuredClone(EMPTY);
      throw new StateFileError(`cannot read state file ${this.path}: ${err instanceof Error ? err.message : String(err)}`);
    }
    return parseState(text, this.path);
  }

  async save(state: PersistedState): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    const body = `${JSON.stringify({ version: VERSION, ...state }, null, 1)}\n`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(body, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.path);
    const dh = await open(this.dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }
}

function parseState(text: string, path: string): PersistedState {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new StateFileError(`state file ${path} is not valid JSON (${err instanceof Error ? err.message : String(err)}); move it away to start afresh`);
  }
  if (!raw || typeof raw !== 'object') throw new StateFileError(`state file ${path}: expected an object`);
  const o = raw as Record<string, unknown>;
  if (o.version !== VERSION) throw new StateFileError(`state file ${path}: unsupported version ${String(o.version)}`);
  const strings = (v: unknown, field: string): string[] => {
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new StateFileError(`state file ${path}: ${field} must be a list of strings`);
    return v;
  };
  const drains: DrainRecord[] = [];
  if (!Array.isArray(o.drains)) throw new StateFileError(`state file ${path}: drains must be a list`);
  for (const d of o.drains as unknown[]) {
    const r = d as Record<string, unknown>;
    if (!r || typeof r.service !== 'string' || typeof r.destination !== 'string' || typeof r.since !== 'number' || typeof r.lastWeight !== 'number') {
      throw new StateFileError(`state file ${path}: malformed drain record ${JSON.stringify(d)}`);
    }
    drains.push({ service: r.service, destination: r.destination, since: r.since, lastWeight: r.lastWeight });
  }
  return { services: strings(o.services, 'services'), addresses: strings(o.addresses, 'addresses'), drains };
}
