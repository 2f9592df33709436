/**
 * SARIF 2.1.0 for code scanning (GitHub and others): one rule per finding kind, one result per
 * finding, located at its code location when known, tracked across commits by its signature.
 *
 * A finding's `partialFingerprints` value is always its signature told apart by its service
 * (signature.ts serviceSignature), whether or not another service shares the finding. Taking the
 * service only where a run saw two services share a signature changed the first service's value on
 * the day a second one began to share it, so code scanning closed its alert and opened a new one; no
 * rule without history can choose which of two services keeps the bare signature. The cost is paid
 * once: the upload after upgrading gives every endpoint finding a new value (its alerts are closed and
 * opened again, once), and a renamed service's alerts are new alerts. The key keeps its name
 * (`n1lensSignature/v1`) so that connection and dead-view results, whose values were already their
 * service's and are unchanged, keep their alerts.
 */
import { DEFAULT_MIN_REQUESTS, DEFAULT_MIN_WINDOW_MS } from '../detect/routes.js';
import type { CodeLocation, FindingKind } from '../detect/types.js';
import type { GateResult } from './gate.js';
import type { Report } from './model.js';
import { repoLocation, type RepoPaths } from './paths.js';
import { findingSignature, serviceSignature } from './signature.js';
import { KIND_LABEL, codeSpan, findingTitle, formatLocation, primaryLocation, shortenSql } from './text.js';

interface RuleText {
  name: string;
  short: string;
  help: string;
  level: 'error' | 'warning' | 'note';
}

const RULES: Record<FindingKind, RuleText> = {
  n_plus_one: {
    name: 'NPlusOneQuery',
    short: 'The same query runs once per row of an earlier query (N+1).',
    help:
      'A loop over the rows of one query runs another query for each row: a foreign key read in a template, ' +
      'a reverse relation counted per row. Load the related rows with the first query instead: ' +
      '`select_related` for forward foreign keys, `prefetch_related` (or `Prefetch(queryset=…, to_attr=…)`) ' +
      'for reverse and many-to-many relations, `annotate(Count(…))` for per-row counts. The result names the exact call.',
    level: 'error',
  },
  repeated_write: {
    name: 'RepeatedWrite',
    short: 'The same INSERT or UPDATE runs once per object in a loop.',
    help: 'Each object is saved with its own statement. Use `bulk_create(objs)`, `bulk_update(objs, [fields])` or `queryset.update(...)`.',
    level: 'error',
  },
  warm_up: {
    name: 'WarmUpLoop',
    short: 'A per-row query loop seen only in a minority of requests (first visit, a cache filling).',
    help: 'The loop runs on a cold cache or a first visit, not on every request, so it is left out of the budget. Fix it like an N+1 if first visits matter; otherwise it needs nothing.',
    level: 'note',
  },
  hot_lookup: {
    name: 'HotLookup',
    short: 'The same read runs in most requests of an endpoint.',
    help: 'A lookup whose answer rarely changes runs on nearly every request. Cache it (Django cache framework, keyed by its arguments) and invalidate it on write.',
    level: 'note',
  },
  sync_fanout: {
    name: 'SyncFanout',
    short: 'Outbound calls run one after another inside the request.',
    help: 'The request waits on several serial calls to other services. Move them to a task queue (Celery, RQ) and answer at once.',
    level: 'warning',
  },
  slow_query: {
    name: 'SlowQuery',
    short: 'A query is slow; a composite index matches its filter and order.',
    help: 'The query filters and sorts on columns no single index serves. Add the composite index the result names (equality columns first, then the range or sort column), created CONCURRENTLY on PostgreSQL.',
    level: 'warning',
  },
  connection_pressure: {
    name: 'ConnectionPressure',
    short: "The service holds a large share of the database's max_connections.",
    help: 'Each request opens its own database connection, or too many processes hold one at once. Keep connections with `CONN_MAX_AGE` and `CONN_HEALTH_CHECKS`, or pool them with PgBouncer in transaction mode.',
    level: 'warning',
  },
  dead_view: {
    name: 'DeadView',
    short: 'A view in the URLconf gets no traffic.',
    help: `No request reached this route in the period, or only a periodic job does. Delete the view and its route, or move the job off the web tier. A route only not seen in a trace file (--list-unseen), with less history than the window, quiet over a window under ${DEFAULT_MIN_WINDOW_MS / 86_400_000} days (too short to tell an unused view from a monthly one), or quiet over too little traffic (fewer than ${DEFAULT_MIN_REQUESTS} requests to the URLconf routes), is listed to look at, not to remove.`,
    level: 'note',
  },
};

const KINDS = Object.keys(RULES) as FindingKind[];

export interface SarifOptions extends RepoPaths {
  /** Tool version in the driver block. */
  version?: string;
}

/** A SARIF physicalLocation for a repository path: each segment percent-encoded (a space, `#`, `%`), lines from 1. */
function physicalLocation(l: CodeLocation | undefined): object {
  const at = primaryLocation(l);
  if (at === undefined) return {};
  const uri = at.file.split('/').map(encodeURIComponent).join('/');
  return {
    physicalLocation: {
      artifactLocation: { uri, uriBaseId: '%SRCROOT%' },
      ...(at.line === undefined || at.line < 1 ? {} : { region: { startLine: at.line } }),
    },
  };
}

/** A SARIF log, as plain JSON. */
export type SarifLog = Record<string, unknown>;

