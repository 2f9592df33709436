/** The live pipeline behind both transports: accepts decoded batches, completes traces on a timer, writes findings in batched transactions. */
import { appendFileSync } from 'node:fs';
import { Analyzer, type AnalyzerOptions } from '../analyzer.js';
import type { RequestAnalysis } from '../detect/types.js';
import type { DecodedBatch } from '../otlp/span.js';
import type { Store } from '../store/store.js';
import type { ServerMetrics } from './metrics.js';

export interface IntakeOptions extends AnalyzerOptions {
  store: Store;
  metrics: ServerMetrics;
  /** Appends each accepted export as one OTLP/JSON line. */
  recordPath?: string;
  /** How often complete traces are analysed and written. Default: a quarter of traceWaitMs, at most 250 ms. */
  pollIntervalMs?: number;
  /** Wall clock, injectable for tests. */
  now?: () => number;
}

export type AcceptResult = { ok: true; rejected: number; message: string } | { ok: false; reason: 'overloaded'; retryAfterSeconds: number };

export class Intake {
  readonly #analyzer: Analyzer;
  readonly #store: Store;
  readonly #metrics: ServerMetrics;
  readonly #record: string | undefined;
  readonly #now: () => number;
  readonly #retryAfter: number;
  #pending: RequestAnalysis[] = [];
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: IntakeOptions) {
    this.#analyzer = new Analyzer(options);
    this.#store = options.store;
    this.#metrics = options.metrics;
    this.#record = options.recordPath;
    this.#now = options.now ?? Date.now;
    const wait = options.traceWaitMs ?? 2000;
    this.#retryAfter = Math.max(1, Math.ceil(wait / 1000));
    const interval = options.pollIntervalMs ?? Math.min(250, Math.max(10, wait / 4));
    this.#timer = setInterval(() => this.tick(), interval);
    this.#timer.unref();
    this.#refreshGauges();
  }

  /** Takes one decoded export, or refuses it whole when the open-trace buffer is full: nothing is dropped silently. */
  accept(batch: DecodedBatch, transport: 'http' | 'grpc', recordLine?: () => string): AcceptResult {
    if (this.#closed) return { ok: false, reason: 'overloaded', retryAfterSeconds: this.#retryAfter };
    const assembler = this.#analyzer.assembler;
    // Full: refuse batches that open new traces (the client retries). Not yet full: accept, and the
    // assembler evicts (analyses early, counted) the oldest traces if this batch overshoots.
    if (assembler.isFull && assembler.countNewTraces(batch.spans) > 0) {
      this.#metrics.exportsRefused.inc({ transport, reason: 'overloaded' });
      return { ok: false, reason: 'overloaded', retryAfterSeconds: this.#retryAfter };
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
    this.#take(this.#analyzer.add(batch.spans, this.#now()));
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
    for (const a of analyses) {
      for (const rule in a.noise) this.#metrics.noiseDropped.inc({ rule }, a.noise[rule]!);
      this.#pending.push(a);
    }
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
    this.#metrics.evictions.set(c.evictions);
    this.#metrics.lateSpans.set(c.lateSpans);
    this.#metrics.duplicateSpans.set(c.duplicateSpans);
  }
}
