import { appendFileSync, readdirSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { tempDir } from '../../test/support.js';
import { crc32, Spool, SpoolError } from './spool.js';

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

  it('commits appends that arrive during a commit the moment it returns, without another window', async () => {
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

  it('stops a segment at a torn or corrupt tail: those bytes were never acknowledged', async () => {
    const dir = tempDir('spool-torn');
    const spool = Spool.open({ dir });
    await spool.append('protobuf', Buffer.from('kept')).durable;
    await spool.close();
    const [file] = readdirSync(dir);
    appendFileSync(join(dir, file!), Buffer.from([200, 0, 0, 0, 1, 2, 3, 4, 0, 9, 9])); // length past the end
    expect([...Spool.open({ dir }).replay()].map((r) => r.body.toString())).toEqual(['kept']);
    const bad = Buffer.alloc(13);
    bad.writeUInt32LE(4, 0);
    bad.writeUInt32LE(12345, 4); // wrong checksum
    writeFileSync(join(dir, file!), Buffer.concat([bad]));
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
