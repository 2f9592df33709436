/** Block Kit output: ranking, figures, escaping, and Slack's limits on a huge report. */
import { describe, expect, it } from 'vitest';
import type { Report, ReportEndpoint, ReportFinding } from '../report/model.js';
import { buildDigest, codeBlock, type SlackMessage } from './blocks.js';
import type { DigestInput } from './source.js';
import { sections } from './testing.js';
import { finding as reportFinding } from '../../test/report-fixture.js';

const DAY = { sinceMs: Date.parse('2025-01-13T09:00Z'), untilMs: Date.parse('2025-01-14T09:00Z'), window: '24h' };
const DASHBOARD_FIX = "Application.objects.select_related('candidate', 'job__company', 'status').annotate(notes_count=Count('notes'))";

/** The dashboard's candidate loop (test/report-fixture.ts's finding), without a code location. */
function finding(over: Partial<ReportFinding> = {}): ReportFinding {
  const { location: _, ...f } = reportFinding('GET dashboard/', {
    table: 'recruit_candidate',
    fingerprint: '9f2c0000aaaabbbb',
    sql: 'SELECT … FROM "recruit_candidate" WHERE "recruit_candidate"."id" = ? LIMIT ?',
    repeatsPerRequest: { p50: 50, max: 50 },
    requestsAffected: 1,
    wastedMs: 0,
    trigger: { fingerprint: '1111222233334444', table: 'recruit_application' },
    chain: ['candidate'],
    suggestion: { method: 'select_related', path: 'candidate', code: ".select_related('candidate')", confidence: 'exact' },
    exampleTraceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  });
  return { ...f, signature: '0123456789abcdef', ...over };
}

/** An endpoint whose findings waste `wastedMsPerRequest` on each of its requests. */
function endpoint(name: string, requests: number, wastedMsPerRequest: number, over: Partial<ReportEndpoint> = {}): ReportEndpoint {
  return {
    endpoint: name,
    service: 'recruit',
    requests,
    queriesPerRequest: { p50: 187, max: 190 },
    wastedMsPerRequest,
    requestsAffected: requests,
    fix: DASHBOARD_FIX,
    findings: [finding({ wastedMs: wastedMsPerRequest * requests, requestsAffected: requests })],
    ...over,
  };
}

function report(endpoints: ReportEndpoint[]): Report {
  return {
    n1lensReport: 1,
    summary: {
      requests: endpoints.reduce((s, e) => s + e.requests, 0),
      dbSpans: 0,
      findings: endpoints.reduce((s, e) => s + e.findings.length, 0),
      wastedMs: endpoints.reduce((s, e) => s + e.findings.reduce((t, f) => t + f.wastedMs, 0), 0),
    },
    endpoints,
  };
}

const input = (endpoints: ReportEndpoint[], over: Partial<DigestInput> = {}): DigestInput => ({ report: report(endpoints), period: DAY, ...over });

