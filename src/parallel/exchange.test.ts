import { readFileSync } from 'node:fs';
import { MessageChannel } from 'node:worker_threads';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CodeLocation } from '../detect/types.js';
import { createLazyJsonReader } from '../otlp/json-lazy.js';
import { shardOfTraceId } from '../otlp/shard.js';
import { DbSpanFields, type SpanRecord, type SpanSink } from '../otlp/span.js';
import { PeerStopped, Peers, replayPack, SplitSink, type SpanPack } from './exchange.js';

/** A sink call as data: the DB span's fields (copied: the decoder refills its own), and the index the decoder gave the span. */
type Call = { db: DbSpanFields; index: number } | { record: SpanRecord; index: number };

/** Fields as a decoder fills them. */
const dbSpanOf = (fields: DbSpanFields): DbSpanFields => Object.assign(new DbSpanFields(), fields);

function recorder(): { sink: SpanSink; calls: Call[]; at: { index: number } } {
  const calls: Call[] = [];
  const at = { index: 0 };
  return {
    calls,
    at,
    sink: {
      dbSpan: (db) => calls.push({ db: dbSpanOf(db), index: at.index }),
      span: (record) => calls.push({ record, index: at.index }),
    },
  };
}

/** Each shard's calls after its pack crossed a thread boundary (postMessage clones as structuredClone does). */
function exchanged(split: SplitSink, batch: { accepted: number; rejected: [] }): Call[][] {
  return split.finish(batch).map((pack) => {
    const copy = structuredClone(pack);
    expect(copy.batch).toEqual(batch);
    const { sink, calls, at } = recorder();
    replayPack(copy, sink, (_traceId, index) => (at.index = index));
    return calls;
  });
}

const traceIds = ['4bf92f3577b34da6a3ce929d0e0e4736', '5af92f3577b34da6a3ce929d0e0e4737', '00000000000000000000000000000a01', 'abcdefabcdefabcdefabcdefabcdef12'];
const text = fc.constantFrom('', 'SELECT 1', 'SELECT "a" FROM "b" WHERE "c" = %s', 'postgresql', 'shop', 'é \u0000 \ud83d\ude00');
const location = fc.option(fc.record({ file: fc.constantFrom('app/views.py', 'app/serializers.py'), line: fc.nat(500) }, { requiredKeys: [] }), { nil: undefined });
const dbCall = fc.record({
  db: fc.record({
    traceId: fc.constantFrom(...traceIds), spanIdHi: fc.nat(), spanIdLo: fc.integer({ min: -1, max: 0xffffffff }), parentSpanId: fc.constantFrom('', '00f067aa0ba902b7', '53995c3f42cd8ad8'),
    startMs: fc.double({ noNaN: true }), endMs: fc.double({ noNaN: true }), system: text, statement: text, comment: text, service: text, location,
  }).map(dbSpanOf),
  index: fc.nat(10_000),
});
const recordCall = fc.record({
  record: fc.record({
    traceId: fc.constantFrom(...traceIds), spanId: fc.constantFrom('00f067aa0ba902b7', 'x'), parentSpanId: fc.constant(''), name: text,
    kind: fc.constantFrom(0, 1, 2, 3), startMs: fc.double({ noNaN: true }), endMs: fc.double({ noNaN: true }), service: text,
    httpRoute: fc.option(text, { nil: undefined }),
  }, { requiredKeys: ['traceId', 'spanId', 'parentSpanId', 'name', 'kind', 'startMs', 'endMs', 'service'] }),
  index: fc.nat(10_000),
});

