/** Test support for the stores: a store of each backend as it was before minute rows (migration 9). */
import { join } from 'node:path';
import pg from 'pg';
import { postgresDatabase, tempDir } from './support.js';
import { SQLITE_MIGRATIONS } from '../src/store/migrations.js';
import { PostgresStore } from '../src/store/postgres.js';
import { SqliteStore } from '../src/store/sqlite.js';
import type { Store, StoreOptions } from '../src/store/store.js';

/** A store to open, and a way to take it back to before minute rows (run while it is closed). */
export interface UpgradableStore {
  open: (options: StoreOptions) => Promise<Store>;
  predateMinuteRows: () => Promise<void>;
  /** Takes it back to schema version 15: route traffic without set_aside (migration 16). */
  predateSetAside: () => Promise<void>;
}

/**
 * SQL taking a SQLite store's committed traces back to how schema versions 6-10 kept them (a row per
 * trace), its connection rows to before migration 14 (no postgresql_requests) and its route traffic
 * to before migration 16 (no set_aside): SQLite cannot add a column twice.
 */
export const SQLITE_SPOOL_COMMITTED =
  `DROP TABLE spool_commits; ${SQLITE_MIGRATIONS[5]!}; ` +
  'ALTER TABLE connection_hours DROP COLUMN postgresql_requests; ALTER TABLE connection_minutes DROP COLUMN postgresql_requests; ' +
  'ALTER TABLE route_traffic DROP COLUMN set_aside';

const MINUTE_TABLES = 'endpoint_minutes, finding_minutes, fingerprint_minutes, connection_minutes'.split(', ');
const SUMMARY_TABLES = ['summary_endpoints', 'summary_queries', 'summary_noise', 'summary_findings', 'summary_selects'];

/** One fresh store per backend, named for `describe.each`; `name` keeps PostgreSQL databases apart. */
export function upgradableStores(name: string): [string, () => Promise<UpgradableStore>][] {
  return [
    [
      'SQLite',
      async () => {
        const path = join(tempDir(name), 'n1lens.db');
        return {
          open: async (options) => SqliteStore.open(path, options),
          predateMinuteRows: async () => {
            const db = SqliteStore.open(path).db;
            db.exec(
              [
                'DROP TABLE store_marks',
                ...MINUTE_TABLES.map((t) => `DELETE FROM ${t}`),
                ...SUMMARY_TABLES.map((t) => `DELETE FROM ${t} WHERE size = 60000`),
                SQLITE_SPOOL_COMMITTED,
              ].join('; '),
            );
            db.pragma('user_version = 8');
            db.close();
          },
          predateSetAside: async () => {
            const db = SqliteStore.open(path).db;
            db.exec('ALTER TABLE route_traffic DROP COLUMN set_aside');
            db.pragma('user_version = 15');
            db.close();
          },
        };
      },
    ],
    [
      'PostgreSQL',
      async () => {
        const url = await postgresDatabase(name.replace(/-/g, '_'));
        return {
          open: async (options) => PostgresStore.open(url, options),
          predateMinuteRows: async () => {
            const c = new pg.Client({ connectionString: url });
            await c.connect();
            await c.query(['DROP TABLE store_marks', ...MINUTE_TABLES.map((t) => `DELETE FROM ${t}`), 'UPDATE n1lens_schema SET version = 8'].join('; '));
            await c.end();
          },
          predateSetAside: async () => {
            const c = new pg.Client({ connectionString: url });
            await c.connect();
            await c.query('ALTER TABLE route_traffic DROP COLUMN set_aside; UPDATE n1lens_schema SET version = 15');
            await c.end();
          },
        };
      },
    ],
  ];
}