export function buildSarif(report: Report, gate: GateResult, options: SarifOptions = {}): SarifLog {
  const rules = KINDS.map((kind) => {
    const r = RULES[kind];
    return {
      id: kind,
      name: r.name,
      shortDescription: { text: r.short },
      fullDescription: { text: `${KIND_LABEL[kind]}: ${r.short}` },
      help: { text: r.help.replace(/`/g, ''), markdown: r.help },
      defaultConfiguration: { level: r.level },
      properties: { tags: ['performance', 'database', 'django'] },
    };
  });
  const results: Record<string, unknown>[] = [];
  // Code scanning refuses a whole upload for one result without a file ("expected artifact
  // location"): a finding with no file in the checkout (no code location, a library's view) is
  // counted in the run's properties and left to the other outputs.
  let unplaced = 0;
  const place = (result: Record<string, unknown>, location: CodeLocation | undefined): void => {
    if (primaryLocation(location) === undefined) unplaced++;
    else results.push(result);
  };
  for (const g of gate.findings) {
    const f = g.finding;
    // Always the service's, so that another service sharing it later moves no alert (header).
    const fingerprint = serviceSignature(f.signature, g.service);
    const location = repoLocation(f.location, options);
    const title = findingTitle(g.endpoint, f);
    const where = formatLocation(location);
    // Another loop running the same query: its place, linked where it has a file in the checkout.
    const others = (f.otherLocations ?? []).map((l) => repoLocation(l, options));
    const also = others.map(formatLocation).filter((w) => w !== '');
    const related = others.filter((l) => primaryLocation(l) !== undefined).map((l, k) => ({ id: k + 1, ...physicalLocation(l), message: { text: 'also runs the query here' } }));
    const text = `${title}.${where === '' ? '' : ` At ${where}.`}${also.length === 0 ? '' : ` Also at ${also.join(', ')}.`} Fix: ${f.suggestion.code.split('\n')[0]}`;
    const markdown = [
      `**${title}**${where === '' ? '' : ` at ${codeSpan(where)}`}${also.length === 0 ? '' : `, also at ${also.map(codeSpan).join(', ')}`}`,
      '',
      f.sql === '' ? '' : `Query: ${codeSpan(shortenSql(f.sql, 160))}`,
      '',
      'Fix:',
      '',
      '```python',
      f.suggestion.code,
      '```',
      f.suggestion.note === undefined ? '' : `\n${f.suggestion.note}`,
      g.baseline?.reason === undefined ? '' : `\nAccepted in the baseline: ${g.baseline.reason}`,
    ]
      .join('\n')
      .replace(/\n{3,}/g, '\n\n');
    const accepted = g.status === 'baselined';
    place({
      ruleId: f.kind,
      ruleIndex: KINDS.indexOf(f.kind),
      level: g.failing ? 'error' : g.status === 'not_counted' ? RULES[f.kind].level : accepted ? 'note' : 'warning',
      message: { text, markdown },
      locations: [
        {
          ...physicalLocation(location),
          logicalLocations: [{ name: g.endpoint, kind: 'function', ...(f.location?.view === undefined ? {} : { fullyQualifiedName: f.location.view }) }],
        },
      ],
      ...(related.length === 0 ? {} : { relatedLocations: related }),
      partialFingerprints: { 'n1lensSignature/v1': fingerprint },
      // SARIF's baselineState compares with a baseline: without one there is none to state.
      // A finding outside the baseline's scope was never compared with it: no state either.
      ...(gate.withBaseline && g.status !== 'unscoped' ? { baselineState: g.baseline === undefined ? 'new' : 'unchanged' } : {}),
      ...(accepted ? { suppressions: [{ kind: 'external', status: 'accepted', justification: g.baseline?.reason ?? 'in the n1lens baseline' }] } : {}),
      properties: {
        endpoint: g.endpoint,
        ...(g.service === '' ? {} : { service: g.service }),
        signature: f.signature,
        repeatsPerRequest: f.repeatsPerRequest.p50,
        wastedMs: f.wastedMs,
        exampleTraceId: f.exampleTraceId,
      },
    }, location);
  }
  for (const sf of report.serviceFindings ?? []) {
    const text = `${KIND_LABEL[sf.kind]}: ${sf.subject}. ${sf.suggestion.code.split('\n')[0]}`;
    const location = repoLocation(sf.location, options);
    place({
      ruleId: sf.kind,
      ruleIndex: KINDS.indexOf(sf.kind),
      level: RULES[sf.kind].level,
      message: { text, markdown: `**${KIND_LABEL[sf.kind]}: ${codeSpan(sf.subject)}**\n\n\`\`\`python\n${sf.suggestion.code}\n\`\`\`` },
      locations: [
        {
          ...physicalLocation(location),
          logicalLocations: [{ name: sf.subject, kind: 'function' }],
        },
      ],
      partialFingerprints: { 'n1lensSignature/v1': findingSignature({ endpoint: sf.subject, kind: sf.kind, table: sf.service, fingerprint: '' }) },
      // No baseline holds connections or dead views (they are never gated): no baselineState.
      properties: { endpoint: sf.subject, service: sf.service },
    }, location);
  }
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: { driver: { name: 'n1lens', ...(options.version === undefined ? {} : { version: options.version }), rules } },
        originalUriBaseIds: { '%SRCROOT%': { description: { text: 'The repository root.' } } },
        results,
        properties: { requests: report.summary.requests, dbQueries: report.summary.dbSpans, wastedMs: report.summary.wastedMs, findingsWithoutFile: unplaced },
      },
    ],
  };
}

export const renderSarif = (report: Report, gate: GateResult, options: SarifOptions = {}): string =>
  `${JSON.stringify(buildSarif(report, gate, options), null, 2)}\n`;
