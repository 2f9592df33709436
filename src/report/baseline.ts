/**
 * The baseline file: findings a team has accepted, by signature and service, each with an optional
 * `reason` and `expires` date, and the scope of the run that wrote it. `--baseline` fails only on
 * findings outside it (or past their expiry).
 *
 * Keys this version does not know (a newer version's) are read, not refused, and a rewrite keeps
 * those of the file and of its entries; those of its scope are dropped, since this run did not
 * apply a flag it does not know and the rewritten scope is the wider one.
 */
import { z } from 'zod';
import { DEFAULT_MIN_REPEATS, TEST_SUITE_MIN_REPEATS } from '../detect/request.js';
import type { FindingKind } from '../detect/types.js';
import type { Report } from './model.js';
import { compareText } from '../detect/order.js';
import { isCalendarDate } from './period.js';

export interface BaselineEntry {
  signature: string;
  /** Endpoint, kind and table are there for people reading the file; the signature decides. */
  endpoint: string;
  /**
   * The endpoint's service: two services may serve an endpoint of the same name with the same
   * loop, and each is accepted on its own. Absent in files written before entries had one: such an
   * entry accepts the finding in any service, and a rewrite gives it the services found (keeping it
   * too when the run was of one --service, the others unseen).
   */
  service?: string;
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
  /** --min-repeats of a trace-file or pull run: loops shorter are not found; absent: the default (minRepeatsOf). */
  minRepeats?: number;
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
  // Loose objects: a newer version's keys are read (and kept, baselineFromReport), not refused.
  return z.looseObject({
    n1lensBaseline: z.literal(1, { error: '1 (the baseline format version)' }),
    scope: z
      .looseObject(
        {
          endpoint: text.optional(),
          ignoreEndpoints: globs.optional(),
          ignoreTables: globs.optional(),
          minWastedMs: z.number({ error: 'a number' }).nonnegative({ error: 'a number ≥ 0' }).optional(),
          minRepeats: z.number({ error: 'a whole number ≥ 2' }).int({ error: 'a whole number ≥ 2' }).min(2, { error: 'a whole number ≥ 2' }).optional(),
          testSuite: z.literal(true, { error: 'true' }).optional(),
          service: text.optional(),
          since: text.optional(),
          tests: text.optional(),
        },
        { error: 'an object of the flags the baseline was written with' },
      )
      .optional(),
    findings: z.array(
      z.looseObject({
        signature: z.string({ error: 'a 16-digit hex signature' }).regex(/^[0-9a-f]{16}$/, { error: 'a 16-digit hex signature' }),
        endpoint: z.string({ error: 'a string' }),
        service: z.string({ error: 'a string' }).optional(),
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

/** The --min-repeats a scope's run used: recorded, else the default of its kind of run. */
export const minRepeatsOf = (scope: BaselineScope): number => scope.minRepeats ?? (scope.testSuite === true ? TEST_SUITE_MIN_REPEATS : DEFAULT_MIN_REPEATS);

/** A scope without its empty parts (and a --min-repeats that is its kind of run's default): what a baseline file records. */
export function compactScope(scope: BaselineScope): BaselineScope {
  const out: BaselineScope = {};
  if (scope.endpoint !== undefined && scope.endpoint !== '') out.endpoint = scope.endpoint;
  if (scope.ignoreEndpoints !== undefined && scope.ignoreEndpoints.length > 0) out.ignoreEndpoints = [...scope.ignoreEndpoints];
  if (scope.ignoreTables !== undefined && scope.ignoreTables.length > 0) out.ignoreTables = [...scope.ignoreTables];
  if (scope.minWastedMs !== undefined && scope.minWastedMs > 0) out.minWastedMs = scope.minWastedMs;
  if (scope.testSuite === true) out.testSuite = true;
  if (scope.minRepeats !== undefined && scope.minRepeats !== minRepeatsOf(out)) out.minRepeats = scope.minRepeats;
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
    minRepeats: Math.min(minRepeatsOf(previous), minRepeatsOf(run)),
    ...(previous.testSuite === true && run.testSuite === true ? { testSuite: true as const } : {}),
    ...(same(previous.service, run.service) === undefined ? {} : { service: run.service! }),
    ...(same(previous.since, run.since) === undefined ? {} : { since: run.since! }),
    // Two selections are neither's: both are named; either whole suite makes the whole.
    ...(previous.tests === undefined || run.tests === undefined ? {} : { tests: previous.tests === run.tests ? run.tests : `${previous.tests} + ${run.tests}` }),
  });
}

/**
 * The entry of `entries` that accepts a finding of `signature` in `service`: the one of that service,
 * else one without a service (a file written before entries had one, which accepts any service's).
 */
export function baselineLookup(entries: readonly BaselineEntry[]): (signature: string, service: string) => BaselineEntry | undefined {
  const bySignature = new Map<string, BaselineEntry[]>();
  for (const e of entries) {
    const same = bySignature.get(e.signature);
    if (same === undefined) bySignature.set(e.signature, [e]);
    else same.push(e);
  }
  return (signature, service) => {
    const candidates = bySignature.get(signature) ?? [];
    return candidates.find((e) => e.service === service) ?? candidates.find((e) => e.service === undefined);
  };
}

// Every key of BaselineEntry, so the compiler keeps this in step with the interface.
const KNOWN_ENTRY_KEYS: Record<keyof BaselineEntry, true> = { signature: true, endpoint: true, service: true, kind: true, table: true, reason: true, expires: true };

/** An entry's keys this version does not know, to carry into a rewrite. */
const unknownKeys = (entry: BaselineEntry | undefined): Record<string, unknown> =>
  entry === undefined ? {} : Object.fromEntries(Object.entries(entry).filter(([key]) => !Object.hasOwn(KNOWN_ENTRY_KEYS, key)));

/**
 * The report's findings as a baseline, an entry per signature and service. Entries of `previous`
 * that are still found keep their reason, expiry and unknown keys, so re-writing a baseline never
 * loses what people wrote into it; entries the run did not look at (`looked`, gate.ts lookedAt:
 * outside its flags, its traffic or its tests) are kept as they are. `scope` is the run's (gate.ts):
 * the file records it, widened by the previous file's.
 */
export function baselineFromReport(report: Report, previous?: Baseline, looked: (entry: BaselineEntry) => boolean = () => true, scope?: BaselineScope): Baseline {
  const lookup = baselineLookup(previous?.findings ?? []);
  const matched = new Set<BaselineEntry>();
  const seen = new Set<string>();
  const findings: BaselineEntry[] = [];
  for (const e of report.endpoints) {
    for (const f of e.findings) {
      const key = `${f.signature}\n${e.service}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const old = lookup(f.signature, e.service);
      if (old !== undefined) matched.add(old);
      findings.push({
        signature: f.signature,
        endpoint: e.endpoint,
        service: e.service,
        kind: f.kind,
        table: f.table,
        ...(old?.reason === undefined ? {} : { reason: old.reason }),
        ...(old?.expires === undefined ? {} : { expires: old.expires }),
        ...unknownKeys(old),
      });
    }
  }
  // An entry without a service accepts every service's finding: one a run of one --service matched
  // gave that service's entry, and stays for the others, which it did not look at (gate.ts lookedAt).
  for (const old of previous?.findings ?? []) if ((!matched.has(old) || old.service === undefined) && !looked(old)) findings.push(old);
  findings.sort(
    (a, b) =>
      compareText(a.endpoint, b.endpoint) || compareText(a.service ?? '', b.service ?? '') || compareText(a.kind, b.kind) || compareText(a.table, b.table) || compareText(a.signature, b.signature),
  );
  // The previous file's own keys this version does not know ride along; its scope is written anew.
  const { n1lensBaseline: _version, scope: _scope, findings: _entries, ...unknown } = previous ?? { n1lensBaseline: 1, findings: [] };
  if (scope === undefined) return { n1lensBaseline: 1, ...unknown, findings };
  const written = previous === undefined ? compactScope(scope) : widenScope(previous.scope ?? {}, scope);
  return { n1lensBaseline: 1, ...unknown, ...(Object.keys(written).length === 0 ? {} : { scope: written }), findings };
}

export const renderBaseline = (baseline: Baseline): string => `${JSON.stringify(baseline, null, 2)}\n`;
