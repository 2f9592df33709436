/** Persists analysed requests in SQLite (WAL) as hourly rollups and answers report queries over any period. */
export { Store, StoreOpenError } from './store.js';
export type { PeriodQuery, StoredEndpoint, StoredFinding } from './store.js';
export type { SummaryBucket, SummaryEndpoint } from './summaries.js';
export { migrate, SCHEMA_VERSION } from './migrations.js';
