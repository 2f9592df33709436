/** Persists analysed requests as hourly rollups, with minute rows for the last 48 h, in SQLite (embedded) or PostgreSQL (shared by many instances), and answers report queries over any period. */
export { Store, StoreOpenError, isPostgresUrl } from './store.js';
export type { PeriodQuery, StoreOptions, StoredEndpoint, StoredFinding } from './store.js';
export type { SummaryBucket, SummaryEndpoint } from './summaries.js';
export { SqliteStore } from './sqlite.js';
export { PostgresStore } from './postgres.js';
export { openStore } from './open.js';
export { migrate, SCHEMA_VERSION } from './migrations.js';
