import { LineCounter, parseDocument } from 'yaml';
import { describe, expect, it } from 'vitest';
import { locate } from '../../../src/sources/file/locate.ts';

// A problem the desired-state model finds (rather than the file schema) is reported at its place in the file.
describe('locating a desired-state path in the YAML file', () => {
  const text = 'services:\n  - name: web\n    address: 10.0.0.1\n    port: 80\n    destinations:\n      - { address: 10.0.1.1, port: 8080 }\n      - { address: 10.0.1.2, weight: 3 }\n';
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const at = (path: string) => {
    const offset = locate(doc.contents, path);
    return offset === undefined ? undefined : lines.linePos(offset);
  };

  it('follows named services, numbered destinations and skips the model-only key/config levels', () => {
    expect(at('services[web].destinations[0].key.address')).toEqual({ line: 6, col: 20 });
    expect(at('services[web].destinations[1].config.weight')).toEqual({ line: 7, col: 38 });
    expect(at('services[web].key.port')).toEqual({ line: 4, col: 11 });
  });

  it('falls back to the deepest node the file has', () => {
    expect(at('services[web].destinations[1].config.upperThreshold')).toEqual({ line: 7, col: 9 });
    expect(at('services[nope].key.address')).toEqual({ line: 2, col: 3 });
  });
});
