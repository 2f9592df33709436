/** The live pipeline behind both transports: accepts decoded batches, completes traces on a timer, writes findings in batched transactions. */
import { appendFileSync } from 'node:fs';
import { Analyzer, type AnalyzerOptions } from '../analyzer.js';
import type { RequestAnalysis } from '../detect/types.js';
import type { DecodedBatch } from '../otlp/span.js';
import type { Store } from '../store/store.js';
import { decideAdmission, type AdmissionLimits, type RefusalReason } from '../traces/admission.js';
import type { ServerMetrics } from './metrics.js';

export interface IntakeOptions extends AnalyzerOptions {
  store: Store;
  /** Estimated bytes of buffered spans at which exports are refused. Default 256 MiB. */
  maxBufferBytes?: number;
  /** Random source for retry jitter, injectable for tests. */
  random?: () => number;
  metrics: ServerMetrics;
  /** Appends each accepted export as one OTLP/JSON line. */
  recordPath?: string;
  /** How often complete traces are analysed and written. Default: a quarter of traceWaitMs, at most 250 ms. */
  pollIntervalMs?: number;
  /** Wall clock, injectable for tests. */
  now?: () => number;
}

export type Transport = 'http' | 'grpc';

export type AcceptResult =
  | { ok: true; rejected: number; message: string }
  | { ok: false; reason: RefusalReason | 'closing'; retryAfterMs: number; message: string };

/** A transport counts as contending for the buffer this long after its last export. */
const ACTIVE_SOURCE_MS = 10_000;

const REFUSAL_TEXT: Record<RefusalReason | 'closing', string> = {
  max_traces: 'n1lens is at --max-traces open traces; retry later',
  max_buffer: 'n1lens is at --max-buffer-mib of buffered spans; retry later',
  fair_share: 'n1lens is sharing its buffer with another transport; retry later',
  closing: 'n1lens is shutting down; retry against the next instance or later',
};

export class Intake {
  readonly #analyzer: Analyzer;
  readonly #store: Store;
  readonly #metrics: ServerMetrics;
  readonly #record: string | undefined;
  readonly #now: () => number;
  readonly #limits: AdmissionLimits;
  readonly #random: () => number;
  readonly #traceWaitMs: number;
  /** Last export time per transport, for fair sharing. */
  readonly #lastExport = new Map<Transport, number>();
  #pending: RequestAnalysis[] = [];
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: IntakeOptions) {
    // Admission keeps the buffer within limits before accepting; the assembler never evicts early.
    this.#analyzer = new Analyzer({ ...options, maxOpenTraces: Number.POSITIVE_INFINITY });
    this.#store = options.store;
    this.#metrics = options.metrics;
    this.#record = options.recordPath;
    this.#now = options.now ?? Date.now;
    const wait = options.traceWaitMs ?? 2000;
    this.#traceWaitMs = wait;
    this.#limits = {
      maxTraces: options.maxOpenTraces ?? 50_000,
      maxBytes: options.maxBufferBytes ?? 256 * 1024 * 1024,
      baseRetryMs: Math.max(1000, wait),
    };
    this.#random = options.random ?? Math.random;
    const interval = options.pollIntervalMs ?? Math.min(250, Math.max(10, wait / 4));
    this.#timer = setInterval(() => this.tick(), interval);
    this.#timer.unref();
    this.#refreshGauges();
  }

  /**
   * Takes one decoded export whole, or refuses it whole with a retry delay (traces/admission.ts):
   * nothing is dropped silently and no open trace is analysed early to make room.
   */
  accept(batch: DecodedBatch, transport: Transport, recordLine?: () => string): AcceptResult {
    const now = this.#now();
    if (this.#closed) return { ok: false, reason: 'closing', retryAfterMs: this.#limits.baseRetryMs ?? 1000, message: REFUSAL_TEXT.closing };
    const assembler = this.#analyzer.assembler;
    this.#lastExport.set(transport, now);
    const survey = assembler.survey(batch.spans);
    const decision = decideAdmission(
      survey,
      {
        openTraces: assembler.openTraces,
        bytes: assembler.counters.bytesBuffered,
        usage: assembler.usage(transport),
        activeSources: [...this.#lastExport.values()].filter((t) => now - t < ACTIVE_SOURCE_MS).length,
      },
      this.#limits,
      this.#random,
    );
    if (!decision.admit) {
      // The client will send these spans again: keep the traces they continue until then.
      assembler.hold(decision.hold, now + 2 * decision.retryAfterMs + this.#traceWaitMs);
      this.#metrics.exportsRefused.inc({ transport, reason: decision.reason });
      return { ok: false, reason: decision.reason, retryAfterMs: decision.retryAfterMs, message: REFUSAL_TEXT[decision.reason] };
    }
    let rejected = 0;
    const reasons: string[] = [];
    for (const r of batch.rejected) {
      rejected += r.count;
      reasons.push(`${r.count} ${r.reason.replace(/_/g, ' ')}`);
      this.#metrics.spansRejected.inc({ reason: r.reason }, r.count);
    }
    this.#metrics.exportsAccepted.inc({ transport });
    this.#metrics.spansReceived.inc({ transport }, batch.spans.length);
    if (this.#record !== undefined && recordLine !== undefined) appendFileSync(this.#record, `${recordLine()}\n`);
    this.#take(this.#analyzer.add(batch.spans, now, transport));
    this.#refreshGauges();
    return { ok: true, rejected, message: rejected === 0 ? '' : `rejected spans: ${reasons.join(', ')}` };
  }

  /** Analyses the traces complete now and writes what is pending. */
  tick(): void {
    this.#take(this.#analyzer.poll(this.#now()));
    this.#write();
    this.#refreshGauges();
  }

  /** Stops intake, analyses everything buffered and writes it. */
  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#closed = true;
    this.#take(this.#analyzer.flush());
    this.#write();
    this.#refreshGauges();
  }

  get openTraces(): number {
    return this.#analyzer.assembler.openTraces;
  }

  #take(analyses: RequestAnalysis[]): void {
    if (analyses.length === 0) return;
    this.#metrics.requestsAnalysed.inc(analyses.length);
    for (const a of analyses) this.#pending.push(a);
  }

  #write(): void {
    if (this.#pending.length === 0) return;
    const batch = this.#pending;
    this.#pending = [];
    this.#store.record(batch);
    this.#metrics.findings.set(this.#store.findingCount());
  }

  #refreshGauges(): void {
    const c = this.#analyzer.assembler.counters;
    this.#metrics.openTraces.set(this.#analyzer.assembler.openTraces);
    this.#metrics.bufferBytes.set(c.bytesBuffered);
    this.#metrics.evictions.set(c.evictions);
    this.#metrics.lateSpans.set(c.lateSpans);
  }
}
