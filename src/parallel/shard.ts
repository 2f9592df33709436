/**
 * One shard of an offline analysis (n1-report --jobs): the spans of its traces in, analysed
 * requests out, each with the key that puts every shard's requests back in the order a single
 * analysis of the whole input releases them, so the merged rollups are the same, float sums and
 * first-seen examples included.
 */
import { Analyzer, offlineAnalyzerOptions } from '../analyzer.js';
import type { DetectOptions } from '../detect/request.js';
import type { RequestAnalysis } from '../detect/types.js';
import { decodeUnit, type RawUnit } from '../otlp/file.js';
import { shardOfTraceId } from '../otlp/shard.js';
import type { SpanRecord, TraceId } from '../otlp/span.js';
import type { UnitDecoders } from '../otlp/file.js';

/** When a request was released: evicted while spans were added, completed by the poll after them, or at the end. */
export type Phase = typeof EVICTED | typeof POLLED | typeof FLUSHED;
const EVICTED = 0;
const POLLED = 1;
const FLUSHED = 2;

/**
 * A request and where a single analysis would have released it: within one input unit, by phase,
 * then by the stream position of its trace's last span (the assembler releases the least recently
 * touched trace first). A trace's requests share the key and keep their order.
 */
export interface KeyedAnalysis {
  phase: Phase;
  position: number;
  analysis: RequestAnalysis;
}

/** The valid spans of one input unit that belong to this shard, with their places among all of the unit's valid spans. */
export interface ShardSpans {
  spans: readonly SpanRecord[];
  /** positions[i]: index of spans[i] among the unit's valid spans, every shard's included. */
  positions: readonly number[];
  /** Valid spans in the unit, every shard's: the span clock advances by this much. */
  accepted: number;
}

export class ShardAnalysis {
  readonly analyzer: Analyzer;
  /** The span clock: valid spans read so far by every shard, as OfflineAnalysis counts them. */
  #spansRead = 0;
  /** Stream position of the last span of each trace seen (pruned to open traces as it grows). */
  readonly #last = new Map<TraceId, number>();
  #pruneAt = 10_000;

  constructor(options: DetectOptions, shards: number) {
    this.analyzer = new Analyzer(offlineAnalyzerOptions(options, shards));
  }

  /** Adds one unit's spans of this shard; returns the requests released, keyed. */
  add(unit: ShardSpans): KeyedAnalysis[] {
    const { spans, positions } = unit;
    const base = this.#spansRead;
    const last = this.#last;
    for (let i = 0; i < spans.length; i++) {
      const traceId = spans[i]!.traceId;
      // A batch holds runs of one trace's spans: only the run's last span sets the position.
      if (i + 1 === spans.length || spans[i + 1]!.traceId !== traceId) last.set(traceId, base + positions[i]!);
    }
    this.#spansRead += unit.accepted;
    const out: KeyedAnalysis[] = [];
    this.#key(out, EVICTED, this.analyzer.add(spans, this.#spansRead));
    this.#key(out, POLLED, this.analyzer.poll(this.#spansRead));
    if (last.size > this.#pruneAt) this.#prune();
    return out;
  }

  /** Releases everything still buffered (end of input). */
  finish(): KeyedAnalysis[] {
    const out: KeyedAnalysis[] = [];
    this.#key(out, FLUSHED, this.analyzer.flush());
    return out;
  }

  #key(out: KeyedAnalysis[], phase: Phase, analyses: RequestAnalysis[]): void {
    for (const analysis of analyses) out.push({ phase, position: this.#last.get(analysis.traceId) ?? -1, analysis });
  }

  /** Forgets the positions of traces no longer open (released, or only ever late). */
  #prune(): void {
    const assembler = this.analyzer.assembler;
    for (const traceId of this.#last.keys()) if (!assembler.isOpen(traceId)) this.#last.delete(traceId);
    this.#pruneAt = Math.max(10_000, this.#last.size * 2);
  }
}

/** The shards' requests of one unit (or of the end), in the order one analysis of the whole input releases them. */
export function mergeKeyed(lists: readonly (readonly KeyedAnalysis[])[]): KeyedAnalysis[] {
  const all = lists.flat();
  // Array#sort is stable: a trace's requests keep their order.
  return all.sort((a, b) => a.phase - b.phase || a.position - b.position);
}

/** This shard's spans of a decoded batch (SpanRecord.traceId → otlp/shard.ts). */
export function shardSpans(spans: readonly SpanRecord[], shard: number, shards: number): ShardSpans {
  const mine: SpanRecord[] = [];
  const positions: number[] = [];
  let lastId: TraceId | undefined;
  let lastMine = false;
  for (let i = 0; i < spans.length; i++) {
    const span = spans[i]!;
    if (span.traceId !== lastId) {
      lastId = span.traceId;
      lastMine = shardOfTraceId(lastId, shards) === shard;
    }
    if (lastMine) {
      mine.push(span);
      positions.push(i);
    }
  }
  return { spans: mine, positions, accepted: spans.length };
}

/** This shard's spans of a raw unit; throws as decodeUnit does (or, for protobuf, possibly at a later byte: decodeUnit tells the exact error). */
export function shardUnit(unit: RawUnit, decoders: UnitDecoders, shard: number, shards: number): ShardSpans {
  if (unit.raw === 'protobuf') return decoders.wire.decodeShard(unit.bytes, shard, shards);
  return shardSpans(decodeUnit(unit, decoders).spans, shard, shards);
}
