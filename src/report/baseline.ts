/**
 * The baseline file: findings a team has accepted, by signature, each with an optional `reason`
 * and `expires` date. `--baseline` fails only on findings outside it (or past their expiry).
 */
import { z } from 'zod';
import type { FindingKind } from '../detect/types.js';
import type { Report } from './model.js';
import { compareText } from '../detect/order.js';
import { isCalendarDate } from './period.js';

export interface BaselineEntry {
  signature: string;
  /** Endpoint, kind and table are there for people reading the file; the signature decides. */
  endpoint: string;
  kind: FindingKind;
  table: string;
  reason?: string;
  /** `YYYY-MM-DD`: from that day on, the finding fails again. */
  expires?: string;
}

export interface Baseline {
  n1lensBaseline: 1;
  findings: BaselineEntry[];
}

/** A baseline file that cannot be used: one line for the user. */
export class BaselineError extends Error {
  override name = 'BaselineError';
}

/** The baseline file's schema, built when a file is read (zod schemas built at load cost every run start-up time). */
function baselineSchema() {
  const date = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, { error: 'a date, YYYY-MM-DD' }).refine(isCalendarDate, { error: 'a real date, YYYY-MM-DD' });

  return z.strictObject({
    n1lensBaseline: z.literal(1, { error: '1 (the baseline format version)' }),
    findings: z.array(
      z.object({
        signature: z.string({ error: 'a 16-digit hex signature' }).regex(/^[0-9a-f]{16}$/, { error: 'a 16-digit hex signature' }),
        endpoint: z.string({ error: 'a string' }),
        kind: z.string({ error: 'a finding kind' }),
        table: z.string({ error: 'a string' }),
        reason: z.string({ error: 'a string' }).optional(),
        expires: date.optional(),
      }),
      { error: 'an array of findings' },
    ),
  });
}

/** Parses a baseline file's text; `file` names it in the one-line error. */
export function parseBaseline(text: string, file: string): Baseline {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new BaselineError(`${file}: not a baseline file: invalid JSON (${(e as Error).message})`);
  }
  const parsed = baselineSchema().safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const at = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
    const what = issue.code === 'invalid_type' && issue.path.length === 0 ? 'an object {"n1lensBaseline": 1, "findings": [...]}' : issue.message;
    throw new BaselineError(`${file}: not a baseline file: ${at === '' ? 'the top level' : at} must be ${what} (write one with --write-baseline)`);
  }
  return parsed.data as Baseline;
}

/**
 * The report's findings as a baseline. Entries of `previous` that are still found keep their
 * reason and expiry, so re-writing a baseline never loses what people wrote into it; entries the
 * report did not look at (outside `inScope`, see model.ts reportScope) are kept as they are.
 */
export function baselineFromReport(report: Report, previous?: Baseline, inScope: (entry: BaselineEntry) => boolean = () => true): Baseline {
  const kept = new Map((previous?.findings ?? []).map((e) => [e.signature, e]));
  const seen = new Set<string>();
  const findings: BaselineEntry[] = [];
  for (const e of report.endpoints) {
    for (const f of e.findings) {
      if (seen.has(f.signature)) continue;
      seen.add(f.signature);
      const old = kept.get(f.signature);
      findings.push({
        signature: f.signature,
        endpoint: e.endpoint,
        kind: f.kind,
        table: f.table,
        ...(old?.reason === undefined ? {} : { reason: old.reason }),
        ...(old?.expires === undefined ? {} : { expires: old.expires }),
      });
    }
  }
  for (const old of previous?.findings ?? []) {
    if (seen.has(old.signature) || inScope(old)) continue;
    seen.add(old.signature);
    findings.push(old);
  }
  findings.sort((a, b) => compareText(a.endpoint, b.endpoint) || compareText(a.kind, b.kind) || compareText(a.table, b.table) || compareText(a.signature, b.signature));
  return { n1lensBaseline: 1, findings };
}

export const renderBaseline = (baseline: Baseline): string => `${JSON.stringify(baseline, null, 2)}\n`;
