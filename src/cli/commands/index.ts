import type { Command } from 'commander';
import { registerK8s } from './k8s.ts';
import { registerList } from './list.ts';
import { registerPlan } from './plan.ts';
import { registerRestore } from './restore.ts';
import { registerRun } from './run.ts';
import { registerSave } from './save.ts';
import { registerValidate } from './validate.ts';

// Each command lives in its own module and registers itself here.
// Keep this list in the order `ipvs-maglev --help` should show.
export function registerCommands(program: Command): void {
  void program;
  registerRun(program);
  registerValidate(program);
  registerPlan(program);
  registerK8s(program);
  registerList(program);
  registerSave(program);
  registerRestore(program);
}