describe('SplitSink and replayPack', () => {
  it('hand each shard, across a thread boundary, exactly the calls of its traces, in order, with their indexes', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.oneof(dbCall as fc.Arbitrary<Call>, recordCall as fc.Arbitrary<Call>), { maxLength: 200 }), { minLength: 1, maxLength: 3 }), fc.integer({ min: 1, max: 4 }), (units, shards) => {
        const at = { index: 0 };
        const split = new SplitSink(shards, () => at.index);
        // One sink for several units, as for every line of a file: each unit's packs start empty.
        for (const calls of units) {
          for (const call of calls) {
            at.index = call.index;
            if ('db' in call) split.dbSpan(call.db);
            else split.span(call.record);
          }
          const byShard = exchanged(split, { accepted: calls.length, rejected: [] });
          for (let shard = 0; shard < shards; shard++) {
            const traceOf = (c: Call): string => ('db' in c ? c.db.traceId : c.record.traceId);
            expect(byShard[shard]).toEqual(calls.filter((c) => shardOfTraceId(traceOf(c), shards) === shard));
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('sends a string or location that many spans share once per pack, and keeps a shared location one object', () => {
    const at = { index: 0 };
    const split = new SplitSink(1, () => at.index++);
    const where: CodeLocation = { file: 'app/views.py', line: 12 };
    const statement = `SELECT ${'"app_book"."title", '.repeat(40)}1 FROM "app_book" WHERE "app_book"."author_id" = %s`;
    for (let i = 0; i < 100; i++) {
      split.dbSpan(dbSpanOf({ traceId: traceIds[0]!, spanIdHi: i, spanIdLo: i, parentSpanId: '00f067aa0ba902b7', startMs: i, endMs: i + 1, system: 'postgresql', statement, comment: '', service: 'shop', location: where }));
    }
    const pack = split.finish({ accepted: 100, rejected: [] })[0]!;
    expect(pack.strings.filter((s) => s === statement)).toHaveLength(1);
    expect(pack.locations).toEqual([where]);
    const copy = structuredClone(pack);
    const locations = new Set<CodeLocation | undefined>();
    replayPack(copy, { dbSpan: (s) => locations.add(s.location), span: () => undefined }, () => undefined);
    expect(locations.size).toBe(1);
  });

  it("splits the recording's JSON lines as the lazy reader decodes them whole", () => {
    const lines = gunzipSync(readFileSync('samples/traces/recruit.jsonl.gz')).toString('utf8').split('\n').filter((l) => l.trim() !== '');
    const reader = createLazyJsonReader();
    const split = new SplitSink(3, () => reader.spanIndex);
    let spread = 0;
    for (const line of lines) {
      const whole = recorder();
      const batch = reader.decodeTo(Buffer.from(line), { dbSpan: (s) => ((whole.at.index = reader.spanIndex), whole.sink.dbSpan(s)), span: (r) => ((whole.at.index = reader.spanIndex), whole.sink.span(r)) })!;
      reader.decodeTo(Buffer.from(line), split);
      const parts = exchanged(split, batch as { accepted: number; rejected: [] });
      expect(parts.flat().sort((a, b) => a.index - b.index)).toEqual(whole.calls);
      if (parts.filter((p) => p.length > 0).length > 1) spread++;
    }
    expect(spread).toBeGreaterThan(0);
  });
});

describe('Peers', () => {
  function pair(): { a: Peers; b: Peers } {
    const { port1, port2 } = new MessageChannel();
    return { a: new Peers([undefined, port1]), b: new Peers([port2, undefined]) };
  }
  const emptyPack = (accepted: number): SpanPack => new SplitSink(1, () => 0).finish({ accepted, rejected: [] })[0]!;

  it('hands over packs by key, whether they came before or after the shard asked', async () => {
    const { a, b } = pair();
    try {
      const first = emptyPack(1);
      a.send(1, 'u0', [first]);
      const waiting = b.take('u2', 0);
      await new Promise((r) => setTimeout(r, 20));
      expect(b.poll('u0', 0)?.[0]?.batch).toEqual({ accepted: 1, rejected: [] });
      expect(b.poll('u0', 0)).toBeUndefined();
      const third = emptyPack(3);
      a.send(1, 'u2', [third]);
      expect((await waiting)[0]?.batch).toEqual({ accepted: 3, rejected: [] });
    } finally {
      a.close();
      b.close();
    }
  });

  it('fails a wait once the peer said it sends nothing more, or its port closed, but still hands over what it sent before', async () => {
    let { a, b } = pair();
    const sent = emptyPack(7);
    a.send(1, 'r0.4', [sent]);
    const waiting = b.take('r0.6', 0);
    a.stop();
    await expect(waiting).rejects.toBeInstanceOf(PeerStopped);
    expect((await b.take('r0.4', 0))[0]?.batch).toEqual({ accepted: 7, rejected: [] });
    expect(() => b.poll('r0.9', 0)).toThrow(PeerStopped);
    await expect(b.take('r0.9', 0)).rejects.toBeInstanceOf(PeerStopped);
    a.close();
    b.close();
    // A peer that exits without a word: its port's close.
    ({ a, b } = pair());
    const before = b.take('u5', 0);
    a.close();
    await expect(before).rejects.toBeInstanceOf(PeerStopped);
    b.close();
  });
});
