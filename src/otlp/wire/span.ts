/**
 * One Span message on the wire to a SpanRecord: its ids, name, kind, times and status, and the
 * attributes folded with to-span.ts's rules (a stable name beats an old one, the best-ranked peer
 * and client sources win), validated as to-span.ts's rejectReason does, on the raw bytes.
 */
import { DbSpanFields, type SpanKind, type SpanRecord, type SpanRejectReason, type SpanSink, type TraceId } from '../span.js';
import { AttributeFolder } from '../fold.js';
import { buildRecord, MS_PER_HI, nanosToMs } from '../to-span.js';
import { locationOf } from '../location.js';
import { shardOfTraceIdBytes } from '../shard.js';
import { AttributeReader } from './attributes.js';
import { fail, failNumbered, truncatedNumbered, WIRE_FIXED32, WIRE_FIXED64, WIRE_LEN, WIRE_VARINT, type WireCursor } from './cursor.js';
import type { TraceScan } from './decoder.js';
import type { WireStrings } from './strings.js';

export const REJECT_ORDER: readonly SpanRejectReason[] = ['bad_trace_id', 'bad_span_id', 'bad_parent_span_id', 'end_before_start'];

/**
 * Reads spans into `spans`, counting the refused ones in `rejected` (REJECT_ORDER). With a shard
 * set (n1-report --jobs), only spans of the shard's traces become records: the others are walked
 * for validation and counted in `accepted` without folding their attributes, and `positions`
 * holds each record's index among the message's accepted spans.
 */
export class SpanReader {
  readonly #cursor: WireCursor;
  readonly #strings: WireStrings;
  readonly attributes: AttributeReader;
  /** The current span's folded attributes (to-span.ts's buildRecord makes the record from them). */
  readonly #folder = new AttributeFolder();
  spans: SpanRecord[] = [];
  readonly rejected = [0, 0, 0, 0];
  /** Shard mode: this reader's shard of `shards`; 1 shard reads every span. */
  shard = 0;
  shards = 1;
  accepted = 0;
  positions: number[] = [];
  /** Records mode with one shard (WireDecoder.decode), once a span was refused: each record's index among the message's spans (DecodedBatch.ordinals). */
  ordinals: number[] | undefined;
  /** Sink mode (WireDecoder.decodeTo, see useSink): valid spans go here, counted in `accepted`, instead of into `spans`. */
  sink: SpanSink | undefined;
  /** Sink mode: the index among the message's accepted spans of the span being handed over. */
  position = 0;
  /** Scan mode (WireDecoder.scanTraces, a shard of none): other shards' valid spans are noted here. */
  scan: TraceScan | undefined;
  /** Sink mode: each plain DB span's fields, refilled for every one. */
  readonly #dbSpan = new DbSpanFields();

  constructor(cursor: WireCursor, strings: WireStrings, attributes: AttributeReader) {
    this.#cursor = cursor;
    this.#strings = strings;
    this.attributes = attributes;
    // V8 inlines #statusCode into `read`. Exporters send an empty Status for every span that did not
    // fail, so its loop had run for none when `read` was optimised, and the first error (its code,
    // often a message) threw that code away: a deoptimisation and a second compile of `read`. A few
    // Statuses read here, more than V8 takes to give the function its feedback, teach it first.
    cursor.start(STATUS_WITH_MESSAGE);
    for (let i = 0; i < STATUS_WARM_UP_READS; i++) this.#statusCode(0, STATUS_WITH_MESSAGE.length, 0);
    cursor.release();
  }

  /**
   * Sink mode on (a sink) or off: a plain DB span's statement then reaches the sink as its text and
   * its trailing comment apart (WireStrings.statement), so the text is shared across requests.
   */
  useSink(sink: SpanSink | undefined): void {
    this.sink = sink;
    this.#strings.splitComments = sink !== undefined;
  }

  /** Starts a new batch. */
  reset(): void {
    this.spans = [];
    this.rejected.fill(0);
    this.accepted = 0;
    this.positions = [];
    this.ordinals = undefined;
  }