/** Slack's limits, checked independently of the constants the builder uses. */
function slackViolations(m: SlackMessage): string[] {
  const bad: string[] = [];
  if (m.blocks.length > 50) bad.push(`${m.blocks.length} blocks`);
  if (JSON.stringify(m).length > 12_000) bad.push(`${JSON.stringify(m).length} characters`);
  if (m.text.length === 0 || m.text.length > 3000) bad.push(`fallback text of ${m.text.length}`);
  for (const b of m.blocks) {
    if (b.type === 'header' && (b.text.text.length > 150 || b.text.type !== 'plain_text')) bad.push('header');
    if (b.type === 'section') {
      if (b.text !== undefined && b.text.text.length > 3000) bad.push(`section text of ${b.text.text.length}`);
      if ((b.fields ?? []).length > 10) bad.push('more than 10 fields');
      for (const f of b.fields ?? []) if (f.text.length > 2000) bad.push(`field of ${f.text.length}`);
      if (b.text === undefined && b.fields === undefined) bad.push('empty section');
    }
    if (b.type === 'context' && (b.elements.length === 0 || b.elements.length > 10)) bad.push('context elements');
  }
  for (const t of [m.text, ...sections(m)]) {
    if ((t.match(/```/g) ?? []).length % 2 !== 0) bad.push('unclosed code fence');
    if (/[<>]/.test(t.replace(/<https?:[^|>]+\|[^>]+>/g, ''))) bad.push(`unescaped < or > in ${t.slice(0, 60)}`);
    if (/&(?!amp;|lt;|gt;)/.test(t)) bad.push('unescaped &');
  }
  return bad;
}

describe('buildDigest', () => {
  it('ranks endpoints by DB time wasted over the period (per request × traffic), worst first', () => {
    const [m] = buildDigest(
      input([endpoint('GET rare/', 10, 100), endpoint('GET busy/', 1000, 5), endpoint('GET clean/', 50, 0, { findings: [], fix: '' })]),
    );
    const titles = sections(m!).filter((t) => /^\*\d+\. /.test(t));
    expect(titles).toEqual(['*1. `GET busy/`*', '*2. `GET rare/`*']);
    expect(m!.text).toMatch(/1\. GET busy\/.*\n2\. GET rare\//);
  });

  it('shows the figures, the fix as a code block and a linked example trace for each endpoint', () => {
    const [m] = buildDigest(input([endpoint('GET dashboard/', 3, 540.1, { requestsAffected: 2 })]), {
      traceUrl: 'https://jaeger.example.com/trace/{traceId}?uiFind=x&y=1',
    });
    const text = sections(m!).join('\n');
    expect(text).toContain('*Queries / request (p50)*\n187');
    expect(text).toContain('*Wasted DB time / request*\n540.1 ms');
    expect(text).toContain('*Requests with N+1 loops*\n67% (2 of 3)');
    expect(text).toContain("*Fix*\n```\nApplication.objects.select_related('candidate', 'job__company', 'status')");
    expect(text).toContain(
      'Example trace: <https://jaeger.example.com/trace/4bf92f3577b34da6a3ce929d0e0e4736?uiFind=x&amp;y=1|4bf92f3577b34da6a3ce929d0e0e4736>',
    );
    expect(m!.blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: 'n1lens digest: recruit · last 24h', emoji: false } });
    expect(slackViolations(m!)).toEqual([]);
  });

  it('keeps the fix’s read-instead lines and a ModelAdmin’s indentation in the code block', () => {
    const fix = [
      "Application.objects.annotate(notes_count=Count('notes'))",
      '# then read application.notes_count, not application.notes.count()',
      'class BookAdmin(admin.ModelAdmin):',
      "    list_select_related = ('author', 'publisher')",
    ].join('\n');
    const [m] = buildDigest(input([endpoint('GET admin/library/book/', 3, 40, { fix })]));
    const text = sections(m!).join('\n');
    expect(text).toContain('# then read application.notes_count, not application.notes.count()');
    expect(text).toContain("class BookAdmin(admin.ModelAdmin):\n    list_select_related = ('author', 'publisher')");
  });

  it('shows the example trace id as code when no --trace-url is given', () => {
    const [m] = buildDigest(input([endpoint('GET dashboard/', 3, 10)]));
    expect(sections(m!).join('\n')).toContain('Example trace: `4bf92f3577b34da6a3ce929d0e0e4736`');
  });

  it('names the period and the service in the summary and in the notification text', () => {
    const [m] = buildDigest(input([endpoint('GET dashboard/', 3, 10)], { service: 'recruit' }));
    expect(sections(m!)[0]).toContain('*Period:* 2025-01-13 09:00 → 2025-01-14 09:00 UTC (last 24h)\n*Service:* recruit');
    expect(m!.text).toMatch(/^n1lens digest for recruit, last 24h \(2025-01-13 09:00 → 2025-01-14 09:00 UTC\): 3 requests analysed, 30 ms of DB time wasted\./);
  });

  it('names every service seen when the report is not filtered to one', () => {
    const [m] = buildDigest(input([endpoint('GET a/', 3, 10), endpoint('GET b/', 3, 5, { service: 'billing' })]));
    expect(m!.blocks[0]).toMatchObject({ text: { text: 'n1lens digest: 2 services · last 24h' } });
    expect(m!.text).toMatch(/^n1lens digest for 2 services: billing, recruit, last 24h/);
    expect(sections(m!).join('\n')).toContain('*2. `GET b/`* · billing');
  });

  it('names trace files as the source when the digest is not from the store', () => {
    const [m] = buildDigest(
      input([endpoint('GET dashboard/', 3, 10)], {
        period: { sinceMs: Date.parse('2025-01-13T08:12Z'), untilMs: Date.parse('2025-01-13T10:12Z'), source: 'traces.jsonl.gz' },
      }),
    );
    expect(m!.blocks[0]).toMatchObject({ text: { text: 'n1lens digest: recruit · trace files' } });
    expect(m!.text).toMatch(/^n1lens digest for recruit, traces 2025-01-13 08:12 → 10:12 UTC, traces\.jsonl\.gz: /);
    expect(m!.text).not.toMatch(/previous/);
  });

  it('names a pull by the window it searched, with where it came from', () => {
    const period = { sinceMs: Date.parse('2025-01-12T10:12Z'), untilMs: Date.parse('2025-01-13T10:12Z'), source: 'Tempo at http://tempo:3200', pulled: true };
    const [rolling] = buildDigest(input([endpoint('GET dashboard/', 3, 10)], { period: { ...period, window: '24h' } }));
    expect(rolling!.blocks[0]).toMatchObject({ text: { text: 'n1lens digest: recruit · last 24h' } });
    expect(JSON.stringify(rolling!.blocks)).toContain('2025-01-12 10:12 → 2025-01-13 10:12 UTC (last 24h), Tempo at http://tempo:3200');
    const [fixed] = buildDigest(input([endpoint('GET dashboard/', 3, 10)], { period }));
    expect(fixed!.blocks[0]).toMatchObject({ text: { text: 'n1lens digest: recruit · pulled traces' } });
  });

  it('shows the change against the previous period, overall and per endpoint', () => {
    const now = [endpoint('GET dashboard/', 100, 50), endpoint('GET new/', 10, 10)];
    const before = report([endpoint('GET dashboard/', 80, 100)]);
    const [m] = buildDigest(input(now, { previous: before }));
    const text = sections(m!).join('\n');
    expect(text).toContain('*Requests analysed:* 110 (up 38% from 80 in the previous 24h)');
    expect(text).toContain('*DB time wasted:* 5.1 s (down 36% from 8.0 s in the previous 24h)');
    expect(text).toContain('*DB time wasted*\n5.0 s\ndown 38% from 8.0 s in the previous 24h');
    expect(text).toContain('*DB time wasted*\n100 ms\nnone in the previous 24h');
    expect(m!.text).toContain('5.1 s of DB time wasted (down 36% from 8.0 s in the previous 24h)');
  });

  it('keeps the top N', () => {
    const many = Array.from({ length: 12 }, (_, i) => endpoint(`GET e${i}/`, 10, 100 - i));
    const messages = buildDigest(input(many), { top: 3 });
    expect(messages).toHaveLength(1);
    expect(messages[0]!.text.split('\n')).toHaveLength(4);
    expect(sections(messages[0]!).join('\n')).toContain('*Worst endpoints:* 3 of 12 with findings');
  });

  it('top 0 is the summary alone, which still states the findings, never "nothing to fix"', () => {
    const two = [endpoint('GET a/', 10, 100), endpoint('GET b/', 10, 50, { findings: [finding({ wastedMs: 300 }), finding({ wastedMs: 200, kind: 'hot_lookup' })] })];
    const [m, more] = buildDigest(input(two), { top: 0 });
    expect(more).toBeUndefined();
    const text = sections(m!).join('\n');
    expect(text).toContain('*DB time wasted:* 1.5 s');
    expect(text).toContain('*Findings:* 3 on 2 endpoints (none listed: top 0)');
    expect(text).not.toContain('nothing to fix');
    expect(m!.blocks).toHaveLength(2);
    expect(m!.text).toContain('20 requests analysed, 1.5 s of DB time wasted');
  });

  it('counts a sync fan-out as latency, not DB time, and says so', () => {
    const fanout = endpoint('POST applications/submit/', 3, 300, {
      findings: [
        finding({
          kind: 'sync_fanout',
          wastedMs: 900,
          syncFanout: { callsPerRequest: 5, outboundMsPerRequest: 300, requestMsPerRequest: 420, peers: ['hr.example'] },
        }),
      ],
      fix: '# move the serial outbound calls to a task queue (see sync_fanout)',
    });
    const [m] = buildDigest(input([fanout, endpoint('GET dashboard/', 3, 10)]));
    const text = sections(m!).join('\n');
    expect(text.indexOf('GET dashboard/')).toBeLessThan(text.indexOf('POST applications/submit/'));
    expect(text).toContain('*DB time wasted:* 30 ms');
    expect(text).toContain('1 sync fan-out (300.0 ms/request in serial outbound calls: not DB time)');
  });

  it('escapes the characters mrkdwn reads as markup: Django routes have <int:pk>', () => {
    const [m] = buildDigest(input([endpoint('GET jobs/<int:pk>/ & more', 3, 10, { fix: "Job.objects.filter(a__lt=1) if a < b > c & d\n```\nx" })]));
    const text = sections(m!).join('\n');
    expect(text).toContain('`GET jobs/&lt;int:pk&gt;/ &amp; more`');
    expect(text).toContain('if a &lt; b &gt; c &amp; d');
    expect(m!.text).toContain('GET jobs/&lt;int:pk&gt;/ &amp; more');
    expect(slackViolations(m!)).toEqual([]);
  });

  it('says there is nothing to fix when no endpoint has a finding', () => {
    const [m] = buildDigest(input([endpoint('GET clean/', 40, 0, { findings: [], fix: '', requestsAffected: 0 })]));
    expect(m!.blocks).toHaveLength(2);
    expect(sections(m!)[0]).toContain('*No findings in this period: nothing to fix.*');
    expect(m!.text).toContain('40 requests analysed, 0 ms of DB time wasted');
  });

  it('keeps a huge report within every Slack limit by cutting fixes and splitting messages', () => {
    const long = (i: number): string =>
      i % 2 === 0
        ? Array.from({ length: 120 }, (_, l) => `Model${i}.objects.select_related('relation_${l}__deeper__path') & <stuff> "quoted"`).join('\n')
        : `Model${i}.objects.${'prefetch_related("x__y").'.repeat(250)}all()`;
    const endpoints = Array.from({ length: 200 }, (_, i) =>
      endpoint(`GET ${'very/long/path/'.repeat(i % 3 === 0 ? 80 : 1)}e${i}/<int:pk>/`, 1000 - i, 50, { fix: long(i), service: `svc-${'x'.repeat(200)}` }),
    );
    for (const e of endpoints) expect(e.fix.length).toBeGreaterThan(5000);
    const messages = buildDigest(input(endpoints, { service: `svc-${'x'.repeat(200)}` }), { top: 200, traceUrl: 'https://ui.honeycomb.io/t/trace?trace_id={traceId}' });

    expect(messages.length).toBeGreaterThan(1);
    for (const [i, m] of messages.entries()) {
      expect(slackViolations(m), `message ${i + 1}`).toEqual([]);
      // Every message names the period and the service, continuations included.
      expect(m.text).toContain('last 24h (2025-01-13 09:00 → 2025-01-14 09:00 UTC)');
      expect(m.text).toContain(`svc-${'x'.repeat(100)}`);
      expect(m.text).toContain(`(part ${i + 1} of ${messages.length})`);
    }
    const ranks = messages.flatMap((m) => sections(m).flatMap((t) => /^\*(\d+)\. /.exec(t)?.[1] ?? []).map(Number));
    expect(ranks).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    const fixes = messages.flatMap((m) => sections(m).filter((t) => t.startsWith('*Fix*')));
    expect(fixes).toHaveLength(200);
    for (const f of fixes) {
      expect(f).toMatch(/\n# … \(truncated, \d+ more lines?\)\n```$/);
      expect(f.length).toBeLessThanOrEqual(3000);
    }
    const header = messages[0]!.blocks[0];
    expect(header?.type === 'header' && header.text.text.length).toBe(150);
  });

  it('cuts a fix of one enormous line without splitting an escaped character', () => {
    const [m] = buildDigest(input([endpoint('GET x/', 3, 10, { fix: '&'.repeat(5000) })]));
    const fix = sections(m!).find((t) => t.startsWith('*Fix*'))!;
    expect(fix).toMatch(/^\*Fix\*\n```\n(&amp;)+…\n# … \(truncated, 1 more line\)\n```$/);
    expect(slackViolations(m!)).toEqual([]);
  });
});

