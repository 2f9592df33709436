/**
 * Which spool segments still hold spans of traces not yet committed. A segment can be deleted once no
 * such trace has spans in it, whatever older segments stay: one trace that waits for its root (up to
 * the maximum trace age) then keeps only its own segments, not every segment written after them.
 */
export class SegmentPins {
  /** The segments each trace has spans in (usually one or two). */
  readonly #byTrace = new Map<string, number[]>();
  /** Traces with spans in each segment. */
  readonly #traces = new Map<number, number>();
  /** The traces pinned under each provisional (negative) key, until settle(). */
  readonly #provisional = new Map<number, string[]>();

  /** Notes that `traceId` has spans in `segment`, or under a provisional key (negative) until settle() names it. */
  pin(traceId: string, segment: number): void {
    const segments = this.#byTrace.get(traceId);
    if (segments === undefined) this.#byTrace.set(traceId, [segment]);
    else if (segments.includes(segment)) return;
    else segments.push(segment);
    this.#traces.set(segment, (this.#traces.get(segment) ?? 0) + 1);
    if (segment < 0) {
      const traces = this.#provisional.get(segment);
      if (traces === undefined) this.#provisional.set(segment, [traceId]);
      else traces.push(traceId);
    }
  }

  /** The trace is committed: no segment needs keeping for it any more. */
  release(traceId: string): void {
    const segments = this.#byTrace.get(traceId);
    if (segments === undefined) return;
    this.#byTrace.delete(traceId);
    for (const segment of segments) this.#unpin(segment);
  }

  /** One trace fewer has spans in `segment`. */
  #unpin(segment: number): void {
    const left = this.#traces.get(segment)! - 1;
    if (left === 0) this.#traces.delete(segment);
    else this.#traces.set(segment, left);
  }

  /**
   * The spans pinned under the provisional key `pending` are in `segment` (undefined: in none after
   * all). A trace released meanwhile was committed with them, and keeps no pin.
   */
  settle(pending: number, segment: number | undefined): void {
    const traces = this.#provisional.get(pending);
    if (traces === undefined) return;
    this.#provisional.delete(pending);
    for (const traceId of traces) {
      const segments = this.#byTrace.get(traceId);
      const i = segments?.indexOf(pending) ?? -1;
      if (i < 0) continue;
      this.release(traceId);
      for (const kept of segments!) if (kept !== pending) this.pin(traceId, kept);
      if (segment !== undefined) this.pin(traceId, segment);
    }
  }

  /** The segments (not provisional keys) that no trace but these pins, ascending. */
  heldOnlyBy(traceIds: Iterable<string>): number[] {
    const pinners = new Map<number, number>();
    for (const id of traceIds) for (const segment of this.#byTrace.get(id) ?? []) if (segment >= 0) pinners.set(segment, (pinners.get(segment) ?? 0) + 1);
    const only: number[] = [];
    for (const [segment, n] of pinners) if (this.#traces.get(segment) === n) only.push(segment);
    return only.sort((a, b) => a - b);
  }

  /** The trace's spans in `from` were copied to `to` (spool compaction): when it pins any of `from`, it pins `to` too. */
  pinWith(traceId: string, from: ReadonlySet<number>, to: number): void {
    if (this.#byTrace.get(traceId)?.some((segment) => from.has(segment)) === true) this.pin(traceId, to);
  }

  /** The trace no longer needs these segments (its spans in them are kept elsewhere, pinWith). */
  unpin(traceId: string, segments: ReadonlySet<number>): void {
    const pinned = this.#byTrace.get(traceId);
    if (pinned === undefined) return;
    const kept = pinned.filter((segment) => !segments.has(segment));
    if (kept.length === pinned.length) return;
    for (const segment of pinned) if (segments.has(segment)) this.#unpin(segment);
    if (kept.length === 0) this.#byTrace.delete(traceId);
    else this.#byTrace.set(traceId, kept);
  }

  isPinned(segment: number): boolean {
    return this.#traces.has(segment);
  }
}
