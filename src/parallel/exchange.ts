/**
 * A decoded unit's spans split by the shard that owns their trace and packed to cross threads
 * (n1-report --jobs): one shard decodes each unit whole and sends every shard its share, so no
 * shard reads another's spans.
 */
import type { CodeLocation } from '../detect/types.js';
import { shardOfTraceId } from '../otlp/shard.js';
import { DbSpanFields, type SpanRecord, type SpanSink, type TraceId } from '../otlp/span.js';
import type { SinkBatch } from '../otlp/wire/decoder.js';
import type { ErrorData } from './protocol.js';

/** Per DB span: the id's two words, start, end, and the span's index among the unit's spans. */
const NUMBERS = 5;
/** Per DB span, as indexes into `strings`: trace id, parent, system, statement, comment, service; then the location's index into `locations` (-1: none). */
const STRINGS = 7;

/** One shard's share of one unit: its spans in the order the decoder handed them over. */
export interface SpanPack {
  /** The whole unit's counts (every shard's spans: the span clock), or the error --jobs 1 stops at. */
  batch: SinkBatch | { error: ErrorData };
  dbNumbers: Float64Array;
  dbStrings: Int32Array;
  strings: string[];
  locations: CodeLocation[];
  records: SpanRecord[];
  /** Each record's index among the unit's spans. */
  recordIndexes: number[];
  /** Each record's place among all the pack's spans (DB spans take the others, in order). */
  recordSeq: number[];
}

/** Builds one shard's pack: strings and locations are sent once per pack however many spans share them. */
class PackBuilder {
  #numbers = new Float64Array(NUMBERS * 64);
  #ids = new Int32Array(STRINGS * 64);
  #db = 0;
  #strings: string[] = [];
  readonly #stringIds = new Map<string, number>();
  #locations: CodeLocation[] = [];
  readonly #locationIds = new Map<CodeLocation, number>();
  #records: SpanRecord[] = [];
  #recordIndexes: number[] = [];
  #recordSeq: number[] = [];
  // The last string of each column: spans of one request repeat them, so most lookups end here.
  readonly #lastText: (string | undefined)[] = new Array<string | undefined>(6).fill(undefined);
  readonly #lastId: number[] = [-1, -1, -1, -1, -1, -1];

  db(span: Readonly<DbSpanFields>, index: number): void {
    const n = this.#db++;
    if ((n + 1) * STRINGS > this.#ids.length) this.#grow();
    const k = n * NUMBERS;
    const numbers = this.#numbers;
    numbers[k] = span.spanIdHi;
    numbers[k + 1] = span.spanIdLo;
    numbers[k + 2] = span.startMs;
    numbers[k + 3] = span.endMs;
    numbers[k + 4] = index;
    const s = n * STRINGS;
    const ids = this.#ids;
    ids[s] = this.#string(0, span.traceId);
    ids[s + 1] = this.#string(1, span.parentSpanId);
    ids[s + 2] = this.#string(2, span.system);
    ids[s + 3] = this.#string(3, span.statement);
    ids[s + 4] = this.#string(4, span.comment);
    ids[s + 5] = this.#string(5, span.service);
    const location = span.location;
    ids[s + 6] = location === undefined ? -1 : this.#location(location);
  }

  record(record: SpanRecord, index: number): void {
    this.#recordSeq.push(this.#db + this.#records.length);
    this.#records.push(record);
    this.#recordIndexes.push(index);
  }

  /** The pack; the builder starts the next one. */
  finish(batch: SpanPack['batch']): SpanPack {
    const dbNumbers = this.#numbers.slice(0, this.#db * NUMBERS);
    const dbStrings = this.#ids.slice(0, this.#db * STRINGS);
    const pack: SpanPack = {
      batch, dbNumbers, dbStrings, strings: this.#strings, locations: this.#locations,
      records: this.#records, recordIndexes: this.#recordIndexes, recordSeq: this.#recordSeq,
    };
    this.#db = 0;
    this.#strings = [];
    this.#stringIds.clear();
    this.#locations = [];
    this.#locationIds.clear();
    this.#records = [];
    this.#recordIndexes = [];
    this.#recordSeq = [];
    this.#lastText.fill(undefined);
    return pack;
  }

  #string(column: number, text: string): number {
    if (this.#lastText[column] === text) return this.#lastId[column]!;
    let id = this.#stringIds.get(text);
    if (id === undefined) {
      id = this.#strings.length;
      this.#strings.push(text);
      this.#stringIds.set(text, id);
    }
    this.#lastText[column] = text;
    this.#lastId[column] = id;
    return id;
  }

  #location(location: CodeLocation): number {
    let id = this.#locationIds.get(location);
    if (id === undefined) {
      id = this.#locations.length;
      this.#locations.push(location);
      this.#locationIds.set(location, id);
    }
    return id;
  }

