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

  /** Notes that `traceId` has spans in `segment`. */
  pin(traceId: string, segment: number): void {
    const segments = this.#byTrace.get(traceId);
    if (segments === undefined) this.#byTrace.set(traceId, [segment]);
    else if (segments.includes(segment)) return;
    else segments.push(segment);
    this.#traces.set(segment, (this.#traces.get(segment) ?? 0) + 1);
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

  isPinned(segment: number): boolean {
    return this.#traces.has(segment);
  }
}
