import { describe, expect, it } from 'vitest';
import { normalizeSql } from './normalize.js';
import { createNoiseFilter, FRAMEWORK_NOISE, invalidNoisePattern, USER_NOISE_ID } from './noise.js';

// One real statement per rule, as the framework or driver sends it (from Django 5.2's and psycopg's sources).
const EXAMPLES: Record<string, string[]> = {
  django_sqlite_debug_quote: ['SELECT QUOTE(?)', 'SELECT QUOTE(?), QUOTE(?), QUOTE(?)', 'select quote(?),quote(?)'],
  session_set: ["SET TIME ZONE 'UTC'", 'SET search_path = "tenant_1", public', 'SET NAMES utf8mb4', 'SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED'],
  postgres_set_config: ["SELECT set_config('TimeZone', 'UTC', false)"],
  show_setting: ['SHOW server_version', 'SHOW standard_conforming_strings', "SHOW VARIABLES LIKE 'sql_mode'"],
  mysql_server_variables: [
    "SELECT VERSION(), @@sql_mode, @@default_storage_engine, @@sql_auto_is_null, @@lower_case_table_names, CONVERT_TZ('2001-01-01 01:00:00', 'UTC', 'UTC') IS NOT NULL",
    'SELECT @@SQL_AUTO_IS_NULL',
  ],
  sqlite_pragma: ['PRAGMA foreign_keys = ON', 'PRAGMA legacy_alter_table = OFF'],
  health_check: ['SELECT 1'],
  catalog_lookup: [
    "SELECT t.oid, typarray FROM pg_type t JOIN pg_namespace ns ON typnamespace = ns.oid WHERE typname = 'hstore'",
    "SELECT name FROM sqlite_master WHERE type = 'table'",
    // Django's MySQL introspection and psycopg's type lookups name the schema: facts drop it.
    'SELECT table_name, table_type, table_comment FROM information_schema.tables WHERE table_schema = DATABASE()',
    'SELECT column_name, data_type FROM INFORMATION_SCHEMA.COLUMNS WHERE table_name = %s',
    "SELECT c.relname FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('f', 'm', 'p', 'r', 'v')",
  ],
};

// App queries that look close to a rule and must stay.
const APP_QUERIES = [
  'SELECT "blog_post"."id", "blog_post"."title" FROM "blog_post" WHERE "blog_post"."id" = 1 LIMIT 21',
  'SELECT QUOTE("blog_post"."title") FROM "blog_post"',
  'SELECT 1 AS "a" FROM "blog_post" WHERE "blog_post"."author_id" = 3 LIMIT 1',
  'UPDATE "settings" SET "value" = 1 WHERE "settings"."id" = 2',
  'SELECT "show"."id" FROM "show" WHERE "show"."id" = 1',
  'SELECT COUNT(*) AS "__count" FROM "wagtailcore_page"',
  // An app's own tables named like catalog views, in its own schema.
  'SELECT "tables"."id" FROM "tables" WHERE "tables"."id" = 1',
  'SELECT "columns"."id" FROM "tenant_1"."columns" WHERE "columns"."id" = 1',
  // A query sent in one string behind the SET that configures it.
  'SET LOCAL statement_timeout = 5000; SELECT "blog_post"."id" FROM "blog_post" WHERE "blog_post"."id" = 1 LIMIT 21',
];

describe('framework noise filter', () => {
  const isNoise = createNoiseFilter();

  it('has an example here for every documented rule', () => {
    expect(Object.keys(EXAMPLES).sort()).toEqual(FRAMEWORK_NOISE.map((r) => r.id).sort());
    for (const rule of FRAMEWORK_NOISE) expect(rule.description.length).toBeGreaterThan(20);
  });

  for (const [id, statements] of Object.entries(EXAMPLES)) {
    it(`drops ${id}`, () => {
      for (const s of statements) expect(isNoise(normalizeSql(s)), s).toBe(id);
    });
  }

  it("keeps the app's own queries, however close", () => {
    for (const s of APP_QUERIES) expect(isNoise(normalizeSql(s)), s).toBeNull();
  });

  it("takes the caller's patterns on top of the list, case-insensitive, over the normalised text", () => {
    const withUser = createNoiseFilter(['^SELECT .* FROM "django_cache_table"', /FROM "constance_config"/]);
    expect(withUser(normalizeSql('select "cache_key" from "django_cache_table" where "cache_key" = \'k\''))).toBe(USER_NOISE_ID);
    expect(withUser(normalizeSql('SELECT "key" FROM "constance_config"'))).toBe(USER_NOISE_ID);
    expect(withUser(normalizeSql(APP_QUERIES[0]!))).toBeNull();
    expect(withUser(normalizeSql('SELECT QUOTE(?)'))).toBe('django_sqlite_debug_quote');
  });

  it('says which user pattern is not a regular expression', () => {
    expect(invalidNoisePattern(['ok', '('])).toMatch(/^"\(" is not a regular expression/);
    expect(invalidNoisePattern(['^SELECT'])).toBeNull();
  });
});
