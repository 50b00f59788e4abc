import { IpvsError, VipError } from '../ipvs/index.ts';
import { StateFileError } from '../reconcile/index.ts';

// Exit statuses of the programs and the commands around them, and the one-line form of the kernel's refusals.

/** The kernel cannot be used (no IPVS, no permission, netns missing). */
export const EXIT_KERNEL = 1;

/** A configuration was refused (validate, plan, run start-up). */
export const EXIT_BAD_CONFIG = 2;

/** A flag was refused (controller). */
export const EXIT_USAGE = 2;

/** Turns errors from opening or reading the kernel into one clear line; undefined for anything else. */
export function kernelErrorMessage(err: unknown): string | undefined {
  if (err instanceof IpvsError || err instanceof VipError) {
    if (err.code === 'PERMISSION_DENIED') return `${err.message} (ipvs-maglev needs CAP_NET_ADMIN: run it as root)`;
    return err.message;
  }
  if (err instanceof StateFileError) return err.message;
  return undefined;
}
