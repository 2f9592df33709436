/** Text helpers the renderers share: number formats, code locations, shortened SQL, and querysets broken at method calls. */
import { DEFAULT_MIN_REQUESTS, DEFAULT_MIN_WINDOW_MS } from '../detect/routes.js';
import type { CodeLocation } from '../detect/types.js';
import { clockText, spanText, wholeWithCommas } from '../suggest/operational.js';
import type { ReportEndpoint, ReportFinding, ServiceFinding } from './model.js';
import { displayWidth, firstGrapheme, fitsWithin, headWithin } from './width.js';

export const ms = (n: number): string => (n >= 1000 ? `${(n / 1000).toFixed(2)} s` : `${n.toFixed(1)} ms`);
export const int = wholeWithCommas;

/**
 * The endpoint's fix as its renderers show it after the findings: empty when the endpoint has one
 * finding whose own fix is the whole of it under a heading comment (a cache, an index, a task), so
 * the same block is not printed twice in a row.
 */
export function endpointFixToShow(e: Pick<ReportEndpoint, 'fix' | 'findings'>): string {
  if (e.findings.length !== 1) return e.fix;
  const lines = e.fix.split('\n');
  let first = 0;
  while (first < lines.length && lines[first]!.startsWith('#')) first++;
  return lines.slice(first).join('\n').trim() === e.findings[0]!.suggestion.code.trim() ? '' : e.fix;
}

export const KIND_LABEL = {
  n_plus_one: 'N+1',
  repeated_write: 'write loop',
  hot_lookup: 'hot lookup',
  sync_fanout: 'sync fan-out',
  slow_query: 'slow query',
  connection_pressure: 'connections',
  dead_view: 'dead view',
  warm_up: 'warm-up',
} as const;

/**
 * A location as people cite it: `recruit/templates/recruit/dashboard.html:14` inside a template,
 * else `recruit/views.py:42 in dashboard` (the function without its module, which the path says).
 */
export function formatLocation(location: CodeLocation | undefined): string {
  if (location === undefined) return '';
  if (location.template !== undefined) {
    return location.templateLine === undefined ? location.template : `${location.template}:${location.templateLine}`;
  }
  const fn = location.function === undefined ? undefined : shortFunction(location.function, location.file);
  if (location.file !== undefined) {
    const at = location.line === undefined ? location.file : `${location.file}:${location.line}`;
    return fn === undefined ? at : `${at} in ${fn}`;
  }
  if (fn !== undefined) return `in ${fn}`;
  return location.view === undefined ? '' : `view ${location.view}`;
}

/** `recruit.views.dashboard` in `recruit/views.py` → `dashboard`. */
function shortFunction(fn: string, file: string | undefined): string {
  if (file === undefined) return fn;
  const module = file.replace(/\.py$/, '').replace(/\/__init__$/, '').replaceAll('/', '.');
  return fn.startsWith(`${module}.`) ? fn.slice(module.length + 1) : fn;
}

/** How a catch-all route's endpoint was split off. */
export function splitLine(split: { route: string; by: 'page_model' | 'first_path_segment'; value: string }): string {
  const how = split.by === 'page_model' ? `the page model served (${split.value})` : `the path's first segment (${split.value})`;
  return `split from the catch-all route ${split.route} by ${how}`;
}

/** Said of an endpoint with fewer than 3 requests. */
export const STEADY_STATE_UNKNOWN = 'steady state unknown: too few requests to tell warm-up from a per-request N+1';

/** `framework queries left out: 240 (django_sqlite_debug_quote 236, session_set 4)`. */
export function frameworkNoiseLine(d: { total: number; byRule: Record<string, number> }): string {
  const parts = Object.entries(d.byRule).map(([rule, n]) => `${rule} ${int(n)}`);
  return `framework queries left out: ${int(d.total)} (${parts.join(', ')})`;
}

/** `spans left out: 3 (no_timestamp 3)`: spans of the input the decoders refused. */
export function droppedSpansLine(d: { total: number; byReason: Record<string, number> }): string {
  const parts = Object.entries(d.byReason).map(([reason, n]) => `${reason} ${int(n)}`);
  return `spans left out: ${int(d.total)} (${parts.join(', ')})`;
}

