import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { readConfigText } from './read.ts';

// Watches a configuration file for changes. Editors and config-management tools often replace the
// file (write a temp file, rename it over), which a watch on the file itself would miss, so the
// directory is watched and events are filtered by name. Bursts are debounced, and a change that
// leaves the bytes identical is not reported.

export interface ConfigWatcher {
  close(): void;
}

export function watchConfig(path: string, onChange: () => void, debounceMs = 250, maxBytes?: number): ConfigWatcher {
  const name = basename(path);
  let timer: NodeJS.Timeout | undefined;
  let last: string | undefined;
  let closed = false;
  // Read with the configuration's own size limit: a file grown past it reads as a change, and the reload refuses it.
  void readConfigText(path, { maxBytes }).then(
    (t) => { last = t; },
    () => { last = undefined; },
  );
  const fire = async (): Promise<void> => {
    timer = undefined;
    let text: string | undefined;
    try {
      text = await readConfigText(path, { maxBytes });
    } catch {
      text = undefined;
    }
    if (closed || text === last) return;
    last = text;
    onChange();
  };
  const watcher: FSWatcher = watch(dirname(path), { persistent: false }, (_event, file) => {
    if (file !== null && file !== name) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => void fire(), debounceMs);
  });
  watcher.on('error', () => {});
  return {
    close(): void {
      closed = true;
      if (timer) clearTimeout(timer);
      watcher.close();
    },
  };
}