describe('codeBlock', () => {
  it('returns the whole fix when it fits, fenced', () => {
    expect(codeBlock("a\nb", 100)).toBe('```\na\nb\n```');
  });

  it('drops whole lines from the end and says how many', () => {
    const lines = ['first line of code', 'second line of code', 'third line of code', 'fourth line of code'];
    const block = codeBlock(lines.join('\n'), 76);
    expect(block).toBe('```\nfirst line of code\nsecond line of code\n# … (truncated, 2 more lines)\n```');
    expect(block).toHaveLength(76);
  });

  it('gives up (null) when not even the truncation line fits', () => {
    expect(codeBlock('x'.repeat(100), 10)).toBeNull();
  });
});

describe('labels that fit the kind', () => {
  it('says "running the slow query" for an endpoint whose finding is a slow query, not "with N+1 loops"', () => {
    const slow = endpoint('GET reports/pipeline/', 3, 537, {
      requestsAffected: 0,
      findings: [finding({ kind: 'slow_query', requestsAffected: 3, wastedMs: 1611, chain: [], trigger: null })],
    });
    const text = JSON.stringify(buildDigest(input([slow])));
    expect(text).toContain('Requests running the slow query*\\n100% (3 of 3)');
    expect(text).toContain('100% of requests running the slow query');
    expect(text).not.toContain('N+1 loops');
  });
});

describe('a digest of a partial pull', () => {
  it('says it is partial in the summary, the notification text and every later part, and not otherwise', () => {
    const endpoints = Array.from({ length: 12 }, (_, i) => endpoint(`GET page${i}/`, 10, 5, { fix: 'x'.repeat(2900) }));
    const messages = buildDigest(input(endpoints, { period: { sinceMs: DAY.sinceMs, untilMs: DAY.untilMs, source: 'http://jaeger:16686' }, partial: { failed: 3 } }), { top: 12 });
    expect(messages.length).toBeGreaterThan(1);
    expect(sections(messages[0]!).join('\n')).toContain(':warning: *Partial:* 3 traces or searches failed to fetch after retries and are left out');
    expect(messages[0]!.text).toContain('(partial: 3 traces or searches failed to fetch after retries and are left out).');
    for (const later of messages.slice(1)) expect(JSON.stringify(later.blocks[0])).toContain(' · partial · part ');
    const whole = buildDigest(input(endpoints), { top: 12 });
    expect(JSON.stringify(whole)).not.toMatch(/partial/i);
  });
});