/** `queries outside any request or test left out: 370 (…)`: DB spans with no span above them. */
export function outsideRequestsLine(n: number): string {
  return `queries outside any request or test left out: ${int(n)} (no span above them: a test database's set-up, migrations, a script)`;
}

/** The sentence saying what a loop reads after the fix (report JSON `suggestion.readInstead`). */
export function readInsteadText(
  r: { read: string; insteadOf: string; required: boolean },
  code: (expression: string) => string = (e) => e,
): string {
  return r.required
    ? `read ${code(r.read)}, not ${code(r.insteadOf)}`
    : `a loop that runs ${code(r.insteadOf)} reads ${code(r.read)} instead`;
}

/**
 * Markdown inline code: fenced by one backtick more than the longest run inside (MySQL quotes every
 * identifier with one), padded with a space when the text holds any, which CommonMark strips.
 */
export function codeSpan(text: string): string {
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  return longest === 0 ? `${fence}${text}${fence}` : `${fence} ${text} ${fence}`;
}

/** Keeps the head of a statement and its WHERE clause, the parts that identify it, within `width` columns. */
export function shortenSql(sql: string, width: number): string {
  // fitsWithin, not displayWidth: a statement can run to tens of kilobytes, of which only `width` columns are shown.
  if (fitsWithin(sql, width)) return sql;
  const cut = (text: string): string => `${headWithin(text, width - 1)[0]}…`;
  const where = sql.search(/ WHERE /);
  const from = sql.search(/ FROM /);
  if (from > 0) {
    const select = sql.slice(0, sql.indexOf(' ') + 1);
    const tail = sql.slice(from + 1);
    const candidate = `${select}… ${tail}`;
    if (fitsWithin(candidate, width)) return candidate;
    if (where > from) {
      const fromPart = sql.slice(from + 1, where);
      const compact = `${select}… ${fromPart.split(' ').slice(0, 2).join(' ')} …${sql.slice(where)}`;
      if (fitsWithin(compact, width)) return compact;
      return cut(compact);
    }
  }
  return cut(sql);
}

/** Scans code, calling `at(i, depth)` for each character outside string literals and brackets. */
function scan(code: string, at: (i: number, depth: number) => void): void {
  let depth = 0;
  let quote = '';
  for (let i = 0; i < code.length; i++) {
    const ch = code[i];
    if (quote !== '') {
      if (ch === quote) quote = '';
      continue;
    }
    if (ch === "'" || ch === '"') quote = ch;
    else if (ch === '(' || ch === '[') depth++;
    else if (ch === ')' || ch === ']') depth--;
    else at(i, depth);
  }
}

