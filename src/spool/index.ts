/** Durable intake for `n1lens serve`: a segment log of acknowledged exports, replayed at start. */
export { SegmentPins } from './pins.js';
export { crc32, Spool, SpoolError } from './spool.js';
export type { SpoolCompression, SpoolEncoding, SpoolOptions, SpoolRecord } from './spool.js';
