/** Runs a commander program with n1lens's exit-code and error conventions. */
import { CommanderError, type Command } from 'commander';
import { EXIT, reportFailure } from './errors.js';
import { VERSION } from './version.js';

export async function runMain(program: Command, name: string, argv: string[] = process.argv): Promise<void> {
  // Every command answers --version, the program and each subcommand alike.
  program.exitOverride().version(VERSION, '-V, --version', 'print the n1lens version');
  for (const sub of program.commands) sub.exitOverride().version(VERSION, '-V, --version', 'print the n1lens version');
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit 0; every other commander error is a usage error.
      process.exitCode = error.exitCode === 0 ? EXIT.ok : EXIT.usage;
      return;
    }
    process.exitCode = reportFailure(error, name);
  }
}
