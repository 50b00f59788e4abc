import { isMap, isSeq } from 'yaml';

/**
 * The offset in the file of a desired-state path such as `services[web].destinations[0].key.address`: named
 * list items by their `name`, numbered ones by index, `key` and `config` (the model's grouping, not the
 * file's) skipped. Where the path goes deeper than the file, the deepest node found.
 */
export function locate(root: unknown, path: string): number | undefined {
  let node = root;
  let found: number | undefined = offsetOf(node);
  for (const m of path.matchAll(/\[([^\]]*)\]|([^.[\]]+)/g)) {
    const [, item, field] = m;
    if (field === 'key' || field === 'config') continue;
    let next: unknown;
    if (item !== undefined && isSeq(node)) {
      next = /^\d+$/.test(item) ? node.items[Number(item)] : node.items.find((i) => isMap(i) && String(i.get('name')) === item);
    } else if (field !== undefined && isMap(node)) {
      next = node.get(field, true);
    }
    if (next === undefined) break;
    node = next;
    found = offsetOf(node) ?? found;
  }
  return found;
}

function offsetOf(node: unknown): number | undefined {
  const range = node !== null && typeof node === 'object' && 'range' in node ? (node as { range?: readonly number[] | null }).range : undefined;
  return Array.isArray(range) ? range[0] : undefined;
}
