/** Tests for the shared span mapping: id checks, times, and attribute folding. */

import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { BatchBuilder, nanosToMs, rejectReason, splitNanos, toSpanRecord, urlHost } from './to-span.js';
import type { KeyValueLike, SpanFields } from './to-span.js';

type V = { s?: string };
const read = (v: V) => v.s;
const attrs = (pairs: Record<string, string>): KeyValueLike<V>[] => Object.entries(pairs).map(([key, s]) => ({ key, value: { s } }));

function fields(over: Partial<SpanFields<V>> = {}): SpanFields<V> {
  const [startHi, startLo] = splitNanos(1_700_000_000_000_000_000n);
  const [endHi, endLo] = splitNanos(1_700_000_000_002_500_000n);
  return {
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    spanId: '00f067aa0ba902b7',
    parentSpanId: '',
    name: 'SELECT',
    kind: 3,
    startHi,
    startLo,
    endHi,
    endLo,
    attributes: [],
    statusCode: 0,
    ...over,
  };
}

describe('toSpanRecord', () => {
  test('converts unix nanoseconds to fractional epoch milliseconds', () => {
    const record = toSpanRecord(fields(), '', read);
    expect(record.startMs).toBe(1_700_000_000_000);
    expect(record.endMs - record.startMs).toBeCloseTo(2.5, 6);
  });

  test('keeps sub-microsecond precision for realistic timestamps', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 62n) - 1n }), (ns) => {
        const [hi, lo] = splitNanos(ns);
        expect(Math.abs(nanosToMs(hi, lo) - Number(ns) / 1e6)).toBeLessThanOrEqual(Number(ns) / 1e6 * 1e-15 + 1e-9);
      }),
    );
  });

  test('reads an all-zero parent span id as no parent', () => {
    expect(toSpanRecord(fields({ parentSpanId: '0000000000000000' }), '', read).parentSpanId).toBe('');
  });

  test('marks status code 2 as an error and leaves the flag off otherwise', () => {
    expect(toSpanRecord(fields({ statusCode: 2 }), '', read).error).toBe(true);
    expect(toSpanRecord(fields({ statusCode: 1 }), '', read)).not.toHaveProperty('error');
  });

  test('maps an unknown span kind to unspecified', () => {
    expect(toSpanRecord(fields({ kind: 9 }), '', read).kind).toBe(0);
  });

  test('folds the old semantic-convention names', () => {
    const record = toSpanRecord(
      fields({ attributes: attrs({ 'http.method': 'GET', 'db.system': 'mysql', 'db.statement': 'SELECT 1', 'net.peer.name': 'db' }) }),
      'shop',
      read,
    );
    expect(record).toMatchObject({ service: 'shop', httpMethod: 'GET', dbSystem: 'mysql', dbStatement: 'SELECT 1', peer: 'db' });
  });

  test('prefers the stable name over the old one whichever comes first', () => {
    const oldFirst = attrs({ 'db.statement': 'old', 'db.query.text': 'new', 'http.method': 'get', 'http.request.method': 'GET' });
    const stableFirst = attrs({ 'db.query.text': 'new', 'db.statement': 'old', 'http.request.method': 'GET', 'http.method': 'get' });
    for (const attributes of [oldFirst, stableFirst]) {
      expect(toSpanRecord(fields({ attributes }), '', read)).toMatchObject({ dbStatement: 'new', httpMethod: 'GET' });
    }
  });

  test('takes the peer from server.address, then net.peer.name, then the host of url.full or http.url', () => {
    const peerOf = (pairs: Record<string, string>) => toSpanRecord(fields({ attributes: attrs(pairs) }), '', read).peer;
    expect(peerOf({ 'http.url': 'http://a.example/x', 'url.full': 'https://b.example/', 'net.peer.name': 'c', 'server.address': 'd' })).toBe('d');
    expect(peerOf({ 'http.url': 'http://a.example/x', 'url.full': 'https://b.example/', 'net.peer.name': 'c' })).toBe('c');
    expect(peerOf({ 'http.url': 'http://a.example/x', 'url.full': 'https://user:pw@B.example:8443/p?q#f' })).toBe('b.example');
    expect(peerOf({ 'http.url': 'http://a.example/x' })).toBe('a.example');
    expect(peerOf({ 'http.url': 'not a url' })).toBeUndefined();
  });

  test('keeps messaging.system and rpc.system, and ignores unrelated attributes', () => {
    const record = toSpanRecord(fields({ attributes: attrs({ 'messaging.system': 'rabbitmq', 'rpc.system': 'grpc', 'code.function': 'x' }) }), '', read);
    expect(record).toMatchObject({ messagingSystem: 'rabbitmq', rpcSystem: 'grpc' });
    expect(Object.keys(record)).not.toContain('httpRoute');
  });

  test('leaves a field unset when the value is not a scalar', () => {
    const record = toSpanRecord(fields({ attributes: [{ key: 'db.statement', value: {} }] }), '', read);
    expect(record).not.toHaveProperty('dbStatement');
  });
});

describe('urlHost', () => {
  test('returns the bracketed host of an IPv6 URL', () => {
    expect(urlHost('http://[::1]:8000/x')).toBe('[::1]');
  });
});

describe('rejectReason', () => {
  test('rejects trace ids that are not 16 bytes or are all zero', () => {
    expect(rejectReason(fields({ traceId: 'abcd' }))).toBe('bad_trace_id');
    expect(rejectReason(fields({ traceId: '0'.repeat(32) }))).toBe('bad_trace_id');
    expect(rejectReason(fields({ traceId: '' }))).toBe('bad_trace_id');
  });

  test('rejects span ids that are not 8 bytes and parents that are present but not 8 bytes', () => {
    expect(rejectReason(fields({ spanId: '00f067aa0ba902' }))).toBe('bad_span_id');
    expect(rejectReason(fields({ parentSpanId: '00f067aa' }))).toBe('bad_parent_span_id');
  });

  test('rejects a span that ends before it starts, to the nanosecond', () => {
    const [hi, lo] = splitNanos(1_700_000_000_000_000_000n - 1n);
    expect(rejectReason(fields({ endHi: hi, endLo: lo }))).toBe('end_before_start');
    const start = fields();
    expect(rejectReason(fields({ endHi: start.startHi, endLo: start.startLo }))).toBeUndefined();
  });
});

describe('BatchBuilder', () => {
  test('counts rejections per reason in a fixed order and keeps the valid spans', () => {
    const batch = new BatchBuilder(read);
    batch.add(fields({ spanId: 'x' }), '');
    batch.add(fields(), 's');
    batch.add(fields({ traceId: 'y' }), '');
    batch.add(fields({ spanId: 'z' }), '');
    const result = batch.result();
    expect(result.spans).toHaveLength(1);
    expect(result.rejected).toEqual([
      { reason: 'bad_trace_id', count: 1 },
      { reason: 'bad_span_id', count: 2 },
    ]);
  });
});
