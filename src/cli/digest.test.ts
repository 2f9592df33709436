/** `n1lens digest` end to end in-process: dry run, posting, exit codes, the env var. */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import type { SlackMessage } from '../digest/blocks.js';
import { fakeSlack, type FakeSlack } from '../digest/testing.js';
import { SqliteStore as Store } from '../store/sqlite.js';
import { digestCommand, runDigest, WEBHOOK_ENV, type DigestCliOptions, type DigestIo } from './digest.js';
import { CliError } from './errors.js';
import { tempDir } from '../../test/support.js';

const fixture = new URL('../otlp/testdata/django-sqlite-stable-semconv.otlp.pb', import.meta.url).pathname;
const dir = tempDir('digest-cli');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let slack: FakeSlack | undefined;
afterEach(async () => {
  await slack?.close();
  slack = undefined;
  vi.restoreAllMocks();
});

function io(): DigestIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, stdout: (t) => void out.push(t), stderr: (t) => void err.push(t), send: { backoffMs: 0 } };
}

/** The command's own defaults, detector thresholds included. */
const defaults = digestCommand().opts<DigestCliOptions>();

async function usageError(files: string[], opts: Partial<DigestCliOptions>): Promise<CliError> {
  try {
    await runDigest(files, { ...defaults, ...opts }, io());
  } catch (e) {
    expect(e).toBeInstanceOf(CliError);
    return e as CliError;
  }
  throw new Error('expected a CliError');
}

