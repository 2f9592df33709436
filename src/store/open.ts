/** Opens the store a `--db` value names: a `postgres://` URL is the shared PostgreSQL store, anything else a SQLite file. */
import { PostgresStore } from './postgres.js';
import { SqliteStore } from './sqlite.js';
import { existsSync } from 'node:fs';
import { isPostgresUrl, type Store } from './store.js';

/** The environment variable that names the store when `--db` is not given. */
export const DATABASE_URL_ENV = 'N1LENS_DATABASE_URL';

export async function openStore(location: string): Promise<Store> {
  return isPostgresUrl(location) ? PostgresStore.open(location) : SqliteStore.open(location);
}

/** True when `location` names no store yet: a SQLite path with no file (readers refuse it rather than create an empty store). */
export const isMissingStore = (location: string): boolean => !isPostgresUrl(location) && !existsSync(location);
