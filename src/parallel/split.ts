/**
 * n1-report --jobs: splits each OTLP/protobuf message on the main thread into one message per shard,
 * holding only the spans of that shard's traces, so a worker reads only its own spans.
 *
 * A part keeps, for each ResourceSpans with spans of its shard, the resource's fields as they were
 * and one ScopeSpans with those spans' bytes, in order (the decoder reads no scope field). Only the
 * top-level fields of a span are walked here (ids and times, to tell the shard and count the valid
 * spans); attributes are copied unread. A span whose trace id is not 16 bytes goes to shard 0,
 * whose decoder refuses it as the whole message's would.
 */
import { shardOfTraceIdBytes } from '../otlp/shard.js';
import { fail, truncated, WIRE_FIXED64, WIRE_LEN, WireCursor } from '../otlp/wire/cursor.js';
import { isValidSpan } from '../otlp/wire/span.js';

/** One shard's part of a message. */
export interface MessagePart {
  bytes: Uint8Array;
  /** positions[i]: index of the part's i-th valid span among the whole message's valid spans. */
  positions: Int32Array;
}

export interface SplitMessage {
  /** parts[shard]. */
  parts: MessagePart[];
  /** Valid spans in the message, every shard's. */
  accepted: number;
}

/** A ResourceSpans' spans of one shard: byte ranges of its resource fields and of its span fields (pairs, headers included). */
interface Group {
  resource: number[];
  spans: number[];
}

export class MessageSplitter {
  readonly #cursor = new WireCursor();
  readonly #shards: number;
  #groups: Group[][] = [];
  #positions: number[][] = [];
  #accepted = 0;

  constructor(shards: number) {
    this.#shards = shards;
  }

  /** Splits one ExportTraceServiceRequest; throws OtlpDecodeError where its structure is broken (the whole decode tells the exact error). */
  split(bytes: Uint8Array): SplitMessage {
    const c = this.#cursor;
    c.start(bytes);
    this.#groups = Array.from({ length: this.#shards }, () => []);
    this.#positions = Array.from({ length: this.#shards }, () => []);
    this.#accepted = 0;
    try {
      const buf = c.buf;
      const end = buf.length;
      let pos = 0;
      while (pos < end) {
        const at = pos;
        const tag = this.#tag(pos, end);
        pos = c.after;
        if (tag === 0x0a) {
          const from = this.#length(pos, end, 'resource_spans');
          pos = c.after;
          this.#resourceSpans(from, pos);
        } else {
          if (tag >>> 3 === 0) fail('invalid field number 0', at);
          pos = c.skipField(pos, end, tag & 7, tag >>> 3, 0);
        }
      }
      return { parts: this.#groups.map((groups, shard) => this.#encode(groups, this.#positions[shard]!)), accepted: this.#accepted };
    } finally {
      c.release();
      this.#groups = [];
      this.#positions = [];
    }
  }

  #tag(pos: number, end: number): number {
    const c = this.#cursor;
    const tag = c.buf[pos]!;
    if (tag < 0x80) {
      c.after = pos + 1;
      return tag;
    }
    return c.tagSlow(pos, end);
  }

