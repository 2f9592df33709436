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

/** Walks request → resource_spans → scope_spans → spans → trace_id and returns the id offsets. */
function traceIdOffsets(buf) {
  const out = [];
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
      else if (wire === 1) pos += 8;
      else if (wire === 5) pos += 4;
      else throw new Error('unexpected wire type in corpus');
    }
  };
  walk(0, buf.length, []);
  return out;
}

/** The first `count` batches as templates; next() returns a copy stamped for the current pass. */
export function batchStamper(source, count) {
  const templates = [];
  for (const b of source) {
    templates.push({ pb: b.pb, ids: traceIdOffsets(b.pb), spans: b.spans.length });
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
      return { body, spans: t.spans };
    },
  };
}
