/**
 * Pre-encoded corpus batches whose Span.trace_id bytes are re-stamped on every pass, so a load
 * generator sends traces the server has never seen without re-encoding anything.
 */

function varint(buf, pos) {
  let v = 0;
  let shift = 0;
  for (;;) {
    const b = buf[pos++];
    v += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return [v, pos];
    shift += 7;
  }
}

/**
 * Walks request → resource_spans → scope_spans → spans and returns the offsets of each span's
 * trace_id bytes and of its start and end times (fixed64 fields 7 and 8).
 */
function spanOffsets(buf) {
  const out = [];
  const times = [];
  const walk = (start, end, path) => {
    let pos = start;
    while (pos < end) {
      let tag;
      [tag, pos] = varint(buf, pos);
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      if (wire === 2) {
        let n;
        [n, pos] = varint(buf, pos);
        const want = [1, 2, 2, 1][path.length];
        if (path.length === 3 && field === 1 && n === 16) out.push(pos);
        else if (path.length < 3 && field === want) walk(pos, pos + n, [...path, field]);
        pos += n;
      } else if (wire === 0) [, pos] = varint(buf, pos);
      else if (wire === 1) {
        if (path.length === 3 && (field === 7 || field === 8)) times.push(pos);
        pos += 8;
      }
      else if (wire === 5) pos += 4;
      else throw new Error('unexpected wire type in corpus');
    }
  };
  walk(0, buf.length, []);
  return { ids: out, times };
}

const readNs = (buf, at) => (BigInt(buf.readUInt32LE(at + 4)) << 32n) | BigInt(buf.readUInt32LE(at));

/** Adds `delta` (ns, split into 32-bit words) to the fixed64 at `at`. */
function shiftNs(buf, at, deltaHi, deltaLo) {
  const lo = buf.readUInt32LE(at) + deltaLo;
  const carry = lo >= 0x1_0000_0000 ? 1 : 0;
  buf.writeUInt32LE(lo >>> 0, at);
  buf.writeUInt32LE((buf.readUInt32LE(at + 4) + deltaHi + carry) >>> 0, at + 4);
}

/**
 * The first `count` batches as templates; next() returns a copy stamped for the current pass.
 * `liveTimes`: each batch's span times are also moved so that its earliest span starts now, as a live
 * service's would (the corpus's own times are fixed, days in the past, so a server that keeps recent
 * data at a finer grain, as serve's minute rows, would not see them as recent).
 */
export function batchStamper(source, count, { liveTimes = false } = {}) {
  const templates = [];
  for (const b of source) {
    const { ids, times } = spanOffsets(b.pb);
    let first = times.length === 0 ? 0n : readNs(b.pb, times[0]);
    for (const at of times) {
      const t = readNs(b.pb, at);
      if (t < first) first = t;
    }
    templates.push({ pb: b.pb, ids, times, first, spans: b.spans.length });
    if (templates.length === count) break;
  }
  let cursor = 0;
  let pass = 0;
  return {
    templates,
    next() {
      const t = templates[cursor];
      if (++cursor === templates.length) {
        cursor = 0;
        pass++;
      }
      const body = Buffer.from(t.pb);
      for (const at of t.ids) body.writeUInt32LE((body.readUInt32LE(at) ^ (pass * 0x9e3779b1)) >>> 0, at);
      if (liveTimes) {
        const delta = BigInt(Date.now()) * 1_000_000n - t.first;
        const hi = Number(delta >> 32n) >>> 0;
        const lo = Number(delta & 0xffff_ffffn);
        for (const at of t.times) shiftNs(body, at, hi, lo);
      }
      return { body, spans: t.spans };
    },
  };
}

/**
 * `batchStamper`'s batches as OTLP/JSON bodies (serve.mjs --json): each template written once as
 * JSON by `toJson`, and the first eight hex digits of every "traceId" re-stamped in place for each
 * pass, as the protobuf stamper stamps the first four bytes. (Span times stay as written.)
 */
export function jsonBatchStamper(templates, toJson) {
  const key = Buffer.from('"traceId":"');
  const json = templates.map((t) => {
    const text = Buffer.from(toJson(t.pb));
    const ids = [];
    for (let at = text.indexOf(key); at >= 0; at = text.indexOf(key, at + 1)) ids.push(at + key.length);
    return { text, ids, spans: t.spans };
  });
  let cursor = 0;
  let pass = 0;
  return {
    templates: json,
    next() {
      const t = json[cursor];
      if (++cursor === json.length) {
        cursor = 0;
        pass++;
      }
      const body = Buffer.from(t.text);
      for (const at of t.ids) {
        const word = (parseInt(body.toString('latin1', at, at + 8), 16) ^ (pass * 0x9e3779b1)) >>> 0;
        body.write(word.toString(16).padStart(8, '0'), at, 'latin1');
      }
      return { body, spans: t.spans };
    },
  };
}
