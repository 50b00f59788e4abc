import type { FlowMoveEstimator } from './types.ts';

// Share of flows an `mh` change moves. The default estimator recomputes the kernel's Maglev table before and
// after the change (src/maglev, bit-exact with ip_vs_mh) and compares them slot by slot.

/**
 * The default estimator, or null while no Maglev implementation is wired (plans then carry no flow moves).
 */
export const defaultFlowMoveEstimator: FlowMoveEstimator | null = null;
