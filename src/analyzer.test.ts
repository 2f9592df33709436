/** The Analyzer fed protobuf messages straight into columns (addMessage) against records (add). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Analyzer, OfflineAnalysis } from './analyzer.js';
import { decodeProtobufRequest } from './otlp/protobuf.js';
import { refusedIn, SpanKind, type SpanRecord } from './otlp/span.js';
import { djangoRequest, encodeProtobuf, type OtlpJsonRequest, type OtlpJsonSpan } from './otlp/testing.js';
import { createWireDecoder } from './otlp/wire/decoder.js';

/** Six requests of six traces (old and stable names, two services), plus an orphan DB span, a second copy of a span and one with a zero trace id. */
function spansOf(): { service: string; span: OtlpJsonSpan }[] {
  const out: { service: string; span: OtlpJsonSpan }[] = [];
  for (let t = 0; t < 6; t++) {
    const traceId = `${t + 1}`.repeat(8) + 'a'.repeat(24);
    const service = t % 2 === 0 ? 'recruit' : 'shop';
    const request = djangoRequest({ traceId, repeats: 2 + t, semconv: t % 3 === 0 ? 'stable' : 'old', service, startNs: 1_700_000_000_000_000_000n + BigInt(t) * 10_000_000n });
    for (const scope of request.resourceSpans[0]!.scopeSpans) {
      for (const span of scope.spans) {
        // Half the traces' statements carry sqlcommenter's comment (the decoder splits it off into its own column), one an inert-looking one it must not lose.
        if (t % 2 === 1) {
          const comment = t === 5 ? ' /* not sqlcommenter */ /**/' : ` /*controller='recruit.views.dashboard',traceparent='00-${traceId}-${span.spanId}-01'*/`;
          span.attributes = span.attributes.map((a) => (a.key === 'db.statement' || a.key === 'db.query.text' ? { ...a, value: { stringValue: `${a.value.stringValue}${comment}` } } : a));
        }
        out.push({ service, span });
      }
    }
  }
  const db = out[3]!;
  out.push({ service: db.service, span: { ...db.span, traceId: 'f'.repeat(32), spanId: 'e'.repeat(16), parentSpanId: 'd'.repeat(16) } });
  out.push({ service: db.service, span: { ...db.span } });
  out.push({ service: db.service, span: { ...db.span, traceId: '0'.repeat(32) } });
  return out;
}

/** One message per batch: consecutive runs of one service share a ResourceSpans, as exporters write them. */
function message(batch: { service: string; span: OtlpJsonSpan }[]): Uint8Array {
  const resourceSpans: OtlpJsonRequest['resourceSpans'] = [];
  for (const { service, span } of batch) {
    const last = resourceSpans.at(-1);
    if (last !== undefined && last.resource.attributes[0]!.value.stringValue === service) last.scopeSpans[0]!.spans.push(span);
    else resourceSpans.push({ resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] }, scopeSpans: [{ scope: { name: 's' }, spans: [span] }] });
  }
  return encodeProtobuf({ resourceSpans });
}

describe('Analyzer.addMessage', () => {
  it('releases and analyses exactly what add() of the decoded records does, evictions, late spans and copies included', () => {
    const all = spansOf();
    const options = fc.record({ maxOpenTraces: fc.constantFrom(1, 2, 3, 50), traceWaitMs: fc.constantFrom(5, 20, 200), rememberCompleted: fc.constantFrom(1, 100) });
    fc.assert(
      fc.property(options, fc.shuffledSubarray(all, { minLength: all.length }), fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 12 }), (opts, order, sizes) => {
        const settings = { ...opts, maxTraceAgeMs: Infinity };
        const byRecords = new Analyzer(settings);
        const byColumns = new Analyzer(settings);
        const decoder = createWireDecoder();
        let records: unknown[] = [];
        let columns: unknown[] = [];
        let read = 0;
        for (let at = 0, i = 0; at < order.length; i++) {
          const bytes = message(order.slice(at, at + sizes[i % sizes.length]!));
          at += sizes[i % sizes.length]!;
          const decoded = decodeProtobufRequest(bytes);
          const spans = decoded.spans;
          // The clock counts every span read, refused ones too (offlineAnalyzerOptions).
          const clock = read + spans.length + refusedIn(decoded);
          records.push(...byRecords.add(spans, clock), ...byRecords.poll(clock));
          const { batch, analyses } = byColumns.addMessage(decoder, bytes, (spansRead) => (read += spansRead));
          expect(batch.accepted).toBe(spans.length);
          expect(read).toBe(clock);
          columns.push(...analyses, ...byColumns.poll(read));
        }
        records.push(...byRecords.flush());
        columns.push(...byColumns.flush());
        expect(columns).toEqual(records);
        expect(byColumns.assembler.counters).toEqual(byRecords.assembler.counters);
        records = columns = [];
      }),
      { numRuns: 100 },
    );
  });

  it('keeps the spans before a damaged message part, which then throws, and analyses what they evicted later', () => {
    const offline = new OfflineAnalysis();
    const bytes = message(spansOf().slice(0, 8));
    expect(() => offline.addMessage(createWireDecoder(), bytes.subarray(0, bytes.length - 3))).toThrow(/truncated/);
    expect(offline.analyzer.assembler.counters.spansBuffered).toBeGreaterThan(0);

    const analyzer = new Analyzer({ maxOpenTraces: 1 });
    const spans = spansOf();
    const first = message(spans.slice(0, 4)); // trace 1's request span and queries
    // Trace 2's spans (shop; the first evicts trace 1), then a ResourceSpans of trace 3 (recruit), damaged.
    const second = message(spans.slice(4, 10));
    expect(analyzer.addMessage(createWireDecoder(), first, () => 1).analyses).toEqual([]);
    expect(() => analyzer.addMessage(createWireDecoder(), second.subarray(0, second.length - 3), () => 2)).toThrow(/truncated/);
    expect(analyzer.poll(3).map((a) => a.traceId)).toEqual([spans[0]!.span.traceId]);
  });
});

