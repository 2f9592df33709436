/**
 * The serving thread's spool as a shard's Intake sees it (`serve --workers`): the segments holding
 * the export pieces this shard took, each given back to the serving thread, which deletes a segment
 * once no shard needs it, when the shard has committed every trace with spans in it.
 */
import type { TraceId } from '../otlp/span.js';
import type { SpoolRecord } from '../spool/index.js';
import type { IntakeSpool } from './intake.js';
import type { CopiedApart } from './spool-compaction.js';

/** What a shard's spool sends the serving thread. */
export interface ShardSpoolMessages {
  giveBack(segment: number, pieces: number): void;
  copyApart(request: number, segments: number[], traceIds: TraceId[]): void;
}

export class ShardSpool implements IntakeSpool {
  /** Pieces taken per segment, not yet given back. */
  readonly #pieces = new Map<number, number>();
  readonly #send: ShardSpoolMessages;
  /** copyApart calls the serving thread has not answered yet. */
  readonly #copying = new Map<number, (copied: CopiedApart) => void>();
  #nextRequest = 1;
  /** The serving thread's spool's oldestSegmentMs as it last said (spoolFloor); −∞ until it has. */
  #oldestSegmentMs = Number.NEGATIVE_INFINITY;

  constructor(send: ShardSpoolMessages) {
    this.#send = send;
  }

  /**
   * CopyApart (server/spool-compaction.ts) by the serving thread, which holds the copy's segment
   * for this shard from before its write ends; it answers once the copy is on disk (copied).
   */
  copyApart(segments: readonly number[], traceIds: ReadonlySet<TraceId>): Promise<CopiedApart> {
    const request = this.#nextRequest++;
    return new Promise((resolve) => {
      this.#copying.set(request, resolve);
      this.#send.copyApart(request, [...segments], [...traceIds]);
    });
  }

  /** The serving thread's answer to copyApart `request`: the copy's segment is this shard's piece. */
  copied(request: number, from: readonly number[], segment: number | undefined): void {
    const resolve = this.#copying.get(request);
    if (resolve === undefined) return;
    this.#copying.delete(request);
    if (segment !== undefined) this.took(segment);
    resolve(segment === undefined ? { from } : { from, segment, durable: Promise.resolve() });
  }

  /** A piece of an export in `segment` is this shard's (taken and settled, or replayed). */
  took(segment: number): void {
    this.#pieces.set(segment, (this.#pieces.get(segment) ?? 0) + 1);
  }

  /**
   * The oldest segment of the serving thread's spool (Spool.oldestSegmentMs), whichever shard holds
   * it: every shard forgets committed traces of all of them. It only grows, so a late word errs safe.
   */
  get oldestSegmentMs(): number {
    return this.#oldestSegmentMs;
  }

  /** The serving thread's word on its spool's oldest segment. */
  spoolFloor(oldestSegmentMs: number): void {
    this.#oldestSegmentMs = oldestSegmentMs;
  }

  /** The serving thread counts the spool's bytes. */
  get bytes(): number {
    return 0;
  }

  /** The serving thread checks for room before a piece comes (SpooledElsewhere.full). */
  wouldOverflow(): boolean {
    return false;
  }

  append(): never {
    throw new Error('a shard does not append to the spool: the serving thread writes each export whole');
  }

  /** The serving thread replays, sending each shard its pieces (Intake.startReplay). */
  *replay(): Generator<SpoolRecord> {}

  /** Gives back every segment `unneeded` says yes to: the serving thread deletes it once no shard needs it. */
  deleteWhere(unneeded: (segment: number) => boolean): number {
    let given = 0;
    for (const [segment, pieces] of this.#pieces) {
      if (!unneeded(segment)) continue;
      this.#pieces.delete(segment);
      this.#send.giveBack(segment, pieces);
      given++;
    }
    return given;
  }

  deleteBefore(segment: number): number {
    return this.deleteWhere((s) => s < segment);
  }

  async close(): Promise<void> {}
}
