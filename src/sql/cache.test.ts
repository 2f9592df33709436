/** The memoising normaliser: same answers as normalizeSql, bounded memory. */

import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { createSqlNormalizer } from './cache.js';
import { normalizeSql } from './normalize.js';

describe('createSqlNormalizer', () => {
  test('returns what normalizeSql returns, on hits and misses', () => {
    const normalize = createSqlNormalizer();
    const statements = [
      'SELECT "auth_user"."id", "auth_user"."username" FROM "auth_user" WHERE "auth_user"."id" = %s LIMIT 21',
      'SELECT COUNT(*) AS "__count" FROM "recruit_note" WHERE "recruit_note"."application_id" = %s',
      'INSERT INTO "shop_tag" ("name", "slug") VALUES (%s, %s), (%s, %s) RETURNING "shop_tag"."id"',
      'SAVEPOINT "s140213405730624_x1"',
      'UPDATE "auth_user" SET "last_login" = %s WHERE "auth_user"."id" = %s',
    ];
    for (let round = 0; round < 2; round++) {
      for (const sql of statements) expect(normalize(sql)).toEqual(normalizeSql(sql));
    }
  });

  test('a repeated statement returns the very same result object', () => {
    const normalize = createSqlNormalizer();
    const sql = 'SELECT "t"."id" FROM "t" WHERE "t"."id" = %s LIMIT 21';
    const first = normalize(sql);
    expect(normalize(sql)).toBe(first);
    expect(normalize.size).toBe(1);
  });

  test('reusing buffers across statements of different sizes and alphabets gives independent results', () => {
    const normalize = createSqlNormalizer({ maxEntries: 0 });
    const statements = [
      `SELECT "t"."id" FROM "t" WHERE "t"."id" IN (${Array.from({ length: 5000 }, () => '%s').join(', ')})`,
      'SELECT "名前" FROM "表" WHERE "x" = 1',
      'SELECT 1',
      'INSERT INTO "t" ("a") VALUES (1), (2)',
      'SELECT "naïve" FROM "t"',
      '',
      'SELECT CASE WHEN a THEN 1 WHEN a THEN 2 END FROM (SELECT ARRAY[1, 2] AS a) s',
    ];
    const alone = statements.map((s) => normalizeSql(s));
    for (let round = 0; round < 3; round++) {
      statements.forEach((sql, i) => expect(normalize(sql)).toEqual(alone[i]));
    }
  });

  test('stays within maxEntries however many distinct statements arrive', () => {
    const normalize = createSqlNormalizer({ maxEntries: 100 });
    for (let i = 0; i < 1000; i++) {
      normalize(`SELECT * FROM "t" WHERE "t"."id" = ${i}`);
      expect(normalize.size).toBeLessThanOrEqual(100);
    }
    expect(normalize.size).toBeGreaterThanOrEqual(50);
  });

  test('keeps the newer half when full', () => {
    const normalize = createSqlNormalizer({ maxEntries: 4 });
    const results = ['a', 'b', 'c', 'd'].map((x) => normalize(`SELECT ${x}`));
    normalize('SELECT e'); // evicts a and b
    expect(normalize.size).toBe(3);
    expect(normalize('SELECT d')).toBe(results[3]);
    expect(normalize('SELECT a')).not.toBe(results[0]);
    expect(normalize('SELECT a')).toEqual(results[0]);
  });

  test('maxEntries 0 remembers nothing', () => {
    const normalize = createSqlNormalizer({ maxEntries: 0 });
    normalize('SELECT 1');
    normalize('SELECT 1');
    expect(normalize.size).toBe(0);
  });

  test('statements longer than maxStatementLength are normalised but not remembered', () => {
    const normalize = createSqlNormalizer({ maxStatementLength: 20 });
    const long = 'SELECT "a_long_column" FROM "a_long_table"';
    expect(normalize(long).sql).toBe(long);
    expect(normalize.size).toBe(0);
    normalize('SELECT 1');
    expect(normalize.size).toBe(1);
  });

  test('two normalisers share no state', () => {
    const a = createSqlNormalizer();
    const b = createSqlNormalizer();
    a('SELECT 1');
    expect(a.size).toBe(1);
    expect(b.size).toBe(0);
  });

  test('statements that differ only in their sqlcommenter comment share one result', () => {
    const normalize = createSqlNormalizer();
    const sql = 'SELECT "recruit_candidate"."id" FROM "recruit_candidate" WHERE "recruit_candidate"."id" = %s LIMIT 21';
    const comment = (trace: string): string => ` /*controller='dashboard',framework='django%%3A5.2',route='dashboard/',traceparent='00-${trace}-6dac102ca678c55c-01'*/`;
    const first = normalize(sql + comment('a'.repeat(32)));
    expect(normalize(sql + comment('b'.repeat(32)))).toBe(first);
    expect(first).toEqual(normalizeSql(sql));
  });

  // Prefixes where a trailing comment is not simply dropped: open strings, identifiers, dollar
  // quotes, line and block comments, `%(name)s` look-ahead, and operators that touch the comment.
  const prefixes = [
    'SELECT "t"."id" FROM "t" WHERE "t"."id" = %s LIMIT 21',
    "SELECT 'unclosed ",
    'SELECT "unclosed ',
    'SELECT $$ unclosed ',
    'SELECT $tag$ x $tag$, 1',
    'SELECT 1 -- line comment ',
    'SELECT 1 /* open block ',
    'SELECT %(name',
    'SELECT %(name)s FROM t WHERE a = %(',
    "SELECT E'a\\\\",
    'SELECT `x` FROM t WHERE a = ',
    'SELECT a -',
    'SELECT a =',
    'SELECT a.',
    'SELECT 1e',
    'SELECT x::',
    'SELECT U&',
    'SELECT ?',
    "SELECT 'a''",
    '',
    ' ',
  ];
  const tails = ["/*c*/", "/* a */", "/*)s*/", "/* $$ */", "/* $tag$ */", "/**/", "/*x\n*/", "/* 'q' */", "/* /* nested */", "/*é*/", "/*名*/"];

  test('remembering by the comment-free prefix never changes a result', () => {
    const piece = fc.oneof(fc.constantFrom(...prefixes), fc.string({ maxLength: 12 }), fc.constantFrom("'", '"', '`', '$$', '$a$', '--', '/*', '*/', '*', '/', '%(', ')s', ' ', '\n', '\r', '-', '=', 'E\'', '\\'));
    const prefix = fc.array(piece, { maxLength: 4 }).map((parts) => parts.join(''));
    const tail = fc.oneof(fc.constantFrom(...tails), fc.array(fc.constantFrom('/', '*', ' ', '$$', "'", '\n', 'a', ')s', '--'), { maxLength: 5 }).map((s) => `/*${s.join('')}*/`));
    fc.assert(
      fc.property(prefix, tail, tail, fc.constantFrom('', ' ', '\n'), fc.constantFrom(undefined, 'postgresql', 'mysql', 'sqlite'), (p, first, second, gap, system) => {
        const normalize = createSqlNormalizer();
        normalize(p + gap + first, system);
        const sql = p + gap + second;
        expect(normalize(sql, system)).toEqual(normalizeSql(sql, system));
      }),
      { numRuns: Number(process.env.N1LENS_PROPERTY_RUNS ?? 3000) },
    );
  });

  test("keeps each dialect's results apart: one text reads differently in two", () => {
    const normalize = createSqlNormalizer();
    const sql = 'SELECT "t"."id" FROM "t" /* a /* b */ WHERE "t"."x" = 1';
    for (let round = 0; round < 2; round++) {
      expect(normalize(sql, 'postgresql').sql).toBe('SELECT "t"."id" FROM "t"');
      // MySQL: the comment ends at the first star-slash (and "t" before a dot is an ANSI_QUOTES name).
      expect(normalize(sql, 'mysql').sql).toBe('SELECT "t"."id" FROM "t" WHERE "t"."x" = ?');
      expect(normalize(sql).sql).toBe('SELECT "t"."id" FROM "t" WHERE "t"."x" = ?');
      expect(normalize(sql + '/*c*/', 'postgres').sql).toBe('SELECT "t"."id" FROM "t"');
    }
    expect(normalize.size).toBe(4);
  });
});
