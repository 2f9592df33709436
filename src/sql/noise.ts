/**
 * Framework noise: statements a framework or driver runs for itself (debug helpers, connection
 * set-up, catalog look-ups). They are not the app's queries, so they never take part in detection;
 * each is counted under the id of the rule that dropped it.
 */
import type { NormalizedSql } from './types.js';

/** One documented kind of framework-internal statement. */
export interface NoiseRule {
  /** Stable id, used as the counter's label. */
  id: string;
  /** Who runs it and why, for the README and `--help`. */
  description: string;
  /** True when a normalised statement is this kind of noise. */
  matches(n: NormalizedSql): boolean;
}

const CATALOG_TABLES = new Set([
  'pg_type',
  'pg_namespace',
  'pg_settings',
  'sqlite_master',
  'sqlite_schema',
  'information_schema',
]);

/**
 * `FROM information_schema.x` / `FROM pg_catalog.x` in canonical text. Facts drop a table's schema
 * (`information_schema.tables` is table `tables`), so the schema is read from the text, and only
 * where it qualifies the statement's own table.
 */
const CATALOG_SCHEMA_FROM = /\bFROM ("?)(?:information_schema|pg_catalog)\1\.("?)([^\s".]+)\2(?![\w.])/gi;

function readsCatalogSchema(n: NormalizedSql): boolean {
  if (n.facts.table === '') return false;
  for (const m of n.sql.matchAll(CATALOG_SCHEMA_FROM)) if (m[3] === n.facts.table) return true;
  return false;
}

/** The built-in list. Each entry has a test in noise.test.ts. */
export const FRAMEWORK_NOISE: readonly NoiseRule[] = [
  {
    id: 'django_sqlite_debug_quote',
    description:
      "Django with DEBUG=True on SQLite: `SELECT QUOTE(?), …` on the raw connection to build each query's debug text",
    matches: (n) => n.facts.operation === 'SELECT' && n.facts.table === '' && /^SELECT QUOTE\(\?\)(, QUOTE\(\?\))*$/i.test(n.sql),
  },
  {
    id: 'session_set',
    description: 'connection set-up: `SET …` (PostgreSQL time zone / search_path / role, MySQL `SET NAMES`, sql_mode, isolation level)',
    matches: (n) => n.facts.operation === 'SET',
  },
  {
    id: 'postgres_set_config',
    description: "PostgreSQL connection set-up: Django's `SELECT set_config('TimeZone', …)` and other `set_config` calls",
    matches: (n) => n.facts.operation === 'SELECT' && n.facts.table === '' && /^SELECT set_config\(/i.test(n.sql),
  },
  {
    id: 'show_setting',
    description: 'driver set-up: `SHOW …` (PostgreSQL server_version / standard_conforming_strings, MySQL `SHOW VARIABLES`)',
    matches: (n) => n.facts.operation === 'OTHER' && /^SHOW\b/i.test(n.sql),
  },
  {
    id: 'mysql_server_variables',
    description: "MySQL connection set-up: Django's `SELECT VERSION(), @@sql_mode, …` and other `SELECT @@…` reads",
    matches: (n) =>
      n.facts.operation === 'SELECT' && n.facts.table === '' && /^SELECT (VERSION\(\)|@@)/i.test(n.sql),
  },
  {
    id: 'sqlite_pragma',
    description: "SQLite connection set-up: Django's `PRAGMA foreign_keys = ON`, `PRAGMA legacy_alter_table = OFF`",
    matches: (n) => n.facts.operation === 'OTHER' && /^PRAGMA\b/i.test(n.sql),
  },
  {
    id: 'health_check',
    description: "Django's CONN_HEALTH_CHECKS and pool pings: `SELECT 1` with no table",
    matches: (n) => n.facts.operation === 'SELECT' && n.facts.table === '' && n.sql === 'SELECT ?',
  },
  {
    id: 'catalog_lookup',
    description: 'driver and django.contrib.postgres type registration: reads of pg_type / pg_namespace / information_schema / pg_catalog / sqlite_master',
    matches: (n) => n.facts.operation === 'SELECT' && (CATALOG_TABLES.has(n.facts.table) || readsCatalogSchema(n)),
  },
];

/** The id counted for statements dropped by a caller's own pattern. */
export const USER_NOISE_ID = 'user_pattern';

/** Returns the id of the rule a statement matches, or null when it is the app's own query. */
export type NoiseFilter = (n: NormalizedSql) => string | null;

/**
 * The built-in rules plus `extraPatterns`: regular expressions (strings are compiled
 * case-insensitive) tested against the normalised text, where literals are `?`.
 * Decisions are memoised per normalised statement, which the SQL cache shares between spans.
 */
export function createNoiseFilter(extraPatterns: readonly (string | RegExp)[] = []): NoiseFilter {
  const extra = extraPatterns.map((p) => (typeof p === 'string' ? new RegExp(p, 'i') : p));
  const memo = new WeakMap<NormalizedSql, string | null>();
  return (n) => {
    const known = memo.get(n);
    if (known !== undefined) return known;
    let id: string | null = null;
    for (const rule of FRAMEWORK_NOISE) {
      if (rule.matches(n)) {
        id = rule.id;
        break;
      }
    }
    if (id === null && extra.some((re) => re.test(n.sql))) id = USER_NOISE_ID;
    memo.set(n, id);
    return id;
  };
}

/** Checks user patterns up front, so a bad one is a clear usage error rather than a crash mid-run. */
export function invalidNoisePattern(patterns: readonly string[]): string | null {
  for (const p of patterns) {
    try {
      new RegExp(p, 'i');
    } catch (e) {
      return `${JSON.stringify(p)} is not a regular expression (${(e as Error).message})`;
    }
  }
  return null;
}
