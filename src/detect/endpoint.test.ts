import { describe, expect, it } from 'vitest';
import { createSqlNormalizer } from '../sql/index.js';
import { detectEndpoint, type EndpointDetectOptions } from './endpoint.js';
import { analyseRequest } from './request.js';
import { RollupSet } from './rollup.js';
import { APPLICATIONS, AUTH_USER, SESSION, requestOf, type RequestShape, type Step } from './testing.js';

const normalize = createSqlNormalizer();

function findingsOf(requests: { steps: Step[]; shape?: RequestShape }[], options: EndpointDetectOptions = {}) {
  const set = new RollupSet();
  requests.forEach((r, i) => set.add(analyseRequest(requestOf('POST x/', r.steps, { traceId: i.toString(16).padStart(32, '0'), ...r.shape }), normalize)));
  const [rollup] = set.values();
  return rollup === undefined ? [] : detectEndpoint(rollup, options);
}

const candidateByExternalId = (i: number): string =>
  `SELECT "recruit_candidate"."id", "recruit_candidate"."name", "recruit_candidate"."external_id" FROM "recruit_candidate" WHERE "recruit_candidate"."external_id" = 'ext-${i}' LIMIT 21`;
const insertNote = "INSERT INTO \"recruit_note\" (\"application_id\", \"body\") VALUES (1, 'x') RETURNING \"recruit_note\".\"id\"";

describe('hot_lookup', () => {
  // The ATS webhook: the same unique-key read on every call, 20 calls a second apart.
  const webhook = Array.from({ length: 20 }, (_, i) => ({ steps: [candidateByExternalId(i), insertNote], shape: { startMs: i * 1000 } }));

  it('flags a single-row lookup that runs in every request of an endpoint, with its daily rate', () => {
    const [hot] = findingsOf(webhook).filter((f) => f.kind === 'hot_lookup');
    expect(hot?.kind).toBe('hot_lookup');
    if (hot?.kind !== 'hot_lookup') return;
    expect(hot.facts.table).toBe('recruit_candidate');
    expect(hot.hotLookup.shareOfRequests).toBe(1);
    expect(hot.hotLookup.observedCalls).toBe(20);
    // 20 calls in 19 s: far too short to project a day, so no daily rate at all.
    expect(hot.hotLookup.callsPerDay).toBeNull();
    expect(hot.hotLookup.dbMsPerDay).toBeNull();
    expect(hot.wastedMs).toBeCloseTo(20);
  });

  it('gives the daily rate over the observed window once there are ten minutes of it', () => {
    const slow = Array.from({ length: 20 }, (_, i) => ({ steps: [candidateByExternalId(i), insertNote], shape: { startMs: i * 60_000 } }));
    const [hot] = findingsOf(slow).filter((f) => f.kind === 'hot_lookup');
    if (hot?.kind !== 'hot_lookup') throw new Error('no hot_lookup');
    // 20 calls over 19 minutes -> 20 / 19 min × 1440 min ≈ 1,516/day.
    expect(hot.hotLookup.callsPerDay).toBeCloseTo((20 / (19 * 60_000)) * 86_400_000, 0);
  });

  it('ignores the session and auth_user lookups every logged-in request makes', () => {
    const dashboards = Array.from({ length: 20 }, (_, i) => ({ steps: [SESSION, AUTH_USER, APPLICATIONS], shape: { startMs: i * 1000 } }));
    expect(findingsOf(dashboards).filter((f) => f.kind === 'hot_lookup')).toEqual([]);
  });

  it('needs enough requests, a high enough share and rate, all configurable', () => {
    expect(findingsOf(webhook.slice(0, 9)).some((f) => f.kind === 'hot_lookup')).toBe(false);
    expect(findingsOf(webhook.slice(0, 9), { hotLookupMinRequests: 5 }).some((f) => f.kind === 'hot_lookup')).toBe(true);
    const mixed = webhook.map((r, i) => (i % 3 === 0 ? { ...r, steps: [insertNote] } : r));
    expect(findingsOf(mixed).some((f) => f.kind === 'hot_lookup')).toBe(false);
    expect(findingsOf(mixed, { hotLookupMinShare: 0.6 }).some((f) => f.kind === 'hot_lookup')).toBe(true);
    // The per-day threshold applies once there is a daily rate (ten minutes of traffic), not before.
    expect(findingsOf(webhook, { hotLookupMinPerDay: 100_000 }).some((f) => f.kind === 'hot_lookup')).toBe(true);
    const spread = webhook.map((r, i) => ({ ...r, shape: { startMs: i * 60_000 } }));
    expect(findingsOf(spread, { hotLookupMinPerDay: 100_000 }).some((f) => f.kind === 'hot_lookup')).toBe(false);
    expect(findingsOf(spread, { hotLookupMinPerDay: 1000 }).some((f) => f.kind === 'hot_lookup')).toBe(true);
  });

  it('is no finding of a test suite: twenty tests of the webhook are no traffic to cache for', () => {
    expect(findingsOf(webhook, { testSuite: true }).some((f) => f.kind === 'hot_lookup')).toBe(false);
    expect(findingsOf(webhook, { testSuite: true, hotLookupMinRequests: 1, hotLookupMinShare: 0 }).some((f) => f.kind === 'hot_lookup')).toBe(false);
  });
});

describe('sync_fanout', () => {
  const submit = (outbound: [number, boolean][]) => [{ steps: [SESSION, AUTH_USER, insertNote], shape: { outbound } }];

  it('flags three or more serial outbound calls taking most of the request', () => {
    const [f] = findingsOf(submit([[40, false], [40, false], [40, false], [60, false]]));
    expect(f?.kind).toBe('sync_fanout');
    if (f?.kind !== 'sync_fanout') return;
    expect(f.syncFanout.callsPerRequest).toBe(4);
    expect(f.syncFanout.outboundMsPerRequest).toBe(180);
    expect(f.syncFanout.peers).toEqual(['hr.example']);
  });

  it('ignores calls made in parallel, fewer than three, or a small share of the request', () => {
    expect(findingsOf(submit([[40, false], [40, true], [40, true]]))).toEqual([]);
    expect(findingsOf(submit([[40, false], [40, false]]))).toEqual([]);
    const slowDb = [{ steps: [{ sql: APPLICATIONS, ms: 500 }], shape: { outbound: [[5, false], [5, false], [5, false]] as [number, boolean][] } }];
    expect(findingsOf(slowDb).filter((f) => f.kind === 'sync_fanout')).toEqual([]);
  });
});

describe('slow_query', () => {
  const pipeline =
    'SELECT "recruit_application"."id", "recruit_application"."created" FROM "recruit_application" WHERE ("recruit_application"."user_id" = %s AND "recruit_application"."status_id" = %s AND "recruit_application"."created" >= %s) ORDER BY "recruit_application"."created" DESC LIMIT 100';

  it('flags a fingerprint whose p95 reaches --slow-ms', () => {
    const requests = Array.from({ length: 5 }, (_, i) => ({ steps: [SESSION, { sql: pipeline, ms: 180 + i * 10 }] }));
    const slow = findingsOf(requests).find((f) => f.kind === 'slow_query');
    expect(slow?.kind).toBe('slow_query');
    if (slow?.kind !== 'slow_query') return;
    expect(slow.slowQuery.p95Ms).toBeGreaterThanOrEqual(220 * 0.96);
    expect(slow.slowQuery.p95Ms).toBeLessThanOrEqual(220 * 1.04);
    expect(findingsOf(requests, { slowMs: 500 }).some((f) => f.kind === 'slow_query')).toBe(false);
  });
});
