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
  /** `options.cause` keeps the error this one translates (a NetlinkError, a TimeoutError, ...). */
  constructor(code: IpvsErrorCode, message: string, errno?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.errno = errno;
  }
}

export class ServiceExists extends IpvsError {
  constructor(message: string, options?: ErrorOptions) { super('SERVICE_EXISTS', message, 'EEXIST', options); }
}
export class NoSuchService extends IpvsError {
  constructor(message: string, options?: ErrorOptions) { super('NO_SUCH_SERVICE', message, 'ESRCH', options); }
}
export class DestinationExists extends IpvsError {
  constructor(message: string, options?: ErrorOptions) { super('DESTINATION_EXISTS', message, 'EEXIST', options); }
}
export class NoSuchDestination extends IpvsError {
  constructor(message: string, options?: ErrorOptions) { super('NO_SUCH_DESTINATION', message, 'ENOENT', options); }
}
export class PermissionDenied extends IpvsError {
  constructor(message: string, options?: ErrorOptions) { super('PERMISSION_DENIED', message, 'EPERM', options); }
}
export class NoIpvs extends IpvsError {
  constructor(message = 'the kernel has no IPVS: load the ip_vs module (modprobe ip_vs)', options?: ErrorOptions) { super('NO_IPVS', message, 'ENOENT', options); }
}
export class UnknownScheduler extends IpvsError {
  constructor(message: string, options?: ErrorOptions) { super('UNKNOWN_SCHEDULER', message, 'ENOENT', options); }
}
export class InvalidArgument extends IpvsError {
  constructor(message: string, errno = 'EINVAL', options?: ErrorOptions) { super('INVALID_ARGUMENT', message, errno, options); }
}
export class OutOfRange extends IpvsError {
  constructor(message: string, options?: ErrorOptions) { super('OUT_OF_RANGE', message, 'ERANGE', options); }
}
/** A dump stayed inconsistent (concurrent changes) on every retry; no partial result is returned. */
export class DumpInterrupted extends IpvsError {
  constructor(message: string, options?: ErrorOptions) { super('DUMP_INTERRUPTED', message, undefined, options); }
}
export class IpvsTimeout extends IpvsError {
  constructor(message: string, options?: ErrorOptions) { super('TIMEOUT', message, undefined, options); }
}
/** Any other kernel or socket failure; `errno` names it. */
export class KernelError extends IpvsError {
  constructor(message: string, errno?: string, options?: ErrorOptions) { super('KERNEL_ERROR', message, errno, options); }
}
