/** Opens the store a `--db` value names: a `postgres://` URL is the shared PostgreSQL store, anything else a SQLite file. */
import { PostgresStore } from './postgres.js';
import { SqliteStore } from './sqlite.js';
import { existsSync } from 'node:fs';
import { isPostgresUrl, type Store } from './store.js';

/** The environment variable that names the store when `--db` is not given. */
export const DATABASE_URL_ENV = 'N1LENS_DATABASE_URL';

/**
 * `writerThread`: a SQLite file's writes on a thread of their own (store/writer.ts; what `serve` uses).
 * PostgreSQL's writes already wait on the network, and `:memory:` is one connection's database.
 */
export async function openStore(location: string, options: { writerThread?: boolean } = {}): Promise<Store> {
  if (isPostgresUrl(location)) return PostgresStore.open(location);
  return SqliteStore.open(location, { writerThread: options.writerThread === true && location !== ':memory:' });
}

/** True when `location` names no store yet: a SQLite path with no file (readers refuse it rather than create an empty store). */
export const isMissingStore = (location: string): boolean => !isPostgresUrl(location) && !existsSync(location);
