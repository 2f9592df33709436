/**
 * Learns which peers an app calls never send spans of their own (a third-party API, a service
 * nobody instrumented), so that a trace whose only unanswered calls go to them can look whole.
 */

/** Traces whose calls to a peer were all unanswered, before the peer counts as sending no spans. */
export const OPAQUE_AFTER_TRACES = 20;
/**
 * Peers remembered at most (many hosts: per-tenant webhooks, buckets), in two generations of half as
 * many: once the newer is full, the older is forgotten. A peer noted again moves to the newer, so the
 * hosts every request calls stay learned while one-off hosts pass through. Verdicts read from the
 * store take room in the older only (OpaquePeers.adopt).
 */
export const MAX_PEERS = 10_000;
const GENERATION = MAX_PEERS / 2;
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
  /** Traces seen with unanswered calls per peer, ANSWERED once one was: the peers noted since the generations last turned, and those of the generation before. */
  #young = new Map<string, number>();
  #old = new Map<string, number>();
  /** Opaque peers in both generations. */
  #count = 0;
  /** Verdicts reached (or corrected) here since the last takeVerdicts(). */
  readonly #verdicts = new Map<string, boolean>();

  /** Notes what a released trace says of a peer. */
  observe(call: PeerCall): void {
    const seen = this.#seen(call.peer);
    if (seen === ANSWERED) {
      this.#set(call.peer, seen, seen);
      return;
    }
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
      const seen = this.#seen(peer);
      if (seen === ANSWERED && opaque) {
        this.#verdicts.set(peer, false);
        continue;
      }
      // In place, or in room left in the older generation: never in the newer, whose filling turns the
      // generations. The store keeps up to MAX_PEERS verdicts, and filling the newer at every read
      // would have the next peer seen here push out the older, which holds what no store keeps (an
      // answer, traces counted short of a verdict).
      const generation = this.#young.has(peer) ? this.#young : this.#old.has(peer) || this.#old.size < GENERATION ? this.#old : undefined;
      if (generation === undefined) continue;
      const now = opaque ? OPAQUE_AFTER_TRACES : ANSWERED;
      generation.set(peer, now);
      this.#count += (now === OPAQUE_AFTER_TRACES ? 1 : 0) - (seen === OPAQUE_AFTER_TRACES ? 1 : 0);
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

  #seen(peer: string): number | undefined {
    return this.#young.get(peer) ?? this.#old.get(peer);
  }

  /** Notes `now` for a peer that was at `seen`, in the newer generation (turning them when it is full). */
  #set(peer: string, seen: number | undefined, now: number): void {
    if (!this.#young.has(peer)) {
      if (seen !== undefined) this.#old.delete(peer);
      if (this.#young.size >= GENERATION) this.#turn();
    } else if (seen === now) return;
    this.#young.set(peer, now);
    this.#count += (now === OPAQUE_AFTER_TRACES ? 1 : 0) - (seen === OPAQUE_AFTER_TRACES ? 1 : 0);
  }

  /** Forgets the older generation; the newer becomes it. A new Map, not deletes: a Map walks the entries deleted at its front (traces/recent.ts). */
  #turn(): void {
    for (const seen of this.#old.values()) if (seen === OPAQUE_AFTER_TRACES) this.#count--;
    this.#old = this.#young;
    this.#young = new Map();
  }

  /** Peers opaque now. */
  get count(): number {
    return this.#count;
  }

  isOpaque(peer: string): boolean {
    return this.#seen(peer) === OPAQUE_AFTER_TRACES;
  }
}
