/** Runs a commander program with n1lens's exit-code and error conventions. */
import { CommanderError, type Command } from 'commander';
import { EXIT, reportFailure } from './errors.js';
import { VERSION } from './version.js';

export async function runMain(program: Command, name: string, argv: string[] = process.argv): Promise<void> {
  toleratePipeClose(name);
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

/**
 * `n1-report … | head -1`: a reader that stops reading early is no fault of the run. Standard output
 * closed under it (EPIPE) ends nothing at once and prints nothing: what is left to write is dropped,
 * and the run still exits with its own code, so a gate behind `set -o pipefail` keeps its verdict
 * (exiting 0 there would pass an over-budget run). Any other failure to write it is one line, exit 2.
 */
function toleratePipeClose(name: string): void {
  let closed = false;
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (closed || error.code === 'EPIPE') {
      closed = true;
      return;
    }
    process.stderr.write(`${name}: cannot write standard output: ${error.message}\n`);
    process.exit(EXIT.usage);
  });
}