describe('n1lens digest', () => {
  it('--dry-run prints the payload JSON and makes no request', async () => {
    slack = await fakeSlack();
    const x = io();
    const code = await runDigest([fixture], { ...defaults, dryRun: true, webhookUrl: slack.url, traceUrl: 'https://tempo.example.com/trace/{traceId}' }, x);
    expect(code).toBe(0);
    expect(slack.requests).toHaveLength(0);
    const messages = JSON.parse(x.out.join('')) as SlackMessage[];
    expect(messages).toHaveLength(1);
    expect(messages[0]?.blocks[0]).toMatchObject({ type: 'header', text: { type: 'plain_text' } });
    expect(messages[0]?.text).toMatch(/^n1lens digest for \S+, traces \d{4}-\d\d-\d\d \d\d:\d\d → .* UTC, .*django-sqlite-stable-semconv\.otlp\.pb: 4 requests analysed/);
    expect(JSON.stringify(messages)).toContain('GET dashboard/');
    expect(JSON.stringify(messages)).toMatch(/<https:\/\/tempo\.example\.com\/trace\/[0-9a-f]{32}\|/);
    expect(x.out.join('')).not.toContain(slack.secret);
  });

  it('--top 0 posts the summary alone, with the findings it has, never "nothing to fix"', async () => {
    const x = io();
    expect(await runDigest([fixture], { ...defaults, dryRun: true, top: 0 }, x)).toBe(0);
    const payload = x.out.join('');
    expect(payload).not.toContain('No findings in this period');
    expect(payload).toMatch(/\*Findings:\* \d+ on \d+ endpoints? \(none listed: top 0\)/);
  });

  it('counts the queries of trace files that ran outside any request (a script, migrations) in the summary', async () => {
    const at = (ms: number): string => String(BigInt(Date.parse('2025-01-13T09:00:00Z') + ms) * 1_000_000n);
    const resource = { attributes: [{ key: 'service.name', value: { stringValue: 'recruit' } }] };
    const spans = Array.from({ length: 12 }, (_, i) => ({
      traceId: (i + 1).toString(16).padStart(32, '0'),
      spanId: (i + 1).toString(16).padStart(16, '0'),
      name: 'SELECT',
      kind: 3,
      startTimeUnixNano: at(i * 10),
      endTimeUnixNano: at(i * 10 + 1),
      attributes: [
        { key: 'db.system', value: { stringValue: 'postgresql' } },
        { key: 'db.statement', value: { stringValue: `SELECT "recruit_job"."id" FROM "recruit_job" WHERE "recruit_job"."id" = ${i}` } },
      ],
    }));
    const file = join(dir, 'a-script.jsonl');
    writeFileSync(file, JSON.stringify({ resourceSpans: [{ resource, scopeSpans: [{ scope: { name: 'opentelemetry.instrumentation.psycopg' }, spans }] }] }) + '\n');
    const x = io();
    expect(await runDigest([fixture, file], { ...defaults, dryRun: true }, x)).toBe(0);
    expect(x.out.join('')).toContain('*Queries outside any request:* 12 (scripts, management commands, migrations: not analysed)');
  });

  it('--dry-run needs no webhook URL', async () => {
    const x = io();
    expect(await runDigest([fixture], { ...defaults, dryRun: true }, x)).toBe(0);
    expect(() => JSON.parse(x.out.join(''))).not.toThrow();
  });

  it('posts the digest to the webhook and says so without the URL', async () => {
    slack = await fakeSlack();
    const x = io();
    expect(await runDigest([fixture], { ...defaults, webhookUrl: slack.url, top: 1 }, x)).toBe(0);
    expect(slack.requests).toHaveLength(1);
    const body = slack.requests[0]?.body as SlackMessage;
    expect(body.text).toMatch(/^n1lens digest for /);
    expect(body.text.split('\n')).toHaveLength(2);
    expect(x.err.join('')).toBe('n1lens digest: posted 1 message to Slack (1 endpoint)\n');
    expect(x.err.join('')).not.toContain(slack.secret);
  });

  it('exits 1 with a clear message, and no URL, when Slack answers invalid_payload', async () => {
    slack = await fakeSlack([{ status: 400, body: 'invalid_payload' }]);
    const e = await usageError([fixture], { webhookUrl: slack.url });
    expect(e.exitCode).toBe(1);
    expect(e.message).toContain('HTTP 400 invalid_payload');
    expect(e.message).not.toContain(slack.secret);
  });

  it('exits 1 on channel_not_found', async () => {
    slack = await fakeSlack([{ status: 404, body: 'channel_not_found' }]);
    const e = await usageError([fixture], { webhookUrl: slack.url });
    expect(e.exitCode).toBe(1);
    expect(e.message).toContain("channel_not_found: the webhook's channel no longer exists");
  });

  it('reads the store window with --db and compares it with the one before', async () => {
    const db = join(dir, 'empty.db');
    Store.open(db).close();
    const x = io();
    await runDigest([], { ...defaults, db, since: '7d', dryRun: true }, { ...x, nowMs: Date.parse('2025-01-14T09:30:00Z') });
    const [m] = JSON.parse(x.out.join('')) as SlackMessage[];
    expect(m?.text).toBe(
      'n1lens digest for all services (none seen), last 7d (2025-01-07 09:00 → 2025-01-14 09:30 UTC): 0 requests analysed, ' +
        '0 ms of DB time wasted (none in the previous 7d either).',
    );
  });

  it('refuses unusable arguments with exit code 2', async () => {
    const cases: [string[], Partial<DigestCliOptions>, RegExp][] = [
      [[], {}, /nothing to digest/],
      [[fixture], { db: 'x.db' }, /not both/],
      [[fixture], { since: '24h', dryRun: true }, /--since applies to --db/],
      [[fixture], {}, new RegExp(`no Slack webhook URL: pass --webhook-url or set ${WEBHOOK_ENV}`)],
      [[fixture], { webhookUrl: 'hooks.slack.com/services/T/B/topsecret' }, /^--webhook-url is not an http\(s\) URL/],
      [[fixture], { dryRun: true, traceUrl: 'https://jaeger/trace/' }, /must contain \{traceId\}/],
      [[], { db: join(dir, 'missing.db'), dryRun: true }, /no such store/],
    ];
    for (const [files, opts, message] of cases) {
      const e = await usageError(files, opts);
      expect(e.exitCode, String(message)).toBe(2);
      expect(e.message).toMatch(message);
      expect(e.message).not.toContain('topsecret');
    }
  });

  it(`takes the webhook URL from ${WEBHOOK_ENV}`, async () => {
    slack = await fakeSlack();
    vi.stubEnv(WEBHOOK_ENV, slack.url);
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const exitCode = process.exitCode;
    try {
      await digestCommand().parseAsync([fixture, '--top', '2'], { from: 'user' });
      expect(process.exitCode).toBe(0);
    } finally {
      process.exitCode = exitCode;
      vi.unstubAllEnvs();
    }
    expect(slack.requests).toHaveLength(1);
    expect(write).toHaveBeenCalledWith('n1lens digest: posted 1 message to Slack (1 endpoint)\n');
  });
});
