/** The SQL stage: normalises a statement into a fingerprint and canonical text and reads its structural facts. */

export { normalizeSql } from './normalize.js';
export { createSqlNormalizer } from './cache.js';
export type { SqlNormalizer, SqlNormalizerOptions } from './cache.js';
export { sqlCommenterTags } from './sqlcommenter.js';
export type { SqlCommenterTags } from './sqlcommenter.js';
export type { ColumnRef, Fingerprint, NormalizedSql, SqlAggregate, SqlFacts, SqlOperation } from './types.js';
export { createNoiseFilter, FRAMEWORK_NOISE, invalidNoisePattern, USER_NOISE_ID } from './noise.js';
export type { NoiseFilter, NoiseRule } from './noise.js';
