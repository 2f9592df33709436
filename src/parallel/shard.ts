/**
 * One shard of an offline analysis (n1-report --jobs): every unit of the input read, the spans of
 * this shard's traces analysed, and their requests added to rollups with the key that says where a
 * single analysis of the whole input released them, so shards' rollups merge into its rollups
 * exactly (detect/rollup.ts RollupSet.fromShards).
 */
import { Analyzer, offlineAnalyzerOptions } from '../analyzer.js';
import type { ConnectionUse } from '../detect/connections.js';
import type { DetectOptions } from '../detect/request.js';
import { RollupSet, type ReleaseKey, type ShardRollups } from '../detect/rollup.js';
import type { RequestAnalysis } from '../detect/types.js';
import { createUnitDecoders, decodeUnit, inProtobufUnit, isRawUnit, readTraceUnits, type TraceUnit, type UnitDecoders } from '../otlp/file.js';
import { errorData, type FromWorker } from './protocol.js';
import { shardOfTraceId } from '../otlp/shard.js';
import { refusedIn, type SpanRecord, type SpanSink, type TraceId } from '../otlp/span.js';
import type { SinkBatch, WireDecoder } from '../otlp/wire/decoder.js';

/** Release phases within one unit: evicted while its spans were added, then completed by the poll after them; the end's flush comes last. */
const EVICTED = 0;
const POLLED = 1;
const FLUSHED = 2;

/** A request's connection use, which the main thread adds in release order (its float sums follow that order). */
export interface KeyedConnection {
  key: ReleaseKey;
  service: string;
  instance: string;
  use: ConnectionUse;
}

/** What a shard hands back at the end (cloneable). */
export interface ShardResult {
  rollups: ShardRollups;
  connections: KeyedConnection[];
  lateSpans: number;
}

export class ShardAnalysis {
  readonly analyzer: Analyzer;
  readonly #rollups = new RollupSet({ shard: true });
  readonly #connections: KeyedConnection[] = [];
  readonly #shard: number;
  readonly #shards: number;
  /** Units read so far. */
  #units = 0;
  /** The span clock: spans read so far, valid or not, by every shard, as OfflineAnalysis counts them. */
  #spansRead = 0;
  /** Stream position of the last span of each trace seen (pruned to open traces as it grows). */
  readonly #last = new Map<TraceId, number>();
  #pruneAt = 10_000;
  readonly #decoders = new WeakMap<WireDecoder, WireDecoder>();

  constructor(options: DetectOptions, shard: number, shards: number) {
    this.analyzer = new Analyzer(offlineAnalyzerOptions(options, shards));
    this.#shard = shard;
    this.#shards = shards;
  }

