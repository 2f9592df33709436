/**
 * Request bodies in flight: the bytes that exports not yet answered hold while their body is read,
 * inflated and taken, across both transports (OTLP/HTTP and OTLP/gRPC share one count per intake,
 * ExportIntake.startBody). The measured memory (--memory-limit-mib) is sampled at most every 50 ms;
 * this count sees every chunk as it arrives, so that bodies arriving together cannot take the process
 * past the limit between samples.
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

/**
 * A body declared this large or larger (Content-Length, the gRPC length prefix) is refused unread
 * while the process is past its memory limit: four usual 512-span exports. A smaller one is read,
 * and admission then refuses it with its traces held until the retry (intake.ts), so that memory
 * pressure does not split a trace the way a refusal that cannot see the trace ids would.
 */
export const LARGE_BODY_BYTES = 1024 * 1024;

/** One export's body, from its headers (ExportIntake.startBody) until it is answered. */
export interface BodyInFlight {
  /**
   * The body's declared size, once known: the memory refusal to answer with when it is
   * LARGE_BODY_BYTES or more and the process is past its memory limit (the body then holds nothing
   * any more), else undefined. A declared size holds no budget: only the bytes that come do.
   */
  declare(bytes: number): RefusedResult | undefined;
  /**
   * The body holds `bytes` more: a chunk as it arrives, or its inflated copy. Undefined when that
   * fits the budget and, past the memory limit, leaves the body under LARGE_BODY_BYTES; else the
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
export const UNCOUNTED_BODY: BodyInFlight = { declare: () => undefined, hold: () => undefined, end: () => undefined };

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

  /**
   * A body starting; `refuse` makes (and counts) the refusal when it would take the bodies past the
   * budget, or is declared large while `pastMemory()`.
   */
  start(refuse: () => RefusedResult, pastMemory: () => boolean): BodyInFlight {
    let held = 0;
    let ended = false;
    const end = (): void => {
      if (ended) return;
      ended = true;
      this.#add(-held);
      held = 0;
    };
    return {
      declare: (bytes) => {
        if (ended || bytes < LARGE_BODY_BYTES || !pastMemory()) return undefined;
        end();
        return refuse();
      },
      hold: (bytes) => {
        if (ended || bytes <= 0) return undefined;
        if (this.#bytes > held && this.#bytes + bytes > this.budget) {
          end();
          return refuse();
        }
        held += bytes;
        this.#add(bytes);
        // A body that grows large with no size declared (chunked, or as it inflates) is refused once it does.
        if (held >= LARGE_BODY_BYTES && pastMemory()) {
          end();
          return refuse();
        }
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
