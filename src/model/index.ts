// Desired state: the types sources build, their validation, and equality as the kernel sees it.
export type { DesiredDestination, DesiredService, DesiredState } from './types.ts';
export { assertValidDesiredState, KNOWN_SCHEDULERS, MAX_WEIGHT, ValidationError, validateDesiredState } from './validate.ts';
export type { ValidateOptions, ValidationProblem } from './validate.ts';
export { desiredServiceEqual, destinationConfigEqual, serviceConfigEqual } from './equal.ts';
