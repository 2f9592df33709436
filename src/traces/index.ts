/** Assembles streamed spans into requests: per-trace buffers, completion, eviction, nearest-request ownership. */
export { assembleTrace, endpointOf, isRequestSpan } from './assemble.js';
export { TraceAssembler } from './assembler.js';
export type { AssemblerCounters, AssemblerOptions, CompletedTrace, TraceBuffer } from './assembler.js';
export { assembleColumns, assembleCompact, compactTraces, CompactTrace } from './compact.js';
export type { DbColumns } from './compact.js';
export { NO_REQUEST_SPAN } from './request.js';
export type { ColumnRequest, DbSpan, OutboundCall, OutboundKind, Request } from './request.js';
