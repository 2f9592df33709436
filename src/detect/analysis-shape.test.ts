/**
 * The analyses' shape, by V8's own predicates: an analysis in dictionary mode (as an object literal
 * with its own getter is made) turned every read of its fields into a hash lookup. In a file of its
 * own because it turns on --allow-natives-syntax, which stays on for the rest of the process
 * (vitest runs each file in a process of its own).
 */
import { setFlagsFromString } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { SpanKind } from '../otlp/span.js';
import { createSqlNormalizer } from '../sql/index.js';
import { assembleColumns, CompactTrace } from '../traces/compact.js';
import { analyseColumns } from './request.js';
import { AUTH_USER } from './testing.js';

const T = 'ab'.repeat(16);

describe('analyseColumns', () => {
  it('gives analyses that share one fast map, with the timeline an own property that spreads and JSON see', () => {
    setFlagsFromString('--allow-natives-syntax');
    const fastProperties = new Function('o', 'return %HasFastProperties(o)') as (o: object) => boolean;
    const sameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean;
    const [first, second] = ['00000000000000aa', '00000000000000ab'].map((root) => {
      const compact = new CompactTrace();
      compact.add({ traceId: T, spanId: root, parentSpanId: '', name: 'GET dashboard/', kind: SpanKind.SERVER, startMs: 100, endMs: 200, service: 'recruit', httpRoute: 'dashboard/', httpMethod: 'GET' });
      compact.add({ traceId: T, spanId: `${root.slice(0, 14)}b0`, parentSpanId: root, name: 'q', kind: SpanKind.CLIENT, startMs: 110, endMs: 111, service: 'recruit', dbSystem: 'postgresql', dbStatement: AUTH_USER });
      return assembleColumns(compact).map((r) => analyseColumns(r, createSqlNormalizer()))[0]!;
    });
    expect(fastProperties(first!)).toBe(true);
    expect(sameMap(first!, second!)).toBe(true);
    expect(Object.keys(first!)).toContain('timeline');
    expect({ ...first! }.timeline).toEqual([{ offsetMs: 10, durationMs: 1, fingerprint: expect.any(String) }]);
    expect(JSON.parse(JSON.stringify(first)).timeline).toHaveLength(1);
  });

  it('lists its keys in the order RequestAnalysis declares them', () => {
    const compact = new CompactTrace();
    compact.add({ traceId: T, spanId: '00000000000000aa', parentSpanId: '', name: 'GET dashboard/', kind: SpanKind.SERVER, startMs: 100, endMs: 200, service: 'recruit', httpRoute: 'dashboard/', httpMethod: 'GET' });
    const [analysis] = assembleColumns(compact).map((r) => analyseColumns(r, createSqlNormalizer()));
    expect(Object.keys(analysis!)).toEqual(['traceId', 'endpoint', 'service', 'startMs', 'durationMs', 'dbSpans', 'dbMs', 'noise', 'cascades', 'uses', 'outbound', 'timeline', 'connection']);
  });
});
