/**
 * One shard of an offline analysis (n1-report --jobs): every unit of the input counted, the spans of
 * this shard's traces analysed in input order, and their requests added to rollups with the key
 * that says where a single analysis of the whole input released them, so shards' rollups merge into
 * its rollups exactly (detect/rollup.ts RollupSet.fromShards).
 */
import { Analyzer, offlineAnalyzerOptions } from '../analyzer.js';
import type { ConnectionUse } from '../detect/connections.js';
import type { DetectOptions } from '../detect/request.js';
import { RollupSet, type ReleaseKey, type ShardRollups } from '../detect/rollup.js';
import type { RequestAnalysis } from '../detect/types.js';
import { createUnitDecoders, decodeUnit, inProtobufUnit, isRawUnit, readTraceUnits, type RawUnit, type TraceUnit, type UnitDecoders } from '../otlp/file.js';
import { shardOfTraceId } from '../otlp/shard.js';
import { refusedIn, type DecodedBatch, type SpanRecord, type SpanSink, type TraceId } from '../otlp/span.js';
import type { SinkBatch, WireDecoder } from '../otlp/wire/decoder.js';
import { replayPack, SplitSink, type Peers, type SpanPack } from './exchange.js';
import { errorData, errorFrom, type FromWorker } from './protocol.js';