  #refuse(reason: number): void {
    this.rejected[reason]!++;
    if (this.ordinals === undefined && this.sink === undefined && this.shards === 1) this.ordinals = this.spans.map((_, i) => i);
  }

  /** Reads the Span at [pos, end) of service `service` (and process `instance`). */
  read(pos: number, end: number, service: string, instance: string | undefined): void {
    const scan = this.scan;
    // Scan mode: a span that opens with its 16-byte trace id (every SDK writes it first) is noted
    // without walking the rest; the decode after admission validates it (see WireDecoder.scanTraces).
    if (scan !== undefined && end - pos >= 18 && this.#cursor.buf[pos] === 0x0a && this.#cursor.buf[pos + 1] === 16 && this.#strings.traceIdHex(pos + 2) !== '') {
      this.#note(scan, pos + 2, end - pos);
      return;
    }
    const shards = this.shards;
    if (shards > 1 && this.#skippedForeign(pos, end)) return;
    const spanAt = pos;
    /** Shard mode: the (last) trace id belongs to another shard, and whether attributes were skipped for it. */
    let foreign = false;
    let skipped = false;
    const c = this.#cursor;
    const buf = c.buf;
    const folder = this.#folder;
    const f = folder.fields;
    let traceStart = -1;
    let traceLength = 0;
    let spanStart = -1;
    let spanLength = 0;
    let parentStart = -1;
    let parentLength = 0;
    let nameStart = 0;
    let nameEnd = 0;
    let kind = 0;
    let startLo = 0;
    let startHi = 0;
    let endLo = 0;
    let endHi = 0;
    let status = 0;
    folder.reset();

    while (pos < end) {
      const at = pos;
      let tag = buf[pos]!;
      if (tag < 0x80) pos++;
      else {
        tag = c.tagSlow(pos, end);
        pos = c.after;
      }
      const wire = tag & 7;
      const field = tag >>> 3;
      if (wire === WIRE_LEN && (field <= 5 || field === 9 || field === 15) && field !== 3) {
        if (pos >= end) truncatedNumbered('length of Span field #', field, pos, 1, end);
        let n = buf[pos]!;
        if (n < 0x80) pos++;
        else {
          n = c.lengthSlow(pos, end);
          pos = c.after;
        }
        if (n > end - pos) truncatedNumbered('Span field #', field, pos, n, end);
        switch (field) {
          case 9:
            if (foreign) skipped = true;
            else {
              const code = this.attributes.read(pos, pos + n, 4);
              if (code >= 0) folder.fold(code, this.attributes);
            }
            break;
          case 1:
            traceStart = pos;
            traceLength = n;
            if (shards > 1) foreign = n === 16 && shardOfTraceIdBytes(buf, pos, shards) !== this.shard;
            break;
          case 2:
            spanStart = pos;
            spanLength = n;
            break;
          case 4:
            parentStart = pos;
            parentLength = n;
            break;
          case 5:
            nameStart = pos;
            nameEnd = pos + n;
            break;
          case 15:
            status = this.#statusCode(pos, pos + n, status);
            break;
          default:
            failNumbered('invalid field number #', at, field);
        }
        pos += n;
      } else if (wire === WIRE_FIXED64 && (field === 7 || field === 8)) {
        if (end - pos < 8) truncatedNumbered('Span field # (fixed64)', field, pos, 8, end);
        const lo = c.word(pos) >>> 0;
        const hi = c.word(pos + 4) >>> 0;
        if (field === 7) {
          startLo = lo;
          startHi = hi;
        } else {
          endLo = lo;
          endHi = hi;
        }
        pos += 8;
      } else if (tag === 0x30) {
        kind = c.varint64(pos, end) | 0;
        pos = c.after;
      } else if (wire === WIRE_FIXED32 && field !== 0) {
        // flags (16), which n1lens does not read: skipped here, as skipField would.
        if (end - pos < 4) truncatedNumbered('fixed32 field #', field, pos, 4, end);
        pos += 4;
      } else {
        if (field === 0) fail('invalid field number 0', at);
        pos = c.skipField(pos, end, wire, field, 3);
      }
    }

    if (shards > 1) {
      if (foreign) {
        if (isValid(c, traceStart, traceLength, spanStart, spanLength, parentLength, startHi, startLo, endHi, endLo)) {
          this.accepted++;
          if (scan !== undefined) this.#note(scan, traceStart, end - spanAt);
        }
        return;
      }
      if (skipped) {
        // A later trace id made the span this shard's after its attributes were skipped: read it again, whole.
        this.shards = 1;
        const before = this.spans.length;
        try {
          this.read(spanAt, end, service, instance);
        } finally {
          this.shards = shards;
        }
        // (A sink was handed the span, and counted it, in the read.)
        if (this.spans.length > before) this.positions.push(this.accepted++);
        return;
      }
    }
    // to-span.ts rejectReason, on the bytes: ids of the right length and not all zero, end ≥ start.
    const strings = this.#strings;
    const traceId = traceLength === 16 ? strings.traceIdHex(traceStart) : '';
    if (traceId === '') {
      this.#refuse(0);
      return;
    }
    if (spanLength !== 8 || (c.word(spanStart) | c.word(spanStart + 4)) === 0) {
      this.#refuse(1);
      return;
    }
    if (parentLength !== 0 && parentLength !== 8) {
      this.#refuse(2);
      return;
    }
    if (endHi < startHi || (endHi === startHi && endLo < startLo)) {
      this.#refuse(3);
      return;
    }
    const sink = this.sink;
    if (sink !== undefined) {
      this.position = this.accepted++;
      const parent = parentLength === 0 ? '' : strings.spanIdHex(parentStart);
      const statement = f.dbStatement;
      if (f.dbSystem !== undefined && statement !== undefined && statement !== '' && parent !== '' && kind !== 2 && kind !== 5) {
        // A plain DB span: its fields straight to the sink, the id as two words, no string for the
        // id or the name, and no record. The id's words (big-endian: what the bytes spell as hex
        // digits) and the times are worked out here, not by a call such as nanosToMs, which V8 does
        // not inline into this long function: a number returned from a call is boxed.
        const out = this.#dbSpan;
        const view = c.view;
        out.traceId = traceId;
        out.spanIdHi = view.getUint32(spanStart);
        out.spanIdLo = view.getUint32(spanStart + 4);
        out.parentSpanId = parent;
        out.startMs = startHi * MS_PER_HI + startLo / 1e6;
        out.endMs = endHi * MS_PER_HI + endLo / 1e6;
        out.system = f.dbSystem;
        out.statement = statement;
        out.comment = folder.dbComment;
        out.service = service;
        out.location = f.location === undefined ? undefined : locationOf(f.location);
        sink.dbSpan(out);
        return;
      }
      if (folder.dbComment !== '') f.dbStatement = statement! + folder.dbComment;
      sink.span(
        buildRecord(
          traceId, strings.spanIdHex(spanStart), parent, strings.text(nameStart, nameEnd), (kind >= 0 && kind <= 5 ? kind : 0) as SpanKind,
          nanosToMs(startHi, startLo), nanosToMs(endHi, endLo), service, status === 2, f, instance,
        ),
      );
      return;
    }
    const spanId = strings.spanIdHex(spanStart);
    if (shards > 1) this.positions.push(this.accepted++);
    else if (this.ordinals !== undefined) {
      const r = this.rejected;
      this.ordinals.push(this.spans.length + r[0]! + r[1]! + r[2]! + r[3]!);
    }
    this.spans.push(
      buildRecord(
        traceId,
        spanId,
        parentLength === 0 ? '' : strings.spanIdHex(parentStart),
        strings.text(nameStart, nameEnd),
        (kind >= 0 && kind <= 5 ? kind : 0) as SpanKind,
        nanosToMs(startHi, startLo),
        nanosToMs(endHi, endLo),
        service,
        status === 2,
        f,
        instance,
      ),
    );
  }

  /**
   * Shard mode's fast path for another shard's span: one that opens with its 16-byte trace id (as
   * every SDK writes it) is walked tag by tag for the fields rejectReason reads and counted when
   * valid; true when it was. Anything unusual (a second trace id, a long tag or length, a group,
   * a truncated field) returns false, for read's full walk to decide as it always has.
   */
  #skippedForeign(pos: number, end: number): boolean {
    const c = this.#cursor;
    const buf = c.buf;
    if (end - pos < 18 || buf[pos] !== 0x0a || buf[pos + 1] !== 16 || shardOfTraceIdBytes(buf, pos + 2, this.shards) === this.shard) return false;
    let spanStart = -1;
    let spanLength = 0;
    let parentLength = 0;
    let startAt = -1;
    let endAt = -1;
    let p = pos + 18;
    while (p < end) {
      let tag = buf[p++]!;
      if (tag >= 0x80) {
        const high = buf[p++]!;
        if (high >= 0x80) return false;
        tag = (tag & 0x7f) | (high << 7);
      }
      if (tag < 8) return false; // field 0: an error, which read reports
      switch (tag & 7) {
        case WIRE_LEN: {
          // Up to four bytes: some writers pad lengths they fill in afterwards (22 as 96 80 00).
          let n = buf[p++]!;
          if (n >= 0x80) {
            n &= 0x7f;
            let byte = 0x80;
            for (let shift = 7; byte >= 0x80; shift += 7) {
              if (shift > 21) return false;
              byte = buf[p++]!;
              n |= (byte & 0x7f) << shift;
            }
          }
          if (tag === 0x12) {
            spanStart = p;
            spanLength = n;
          } else if (tag === 0x22) parentLength = n;
          else if (tag === 0x0a) return false; // a second trace id decides the shard: read walks it
          p += n;
          break;
        }
        case WIRE_FIXED64:
          if (tag === 0x39) startAt = p;
          else if (tag === 0x41) endAt = p;
          p += 8;
          break;
        case WIRE_FIXED32:
          p += 4;
          break;
        case WIRE_VARINT:
          while (p < end && buf[p]! >= 0x80) p++;
          p++;
          break;
        default:
          return false;
      }
    }
    if (p !== end) return false;
    const startHi = startAt < 0 ? 0 : c.word(startAt + 4) >>> 0;
    const startLo = startAt < 0 ? 0 : c.word(startAt) >>> 0;
    const endHi = endAt < 0 ? 0 : c.word(endAt + 4) >>> 0;
    const endLo = endAt < 0 ? 0 : c.word(endAt) >>> 0;
    if (isValid(c, pos + 2, 16, spanStart, spanLength, parentLength, startHi, startLo, endHi, endLo)) {
      this.accepted++;
      if (this.scan !== undefined) this.#note(this.scan, pos + 2, end - pos);
    }
    return true;
  }

  /** Scan mode: a span of the trace at traceStart, `bytes` long on the wire. */
  #note(scan: TraceScan, traceStart: number, bytes: number): void {
    const id = this.#strings.traceIdHex(traceStart);
    if (!notedLately(scan.traceIds, id)) scan.traceIds.push(id);
    scan.spans++;
    scan.wireBytes += bytes;
  }

  /** Status.code, over every occurrence of Span.status (they merge: the last code written wins). */
  #statusCode(pos: number, end: number, code: number): number {
    const c = this.#cursor;
    while (pos < end) {
      const at = pos;
      const tag = c.tag(pos, end);
      pos = c.after;
      if (tag === 0x18) {
        code = c.varint64(pos, end) | 0;
        pos = c.after;
      } else {
        if (tag >>> 3 === 0) fail('invalid field number 0', at);
        pos = c.skipField(pos, end, tag & 7, tag >>> 3, 4);
      }
    }
    return code;
  }
}

