// The canonical order of IPv4 endpoints (address, then port) in O(n): an LSD radix sort over the
// six bytes of (address, port), used by the table builds' all-IPv4 fast path instead of a
// comparator sort over parsed objects. A pass is skipped when every key has the same byte there
// (the port, usually, and the leading bytes of addresses from one subnet), and input that is
// already in order costs one scan.

/**
 * The input indices in canonical order, or null when two entries are equal (a duplicate).
 * `addresses` are unsigned 32-bit IPv4 addresses, `ports` 0..65535.
 */
export function canonicalIPv4Order(addresses: Uint32Array, ports: Int32Array): Int32Array | null {
  const n = addresses.length;
  let order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  let inOrder = true;
  for (let i = 1; i < n && inOrder; i++) {
    const a = addresses[i - 1];
    const b = addresses[i];
    if (a > b || (a === b && ports[i - 1] >= ports[i])) inOrder = false;
  }
  if (!inOrder) {
    let spare = new Int32Array(n);
    const count = new Int32Array(257);
    for (let pass = 0; pass < 6; pass++) {
      const fromPort = pass < 2;
      const shift = fromPort ? 8 * pass : 8 * (pass - 2);
      count.fill(0);
      for (let k = 0; k < n; k++) {
        const i = order[k];
        count[(((fromPort ? ports[i] : addresses[i]) >>> shift) & 255) + 1]++;
      }
      const first = order[0];
      if (count[(((fromPort ? ports[first] : addresses[first]) >>> shift) & 255) + 1] === n) continue;
      for (let d = 1; d < 257; d++) count[d] += count[d - 1];
      for (let k = 0; k < n; k++) {
        const i = order[k];
        spare[count[((fromPort ? ports[i] : addresses[i]) >>> shift) & 255]++] = i;
      }
      const t = order;
      order = spare;
      spare = t;
    }
  }
  for (let k = 1; k < n; k++) {
    const i = order[k - 1];
    const j = order[k];
    if (addresses[i] === addresses[j] && ports[i] === ports[j]) return null;
  }
  return order;
}
