// The library entry: what `import('ipvs-maglev')` resolves (package.json "exports", built to dist/src/index.js by scripts/build.ts).
// Re-exports only; each name's home module documents it. The `ipvs-maglev` command is bin/ipvs-maglev.mjs.
//
//   import { buildMaglevTable, maglevLookup, buildKernelTable, kernelLookup } from 'ipvs-maglev';
//   const t = buildKernelTable([{ address: '10.0.0.1', port: 80, weight: 1 }, { address: '10.0.0.2', port: 80, weight: 1 }]);
//   t.dests[kernelLookup(t, '192.0.2.7', 40000, { portHash: false, fallback: false })];   // what ip_vs_mh picks
//
//   const ipvs = await openIpvs();      // root (CAP_NET_ADMIN) and a kernel with IPVS
//   const reconciler = new Reconciler({ ipvs, vips: await openVips(), store: new MemoryStateStore(), logger });

// Maglev tables: the NSDI 2016 paper's flavour, and a bit-exact replica of the kernel's ip_vs_mh.
export {
  buildKernelTable,
  buildMaglevTable,
  DEFAULT_KERNEL_TABLE_SIZE,
  DEFAULT_MAGLEV_TABLE_SIZE,
  diffTables,
  KERNEL_TABLE_SIZES,
  kernelLookup,
  MaglevError,
  maglevLookup,
  tableStats,
} from './maglev/index.ts';
export type {
  DestinationShare,
  Flow,
  KernelDest,
  KernelLookupOptions,
  KernelTable,
  MaglevBackend,
  MaglevErrorCode,
  MaglevTable,
  TableDiff,
  TableStats,
} from './maglev/index.ts';

// The IPVS client over generic netlink, and the VIP binder.
export { IpvsClient, IpvsError, openIpvs, openVips, VipClient, VipError } from './ipvs/index.ts';
export type {
  Destination,
  DestinationConfig,
  DestinationKey,
  Family,
  ForwardingMethod,
  IpvsApi,
  IpvsOperation,
  OpenIpvsOptions,
  OpenVipsOptions,
  Protocol,
  Service,
  ServiceConfig,
  ServiceFlags,
  ServiceKey,
  VipApi,
} from './ipvs/index.ts';

// Desired state, and the reconciler and planner that bring IPVS in line with it.
export type { DesiredDestination, DesiredService, DesiredState } from './model/index.ts';
export { ValidationError, validateDesiredState } from './model/index.ts';
export { apply, FileStateStore, MemoryStateStore, plan, Reconciler, SyncLoop } from './reconcile/index.ts';
export type {
  ActualState,
  ApplyResult,
  Conflict,
  Logger,
  Operation,
  Plan,
  PlanOptions,
  ReconcilerOptions,
  StateStore,
  SyncLoopOptions,
  SyncReport,
} from './reconcile/index.ts';

// IP addresses: parse, canonical text (RFC 5952, ::ffff:a.b.c.d), family, order.
export {
  AddressError,
  addressFamily,
  canonicalAddress,
  compareAddresses,
  formatAddress,
  isAddress,
  parseAddress,
} from './address/address.ts';
export type { ParsedAddress } from './address/address.ts';
