import { describe, expect, it } from 'vitest';
import { EndpointCharts, FindingChart, valueScale } from './charts.js';

const HOUR = 3_600_000;
const axis = { startMs: Date.UTC(2026, 11, 6, 18), sizeMs: HOUR, count: 3 };

/** The value axis's labels of each chart in the markup, top to bottom as drawn from 0 up. */
function tickLabels(html: string): string[][] {
  return [...html.matchAll(/<svg[^>]*>(.*?)<\/svg>/gs)].map((m) =>
    [...m[1]!.matchAll(/<text x="46"[^>]*>([^<]*)<\/text>/g)].map((t) => t[1]!),
  );
}

describe('value axes', () => {
  it('end at a round top in steps of 1, 2, 2.5 or 5 × 10^k', () => {
    expect(valueScale(303, false)).toEqual({ top: 400, step: 100 });
    expect(valueScale(21_480, false)).toEqual({ top: 25_000, step: 5_000 });
    expect(valueScale(100, false)).toEqual({ top: 100, step: 20 });
    expect(valueScale(12, false)).toEqual({ top: 12.5, step: 2.5 });
    expect(valueScale(0, false)).toEqual({ top: 1, step: 1 });
  });

  it('step through counts by whole numbers', () => {
    expect(valueScale(9, true)).toEqual({ top: 10, step: 2 });
    expect(valueScale(12, true)).toEqual({ top: 15, step: 5 });
    expect(valueScale(3, true)).toEqual({ top: 3, step: 1 });
    expect(valueScale(1, true)).toEqual({ top: 1, step: 1 });
  });

  it('label the endpoint charts in round numbers, durations in one unit', () => {
    const trend = [
      { startMs: axis.startMs, requests: 2, dbSpans: 606, wastedMs: 21_480 },
      { startMs: axis.startMs + HOUR, requests: 0, dbSpans: 0, wastedMs: 0 },
      { startMs: axis.startMs + 2 * HOUR, requests: 1, dbSpans: 4, wastedMs: 250 },
    ];
    const [queries, wasted] = tickLabels(String(EndpointCharts({ axis, trend })));
    expect(queries).toEqual(['0', '100', '200', '300', '400']);
    expect(wasted).toEqual(['0', '5 s', '10 s', '15 s', '20 s', '25 s']);
  });

  it('label a chart of a few requests in whole requests', () => {
    const trend = [3, 9, 0].map((n, i) => ({ startMs: axis.startMs + i * HOUR, requestsAffected: n, executions: n * 50, wastedMs: n * 400 }));
    const [affected] = tickLabels(String(FindingChart({ axis, trend })));
    expect(affected).toEqual(['0', '2', '4', '6', '8', '10']);
  });

  it('label durations under a second in ms', () => {
    const trend = [{ startMs: axis.startMs, requests: 1, dbSpans: 3, wastedMs: 0.3 }];
    const [, wasted] = tickLabels(String(EndpointCharts({ axis: { ...axis, count: 1 }, trend })));
    expect(wasted).toEqual(['0', '0.1 ms', '0.2 ms', '0.3 ms']);
  });
});
