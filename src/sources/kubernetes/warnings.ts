import type { StructuredLogger as Logger } from '../../structured-logger.ts';
import type { TranslationWarning } from './objects.ts';

// Where translation warnings go: one place, so that a Kubernetes Event recorder can hook in later (it would
// record each warning as an Event on the object it names, with `reason` as the Event reason). Today they are
// log lines (the controller) or stderr lines (`k8s translate`). ClusterState reports each distinct warning
// once while it persists, so a recorder is not called again on every sync.

export interface WarningRecorder {
  record(warning: TranslationWarning): void;
}

/** The controller's default: one structured warning line per translation warning. */
export function logWarnings(log: Logger): WarningRecorder {
  return {
    record(w) {
      log.warn({ kind: w.kind, object: w.object, reason: w.reason }, describeWarning(w));
    },
  };
}

/** "Service ns/name: message" (or just the message for objects without a name). */
export function describeWarning(w: TranslationWarning): string {
  return w.object ? `${w.kind} ${w.object}: ${w.message}` : w.message;
}