describe('Analyzer.flushEach', () => {
  /** An analyzer holding `traces` open traces of one request each (three DB spans), nothing released. */
  function holding(traces: number): Analyzer {
    const analyzer = new Analyzer({ traceWaitMs: 1e9, maxOpenTraces: 1e6 });
    const spans = Array.from({ length: traces }, (_, t) =>
      djangoRequest({ traceId: t.toString(16).padStart(32, '0').replace(/^0/, 'a'), repeats: 3, semconv: 'stable', service: 'recruit', startNs: 1_700_000_000_000_000_000n + BigInt(t) * 1_000_000n }),
    );
    for (const request of spans) analyzer.addMessage(createWireDecoder(), encodeProtobuf(request), () => 0);
    return analyzer;
  }

  it('hands over what flush gives, in the same order, a slice of traces at a time', () => {
    const expected = holding(150).flush().map((a) => a.traceId);
    const slices: string[][] = [];
    holding(150).flushEach((analyses) => slices.push(analyses.map((a) => a.traceId)));
    expect(slices.flat()).toEqual(expected);
    expect(expected).toHaveLength(150);
    expect(slices.map((s) => s.length)).toEqual([64, 64, 22]);
  });

  it('takes the traces a damaged message evicted first, then the open ones, as flush does', () => {
    const run = (finish: (analyzer: Analyzer) => string[]): string[] => {
      const analyzer = new Analyzer({ maxOpenTraces: 1, traceWaitMs: 1e9 });
      const spans = spansOf();
      analyzer.addMessage(createWireDecoder(), message(spans.slice(0, 4)), () => 1);
      const second = message(spans.slice(4, 10));
      expect(() => analyzer.addMessage(createWireDecoder(), second.subarray(0, second.length - 3), () => 2)).toThrow(/truncated/);
      return finish(analyzer);
    };
    const flushed = run((analyzer) => analyzer.flush().map((a) => a.traceId));
    const taken = run((analyzer) => {
      const ids: string[] = [];
      analyzer.flushEach((analyses) => ids.push(...analyses.map((a) => a.traceId)));
      return ids;
    });
    expect(taken).toEqual(flushed);
    expect(taken.length).toBeGreaterThan(1);
    expect(taken[0]).toBe(spansOf()[0]!.span.traceId);
  });

  it('takes the traces a damaged message evicted, with no trace left open', () => {
    const analyzer = new Analyzer({ maxOpenTraces: 1 });
    const spans = spansOf();
    analyzer.addMessage(createWireDecoder(), message(spans.slice(0, 4)), () => 1);
    const second = message(spans.slice(4, 10));
    expect(() => analyzer.addMessage(createWireDecoder(), second.subarray(0, second.length - 3), () => 2)).toThrow(/truncated/);
    analyzer.assembler.flush();
    const taken: string[] = [];
    analyzer.flushEach((analyses) => taken.push(...analyses.map((a) => a.traceId)));
    expect(taken).toEqual([spans[0]!.span.traceId]);
  });
});

describe('OfflineAnalysis and lost parents', () => {
  it('analyses a trace whose non-request span lost its parent once the wait of spans has gone by, not at the end of input', () => {
    let next = 0;
    const id = (): string => (++next).toString(16).padStart(16, '0');
    const trace = (i: number, dropRender: boolean): SpanRecord[] => {
      const traceId = (i + 1).toString(16).padStart(32, '0');
      const server: SpanRecord = { traceId, spanId: id(), parentSpanId: '', name: 'GET dashboard/', kind: SpanKind.SERVER, httpMethod: 'GET', httpRoute: 'dashboard/', startMs: i, endMs: i + 100, service: 'recruit' };
      const render: SpanRecord = { traceId, spanId: id(), parentSpanId: server.spanId, name: 'render', kind: SpanKind.INTERNAL, startMs: i + 10, endMs: i + 90, service: 'recruit' };
      const db = [1, 2, 3].map((k): SpanRecord => ({ traceId, spanId: id(), parentSpanId: render.spanId, name: 'SELECT', kind: SpanKind.CLIENT, dbSystem: 'postgresql', dbStatement: `SELECT ${k}`, startMs: i + 20 + k, endMs: i + 21 + k, service: 'recruit' }));
      return dropRender ? [...db, server] : [...db, render, server];
    };
    const analysed = new Set<string>();
    const offline = new OfflineAnalysis({}, (a) => a.forEach((x) => analysed.add(x.traceId)));
    // 50,000 traces, one in ten without its render span (dropped by the SDK): 245,000 spans.
    for (let i = 0; i < 50_000; i++) offline.add(trace(i, i % 10 === 0));
    // The first thousand traces, those missing a span too, went once 200,000 spans had passed them.
    const first = Array.from({ length: 1000 }, (_, i) => (i + 1).toString(16).padStart(32, '0'));
    expect(first.filter((t) => !analysed.has(t))).toEqual([]);
    offline.finish();
    expect(analysed.size).toBe(50_000);
  });
});
