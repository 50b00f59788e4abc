// The data planes under test. Each programs the same service list its own way and applies
// changes the way its kube-proxy mode (or our controller) would; every method that returns a
// number returns the wall time of the programming step alone, in milliseconds.
import type { BenchService } from './workload.ts';

export type PlaneName = 'iptables' | 'iptables-nft' | 'nftables' | 'ipvs-rr' | 'ipvs-mh';
export const PLANE_NAMES: readonly PlaneName[] = ['iptables', 'iptables-nft', 'nftables', 'ipvs-rr', 'ipvs-mh'];
/**
 * `iptables` is kube-proxy's iptables mode on the legacy (x_tables) backend. The same rules through
 * the nf_tables backend (`iptables-nft`) are measured only on request: iptables-nft 1.8.9 took
 * 12 minutes to restore the 70,005 rules of 5,000 services on the dev machine (legacy: 2.8 s),
 * which alone would exceed the 30-minute budget of a full run. nftables runs last: its first load
 * grows quadratically with N on this kernel (RESULTS.md), so a run cut short at the largest N
 * still has the other planes there.
 */
export const DEFAULT_PLANES: readonly PlaneName[] = ['iptables', 'ipvs-rr', 'ipvs-mh', 'nftables'];

export interface DataPlane {
  readonly name: PlaneName;
  /** Ways this plane applies a change; iptables has two (full and partial restore). */
  readonly variants: readonly string[];
  /**
   * Variants that rewrite the plane's whole state, so their cost does not depend on what the
   * kernel held before (iptables' full restore flushes and refills every chain and swaps the
   * whole table): the benchmark times them last, without first reverting the change.
   */
  readonly wholeStateVariants?: readonly string[];
  /** Installs what does not depend on the services (hooks, sets, interfaces). */
  setup(): Promise<void>;
  /** Programs `services` into an empty plane; returns ms. */
  program(services: readonly BenchService[]): Promise<number>;
  /** Moves the plane from `before` to `after` with the given variant; returns ms. */
  apply(before: readonly BenchService[], after: readonly BenchService[], variant: string): Promise<number>;
  /** Removes everything this plane installed (best effort, never throws). */
  teardown(services: readonly BenchService[]): Promise<void>;
  /** Where the time of the last program/apply went, when the plane has several parts (ms). */
  readonly lastBreakdown?: Readonly<Record<string, number>>;
  /** Rules / entries the plane holds for `services`, for the report. */
  size(services: readonly BenchService[]): { rules: number; note: string };
}
