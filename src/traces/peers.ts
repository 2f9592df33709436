/**
 * Learns which peers an app calls never send spans of their own (a third-party API, a service
 * nobody instrumented), so that a trace whose only unanswered calls go to them can look whole.
 */

/** Traces whose calls to a peer were all unanswered, before the peer counts as sending no spans. */
export const OPAQUE_AFTER_TRACES = 20;
/** Peers remembered at most; past it all are forgotten and learned again (many hosts: per-tenant webhooks, buckets). */
export const MAX_PEERS = 10_000;
/** A peer that answered a call once: it sends spans, so it is never opaque. */
const ANSWERED = -1;

/**
 * Whether a trace, once released, still awaits its calls to learned peers, so that a peer that starts
 * to send spans, or answers later than the wait, is seen to answer: one trace in 64 (the id's last byte
 * a multiple of 64; ids are lowercase hex). A probe is released as any other trace is, and an answer
 * continues it (traces/assemble.ts continuingSpans): one that waited the whole wait would pin its spool
 * segment that long, and at ~400k spans/s of uncompressed exports, 6 s of segments outgrow the spool.
 */
export const isProbe = (traceId: string): boolean => traceId.endsWith('0') && '048c'.includes(traceId.charAt(traceId.length - 2));

/** What one released trace says of one peer: whether any of its calls to it was answered. */
export interface PeerCall {
  peer: string;
  answered: boolean;
}

/**
 * What a process concluded of a peer, as the store shares it between processes (a restart, the shards
 * of `serve --workers`, instances on one PostgreSQL): learned to send no spans, or seen to answer.
 */
export interface PeerVerdict {
  peer: string;
  opaque: boolean;
}

/**
 * A peer is opaque once OPAQUE_AFTER_TRACES traces that waited the whole trace wait had calls to it
 * and none was answered. Counting traces, not calls, keeps one fan-out (twenty calls whose answers
 * would all come in one late export) from teaching it; one answer ends it for good. Verdicts reached
 * here wait in takeVerdicts() for the store; those reached elsewhere come in through adopt().
 */
export class OpaquePeers {
  /** Traces seen with unanswered calls per peer, ANSWERED once one was. */
  readonly #unanswered = new Map<string, number>();
  #count = 0;
  /** Verdicts reached (or corrected) here since the last takeVerdicts(). */
  readonly #verdicts = new Map<string, boolean>();

  /** Notes what a released trace says of a peer. */
  observe(call: PeerCall): void {
    const seen = this.#unanswered.get(call.peer);
    if (seen === ANSWERED) return;
    const now = call.answered ? ANSWERED : Math.min(OPAQUE_AFTER_TRACES, (seen ?? 0) + 1);
    this.#set(call.peer, seen, now);
    if (now === OPAQUE_AFTER_TRACES && seen !== OPAQUE_AFTER_TRACES) this.#verdicts.set(call.peer, true);
    // An answer from a peer thought opaque un-learns it everywhere, not only here.
    else if (now === ANSWERED && seen === OPAQUE_AFTER_TRACES) this.#verdicts.set(call.peer, false);
  }

  /**
   * Takes verdicts reached elsewhere. An answer wins over a verdict of opaque, here and in the store: a
   * peer this process saw answer, which another learned as opaque, gets a corrected verdict to share.
   */
  adopt(verdicts: readonly PeerVerdict[]): void {
    for (const { peer, opaque } of verdicts) {
      const seen = this.#unanswered.get(peer);
      // A full table is cleared for what this process sees, never for what others shared: the store
      // keeps up to MAX_PEERS verdicts, which would clear it at every read.
      if (seen === undefined && this.#unanswered.size >= MAX_PEERS) continue;
      if (!opaque) this.#set(peer, seen, ANSWERED);
      else if (seen === ANSWERED) this.#verdicts.set(peer, false);
      else this.#set(peer, seen, OPAQUE_AFTER_TRACES);
    }
  }

  /** The verdicts reached here since the last call, for the store. */
  takeVerdicts(): PeerVerdict[] {
    const verdicts = [...this.#verdicts].map(([peer, opaque]) => ({ peer, opaque }));
    this.#verdicts.clear();
    return verdicts;
  }

  /** Puts back verdicts the store could not take, unless a newer one for the same peer came since. */
  restoreVerdicts(verdicts: readonly PeerVerdict[]): void {
    for (const { peer, opaque } of verdicts) if (!this.#verdicts.has(peer)) this.#verdicts.set(peer, opaque);
  }

  #set(peer: string, seen: number | undefined, now: number): void {
    if (seen === now) return;
    // Cleared, not trimmed from the front: a Map walks the entries deleted there (traces/recent.ts).
    if (seen === undefined && this.#unanswered.size >= MAX_PEERS) {
      this.#unanswered.clear();
      this.#count = 0;
    }
    this.#unanswered.set(peer, now);
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
