/** Splits one OTLP trace export into one export per trace shard, so each `serve --workers` worker gets only its traces' spans. */
import { fieldKey, hiddenSpansKey, idHex, scopeSpansKey } from './json.js';
import { isObject, jsonText, type JsonObject } from './json-value.js';
import { shardOfTraceId, shardOfTraceIdBytes } from './shard.js';
import { fail, failNumbered, truncatedNumbered, WIRE_FIXED64, WIRE_LEN, WireCursor } from './wire/cursor.js';

// ---------------------------------------------------------------------------------------------
// Protobuf

/*
 * The bytes are walked once down to the spans (ExportTraceServiceRequest.resource_spans 1
 * → ResourceSpans.scope_spans 2 → ScopeSpans.spans 2 → Span.trace_id 1), every span's shard is taken
 * from its last trace_id (the one the decoders keep), and each piece is written as
 *
 *   for every ResourceSpans with a span of the shard: its fields in their original order, each
 *     ScopeSpans without a span of the shard dropped and each other one rewritten to hold only the
 *     shard's spans; every other field (resource, scope, schema_url, unknown ones) copied verbatim;
 *
 * with the lengths of the rewritten messages re-encoded. Of a span only its fields' tags and lengths
 * are read (to find the last trace_id), and its bytes are copied verbatim. What a piece drops is what no decoder turns into a span: ResourceSpans and
 * ScopeSpans without the shard's spans, and unknown fields of the request itself. So decoding every
 * piece gives the spans of decoding the whole, each under the same resource and scope, partitioned by
 * shard. Structure the walk does not accept throws OtlpDecodeError (see splitProtobufExport); damage
 * inside a span is left for the worker's decoder to find, which then refuses that piece only.
 */

/**
 * What the walk records, in document order, as (kind, a, b) triples: a run of bytes copied as they
 * are (kind ≥ 0: the spans of that shard; COMMON: fields every piece keeping the message copies),
 * and the start of a ResourceSpans or ScopeSpans (a = its index in the tables below).
 */
const COMMON = -1;
const OPEN_RESOURCE = -2;
const OPEN_SCOPE = -3;

/**
 * A protobuf export splitter with walk tables of its own (one per thread that splits). It splits
 * an OTLP/protobuf ExportTraceServiceRequest (decompressed) into one request per shard of
 * `shards`: entry k holds exactly the spans of the traces shardOfTraceIdBytes puts in shard k, in
 * their original order, each under its original ResourceSpans and ScopeSpans fields; undefined when
 * the shard has no span (so every entry is undefined for an export without spans). Spans without a
 * 16-byte trace id go to shard 0, whose decoder refuses them.
 *
 * Each written piece is a Buffer with an ArrayBuffer of its own (a posted slice would clone its whole buffer). When
 * every span is one shard's, that shard's entry is `body` itself: it decodes to the same spans under
 * the same resources and scopes, the only differences being span-less ScopeSpans and ResourceSpans
 * and unknown request fields, which decoders pass over. With one shard the result is `[body]`,
 * unread.
 *
 * Throws OtlpDecodeError for bytes it cannot walk: a truncated varint or field, a length of 2^31 or
 * more, field number 0, a wire type that is not 0 to 5 anywhere down to the span fields, groups
 * nested deeper than the decoders take them (skipped as they skip them), or resource_spans,
 * scope_spans or spans with a wire type other than LEN. The caller then hands the whole body to
 * shard 0, whose decoder reports it.
 */
export type ProtobufSplitter = (body: Uint8Array, shards: number, pieceOf?: PieceOfIdBytes) => (Uint8Array | undefined)[];

/**
 * The piece (0 … pieces − 1) of a trace by its 16-byte id at b[p]; splitters default to
 * shardOfTraceIdBytes. A span without a 16-byte id always goes to piece 0.
 */
