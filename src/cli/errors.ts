/** Exit codes and the one-line error the CLI prints instead of a stack trace. */

export const EXIT = { ok: 0, overBudget: 1, usage: 2 } as const;

/** An error the user can act on: printed as one line, with this exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.usage,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** Known input errors become one line on stderr and exit 2; anything else is a bug and keeps its stack. */
export function reportFailure(error: unknown, program: string): number {
  const known = ['CliError', 'TraceFileError', 'OtlpDecodeError', 'SchemaError', 'PullError', 'BaselineError', 'StoreOpenError', 'StartupError', 'SpoolError'];
  if (error instanceof Error && known.includes(error.name)) {
    process.stderr.write(`${program}: ${error.message}\n`);
    return error instanceof CliError ? error.exitCode : EXIT.usage;
  }
  process.stderr.write(`${program}: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return EXIT.usage;
}
