import { Command } from 'commander';
import { registerCommands } from './commands/index.ts';

export async function main(argv: string[]): Promise<void> {
  const program = new Command();
  program
    .name('ipvs-maglev')
    .description('Load-balancer controller for Linux IPVS with Maglev consistent hashing')
    .showHelpAfterError()
    .configureOutput({ outputError: (str, write) => write(str) });
  await registerCommands(program);
  await program.parseAsync(argv);
}
