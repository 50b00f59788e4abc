import { YAMLException, loadAll } from 'js-yaml';
import { type ReadBounds, readBoundedFile, readBoundedStdin } from '../../bounded-read.ts';
import type { TranslationWarning } from './objects.ts';
import type { KubernetesObjects } from './translate.ts';

// Reads Kubernetes objects from YAML or JSON text as `kubectl get -o yaml|json` prints it: a `List`
// (or ServiceList, ...) with items, one object, or several documents separated by `---`.
// Objects of kinds translation does not read (Pods, Deployments, ...) are counted, not errors.
//
// Cost (a 100,000-item List, 50,000 Services + 50,000 EndpointSlices): JSON goes to JSON.parse
// (~1 s); YAML to js-yaml, which builds plain objects directly (~10 s, 1.6 GB for 90 MB). The
// `yaml` package the configuration reader uses keeps a node tree with source positions, which a
// configuration needs for its messages but a List of this size cannot afford (20,000 items took
// 12 s and 1.2 GB; 100,000 ran out of a 4 GB heap after 150 s).

export class ObjectsFileError extends Error {
  readonly code = 'OBJECTS_FILE_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'ObjectsFileError';
  }
}

export interface LoadedObjects {
  objects: KubernetesObjects;
  warnings: TranslationWarning[];
  /** Kind -> how many objects of it were skipped as not relevant. */
  ignoredKinds: Map<string, number>;
}

/** Default limit of an objects file or stdin (`--max-input-size` raises it). */
export const DEFAULT_MAX_OBJECTS_BYTES = 128 * 1024 * 1024;
/**
 * Values allowed per byte of the size limit (~190 bytes of memory per YAML value, ~150 per JSON object):
 * 11 million at 128 MiB, where kubectl's output has one per 10-12 bytes.
 */
export const OBJECTS_BYTES_PER_VALUE = 12;
/** Lists nest at most this deep (kubectl never nests them); aliases cannot multiply the work. */
const MAX_LIST_DEPTH = 4;

/** Reads objects from a file ("-" = stdin) within the size limit; FIFOs without a writer fail, not hang. */
export async function readObjectsFile(file: string, maxBytes = DEFAULT_MAX_OBJECTS_BYTES): Promise<LoadedObjects> {
  const bounds: ReadBounds = { maxBytes, what: file === '-' ? 'stdin' : file, raiseWith: '--max-input-size', bytesPerValue: OBJECTS_BYTES_PER_VALUE };
  const text = file === '-' ? await readBoundedStdin(bounds) : await readBoundedFile(file, bounds);
  return parseObjectsText(text, bounds.what);
}

/** Objects from text already within bounds (readObjectsFile checks them while reading). */
export function parseObjectsText(text: string, source = 'input'): LoadedObjects {
  const docs = parseDocuments(text, source);
  const services: unknown[] = [];
  const endpointSlices: unknown[] = [];
  const nodes: unknown[] = [];
  const warnings: TranslationWarning[] = [];
  const ignoredKinds = new Map<string, number>();

  const visit = (obj: unknown, where: () => string, depth: number): void => {
    if (obj === null || obj === undefined) return;
    if (typeof obj !== 'object' || Array.isArray(obj)) {
      warnings.push({ kind: 'Object', object: '', reason: 'MalformedObject', message: `${where()} is not a Kubernetes object; skipped` });
      return;
    }
    const kind = (obj as Record<string, unknown>).kind;
    const items = (obj as Record<string, unknown>).items;
    if (typeof kind === 'string' && kind.endsWith('List') && Array.isArray(items)) {
      if (depth >= MAX_LIST_DEPTH) {
        warnings.push({ kind: 'Object', object: '', reason: 'MalformedObject', message: `${where()} nests Lists more than ${MAX_LIST_DEPTH} deep; skipped` });
        return;
      }
      for (let i = 0; i < items.length; i++) visit(items[i], () => `${where()} items[${i}]`, depth + 1);
      return;
    }
    if (kind === 'Service') services.push(obj);
    else if (kind === 'EndpointSlice') endpointSlices.push(obj);
    else if (kind === 'Node') nodes.push(obj);
    else if (typeof kind === 'string') ignoredKinds.set(kind, (ignoredKinds.get(kind) ?? 0) + 1);
    else warnings.push({ kind: 'Object', object: '', reason: 'MalformedObject', message: `${where()} has no kind; skipped` });
  };

  docs.forEach((doc, i) => {
    visit(doc, () => (docs.length > 1 ? `document ${i + 1}` : 'the document'), 0);
  });
  return { objects: { services, endpointSlices, nodes }, warnings, ignoredKinds };
}

/** JSON (what the API server and `kubectl -o json` send) by JSON.parse; anything else as YAML. */
function parseDocuments(text: string, source: string): unknown[] {
  const start = text.search(/\S/);
  if (start >= 0 && (text[start] === '{' || text[start] === '[')) {
    try {
      return [JSON.parse(text)];
    } catch {
      // Not JSON after all (YAML flow style, or broken JSON): the YAML parser says where.
    }
  }
  try {
    // No aliases: kubectl never writes them, and each one could multiply the work of everything it names.
    return loadAll(text, { maxAliases: 0, filename: source });
  } catch (err) {
    if (err instanceof YAMLException) {
      const at = err.mark ? `${source}:${err.mark.line + 1}:${err.mark.column + 1}` : source;
      const reason = /maxAliases/.test(err.reason) ? 'YAML aliases (*name) are not accepted in object files (kubectl never writes them)' : err.reason;
      throw new ObjectsFileError(`${at}: ${reason}`);
    }
    throw err;
  }
}
