import { pbkdf2 } from 'node:crypto';
import { appendFileSync, readdirSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { deflateSync, gunzipSync, gzipSync, inflateSync } from 'node:zlib';
import { describe, expect, it, vi } from 'vitest';
import { tempDir } from '../../test/support.js';
import { crc32, Spool, SpoolError, type SegmentFile } from './spool.js';

/** A segment file whose writes return when the test says, or fail; `writes` in the order they were started. */
function heldFiles() {
  const writes: { path: string; position: number; bytes: Buffer; finish: () => void; fail: (e: Error) => void }[] = [];
  const openSegment = async (path: string): Promise<SegmentFile> => ({
    writev: (buffers, position) =>
      new Promise((finish, fail) => writes.push({ path, position, bytes: Buffer.concat(buffers), finish: () => finish({ bytesWritten: Buffer.concat(buffers).length }), fail })),
    datasync: async () => undefined,
    close: async () => undefined,
  });
  return { writes, openSegment };
}

/** Lets the spool's scheduled commits, the new segment's directory sync and the file's promises run. */
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 20));

/** A spool directory whose one segment holds one record, 'kept': the directory and the segment's path. */
async function keptSegment(name: string): Promise<{ dir: string; path: string }> {
  const dir = tempDir(name);
  const spool = Spool.open({ dir });
  await spool.append('protobuf', Buffer.from('kept')).durable;
  await spool.close();
  return { dir, path: join(dir, readdirSync(dir)[0]!) };
}

/** Whether a promise has settled yet, and how. */
function watch(p: Promise<void>): { state: 'pending' | 'resolved' | 'rejected' } {
  const w = { state: 'pending' as 'pending' | 'resolved' | 'rejected' };
  p.then(() => (w.state = 'resolved'), () => (w.state = 'rejected'));
  return w;
}

