import type { AttributeDecoder, Encoder } from './attribute.ts';

// Declarative attribute schemas: one table per attribute set maps field names to the
// attribute number and its wire kind (including byte order). Encoding and decoding are
// driven by the table, so no call site handles byte offsets or byte order.

export type ScalarKind = 'u8' | 'u16' | 'u16be' | 'u32' | 'u32be' | 's32' | 'u64' | 'string' | 'bytes' | 'flag';

export interface ScalarField {
  readonly type: number;
  readonly kind: ScalarKind;
}
export interface NestedField {
  readonly type: number;
  readonly kind: 'nested';
  readonly set: AttributeSet<FieldTable>;
}
export type Field = ScalarField | NestedField;
export type FieldTable = Readonly<Record<string, Field>>;

export interface AttributeSet<T extends FieldTable> {
  readonly name: string;
  readonly fields: T;
  /** Field name by attribute number (index), for decoding. */
  readonly byType: ReadonlyArray<readonly [string, Field] | undefined>;
}

type ScalarValue<K extends ScalarKind> = K extends 'u64'
  ? bigint
  : K extends 'string'
    ? string
    : K extends 'bytes'
      ? Uint8Array
      : K extends 'flag'
        ? true
        : number;

export type FieldValue<F extends Field> = F extends NestedField
  ? Values<F['set']['fields']>
  : F extends ScalarField
    ? ScalarValue<F['kind']>
    : never;

/** Decoded (or to-be-encoded) values of an attribute set: every field optional. */
export type Values<T extends FieldTable> = { -readonly [K in keyof T]?: FieldValue<T[K]> };

export function defineAttributeSet<T extends FieldTable>(name: string, fields: T): AttributeSet<T> {
  const byType: Array<readonly [string, Field] | undefined> = [];
  for (const [key, field] of Object.entries(fields)) {
    if (byType[field.type]) throw new Error(`attribute set ${name}: type ${field.type} used twice`);
    byType[field.type] = [key, field];
  }
  return { name, fields, byType };
}

/**
 * Decodes every attribute the set knows into an object; unknown attribute numbers are
 * skipped (newer kernels add attributes), and so are the fields named in `skip` (to
 * avoid decoding what the caller will not use). Errors stay sticky in the decoder.
 */
export function decodeAttributes<T extends FieldTable>(set: AttributeSet<T>, d: AttributeDecoder, skip?: ReadonlySet<keyof T>): Values<T> {
  const out: Record<string, unknown> = {};
  while (d.next()) {
    const entry = set.byType[d.type];
    if (!entry) continue;
    const [key, field] = entry;
    if (skip?.has(key)) continue;
    switch (field.kind) {
      case 'u8': out[key] = d.u8(); break;
      case 'u16': out[key] = d.u16(); break;
      case 'u16be': out[key] = d.u16be(); break;
      case 'u32': out[key] = d.u32(); break;
      case 'u32be': out[key] = d.u32be(); break;
      case 's32': out[key] = d.s32(); break;
      case 'u64': out[key] = d.u64(); break;
      case 'string': out[key] = d.string(); break;
      case 'bytes': out[key] = d.bytes().slice(); break;
      case 'flag': out[key] = true; break;
      case 'nested': out[key] = decodeAttributes(field.set, d.nested()); break;
    }
  }
  return out as Values<T>;
}

/** Encodes the fields present in `values`, in the table's order. */
export function encodeAttributes<T extends FieldTable>(set: AttributeSet<T>, e: Encoder, values: Values<T>): void {
  const record = values as Record<string, unknown>;
  for (const key of Object.keys(set.fields)) {
    const v = record[key];
    if (v === undefined) continue;
    const field: Field = set.fields[key];
    switch (field.kind) {
      case 'u8': e.u8(field.type, v as number); break;
      case 'u16': e.u16(field.type, v as number); break;
      case 'u16be': e.u16be(field.type, v as number); break;
      case 'u32': e.u32(field.type, v as number); break;
      case 'u32be': e.u32be(field.type, v as number); break;
      case 's32': e.s32(field.type, v as number); break;
      case 'u64': e.u64(field.type, v as bigint); break;
      case 'string': e.string(field.type, v as string); break;
      case 'bytes': e.bytes(field.type, v as Uint8Array); break;
      case 'flag': e.flag(field.type); break;
      case 'nested': {
        const nestedSet = field.set;
        e.nested(field.type, () => encodeAttributes(nestedSet, e, v as Values<FieldTable>));
        break;
      }
    }
  }
}
