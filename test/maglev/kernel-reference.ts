// Test oracle: ip_vs_mh.c's populate transcribed line by line (list head insertion, the `p`/`ds`
// walk with dt_count), deliberately in a different shape from src/maglev/kernel.ts.

import { foldAddress, mhHashKey, parseAddress } from '../../src/maglev/index.ts';

interface Dest {
  address: string;
  port: number;
  lastWeight: number;
  inputIndex: number;
}

export function referenceKernelTable(dests: readonly { address: string; port: number; weight: number; lastWeight?: number }[], size: number, tabBits: number): Int32Array {
  // list_add_rcu(&dest->n_list, &svc->destinations): insertion at the head.
  const list: Dest[] = [];
  dests.forEach((d, i) => {
    list.unshift({ address: d.address, port: d.port, lastWeight: d.lastWeight ?? d.weight, inputIndex: i });
  });
  let g = 0;
  for (const d of list) {
    if (d.lastWeight > 0) {
      if (g > 0) {
        let a = d.lastWeight;
        let b = g;
        while (b) [a, b] = [b, a % b];
        g = a;
      } else g = d.lastWeight;
    }
  }
  const lookup = new Int32Array(size).fill(-1);
  if (g < 1) return lookup;
  let weight = 0;
  for (const d of list) if (d.lastWeight > weight) weight = d.lastWeight;
  const mw = Math.floor(weight / g);
  const fls = mw === 0 ? 0 : 32 - Math.clz32(mw);
  // transcribed from ip_vs_mh_shift_weight(), kept in the kernel's shape on purpose
  const shift = fls - tabBits >= 0 ? fls - tabBits : 0;
  const setup = list.map((d) => {
    const fold = foldAddress(parseAddress(d.address).words);
    const offset = mhHashKey(fold, d.port, false, 0) % size;
    const skip = (mhHashKey(fold, d.port, true, 0) % (size - 1)) + 1;
    const lw = d.lastWeight;
    const turns = (Math.floor(lw / g) >> shift) || (lw !== 0 ? 1 : 0);
    return { offset, skip, perm: offset, turns };
  });
  const table = new Uint8Array(size);
  let p = -1; // -1 is the list head
  let n = 0;
  let dtCount = 0;
  for (;;) {
    if (p === -1) p = 0;
    let ds = 0;
    while (p !== -1 && p < list.length) {
      if (setup[ds].turns < 1) {
        p = p + 1 < list.length ? p + 1 : -1;
        ds++;
        continue;
      }
      let c = setup[ds].perm;
      while (table[c]) {
        setup[ds].perm += setup[ds].skip;
        if (setup[ds].perm >= size) setup[ds].perm -= size;
        c = setup[ds].perm;
      }
      table[c] = 1;
      lookup[c] = list[p].inputIndex;
      if (++n === size) return lookup;
      if (++dtCount >= setup[ds].turns) {
        dtCount = 0;
        p = p + 1 < list.length ? p + 1 : -1;
        ds++;
      }
    }
    if (p !== -1) p = -1;
  }
}
