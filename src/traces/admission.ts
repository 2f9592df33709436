/**
 * Trace-aware admission for the live intake: decides, before an export is acknowledged, whether the
 * trace buffer can take it whole. Spans of open traces are always welcome (refusing them would split
 * a trace); an export that only opens new traces waits while the buffer is at --max-traces, unless
 * the buffer is stalled (see TraceAssembler.isStalled); memory (--max-buffer-mib) is the hard limit;
 * transports that contend share the buffer evenly. Pure: the caller passes the buffer's state, the
 * clock and the random source.
 */
import type { TraceId } from '../otlp/span.js';
import type { BatchSurvey, SourceUsage } from './assembler.js';

export interface AdmissionLimits {
  /** Open traces at which exports that only open new traces are refused. */
  maxTraces: number;
  /** Estimated buffered bytes at which every export is refused (estimateSpanBytes). */
  maxBytes: number;
  /** Retry delay at an empty buffer before jitter; it grows to 4× at a full one. Default 1000. */
  baseRetryMs?: number;
  /** Longest retry delay asked for. Default 30000. */
  maxRetryMs?: number;
}

export interface BufferState {
  openTraces: number;
  bytes: number;
  /** What the exporting source already holds. */
  usage: SourceUsage;
  /** Sources (transports) that exported recently, this one included. */
  activeSources: number;
  /**
   * The buffer is kept whole for refused exporters and nothing in it is moving: refusing new traces
   * would free no room, and what the open traces wait for may be queued behind this very export.
   */
  stalled: boolean;
}

export type RefusalReason = 'max_traces' | 'max_buffer' | 'fair_share';

export type Admission =
  | { admit: true }
  | {
      admit: false;
      reason: RefusalReason;
      /** How long the client should wait, grown with fullness and jittered so clients do not return together. */
      retryAfterMs: number;
      /** Traces this export touches: keep them open until the retry arrives. */
      hold: TraceId[];
    };

/**
 * How much of the trace wait a refusal's timings follow. A trace that looks whole leaves the buffer
 * --trace-settle-ms after its last span, so a longer wait (kept for traces still awaiting another
 * service's spans) would only keep a refused sender's queue filling, and a stalled buffer refusing,
 * for longer.
 */
export const REFUSAL_WAIT_CAP_MS = 2000;

/** The retry delay at an empty buffer: the trace wait, within 1 s and REFUSAL_WAIT_CAP_MS. */
export const baseRetryFor = (traceWaitMs: number): number => Math.min(REFUSAL_WAIT_CAP_MS, Math.max(1000, traceWaitMs));

/** How full the buffer is: the larger of the trace and the byte fractions (may exceed 1). */
export function fullness(state: Pick<BufferState, 'openTraces' | 'bytes'>, limits: AdmissionLimits): number {
  return Math.max(state.openTraces / Math.max(1, limits.maxTraces), state.bytes / Math.max(1, limits.maxBytes));
}

/**
 * The retry delay: base × (1 + 3 × fullness), capped, times a uniform jitter in [0.5, 1.5).
 *
 * @example retryDelayMs(0.5, { maxTraces: 10, maxBytes: 1 }, () => 0.5) // 2500
 */
export function retryDelayMs(full: number, limits: AdmissionLimits, random: () => number): number {
  const base = limits.baseRetryMs ?? 1000;
  const grown = Math.min(limits.maxRetryMs ?? 30_000, base * (1 + 3 * Math.min(Math.max(full, 0), 2)));
  return Math.round(grown * (0.5 + random()));
}

/**
 * Decides whether to take an export now.
 * - An empty buffer takes anything (an export larger than a limit could otherwise never enter).
 * - Over --max-buffer-mib: refused, whatever it holds.
 * - Opening new traces only, with the buffer at --max-traces: refused.
 * - A refused export's traces are held (not analysed) until its retry is due, so an export admitted
 *   in between cannot make a trace look complete without the refused spans.
 * - Continuing open traces: taken even past --max-traces (the count is soft, memory is hard).
 * - A stalled buffer takes new traces past --max-traces: refusing cannot make room then, and the
 *   refused exporter's queue may hold the spans the open traces wait for (head-of-line blocking).
 * - With more than one source exporting and the buffer over half full, a source already holding its
 *   even share (of traces or bytes) is refused, stalled or not, so a flood on one transport cannot
 *   starve the other.
 */
export function decideAdmission(survey: BatchSurvey, state: BufferState, limits: AdmissionLimits, random: () => number = Math.random): Admission {
  const refuse = (reason: RefusalReason): Admission => ({
    admit: false,
    reason,
    retryAfterMs: retryDelayMs(fullness(state, limits), limits, random),
    hold: [...survey.continued, ...survey.opened],
  });
  if (survey.newTraces === 0 && survey.continued.length === 0) return { admit: true }; // only late spans
  if (state.openTraces === 0 && state.bytes === 0) return { admit: true };
  if (state.bytes + survey.bytes > limits.maxBytes) return refuse('max_buffer');
  const opensOnly = survey.continued.length === 0;
  if (opensOnly && !state.stalled && state.openTraces + survey.newTraces > limits.maxTraces) return refuse('max_traces');
  if (state.activeSources > 1) {
    const shareTraces = limits.maxTraces / state.activeSources;
    const shareBytes = limits.maxBytes / state.activeSources;
    const contendedTraces = state.openTraces + survey.newTraces > limits.maxTraces / 2;
    const contendedBytes = state.bytes + survey.bytes > limits.maxBytes / 2;
    const overTraces = survey.newTraces > 0 && state.usage.traces + survey.newTraces > shareTraces;
    const overBytes = state.usage.bytes + survey.bytes > shareBytes;
    // A source under its share is never refused here; an empty one always gets its first export in.
    if (state.usage.traces > 0 && ((contendedTraces && overTraces && opensOnly) || (contendedBytes && overBytes))) return refuse('fair_share');
  }
  return { admit: true };
}
