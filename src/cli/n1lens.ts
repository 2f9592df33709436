/** Entry point of the `n1lens` binary: report, serve and digest subcommands. */
import { Command } from 'commander';
import { captureCommand } from './capture.js';
import { diffCommand } from './diff.js';
import { digestCommand } from './digest.js';
import { reportCommand } from './report.js';
import { serveCommand } from './serve.js';
import { runMain } from './main.js';

const program = new Command('n1lens')
  .description('Find N+1 query cascades in Django OpenTelemetry traces and name the exact ORM fix')
  .addCommand(reportCommand('report'))
  .addCommand(serveCommand())
  .addCommand(digestCommand())
  .addCommand(diffCommand())
  .addCommand(captureCommand());

await runMain(program, 'n1lens');
