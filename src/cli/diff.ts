/** `n1lens diff before.json after.json`: what a change did to each endpoint's findings; exit 1 on a regression. */
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { z } from 'zod';
import { diffReports, renderDiff } from '../report/diff.js';
import type { Report } from '../report/model.js';
import { CliError, EXIT } from './errors.js';

/** Enough of the report shape to compare; the rest is passed through. */
const reportShape = z.looseObject({
  n1lensReport: z.literal(1),
  endpoints: z.array(
    z.looseObject({
      endpoint: z.string(),
      queriesPerRequest: z.looseObject({ p50: z.number() }),
      wastedMsPerRequest: z.number(),
      findings: z.array(z.looseObject({ kind: z.string(), signature: z.string(), table: z.string(), repeatsPerRequest: z.looseObject({ p50: z.number() }) })),
    }),
  ),
});

function readReport(file: string): Report {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new CliError(`${file}: cannot read it (give two files from n1-report --format json)`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CliError(`${file}: not a report: invalid JSON (${(e as Error).message})`);
  }
  const parsed = reportShape.safeParse(json);
  if (!parsed.success) {
    const at = parsed.error.issues[0]!.path.join('.');
    throw new CliError(`${file}: not an n1lens report JSON (write one with n1-report --format json): ${at === '' ? 'top level' : at} does not fit`);
  }
  return parsed.data as unknown as Report;
}

export function runDiff(before: string, after: string, format: 'terminal' | 'json'): number {
  const diff = diffReports(readReport(before), readReport(after));
  process.stdout.write(format === 'json' ? `${JSON.stringify(diff, null, 2)}\n` : renderDiff(diff, { before, after }));
  return diff.regression ? EXIT.overBudget : EXIT.ok;
}

export function diffCommand(): Command {
  return new Command('diff')
    .description('Compare two reports (n1-report --format json): findings new, fixed, worse and better per endpoint; exit 1 on a regression')
    .argument('<before>', 'report JSON before the change')
    .argument('<after>', 'report JSON after the change')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['terminal', 'json']).default('terminal'))
    .action(function (this: Command, before: string, after: string) {
      process.exitCode = runDiff(before, after, this.opts<{ format: 'terminal' | 'json' }>().format);
    });
}
