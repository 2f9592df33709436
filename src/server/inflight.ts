/**
 * Request bodies in flight: the bytes that exports not yet answered hold while their body is read,
 * inflated and taken, across both transports (OTLP/HTTP and OTLP/gRPC share one count per intake,
 * ExportIntake.startBody). The measured memory (--memory-limit-mib) is sampled at most every 50 ms
 * and sees a body only once it has arrived; this count sees what the bodies already started will
 * hold, so that exports arriving together cannot take the process past the limit between samples.
 */
import type { Gauge } from 'prom-client';
import type { RefusedResult } from './intake.js';

/**
 * Bodies in flight may hold this share of the memory limit: what the Collector's memory_limiter
 * allows, by default, for the memory that grows between two of its measurements (spike_limit_mib,
 * 20 % of limit_mib). With serve's default limit (--max-buffer-mib + 128 MiB) that is 77 MiB, about
 * nineteen exports at the 4 MiB receive limit, hundreds of usual ones.
 */
export const IN_FLIGHT_SHARE_OF_MEMORY = 0.2;

/** One export's body, from its headers (ExportIntake.startBody) until it is answered. */
export interface BodyInFlight {
  /**
   * The body holds `bytes` more: its declared length (Content-Length, the gRPC prefix's), a chunk of
   * a body that declared none, or its inflated copy. Undefined when that fits the budget; else the
   * memory refusal to answer with, and the body holds nothing any more.
   */
  hold(bytes: number): RefusedResult | undefined;
  /** Gives back every byte the body holds. Every path that ends a body calls it; more calls do nothing. */
  end(): void;
}

/** The rejection of a body read past the budget (readBody), with the refusal to answer with. */
export class BodyRefused extends Error {
  override name = 'BodyRefused';
  constructor(readonly refusal: RefusedResult) {
    super(refusal.message);
  }
}

/** A body nothing counts (a throwaway intake's). */
export const UNCOUNTED_BODY: BodyInFlight = { hold: () => undefined, end: () => undefined };

/**
 * The bytes of the bodies in flight, within a budget: a body that would take them past it is
 * refused, unless no other body holds any. One export up to the receive limit is therefore always
 * read when it is alone, however small the budget, and refusals cannot deadlock.
 */
export class BodiesInFlight {
  readonly budget: number;
  readonly #gauge: Gauge | undefined;
  #bytes = 0;

  constructor(budget: number, gauge?: Gauge) {
    this.budget = budget;
    this.#gauge = gauge;
    gauge?.set(0);
  }

  /** Bytes the bodies in flight hold now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** A body starting; `refuse` makes (and counts) the refusal when it would take the bodies past the budget. */
  start(refuse: () => RefusedResult): BodyInFlight {
    let held = 0;
    let ended = false;
    const end = (): void => {
      if (ended) return;
      ended = true;
      this.#add(-held);
      held = 0;
    };
    return {
      hold: (bytes) => {
        if (ended || bytes <= 0) return undefined;
        if (this.#bytes > held && this.#bytes + bytes > this.budget) {
          end();
          return refuse();
        }
        held += bytes;
        this.#add(bytes);
        return undefined;
      },
      end,
    };
  }

  #add(bytes: number): void {
    if (bytes === 0) return;
    this.#bytes += bytes;
    this.#gauge?.set(this.#bytes);
  }
}
