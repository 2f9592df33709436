/** The classic Jaeger query API client (/api/traces) against answers shaped as Jaeger's: failures counted once, its `errors` list counted. */
import { describe, expect, test } from 'vitest';
import { openTraceSource, type PullStats } from './index.js';

const BASE_US = 1_760_000_000_000_000;

/** A Jaeger v1 trace of one SERVER span starting `atUs`. */
function jaegerTrace(traceID: string, atUs: number): object {
  return {
    traceID,
    spans: [{ traceID, spanID: traceID.slice(16), operationName: 'GET /', references: [], startTime: atUs, duration: 1000, tags: [{ key: 'span.kind', type: 'string', value: 'server' }], processID: 'p1' }],
    processes: { p1: { serviceName: 'shop', tags: [] } },
  };
}

/**
 * A Jaeger query service in a fetch: `traces` by start time, a search answering the newest `limit`
 * of those in [start, end] (as Jaeger does), with `errors` for the ids in `unloadable` that fall there.
 */
function fakeJaeger(traces: { id: string; atUs: number; body: unknown }[], unloadable: { id: string; atUs: number }[]): typeof fetch {
  return (async (input: string | URL | Request) => {
    const url = new URL(String(input));
    if (url.pathname === '/api/services') return Response.json({ data: ['shop'] });
    if (url.pathname !== '/api/traces') return new Response('404 page not found', { status: 404 });
    const [start, end, limit] = ['start', 'end', 'limit'].map((k) => Number(url.searchParams.get(k)));
    const inWindow = <T extends { atUs: number }>(list: T[]) => list.filter((t) => t.atUs >= start! && t.atUs <= end!);
    const data = inWindow(traces).sort((a, b) => b.atUs - a.atUs).slice(0, limit).map((t) => t.body);
    const errors = inWindow(unloadable).map((t) => ({ code: 500, msg: `trace ${t.id} could not be read from storage`, traceID: t.id }));
    return Response.json({ data, total: data.length, limit: 0, offset: 0, errors: errors.length > 0 ? errors : null });
  }) as typeof fetch;
}

describe('Jaeger query API (/api/traces)', () => {
  test('a trace that fails to decode counts once, however many windows return it; a trace Jaeger lists in errors counts as failed', async () => {
    const good = Array.from({ length: 6 }, (_, i) => {
      const id = (i + 1).toString(16).padStart(32, '0');
      return { id, atUs: BASE_US + i * 1_000_000, body: jaegerTrace(id, BASE_US + i * 1_000_000) };
    });
    // A trace whose spans are not a list, newest of all, so a full search returns it and so does its half.
    const broken = { id: 'ff'.repeat(16), atUs: BASE_US + 10_000_000, body: { traceID: 'ff'.repeat(16), spans: 'not a list', processes: {} } };
    const unloadable = [{ id: 'ee'.repeat(16), atUs: BASE_US + 3_500_000 }];
    const source = await openTraceSource(new URL('http://jaeger.test:16686'), {
      headers: {}, fetch: fakeJaeger([...good, broken], unloadable), apis: ['jaeger-v1'], pageSize: 3, retries: 0,
    });
    const stats: PullStats = { fetched: 0, failed: 0, failures: [] };
    const ids = new Set<string>();
    const query = { service: 'shop', startMs: BASE_US / 1000 - 1000, endMs: BASE_US / 1000 + 20_000, limit: 1000 };
    for await (const batch of source.traces(query, stats)) for (const span of batch.spans) ids.add(span.traceId);
    expect([...ids].sort()).toEqual(good.map((t) => t.id));
    expect(stats.failed).toBe(2);
    expect(stats.failures).toEqual(
      expect.arrayContaining([expect.stringContaining(`trace ${broken.id}: `), `trace ${unloadable[0]!.id}: Jaeger: trace ${unloadable[0]!.id} could not be read from storage`]),
    );
  });
});