/** Splits `Model.objects.a(…).b(…)` before each top-level method call; the first call stays on the model line. */
function splitChain(code: string): string[] {
  const cuts: number[] = [];
  scan(code, (i, depth) => {
    if (depth === 0 && code[i] === '.' && /^\.\w+\(/.test(code.slice(i, i + 64))) cuts.push(i);
  });
  if (cuts.length > 0 && cuts[0] !== 0) cuts.shift(); // keep `Model.objects.first_call(…)` together
  const parts: string[] = [];
  let start = 0;
  for (const cut of cuts) {
    if (cut > start) parts.push(code.slice(start, cut));
    start = cut;
  }
  parts.push(code.slice(start));
  return parts;
}

/** Splits `name(a, b=c)` into `name(`, its top-level arguments and `)`; undefined when it is not one call. */
function splitCall(code: string): { head: string; args: string[]; tail: string } | undefined {
  const open = code.indexOf('(');
  if (open < 0 || !code.endsWith(')')) return undefined;
  // It is one call only if the first '(' closes at the very end.
  let closesAtEnd = true;
  scan(code.slice(open, -1), (_i, depth) => {
    if (depth === 0) closesAtEnd = false;
  });
  if (!closesAtEnd) return undefined;
  const args: string[] = [];
  let start = open + 1;
  scan(code, (i, depth) => {
    if (depth === 1 && code[i] === ',') {
      args.push(code.slice(start, i).trim());
      start = i + 1;
    }
  });
  args.push(code.slice(start, -1).trim());
  return { head: code.slice(0, open + 1), args: args.filter((arg) => arg !== ''), tail: ')' };
}

/**
 * Lays out Django code within `width` columns the way a formatter would: one chained call per line,
 * then one argument per line for calls that still do not fit.
 */
export function wrapCode(code: string, width: number, indent = ''): string[] {
  if (code.includes('\n')) return code.split('\n').flatMap((line) => wrapCode(line, width, indent));
  if (code.trim() === '') return [''];
  if (fitsWithin(code, width - indent.length)) return [indent + code];
  const comment = /^(\s*)# (.*)$/.exec(code);
  if (comment !== null) {
    // A comment wraps as prose; its continuation lines stay comments.
    const lead = indent + comment[1]!;
    return wrapText(comment[2]!, Math.max(20, width - lead.length - 4)).map((line, i) => `${lead}#${i === 0 ? ' ' : '   '}${line}`);
  }
  const statement = /^(\s*)(return |[A-Za-z_][\w.]* = )(.+)$/.exec(code);
  if (statement !== null && splitChain(statement[3]!).length > 1) {
    // `return qs.a(…).b(…)` inside a method: parentheses keep the wrapped chain valid Python.
    const lead = indent + statement[1]!;
    return [
      `${lead}${statement[2]!}(`,
      ...splitChain(statement[3]!).flatMap((part) => wrapCode(part, width, `${lead}    `)),
      `${lead})`,
    ];
  }
  const parts = splitChain(code);
  if (parts.length > 1) {
    return parts.flatMap((part, i) => wrapCode(part, width, i === 0 ? indent : `${indent}    `));
  }
  const call = splitCall(code);
  if (call === undefined || call.args.length === 0) return [indent + code];
  return [
    indent + call.head,
    ...call.args.flatMap((arg) => {
      const lines = wrapCode(arg, width - 1, `${indent}    `);
      lines[lines.length - 1] += ',';
      return lines;
    }),
    indent + call.tail,
  ];
}

/**
 * Where a word wider than the line breaks within `head` (the part of it that fits): after its last
 * `/` or `::` (a path, a route, a test id), else after its last `.` or `__` (a dotted path, a lookup),
 * else after its last `_` (a long SQL identifier); 0 when it has none of them.
 */
function breakAfter(head: string): number {
  const after = (separator: string): number => {
    const at = head.lastIndexOf(separator);
    return at < 0 ? 0 : at + separator.length;
  };
  return Math.max(after('/'), after('::')) || Math.max(after('.'), after('__')) || after('_');
}

/**
 * Wraps prose at spaces to `width` columns (terminal columns: width.ts), never past them: a word
 * wider than the line (a URL, a long route, a dotted path, a long SQL identifier has no spaces)
 * continues the line it is on and breaks at its last separator that fits (breakAfter), else at the
 * width, between characters (never inside a wide one, a surrogate pair or a combining sequence).
 */
export function wrapText(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    let rest = word;
    if (line !== '' && !fitsWithin(rest, width - displayWidth(line) - 1) && fitsWithin(rest, width)) {
      lines.push(line);
      line = '';
    }
    while (!fitsWithin(rest, width - (line === '' ? 0 : displayWidth(line) + 1))) {
      const room = width - (line === '' ? 0 : displayWidth(line) + 1);
      const [head] = headWithin(rest, Math.max(0, room));
      const after = breakAfter(head);
      // A line of its own takes what fits, and at least one character however wide.
      const cut = after > 0 ? after : line === '' ? Math.max(head.length, firstGrapheme(rest).length) : 0;
      if (cut > 0) lines.push(line === '' ? rest.slice(0, cut) : `${line} ${rest.slice(0, cut)}`);
      else lines.push(line);
      line = '';
      rest = rest.slice(cut);
    }
    line = line === '' ? rest : `${line} ${rest}`;
  }
  if (line !== '') lines.push(line);
  return lines;
}

