/**
 * Which spool segments still hold spans of traces not yet committed. A segment can be deleted once no
 * such trace has spans in it, whatever older segments stay: one trace that waits for its root (up to
 * the maximum trace age) then keeps only its own segments, not every segment written after them.
 */
export class SegmentPins {
  /** The segments each trace has spans in, oldest first (usually one or two). */
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
    for (const segment of segments) {
      const left = this.#traces.get(segment)! - 1;
      if (left === 0) this.#traces.delete(segment);
      else this.#traces.set(segment, left);
    }
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

  isPinned(segment: number): boolean {
    return this.#traces.has(segment);
  }
}
