// VIP announcement through an existing BGP speaker (BIRD 2). See README "Scale-out".
export { Announcer, type AnnouncerLogger, type AnnouncerOptions } from './announcer.ts';
export { BirdSpeaker, MANAGED_MARKER, STATIC4, STATIC6, parseBgpProtocols, renderManagedConfig, renderRoutes } from './bird.ts';
export { runTool, type ToolResult, type ToolRunner } from './exec.ts';
export { AnnounceMetrics } from './metrics.ts';
export { decideVips, routesOf, serviceVerdict, type ServiceView, type VipDecision } from './policy.ts';
export * from './types.ts';

import { BirdSpeaker } from './bird.ts';
import type { ToolRunner } from './exec.ts';
import type { AnnounceConfig, Speaker } from './types.ts';

/** The driver for the configured speaker (one today; FRR would be a second case here). */
export function createSpeaker(cfg: AnnounceConfig, source: string, run?: ToolRunner): Speaker {
  switch (cfg.speaker) {
    case 'bird':
      return new BirdSpeaker(cfg, source, run);
  }
}