/** One line naming a finding: `N+1 in GET dashboard/: 50× per request on recruit_candidate via job.company`. */
export function findingTitle(endpoint: string, f: ReportFinding): string {
  const where = f.table === '' ? '' : ` on ${f.table}${f.chain.length > 0 ? ` via ${f.chain.join('.')}` : ''}`;
  const repeats = f.kind === 'n_plus_one' || f.kind === 'repeated_write' ? `: ${f.repeatsPerRequest.p50}× per request` : '';
  return `${KIND_LABEL[f.kind]} in ${endpoint}${repeats}${where}`;
}

/** `file:line` of a code location, the template line when the query runs in a template; undefined when unknown. */
export function primaryLocation(l: CodeLocation | undefined): { file: string; line?: number } | undefined {
  if (l === undefined) return undefined;
  if (l.template !== undefined) return { file: l.template, ...(l.templateLine === undefined ? {} : { line: l.templateLine }) };
  if (l.file !== undefined) return { file: l.file, ...(l.line === undefined ? {} : { line: l.line }) };
  return undefined;
}

/** The figures of a connection_pressure or dead_view finding in one line, for every renderer. */
export function serviceFindingFigures(f: ServiceFinding): string {
  const p = f.connectionPressure;
  if (p !== undefined) {
    const peak = `peak ${int(p.peakConnections)} connection${p.peakConnections === 1 ? '' : 's'} at ${isoSecond(p.peakAtMs)} over ${p.processes} process${p.processes === 1 ? '' : 'es'}`;
    const share = `${Math.round(p.shareOfMax * 100)}% of ${p.maxConnectionsAssumed ? 'an assumed ' : ''}max_connections ${int(p.maxConnections)}`;
    const opened =
      p.openedPerSecond === null
        ? 'connections opened: unknown (no set-up statement in the spans)'
        : `${p.openedPerSecond.toFixed(1)} connections opened/s (${(p.newConnectionShare ?? 0) > 1 ? `${(p.newConnectionShare ?? 0).toFixed(1)} per request` : `${Math.round((p.newConnectionShare ?? 0) * 100)}% of requests`})`;
    return `${peak} · ${share} · ${opened} · ${int(p.dbRequests)} DB requests in ${int(p.activeSeconds)} active s`;
  }
  const v = f.deadView;
  if (v === undefined) return '';
  // A route of a view another route still serves: the route is dead, not the view.
  const served = v.servedOn === undefined ? '' : `; the view is still served on ${v.servedOn}`;
  switch (v.status) {
    case 'dead':
      return `${v.view}: no request in ${spanText(v.windowMs)} (${v.lastSeenMs === null ? 'none' : `last ${isoSecond(v.lastSeenMs)}`} in ${spanText(v.historyMs)} of history)${served}`;
    case 'no_traffic_yet':
      return `${v.view}: no request in the ${spanText(v.historyMs)} of history (window ${spanText(v.windowMs)}: not enough history to call it dead)`;
    case 'too_short_window': {
      const seen = v.historyRequests === undefined ? '' : `${int(v.historyRequests)} request${v.historyRequests === 1 ? '' : 's'} to the URLconf's routes over `;
      return `${v.view}: no request in ${spanText(v.windowMs)} (${seen}${spanText(v.historyMs)} of history); too short a window to call it dead: ` +
        `judge with --dead-after ${Math.ceil((v.neededWindowMs ?? DEFAULT_MIN_WINDOW_MS) / 86_400_000)}d or more`;
    }
    case 'too_little_traffic':
      return `${v.view}: no request in ${spanText(v.windowMs)}, but only ${int(v.historyRequests ?? 0)} request${v.historyRequests === 1 ? '' : 's'} to the URLconf's routes ` +
        `in ${spanText(v.historyMs)} of history; too little traffic to call it dead (${int(v.neededRequests ?? DEFAULT_MIN_REQUESTS)} needed)`;
    case 'periodic':
      return `${v.view}: only periodic traffic, ${v.periodic?.requests ?? v.requests} requests at ~${clockText(v.periodic?.minuteOfDay ?? 0)} UTC on ${v.periodic?.days ?? 0} days from one client${served}`;
    case 'unseen_in_file':
      return `${v.view}: not seen in this file`;
  }
}

const isoSecond = (msEpoch: number): string => new Date(msEpoch).toISOString().replace(/\.\d{3}Z$/, 'Z');