/** rejectReason's rule on the bytes, for spans of other shards (no strings made). */
function isValid(
  c: WireCursor, traceStart: number, traceLength: number, spanStart: number, spanLength: number, parentLength: number,
  startHi: number, startLo: number, endHi: number, endLo: number,
): boolean {
  if (traceLength !== 16 || (c.word(traceStart) | c.word(traceStart + 4) | c.word(traceStart + 8) | c.word(traceStart + 12)) === 0) return false;
  if (spanLength !== 8 || (c.word(spanStart) | c.word(spanStart + 4)) === 0) return false;
  if (parentLength !== 0 && parentLength !== 8) return false;
  return !(endHi < startHi || (endHi === startHi && endLo < startLo));
}

/**
 * Whether `id` is among the last ids noted: a batch interleaves the spans of the requests that ran at
 * once, so noting an id at every change of trace made an entry per span (the memo usually hands the
 * same string for an id, so most comparisons end at the reference).
 */
function notedLately(ids: readonly TraceId[], id: TraceId): boolean {
  for (let i = ids.length - 1, stop = Math.max(0, ids.length - RECENT_IDS_CHECKED); i >= stop; i--) if (ids[i] === id) return true;
  return false;
}

/** A Status with a message ("x") and code 2 (ERROR), as SDKs write a failed span's; see SpanReader's constructor. */
const STATUS_WITH_MESSAGE = Buffer.from([0x12, 0x01, 0x78, 0x18, 0x02]);
/** V8 gives a function its feedback vector on its 8th call (--invocation-count-for-feedback-allocation). */
const STATUS_WARM_UP_READS = 16;

/** Trace ids notedLately compares: more than a server's concurrent requests, few enough to be cheap. */
const RECENT_IDS_CHECKED = 16;
