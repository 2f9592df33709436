/**
 * One shard of an offline analysis (n1-report --jobs): every unit of the input counted, the spans of
 * this shard's traces analysed in input order, and their requests added to rollups with the key
 * that says where a single analysis of the whole input released them, so shards' rollups merge into
 * its rollups exactly (detect/rollup.ts RollupSet.fromShards).
 */
import { Analyzer, offlineAnalyzerOptions } from '../analyzer.js';
import type { ConnectionUse } from '../detect/connections.js';
import type { RouteTraffic } from '../detect/routes.js';
import type { DetectOptions } from '../detect/request.js';
import { RollupSet, type ReleaseKey, type ShardRollups } from '../detect/rollup.js';
import type { RequestAnalysis } from '../detect/types.js';
import { createUnitDecoders, decodeUnit, errorAtUnit, inProtobufUnit, isRawUnit, RangeReadError, readJsonLineRange, readProtobufFrames, readTraceUnits, type RawUnit, type TraceUnit, type UnitDecoders } from '../otlp/file.js';
import { shardOfTraceId } from '../otlp/shard.js';
import { countRefused, refusedIn, type DbSpanFields, type DecodedBatch, type RefusedSpans, type SpanRecord, type SpanSink, type TraceId } from '../otlp/span.js';
import type { SinkBatch, WireDecoder } from '../otlp/wire/decoder.js';
import { replayPack, SplitSink, type Peers, type SpanPack } from './exchange.js';
import { errorData, errorFrom, type FromWorker } from './protocol.js';