type ProtobufUnit = Extract<RawUnit, { raw: 'protobuf' }>;
type JsonLineUnit = Extract<RawUnit, { raw: 'json-line' }>;

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
  readonly shard: number;
  readonly shards: number;
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
    this.shard = shard;
    this.shards = shards;
  }

  /**
   * Adds this shard's spans of a unit that every shard reads itself: a protobuf message, whose
   * other spans it skips by their length (throws what decoding the message throws, possibly at a
   * later byte than --jobs 1), or a batch the reading decoded (a Jaeger or Zipkin file's).
   */
  addUnit(unit: DecodedBatch | ProtobufUnit, decoders: UnitDecoders): void {
    const round = 3 * this.#units++;
    if (isRawUnit(unit)) {
      const decoder = this.#shardDecoder(decoders.wire);
      this.#take(round + EVICTED, inProtobufUnit(unit, (bytes) => this.analyzer.addMessage(decoder, bytes, (read) => (this.#spansRead += read))).analyses);
    } else {
      const mine = this.#mine(unit.spans, unit.ordinals);
      this.#spansRead += unit.spans.length + refusedIn(unit);
      this.#take(round + EVICTED, this.analyzer.add(mine, this.#spansRead));
    }
    this.#take(round + POLLED, this.analyzer.poll(this.#spansRead));
    if (this.#last.size > this.#pruneAt) this.#prune();
  }

  /** Adds this shard's share of one unit, as the shard that decoded it packed it (exchange.ts); throws the unit's error, --jobs 1's. */
  addPack(pack: SpanPack): void {
    const batch = pack.batch;
    if ('error' in batch) throw errorFrom(batch.error);
    const round = 3 * this.#units++;
    const base = this.#spansRead;
    const last = this.#last;
    const replay = (sink: SpanSink): SinkBatch => {
      replayPack(pack, sink, (traceId, index) => last.set(traceId, base + index));
      return batch;
    };
    this.#take(round + EVICTED, this.analyzer.addDecoded(replay, (read) => (this.#spansRead += read)).analyses);
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
        lastMine = shardOfTraceId(lastId, this.shards) === this.shard;
      }
      if (lastMine) {
        mine.push(span);
        this.#last.set(lastId, base + (ordinals === undefined ? i : ordinals[i]!));
      }
    }
    return mine;
  }

  /** The file's wire decoder restricted to this shard, its sink noting each trace's last position. */
  #shardDecoder(wire: WireDecoder): WireDecoder {
    let decoder = this.#decoders.get(wire);
    if (decoder === undefined) {
      decoder = new ShardDecoder(wire, this.shard, this.shards, (traceId) => this.#last.set(traceId, this.#spansRead + wire.spanIndex));
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

/**
 * A unit read and not yet analysed: one every shard reads itself (a protobuf message, a decoded
 * batch), or a JSON line's pack for this shard, its own or one to come from the shard that decoded it.
 */
type Ahead = { unit: number; local: DecodedBatch | ProtobufUnit } | { unit: number; pack: SpanPack } | { unit: number; from: number };

/**
 * Reads every file and analyses one shard of it: the shard's result, or where and why the input
 * failed. A protobuf message is read by every shard, which skips other shards' spans by their
 * length; a JSON line cannot be skipped without reading every byte, so the shard `unit % shards`
 * decodes it whole as soon as it reads it and sends each shard its share through `peers`. Units
 * are analysed in input order, so a shard reads at most `window` units ahead while it waits for a
 * peer's pack.
 */
export async function analyseShard(files: readonly string[], analysis: ShardAnalysis, peers: Peers): Promise<Exclude<FromWorker, { fatal: string }>> {
  const { shard, shards } = analysis;
  const window = Math.max(64, 8 * shards);
  const ahead: Ahead[] = [];
  let read = 0;
  let decoders = createUnitDecoders();
  /** Analyses the units ahead until `keep` are left, waiting for packs only when `wait`; the unit that failed, if one did. */
  const analyseAhead = async (keep: number, wait: boolean): Promise<{ unit: number; error: unknown } | undefined> => {
    while (ahead.length > keep) {
      const next = ahead[0]!;
      try {
        if ('local' in next) {
          try {
            analysis.addUnit(next.local, decoders);
          } catch (error) {
            throw isRawUnit(next.local) ? wholeUnitError(next.local, error) : error;
          }
        } else {
          let pack = 'pack' in next ? next.pack : peers.poll(next.unit, next.from);
          if (pack === undefined) {
            if (!wait) return undefined;
            pack = await peers.take(next.unit, (next as { from: number }).from);
          }
          analysis.addPack(pack);
        }
      } catch (error) {
        return { unit: next.unit, error };
      }
      ahead.shift();
    }
    return undefined;
  };
  const failed = (failure: { unit: number; error: unknown }): Exclude<FromWorker, { fatal: string }> => {
    peers.stop(read);
    return { failed: { unit: failure.unit, error: errorData(failure.error) } };
  };
  try {
    for (const file of files) {
      // Units ahead of the analysis belong to the file before: it finishes them first.
      const failure = await analyseAhead(0, true);
      if (failure !== undefined) return failed(failure);
      decoders = createUnitDecoders();
      const split = new LineSplitter(decoders, shards);
      for await (const next of readTraceUnits(file)) {
        const unit = read++;
        if (!isRawUnit(next) || next.raw === 'protobuf') ahead.push({ unit, local: next });
        else if (unit % shards !== shard) ahead.push({ unit, from: unit % shards });
        else {
          split.split(next).forEach(({ pack, transfer }, to) => {
            if (to === shard) ahead.push({ unit, pack });
            else peers.send(to, unit, pack, transfer);
          });
        }
        const failure = (await analyseAhead(0, false)) ?? (ahead.length >= window ? await analyseAhead(window / 2, true) : undefined);
        if (failure !== undefined) return failed(failure);
      }
    }
  } catch (error) {
    // A reading error comes after every unit already read, whose own errors come first.
    const failure = await analyseAhead(0, true);
    return failed(failure ?? { unit: read, error });
  }
  const failure = await analyseAhead(0, true);
  return failure !== undefined ? failed(failure) : { done: analysis.finish() };
}

/** Decodes JSON lines whole, split into every shard's pack (a line that fails: its error in each). */
class LineSplitter {
  readonly #decoders: UnitDecoders;
  readonly #sink: SplitSink;

  constructor(decoders: UnitDecoders, shards: number) {
    this.#decoders = decoders;
    this.#sink = new SplitSink(shards, () => decoders.lazyJson.spanIndex);
  }

  /** As OfflineAnalysis.addUnit decodes the line for --jobs 1 (otlp/file.ts decodeJsonLineTo), errors included. */
  split(unit: JsonLineUnit): ReturnType<SplitSink['finish']> {
    const decoders = this.#decoders;
    const sink = this.#sink;
    let batch: SinkBatch | undefined;
    try {
      batch = decoders.lazyJson.decodeTo(unit.bytes, sink);
      if (batch === undefined) {
        const decoded = decodeUnit(unit, decoders);
        decoded.spans.forEach((span, i) => sink.record(span, decoded.ordinals?.[i] ?? i));
        batch = { accepted: decoded.spans.length, rejected: decoded.rejected };
      }
    } catch (error) {
      return sink.finish({ error: errorData(error) });
    }
    return sink.finish(batch);
  }
}

/** The error --jobs 1 reports for a message a shard could not decode: the message decoded whole, as it is there. */
function wholeUnitError(unit: TraceUnit, shardError: unknown): unknown {
  if (!isRawUnit(unit)) return shardError;
  try {
    decodeUnit(unit, createUnitDecoders());
  } catch (error) {
    return error;
  }
  return shardError;
}