  /** Adds this shard's spans of one unit of the input; throws what decoding the unit throws (for protobuf, possibly at a later byte than decodeUnit). */
  addUnit(unit: TraceUnit, decoders: UnitDecoders): void {
    const round = 3 * this.#units++;
    if (isRawUnit(unit) && unit.raw === 'protobuf') {
      const decoder = this.#shardDecoder(decoders.wire);
      const { analyses } = inProtobufUnit(unit, (bytes) => this.analyzer.addMessage(decoder, bytes, (read) => (this.#spansRead += read)));
      this.#take(round + EVICTED, analyses);
    } else if (isRawUnit(unit) && unit.raw === 'json-line') {
      const { analyses } = this.analyzer.addDecoded((sink) => this.#jsonLineTo(unit, decoders, sink), (read) => (this.#spansRead += read));
      this.#take(round + EVICTED, analyses);
    } else {
      const batch = isRawUnit(unit) ? decodeUnit(unit, decoders) : unit;
      const mine = this.#mine(batch.spans, batch.ordinals);
      this.#spansRead += batch.spans.length + refusedIn(batch);
      this.#take(round + EVICTED, this.analyzer.add(mine, this.#spansRead));
    }
    this.#take(round + POLLED, this.analyzer.poll(this.#spansRead));
    if (this.#last.size > this.#pruneAt) this.#prune();
  }

  /** Releases everything still buffered (end of input) and hands over the rollups. */
  finish(): ShardResult {
    this.#take(3 * this.#units + FLUSHED, this.analyzer.flush());
    return { rollups: this.#rollups.toShard(), connections: this.#connections, lateSpans: this.analyzer.assembler.counters.lateSpans };
  }

  #take(round: number, analyses: RequestAnalysis[]): void {
    for (const analysis of analyses) {
      const key = { round, position: this.#last.get(analysis.traceId) ?? -1 };
      this.#rollups.addEndpoint(analysis, key);
      if (analysis.connection !== null) this.#connections.push({ key, service: analysis.service, instance: analysis.instance ?? '', use: analysis.connection });
    }
  }

  /** This shard's spans of a decoded batch, noting each trace's last position (`ordinals`: DecodedBatch's, when some span was refused). */
  #mine(spans: readonly SpanRecord[], ordinals: readonly number[] | undefined): SpanRecord[] {
    const mine: SpanRecord[] = [];
    const base = this.#spansRead;
    let lastId: TraceId | undefined;
    let lastMine = false;
    for (let i = 0; i < spans.length; i++) {
      const span = spans[i]!;
      if (span.traceId !== lastId) {
        lastId = span.traceId;
        lastMine = shardOfTraceId(lastId, this.#shards) === this.#shard;
      }
      if (lastMine) {
        mine.push(span);
        this.#last.set(lastId, base + (ordinals === undefined ? i : ordinals[i]!));
      }
    }
    return mine;
  }

  /**
   * This shard's spans of a raw JSON line into the sink, noting each trace's last position: through
   * the lazy reader (as decodeJsonLineTo for --jobs 1), or the line decoded whole when it gives up.
   */
  #jsonLineTo(unit: Extract<TraceUnit, { raw: 'json-line' }>, decoders: UnitDecoders, inner: SpanSink): SinkBatch {
    const lazy = decoders.lazyJson;
    const base = this.#spansRead;
    const last = this.#last;
    const sink: SpanSink = {
      dbSpan(...args: Parameters<SpanSink['dbSpan']>): void {
        last.set(args[0], base + lazy.spanIndex);
        inner.dbSpan(...args);
      },
      span(record: SpanRecord): void {
        last.set(record.traceId, base + lazy.spanIndex);
        inner.span(record);
      },
    };
    const batch = lazy.decodeShardTo(unit.bytes, sink, this.#shard, this.#shards);
    if (batch !== undefined) return batch;
    const decoded = decodeUnit(unit, decoders);
    for (const span of this.#mine(decoded.spans, decoded.ordinals)) inner.span(span);
    return { accepted: decoded.spans.length, rejected: decoded.rejected };
  }

  /** The file's wire decoder restricted to this shard, its sink noting each trace's last position. */
  #shardDecoder(wire: WireDecoder): WireDecoder {
    let decoder = this.#decoders.get(wire);
    if (decoder === undefined) {
      decoder = new ShardDecoder(wire, this.#shard, this.#shards, (traceId) => this.#last.set(traceId, this.#spansRead + wire.spanIndex));
      this.#decoders.set(wire, decoder);
    }
    return decoder;
  }

  /** Forgets the positions of traces no longer open (released, or only ever late). */
  #prune(): void {
    const assembler = this.analyzer.assembler;
    for (const traceId of this.#last.keys()) if (!assembler.isOpen(traceId)) this.#last.delete(traceId);
    this.#pruneAt = Math.max(10_000, this.#last.size * 2);
  }
}

/** A wire decoder whose decodeTo hands over only one shard's spans (Analyzer.addMessage takes it as it is). */
class ShardDecoder implements WireDecoder {
  readonly #wire: WireDecoder;
  readonly #shard: number;
  readonly #shards: number;
  readonly #seen: (traceId: TraceId) => void;
  #inner: SpanSink | undefined;
  #sink: SpanSink | undefined;

  constructor(wire: WireDecoder, shard: number, shards: number, seen: (traceId: TraceId) => void) {
    this.#wire = wire;
    this.#shard = shard;
    this.#shards = shards;
    this.#seen = seen;
  }

  get spanIndex(): number {
    return this.#wire.spanIndex;
  }

  decode(bytes: Uint8Array): ReturnType<WireDecoder['decode']> {
    return this.#wire.decodeShard(bytes, this.#shard, this.#shards);
  }

  decodeShard(bytes: Uint8Array, shard: number, shards: number): ReturnType<WireDecoder['decodeShard']> {
    return this.#wire.decodeShard(bytes, shard, shards);
  }

  decodeShardTo(bytes: Uint8Array, sink: SpanSink, shard: number, shards: number): ReturnType<WireDecoder['decodeShardTo']> {
    return this.#wire.decodeShardTo(bytes, sink, shard, shards);
  }

  scanTraces(bytes: Uint8Array): ReturnType<WireDecoder['scanTraces']> {
    return this.#wire.scanTraces(bytes);
  }

  decodeTo(bytes: Uint8Array, sink: SpanSink): ReturnType<WireDecoder['decodeTo']> {
    return this.#wire.decodeShardTo(bytes, this.#noting(sink), this.#shard, this.#shards);
  }

  #noting(inner: SpanSink): SpanSink {
    if (this.#inner !== inner || this.#sink === undefined) {
      const seen = this.#seen;
      this.#inner = inner;
      this.#sink = {
        dbSpan(...args: Parameters<SpanSink['dbSpan']>): void {
          seen(args[0]);
          inner.dbSpan(...args);
        },
        span(record: SpanRecord): void {
          seen(record.traceId);
          inner.span(record);
        },
      };
    }
    return this.#sink;
  }
}

/** Reads every file and analyses one shard of it: the shard's result, or where and why the input failed. */
export async function analyseShard(files: readonly string[], analysis: ShardAnalysis): Promise<Exclude<FromWorker, { fatal: string }>> {
  let unit = 0;
  try {
    for (const file of files) {
      const decoders = createUnitDecoders();
      for await (const next of readTraceUnits(file)) {
        try {
          analysis.addUnit(next, decoders);
        } catch (error) {
          return { failed: { unit, error: errorData(wholeUnitError(next, error)) } };
        }
        unit++;
      }
    }
  } catch (error) {
    // A reading error comes after every unit already read.
    return { failed: { unit, error: errorData(error) } };
  }
  return { done: analysis.finish() };
}

/** The error --jobs 1 reports for a unit a shard could not decode: the unit decoded whole, as it is there. */
function wholeUnitError(unit: TraceUnit, shardError: unknown): unknown {
  if (!isRawUnit(unit)) return shardError;
  try {
    decodeUnit(unit, createUnitDecoders());
  } catch (error) {
    return error;
  }
  return shardError;
}
