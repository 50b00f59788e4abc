import { quote } from '../../bounded-read.ts';
import type { ServiceFlags } from '../../ipvs/types.ts';
import { DEFAULT_SCHEDULER, isScheduler, SCHEDULERS } from '../../ipvs/vocabulary.ts';
import type { TranslationWarning } from './objects.ts';

// Per-Service scheduling choices through annotations. Defaults: Maglev (`mh`) hashing on
// address AND port (mh-port, so one client's connections spread) and mh-fallback (a flow whose
// destination has weight 0 is re-hashed, which is what draining needs).

export const ANNOTATION_SCHEDULER = 'ipvs-maglev.io/scheduler';
export const ANNOTATION_MH_PORT = 'ipvs-maglev.io/mh-port';
export const ANNOTATION_MH_FALLBACK = 'ipvs-maglev.io/mh-fallback';


export interface SchedulerChoice {
  scheduler: string;
  flags: ServiceFlags;
}

export function schedulerFromAnnotations(
  annotations: Readonly<Record<string, string>>,
  object: string,
  warnings: TranslationWarning[],
): SchedulerChoice {
  const warn = (message: string): void => {
    warnings.push({ kind: 'Service', object, reason: 'InvalidAnnotation', message });
  };
  let scheduler: string = DEFAULT_SCHEDULER;
  const raw = annotations[ANNOTATION_SCHEDULER];
  if (raw !== undefined) {
    const v = raw.trim();
    if (isScheduler(v)) scheduler = v;
    else warn(`${ANNOTATION_SCHEDULER}: ${quote(raw)} is not an IPVS scheduler (${SCHEDULERS.join(', ')}); using ${DEFAULT_SCHEDULER}`);
  }
  const portHash = boolAnnotation(annotations, ANNOTATION_MH_PORT, scheduler, warn);
  const fallback = boolAnnotation(annotations, ANNOTATION_MH_FALLBACK, scheduler, warn);
  if (scheduler !== 'mh') return { scheduler, flags: {} };
  return { scheduler, flags: { portHash, fallback } };
}

function boolAnnotation(annotations: Readonly<Record<string, string>>, key: string, scheduler: string, warn: (m: string) => void): boolean {
  const raw = annotations[key];
  if (raw === undefined) return true;
  if (scheduler !== 'mh') {
    warn(`${key} is ignored: it applies to the mh scheduler and this Service uses ${scheduler}`);
    return true;
  }
  const v = raw.trim().toLowerCase();
  if (v === 'true') return true;
  if (v === 'false') return false;
  warn(`${key}: ${quote(raw)} is not "true" or "false"; using true`);
  return true;
}