  #grow(): void {
    const numbers = new Float64Array(this.#numbers.length * 2);
    numbers.set(this.#numbers);
    this.#numbers = numbers;
    const ids = new Int32Array(this.#ids.length * 2);
    ids.set(this.#ids);
    this.#ids = ids;
  }
}

/**
 * A sink that splits one unit's spans among `shards` packs by trace id. `index` gives, while the
 * decoder calls the sink, the span's index among the unit's spans (the decoder's spanIndex).
 */
export class SplitSink implements SpanSink {
  readonly #shards: number;
  readonly #index: () => number;
  readonly #packs: PackBuilder[];
  #lastTrace = '';
  #lastShard = 0;

  constructor(shards: number, index: () => number) {
    this.#shards = shards;
    this.#index = index;
    this.#packs = Array.from({ length: shards }, () => new PackBuilder());
  }

  dbSpan(span: Readonly<DbSpanFields>): void {
    this.#packs[this.#shardOf(span.traceId)]!.db(span, this.#index());
  }

  span(record: SpanRecord): void {
    this.record(record, this.#index());
  }

  /** A record handed over with its index given (the records path of a line the lazy reader gave up). */
  record(record: SpanRecord, index: number): void {
    this.#packs[this.#shardOf(record.traceId)]!.record(record, index);
  }

  /** Every shard's pack of the unit (its counts, or its error, in each); the sink starts the next unit. */
  finish(batch: SpanPack['batch']): SpanPack[] {
    return this.#packs.map((p) => p.finish(batch));
  }

  #shardOf(traceId: TraceId): number {
    if (traceId !== this.#lastTrace) {
      this.#lastTrace = traceId;
      this.#lastShard = shardOfTraceId(traceId, this.#shards);
    }
    return this.#lastShard;
  }
}

/** Hands a pack's spans to a sink in the order they were packed; `noted` gets each span's trace and index among the unit's spans first. */
export function replayPack(pack: SpanPack, sink: SpanSink, noted: (traceId: TraceId, index: number) => void): void {
  const { dbNumbers: numbers, dbStrings: ids, strings, locations, records, recordIndexes, recordSeq } = pack;
  const total = numbers.length / NUMBERS + records.length;
  const span = new DbSpanFields();
  let db = 0;
  let r = 0;
  for (let seq = 0; seq < total; seq++) {
    if (r < recordSeq.length && recordSeq[r] === seq) {
      const record = records[r]!;
      noted(record.traceId, recordIndexes[r]!);
      sink.span(record);
      r++;
      continue;
    }
    const k = db * NUMBERS;
    const s = db * STRINGS;
    const traceId = strings[ids[s]!]!;
    noted(traceId, numbers[k + 4]!);
    const location = ids[s + 6]!;
    span.traceId = traceId;
    span.spanIdHi = numbers[k]!;
    span.spanIdLo = numbers[k + 1]!;
    span.parentSpanId = strings[ids[s + 1]!]!;
    span.startMs = numbers[k + 2]!;
    span.endMs = numbers[k + 3]!;
    span.system = strings[ids[s + 2]!]!;
    span.statement = strings[ids[s + 3]!]!;
    span.comment = strings[ids[s + 4]!]!;
    span.service = strings[ids[s + 5]!]!;
    span.location = location < 0 ? undefined : locations[location];
    sink.dbSpan(span);
    db++;
  }
}

/** Why a shard stopped waiting for a peer's packs: the peer stopped before it sent them (its own failure is the one to report). */
export class PeerStopped extends Error {
  override name = 'PeerStopped';
}

/** What crosses a port between shards: the packs of a unit or a range of units, under the key both sides name them by; or the sender's last word. */
type PeerMessage = { key: string; packs: SpanPack[] } | { stopped: true };

/** This shard's ports to the others (none at its own index): packs out, and packs in by key. */
export class Peers {
  readonly #ports: readonly (MessagePortLike | undefined)[];
  readonly #inbox = new Map<string, SpanPack[]>();
  /** Per peer: it sends nothing more (it stopped, or its port closed); what it sent before has arrived. */
  readonly #stopped: boolean[];
  #waiting: { key: string; from: number; resolve: (packs: SpanPack[]) => void; reject: (error: Error) => void } | undefined;

  constructor(ports: readonly (MessagePortLike | undefined)[]) {
    this.#ports = ports;
    this.#stopped = ports.map(() => false);
    ports.forEach((port, from) => {
      port?.on('message', (message: PeerMessage) => {
        if ('key' in message) this.#arrived(message.key, message.packs);
        else this.#stop(from);
      });
      port?.on('close', () => this.#stop(from));
    });
  }

  /**
   * Sends packs under `key`. Their typed arrays are copied, not transferred: the first ArrayBuffer
   * detached in a thread makes V8 throw away every optimised function that reads typed arrays (its
   * detaching protector), and the decoders are hot by then (81 such markings against 15 at --jobs 2).
   */
  send(to: number, key: string, packs: SpanPack[]): void {
    this.#ports[to]!.postMessage({ key, packs } satisfies PeerMessage);
  }

  /** Tells every peer that this shard sends nothing more. */
  stop(): void {
    for (const port of this.#ports) port?.postMessage({ stopped: true } satisfies PeerMessage);
  }

  /** The packs under `key` from shard `from` if they have come; throws PeerStopped if they never will. */
  poll(key: string, from: number): SpanPack[] | undefined {
    const packs = this.#inbox.get(key);
    if (packs !== undefined) {
      this.#inbox.delete(key);
      return packs;
    }
    if (this.#stopped[from]) throw new PeerStopped(`shard ${from} stopped before it sent ${key}`);
    return undefined;
  }

  /** The packs under `key` from shard `from`, once they come. */
  take(key: string, from: number): Promise<SpanPack[]> {
    try {
      const packs = this.poll(key, from);
      if (packs !== undefined) return Promise.resolve(packs);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return new Promise((resolve, reject) => (this.#waiting = { key, from, resolve, reject }));
  }

  close(): void {
    for (const port of this.#ports) port?.close();
  }

  #arrived(key: string, packs: SpanPack[]): void {
    const waiting = this.#waiting;
    if (waiting?.key === key) {
      this.#waiting = undefined;
      waiting.resolve(packs);
    } else this.#inbox.set(key, packs);
  }

  #stop(from: number): void {
    this.#stopped[from] = true;
    const waiting = this.#waiting;
    if (waiting !== undefined && waiting.from === from) {
      this.#waiting = undefined;
      waiting.reject(new PeerStopped(`shard ${from} stopped before it sent ${waiting.key}`));
    }
  }
}

/** The part of node:worker_threads' MessagePort that Peers uses. */
export interface MessagePortLike {
  on(event: 'message', listener: (message: PeerMessage) => void): unknown;
  on(event: 'close', listener: () => void): unknown;
  postMessage(message: PeerMessage): void;
  close(): void;
}
