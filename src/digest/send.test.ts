/** Sending against a real local HTTP server standing in for Slack: retries, refusals, and no leaked URL. */
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { SlackMessage } from './blocks.js';
import { SlackSendError, checkWebhookUrl, retryAfterMs, sendDigest } from './send.js';
import { fakeSlack, type FakeAnswer, type FakeSlack } from './testing.js';

const message = (n: number): SlackMessage => ({
  text: `n1lens digest for recruit, last 24h: part ${n}`,
  blocks: [{ type: 'section', text: { type: 'mrkdwn', text: `*part ${n}*` } }],
});

let slack: FakeSlack | undefined;
afterEach(async () => {
  await slack?.close();
  slack = undefined;
});

async function start(answers: FakeAnswer[] = []): Promise<FakeSlack> {
  slack = await fakeSlack(answers);
  return slack;
}

/** Runs a send expected to fail and returns its error. */
async function failure(promise: Promise<unknown>): Promise<SlackSendError> {
  try {
    await promise;
  } catch (e) {
    expect(e).toBeInstanceOf(SlackSendError);
    return e as SlackSendError;
  }
  throw new Error('expected the send to fail');
}

function expectNoSecret(error: Error, s: FakeSlack): void {
  const shown = `${error.message}\n${error.stack ?? ''}\n${JSON.stringify(error)}`;
  expect(shown).not.toContain(s.secret);
  expect(shown).not.toContain(s.url);
  expect(shown).not.toContain('/services/');
}

