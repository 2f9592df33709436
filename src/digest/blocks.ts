/** Turns a digest's reports into Slack Block Kit messages that keep within Slack's limits by construction (pure: no clock, no I/O). */
import type { Report, ReportEndpoint } from '../report/model.js';
import { KIND_LABEL, formatLocation, int, ms, serviceFindingFigures, wrapCode } from '../report/text.js';
import { HOUR_MS, MINUTE_MS, formatPeriod } from '../report/period.js';
import type { DigestInput } from './source.js';
import { compareText } from '../detect/order.js';

/**
 * Slack's documented limits, enforced here rather than hoped for. Slack rejects a message over a hard
 * limit with `invalid_blocks` / `invalid_payload`, so every string is cut before it is sent.
 */
export const SLACK_LIMITS = {
  blocksPerMessage: 50,
  headerText: 150,
  sectionText: 3000,
  fieldText: 2000,
  fieldsPerSection: 10,
  contextElements: 10,
  /** Slack asks for about 12k characters per message; counted as the JSON body's length, which is stricter. */
  messageChars: 12_000,
  /** The notification fallback; Slack truncates long ones and nobody reads past a screen. */
  fallbackText: 3000,
} as const;

export interface PlainText {
  type: 'plain_text';
  text: string;
  emoji?: boolean;
}

export interface Mrkdwn {
  type: 'mrkdwn';
  text: string;
}

/** The Block Kit blocks a digest uses; structurally the `KnownBlock`s of @slack/types. */
export type SlackBlock =
  | { type: 'header'; text: PlainText }
  | { type: 'section'; text?: Mrkdwn; fields?: Mrkdwn[] }
  | { type: 'context'; elements: Mrkdwn[] }
  | { type: 'divider' };

/** One webhook POST body. */
export interface SlackMessage {
  /** Plain fallback for notifications and clients without blocks. */
  text: string;
  blocks: SlackBlock[];
}

export interface BlocksOptions {
  /** Endpoints listed, worst first. Default 5. */
  top?: number;
  /** Link template for example traces, with `{traceId}`: `https://jaeger.example.com/trace/{traceId}`. */
  traceUrl?: string;
}

/** Slack's mrkdwn treats only these three as control characters; everything else is literal. */
export const escapeMrkdwn = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Cuts at `n` code units without splitting a surrogate pair or an `&amp;`-style entity. */
function safeCut(s: string, n: number): string {
  if (s.length <= n) return s;
  let cut = Math.max(0, n);
  const amp = s.lastIndexOf('&', cut - 1);
  if (amp >= 0 && amp >= cut - 5) {
    const semi = s.indexOf(';', amp);
    if (semi === -1 || semi >= cut) cut = amp;
  }
  const code = s.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut--;
  return s.slice(0, cut);
}

/** Plain text cut to `max` characters with an ellipsis. */
function clip(s: string, max: number): string {
  return s.length <= max ? s : `${safeCut(s, max - 1)}…`;
}

/** Escaped mrkdwn of a raw string, cut to `max` characters after escaping. */
const clipMrkdwn = (raw: string, max: number): string => clip(escapeMrkdwn(raw), max);

/** Inline code; backticks inside would end it early, so they become quotes. */
const code = (raw: string, max: number): string => `\`${clipMrkdwn(raw.replace(/`/g, "'"), max)}\``;

/** A section's text, cut at a line boundary as a last guard (callers already bound their parts). */
function sectionText(text: string): Mrkdwn {
  if (text.length <= SLACK_LIMITS.sectionText) return { type: 'mrkdwn', text };
  const head = text.slice(0, SLACK_LIMITS.sectionText - 2);
  const nl = head.lastIndexOf('\n');
  return { type: 'mrkdwn', text: `${nl > 0 ? head.slice(0, nl) : safeCut(head, head.length)}\n…` };
}

const FENCE_OPEN = '```\n';
const FENCE_CLOSE = '\n```';

/**
 * A fenced code block of at most `budget` characters, or null when not even the marker fits. A long
 * fix loses whole lines from the end and gains a `# … (truncated, N more lines)` line inside the
 * fence, so the fence always closes and what is left still reads as Python.
 */
