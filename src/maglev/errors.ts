// Typed errors for bad input to the Maglev core. `code` is stable: callers and tests match on it,
// the message is for people.

export type MaglevErrorCode =
  | 'BAD_ADDRESS'
  | 'BAD_PORT'
  | 'BAD_WEIGHT'
  | 'BAD_TABLE_SIZE'
  | 'TOO_MANY_BACKENDS'
  | 'DUPLICATE_BACKEND'
  | 'MIXED_FAMILY'
  | 'EMPTY_BACKENDS'
  | 'NO_POSITIVE_WEIGHT'
  | 'TABLE_SIZE_MISMATCH'
  | 'BAD_SPEC'
  | 'BAD_FLOW';

export class MaglevError extends Error {
  readonly code: MaglevErrorCode;

  constructor(code: MaglevErrorCode, message: string) {
    super(message);
    this.name = 'MaglevError';
    this.code = code;
  }
}
