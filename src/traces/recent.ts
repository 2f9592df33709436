/**
 * Span ids of recently analysed traces, in a fixed 1 MiB table, to tell a late copy of an analysed
 * span (an exporter retry) from a span that genuinely arrived late. Direct-mapped and lossy by design:
 * either way the span is dropped, so a wrong answer only moves one count between two counters.
 */
const SLOTS = 1 << 18;

export class RecentSpans {
  #tags: Uint32Array | undefined;

  /** Remembers a span id (16 hex characters). */
  add(spanId: string): void {
    const tags = (this.#tags ??= new Uint32Array(SLOTS));
    tags[slotOf(spanId)] = tagOf(spanId);
  }

  /** `add` of a span id of 16 lowercase hex digits, given as the 32-bit words they spell. */
  addWords(hi: number, lo: number): void {
    const tags = (this.#tags ??= new Uint32Array(SLOTS));
    tags[lo & (SLOTS - 1)] = (hi | 1) >>> 0;
  }

  /** `has` of a span id given as its two words (see addWords). */
  hasWords(hi: number, lo: number): boolean {
    return this.#tags !== undefined && this.#tags[lo & (SLOTS - 1)] === (hi | 1) >>> 0;
  }

  /** True when the span id was added recently (rarely a false yes after 2^18 others). */
  has(spanId: string): boolean {
    return this.#tags !== undefined && this.#tags[slotOf(spanId)] === tagOf(spanId);
  }
}

function slotOf(spanId: string): number {
  return parseInt(spanId.slice(8, 16), 16) & (SLOTS - 1);
}

/** Never 0, so an empty slot matches nothing. */
function tagOf(spanId: string): number {
  return (parseInt(spanId.slice(0, 8), 16) | 1) >>> 0;
}