describe('Spool', () => {
  it('computes the IEEE CRC-32 gzip uses', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
  });

  it('makes appends within one window durable with one fsync, and replays them in order after a reopen', async () => {
    const dir = tempDir('spool');
    const spool = Spool.open({ dir, commitMs: 20 });
    const a = spool.append('protobuf', Buffer.from('first'));
    const b = spool.append('json', Buffer.from('{"second":true}'));
    await Promise.all([a.durable, b.durable]);
    expect(spool.fsyncs).toBe(1);
    expect(a.segment).toBe(b.segment);
    // A crash: the spool is never closed.
    const again = Spool.open({ dir });
    expect([...again.replay()].map((r) => [r.encoding, r.body.toString()])).toEqual([
      ['protobuf', 'first'],
      ['json', '{"second":true}'],
    ]);
    await again.close();
    await spool.close();
  });

  it('commits appends that arrive during a commit without another window', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const spool = Spool.open({ dir: tempDir('spool-behind'), commitMs: 50 });
      const a = spool.append('protobuf', Buffer.from('a'));
      vi.advanceTimersByTime(50); // a's window ends: its commit starts
      const b = spool.append('protobuf', Buffer.from('b'));
      const c = spool.append('protobuf', Buffer.from('c'));
      // No timer is advanced from here: b and c are durable only if they follow a's commit by themselves.
      await Promise.all([a.durable, b.durable, c.durable]);
      expect(spool.fsyncs).toBe(2);
      await spool.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('without a window (the default) commits at once, the appends of one turn of the event loop in one write', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const spool = Spool.open({ dir: tempDir('spool-now') });
      const a = spool.append('protobuf', Buffer.from('a'));
      const b = spool.append('json', Buffer.from('{}'));
      await Promise.all([a.durable, b.durable]); // no timer is advanced
      expect(spool.fsyncs).toBe(1);
      await spool.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('starts a second commit while one is on disk, and acknowledges it only once the write before it in its segment has returned', async () => {
    const { writes, openSegment } = heldFiles();
    const spool = Spool.open({ dir: tempDir('spool-pipelined'), openSegment });
    const a = watch(spool.append('protobuf', Buffer.from('aaaa')).durable);
    await vi.waitFor(() => expect(writes).toHaveLength(1));
    const b = watch(spool.append('protobuf', Buffer.from('bb')).durable);
    await vi.waitFor(() => expect(writes).toHaveLength(2));
    // b's write is on its way while a's has not returned, at the position after a's record.
    expect(writes.map((w) => w.position)).toEqual([0, 9 + 4]);
    const c = watch(spool.append('protobuf', Buffer.from('c')).durable);
    const d = watch(spool.append('protobuf', Buffer.from('d')).durable);
    await settle();
    expect(writes).toHaveLength(2); // two on disk: c and d wait, together, for one to return
    writes[1]!.finish();
    await settle();
    expect([a.state, b.state]).toEqual(['pending', 'pending']); // a torn a would end replay before b
    expect(writes).toHaveLength(3);
    expect(writes[2]!.position).toBe(9 + 4 + 9 + 2);
    expect(writes[2]!.bytes.length).toBe(2 * (9 + 1));
    writes[0]!.finish();
    await settle();
    expect([a.state, b.state, c.state, d.state]).toEqual(['resolved', 'resolved', 'pending', 'pending']);
    writes[2]!.finish();
    await settle();
    expect([c.state, d.state]).toEqual(['resolved', 'resolved']);
    await spool.close();
  });

  it('replays past a segment that is gone by the time it is read: only a committed segment is deleted', async () => {
    // The run before may still be unlinking its committed segments on the thread pool when the next
    // opens the directory; the file listed at open is then gone at replay, and held nothing to replay.
    const dir = tempDir('spool-gone');
    const first = Spool.open({ dir, commitMs: 1 });
    await first.append('protobuf', Buffer.from('committed')).durable;
    const second = Spool.open({ dir, commitMs: 1 }); // a crash: `first` is never closed
    await second.append('protobuf', Buffer.from('pending')).durable;
    const third = Spool.open({ dir });
    const segments = readdirSync(dir).filter((name) => name.endsWith('.seg')).sort();
    expect(segments.length).toBeGreaterThanOrEqual(2);
    rmSync(join(dir, segments[0]!));
    expect([...third.replay()].map((r) => r.body.toString())).toEqual(['pending']);
    await third.close();
  });

  it('replays in order what overlapping commits wrote to a real file', async () => {
    const dir = tempDir('spool-overlap');
    const spool = Spool.open({ dir, writesInFlight: 4 });
    const durable: Promise<void>[] = [];
    for (let i = 0; i < 40; i++) {
      durable.push(spool.append('protobuf', Buffer.alloc(1000 + i, i)).durable);
      if (i % 3 === 0) await new Promise<void>((r) => setImmediate(r));
    }
    await Promise.all(durable);
    expect(spool.fsyncs).toBeGreaterThan(1);
    const bodies = [...Spool.open({ dir }).replay()].map((r) => r.body);
    expect(bodies.map((b) => [b.length, b[0]])).toEqual(Array.from({ length: 40 }, (_, i) => [1000 + i, i]));
    await spool.close();
  });

  it('refuses a failed commit and every later one in its segment, and sends what follows to a new segment', async () => {
    const { writes, openSegment } = heldFiles();
    const spool = Spool.open({ dir: tempDir('spool-failed'), openSegment });
    const first = spool.append('protobuf', Buffer.from('a'));
    const a = watch(first.durable);
    await vi.waitFor(() => expect(writes).toHaveLength(1));
    const b = watch(spool.append('protobuf', Buffer.from('b')).durable);
    await vi.waitFor(() => expect(writes).toHaveLength(2));
    writes[1]!.finish(); // b is written, behind a
    writes[0]!.fail(new Error('EIO'));
    await settle();
    expect([a.state, b.state]).toEqual(['rejected', 'rejected']);
    await expect(first.durable).rejects.toThrow(/^spool write failed: EIO$/);
    const next = spool.append('protobuf', Buffer.from('c'));
    expect(next.segment).toBe(first.segment + 1);
    await vi.waitFor(() => expect(writes).toHaveLength(3));
    expect(writes[2]!.position).toBe(0);
    writes[2]!.finish();
    await next.durable;
    await spool.close();
  });

  it('writes the rest of a commit that a write left short (as pwritev does on a full disk), so what it acknowledges replays whole', async () => {
    const dir = tempDir('spool-short');
    const asked: number[] = [];
    // A real file whose first write stops half-way without an error, as pwritev(2) may.
    const openSegment = async (path: string, flags: number): Promise<SegmentFile> => {
      const file = await open(path, flags);
      return {
        writev: async (buffers, position) => {
          const all = Buffer.concat(buffers);
          asked.push(all.length);
          return file.writev(asked.length === 1 ? [all.subarray(0, all.length >> 1)] : buffers, position);
        },
        datasync: () => file.datasync(),
        close: () => file.close(),
      };
    };
    const spool = Spool.open({ dir, openSegment });
    await spool.append('protobuf', Buffer.alloc(1000, 1)).durable;
    await spool.append('protobuf', Buffer.alloc(1000, 2)).durable;
    await spool.close();
    expect(asked).toEqual([1009, 1009 - 504, 1009]);
    expect([...Spool.open({ dir }).replay()].map((r) => [r.body.length, r.body[0]])).toEqual([[1000, 1], [1000, 2]]);
  });

  it('refuses a commit whose rest cannot be written after a short write, and sends what follows to a new segment', async () => {
    const dir = tempDir('spool-short-full');
    let writes = 0;
    const openSegment = async (path: string, flags: number): Promise<SegmentFile> => {
      const file = await open(path, flags);
      return {
        writev: async (buffers, position) => {
          writes++;
          if (writes === 2) return file.writev([Buffer.concat(buffers).subarray(0, 100)], position);
          if (writes === 3) throw new Error('ENOSPC: no space left on device, write');
          return file.writev(buffers, position);
        },
        datasync: () => file.datasync(),
        close: () => file.close(),
      };
    };
    const spool = Spool.open({ dir, openSegment });
    const first = spool.append('protobuf', Buffer.from('kept'));
    await first.durable;
    const torn = spool.append('protobuf', Buffer.alloc(1000, 7));
    await expect(torn.durable).rejects.toThrow(/^spool write failed: ENOSPC/);
    const next = spool.append('protobuf', Buffer.from('after'));
    await next.durable;
    expect([torn.segment, next.segment]).toEqual([first.segment, first.segment + 1]);
    await spool.close();
    // The torn record ends its segment's replay; nothing acknowledged was behind it.
    expect([...Spool.open({ dir }).replay()].map((r) => r.body.toString('latin1'))).toEqual(['kept', 'after']);
  });

  it('keeps a compressed body as it arrived, and replays it with its compression, next to plain ones', async () => {
    const dir = tempDir('spool-compressed');
    const spool = Spool.open({ dir });
    const gzipped = gzipSync(Buffer.from('protobuf bytes '.repeat(100)));
    const deflated = deflateSync(Buffer.from('{"resourceSpans":[]}'));
    await Promise.all([
      spool.append('protobuf', gzipped, 'gzip').durable,
      spool.append('json', deflated, 'deflate').durable,
      spool.append('protobuf', Buffer.from('plain')).durable,
    ]);
    expect(spool.bytes).toBe(3 * 9 + gzipped.length + deflated.length + 5); // the compressed bytes are what counts against --spool-max-mib
    await spool.close();
    const records = [...Spool.open({ dir }).replay()];
    expect(records.map((r) => [r.encoding, r.compression])).toEqual([
      ['protobuf', 'gzip'],
      ['json', 'deflate'],
      ['protobuf', undefined],
    ]);
    expect(gunzipSync(records[0]!.body).toString()).toBe('protobuf bytes '.repeat(100));
    expect(inflateSync(records[1]!.body).toString()).toBe('{"resourceSpans":[]}');
    expect(records[2]!.body.toString()).toBe('plain');
  });

  it('stops a segment at a record of a kind it does not write, as at a torn tail', async () => {
    const { dir, path } = await keptSegment('spool-kind');
    for (const kind of [6, 7, 8, 255]) {
      const body = Buffer.from('next');
      const header = Buffer.alloc(9);
      header.writeUInt32LE(body.length, 0);
      header.writeUInt32LE(crc32(body), 4); // the checksum holds: only the kind is wrong
      header[8] = kind;
      const before = readFileSync(path);
      appendFileSync(path, Buffer.concat([header, body]));
      expect([...Spool.open({ dir }).replay()].map((r) => r.body.toString())).toEqual(['kept']);
      writeFileSync(path, before);
    }
  });

  it('stops a segment at a torn or corrupt tail: those bytes were never acknowledged', async () => {
    const { dir, path } = await keptSegment('spool-torn');
    appendFileSync(path, Buffer.from([200, 0, 0, 0, 1, 2, 3, 4, 0, 9, 9])); // length past the end
    expect([...Spool.open({ dir }).replay()].map((r) => r.body.toString())).toEqual(['kept']);
    const bad = Buffer.alloc(13);
    bad.writeUInt32LE(4, 0);
    bad.writeUInt32LE(12345, 4); // wrong checksum
    writeFileSync(path, Buffer.concat([bad]));
    expect([...Spool.open({ dir }).replay()]).toEqual([]);
  });

  it('rotates segments and deletes only those before the one asked, never the one being written', async () => {
    const dir = tempDir('spool-rotate');
    let now = 0;
    const spool = Spool.open({ dir, segmentMs: 100, now: () => now });
    const first = spool.append('protobuf', Buffer.from('a'));
    now = 150;
    const second = spool.append('protobuf', Buffer.from('b'));
    await Promise.all([first.durable, second.durable]);
    expect(second.segment).toBe(first.segment + 1);
    expect(readdirSync(dir)).toHaveLength(2);
    spool.deleteBefore(second.segment + 10);
    expect(readdirSync(dir)).toHaveLength(1); // the current segment stays
    expect(spool.bytes).toBe(10);
    await spool.close();
    spool.deleteBefore(Number.POSITIVE_INFINITY);
    expect(readdirSync(dir)).toHaveLength(0);
  });

  it('deletes the last segment written once its time is up, with no later write to close its file (an idle or full spool)', async () => {
    const dir = tempDir('spool-last');
    let now = 0;
    const spool = Spool.open({ dir, segmentMs: 100, now: () => now });
    await spool.append('protobuf', Buffer.from('a')).durable;
    expect(spool.deleteBefore(Number.POSITIVE_INFINITY)).toBe(0); // still the one being written
    now = 150;
    expect(spool.deleteBefore(Number.POSITIVE_INFINITY)).toBe(1);
    expect([readdirSync(dir), spool.bytes]).toEqual([[], 0]);
    await spool.append('protobuf', Buffer.from('b')).durable; // the next goes to a segment of its own
    expect(readdirSync(dir)).toHaveLength(1);
    await spool.close();
  });

  it('reads back a sealed segment of this run, and appends copies apart in a segment of their own, between the appends before and after', async () => {
    const dir = tempDir('spool-apart');
    let now = 0;
    const spool = Spool.open({ dir, segmentMs: 100, now: () => now });
    const first = spool.append('protobuf', Buffer.from('a'));
    const second = spool.append('json', gzipSync('{"b":1}'), 'gzip');
    await Promise.all([first.durable, second.durable]);
    expect(second.segment).toBe(first.segment);
    expect(await spool.records(first.segment)).toBeUndefined(); // still being written to
    now = 150;
    const third = spool.append('protobuf', Buffer.from('c'));
    await third.durable;
    expect((await spool.records(first.segment))!.map((r) => [r.segment, r.encoding, r.compression, r.body.length])).toEqual([
      [first.segment, 'protobuf', undefined, 1],
      [first.segment, 'json', 'gzip', gzipSync('{"b":1}').length],
    ]);
    expect(await spool.records(first.segment + 99)).toBeUndefined();
    const apart = spool.appendApart([{ encoding: 'protobuf', body: Buffer.from('copied') }, { encoding: 'json', body: Buffer.from('{}') }]);
    expect(apart.segment).toBe(third.segment + 1);
    const fourth = spool.append('protobuf', Buffer.from('d')); // not in the copies' segment, though its time is not up
    expect(fourth.segment).toBe(apart.segment + 1);
    await Promise.all([apart.durable, fourth.durable]);
    expect((await spool.records(apart.segment))!.map((r) => r.body.toString())).toEqual(['copied', '{}']);
    // A crash: the copies replay after what they were copied from, before what came next.
    const again = Spool.open({ dir });
    expect([...again.replay()].map((r) => [r.segment, r.encoding === 'json' && r.compression === 'gzip' ? gunzipSync(r.body).toString() : r.body.toString()])).toEqual([
      [first.segment, 'a'], [first.segment, '{"b":1}'], [third.segment, 'c'], [apart.segment, 'copied'], [apart.segment, '{}'], [fourth.segment, 'd'],
    ]);
    await again.close();
    await spool.close();
  });

  it('has unlinked the segments it was deleting in the background once close() resolves, with no file of its own open', async () => {
    // A restarted serve: the last run's segment replayed and freed, nothing appended since.
    const { dir } = await keptSegment('spool-unlink');
    const spool = Spool.open({ dir });
    expect([...spool.replay()].map((r) => r.body.toString())).toEqual(['kept']);
    // Every thread of libuv's pool busy for a while: the unlink waits behind them.
    const busy = Array.from({ length: Number(process.env['UV_THREADPOOL_SIZE'] ?? 4) }, () => new Promise((resolve) => pbkdf2('x', 'y', 300_000, 32, 'sha256', resolve)));
    expect(spool.deleteWhere(() => true, { background: true })).toBe(1);
    await spool.close();
    expect(readdirSync(dir)).toEqual([]);
    await Promise.all(busy);
  });

  it('has closed the files of the segments it sealed and deleted once close() resolves', async () => {
    let now = 0;
    const opened: string[] = [];
    const closed: string[] = [];
    const openSegment = async (path: string, flags: number): Promise<SegmentFile> => {
      const file = await open(path, flags);
      opened.push(path);
      return {
        writev: (buffers, position) => file.writev(buffers, position),
        datasync: () => file.datasync(),
        // Slow, on the thread pool: close() must wait for it.
        close: async () => {
          await new Promise((r) => setTimeout(r, 50));
          await file.close();
          closed.push(path);
        },
      };
    };
    const spool = Spool.open({ dir: tempDir('spool-close-sealed'), segmentMs: 100, now: () => now, openSegment });
    await spool.append('protobuf', Buffer.from('a')).durable;
    now = 150;
    expect(spool.deleteBefore(Number.POSITIVE_INFINITY)).toBe(1); // sealed by time: its file closed, then deleted
    await spool.close();
    expect(closed).toEqual(opened);
  });

  it('never deletes a segment of the last run before replay has read it to the end', async () => {
    const { dir } = await keptSegment('spool-unreplayed');
    const spool = Spool.open({ dir });
    // Before replay: a sweep of unneeded segments (a write tick) leaves the last run's alone.
    expect(spool.deleteWhere(() => true)).toBe(0);
    const replay = spool.replay();
    expect(replay.next().value?.body.toString()).toBe('kept');
    expect(spool.deleteWhere(() => true)).toBe(0); // its records are still being read
    expect(replay.next().done).toBe(true);
    expect(spool.deleteWhere(() => true)).toBe(1);
    expect(readdirSync(dir)).toEqual([]);
    await spool.close();
  });

  it("says when its oldest segment on disk was started: never while the last run's is there, nor while one is being unlinked", async () => {
    const { dir } = await keptSegment('spool-oldest');
    let now = 1000;
    const spool = Spool.open({ dir, segmentMs: 100, now: () => now });
    expect(spool.oldestSegmentMs).toBe(Number.NEGATIVE_INFINITY); // the last run's: it may hold traces committed at any time
    expect([...spool.replay()]).toHaveLength(1);
    await spool.append('protobuf', Buffer.from('a')).durable;
    now = 1200;
    await spool.append('protobuf', Buffer.from('b')).durable;
    expect(spool.oldestSegmentMs).toBe(Number.NEGATIVE_INFINITY);
    // Unlinked on the thread pool: until that is done, the segment is still there for a crash.
    expect(spool.deleteWhere((segment) => segment < spool.currentSegment - 1, { background: true })).toBe(1);
    expect(spool.oldestSegmentMs).toBe(Number.NEGATIVE_INFINITY);
    await vi.waitFor(() => expect(spool.oldestSegmentMs).toBe(1000));
    now = 1400;
    expect(spool.deleteBefore(Number.POSITIVE_INFINITY)).toBe(2);
    expect(spool.oldestSegmentMs).toBe(Number.POSITIVE_INFINITY);
    await spool.close();
  });

  it('says when an export would pass --spool-max-mib', () => {
    const spool = Spool.open({ dir: tempDir('spool-full'), maxBytes: 100 });
    expect(spool.wouldOverflow(50)).toBe(false);
    spool.append('protobuf', Buffer.alloc(60));
    expect(spool.wouldOverflow(50)).toBe(true);
    return spool.close();
  });

  it('refuses a directory it cannot write with one line', () => {
    const dir = tempDir('spool-ro');
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    chmodSync(file, 0o444);
    expect(() => Spool.open({ dir: join(file, 'spool') })).toThrow(SpoolError);
    expect(() => Spool.open({ dir: join(file, 'spool') })).toThrow(/^cannot use the spool directory .*a-file\/spool: /);
  });
});