type ProtobufUnit = Extract<RawUnit, { raw: 'protobuf' }>;

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
  /** Route traffic of this shard's requests (RollupSet.routes). */
  routes: RouteTraffic[];
  lateSpans: number;
  /** Traces released early to stay within the shard's share of the memory (analyzer.ts offlineAnalyzerOptions). */
  evictedTraces: number;
  /** Spans refused in the whole input, by reason: every shard counts every unit's (they keep its span clock). */
  refused: RefusedSpans;
  /** Queries outside any request in this shard's traces (traces/assemble.ts isOutsideRequests). */
  queriesOutsideRequests: number;
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
  readonly #refused: RefusedSpans = {};

  /** `openBytes`: what all shards together keep open (analyzer.ts OFFLINE_OPEN_BYTES, smaller in tests). */
  constructor(options: DetectOptions, shard: number, shards: number, openBytes?: number) {
    this.analyzer = new Analyzer(offlineAnalyzerOptions(options, shards, openBytes));
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
      const { batch, analyses } = inProtobufUnit(unit, (bytes) => this.analyzer.addMessage(decoder, bytes, (read) => (this.#spansRead += read)));
      countRefused(this.#refused, batch);
      this.#take(round + EVICTED, analyses);
    } else {
      const mine = this.#mine(unit.spans, unit.ordinals);
      countRefused(this.#refused, unit);
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
    countRefused(this.#refused, batch);
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
    this.analyzer.flushEach((analyses) => this.#take(3 * this.#units + FLUSHED, analyses));
    const counters = this.analyzer.assembler.counters;
    return { rollups: this.#rollups.toShard(), connections: this.#connections, routes: [...this.#rollups.routes.values()], lateSpans: counters.lateSpans, evictedTraces: counters.evictions, refused: this.#refused, queriesOutsideRequests: counters.queriesOutsideRequests };
  }

  #take(round: number, analyses: RequestAnalysis[]): void {
    for (const analysis of analyses) {
      const key = { round, position: this.#last.get(analysis.traceId) ?? -1 };
      this.#rollups.addEndpoint(analysis, key);
      this.#rollups.addRoute(analysis);
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
        dbSpan(span: Readonly<DbSpanFields>): void {
          seen(span.traceId);
          inner.dbSpan(span);
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
 * A unit read and not yet analysed: one every shard reads itself (a gzip'd protobuf message, a
 * decoded batch), or this shard's pack of a unit one shard decodes, its own or one to come.
 */
type Ahead = { unit: number; local: DecodedBatch | ProtobufUnit } | { unit: number; pack: SpanPack } | { unit: number; from: number };

/** Where and why the input failed: the unit (counted over every file) and the error --jobs 1 reports there. */
interface Failure {
  unit: number;
  error: unknown;
}

/** Bytes of an uncompressed JSON-lines file that one shard reads and decodes for all. */
export const RANGE_BYTES = 4 * 1024 * 1024;

/**
 * From this many shards an uncompressed protobuf file is read apart, each message decoded by one
 * shard for all; below it every shard reads every message and skips other shards' spans by their
 * length. Packing and replaying half the spans cost more than skipping them at 2 shards (9.8 against
 * 9.0 G instructions, 0.67 against 0.59 s on the lean corpus), the same at 4, less at 8 (18.3 against
 * 19.6 G; bench/README.md).
 */
const FRAMES_FROM_SHARDS = 4;

/**
 * Reads every file and analyses one shard of it: the shard's result, or where and why the input
 * failed. Each raw unit is decoded whole by one shard, which sends each shard its share through
 * `peers`: in an uncompressed file the units are read apart, shard r % N reading the r-th range of
 * RANGE_BYTES of JSON lines or, from FRAMES_FROM_SHARDS shards, by the length prefixes, the r-th
 * protobuf message (the others never read them); a gzip'd file is inflated by every shard, and its
 * JSON line u decoded by shard u % N, while its protobuf messages (and a plain file's, below
 * FRAMES_FROM_SHARDS) are walked by every shard, which skips other shards' spans by their length.
 * Units are analysed in input order, so the release keys, the span clock and the first failing unit
 * are --jobs 1's.
 */
export async function analyseShard(
  files: readonly string[], analysis: ShardAnalysis, peers: Peers, reading: ShardReading,
): Promise<Exclude<FromWorker, { fatal: string }>> {
  let failure: Failure | undefined;
  try {
    failure = await new ShardRun(analysis, peers, reading).files(files);
  } catch (error) {
    // A bug, not the input: the peers must not wait for this shard's packs.
    peers.stop();
    throw error;
  }
  if (failure === undefined) return { done: analysis.finish() };
  peers.stop();
  return { failed: { unit: failure.unit, error: errorData(failure.error) } };
}

/** How every shard reads the files alike. */
export interface ShardReading {
  /** Each file's size when the run started: every shard reads that much, however a file grows meanwhile (else they could count different units). */
  sizes: readonly number[];
  /** RANGE_BYTES, smaller in tests. */
  rangeBytes?: number;
}

/** One shard's pass over the input (analyseShard). */
class ShardRun {
  readonly #analysis: ShardAnalysis;
  readonly #peers: Peers;
  readonly #shard: number;
  readonly #shards: number;
  /** Units read ahead of the analysis (unit by unit), at most `#window` while a peer's pack is awaited. */
  readonly #ahead: Ahead[] = [];
  readonly #window: number;
  readonly #rangeBytes: number;
  readonly #sizes: readonly number[];
  /** Units counted so far, over every file: read, or analysed from a range's packs. */
  #units = 0;
  #decoders = createUnitDecoders();

  constructor(analysis: ShardAnalysis, peers: Peers, reading: ShardReading) {
    this.#rangeBytes = reading.rangeBytes ?? RANGE_BYTES;
    this.#sizes = reading.sizes;
    this.#analysis = analysis;
    this.#peers = peers;
    this.#shard = analysis.shard;
    this.#shards = analysis.shards;
    this.#window = Math.max(64, 8 * analysis.shards);
  }

  async files(files: readonly string[]): Promise<Failure | undefined> {
    let file = 0;
    try {
      for (const path of files) {
        // Units ahead of the analysis belong to the file before: they are analysed with its decoders.
        const failure = (await this.#analyseAhead(0, true)) ?? (await this.#file(path, file++));
        if (failure !== undefined) return failure;
      }
    } catch (error) {
      // A reading error comes after every unit already read, whose own errors come first.
      return (await this.#analyseAhead(0, true)) ?? { unit: this.#units, error };
    }
    return this.#analyseAhead(0, true);
  }

  /**
   * One file, unit by unit as every shard reads it, until it shows an uncompressed file whose units
   * can be read apart: JSON lines by byte range (from the first line, once it has told the format) or
   * length-delimited protobuf messages by their length prefixes.
   */
  async #file(path: string, file: number): Promise<Failure | undefined> {
    this.#decoders = createUnitDecoders();
    const split = new UnitSplitter(this.#decoders, this.#shards);
    const bytes = this.#sizes[file]!;
    let apart: { lines: number } | { frames: number } | undefined;
    for await (const next of readTraceUnits(path, { bytes })) {
      // Leaving the loop closes the stream (its file and buffered chunk) before the file is read apart.
      if (isRawUnit(next) && next.raw === 'json-line' && next.offset !== undefined) apart = { lines: next.offset };
      else if (isRawUnit(next) && next.raw === 'protobuf' && next.frame !== undefined && this.#shards >= FRAMES_FROM_SHARDS) apart = { frames: next.frame };
      if (apart !== undefined) break;
      const failure = await this.#read(isRawUnit(next) && next.raw === 'protobuf' ? { local: next } : next, split);
      if (failure !== undefined) return failure;
    }
    if (apart === undefined) return undefined;
    if ('frames' in apart) return this.#frames(path, file, apart.frames, split);
    return (await this.#analyseAhead(0, true)) ?? (await this.#ranges(path, file, apart.lines, split));
  }

  /**
   * An uncompressed length-delimited protobuf file from the frame at byte `from`: this shard reads
   * and decodes every N-th message for all shards and only the length prefixes of the others.
   */
  async #frames(path: string, file: number, from: number, split: UnitSplitter): Promise<Failure | undefined> {
    const first = this.#units;
    const bytes = this.#sizes[file]!;
    try {
      for await (const next of readProtobufFrames(path, from, (k) => (first + k) % this.#shards === this.#shard, { bytes })) {
        const failure = await this.#read(next, split);
        if (failure !== undefined) return failure;
      }
    } catch (error) {
      // A frame cut short or too long: reading from the start says how --jobs 1 fails there.
      throw error instanceof RangeReadError ? ((await errorAtUnit(path, error.offset, { bytes })) ?? error) : error;
    }
    return undefined;
  }

  /**
   * The next unit of the input, as read: one every shard reads itself (`local`: a protobuf message
   * walked by tags, a decoded batch), one this shard decodes for all, or (undefined) another
   * shard's. The units ahead are then analysed as far as their packs have come, waiting only when
   * the window is full.
   */
  async #read(next: { local: DecodedBatch | ProtobufUnit } | DecodedBatch | RawUnit | undefined, split: UnitSplitter): Promise<Failure | undefined> {
    const unit = this.#units++;
    if (next !== undefined && 'local' in next) this.#ahead.push({ unit, local: next.local });
    else if (next !== undefined && !isRawUnit(next)) this.#ahead.push({ unit, local: next });
    else if (unit % this.#shards !== this.#shard) this.#ahead.push({ unit, from: unit % this.#shards });
    else {
      split.split(next!).forEach((pack, to) => {
        if (to === this.#shard) this.#ahead.push({ unit, pack });
        else this.#peers.send(to, `u${unit}`, [pack]);
      });
    }
    return (await this.#analyseAhead(0, false)) ?? (this.#ahead.length >= this.#window ? await this.#analyseAhead(this.#window / 2, true) : undefined);
  }

  /**
   * The JSON lines of an uncompressed file from byte `from` on, range by range: this shard reads
   * and decodes every N-th range for all shards, a few ranges ahead of its analysis, and analyses
   * every range's packs in order.
   */
  async #ranges(path: string, file: number, from: number, split: UnitSplitter): Promise<Failure | undefined> {
    const ranges = Math.ceil((this.#sizes[file]! - from) / this.#rangeBytes);
    const own = new Map<number, SpanPack[]>();
    let next = this.#shard;
    for (let range = 0; range < ranges; range++) {
      // Ranges this shard decodes are sent before it waits for any later one, so no two shards wait on each other.
      for (; next < ranges && next <= range + 2 * this.#shards; next += this.#shards) {
        own.set(next, await this.#decodeRange(path, file, from, next, split));
      }
      let packs = own.get(range);
      own.delete(range);
      try {
        packs ??= await this.#peers.take(`r${file}.${range}`, range % this.#shards);
      } catch (error) {
        return { unit: this.#units, error };
      }
      for (const pack of packs) {
        const unit = this.#units++;
        try {
          this.#analysis.addPack(pack);
        } catch (error) {
          return { unit, error };
        }
      }
    }
    return undefined;
  }

  /** Range `range`'s lines decoded and split: each other shard's packs sent, this shard's returned. A line that fails ends the range, its error --jobs 1's. */
  async #decodeRange(path: string, file: number, from: number, range: number, split: UnitSplitter): Promise<SpanPack[]> {
    const byShard = Array.from({ length: this.#shards }, (): SpanPack[] => []);
    const add = (packs: SpanPack[]): void => packs.forEach((pack, to) => byShard[to]!.push(pack));
    const start = from + range * this.#rangeBytes;
    const bytes = this.#sizes[file]!;
    let at = start;
    try {
      for (const unit of await readJsonLineRange(path, start, start + this.#rangeBytes, { bytes })) {
        at = unit.offset!;
        const packs = split.split(unit);
        const batch = packs[0]!.batch;
        if ('error' in batch) {
          // Its number is in --jobs 1's message: the line is read again from the start of the file.
          add(split.failed((await errorAtUnit(path, at, { bytes })) ?? errorFrom(batch.error)));
          break;
        }
        add(packs);
      }
    } catch (error) {
      // A line too long, or the file unreadable: reading from the start says how --jobs 1 fails.
      if (error instanceof RangeReadError) at = error.offset;
      add(split.failed((await errorAtUnit(path, at, { bytes })) ?? error));
    }
    byShard.forEach((packs, to) => {
      if (to !== this.#shard) this.#peers.send(to, `r${file}.${range}`, packs);
    });
    return byShard[this.#shard]!;
  }

  /** Analyses the units ahead until `keep` are left, waiting for packs only when `wait`; the unit that failed, if one did. */
  async #analyseAhead(keep: number, wait: boolean): Promise<Failure | undefined> {
    const ahead = this.#ahead;
    while (ahead.length > keep) {
      const next = ahead[0]!;
      try {
        if ('local' in next) {
          try {
            this.#analysis.addUnit(next.local, this.#decoders);
          } catch (error) {
            throw isRawUnit(next.local) ? wholeUnitError(next.local, error) : error;
          }
        } else {
          let pack = 'pack' in next ? next.pack : this.#peers.poll(`u${next.unit}`, next.from)?.[0];
          if (pack === undefined) {
            if (!wait) return undefined;
            pack = (await this.#peers.take(`u${next.unit}`, (next as { from: number }).from))[0]!;
          }
          this.#analysis.addPack(pack);
        }
      } catch (error) {
        return { unit: next.unit, error };
      }
      ahead.shift();
    }
    return undefined;
  }
}

/** Decodes raw units whole (JSON lines, protobuf messages), split into every shard's pack (a unit that fails: its error in each). */
class UnitSplitter {
  readonly #decoders: UnitDecoders;
  readonly #json: SplitSink;
  readonly #wire: SplitSink;

  constructor(decoders: UnitDecoders, shards: number) {
    this.#decoders = decoders;
    this.#json = new SplitSink(shards, () => decoders.lazyJson.spanIndex);
    this.#wire = new SplitSink(shards, () => decoders.wire.spanIndex);
  }

  /** As OfflineAnalysis.addUnit decodes the unit for --jobs 1 (otlp/file.ts decodeJsonLineTo, inProtobufUnit), errors included. */
  split(unit: RawUnit): ReturnType<SplitSink['finish']> {
    const decoders = this.#decoders;
    const sink = unit.raw === 'protobuf' ? this.#wire : this.#json;
    let batch: SinkBatch | undefined;
    try {
      if (unit.raw === 'protobuf') batch = inProtobufUnit(unit, (bytes) => decoders.wire.decodeTo(bytes, sink));
      else {
        batch = decoders.lazyJson.decodeTo(unit.bytes, sink);
        if (batch === undefined) {
          const decoded = decodeUnit(unit, decoders);
          decoded.spans.forEach((span, i) => sink.record(span, decoded.ordinals?.[i] ?? i));
          batch = { accepted: decoded.spans.length, rejected: decoded.rejected };
        }
      }
    } catch (error) {
      return this.failed(error, unit.raw);
    }
    return sink.finish(batch);
  }

  /** Every shard's pack of a unit that failed with `error` (the spans split before it dropped). */
  failed(error: unknown, kind: RawUnit['raw'] = 'json-line'): ReturnType<SplitSink['finish']> {
    return (kind === 'protobuf' ? this.#wire : this.#json).finish({ error: errorData(error) });
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
