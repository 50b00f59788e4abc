import { parseAllDocuments } from 'yaml';
import type { TranslationWarning } from './objects.ts';
import type { KubernetesObjects } from './translate.ts';

// Reads Kubernetes objects from YAML or JSON text as `kubectl get -o yaml` prints it: a `List`
// (or ServiceList, ...) with items, one object, or several documents separated by `---`.
// Objects of kinds translation does not read (Pods, Deployments, ...) are counted, not errors.

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

export function parseObjectsText(text: string, source = 'input'): LoadedObjects {
  const docs = parseAllDocuments(text, { prettyErrors: true });
  if (!Array.isArray(docs)) throw new ObjectsFileError(`${source}: not a YAML stream`);
  const services: unknown[] = [];
  const endpointSlices: unknown[] = [];
  const nodes: unknown[] = [];
  const warnings: TranslationWarning[] = [];
  const ignoredKinds = new Map<string, number>();

  const visit = (obj: unknown, where: string): void => {
    if (obj === null || obj === undefined) return;
    if (typeof obj !== 'object' || Array.isArray(obj)) {
      warnings.push({ kind: 'Object', object: '', reason: 'MalformedObject', message: `${where} is not a Kubernetes object; skipped` });
      return;
    }
    const kind = (obj as Record<string, unknown>).kind;
    const items = (obj as Record<string, unknown>).items;
    if (typeof kind === 'string' && kind.endsWith('List') && Array.isArray(items)) {
      items.forEach((item, i) => {
        visit(item, `${where} items[${i}]`);
      });
      return;
    }
    if (kind === 'Service') services.push(obj);
    else if (kind === 'EndpointSlice') endpointSlices.push(obj);
    else if (kind === 'Node') nodes.push(obj);
    else if (typeof kind === 'string') ignoredKinds.set(kind, (ignoredKinds.get(kind) ?? 0) + 1);
    else warnings.push({ kind: 'Object', object: '', reason: 'MalformedObject', message: `${where} has no kind; skipped` });
  };

  docs.forEach((doc, i) => {
    const err = doc.errors[0];
    if (err) {
      const pos = err.linePos?.[0];
      const at = pos ? `${source}:${pos.line}:${pos.col}` : source;
      throw new ObjectsFileError(`${at}: ${err.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`);
    }
    visit(doc.toJS({ maxAliasCount: 100 }), docs.length > 1 ? `document ${i + 1}` : 'the document');
  });
  return { objects: { services, endpointSlices, nodes }, warnings, ignoredKinds };
}