describe('sendDigest', () => {
  it('posts each message as the JSON body Slack expects, in order', async () => {
    const s = await start();
    const result = await sendDigest(s.url, [message(1), message(2)]);
    expect(result).toEqual({ messages: 2, attempts: 2 });
    expect(s.requests.map((r) => r.method)).toEqual(['POST', 'POST']);
    expect(s.requests[0]?.headers['content-type']).toBe('application/json');
    expect(s.requests.map((r) => r.body)).toEqual([message(1), message(2)]);
  });

  it('waits the Retry-After of a 429 and tries again', async () => {
    const s = await start([{ status: 429, body: 'rate_limited', headers: { 'Retry-After': '0' } }, { status: 200, body: 'ok' }]);
    const result = await sendDigest(s.url, [message(1)]);
    expect(result.attempts).toBe(2);
    expect(s.requests).toHaveLength(2);
    expect(s.requests[1]?.body).toEqual(message(1));
  });

  it('waits as long as Retry-After says', async () => {
    const s = await start([{ status: 429, headers: { 'Retry-After': '1' } }, { status: 200 }]);
    const waits: number[] = [];
    await sendDigest(s.url, [message(1)], { sleep: async (ms) => void waits.push(ms) });
    expect(waits).toEqual([1000]);

    // And for real: the second request comes no sooner than a second after the first.
    const t0 = Date.now();
    const real = await fakeSlack([{ status: 429, headers: { 'Retry-After': '1' } }, { status: 200 }]);
    try {
      await sendDigest(real.url, [message(1)]);
    } finally {
      await real.close();
    }
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
  });

  it('gives up on a 429 after a bounded number of retries, without the URL in the error', async () => {
    const s = await start([{ status: 429, body: 'rate_limited', headers: { 'Retry-After': '0' } }]);
    const e = await failure(sendDigest(s.url, [message(1)], { maxRetries: 2 }));
    expect(s.requests).toHaveLength(3);
    expect(e.code).toBe('rate_limited');
    expect(e.status).toBe(429);
    expect(e.message).toMatch(/rate-limited .* gave up after 3 attempts/);
    expectNoSecret(e, s);
  });

  it('fails at once when Slack asks to wait longer than it is willing to', async () => {
    const s = await start([{ status: 429, headers: { 'Retry-After': '3600' } }]);
    const e = await failure(sendDigest(s.url, [message(1)], { maxRetryAfterMs: 60_000 }));
    expect(s.requests).toHaveLength(1);
    expect(e.message).toContain('asked to wait 3600 s, more than 60 s');
  });

  it('reports invalid_payload as a clear error, without retrying and without the URL', async () => {
    const s = await start([{ status: 400, body: 'invalid_payload' }]);
    const e = await failure(sendDigest(s.url, [message(1)]));
    expect(s.requests).toHaveLength(1);
    expect(e).toMatchObject({ code: 'invalid_payload', status: 400 });
    expect(e.message).toBe('Slack refused the digest: HTTP 400 invalid_payload: the message is not valid Block Kit; run with --dry-run to see it');
    expectNoSecret(e, s);
  });

  it('reports channel_not_found (404) and channel_is_archived (410) with what to do', async () => {
    const s = await start([{ status: 404, body: 'channel_not_found' }]);
    const notFound = await failure(sendDigest(s.url, [message(1)]));
    expect(notFound).toMatchObject({ code: 'channel_not_found', status: 404 });
    expect(notFound.message).toContain("the webhook's channel no longer exists");
    expectNoSecret(notFound, s);

    const archived = await fakeSlack([{ status: 410, body: 'channel_is_archived' }]);
    try {
      const e = await failure(sendDigest(archived.url, [message(1)]));
      expect(e).toMatchObject({ code: 'channel_is_archived', status: 410 });
      expect(e.message).toContain('archived; unarchive it');
      expectNoSecret(e, archived);
    } finally {
      await archived.close();
    }
  });

  it('says which message failed when an earlier one was already posted', async () => {
    const s = await start([{ status: 200 }, { status: 400, body: 'invalid_blocks' }]);
    const e = await failure(sendDigest(s.url, [message(1), message(2), message(3)]));
    expect(e.message).toMatch(/^Slack refused message 2 of 3 \(1 of 3 already posted\): HTTP 400 invalid_blocks/);
    expect(s.requests).toHaveLength(2);
  });

  it('does not repeat a body that is not a Slack error token (a proxy page could hold anything)', async () => {
    const s = await start([{ status: 403, body: `<html>denied for ${'x'.repeat(10)}</html>` }]);
    const e = await failure(sendDigest(s.url, [message(1)]));
    expect(e.message).toBe('Slack refused the digest: HTTP 403');
  });

  it('retries a 5xx with back-off', async () => {
    const s = await start([{ status: 503, body: 'service_unavailable' }, { status: 200 }]);
    const waits: number[] = [];
    const result = await sendDigest(s.url, [message(1)], { backoffMs: 5, sleep: async (ms) => void waits.push(ms) });
    expect(result.attempts).toBe(2);
    expect(waits).toEqual([5]);
  });

  it('reports an unreachable Slack by error code only', async () => {
    // A port that was just free: connecting to it is refused.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const url = `http://127.0.0.1:${port}/services/T0001/B0001/XXXXsecretXXXX`;
    const e = await failure(sendDigest(url, [message(1)], { maxRetries: 1, backoffMs: 0 }));
    expect(e.code).toBe('request_failed');
    expect(e.message).toBe('could not reach Slack (ECONNREFUSED) while posting the digest; gave up after 2 attempts');
    expect(e.message).not.toContain('XXXXsecretXXXX');
  });
});

describe('checkWebhookUrl', () => {
  it('refuses what is not an http(s) URL without quoting it', () => {
    for (const bad of ['hooks.slack.com/services/T/B/secretvalue', 'ftp://x/secretvalue', 'secretvalue']) {
      expect(() => checkWebhookUrl(bad, 'N1LENS_SLACK_WEBHOOK_URL')).toThrow(/^N1LENS_SLACK_WEBHOOK_URL is not an http\(s\) URL/);
      try {
        checkWebhookUrl(bad);
      } catch (e) {
        expect((e as Error).message).not.toContain('secretvalue');
      }
    }
    expect(() => checkWebhookUrl('https://hooks.slack.com/services/T/B/x')).not.toThrow();
  });
});

describe('retryAfterMs', () => {
  it('reads seconds or an HTTP date, and falls back to one second', () => {
    expect(retryAfterMs('0')).toBe(0);
    expect(retryAfterMs('30')).toBe(30_000);
    expect(retryAfterMs('Tue, 14 Jan 2025 09:00:10 GMT', Date.parse('2025-01-14T09:00:00Z'))).toBe(10_000);
    expect(retryAfterMs(null)).toBe(1000);
    expect(retryAfterMs('soon')).toBe(1000);
  });
});
