/**
 * Durable intake: every accepted export is appended to a segment log and made durable (one fsync
 * per group-commit window) before it is acknowledged; segments are replayed at start and deleted
 * once the traces in them are analysed and committed.
 *
 * Writes go to positions the spool assigns, so that a second commit can start while the first is on
 * disk; an export is acknowledged only once every write before it in its segment has returned too
 * (replay stops at the first torn record, so a record after an unfinished one is not yet safe).
 *
 * Layout: `<dir>/<12-digit seq>.seg`. A record is a 9-byte header (u32 LE payload length, u32 LE
 * CRC-32 of the payload, u8 kind: bit 0 the encoding, 0 OTLP protobuf, 1 OTLP JSON; bits 1-2 the
 * compression, 0 none, 1 gzip, 2 deflate) and the export body as it arrived: a compressed body is
 * kept compressed, so the spool writes (and copies, and checksums) several times fewer bytes. A
 * crash can only tear the tail of the newest segment: replay stops at the first record whose
 * length, kind or checksum does not hold, and that record was never acknowledged.
 */
import { accessSync, closeSync, constants, mkdirSync, openSync, readdirSync, readFileSync, statSync, unlink, unlinkSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as zlib from 'node:zlib';

export type SpoolEncoding = 'protobuf' | 'json';

/** How a kept body is compressed (as its Content-Encoding or grpc-encoding said); none when absent. */
export type SpoolCompression = 'gzip' | 'deflate';

export interface SpoolOptions {
  dir: string;
  /** Segment bytes on disk at which appends are refused (retryable). Default 1 GiB. */
  maxBytes?: number;
  /**
   * Group-commit window: an append to an idle spool waits this long for company before its write.
   * While a commit is in flight, appends go without a window: in a write of their own at once while
   * fewer than `writesInFlight` are on disk, else together the moment one returns. Default 0: at
   * once, after the I/O the event loop has ready (as PostgreSQL's commit_delay 0: under load,
   * appends group behind the commits in flight by themselves).
   */
  commitMs?: number;
  /**
   * Commits on disk at once. Default 2: an export that arrives during a write starts its own instead
   * of waiting for that one to return first (a synchronous write of a busy disk can take 50-130 ms).
   */
  writesInFlight?: number;
  /** A segment is sealed and a new one started past this size… Default 8 MiB. */
  segmentBytes?: number;
  /** …or this age. Default 1000 ms. */
  segmentMs?: number;
  /** Clock, injectable for tests. */
  now?: () => number;
  /** Opens a segment for writing; injectable for tests (writes that return out of order, or fail). */
  openSegment?: (path: string, flags: number) => Promise<SegmentFile>;
}

/** What the spool needs of an open segment (a node:fs/promises FileHandle has it). */
export interface SegmentFile {
  /**
   * Writes `buffers` at `position`; durable when it resolves where the file was opened with O_DSYNC.
   * Like pwritev(2), it may write fewer bytes than asked without an error (a full disk, the file
   * size limit): `bytesWritten` says how many.
   */
  writev(buffers: Buffer[], position: number): Promise<{ bytesWritten: number }>;
  datasync(): Promise<void>;
  close(): Promise<void>;
}

export interface SpoolRecord {
  segment: number;
  encoding: SpoolEncoding;
  /** The body as appended: still compressed when `compression` is set. */
  body: Buffer;
  compression?: SpoolCompression;
}

/** The spool directory cannot be used; one line naming it. */
export class SpoolError extends Error {
  override name = 'SpoolError';
}

const HEADER = 9;
const SUFFIX = '.seg';
const JSON_BIT = 1;
/** Each compression's code in bits 1-2 of the kind byte is its index here. */
const COMPRESSIONS: readonly (SpoolCompression | undefined)[] = [undefined, 'gzip', 'deflate'];

/** A record's kind byte from its encoding and compression; kindOf reads it back (undefined: not a kind this spool writes). */
function kindByte(encoding: SpoolEncoding, compression: SpoolCompression | undefined): number {
  return (encoding === 'json' ? JSON_BIT : 0) | (COMPRESSIONS.indexOf(compression) << 1);
}

function kindOf(byte: number): { encoding: SpoolEncoding; compression: SpoolCompression | undefined } | undefined {
  const code = byte >> 1;
  if (code >= COMPRESSIONS.length) return undefined;
  return { encoding: byte & JSON_BIT ? 'json' : 'protobuf', compression: COMPRESSIONS[code] };
}

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
 * an fdatasync, each waiting for its own turn of a busy event loop before the next can start. Not
 * O_APPEND: each write goes where the spool put it, whichever pool thread runs first.
 */
const DSYNC = constants.O_DSYNC;
const SEGMENT_FLAGS = constants.O_WRONLY | constants.O_CREAT | (DSYNC ?? 0);

const openSegmentFile = (path: string, flags: number): Promise<SegmentFile> => open(path, flags);

const segmentName = (seq: number): string => `${String(seq).padStart(12, '0')}${SUFFIX}`;

/** A segment file's bytes, or undefined when it has been deleted. */
function readSegmentIfThere(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** The records of a segment's bytes, up to the first torn one (a crash during the write of an unacknowledged export). */
function* recordsIn(segment: number, data: Buffer): Generator<SpoolRecord> {
  let at = 0;
  while (at + HEADER <= data.length) {
    const length = data.readUInt32LE(at);
    const sum = data.readUInt32LE(at + 4);
    const kind = kindOf(data[at + 8]!);
    if (at + HEADER + length > data.length || kind === undefined) break;
    const body = data.subarray(at + HEADER, at + HEADER + length);
    if (crc32(body) !== sum) break;
    // An empty export carries no spans, and zeros read as empty records: a hole that a later
    // write extended the file past, when the crash came before the write meant for it returned.
    if (length > 0) yield { segment, encoding: kind.encoding, body, ...(kind.compression === undefined ? {} : { compression: kind.compression }) };
    at += HEADER + length;
  }
}

interface Pending {
  segment: number;
  bytes: Buffer[];
  resolve: () => void;
  reject: (e: Error) => void;
}

/** One commit: consecutive records of one segment, written at `position` by one write. */
interface Commit {
  segment: number;
  position: number;
  records: Pending[];
  state: 'writing' | 'written' | 'failed';
  error?: Error;
  /** Settles (never rejects) once the write has returned and acknowledgements were given. */
  done?: Promise<void>;
}

/**
 * Writes every byte of `buffers` at `position`. A write that stops part-way returns no error, and
 * acknowledging it would acknowledge a torn record that replay stops at: the rest is written
 * again, which either completes it or fails with the reason (ENOSPC, EFBIG).
 */
async function writeFully(file: SegmentFile, buffers: Buffer[], position: number): Promise<void> {
  let rest = buffers;
  let at = position;
  for (;;) {
    const { bytesWritten } = await file.writev(rest, at);
    let skipped = bytesWritten;
    let i = 0;
    while (i < rest.length && skipped >= rest[i]!.length) skipped -= rest[i++]!.length;
    if (i === rest.length) return;
    if (bytesWritten <= 0) throw new Error('the write made no progress');
    rest = [rest[i]!.subarray(skipped), ...rest.slice(i + 1)];
    at += bytesWritten;
  }
}

export class Spool {
  readonly dir: string;
  readonly #maxBytes: number;
  readonly #commitMs: number;
  readonly #segmentBytes: number;
  readonly #segmentMs: number;
  readonly #now: () => number;
  readonly #writesInFlight: number;
  readonly #openSegment: (path: string, flags: number) => Promise<SegmentFile>;
  /** Bytes per segment on disk (or promised to it), oldest first. */
  readonly #sizes = new Map<number, number>();
  /** When this run first appended to each segment in #sizes (none for one the last run left). */
  readonly #started = new Map<number, number>();
  /** Segments being unlinked in the background, with their #started (−∞ for the last run's): still on disk for a crash. */
  readonly #unlinking = new Map<number, number>();
  /**
   * File work left to the thread pool, which close() waits for: segment files being unlinked
   * (deleteWhere's background) and sealed segments' files being closed (#closeSealed).
   */
  readonly #background = new Set<Promise<void>>();
  /** Segments found at open, to replay. */
  readonly #toReplay: number[];
  /** Segments of the last run that replay() has not read to the end: never deleted before it has. */
  readonly #unreplayed: Set<number>;
  #current: number;
  #currentStarted: number;
  /** Segments open for writing (opened, and their name made durable, once). */
  readonly #files = new Map<number, Promise<SegmentFile>>();
  /** Where the next commit to each segment is written. */
  readonly #ends = new Map<number, number>();
  /** Segments a failed write left a hole or torn record in: nothing after it there can be acknowledged. */
  readonly #broken = new Set<number>();
  #pending: Pending[] = [];
  /** Commits written or being written and not yet acknowledged, in the order they were started. */
  #inFlight: Commit[] = [];
  #writing = 0;
  /** The commit waiting to start (the window's timer, or the loop's next check phase). */
  #scheduled: { cancel(): void } | undefined;
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
    this.#writesInFlight = Math.max(1, options.writesInFlight ?? 2);
    this.#openSegment = options.openSegment ?? openSegmentFile;
    for (const seq of existing) {
      const size = statSync(join(this.dir, segmentName(seq))).size;
      this.#sizes.set(seq, size);
      this.#total += size;
    }
    this.#toReplay = existing;
    this.#unreplayed = new Set(existing);
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

  /**
   * When the oldest segment still on disk was started (epoch ms on this spool's clock): a trace is
   * committed after its spans were spooled, so a trace committed before then has none left to
   * replay. −∞ while a segment the last run left is there (it may hold traces committed at any time
   * before), +∞ when there is none.
   */
  get oldestSegmentMs(): number {
    let oldest = Number.POSITIVE_INFINITY;
    for (const seq of this.#sizes.keys()) oldest = Math.min(oldest, this.#started.get(seq) ?? Number.NEGATIVE_INFINITY);
    for (const started of this.#unlinking.values()) oldest = Math.min(oldest, started);
    return oldest;
  }

  /** True when `incoming` more bytes would pass --spool-max-mib. */
  wouldOverflow(incoming: number): boolean {
    return this.#total + HEADER + incoming > this.#maxBytes;
  }

  /**
   * The records of the segments found at open, oldest first. A segment's torn tail (a crash during
   * the write of an unacknowledged export) ends that segment's replay. A segment gone since open
   * replays nothing: only a segment whose traces are all committed is deleted, and the run before
   * may still have been unlinking one on the thread pool when this run listed the directory.
   */
  *replay(): Generator<SpoolRecord> {
    for (const segment of this.#toReplay) {
      const data = readSegmentIfThere(join(this.dir, segmentName(segment)));
      if (data !== undefined) yield* recordsIn(segment, data);
      this.#unreplayed.delete(segment);
    }
  }

  /**
   * The records of a sealed segment of this run (read on the thread pool), for copying some of their
   * spans apart (appendApart); undefined when it is not one: being written, deleted, or the last run's.
   */
  async records(segment: number): Promise<SpoolRecord[] | undefined> {
    this.#rotateIfDue();
    if (!this.#sizes.has(segment) || !this.#isSettled(segment)) return undefined;
    try {
      return [...recordsIn(segment, await readFile(join(this.dir, segmentName(segment))))];
    } catch (e) {
      // Deleted while it was read (another shard gave its last piece back): nothing to copy.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  /**
   * Appends these exports to a segment of their own, sealed at once: spans copied out of older
   * segments (server/spool-compaction.ts), so that those can go. Resolves once all are on disk.
   */
  appendApart(records: readonly { encoding: SpoolEncoding; body: Uint8Array; compression?: SpoolCompression }[]): { segment: number; durable: Promise<void> } {
    if (this.#closed) throw new SpoolError('the spool is closed');
    // The appends before it stay where they are; those after it start the next segment.
    if ((this.#sizes.get(this.#current) ?? 0) > 0) this.#current++;
    const segment = this.#current;
    const durable = Promise.all(records.map((r) => this.#appendTo(segment, r.encoding, r.body, r.compression))).then(() => undefined);
    this.#current++;
    this.#currentStarted = this.#now();
    return { segment, durable };
  }

  /**
   * Appends one export (`body` compressed by `compression` when given); resolves once it is on disk
   * (fsync'd with everything else appended in the same window). Returns the segment it went to.
   */
  append(encoding: SpoolEncoding, body: Uint8Array, compression?: SpoolCompression): { segment: number; durable: Promise<void> } {
    if (this.#closed) throw new SpoolError('the spool is closed');
    const segment = this.currentSegment;
    return { segment, durable: this.#appendTo(segment, encoding, body, compression) };
  }

  #appendTo(segment: number, encoding: SpoolEncoding, body: Uint8Array, compression: SpoolCompression | undefined): Promise<void> {
    const header = Buffer.allocUnsafe(HEADER);
    header.writeUInt32LE(body.length, 0);
    header.writeUInt32LE(crc32(body), 4);
    header[8] = kindByte(encoding, compression);
    const size = HEADER + body.length;
    if (!this.#sizes.has(segment)) this.#started.set(segment, this.#now());
    this.#sizes.set(segment, (this.#sizes.get(segment) ?? 0) + size);
    this.#total += size;
    const durable = new Promise<void>((resolve, reject) => {
      this.#pending.push({ segment, bytes: [header, Buffer.from(body.buffer, body.byteOffset, body.length)], resolve, reject });
    });
    // Behind a commit in flight there is company already: no window.
    if (this.#writing === 0) this.#scheduled ??= this.#schedule();
    else this.#scheduled ??= this.#schedule(0);
    return durable;
  }

  /**
   * Deletes every segment older than `segment` (never the one being written). `background`: the files
   * are unlinked on the thread pool (the intake's write path), not before this returns.
   */
  deleteBefore(segment: number, options: { background?: boolean } = {}): number {
    return this.deleteWhere((seq) => seq < segment, options);
  }

  /**
   * Deletes every sealed segment `unneeded` says yes to, in any order (each segment replays on its
   * own), never one being written nor one of the last run that replay() has not read; `background`
   * as in deleteBefore.
   */
  deleteWhere(unneeded: (segment: number) => boolean, options: { background?: boolean } = {}): number {
    this.#rotateIfDue(); // a segment due to be sealed can go now, not after the next append
    // Its file, too, is otherwise closed only when a later write returns: a full spool, which refuses
    // every export, or an idle one, would keep its last segment for good.
    this.#closeSealed();
    let deleted = 0;
    for (const [seq, size] of this.#sizes) {
      if (seq >= this.#current) break;
      if (!unneeded(seq) || !this.#isSettled(seq)) continue;
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
        this.#unlinking.set(seq, this.#started.get(seq) ?? Number.NEGATIVE_INFINITY);
        this.#inBackground(
          new Promise<void>((resolve) =>
            unlink(path, () => {
              this.#unlinking.delete(seq);
              resolve();
            }),
          ),
        );
      }
      this.#sizes.delete(seq);
      this.#started.delete(seq);
      this.#total -= size;
      deleted++;
    }
    return deleted;
  }

  /** A sealed segment of this run that nothing is written to any more, nor left for replay to read. */
  #isSettled(seq: number): boolean {
    if (seq >= this.#current || this.#files.has(seq) || this.#unreplayed.has(seq)) return false;
    return !this.#pending.some((p) => p.segment === seq) && !this.#inFlight.some((c) => c.segment === seq);
  }

  /** Commits what is pending and closes the files; segments being deleted are gone once it resolves. */
  async close(): Promise<void> {
    this.#scheduled?.cancel();
    this.#scheduled = undefined;
    while (this.#pending.length > 0 || this.#inFlight.length > 0) {
      this.#startCommits();
      await Promise.all(this.#inFlight.map((c) => c.done));
    }
    this.#closed = true;
    this.#current++; // sealed: deleteBefore may now take every segment
    await Promise.all([...this.#files.values()].map((file) => file.then((f) => f.close()).catch(() => undefined)));
    this.#files.clear();
    await Promise.all(this.#background);
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

  /** Starts commits after the window, or with no window once the I/O the loop has ready is taken. */
  #schedule(windowMs = this.#commitMs): { cancel(): void } {
    const start = (): void => {
      this.#scheduled = undefined;
      this.#startCommits();
    };
    if (windowMs <= 0) {
      const immediate = setImmediate(start);
      return { cancel: () => clearImmediate(immediate) };
    }
    const timer = setTimeout(start, windowMs);
    return { cancel: () => clearTimeout(timer) };
  }

  /**
   * Starts a write of everything pending, one per segment touched, while fewer than
   * `writesInFlight` are on disk; what is left goes when one returns. The event loop decodes and
   * admits the next exports meanwhile.
   */
  #startCommits(): void {
    while (this.#pending.length > 0 && this.#writing < this.#writesInFlight) {
      const segment = this.#pending[0]!.segment;
      let n = 1;
      while (n < this.#pending.length && this.#pending[n]!.segment === segment) n++;
      const records = this.#pending.slice(0, n);
      this.#pending = this.#pending.slice(n);
      if (this.#broken.has(segment)) {
        // Behind a failed write: replay would stop before these bytes.
        const error = new SpoolError('spool write failed: an earlier write to its segment failed');
        for (const p of records) p.reject(error);
        continue;
      }
      let size = 0;
      for (const p of records) for (const b of p.bytes) size += b.length;
      const position = this.#ends.get(segment) ?? 0;
      this.#ends.set(segment, position + size);
      const commit: Commit = { segment, position, records, state: 'writing' };
      this.#inFlight.push(commit);
      this.#writing++;
      commit.done = this.#write(commit);
    }
  }

  /** Writes one commit durably, then acknowledges what is now safe and starts what waits. */
  async #write(commit: Commit): Promise<void> {
    try {
      const file = await this.#file(commit.segment);
      await writeFully(file, commit.records.flatMap((p) => p.bytes), commit.position);
      if (DSYNC === undefined) await file.datasync();
      this.#fsyncs++;
      commit.state = 'written';
    } catch (e) {
      commit.state = 'failed';
      commit.error = new SpoolError(`spool write failed: ${(e as Error).message}`);
      this.#broken.add(commit.segment);
      // Later exports go to a new segment, not behind the hole.
      if (this.#current === commit.segment) {
        this.#current++;
        this.#currentStarted = this.#now();
      }
    }
    this.#writing--;
    this.#acknowledge();
    this.#closeSealed();
    this.#startCommits();
  }

  /**
   * Settles every commit whose segment has nothing unfinished before it: written ones are durable
   * (resolved), and a failed one and everything after it in its segment are not (rejected). A
   * commit behind one still being written in its segment waits, even when its own write returned.
   */
  #acknowledge(): void {
    const waiting = new Set<number>();
    const left: Commit[] = [];
    for (const c of this.#inFlight) {
      if (c.state === 'writing' || waiting.has(c.segment)) {
        waiting.add(c.segment);
        left.push(c);
      } else if (c.state === 'failed' || this.#broken.has(c.segment)) {
        const error = c.error ?? new SpoolError('spool write failed: an earlier write to its segment failed');
        for (const p of c.records) p.reject(error);
      } else {
        for (const p of c.records) p.resolve();
      }
    }
    this.#inFlight = left;
  }

  /** The open file of a segment; a new segment's name is made durable before any write to it returns. */
  #file(segment: number): Promise<SegmentFile> {
    let file = this.#files.get(segment);
    if (file === undefined) {
      file = this.#openSegment(join(this.dir, segmentName(segment)), SEGMENT_FLAGS).then(async (f) => {
        await this.#syncDir(); // the new file's name must survive a crash as well as its bytes
        return f;
      });
      this.#files.set(segment, file);
    }
    return file;
  }

  /** Keeps `work` (which never rejects) in #background until it is done. */
  #inBackground(work: Promise<void>): void {
    const done: Promise<void> = work.then(() => void this.#background.delete(done));
    this.#background.add(done);
  }

  /** Closes the files of segments before the current one that nothing is written to any more. */
  #closeSealed(): void {
    for (const [segment, file] of this.#files) {
      if (segment >= this.#current || this.#inFlight.some((c) => c.segment === segment) || this.#pending.some((p) => p.segment === segment)) continue;
      this.#files.delete(segment);
      this.#ends.delete(segment);
      this.#broken.delete(segment);
      this.#inBackground(file.then((f) => f.close()).catch(() => undefined));
    }
  }
}
