import { ClosedError, DecodeError, DumpInterruptedError, NetlinkError, ProtocolError, TimeoutError, TransportError } from '../netlink/errors.ts';
import { FamilyNotFoundError } from '../netlink/genetlink.ts';
import { IpvsDecodeError } from './codec.ts';
import {
  DestinationExists, DumpInterrupted, InvalidArgument, IpvsError, IpvsTimeout, KernelError, NoIpvs, NoSuchDestination,
  NoSuchService, OutOfRange, PermissionDenied, ServiceExists, UnknownScheduler,
} from './errors.ts';
import type { IpvsCmdName } from './schema.ts';

// Kernel errnos mean different things per command (ENOENT is "no such destination" for
// SET_DEST but "unknown scheduler" for NEW_SERVICE): map them with the command in hand.

export function permissionDenied(what: string, cause?: unknown): PermissionDenied {
  return new PermissionDenied(`${what}: needs CAP_NET_ADMIN (run as root)`, { cause });
}

/** Maps any failure of an IPVS call to a typed IpvsError; `subject` names the object (e.g. "tcp 10.0.0.1:80"). */
export function toIpvsError(err: unknown, cmd: IpvsCmdName | 'GETFAMILY', subject: string): IpvsError {
  if (err instanceof IpvsError) return err;
  const what = subject ? `${cmd} ${subject}` : cmd;
  const cause = { cause: err };
  if (err instanceof NetlinkError || err instanceof TransportError) {
    const name = err.errnoName;
    const ext = err instanceof NetlinkError && err.extAck ? ` (${err.extAck})` : '';
    const isService = cmd === 'NEW_SERVICE' || cmd === 'SET_SERVICE';
    const isDest = cmd === 'NEW_DEST' || cmd === 'SET_DEST' || cmd === 'DEL_DEST';
    switch (name) {
      case 'EPERM':
      case 'EACCES':
        return permissionDenied(what, err);
      case 'EEXIST':
        if (cmd === 'NEW_SERVICE') return new ServiceExists(`service ${subject} already exists`, cause);
        if (cmd === 'NEW_DEST') return new DestinationExists(`destination ${subject} already exists`, cause);
        break;
      case 'ESRCH':
        return new NoSuchService(`${what}: no such service${ext}`, cause);
      case 'ENOENT':
        if (isDest && cmd !== 'NEW_DEST') return new NoSuchDestination(`${what}: no such destination${ext}`, cause);
        if (isService) return new UnknownScheduler(`${what}: unknown scheduler or persistence engine (is its ip_vs_* module loaded?)${ext}`, cause);
        break;
      case 'EINVAL':
        return new InvalidArgument(`${what}: the kernel rejected the request as invalid (EINVAL)${ext}`, 'EINVAL', cause);
      case 'ERANGE':
        return new OutOfRange(`${what}: value out of range (ERANGE; e.g. weight < 0 or lower threshold > upper)${ext}`, cause);
    }
    return new KernelError(`${what}: ${name}${ext}`, name, cause);
  }
  if (err instanceof FamilyNotFoundError) return new NoIpvs(undefined, cause);
  if (err instanceof TimeoutError) return new IpvsTimeout(`${what}: ${err.message}`, cause);
  if (err instanceof DumpInterruptedError) return new DumpInterrupted(`${what}: ${err.message}`, cause);
  if (err instanceof DecodeError || err instanceof IpvsDecodeError || err instanceof ProtocolError) {
    return new KernelError(`${what}: malformed reply from the kernel: ${err.message}`, undefined, cause);
  }
  if (err instanceof ClosedError) return new KernelError(`${what}: the IPVS client is closed`, undefined, cause);
  return new KernelError(`${what}: ${err instanceof Error ? err.message : String(err)}`, undefined, cause);
}
