import type { Command } from 'commander';
import { registerK8s } from './k8s.ts';

// Each command lives in its own module and registers itself here.
// Keep this list in the order `ipvs-maglev --help` should show.
export function registerCommands(program: Command): void {
  void program;
  registerK8s(program);
}
