// Typed IPVS errors with a stable `code`, so callers (the reconciler, the CLI) branch on
// meaning instead of errno numbers. The netlink client maps kernel errnos to these.

export type IpvsErrorCode =
  | 'SERVICE_EXISTS'
  | 'NO_SUCH_SERVICE'
  | 'DESTINATION_EXISTS'
  | 'NO_SUCH_DESTINATION'
  | 'PERMISSION_DENIED'
  | 'NO_IPVS'
  | 'UNKNOWN_SCHEDULER'
  | 'INVALID_ARGUMENT'
  | 'OUT_OF_RANGE'
  | 'DUMP_INTERRUPTED'
  | 'TIMEOUT'
  | 'KERNEL_ERROR';

export class IpvsError extends Error {
  readonly code: IpvsErrorCode;
  /** errno name from the kernel (e.g. "EEXIST"), when the error came from the kernel. */
  readonly errno?: string;
  constructor(code: IpvsErrorCode, message: string, errno?: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.errno = errno;
  }
}

export class ServiceExists extends IpvsError {
  constructor(message: string) { super('SERVICE_EXISTS', message, 'EEXIST'); }
}
export class NoSuchService extends IpvsError {
  constructor(message: string) { super('NO_SUCH_SERVICE', message, 'ESRCH'); }
}
export class DestinationExists extends IpvsError {
  constructor(message: string) { super('DESTINATION_EXISTS', message, 'EEXIST'); }
}
export class NoSuchDestination extends IpvsError {
  constructor(message: string) { super('NO_SUCH_DESTINATION', message, 'ENOENT'); }
}
export class PermissionDenied extends IpvsError {
  constructor(message: string) { super('PERMISSION_DENIED', message, 'EPERM'); }
}
export class NoIpvs extends IpvsError {
  constructor(message = 'the kernel has no IPVS: load the ip_vs module (modprobe ip_vs)') { super('NO_IPVS', message, 'ENOENT'); }
}
export class UnknownScheduler extends IpvsError {
  constructor(message: string) { super('UNKNOWN_SCHEDULER', message, 'ENOENT'); }
}
export class InvalidArgument extends IpvsError {
  constructor(message: string, errno = 'EINVAL') { super('INVALID_ARGUMENT', message, errno); }
}
export class OutOfRange extends IpvsError {
  constructor(message: string) { super('OUT_OF_RANGE', message, 'ERANGE'); }
}
/** A dump stayed inconsistent (concurrent changes) on every retry; no partial result is returned. */
export class DumpInterrupted extends IpvsError {
  constructor(message: string) { super('DUMP_INTERRUPTED', message); }
}
export class IpvsTimeout extends IpvsError {
  constructor(message: string) { super('TIMEOUT', message); }
}
/** Any other kernel or socket failure; `errno` names it. */
export class KernelError extends IpvsError {
  constructor(message: string, errno?: string) { super('KERNEL_ERROR', message, errno); }
}