export function codeBlock(source: string, budget: number): string | null {
  // A ``` inside the fix would close the fence; zero-width spaces keep the look and break the token.
  const lines = source.split('\n').map((l) => escapeMrkdwn(l.replace(/```/g, '`\u200b`\u200b`')));
  const full = `${FENCE_OPEN}${lines.join('\n')}${FENCE_CLOSE}`;
  if (full.length <= budget) return full;
  const marker = (more: number): string => `# … (truncated, ${more} more line${more === 1 ? '' : 's'})`;
  const room = budget - FENCE_OPEN.length - FENCE_CLOSE.length - 1 - marker(lines.length).length;
  if (room < 0) return null;
  const kept: string[] = [];
  let used = 0;
  let partial = false;
  for (const line of lines) {
    const cost = line.length + (kept.length > 0 ? 1 : 0);
    if (used + cost <= room) {
      kept.push(line);
      used += cost;
      continue;
    }
    // One huge line (a long queryset on one line): keep its head rather than show nothing.
    if (kept.length === 0 && room > 1) {
      kept.push(`${safeCut(line, room - 1)}…`);
      partial = true;
    }
    break;
  }
  const more = lines.length - kept.length + (partial ? 1 : 0);
  return `${FENCE_OPEN}${[...kept, marker(more)].join('\n')}${FENCE_CLOSE}`;
}

/** DB time totals read best in the largest unit that keeps them small. */
export function totalTime(value: number): string {
  if (value < 1000) return `${Math.round(value)} ms`;
  if (value < MINUTE_MS) return `${(value / 1000).toFixed(1)} s`;
  if (value < HOUR_MS) return `${(value / MINUTE_MS).toFixed(1)} min`;
  return `${(value / HOUR_MS).toFixed(1)} h`;
}

const percent = (part: number, whole: number): string => {
  if (whole <= 0) return '0%';
  const p = (part / whole) * 100;
  return p > 0 && p < 1 ? '<1%' : `${Math.round(p)}%`;
};

/** `up 18% from 10.5 s in the previous 24h`: a change, with the old figure so the reader can judge it. */
function change(now: number, before: number, show: (n: number) => string, window: string): string {
  if (before <= 0) return now <= 0 ? `none in the previous ${window} either` : `none in the previous ${window}`;
  const pct = Math.round((Math.abs(now - before) / before) * 100);
  const direction = pct === 0 ? 'unchanged' : now > before ? `up ${pct}%` : `down ${pct}%`;
  return `${direction} from ${show(before)} in the previous ${window}`;
}

/**
 * The DB time an endpoint wasted over the period (per request × traffic): what the digest ranks by.
 * A sync_fanout's wastedMs is request latency spent in outbound calls, not DB time, so it is left
 * out here and named in the endpoint's context line instead.
 */
const wasted = (e: ReportEndpoint): number => e.findings.reduce((s, f) => s + (f.kind === 'sync_fanout' ? 0 : f.wastedMs), 0);
const wastedPerRequest = (e: ReportEndpoint): number => (e.requests === 0 ? 0 : wasted(e) / e.requests);
const totalWasted = (r: Report): number => r.endpoints.reduce((s, e) => s + wasted(e), 0);
const key = (e: { service: string; endpoint: string }): string => `${e.service}\u0000${e.endpoint}`;

/** Who the digest is about: the --service name, else the services seen. */
function services(input: DigestInput): { short: string; long: string; many: boolean } {
  if (input.service !== undefined) return { short: input.service || '(no service.name)', long: input.service || '(no service.name)', many: false };
  const seen = [...new Set(input.report.endpoints.map((e) => e.service || '(no service.name)'))].sort();
  if (seen.length === 0) return { short: 'all services', long: 'all services (none seen)', many: false };
  if (seen.length === 1) return { short: seen[0] ?? '', long: seen[0] ?? '', many: false };
  return { short: `${seen.length} services`, long: `${seen.length} services: ${seen.join(', ')}`, many: true };
}

/** Prepared, pure figures every message of one digest shares. */
interface Context {
  input: DigestInput;
  who: ReturnType<typeof services>;
  /** "last 24h" or "trace files". */
  periodShort: string;
  /** "2025-01-13 09:00 → 2025-01-14 09:00 UTC". */
  range: string;
  /** The range with how it was chosen: "… UTC (last 24h)" or "… UTC, traces.jsonl.gz". */
  periodLong: string;
  title: string;
  window: string | undefined;
  previous: Map<string, number> | undefined;
  traceUrl: string | undefined;
  listed: ReportEndpoint[];
  /** Endpoints with findings, and their findings: what a digest that lists none (top 0) still states. */
  withFindings: number;
  findings: number;
}

interface Item {
  endpoint: ReportEndpoint;
  rank: number;
  /** Characters the fix section may take; lowered only when one endpoint alone would overflow a message. */
  fixBudget: number;
}

function prepare(input: DigestInput, options: BlocksOptions): Context {
  const who = services(input);
  const { period } = input;
  const window = period.window;
  const periodShort = window !== undefined ? `last ${window}` : period.pulled === true ? 'pulled traces' : 'trace files';
  const range = formatPeriod(period);
  const where = `${window !== undefined ? ` (last ${window})` : ''}${period.source !== undefined ? `, ${clip(period.source, 200)}` : ''}`;
  const ranked = input.report.endpoints
    .filter((e) => e.findings.length > 0)
    .sort((a, b) => wasted(b) - wasted(a) || b.wastedMsPerRequest * b.requests - a.wastedMsPerRequest * a.requests || compareText(a.endpoint, b.endpoint));
  return {
    input,
    who,
    periodShort,
    range,
    periodLong: `${range}${where}`,
    title: clip(`n1lens digest: ${who.short} · ${periodShort}`, SLACK_LIMITS.headerText),
    window,
    previous:
      input.previous === undefined ? undefined : new Map(input.previous.endpoints.map((e) => [key(e), wasted(e)] as const)),
    traceUrl: options.traceUrl,
    listed: ranked.slice(0, Math.max(0, options.top ?? 5)),
    withFindings: ranked.length,
    findings: ranked.reduce((n, e) => n + e.findings.length, 0),
  };
}

/** Said of a digest whose pull left traces out: its figures cover part of the period. */
function partialText(partial: { failed: number }): string {
  const n = partial.failed;
  return `partial: ${int(n)} trace${n === 1 ? '' : 's'} or search${n === 1 ? '' : 'es'} failed to fetch after retries and ${n === 1 ? 'is' : 'are'} left out`;
}

function summaryBlock(c: Context): SlackBlock {
  const { report, previous } = c.input;
  const vs = (now: number, before: number, show: (n: number) => string): string =>
    previous === undefined || c.window === undefined ? '' : ` (${change(now, before, show, c.window)})`;
  const lines = [
    `*Period:* ${escapeMrkdwn(c.periodLong)}`,
    ...(c.input.partial === undefined ? [] : [`:warning: *Partial:* ${escapeMrkdwn(partialText(c.input.partial).replace(/^partial: /, ''))}`]),
    `*Service:* ${clipMrkdwn(c.who.long, 500)}`,
    `*Requests analysed:* ${int(report.summary.requests)}${vs(report.summary.requests, previous?.summary.requests ?? 0, int)}`,
    `*DB time wasted:* ${totalTime(totalWasted(report))}${vs(totalWasted(report), previous === undefined ? 0 : totalWasted(previous), totalTime)}`,
    // Load no request ran (scripts, management commands, migrations): outside the ranking, but the team's bill.
    ...(report.summary.queriesOutsideRequests === undefined ? [] : [`*Queries outside any request:* ${int(report.summary.queriesOutsideRequests)} (scripts, management commands, migrations: not analysed)`]),
    // "Nothing to fix" only when nothing has findings: with top 0 the digest is the summary alone.
    c.withFindings === 0
      ? report.summary.requests === 0
        ? '*No requests in this period.*'
        : '*No findings in this period: nothing to fix.*'
      : c.listed.length === 0
        ? `*Findings:* ${int(c.findings)} on ${int(c.withFindings)} endpoint${c.withFindings === 1 ? '' : 's'} (none listed: top 0)`
        : `*Worst endpoints:* ${c.listed.length} of ${c.withFindings} with findings, ranked by DB time wasted (per request × traffic)`,
  ];
  return { type: 'section', text: sectionText(lines.join('\n')) };
}

/** connection_pressure and dead views: one line each, apart from the DB-waste ranking. */
function serviceFindingsBlock(c: Context): SlackBlock[] {
  const findings = c.input.report.serviceFindings ?? [];
  if (findings.length === 0) return [];
  const lines = findings.map((f) => `• *${KIND_LABEL[f.kind]}* ${code(f.subject || '(root)', 200)}: ${escapeMrkdwn(serviceFindingFigures(f))}`);
  const fix = findings.find((f) => f.kind === 'connection_pressure')?.suggestion.path;
  if (fix !== undefined) lines.push(`Fix: ${escapeMrkdwn(fix)} (see the report for the settings)`);
  return [{ type: 'divider' }, { type: 'section', text: sectionText(`*Connections and dead views* (not counted in the budget)\n${lines.join('\n')}`) }];
}

function traceLink(c: Context, traceId: string): string {
  if (c.traceUrl === undefined) return code(traceId, 100);
  // `|` and `>` end a Slack link early, so they are percent-encoded; `&` is escaped like any mrkdwn.
  const url = escapeMrkdwn(c.traceUrl.split('{traceId}').join(encodeURIComponent(traceId))).replace(/\|/g, '%7C');
  return url.length > 1500 ? code(traceId, 100) : `<${url}|${escapeMrkdwn(traceId)}>`;
}

/**
 * The "requests affected" figure in words that fit the endpoint's findings: how many requests had
 * N+1 or write loops when it has any, otherwise how many ran its worst other finding (a count, which
 * the message shows as a share of the endpoint's requests).
 */
function affected(e: ReportEndpoint): { label: string; phrase: string; count: number } {
  if (e.findings.some((f) => f.kind === 'n_plus_one' || f.kind === 'repeated_write')) {
    return { label: 'Requests with N+1 loops', phrase: 'of requests with N+1 loops', count: e.requestsAffected };
  }
  const worst = e.findings[0];
  switch (worst?.kind) {
    case 'slow_query':
      return { label: 'Requests running the slow query', phrase: 'of requests running the slow query', count: worst.requestsAffected };
    case 'hot_lookup':
      return { label: 'Requests repeating the lookup', phrase: 'of requests repeating the lookup', count: worst.requestsAffected };
    case 'sync_fanout':
      return { label: 'Requests with serial outbound calls', phrase: 'of requests with serial outbound calls', count: worst.requestsAffected };
    default:
      return { label: 'Requests with findings', phrase: 'of requests with findings', count: worst?.requestsAffected ?? 0 };
  }
}

function endpointBlocks(c: Context, item: Item): SlackBlock[] {
  const e = item.endpoint;
  const total = wasted(e);
  const field = (label: string, value: string): Mrkdwn => ({ type: 'mrkdwn', text: clip(`*${label}*\n${value}`, SLACK_LIMITS.fieldText) });
  let wastedValue = totalTime(total);
  if (c.previous !== undefined && c.window !== undefined) wastedValue += `\n${change(total, c.previous.get(key(e)) ?? 0, totalTime, c.window)}`;
  const blocks: SlackBlock[] = [
    { type: 'divider' },
    {
      type: 'section',
      text: sectionText(`*${item.rank}. ${code(e.endpoint, 300)}*${c.who.many ? ` · ${clipMrkdwn(e.service || '(no service.name)', 100)}` : ''}`),
      fields: [
        field('Queries / request (p50)', int(e.queriesPerRequest.p50)),
        field('Wasted DB time / request', ms(wastedPerRequest(e))),
        field(affected(e).label, `${percent(affected(e).count, e.requests)} (${int(affected(e).count)} of ${int(e.requests)})`),
        field('DB time wasted', wastedValue),
      ],
    },
  ];
  // One method call per line, as the fix would be written in the view; Slack's code blocks wrap badly.
  const readable = wrapCode(e.fix, 88).join('\n');
  const fix = e.fix.trim() === '' ? null : codeBlock(readable, item.fixBudget - '*Fix*\n'.length);
  if (fix !== null) blocks.push({ type: 'section', text: sectionText(`*Fix*\n${fix}`) });
  const kinds = new Map<string, number>();
  for (const f of e.findings) kinds.set(KIND_LABEL[f.kind], (kinds.get(KIND_LABEL[f.kind]) ?? 0) + 1);
  const elements: Mrkdwn[] = [];
  const example = e.findings.find((f) => f.exampleTraceId !== '')?.exampleTraceId;
  if (example !== undefined) elements.push({ type: 'mrkdwn', text: `Example trace: ${traceLink(c, example)}` });
  // Where the loops run, once each: the lines a developer opens first.
  const places = [...new Set(e.findings.map((f) => formatLocation(f.location)).filter((at) => at !== ''))];
  if (places.length > 0) elements.push({ type: 'mrkdwn', text: clipMrkdwn(`Where: ${places.map((at) => `\`${at}\``).join(', ')}`, 500) });
  const fanout = e.findings.find((f) => f.syncFanout !== undefined)?.syncFanout;
  const kindText = [...kinds].map(([k, n]) => `${n} ${k}`).join(' · ');
  const fanoutText = fanout === undefined ? '' : ` (${ms(fanout.outboundMsPerRequest)}/request in serial outbound calls: not DB time)`;
  if (kinds.size > 0) elements.push({ type: 'mrkdwn', text: clipMrkdwn(`${kindText}${fanoutText}`, 500) });
  if (elements.length > 0) blocks.push({ type: 'context', elements });
  return blocks;
}

/** Notification text: names the service and the period, then one line per endpoint. */
function fallback(c: Context, items: Item[], part: number, parts: number): string {
  const { report, previous } = c.input;
  const s = report.summary;
  const periodText = c.window !== undefined ? `last ${c.window} (${c.range})` : `traces ${c.periodLong}`;
  const vs = previous === undefined || c.window === undefined ? '' : ` (${change(totalWasted(report), totalWasted(previous), totalTime, c.window)})`;
  const partText = parts > 1 ? ` (part ${part} of ${parts})` : '';
  const head =
    `n1lens digest for ${clip(c.who.long, 300)}, ${periodText}${partText}: ` +
    `${int(s.requests)} requests analysed, ${totalTime(totalWasted(report))} of DB time wasted${vs}` +
    `${c.input.partial === undefined ? '' : ` (${partialText(c.input.partial)})`}.`;
  const lines = [escapeMrkdwn(head)];
  let used = lines[0]?.length ?? 0;
  for (const [i, { endpoint: e, rank }] of items.entries()) {
    const line = escapeMrkdwn(
      `${rank}. ${clip(e.endpoint, 200)}: ${int(e.queriesPerRequest.p50)} ${e.queriesPerRequest.p50 === 1 ? 'query' : 'queries'}/request, ` +
        `${ms(wastedPerRequest(e))} of DB time wasted/request, ${percent(affected(e).count, e.requests)} ${affected(e).phrase}`,
    );
    const tail = `…and ${items.length - i} more`;
    if (used + 1 + line.length + 1 + tail.length > SLACK_LIMITS.fallbackText) {
      lines.push(tail);
      break;
    }
    lines.push(line);
    used += line.length + 1;
  }
  return clip(lines.join('\n'), SLACK_LIMITS.fallbackText);
}

function render(c: Context, items: Item[], part: number, parts: number): SlackMessage {
  const head: SlackBlock[] =
    part === 1
      ? [{ type: 'header', text: { type: 'plain_text', text: c.title, emoji: false } }, summaryBlock(c), ...serviceFindingsBlock(c)]
      : [{ type: 'context', elements: [{ type: 'mrkdwn', text: `*${escapeMrkdwn(c.title)}* · ${escapeMrkdwn(c.periodLong)}${c.input.partial === undefined ? '' : ' · partial'} · part ${part} of ${parts}` }] }];
  return { text: fallback(c, items, part, parts), blocks: [...head, ...items.flatMap((it) => endpointBlocks(c, it))] };
}

const fits = (m: SlackMessage): boolean =>
  m.blocks.length <= SLACK_LIMITS.blocksPerMessage && JSON.stringify(m).length <= SLACK_LIMITS.messageChars;

/** Fix budgets tried, in turn, for an endpoint that does not fit a message on its own. */
const FIX_BUDGETS = [SLACK_LIMITS.sectionText, 1500, 700, 300, 0];

/**
 * The digest as one or more webhook messages: a header, a summary (requests, DB time wasted, and the
 * change against the previous period when the store gave one), then the worst endpoints by wasted
 * DB time, each with its figures, combined fix and example trace. Endpoints that do not fit one
 * message (50 blocks, ~12k characters) go on in further messages, each naming the service and period.
 *
 * @example
 * const messages = buildDigest(await digestFromStore(store, { windowMs: parseDuration('24h') }), { top: 5 });
 * await sendDigest(webhookUrl, messages);
 */
export function buildDigest(input: DigestInput, options: BlocksOptions = {}): SlackMessage[] {
  const c = prepare(input, options);
  // Pack with the widest part label there can be (never more parts than endpoints, plus the first),
  // so the real numbering can only shrink a message.
  const WIDE = Math.max(9, c.listed.length + 1);
  const groups: Item[][] = [[]];
  c.listed.forEach((endpoint, i) => {
    const item: Item = { endpoint, rank: i + 1, fixBudget: FIX_BUDGETS[0] ?? 0 };
    const current = groups[groups.length - 1] ?? [];
    const part = groups.length;
    if (fits(render(c, [...current, item], part, WIDE))) {
      current.push(item);
      return;
    }
    const alone = current.length === 0 ? part : part + 1;
    for (const budget of FIX_BUDGETS) {
      item.fixBudget = budget;
      if (fits(render(c, [item], alone, WIDE))) break;
    }
    if (current.length === 0) current.push(item);
    else groups.push([item]);
  });
  return groups.map((items, i) => render(c, items, i + 1, groups.length));
}
