import type { Command } from 'commander';
import { registerAudit } from './audit.ts';
import { registerBench } from './bench.ts';
import { registerChurn } from './churn.ts';
import { registerController } from './controller.ts';
import { registerK8s } from './k8s.ts';
import { registerList } from './list.ts';
import { registerPlan } from './plan.ts';
import { registerPredict } from './predict.ts';
import { registerRestore } from './restore.ts';
import { registerRun } from './run.ts';
import { registerSave } from './save.ts';
import { registerTable } from './table.ts';
import { registerValidate } from './validate.ts';

// Each command lives in its own module and registers itself here.
// Keep this list in the order `ipvs-maglev --help` should show.
// Async because `bench` loads its subcommands from bench/ (a checkout only) by a computed path.
export async function registerCommands(program: Command): Promise<void> {
  void program;
  registerRun(program);
  registerValidate(program);
  registerPlan(program);
  registerController(program);
  registerK8s(program);
  registerList(program);
  registerSave(program);
  registerRestore(program);
  registerAudit(program);
  registerTable(program);
  registerPredict(program);
  registerChurn(program);
  await registerBench(program);
}
