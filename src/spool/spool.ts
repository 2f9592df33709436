/**
 * Durable intake: every accepted export is appended to a segment log and made durable (one fsync
 * per group-commit window) before it is acknowledged; segments are replayed at start and deleted
 * once the traces in them are analysed and committed.
 *
 * Layout: `<dir>/<12-digit seq>.seg`. A record is a 9-byte header (u32 LE payload length, u32 LE
 * CRC-32 of the payload, u8 encoding: 0 OTLP protobuf, 1 OTLP JSON) and the decompressed export
 * body. A crash can only tear the tail of the newest segment: replay stops at the first record
 * whose length or checksum does not hold, and that record was never acknowledged.
 */
import { accessSync, closeSync, constants, mkdirSync, openSync, readdirSync, readFileSync, statSync, unlink, unlinkSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import * as zlib from 'node:zlib';

export type SpoolEncoding = 'protobuf' | 'json';

export interface SpoolOptions {
  dir: string;
  /** Segment bytes on disk at which appends are refused (retryable). Default 1 GiB. */
  maxBytes?: number;
  /**
   * Group-commit window: an append to an idle spool waits this long for company before its write.
   * While a commit is in flight, appends queue behind it and are committed together the moment it
   * returns, without a window. Default 0: at once, after the I/O the event loop has ready (as
   * PostgreSQL's commit_delay 0: under load, appends group behind the commit in flight by themselves).
   */
  commitMs?: number;
  /** A segment is sealed and a new one started past this size… Default 8 MiB. */
  segmentBytes?: number;
  /** …or this age. Default 1000 ms. */
  segmentMs?: number;
  /** Clock, injectable for tests. */
  now?: () => number;
}

export interface SpoolRecord {
  segment: number;
  encoding: SpoolEncoding;
  body: Buffer;
}

/** The spool directory cannot be used; one line naming it. */
export class SpoolError extends Error {
  override name = 'SpoolError';
}

const HEADER = 9;
const SUFFIX = '.seg';

const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** zlib's own CRC-32 (Node ≥ 20.15): 5–7× faster than the table loop below (1.3 ms per 250 KB export), which was 8 % of the server's CPU. */
const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;

/** CRC-32 (IEEE), as zlib and gzip compute it. */
export function crc32(bytes: Uint8Array): number {
  if (nativeCrc32 !== undefined) return nativeCrc32(bytes);
  let c = -1;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/**
 * Segments are opened for synchronous data writes where the platform has them (Linux, macOS): a
 * group commit is then one write on the thread pool, durable when it returns, instead of a write and
 * an fdatasync, each waiting for its own turn of a busy event loop before the next can start.
 */
const DSYNC = constants.O_DSYNC;
const SEGMENT_FLAGS = DSYNC === undefined ? 'a' : constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | DSYNC;

const segmentName = (seq: number): string => `${String(seq).padStart(12, '0')}${SUFFIX}`;

interface Pending {
  segment: number;
  bytes: Buffer[];
  resolve: () => void;
  reject: (e: Error) => void;
}

export class Spool {
  readonly dir: string;
  readonly #maxBytes: number;
  readonly #commitMs: number;
  readonly #segmentBytes: number;
  readonly #segmentMs: number;
  readonly #now: () => number;
  /** Bytes per segment on disk (or promised to it), oldest first. */
  readonly #sizes = new Map<number, number>();
  /** Segments found at open, to replay. */
  readonly #toReplay: number[];
  #current: number;
  #currentStarted: number;
  #handle: { segment: number; file: FileHandle } | undefined;
  #pending: Pending[] = [];
  /** The batch being written and fsync'd (its segments must not be deleted meanwhile). */
  #inFlight: Pending[] = [];
  /** The commit waiting to start (the window's timer, or the loop's next check phase). */
  #scheduled: { cancel(): void } | undefined;
  #committing: Promise<void> | undefined;
  #total = 0;
  #fsyncs = 0;
  #closed = false;

  private constructor(options: SpoolOptions, existing: number[]) {
    this.dir = options.dir;
    this.#maxBytes = options.maxBytes ?? 1024 * 1024 * 1024;
    this.#commitMs = options.commitMs ?? 0;
    this.#segmentBytes = options.segmentBytes ?? 8 * 1024 * 1024;
    this.#segmentMs = options.segmentMs ?? 1000;
    this.#now = options.now ?? Date.now;
    for (const seq of existing) {
      const size = statSync(join(this.dir, segmentName(seq))).size;
      this.#sizes.set(seq, size);
      this.#total += size;
    }
    this.#toReplay = existing;
    this.#current = (existing.at(-1) ?? 0) + 1;
    this.#currentStarted = this.#now();
  }

  /** Opens (creating) the spool directory; throws a one-line SpoolError when it cannot be written. */
  static open(options: SpoolOptions): Spool {
    try {
      mkdirSync(options.dir, { recursive: true });
      accessSync(options.dir, constants.W_OK);
      const existing = readdirSync(options.dir)
        .filter((f) => /^\d{12}\.seg$/.test(f))
        .map((f) => Number(f.slice(0, 12)))
        .sort((a, b) => a - b);
      // Prove the directory takes a file now rather than on the first export.
      const probe = join(options.dir, '.probe');
      closeSync(openSync(probe, 'w'));
      unlinkSync(probe);
      return new Spool(options, existing);
    } catch (e) {
      throw new SpoolError(`cannot use the spool directory ${options.dir}: ${(e as Error).message.split('\n')[0]}`);
    }
  }

  /** Bytes in segments on disk, including appends not yet committed. */
  get bytes(): number {
    return this.#total;
  }

  /** Durable writes so far (one per group commit and segment). */
  get fsyncs(): number {
    return this.#fsyncs;
  }

  /** The segment the next append goes to. */
  get currentSegment(): number {
    this.#rotateIfDue();
    return this.#current;
  }

  /** True when `incoming` more bytes would pass --spool-max-mib. */
  wouldOverflow(incoming: number): boolean {
    return this.#total + HEADER + incoming > this.#maxBytes;
  }

  /**
   * The records of the segments found at open, oldest first. A segment's torn tail (a crash during
   * the write of an unacknowledged export) ends that segment's replay.
   */
  *replay(): Generator<SpoolRecord> {
    for (const segment of this.#toReplay) {
      const data = readFileSync(join(this.dir, segmentName(segment)));
      let at = 0;
      while (at + HEADER <= data.length) {
        const length = data.readUInt32LE(at);
        const sum = data.readUInt32LE(at + 4);
        const kind = data[at + 8];
        if (at + HEADER + length > data.length || (kind !== 0 && kind !== 1)) break;
        const body = data.subarray(at + HEADER, at + HEADER + length);
        if (crc32(body) !== sum) break;
        yield { segment, encoding: kind === 0 ? 'protobuf' : 'json', body };
        at += HEADER + length;
      }
    }
  }

  /**
   * Appends one export; resolves once it is on disk (fsync'd with everything else appended in the
   * same window). Returns the segment it went to.
   */
  append(encoding: SpoolEncoding, body: Uint8Array): { segment: number; durable: Promise<void> } {
    if (this.#closed) throw new SpoolError('the spool is closed');
    const segment = this.currentSegment;
    const header = Buffer.allocUnsafe(HEADER);
    header.writeUInt32LE(body.length, 0);
    header.writeUInt32LE(crc32(body), 4);
    header[8] = encoding === 'protobuf' ? 0 : 1;
    const size = HEADER + body.length;
    this.#sizes.set(segment, (this.#sizes.get(segment) ?? 0) + size);
    this.#total += size;
    const durable = new Promise<void>((resolve, reject) => {
      this.#pending.push({ segment, bytes: [header, Buffer.from(body.buffer, body.byteOffset, body.length)], resolve, reject });
    });
    // Behind a commit in flight, the append goes with the next one, started when that one returns.
    if (this.#committing === undefined) this.#scheduled ??= this.#schedule();
    return { segment, durable };
  }

  /**
   * Deletes every segment older than `segment` (never the one being written). `background`: the files
   * are unlinked on the thread pool (the intake's write path), not before this returns.
   */
  deleteBefore(segment: number, options: { background?: boolean } = {}): number {
    let deleted = 0;
    for (const [seq, size] of this.#sizes) {
      if (seq >= segment || seq >= this.#current || this.#handle?.segment === seq) break;
      if (this.#pending.some((p) => p.segment === seq) || this.#inFlight.some((p) => p.segment === seq)) break;
      const path = join(this.dir, segmentName(seq));
      if (options.background !== true || this.#closed) {
        try {
          unlinkSync(path);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        }
      } else {
        // On the thread pool: freeing an 8 MiB file held the event loop 10-130 ms under load. A crash
        // before it is done leaves a segment of committed traces, which the next replay skips.
        unlink(path, () => undefined);
      }
      this.#sizes.delete(seq);
      this.#total -= size;
      deleted++;
    }
    return deleted;
  }

  /** Commits what is pending and closes the file. */
  async close(): Promise<void> {
    await this.#commit();
    this.#closed = true;
    await this.#handle?.file.close();
    this.#handle = undefined;
    this.#current++; // sealed: deleteBefore may now take every segment
  }

  /** fsync of the directory, on the thread pool: on a busy disk it takes long enough to stall every request in flight. */
  async #syncDir(): Promise<void> {
    const dir = await open(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  #rotateIfDue(): void {
    const size = this.#sizes.get(this.#current) ?? 0;
    if (size > 0 && (size >= this.#segmentBytes || this.#now() - this.#currentStarted >= this.#segmentMs)) {
      this.#current++;
      this.#currentStarted = this.#now();
    }
  }

  /** Starts a commit after the window, or with no window once the I/O the loop has ready is taken. */
  #schedule(): { cancel(): void } {
    const commit = (): void => void this.#commit();
    if (this.#commitMs <= 0) {
      const immediate = setImmediate(commit);
      return { cancel: () => clearImmediate(immediate) };
    }
    const timer = setTimeout(commit, this.#commitMs);
    return { cancel: () => clearTimeout(timer) };
  }

  /**
   * One group commit at a time: every pending record written, one fsync per segment touched. What
   * arrived while it ran is committed next, at once: an export never waits for a window behind a
   * commit, and the event loop decodes and admits the next exports while the fsync runs on the
   * thread pool.
   */
  async #commit(): Promise<void> {
    this.#scheduled?.cancel();
    this.#scheduled = undefined;
    while (this.#committing !== undefined) await this.#committing;
    if (this.#pending.length === 0) return;
    this.#committing = this.#commitPending();
    await this.#committing;
  }

  /** Commits the pending batch, then each batch that queued behind it, until none is left. */
  async #commitPending(): Promise<void> {
    try {
      while (this.#pending.length > 0) {
        const batch = (this.#inFlight = this.#pending);
        this.#pending = [];
        try {
          await this.#write(batch);
          for (const p of batch) p.resolve();
        } catch (e) {
          const err = new SpoolError(`spool write failed: ${(e as Error).message}`);
          for (const p of batch) p.reject(err);
        }
        this.#inFlight = [];
      }
    } finally {
      this.#committing = undefined;
    }
  }

  /** Writes a batch of records durably, one synchronous write (or write and fdatasync) per segment touched. */
  async #write(batch: Pending[]): Promise<void> {
    let i = 0;
    while (i < batch.length) {
      const segment = batch[i]!.segment;
      const buffers: Buffer[] = [];
      for (; i < batch.length && batch[i]!.segment === segment; i++) buffers.push(...batch[i]!.bytes);
      if (this.#handle?.segment !== segment) {
        await this.#handle?.file.close();
        this.#handle = { segment, file: await open(join(this.dir, segmentName(segment)), SEGMENT_FLAGS) };
        await this.#syncDir(); // the new file's name must survive a crash as well as its bytes
      }
      await this.#handle.file.writev(buffers);
      if (DSYNC === undefined) await this.#handle.file.datasync();
      this.#fsyncs++;
    }
  }
}
