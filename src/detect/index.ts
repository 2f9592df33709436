/** Finds what wastes database time: cascades per request, then per-endpoint detectors over additive rollups. */
export { analyseColumns, analyseRequest, columnName } from './request.js';
export type { DetectOptions, Normalizer } from './request.js';
export { conventionLinks, appPrefix } from './links.js';
export type { TableLinks } from './links.js';
export { RollupSet, addRequest, emptyEndpointRollup, mergeRollups } from './rollup.js';
export type { CascadeRollup, EndpointRollup, FingerprintRollup, OutboundRollup } from './rollup.js';
export { detectEndpoint } from './endpoint.js';
export type {
  CascadeFinding,
  EndpointDetectOptions,
  EndpointFinding,
  HotLookupFinding,
  SlowQueryFinding,
  SyncFanoutFinding,
} from './endpoint.js';
export { countQuantile, countMax, durationQuantile } from './histogram.js';
export type * from './types.js';
