import { isMap, isScalar, isSeq } from 'yaml';
import type { LineCounter, Node, Pair, YAMLMap, YAMLSeq } from 'yaml';
import { clip, quote } from '../../bounded-read.ts';
import { type ConfigIssue, MAX_ISSUES } from './errors.ts';
import { closest, parseDuration } from './values.ts';

// A checking reader over a parsed YAML document: typed accessors that record an issue with the
// node's file:line:column and field path instead of throwing, so one run reports every problem.

export class Reader {
  readonly file: string;
  readonly issues: ConfigIssue[] = [];
  /** Problems found beyond MAX_ISSUES: counted, not kept. */
  dropped = 0;
  private readonly lines: LineCounter;
  constructor(file: string, lines: LineCounter) {
    this.file = file;
    this.lines = lines;
  }

  position(offset: number): { line: number; column: number } {
    const p = this.lines.linePos(offset);
    return { line: p.line, column: p.col };
  }

  fail(node: unknown, path: string, message: string): undefined {
    if (this.issues.length >= MAX_ISSUES) {
      this.dropped++;
      return undefined;
    }
    const offset = nodeOffset(node);
    const { line, column } = offset === undefined ? { line: 0, column: 0 } : this.position(offset);
    this.issues.push({ file: this.file, line, column, path, message });
    return undefined;
  }
}

function nodeOffset(node: unknown): number | undefined {
  if (node !== null && typeof node === 'object' && 'range' in node) {
    const range = (node as { range?: readonly number[] | null }).range;
    if (Array.isArray(range)) return range[0];
  }
  return undefined;
}

export function childPath(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path === '' ? key : `${path}.${key}`;
}

/** A YAML mapping whose keys were checked against the allowed field names. */
export class Fields {
  readonly node: YAMLMap;
  readonly path: string;
  private readonly values = new Map<string, Node | null>();
  private readonly keys = new Map<string, Node>();
  constructor(node: YAMLMap, path: string) {
    this.node = node;
    this.path = path;
  }
  set(key: string, keyNode: Node, value: Node | null): void {
    this.values.set(key, value);
    this.keys.set(key, keyNode);
  }
  has(key: string): boolean {
    return this.values.has(key);
  }
  /** The value node, or undefined when the field is absent. `null` values count as absent. */
  get(key: string): Node | undefined {
    const v = this.values.get(key);
    return v === null || v === undefined ? undefined : v;
  }
  keyNode(key: string): Node | undefined {
    return this.keys.get(key);
  }
  at(key: string): string {
    return childPath(this.path, key);
  }
  /** The same fields reported under another path (once a service's name is known). */
  withPath(path: string): Fields {
    const copy = new Fields(this.node, path);
    for (const [k, v] of this.values) copy.set(k, this.keys.get(k)!, v);
    return copy;
  }
}

export function readFields(r: Reader, node: unknown, path: string, allowed: readonly string[], what: string): Fields | undefined {
  if (!isMap(node)) return r.fail(node, path, `${what} must be a mapping (key: value lines), got ${describe(node)}`);
  const fields = new Fields(node, path);
  for (const pair of node.items as Pair<unknown, unknown>[]) {
    const key = pair.key;
    if (!isScalar(key) || typeof key.value !== 'string') {
      r.fail(key, path, `field names must be plain strings, got ${describe(key)}`);
      continue;
    }
    const name = key.value;
    if (!allowed.includes(name)) {
      const hint = closest(name, allowed);
      r.fail(key, childPath(path, clip(name)), `unknown field ${quote(name)}${hint ? ` (did you mean "${hint}"?)` : ''}; allowed: ${allowed.join(', ')}`);
      continue;
    }
    fields.set(name, key as Node, (pair.value ?? null) as Node | null);
  }
  return fields;
}

export function readList(r: Reader, node: unknown, path: string, what: string): YAMLSeq | undefined {
  if (!isSeq(node)) return r.fail(node, path, `${what} must be a list ("- " items), got ${describe(node)}`);
  return node;
}

export function describe(node: unknown): string {
  if (node === null || node === undefined) return 'nothing';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) {
    const v = node.value;
    if (v === null) return 'null';
    if (typeof v === 'string') return `the string ${quote(v)}`;
    return `${typeof v} ${String(v)}`;
  }
  return 'an unsupported YAML node';
}

function scalarValue(node: unknown): unknown {
  return isScalar(node) ? node.value : undefined;
}

export function readString(r: Reader, f: Fields, key: string, opts: { required?: boolean; pattern?: RegExp; patternHint?: string } = {}): string | undefined {
  const node = f.get(key);
  if (node === undefined) return opts.required ? r.fail(f.node, f.path, `missing required field "${key}"`) : undefined;
  const v = scalarValue(node);
  if (typeof v !== 'string' || v === '') return r.fail(node, f.at(key), `must be a non-empty string, got ${describe(node)}`);
  if (opts.pattern && !opts.pattern.test(v)) return r.fail(node, f.at(key), `${quote(v)} is not valid: ${opts.patternHint ?? `must match ${opts.pattern}`}`);
  return v;
}

export function readInt(r: Reader, f: Fields, key: string, min: number, max: number, opts: { required?: boolean } = {}): number | undefined {
  const node = f.get(key);
  if (node === undefined) return opts.required ? r.fail(f.node, f.path, `missing required field "${key}"`) : undefined;
  const v = scalarValue(node);
  if (typeof v !== 'number' || !Number.isInteger(v)) return r.fail(node, f.at(key), `must be an integer from ${min} to ${max}, got ${describe(node)}`);
  if (v < min || v > max) return r.fail(node, f.at(key), `${v} is out of range: must be from ${min} to ${max}`);
  return v;
}

export function readBool(r: Reader, f: Fields, key: string): boolean | undefined {
  const node = f.get(key);
  if (node === undefined) return undefined;
  const v = scalarValue(node);
  if (typeof v !== 'boolean') return r.fail(node, f.at(key), `must be true or false, got ${describe(node)}`);
  return v;
}

export function readChoice<T extends string>(r: Reader, f: Fields, key: string, choices: readonly T[], opts: { required?: boolean; what?: string } = {}): T | undefined {
  const node = f.get(key);
  if (node === undefined) return opts.required ? r.fail(f.node, f.path, `missing required field "${key}"`) : undefined;
  const v = scalarValue(node);
  if (typeof v === 'string' && (choices as readonly string[]).includes(v)) return v as T;
  if (typeof v !== 'string') return r.fail(node, f.at(key), `must be one of ${choices.join(', ')}, got ${describe(node)}`);
  const hint = closest(v, choices);
  return r.fail(node, f.at(key), `unknown ${opts.what ?? 'value'} ${quote(v)}; expected one of ${choices.join(', ')}${hint ? ` (did you mean "${hint}"?)` : ''}`);
}

/** Milliseconds, from seconds (number) or a string with unit. */
export function readDuration(r: Reader, f: Fields, key: string, minMs: number, maxMs: number): number | undefined {
  const node = f.get(key);
  if (node === undefined) return undefined;
  const ms = parseDuration(scalarValue(node));
  if (ms === undefined) return r.fail(node, f.at(key), `must be a duration such as 5s, 500ms, 2m or a number of seconds, got ${describe(node)}`);
  if (ms < minMs || ms > maxMs) return r.fail(node, f.at(key), `${ms} ms is out of range: must be from ${minMs} ms to ${maxMs} ms`);
  return ms;
}