  /** Reads a length at pos; returns where its bytes start and leaves where they end in `after`. */
  #length(pos: number, end: number, what: string): number {
    const c = this.#cursor;
    if (pos >= end) truncated(`length of ${what}`, pos, 1, end);
    let n = c.buf[pos]!;
    if (n < 0x80) pos++;
    else {
      n = c.lengthSlow(pos, end);
      pos = c.after;
    }
    if (n > end - pos) truncated(what, pos, n, end);
    c.after = pos + n;
    return pos;
  }

  #resourceSpans(start: number, end: number): void {
    const c = this.#cursor;
    const resource: number[] = [];
    const scopes: number[] = [];
    let pos = start;
    while (pos < end) {
      const at = pos;
      const tag = this.#tag(pos, end);
      pos = c.after;
      if (tag === 0x0a || tag === 0x12) {
        const from = this.#length(pos, end, tag === 0x0a ? 'resource' : 'scope_spans');
        if (tag === 0x0a) resource.push(at, c.after);
        else scopes.push(from, c.after);
        pos = c.after;
      } else {
        if (tag >>> 3 === 0) fail('invalid field number 0', at);
        pos = c.skipField(pos, end, tag & 7, tag >>> 3, 1);
      }
    }
    const current: (Group | undefined)[] = new Array<Group | undefined>(this.#shards);
    for (let i = 0; i < scopes.length; i += 2) {
      const scopeEnd = scopes[i + 1]!;
      pos = scopes[i]!;
      while (pos < scopeEnd) {
        const at = pos;
        const tag = this.#tag(pos, scopeEnd);
        pos = c.after;
        if (tag === 0x12) {
          const from = this.#length(pos, scopeEnd, 'span');
          const to = c.after;
          const shard = this.#span(from, to);
          let group = current[shard];
          if (group === undefined) {
            group = { resource, spans: [] };
            current[shard] = group;
            this.#groups[shard]!.push(group);
          }
          const spans = group.spans;
          // Runs of one trace's spans sit back to back: one range for the run.
          if (spans.length > 0 && spans[spans.length - 1] === at) spans[spans.length - 1] = to;
          else spans.push(at, to);
          pos = to;
        } else {
          if (tag >>> 3 === 0) fail('invalid field number 0', at);
          pos = c.skipField(pos, scopeEnd, tag & 7, tag >>> 3, 2);
        }
      }
    }
  }

  /** The span's shard; counts it in its shard's positions when it is valid. */
  #span(pos: number, end: number): number {
    const c = this.#cursor;
    const buf = c.buf;
    let traceStart = -1;
    let traceLength = 0;
    let spanStart = -1;
    let spanLength = 0;
    let parentLength = 0;
    let startLo = 0;
    let startHi = 0;
    let endLo = 0;
    let endHi = 0;
    while (pos < end) {
      const at = pos;
      const tag = this.#tag(pos, end);
      pos = c.after;
      const wire = tag & 7;
      const field = tag >>> 3;
      if (wire === WIRE_LEN && (field === 1 || field === 2 || field === 4)) {
        const from = this.#length(pos, end, `Span field ${field}`);
        const n = c.after - from;
        if (field === 1) {
          traceStart = from;
          traceLength = n;
        } else if (field === 2) {
          spanStart = from;
          spanLength = n;
        } else parentLength = n;
        pos = c.after;
      } else if (wire === WIRE_FIXED64 && (field === 7 || field === 8)) {
        if (end - pos < 8) truncated(`Span field ${field} (fixed64)`, pos, 8, end);
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
      } else {
        if (field === 0) fail('invalid field number 0', at);
        pos = c.skipField(pos, end, wire, field, 3);
      }
    }
    const shard = traceLength === 16 ? shardOfTraceIdBytes(buf, traceStart, this.#shards) : 0;
    if (isValidSpan(c, traceStart, traceLength, spanStart, spanLength, parentLength, startHi, startLo, endHi, endLo)) {
      this.#positions[shard]!.push(this.#accepted++);
    }
    return shard;
  }

  #encode(groups: Group[], positions: number[]): MessagePart {
    const src = this.#cursor.buf;
    let total = 0;
    const sizes: number[] = [];
    for (const g of groups) {
      const spans = rangesLength(g.spans);
      const scope = 1 + varintLength(spans) + spans;
      const rs = rangesLength(g.resource) + scope;
      sizes.push(spans, rs);
      total += 1 + varintLength(rs) + rs;
    }
    // Its own memory (not the pool), so it can be transferred to the worker.
    const out = Buffer.allocUnsafeSlow(total);
    let at = 0;
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i]!;
      out[at++] = 0x0a;
      at = writeVarint(out, at, sizes[2 * i + 1]!);
      for (let r = 0; r < g.resource.length; r += 2) at += src.copy(out, at, g.resource[r]!, g.resource[r + 1]!);
      out[at++] = 0x12;
      at = writeVarint(out, at, sizes[2 * i]!);
      for (let r = 0; r < g.spans.length; r += 2) at += src.copy(out, at, g.spans[r]!, g.spans[r + 1]!);
    }
    return { bytes: out, positions: Int32Array.from(positions) };
  }
}

function rangesLength(ranges: number[]): number {
  let n = 0;
  for (let i = 0; i < ranges.length; i += 2) n += ranges[i + 1]! - ranges[i]!;
  return n;
}

function varintLength(n: number): number {
  let bytes = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    bytes++;
  }
  return bytes;
}

function writeVarint(out: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 0x80);
  }
  out[at++] = n;
  return at;
}
