/** Number flags: written in decimal, within the range that makes sense, refused in one line otherwise. */
import { CommanderError, type Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { captureCommand } from './capture.js';
import { reportCommand } from './report.js';
import { serveCommand } from './serve.js';

/** Parses the flags; the message commander would print, or the options. */
function parse(command: Command, args: string[]): { error: string } | { opts: Record<string, unknown> } {
  let error = '';
  command.exitOverride().configureOutput({ writeErr: (text) => (error += text), writeOut: () => undefined });
  try {
    command.parseOptions(args);
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    return { error: error.trim() };
  }
  return { opts: command.opts() };
}

describe('number flags', () => {
  it('take decimal numbers only: an empty or blank value, hex or an exponent is no number', () => {
    for (const value of ['', ' ', '0x10', '1e3', '5ms', '0b11', 'Infinity']) {
      expect(parse(reportCommand(), ['--slow-ms', value]), JSON.stringify(value)).toEqual({
        error: `error: option '--slow-ms <ms>' argument '${value}' is invalid. --slow-ms must be a whole number ≥ 0`,
      });
    }
    for (const value of ['', ' ', '0x1', '.5e0']) expect(parse(reportCommand(), ['--hot-share', value])).toHaveProperty('error');
    expect(parse(reportCommand(), ['--slow-ms', '250', '--hot-share', '.5', '--min-share', '0.25'])).toMatchObject({ opts: { slowMs: 250, hotShare: 0.5, minShare: 0.25 } });
    expect(parse(serveCommand(), ['--http-port', '0x1F90'])).toHaveProperty('error');
  });

  it.each([['--max-body-mib'], ['--max-buffer-mib'], ['--memory-limit-mib'], ['--spool-max-mib'], ['--grpc-max-receive-mib']])(
    'serve %s 0 is refused: a limit of nothing refuses every export',
    (flag) => {
      expect(parse(serveCommand(), [flag, '0'])).toEqual({ error: `error: option '${flag} <n>' argument '0' is invalid. ${flag} must be a whole number ≥ 1` });
      expect(parse(serveCommand(), [flag, '1'])).toHaveProperty('opts');
    },
  );

  it('serve --max-traces is at least one SDK export of new traces: fewer refuse such an export on every retry', () => {
    for (const value of ['0', '1', '511']) {
      expect(parse(serveCommand(), ['--max-traces', value])).toEqual({
        error: `error: option '--max-traces <n>' argument '${value}' is invalid. --max-traces must be a whole number ≥ 512`,
      });
    }
    expect(parse(serveCommand(), ['--max-traces', '512'])).toMatchObject({ opts: { maxTraces: 512 } });
  });

  it('bounds the waits: past 2^31 - 1 ms a Node timer fires at once, and a group commit window past 1 s only slows acknowledgements', () => {
    expect(parse(serveCommand(), ['--spool-commit-ms', '1001'])).toEqual({
      error: "error: option '--spool-commit-ms <ms>' argument '1001' is invalid. --spool-commit-ms must be a whole number from 0 to 1000",
    });
    expect(parse(serveCommand(), ['--spool-commit-ms', '1000'])).toMatchObject({ opts: { spoolCommitMs: 1000 } });
    for (const flag of ['--trace-wait-ms', '--trace-settle-ms', '--spool-replay-wait-ms']) {
      expect(parse(serveCommand(), [flag, '2147483648'])).toHaveProperty('error');
      expect(parse(serveCommand(), [flag, '2147483647'])).toHaveProperty('opts');
    }
    expect(parse(captureCommand(), ['--settle-ms', '9999999999'])).toHaveProperty('error');
  });
});
