/** Persists analysed requests in SQLite (WAL) as hourly rollups and answers report queries over any period. */
export { Store, StoreOpenError } from './store.js';
export type { PeriodQuery, StoredEndpoint, StoredFinding } from './store.js';
export { migrate, SCHEMA_VERSION } from './migrations.js';