export type PieceOfIdBytes = (b: Uint8Array, p: number) => number;
/** The same by its id as 32 lowercase hex digits (the JSON splitter's). */
export type PieceOfIdHex = (hex: string) => number;

/** A caller's partition of traces for either encoding (ExportSplitter); by default, by shard. */
export interface TracePartition {
  ofIdBytes: PieceOfIdBytes;
  ofIdHex: PieceOfIdHex;
}

export function createProtobufSplitter(): ProtobufSplitter {
  /** The walk's tables, kept from export to export (a split is synchronous), grown by doubling. */
  let ops = new Int32Array(3 * 256);
  let opCount = 0;
  /** Ops before this one belong to a message that has ended: a run never joins them (see addRun). */
  let closedOps = 0;
  /** Per ResourceSpans: the op after its last (where a piece without it resumes), the bytes of its other fields, its first and end ScopeSpans. */
  let resourceOpEnd = new Int32Array(16);
  let resourceCommon = new Int32Array(16);
  let resourceFirstScope = new Int32Array(16);
  let resourceEndScope = new Int32Array(16);
  /** Per ScopeSpans: the op after its last, the bytes of its other fields, and (scope × shards + shard) the bytes of each shard's span fields. */
  let scopeOpEnd = new Int32Array(64);
  let scopeCommon = new Int32Array(64);
  let scopeSpanBytes = new Int32Array(64 * 4);
  /** Per shard being written: the new length of each ResourceSpans and ScopeSpans, -1 when the piece drops it. */
  let resourceSize = new Int32Array(16);
  let scopeSize = new Int32Array(64);
  /** Per shard: how many span bytes the whole export has for it. */
  let shardSpanBytes = new Float64Array(8);

  const cursor = new WireCursor();
  /** The split in progress's pieceOf (undefined: by shard). */
  let pieceOfId: PieceOfIdBytes | undefined;

  function grown(table: Int32Array<ArrayBuffer>, need: number): Int32Array<ArrayBuffer> {
    if (need <= table.length) return table;
    const next = new Int32Array(Math.max(need, table.length * 2));
    next.set(table);
    return next;
  }

  /**
   * Appends a verbatim run [start, end) of `kind`, joined to the previous run when it continues it in
   * the same message (a ScopeSpans' last field and its ResourceSpans' next one are adjacent bytes too).
   */
  function addRun(kind: number, start: number, end: number): void {
    const last = 3 * (opCount - 1);
    if (opCount > closedOps && ops[last] === kind && ops[last + 2] === start) {
      ops[last + 2] = end;
      return;
    }
    addOp(kind, start, end);
  }

  function addOp(kind: number, a: number, b: number): void {
    if (3 * opCount + 3 > ops.length) ops = grown(ops, 3 * opCount + 3);
    const at = 3 * opCount++;
    ops[at] = kind;
    ops[at + 1] = a;
    ops[at + 2] = b;
  }

  /** Bytes of the varint of n (n < 2^31). */
  function varintSize(n: number): number {
    return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x20_0000 ? 3 : n < 0x1000_0000 ? 4 : 5;
  }

  /**
   * The shard of the Span at [pos, end): that of its last 16-byte trace_id, shard 0 when the last
   * trace_id has another length or there is none (the decoder refuses the span; shard 0 reports it).
   * A trace_id of another wire type is skipped as the decoders skip it.
   */
  function spanShard(c: WireCursor, pos: number, end: number, shards: number): number {
    const buf = c.buf;
    let trace = -1;
    let traceLength = 0;
    while (pos < end) {
      const at = pos;
      let tag = buf[pos]!;
      if (tag < 0x80) pos++;
      else {
        tag = c.tagSlow(pos, end);
        pos = c.after;
      }
      const wire = tag & 7;
      if (wire === WIRE_LEN) {
        if (tag >>> 3 === 0) fail('invalid field number 0', at);
        if (pos >= end) truncatedNumbered('length of Span field #', tag >>> 3, pos, 1, end);
        let n = buf[pos]!;
        if (n < 0x80) pos++;
        else {
          n = c.lengthSlow(pos, end);
          pos = c.after;
        }
        if (n > end - pos) truncatedNumbered('Span field #', tag >>> 3, pos, n, end);
        if (tag === 0x0a) {
          trace = pos;
          traceLength = n;
        }
        pos += n;
      } else if (wire === WIRE_FIXED64 && tag >= 8) {
        // start and end times, the common case after the LEN fields
        if (end - pos < 8) truncatedNumbered('Span field # (fixed64)', tag >>> 3, pos, 8, end);
        pos += 8;
      } else pos = c.skipField(pos, end, wire, tag >>> 3, 3);
    }
    if (traceLength !== 16) return 0;
    return pieceOfId === undefined ? shardOfTraceIdBytes(buf, trace, shards) : pieceOfId(buf, trace);
  }

  /** Walks one ScopeSpans' content [pos, end) into the ops and tables (scope index `s`). */
  function walkScope(c: WireCursor, s: number, pos: number, end: number, shards: number): void {
    const base = s * shards;
    for (let k = 0; k < shards; k++) scopeSpanBytes[base + k] = 0;
    let common = 0;
    while (pos < end) {
      const at = pos;
      const tag = c.tag(pos, end);
      pos = c.after;
      if (tag >>> 3 === 2) {
        if ((tag & 7) !== WIRE_LEN) failNumbered('ScopeSpans.spans with wire type #', at, tag & 7);
        const n = c.length(pos, end, 'length of a span', 'span');
        pos = c.after;
        const k = spanShard(c, pos, pos + n, shards);
        pos += n;
        scopeSpanBytes[base + k]! += pos - at;
        addRun(k, at, pos);
      } else {
        pos = c.skipField(pos, end, tag & 7, tag >>> 3, 2);
        common += pos - at;
        addRun(COMMON, at, pos);
      }
    }
    scopeCommon[s] = common;
  }

  /** Walks the request; returns how many ResourceSpans it has (the tables hold them and their scopes). */
  function walkRequest(c: WireCursor, shards: number): number {
    const end = c.buf.length;
    opCount = closedOps = 0;
    let resources = 0;
    let scopes = 0;
    let pos = 0;
    while (pos < end) {
      const at = pos;
      const tag = c.tag(pos, end);
      pos = c.after;
      if (tag >>> 3 !== 1) {
        // Unknown fields of the request itself: no decoder reads them, and no piece keeps them.
        pos = c.skipField(pos, end, tag & 7, tag >>> 3, 0);
        continue;
      }
      if ((tag & 7) !== WIRE_LEN) failNumbered('resource_spans with wire type #', at, tag & 7);
      const n = c.length(pos, end, 'length of resource_spans', 'resource_spans');
      pos = c.after;
      const rsEnd = pos + n;
      const r = resources++;
      if (r >= resourceOpEnd.length) {
        resourceOpEnd = grown(resourceOpEnd, r + 1);
        resourceCommon = grown(resourceCommon, r + 1);
        resourceFirstScope = grown(resourceFirstScope, r + 1);
        resourceEndScope = grown(resourceEndScope, r + 1);
        resourceSize = grown(resourceSize, r + 1);
      }
      addOp(OPEN_RESOURCE, r, 0);
      resourceFirstScope[r] = scopes;
      let common = 0;
      while (pos < rsEnd) {
        const fieldAt = pos;
        const inner = c.tag(pos, rsEnd);
        pos = c.after;
        if (inner >>> 3 === 2) {
          if ((inner & 7) !== WIRE_LEN) failNumbered('ResourceSpans.scope_spans with wire type #', fieldAt, inner & 7);
          const m = c.length(pos, rsEnd, 'length of scope_spans', 'scope_spans');
          pos = c.after;
          const s = scopes++;
          if (s >= scopeOpEnd.length) {
            scopeOpEnd = grown(scopeOpEnd, s + 1);
            scopeCommon = grown(scopeCommon, s + 1);
            scopeSize = grown(scopeSize, s + 1);
          }
          if ((s + 1) * shards > scopeSpanBytes.length) scopeSpanBytes = grown(scopeSpanBytes, (s + 1) * shards);
          addOp(OPEN_SCOPE, s, 0);
          walkScope(c, s, pos, pos + m, shards);
          scopeOpEnd[s] = closedOps = opCount;
          pos += m;
        } else {
          pos = c.skipField(pos, rsEnd, inner & 7, inner >>> 3, 1);
          common += pos - fieldAt;
          addRun(COMMON, fieldAt, pos);
        }
      }
      resourceCommon[r] = common;
      resourceEndScope[r] = scopes;
      resourceOpEnd[r] = opCount;
    }
    return resources;
  }

  /** Sizes shard k's piece: fills resourceSize and scopeSize (-1 for dropped) and returns the piece's length. */
  function sizePiece(resources: number, k: number, shards: number): number {
    let total = 0;
    for (let r = 0; r < resources; r++) {
      let size = resourceCommon[r]!;
      let kept = false;
      for (let s = resourceFirstScope[r]!, e = resourceEndScope[r]!; s < e; s++) {
        const spans = scopeSpanBytes[s * shards + k]!;
        if (spans === 0) {
          scopeSize[s] = -1;
          continue;
        }
        const n = scopeCommon[s]! + spans;
        scopeSize[s] = n;
        size += 1 + varintSize(n) + n;
        kept = true;
      }
      resourceSize[r] = kept ? size : -1;
      if (kept) total += 1 + varintSize(size) + size;
    }
    return total;
  }

  function writeVarint(out: Uint8Array, pos: number, n: number): number {
    while (n >= 0x80) {
      out[pos++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    out[pos++] = n;
    return pos;
  }

  /** Writes shard k's piece (sized by sizePiece) into out. */
  function writePiece(body: Uint8Array, out: Uint8Array, k: number): number {
    let pos = 0;
    let i = 0;
    while (i < opCount) {
      const at = 3 * i;
      const kind = ops[at]!;
      if (kind === OPEN_RESOURCE) {
        const r = ops[at + 1]!;
        const size = resourceSize[r]!;
        if (size < 0) {
          i = resourceOpEnd[r]!;
          continue;
        }
        out[pos++] = 0x0a;
        pos = writeVarint(out, pos, size);
      } else if (kind === OPEN_SCOPE) {
        const s = ops[at + 1]!;
        const size = scopeSize[s]!;
        if (size < 0) {
          i = scopeOpEnd[s]!;
          continue;
        }
        out[pos++] = 0x12;
        pos = writeVarint(out, pos, size);
      } else if (kind === COMMON || kind === k) {
        const start = ops[at + 1]!;
        const end = ops[at + 2]!;
        if (end - start < 48) for (let p = start; p < end; p++) out[pos++] = body[p]!;
        else {
          out.set(body.subarray(start, end), pos);
          pos += end - start;
        }
      }
      i++;
    }
    return pos;
  }

  return function splitProtobufExport(body: Uint8Array, shards: number, pieceOf?: PieceOfIdBytes): (Uint8Array | undefined)[] {
    if (!Number.isInteger(shards) || shards < 1) throw new RangeError(`shards must be a positive integer, not ${shards}`);
    if (shards === 1) return [body];
    // Positions are kept in Int32Arrays; no request is near this (a single field is below 2^31 anyway).
    if (body.length > 0x7fff_ffff) fail('request of 2^31 bytes or more', 0);
    const c = cursor;
    c.start(body);
    pieceOfId = pieceOf;
    let resources: number;
    try {
      resources = walkRequest(c, shards);
    } finally {
      c.release();
      pieceOfId = undefined;
    }
    if (shardSpanBytes.length < shards) shardSpanBytes = new Float64Array(shards);
    shardSpanBytes.fill(0, 0, shards);
    const scopes = resources === 0 ? 0 : resourceEndScope[resources - 1]!;
    for (let s = 0; s < scopes; s++) for (let k = 0; k < shards; k++) shardSpanBytes[k]! += scopeSpanBytes[s * shards + k]!;
    const pieces = new Array<Uint8Array | undefined>(shards).fill(undefined);
    let only = -1;
    let used = 0;
    for (let k = 0; k < shards; k++) {
      if (shardSpanBytes[k]! > 0) {
        only = k;
        used++;
      }
    }
    if (used === 0) return pieces;
    if (used === 1) {
      pieces[only] = body;
      return pieces;
    }
    for (let k = 0; k < shards; k++) {
      if (shardSpanBytes[k] === 0) continue;
      const size = sizePiece(resources, k, shards);
      const out = Buffer.allocUnsafeSlow(size);
      const written = writePiece(body, out, k);
      if (written !== size) throw new Error(`split: wrote ${written} bytes of a ${size}-byte piece`);
      pieces[k] = out;
    }
    return pieces;
  };
}

// ---------------------------------------------------------------------------------------------
// JSON

/** The marker for a trace id json.ts would throw on (not a string): the whole request goes to shard 0. */
const WRONG_SHAPE = -1;

/**
 * The shard of a JSON span's trace id read as json.ts reads it: 32 hex digits of either case, else
 * base64 of 16 bytes; any other string (or none) is an id the decoder refuses, so shard 0.
 */
function jsonTraceShard(id: unknown, shards: number, pieceOf: PieceOfIdHex | undefined): number {
  if (id === undefined || id === null || id === '') return 0;
  if (typeof id !== 'string') return WRONG_SHAPE;
  const hex = idHex(id, 16);
  if (hex.length !== 32) return 0;
  return pieceOf === undefined ? shardOfTraceId(hex, shards) : pieceOf(hex);
}

/** The snake_case alias json.ts reads a list by when its lowerCamelCase name is absent. */
const SNAKE_ALIAS: Readonly<Record<string, string>> = { scopeSpans: 'scope_spans', instrumentationLibrarySpans: 'instrumentation_library_spans' };

/** obj with `key` set to `value` (in its place), and the alias json.ts would ignore beside it left out. */
function withList(obj: JsonObject, key: string, value: unknown[], ignored: string | undefined): JsonObject {
  const copy: JsonObject = { ...obj };
  copy[key] = value;
  if (ignored !== undefined) delete copy[ignored];
  return copy;
}

/**
 * splitProtobufExport for OTLP/JSON (UTF-8 bytes), reading the keys json.ts reads (resourceSpans or
 * resource_spans, scopeSpans or scope_spans or the pre-1.0 instrumentationLibrarySpans (json.ts
 * scopeSpansKey), spans, traceId or trace_id; camelCase wins unless null):
 * entry k is the request with only shard k's spans, their ScopeSpans and ResourceSpans (every other
 * key kept), as JSON; undefined when shard k has no span. When every span is one shard's, that entry
 * is `body` itself (a Buffer over the same bytes); with one shard, `[body]` unread.
 *
 * Returns undefined when the body is not JSON, or not shaped as the decoder requires along the way
 * to the trace ids (an object whose lists are arrays of objects, a resource that is an object, ids
 * that are strings): the caller hands the whole body to shard 0, whose decoder reports the problem.
 * Problems further in (attributes, times) are left to each piece's decoder.
 */
export function splitJsonExport(body: Uint8Array, shards: number, pieceOf?: PieceOfIdHex): (Buffer | undefined)[] | undefined {
  if (!Number.isInteger(shards) || shards < 1) throw new RangeError(`shards must be a positive integer, not ${shards}`);
  const whole = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (shards === 1) return [whole];
  let request: unknown;
  try {
    request = JSON.parse(whole.toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isObject(request)) return undefined;
  const pieces = new Array<Buffer | undefined>(shards).fill(undefined);
  const rsKey = fieldKey(request, 'resourceSpans', 'resource_spans');
  if (rsKey === undefined) return pieces;
  const rsList = request[rsKey];
  if (!Array.isArray(rsList)) return undefined;

  const resourcesOf: (JsonObject[] | undefined)[] = new Array<JsonObject[] | undefined>(shards).fill(undefined);
  const scopesOf: (JsonObject[] | undefined)[] = new Array<JsonObject[] | undefined>(shards);
  const spansOf: (unknown[] | undefined)[] = new Array<unknown[] | undefined>(shards);
  for (const rs of rsList) {
    if (!isObject(rs)) return undefined;
    const resource = rs.resource;
    if (resource !== undefined && resource !== null && !isObject(resource)) return undefined;
    const ssKey = scopeSpansKey(rs);
    const ssList = ssKey === undefined ? [] : rs[ssKey];
    if (!Array.isArray(ssList)) return undefined;
    // Spans under a name json.ts does not read: the decoder refuses them, so shard 0 gets the body.
    if (ssList.length === 0 && hiddenSpansKey(rs, 'resourceSpans') !== undefined) return undefined;
    if (ssKey === undefined) continue;
    scopesOf.fill(undefined);
    for (const ss of ssList) {
      if (!isObject(ss)) return undefined;
      const spans = ss.spans;
      if ((spans === undefined || spans === null || (Array.isArray(spans) && spans.length === 0)) && hiddenSpansKey(ss, 'scopeSpans') !== undefined) return undefined;
      if (spans === undefined || spans === null) continue;
      if (!Array.isArray(spans)) return undefined;
      spansOf.fill(undefined);
      for (const span of spans) {
        if (!isObject(span)) return undefined;
        const k = jsonTraceShard(span[fieldKey(span, 'traceId', 'trace_id') ?? 'traceId'], shards, pieceOf);
        if (k === WRONG_SHAPE) return undefined;
        (spansOf[k] ??= []).push(span);
      }
      for (let k = 0; k < shards; k++) {
        const mine = spansOf[k];
        if (mine !== undefined) (scopesOf[k] ??= []).push(withList(ss, 'spans', mine, undefined));
      }
    }
    for (let k = 0; k < shards; k++) {
      const mine = scopesOf[k];
      if (mine !== undefined) (resourcesOf[k] ??= []).push(withList(rs, ssKey, mine, SNAKE_ALIAS[ssKey]));
    }
  }
  let used = 0;
  for (let k = 0; k < shards; k++) if (resourcesOf[k] !== undefined) used++;
  for (let k = 0; k < shards; k++) {
    const mine = resourcesOf[k];
    if (mine === undefined) continue;
    pieces[k] = used === 1 ? whole : Buffer.from(jsonText(withList(request, rsKey, mine, rsKey === 'resourceSpans' ? 'resource_spans' : undefined)), 'utf8');
  }
  return pieces;
}

// ---------------------------------------------------------------------------------------------
// Either encoding

/**
 * Splits one export's uncompressed body into `shards` pieces (undefined: no spans there), by shard or
 * by `partition`; undefined when it cannot be read.
 */
export type ExportSplitter = (encoding: 'protobuf' | 'json', body: Uint8Array, shards: number, partition?: TracePartition) => (Uint8Array | undefined)[] | undefined;

/** An ExportSplitter with a protobuf splitter of its own (one per thread that splits). */
export function createExportSplitter(): ExportSplitter {
  const splitProtobuf = createProtobufSplitter();
  return (encoding, body, shards, partition) => {
    // Either encoding: what a split throws (damage, or nothing foreseen) leaves the export whole to the caller, never fails it.
    try {
      return encoding === 'json' ? splitJsonExport(body, shards, partition?.ofIdHex) : splitProtobuf(body, shards, partition?.ofIdBytes);
    } catch {
      return undefined;
    }
  };
}
