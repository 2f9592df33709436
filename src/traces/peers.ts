/**
 * Learns which peers an app calls never send spans of their own (a third-party API, a service
 * nobody instrumented), so that a trace whose only unanswered calls go to them can look whole.
 */

/** Traces whose calls to a peer were all unanswered, before the peer counts as sending no spans. */
export const OPAQUE_AFTER_TRACES = 20;
/** Peers remembered at most; past it all are forgotten and learned again (many hosts: per-tenant webhooks, buckets). */
const MAX_PEERS = 10_000;
/** A peer that answered a call once: it sends spans, so it is never opaque. */
const ANSWERED = -1;

/**
 * Whether a trace waits for every call, learned peers' too, so that a peer that starts to send spans
 * is seen to answer: one trace in 64 (the id's last byte a multiple of 64; ids are lowercase hex). A
 * probe waits the whole trace wait: at 6 s and ~500k spans/s of traces that all call such a peer, one
 * in 16 would hold ~70 MB, over a quarter of the default buffer.
 */
export const isProbe = (traceId: string): boolean => traceId.endsWith('0') && '048c'.includes(traceId.charAt(traceId.length - 2));

/** What one released trace says of one peer: whether any of its calls to it was answered. */
export interface PeerCall {
  peer: string;
  answered: boolean;
}

/**
 * A peer is opaque once OPAQUE_AFTER_TRACES traces that waited the whole trace wait had calls to it
 * and none was answered. Counting traces, not calls, keeps one fan-out (twenty calls whose answers
 * would all come in one late export) from teaching it; one answer ends it for good.
 */
export class OpaquePeers {
  /** Traces seen with unanswered calls per peer, ANSWERED once one was. */
  readonly #unanswered = new Map<string, number>();
  #count = 0;

  /** Notes what a released trace says of a peer. */
  observe(call: PeerCall): void {
    const seen = this.#unanswered.get(call.peer);
    if (seen === ANSWERED) return;
    // Cleared, not trimmed from the front: a Map walks the entries deleted there (traces/recent.ts).
    if (seen === undefined && this.#unanswered.size >= MAX_PEERS) {
      this.#unanswered.clear();
      this.#count = 0;
    }
    const now = call.answered ? ANSWERED : Math.min(OPAQUE_AFTER_TRACES, (seen ?? 0) + 1);
    this.#unanswered.set(call.peer, now);
    this.#count += (now === OPAQUE_AFTER_TRACES ? 1 : 0) - (seen === OPAQUE_AFTER_TRACES ? 1 : 0);
  }

  /** Peers opaque now. */
  get count(): number {
    return this.#count;
  }

  isOpaque(peer: string): boolean {
    return this.#unanswered.get(peer) === OPAQUE_AFTER_TRACES;
  }
}
