// The logging every layer below the programs takes: pino's Logger satisfies it (src/log.ts makes one), and
// nothing below src/app depends on pino. Parts that log less take a Pick of it.

export interface StructuredLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}
