/**
 * Learns which peers an app calls never send spans of their own (a third-party API, a service
 * nobody instrumented), so that a trace whose only unanswered calls go to them can look whole.
 */

/** Released traces' calls to a peer, all unanswered, before it counts as sending no spans. */
export const OPAQUE_AFTER_CALLS = 20;
/** Peers remembered at most; past it, new peers are not learned (their callers keep the trace wait). */
const MAX_PEERS = 10_000;

/**
 * A peer is opaque once OPAQUE_AFTER_CALLS of its calls were released unanswered and none answered.
 * Its calls are seen while their traces still wait the whole trace wait, so a peer that does send
 * spans in time is seen to answer before it could be taken for opaque; one answer ends it for good.
 */
export class OpaquePeers {
  /** Unanswered calls seen per peer; -1 once a call to it was answered. */
  readonly #unanswered = new Map<string, number>();

  /** Notes a released trace's call to `peer`, answered (a span of what it called arrived) or not. */
  observe(peer: string, answered: boolean): void {
    const seen = this.#unanswered.get(peer);
    if (seen === -1) return;
    if (seen === undefined && this.#unanswered.size >= MAX_PEERS) return;
    this.#unanswered.set(peer, answered ? -1 : Math.min(OPAQUE_AFTER_CALLS, (seen ?? 0) + 1));
  }

  isOpaque(peer: string): boolean {
    return this.#unanswered.get(peer) === OPAQUE_AFTER_CALLS;
  }
}
