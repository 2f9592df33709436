/** The Prometheus metrics `n1lens serve` exposes on /metrics, in a registry of its own (no global state). */
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface ServerMetrics {
  registry: Registry;
  exportsAccepted: Counter<'transport'>;
  spansReceived: Counter<'transport'>;
  spansRejected: Counter<'reason'>;
  exportsRefused: Counter<'transport' | 'reason'>;
  requestsAnalysed: Counter;
  analysisFailures: Counter;
  noiseDropped: Counter<'rule'>;
  findings: Gauge;
  openTraces: Gauge;
  bufferBytes: Gauge;
  spoolBytes: Gauge;
  spoolSegmentsCompacted: Counter;
  evictions: Gauge;
  lateSpans: Gauge;
  continuedRequests: Gauge;
  tracesSettled: Gauge;
  opaquePeers: Gauge;
  awaitedCallBytes: Gauge;
  duplicateSpans: Gauge;
  queriesOutsideRequests: Gauge;
  exportLatency: Histogram<'transport'>;
  storeWriteFailures: Counter;
  pendingRequests: Gauge;
  requestBytesInFlight: Gauge;
  processMemory: Gauge<'kind'>;
}

export function createMetrics(): ServerMetrics {
  const registry = new Registry();
  const registers = [registry];
  return {
    registry,
    exportsAccepted: new Counter({ name: 'n1lens_exports_accepted_total', help: 'OTLP export requests accepted', labelNames: ['transport'], registers }),
    spansReceived: new Counter({ name: 'n1lens_spans_received_total', help: 'Spans accepted from OTLP exports', labelNames: ['transport'], registers }),
    spansRejected: new Counter({ name: 'n1lens_spans_rejected_total', help: 'Spans refused as invalid (partial_success)', labelNames: ['reason'], registers }),
    exportsRefused: new Counter({
      name: 'n1lens_exports_refused_total',
      help: 'Whole export requests refused: undecodable, too large, wrong content type, overloaded',
      labelNames: ['transport', 'reason'],
      registers,
    }),
    requestsAnalysed: new Counter({ name: 'n1lens_requests_analysed_total', help: 'Requests (local roots) analysed', registers }),
    analysisFailures: new Counter({
      name: 'n1lens_analysis_failures_total',
      help: 'Traces dropped because their analysis threw (a bug: each is logged with its trace id); the traces analysed with them are not affected',
      registers,
    }),
    noiseDropped: new Counter({
      name: 'n1lens_framework_queries_dropped_total',
      help: 'Framework-internal statements (Django debug QUOTE, connection set-up) left out of detection, by rule',
      labelNames: ['rule'],
      registers,
    }),
    findings: new Gauge({ name: 'n1lens_findings', help: 'Findings (endpoint + fingerprint) in the store', registers }),
    openTraces: new Gauge({ name: 'n1lens_open_traces', help: 'Traces buffered, waiting to complete', registers }),
    spoolBytes: new Gauge({ name: 'n1lens_spool_bytes', help: 'Bytes in spool segments on disk (refused past --spool-max-mib)', registers }),
    spoolSegmentsCompacted: new Counter({
      name: 'n1lens_spool_segments_compacted_total',
      help: 'Spool segments pinned only by traces open past the 30 s maximum age (still growing: a long Celery task) whose spans of those traces were copied to a segment of their own, so that the segment could go',
      registers,
    }),
    bufferBytes: new Gauge({ name: 'n1lens_buffer_bytes', help: 'Estimated bytes of buffered spans (refused past --max-buffer-mib)', registers }),
    evictions: new Gauge({ name: 'n1lens_trace_evictions_total', help: 'Open traces analysed early to make room (0 in serve: admission refuses instead)', registers }),
    lateSpans: new Gauge({ name: 'n1lens_late_spans_total', help: 'Spans that arrived after their trace was analysed: dropped, but for those below a call it still awaited (n1lens_continued_requests_total)', registers }),
    continuedRequests: new Gauge({ name: 'n1lens_continued_requests_total', help: 'Requests analysed from spans that came after their trace was analysed, below a call it still awaited: a queued task or a callee that outlived --trace-wait-ms', registers }),
    opaquePeers: new Gauge({ name: 'n1lens_opaque_peers', help: 'Peers learned to send no spans of their own: calls to them no longer keep a trace waiting for --trace-wait-ms', registers }),
    awaitedCallBytes: new Gauge({
      name: 'n1lens_awaited_call_bytes',
      help: 'Bytes of the calls analysed traces still await (their JSON), 32 MiB at most a thread: past it the oldest are forgotten and what answers them is a late span',
      registers,
    }),
    tracesSettled: new Gauge({ name: 'n1lens_traces_settled_total', help: 'Traces analysed after --trace-settle-ms because they looked whole (the others waited --trace-wait-ms or longer)', registers }),
    duplicateSpans: new Gauge({ name: 'n1lens_duplicate_spans_total', help: 'Copies of spans already received, by (trace id, span id): exporter retries (dropped)', registers }),
    queriesOutsideRequests: new Gauge({
      name: 'n1lens_queries_outside_requests_total',
      help: 'DB spans with no span above them (a management command, migrations, a test runner\'s set-up): no request\'s, left out of every endpoint',
      registers,
    }),
    exportLatency: new Histogram({
      name: 'n1lens_export_duration_seconds',
      help: 'Time to accept one OTLP export request',
      labelNames: ['transport'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    }),
    storeWriteFailures: new Counter({
      name: 'n1lens_store_write_failures_total',
      help: 'Batched store writes that failed (database down): the batch is kept and written on a later tick',
      registers,
    }),
    pendingRequests: new Gauge({ name: 'n1lens_pending_requests', help: 'Analysed requests waiting to be written to the store', registers }),
    requestBytesInFlight: new Gauge({
      name: 'n1lens_request_bytes_in_flight',
      help: 'Bytes held by OTLP request bodies being read, inflated or taken, not yet answered: past a fifth of --memory-limit-mib, new exports are refused',
      registers,
    }),
    processMemory: new Gauge({
      name: 'n1lens_process_memory_bytes',
      help: 'The process as the OS and V8 see it: rss, heap_used, heap_total, external (array_buffers included), array_buffers',
      labelNames: ['kind'],
      registers,
      collect() {
        const m = process.memoryUsage();
        this.set({ kind: 'rss' }, m.rss);
        this.set({ kind: 'heap_used' }, m.heapUsed);
        this.set({ kind: 'heap_total' }, m.heapTotal);
        this.set({ kind: 'external' }, m.external);
        this.set({ kind: 'array_buffers' }, m.arrayBuffers);
      },
    }),
  };
}

/** A registry's metrics as getMetricsAsJSON gives them, which cross threads. */
export type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/**
 * Under `serve --workers N` the serving thread counts exports, their spans, latency and the spool; each
 * shard counts its spans, traces and analyses, which add up. Every thread reads the same store, so
 * its findings are the largest count any shard saw last; the process's memory is its RSS (the same
 * in every thread) with every thread's V8 heap and buffers added.
 */
const SERVING_THREAD_METRICS = new Set([
  'n1lens_exports_accepted_total',
  'n1lens_exports_refused_total',
  'n1lens_export_duration_seconds',
  'n1lens_spool_bytes',
  // Bodies are read on the serving thread; the shards get their pieces.
  'n1lens_request_bytes_in_flight',
  // Spans of accepted exports: a shard that took its piece of a refused export counts it again when the export comes back.
  'n1lens_spans_received_total',
]);
const PROCESS_MEMORY = 'n1lens_process_memory_bytes';
const FINDINGS = 'n1lens_findings';

/** /metrics of the serving thread and its shards as one exposition. */
export async function shardedMetricsText(own: ServerMetrics, shards: readonly MetricsJson[]): Promise<string> {
  const mine = (await own.registry.getMetricsAsJSON()).filter((m) => SERVING_THREAD_METRICS.has(m.name) || m.name === PROCESS_MEMORY);
  const theirs = shards.map((list) =>
    list
      .filter((m) => !SERVING_THREAD_METRICS.has(m.name))
      .map((m) => {
        if (m.name === FINDINGS) return { ...m, aggregator: 'max' as const };
        if (m.name === PROCESS_MEMORY) return { ...m, values: m.values.filter((v) => v.labels.kind !== 'rss') };
        return m;
      }),
  );
  return AggregatorRegistry.aggregate([mine, ...theirs]).metrics();
}
