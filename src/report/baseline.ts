/**
 * The baseline file: findings a team has accepted, by signature, each with an optional `reason`
 * and `expires` date, and the scope of the run that wrote it. `--baseline` fails only on findings
 * outside it (or past their expiry).
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

/**
 * What a run looked at: the flags that leave findings out, as the baseline it writes records them
 * (absent: none of that kind). A finding outside a baseline's scope was never the baseline's to
 * accept, so the gate calls it neither new nor fixed (gate.ts).
 */
export interface BaselineScope {
  /** --endpoint: only endpoints matching this glob. */
  endpoint?: string;
  /** --ignore-endpoint, --ignore-table. */
  ignoreEndpoints?: string[];
  ignoreTables?: string[];
  /** --min-wasted-ms: findings wasting less per request are left out. */
  minWastedMs?: number;
  /** --test-suite: no hot_lookup. */
  testSuite?: true;
  /** --service and --since of a pull or a store report. */
  service?: string;
  since?: string;
  /** --test-selection: the tests run, when not the whole suite (pytest's arguments). */
  tests?: string;
}

export interface Baseline {
  n1lensBaseline: 1;
  /** Absent from files written before scopes were recorded: their scope is unknown. */
  scope?: BaselineScope;
  findings: BaselineEntry[];
}

/** A baseline file that cannot be used: one line for the user. */
export class BaselineError extends Error {
  override name = 'BaselineError';
}

/** The baseline file's schema, built when a file is read (zod schemas built at load cost every run start-up time). */
function baselineSchema() {
  const date = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, { error: 'a date, YYYY-MM-DD' }).refine(isCalendarDate, { error: 'a real date, YYYY-MM-DD' });

  const text = z.string({ error: 'a string' });
  const globs = z.array(text, { error: 'an array of strings' });
  return z.strictObject({
    n1lensBaseline: z.literal(1, { error: '1 (the baseline format version)' }),
    scope: z
      .strictObject(
        {
          endpoint: text.optional(),
          ignoreEndpoints: globs.optional(),
          ignoreTables: globs.optional(),
          minWastedMs: z.number({ error: 'a number' }).nonnegative({ error: 'a number ≥ 0' }).optional(),
          testSuite: z.literal(true, { error: 'true' }).optional(),
          service: text.optional(),
          since: text.optional(),
          tests: text.optional(),
        },
        { error: 'an object of the flags the baseline was written with' },
      )
      .optional(),
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

/** A scope without its empty parts: what a baseline file records. */
export function compactScope(scope: BaselineScope): BaselineScope {
  const out: BaselineScope = {};
  if (scope.endpoint !== undefined && scope.endpoint !== '') out.endpoint = scope.endpoint;
  if (scope.ignoreEndpoints !== undefined && scope.ignoreEndpoints.length > 0) out.ignoreEndpoints = [...scope.ignoreEndpoints];
  if (scope.ignoreTables !== undefined && scope.ignoreTables.length > 0) out.ignoreTables = [...scope.ignoreTables];
  if (scope.minWastedMs !== undefined && scope.minWastedMs > 0) out.minWastedMs = scope.minWastedMs;
  if (scope.testSuite === true) out.testSuite = true;
  if (scope.service !== undefined) out.service = scope.service;
  if (scope.since !== undefined) out.since = scope.since;
  if (scope.tests !== undefined) out.tests = scope.tests;
  return out;
}

/**
 * The scope of a baseline rewritten by a run of scope `run` from one of scope `previous` (whose
 * entries outside the run are kept): the wider of the two in each part, so that it never claims to
 * have looked where neither did. A previous file with no recorded scope counts as the widest.
 */
export function widenScope(previous: BaselineScope, run: BaselineScope): BaselineScope {
  const same = <T>(a: T | undefined, b: T | undefined): T | undefined => (a === b ? a : undefined);
  const both = (a: string[] | undefined, b: string[] | undefined): string[] | undefined => a?.filter((g) => b?.includes(g) === true);
  return compactScope({
    ...(same(previous.endpoint, run.endpoint) === undefined ? {} : { endpoint: run.endpoint! }),
    ...(both(previous.ignoreEndpoints, run.ignoreEndpoints) === undefined ? {} : { ignoreEndpoints: both(previous.ignoreEndpoints, run.ignoreEndpoints)! }),
    ...(both(previous.ignoreTables, run.ignoreTables) === undefined ? {} : { ignoreTables: both(previous.ignoreTables, run.ignoreTables)! }),
    minWastedMs: Math.min(previous.minWastedMs ?? 0, run.minWastedMs ?? 0),
    ...(previous.testSuite === true && run.testSuite === true ? { testSuite: true as const } : {}),
    ...(same(previous.service, run.service) === undefined ? {} : { service: run.service! }),
    ...(same(previous.since, run.since) === undefined ? {} : { since: run.since! }),
    // Two selections are neither's: both are named; either whole suite makes the whole.
    ...(previous.tests === undefined || run.tests === undefined ? {} : { tests: previous.tests === run.tests ? run.tests : `${previous.tests} + ${run.tests}` }),
  });
}

/**
 * The report's findings as a baseline. Entries of `previous` that are still found keep their
 * reason and expiry, so re-writing a baseline never loses what people wrote into it; entries the
 * run did not look at (`looked`, gate.ts lookedAt: outside its flags, its traffic or its tests) are
 * kept as they are. `scope` is the run's (gate.ts): the file records it, widened by the previous file's.
 */
export function baselineFromReport(report: Report, previous?: Baseline, looked: (entry: BaselineEntry) => boolean = () => true, scope?: BaselineScope): Baseline {
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
    if (seen.has(old.signature) || looked(old)) continue;
    seen.add(old.signature);
    findings.push(old);
  }
  findings.sort((a, b) => compareText(a.endpoint, b.endpoint) || compareText(a.kind, b.kind) || compareText(a.table, b.table) || compareText(a.signature, b.signature));
  if (scope === undefined) return { n1lensBaseline: 1, findings };
  const written = previous === undefined ? compactScope(scope) : widenScope(previous.scope ?? {}, scope);
  return { n1lensBaseline: 1, ...(Object.keys(written).length === 0 ? {} : { scope: written }), findings };
}

export const renderBaseline = (baseline: Baseline): string => `${JSON.stringify(baseline, null, 2)}\n`;
