/**
 * Which of N shards a trace belongs to (n1-report --jobs): from the trace id's last four bytes, so
 * the wire decoder can tell from the raw bytes and every other decoder from the hex id, and agree.
 */

/** The shard of the trace whose id ends in these four bytes (big-endian word). */
export function shardOfWord(word: number, shards: number): number {
  let h = Math.imul(word ^ (word >>> 16), 0x45d9f3b);
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  return ((h ^ (h >>> 16)) >>> 0) % shards;
}

/** The shard of a trace by its 32-digit lowercase hex id (SpanRecord.traceId). */
export function shardOfTraceId(traceId: string, shards: number): number {
  let word = 0;
  for (let i = 24; i < 32; i++) {
    const c = traceId.charCodeAt(i);
    // Digits and lowercase letters read here; anything else as parseInt reads it (no string is made for the usual id).
    if (c >= 48 && c <= 57) word = (word << 4) | (c - 48);
    else if (c >= 97 && c <= 102) word = (word << 4) | (c - 87);
    else return shardOfWord(parseInt(traceId.slice(24, 32), 16) | 0, shards);
  }
  return shardOfWord(word, shards);
}

/** The shard of the 16-byte trace id at b[p]. */
export function shardOfTraceIdBytes(b: Uint8Array, p: number, shards: number): number {
  return shardOfWord((b[p + 12]! << 24) | (b[p + 13]! << 16) | (b[p + 14]! << 8) | b[p + 15]!, shards);
}
