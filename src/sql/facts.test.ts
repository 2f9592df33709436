/** Facts on shapes beyond the Django table: CTEs, unions, aliases, dialect limits, malformed SQL. */

import { describe, expect, test } from 'vitest';
import { extractFacts } from './facts.js';
import { BYTE_IMAGE_PADDING, createTokens, tokenize, writeByteImage } from './lexer.js';
import { normalizeSql } from './normalize.js';

const facts = (sql: string) => normalizeSql(sql).facts;

describe('statement kinds', () => {
  test.each([
    ['BEGIN', 'BEGIN'],
    ['START TRANSACTION ISOLATION LEVEL SERIALIZABLE', 'BEGIN'],
    ['COMMIT', 'COMMIT'],
    ['END', 'COMMIT'],
    ['ROLLBACK', 'ROLLBACK'],
    ['ROLLBACK TO SAVEPOINT "s1_x1"', 'ROLLBACK'],
    ['SAVEPOINT "s1_x1"', 'SAVEPOINT'],
    ['RELEASE SAVEPOINT "s1_x1"', 'RELEASE'],
    ["SET TIME ZONE 'UTC'", 'SET'],
    ['SET LOCAL statement_timeout = 5000', 'SET'],
  ] as const)('%s is transaction control (%s)', (sql, operation) => {
    expect(facts(sql)).toMatchObject({ operation, transactionControl: true, table: '' });
  });

  test.each(['EXPLAIN SELECT 1', 'SHOW search_path', 'VALUES (1, 2)', 'TRUNCATE "t"', 'CREATE TABLE x (a int)'])(
    '%s is OTHER and no transaction control',
    (sql) => {
      expect(facts(sql)).toMatchObject({ operation: 'OTHER', transactionControl: false });
    },
  );

  test('the first of several statements is described', () => {
    expect(facts('SELECT * FROM "a"; DELETE FROM "b"')).toMatchObject({ operation: 'SELECT', table: 'a' });
    expect(facts('COMMIT; SELECT * FROM t').operation).toBe('COMMIT');
  });

  test('a statement after BEGIN or START TRANSACTION in one string is described, as after SETs', () => {
    // cursor.execute("BEGIN; SELECT …"): the transaction's opening is not the statement's work.
    const select = 'SELECT "t"."id" FROM "t" WHERE "t"."a_id" = %s LIMIT 21';
    for (const opening of ['BEGIN; ', 'begin;\n', 'START TRANSACTION; ', 'BEGIN TRANSACTION ISOLATION LEVEL SERIALIZABLE; ', "SET LOCAL lock_timeout = '1s'; BEGIN; "]) {
      expect(facts(opening + select)).toMatchObject({ operation: 'SELECT', transactionControl: false, table: 't', equalityFilters: ['t.a_id'], limit: 21 });
    }
    expect(facts('START TRANSACTION; UPDATE `t` SET `n` = 1 WHERE `t`.`id` = 3; COMMIT')).toMatchObject({ operation: 'UPDATE', table: 't', writtenColumns: ['n'] });
    // Alone, or before no query, it is still the transaction's opening.
    expect(facts('BEGIN;').operation).toBe('BEGIN');
    expect(facts('BEGIN; COMMIT').operation).toBe('BEGIN');
  });

  test('a statement after session SETs in one string is described: the SETs only configure it', () => {
    // cursor.execute("SET LOCAL statement_timeout = 5000; SELECT …"): the SELECT is the app's query.
    const f = facts('SET LOCAL statement_timeout = 5000; SELECT "t"."id" FROM "t" WHERE "t"."a_id" = %s LIMIT 21');
    expect(f).toMatchObject({ operation: 'SELECT', transactionControl: false, table: 't', equalityFilters: ['t.a_id'], limit: 21 });
    expect(facts("SET NAMES 'utf8mb4';; SET @x := 1; UPDATE `t` SET `n` = `n` + 1 WHERE `t`.`id` = 3")).toMatchObject({
      operation: 'UPDATE', table: 't', writtenColumns: ['n'], equalityFilters: ['t.id'],
    });
    expect(facts('SET search_path = "tenant_1", public; WITH x AS (SELECT 1) DELETE FROM "t" WHERE "t"."id" IN (%s, %s)')).toMatchObject({
      operation: 'DELETE', table: 't', multiRowValues: true,
    });
    // SETs alone, or followed by no query, are still connection set-up.
    expect(facts("SET TIME ZONE 'UTC'; SET ROLE app").operation).toBe('SET');
    expect(facts('SET x = 1; SHOW x').operation).toBe('SET');
    expect(facts('SET x = 1;').operation).toBe('SET');
  });

  test('sqlite INSERT OR REPLACE and MySQL REPLACE INTO are inserts', () => {
    expect(facts('INSERT OR REPLACE INTO "t" ("a") VALUES (?)')).toMatchObject({ operation: 'INSERT', table: 't', writtenColumns: ['a'] });
    expect(facts('REPLACE INTO `t` (`a`, `b`) VALUES (%s, %s)')).toMatchObject({ operation: 'INSERT', table: 't', writtenColumns: ['a', 'b'] });
    expect(facts('INSERT IGNORE INTO `t` (`a`) VALUES (%s)')).toMatchObject({ operation: 'INSERT', table: 't' });
  });
});

describe('tables, aliases and joins', () => {
  test('a CTE is skipped: facts describe the main statement', () => {
    const f = facts('WITH recent AS (SELECT "id" FROM "shop_order" WHERE "created" > %s) SELECT "b"."id" FROM "shop_book" "b" WHERE "b"."id" = %s');
    expect(f).toMatchObject({ operation: 'SELECT', table: 'shop_book', equalityFilters: ['shop_book.id'], rangeFilters: [] });
  });

  test('a CTE before UPDATE describes the update', () => {
    expect(facts('WITH x AS (SELECT 1) UPDATE "t" SET "a" = 1 WHERE "t"."id" = 2')).toMatchObject({ operation: 'UPDATE', table: 't', writtenColumns: ['a'] });
  });

  test('UNION describes the first part, parenthesised or not', () => {
    expect(facts('SELECT "a"."id" FROM "a" WHERE "a"."x" = 1 UNION SELECT "b"."id" FROM "b" WHERE "b"."y" = 2')).toMatchObject({
      table: 'a', equalityFilters: ['a.x'], selectedColumns: ['a.id'],
    });
    expect(facts('(SELECT "a"."id" FROM "a" LIMIT 5) UNION (SELECT "b"."id" FROM "b")')).toMatchObject({ table: 'a', limit: 5 });
  });

  test('AS aliases, quoted aliases and Django-style T aliases resolve to tables', () => {
    expect(facts('SELECT "b"."id" FROM "shop_book" AS "b" WHERE "b"."author_id" = %s')).toMatchObject({
      table: 'shop_book', selectedColumns: ['shop_book.id'], equalityFilters: ['shop_book.author_id'],
    });
    expect(facts('SELECT U0."id" FROM "shop_author" U0 WHERE U0."country" = %s ORDER BY U0."name" DESC')).toMatchObject({
      table: 'shop_author', orderBy: [{ column: 'shop_author.name', direction: 'DESC' }],
    });
  });

  test('a table joined twice keeps its later occurrences apart by alias: their columns are another row', () => {
    // Application.objects.select_related('user').filter(reviewer__username=…): auth_user twice.
    const f = facts(
      'SELECT "recruit_application"."id", "auth_user"."username", T3."dept_id" FROM "recruit_application" ' +
        'INNER JOIN "auth_user" ON ("recruit_application"."user_id" = "auth_user"."id") ' +
        'LEFT OUTER JOIN "auth_user" T3 ON ("recruit_application"."reviewer_id" = T3."id") WHERE T3."username" = %s',
    );
    expect(f.joins).toEqual([
      { table: 'auth_user', type: 'INNER', on: ['recruit_application.user_id', 'auth_user.id'] },
      { table: 'auth_user', alias: 'T3', type: 'LEFT', on: ['recruit_application.reviewer_id', 'T3.id'] },
    ]);
    expect(f.selectedColumns).toEqual(['recruit_application.id', 'auth_user.username', 'T3.dept_id']);
    expect(f.equalityFilters).toEqual(['T3.username']);
    // A self-join: the statement's own table is the first occurrence.
    const self = facts(
      'SELECT "auth_user"."id", "auth_user"."manager_id" FROM "auth_user" INNER JOIN "auth_user" T2 ON ("auth_user"."id" = T2."manager_id") WHERE T2."is_active"',
    );
    expect(self.joins).toEqual([{ table: 'auth_user', alias: 'T2', type: 'INNER', on: ['auth_user.id', 'T2.manager_id'] }]);
    // Aliases of tables joined once still resolve to their table.
    expect(facts('SELECT e."id" FROM "employee" e JOIN "employee" m ON (e."manager_id" = m."id") JOIN "dept" d ON (m."dept_id" = d."id") WHERE d."name" = %s')).toMatchObject({
      table: 'employee',
      selectedColumns: ['employee.id'],
      joins: [
        { table: 'employee', alias: 'm', type: 'INNER', on: ['employee.manager_id', 'm.id'] },
        { table: 'dept', type: 'INNER', on: ['m.dept_id', 'dept.id'] },
      ],
      equalityFilters: ['dept.name'],
    });
  });

  test('schema-qualified tables report the table name', () => {
    expect(facts('SELECT "public"."auth_user"."id" FROM "public"."auth_user" WHERE "public"."auth_user"."id" = 1')).toMatchObject({
      table: 'auth_user', selectedColumns: ['auth_user.id'], equalityFilters: ['auth_user.id'],
    });
  });

  test('quoted names are unquoted, with doubled quotes undone, even when unterminated', () => {
    expect(facts('SELECT "we""ird"."c" FROM "we""ird" WHERE `my``t`.`x` = 1')).toMatchObject({
      table: 'we"ird', selectedColumns: ['we"ird.c'], equalityFilters: ['my`t.x'],
    });
    expect(facts('SELECT "t"."c" FROM "t" WHERE "t"."open').table).toBe('t');
    expect(facts('SELECT "t"."c" FROM "unterminated').table).toBe('unterminated');
  });

  test('unqualified columns belong to the main table', () => {
    expect(facts('select id, name from users where email = ? order by created_at desc limit 10')).toMatchObject({
      table: 'users', selectedColumns: ['users.id', 'users.name'], equalityFilters: ['users.email'],
      orderBy: [{ column: 'users.created_at', direction: 'DESC' }], limit: 10,
    });
  });

  test('every join type, USING and comma joins', () => {
    const f = facts(
      'SELECT * FROM "a" JOIN "b" ON "a"."id" = "b"."a_id" RIGHT OUTER JOIN "c" USING ("k") FULL JOIN "d" ON ("d"."x" = "a"."x") CROSS JOIN "e" NATURAL JOIN "f", "g"',
    );
    expect(f.table).toBe('a');
    expect(f.joins).toEqual([
      { table: 'b', type: 'INNER', on: ['a.id', 'b.a_id'] },
      { table: 'c', type: 'RIGHT', on: ['c.k'] },
      { table: 'd', type: 'FULL', on: ['d.x', 'a.x'] },
      { table: 'e', type: 'CROSS', on: [] },
      { table: 'f', type: 'INNER', on: [] },
      { table: 'g', type: 'CROSS', on: [] },
    ]);
    expect(f.selectedColumns).toEqual([]);
  });

  test('a derived table has no name, but joins after it are reported', () => {
    expect(facts('SELECT * FROM (SELECT "id" FROM "x") sub INNER JOIN "y" ON (sub."id" = "y"."x_id")')).toMatchObject({
      table: '', joins: [{ table: 'y', type: 'INNER', on: ['sub.id', 'y.x_id'] }],
    });
  });

  test('a table function is no table', () => {
    expect(facts('SELECT * FROM UNNEST(%s) AS u(id)').table).toBe('');
  });
});

describe('filters', () => {
  test('OR branches, values on the left, and ranges are all read', () => {
    expect(facts('SELECT * FROM "t" WHERE ("t"."a" = 1 OR 2 = "t"."b") AND 5 < "t"."c" AND "t"."d" <= %s')).toMatchObject({
      equalityFilters: ['t.a', 't.b'], rangeFilters: ['t.c', 't.d'],
    });
  });

  test('column-to-column comparisons, <>, LIKE, IS and NOT IN are no filters', () => {
    expect(facts('SELECT * FROM "t", "u" WHERE "t"."a" = "u"."b" AND "t"."c" <> 1 AND "t"."d" LIKE %s AND "t"."e" IS NOT NULL AND "t"."f" NOT IN (1, 2) AND "t"."g" NOT BETWEEN 1 AND 2')).toMatchObject({
      equalityFilters: [], rangeFilters: [],
    });
  });

  test('a filter against a subquery is no filter, and the subquery is not descended', () => {
    expect(facts('SELECT * FROM "t" WHERE "t"."a" = (SELECT MAX("u"."a") FROM "u" WHERE "u"."z" = 1) AND EXISTS(SELECT 1 FROM "v" WHERE "v"."t_id" = "t"."id")')).toMatchObject({
      equalityFilters: [], rangeFilters: [], aggregate: null,
    });
  });

  test('IN lists and = ANY(…) are equality filters, also listed in inFilters', () => {
    expect(facts('SELECT * FROM "t" WHERE "t"."a" IN (1, 2) AND "t"."b" = 3 AND "t"."c" = ANY(%s)')).toMatchObject({
      equalityFilters: ['t.a', 't.b', 't.c'], inFilters: ['t.a', 't.c'],
    });
    expect(facts('SELECT * FROM "t" WHERE "t"."a" IN (SELECT "u"."a" FROM "u")').inFilters).toEqual([]);
  });

  test('a SELECT says how many values its longest IN list holds, from two: the size of a batch', () => {
    expect(facts('SELECT * FROM "t" WHERE "t"."a" IN (1, 2, 3) AND ("t"."b" IN (%s, %s) OR "t"."c" = 1)').inValues).toBe(3);
    expect(facts('SELECT "t"."id" FROM "t" WHERE "t"."a" IN (%s, %s, %s, %s)').inValues).toBe(4);
    expect(facts(`SELECT "t"."id" FROM "t" WHERE "t"."a" IN (${Array.from({ length: 999 }, () => '?').join(', ')})`).inValues).toBe(999);
    expect(facts('SELECT "t"."id" FROM "t" WHERE ("t"."a", "t"."b") IN ((1, 2), (3, 4))').inValues).toBeUndefined(); // no single column
    for (const sql of [
      'SELECT "t"."id" FROM "t" WHERE "t"."a" IN (%s)',
      'SELECT "t"."id" FROM "t" WHERE "t"."a" NOT IN (%s, %s)',
      'SELECT "t"."id" FROM "t" WHERE "t"."a" IN (SELECT U0."id" FROM "u" U0 WHERE U0."x" IN (%s, %s))',
      'SELECT "t"."id" FROM "t" WHERE EXISTS(SELECT 1 FROM "u" WHERE "u"."x" IN (%s, %s))',
      'DELETE FROM "t" WHERE "t"."id" IN (%s, %s)',
    ]) expect(facts(sql).inValues, sql).toBeUndefined();
  });

  test('duplicates are reported once', () => {
    expect(facts('SELECT * FROM "t" WHERE "t"."a" = 1 OR "t"."a" = 2').equalityFilters).toEqual(['t.a']);
  });

  test('IS DISTINCT FROM does not start a FROM clause', () => {
    expect(facts('SELECT * FROM "t" WHERE "t"."a" IS DISTINCT FROM %s AND "t"."b" = %s')).toMatchObject({ table: 't', equalityFilters: ['t.b'] });
  });

  test('BETWEEN keeps its AND, the next AND splits', () => {
    expect(facts('SELECT * FROM "t" WHERE "t"."a" BETWEEN 1 AND 5 AND "t"."b" = 2')).toMatchObject({ rangeFilters: ['t.a'], equalityFilters: ['t.b'] });
  });

  test('UPDATE and DELETE read WHERE too; unqualified columns get the table', () => {
    expect(facts('UPDATE "t" SET ("a", "b") = (1, 2) WHERE id = 3')).toMatchObject({ writtenColumns: ['a', 'b'], equalityFilters: ['t.id'] });
    expect(facts('DELETE FROM "t" WHERE "t"."created" < %s')).toMatchObject({ operation: 'DELETE', table: 't', rangeFilters: ['t.created'] });
  });
});

describe('select list, order, limit', () => {
  test('LIMIT as written: numbers only, MySQL offset form, FETCH FIRST', () => {
    expect(facts('SELECT * FROM t LIMIT %s').limit).toBeNull();
    expect(facts('SELECT * FROM t LIMIT ALL').limit).toBeNull();
    expect(facts('SELECT * FROM t LIMIT -1 OFFSET 5').limit).toBeNull();
    expect(facts('SELECT * FROM t LIMIT 10, 20').limit).toBe(20);
    expect(facts('SELECT * FROM t OFFSET 5 ROWS FETCH FIRST 7 ROWS ONLY').limit).toBe(7);
    expect(facts('SELECT * FROM t FETCH NEXT ROW ONLY').limit).toBe(1);
    expect(facts('SELECT * FROM t').limit).toBeNull();
    expect(facts('SELECT * FROM t LIMIT 99999999999999999999').limit).toBeNull();
  });

  test('OFFSET as written, MySQL offset form; absent for placeholders and without one', () => {
    expect(facts('SELECT "t"."id" FROM "t" ORDER BY "t"."id" ASC LIMIT 500 OFFSET 1000').offset).toBe(1000);
    expect(facts('SELECT * FROM t LIMIT 10, 20').offset).toBe(10);
    expect(facts('SELECT * FROM t OFFSET 5 ROWS FETCH FIRST 7 ROWS ONLY').offset).toBe(5);
    expect(facts('SELECT * FROM t LIMIT %s OFFSET %s').offset).toBeUndefined();
    expect(facts('SELECT * FROM t LIMIT 21').offset).toBeUndefined();
  });

  test('aggregates: COUNT(DISTINCT), FILTER, and window functions', () => {
    expect(facts('SELECT COUNT(DISTINCT "t"."user_id") AS "n" FROM "t"').aggregate).toEqual({ fn: 'COUNT', column: 't.user_id' });
    expect(facts('SELECT COUNT(*) FILTER (WHERE "t"."x" = 1) AS "n" FROM "t"').aggregate).toEqual({ fn: 'COUNT', column: '*' });
    expect(facts('SELECT MIN("t"."a") AS "lo", MAX("t"."a") AS "hi" FROM "t"').aggregate).toEqual({ fn: 'MIN', column: 't.a' });
    expect(facts('SELECT COUNT(*) OVER () AS "n", "t"."id" FROM "t"').aggregate).toBeNull();
    expect(facts('SELECT "t"."id", COUNT(*) FROM "t" GROUP BY "t"."id"').aggregate).toBeNull();
  });

  test('selected columns skip *, t.*, aliases, cast types, function names and EXTRACT fields', () => {
    expect(facts('SELECT *, "t".*, "t"."a" AS "x", CAST("t"."b" AS integer), "t"."c"::text, LOWER("t"."d"), EXTRACT(YEAR FROM "t"."e") FROM "t"').selectedColumns).toEqual([
      't.a', 't.b', 't.c', 't.d', 't.e',
    ]);
  });

  test('DISTINCT ON is skipped before the select list', () => {
    expect(facts('SELECT DISTINCT ON ("t"."a") "t"."a", "t"."b" FROM "t" ORDER BY "t"."a" ASC, "t"."b" DESC NULLS LAST')).toMatchObject({
      selectedColumns: ['t.a', 't.b'],
      orderBy: [{ column: 't.a', direction: 'ASC' }, { column: 't.b', direction: 'DESC' }],
    });
  });

  test('ORDER BY expressions report their column, positions report nothing', () => {
    expect(facts('SELECT * FROM "t" ORDER BY LOWER("t"."name") DESC, 1, RANDOM()').orderBy).toEqual([{ column: 't.name', direction: 'DESC' }]);
  });

  test('exists needs one constant and a FROM', () => {
    expect(facts('SELECT 1').exists).toBe(false);
    expect(facts('SELECT 1 AS "a", 2 AS "b" FROM "t" LIMIT 1').exists).toBe(false);
    expect(facts('SELECT (%s) AS "a" FROM "t" LIMIT 1').exists).toBe(true);
  });
});

describe('malformed input', () => {
  test.each([
    'SELECT', 'SELECT FROM WHERE', 'SELECT * FROM', 'SELECT * FROM "t" WHERE', 'SELECT * FROM "t" WHERE (("a" = 1',
    'SELECT ))) FROM ((( ', 'UPDATE', 'UPDATE SET', 'INSERT INTO', 'DELETE', 'WITH', 'WITH x AS (', 'SELECT * FROM "t" JOIN',
    'SELECT * FROM "t" LEFT OUTER', 'SELECT * FROM "t" INNER JOIN "u" ON', 'SELECT * FROM "t" ORDER BY', 'SELECT * FROM t LIMIT',
    'SELECT CASE WHEN', 'SELECT * FROM "t" WHERE "a" BETWEEN 1', '(', ')', ';', ')SELECT', 'SELECT "t".', 'SELECT "t".. FROM',
  ])('%j yields facts without throwing', (sql) => {
    const f = facts(sql);
    expect(typeof f.operation).toBe('string');
    expect(Array.isArray(f.joins)).toBe(true);
  });
});

describe('deeply nested input', () => {
  // Q objects combined alternately with & and | nest one level per term; a generated filter (or a
  // hostile span) can nest thousands deep. Reading it must not exhaust the stack.
  test.each([
    ['parentheses', `SELECT "t"."id" FROM "t" WHERE ${'('.repeat(20_000)}"t"."a_id" = %s${')'.repeat(20_000)}`],
    ['NOT', `SELECT "t"."id" FROM "t" WHERE ${'NOT '.repeat(20_000)}"t"."a_id" = %s`],
    ['NOT (…)', `SELECT "t"."id" FROM "t" WHERE ${'NOT ('.repeat(20_000)}"t"."a_id" = %s${')'.repeat(20_000)}`],
    ['EXISTS(SELECT …)', `SELECT "t"."id" FROM "t" WHERE ${'EXISTS(SELECT 1 AS "a" FROM "u" WHERE '.repeat(5_000)}"u"."x" = %s${')'.repeat(5_000)}`],
  ])('%s nested thousands deep yields facts without throwing', (_, sql) => {
    expect(facts(sql).table).toBe('t');
  });

  test('a filter under ordinary nesting is still read', () => {
    expect(facts(`SELECT "t"."id" FROM "t" WHERE ${'('.repeat(40)}"t"."a_id" = %s${')'.repeat(40)}`).equalityFilters).toEqual(['t.a_id']);
  });
});

describe('reading is linear in the statement', () => {
  /**
   * extractFacts over `sql`, counting the reads of the token array it makes: each token read a
   * bounded number of times, however the parentheses nest. Throws past `budget` reads, so a reading
   * that walks the rest of a run of brackets at each one stops at once instead of taking seconds.
   */
  function readsOf(sql: string, budgetPerToken = 64): { facts: ReturnType<typeof extractFacts>; reads: number; tokens: number } {
    const t = createTokens();
    const bytes = Buffer.alloc(sql.length + BYTE_IMAGE_PADDING);
    writeByteImage(sql, bytes);
    tokenize(sql, bytes, sql.length, t);
    const budget = budgetPerToken * t.count;
    let reads = 0;
    const data = t.data;
    t.data = new Proxy(data, {
      get(target, key) {
        if (typeof key === 'string' && ++reads > budget) throw new Error(`more than ${budget} reads of ${t.count} tokens`);
        return Reflect.get(target, key, target) as unknown;
      },
    });
    const facts = extractFacts(sql, t);
    return { facts, reads, tokens: t.count };
  }

  // 20,000 brackets deep: about 40 KB of statement, as a generated expression or a hostile span can be.
  const deep = 20_000;
  test.each([
    ['a select item', `SELECT ${'('.repeat(deep)}"t"."a"${')'.repeat(deep)} FROM "t"`, { selectedColumns: ['t.a'] }],
    ['an unclosed select item', `SELECT ${'('.repeat(deep)}"t"."a" FROM "t"`, { selectedColumns: ['t.a'] }],
    ['an IN list', `SELECT "t"."id" FROM "t" WHERE "t"."b" IN ${'('.repeat(deep)}%s${')'.repeat(deep)}`, { table: 't', equalityFilters: ['t.b'], inFilters: ['t.b'] }],
    ['an aggregate', `SELECT COUNT(${'('.repeat(deep)}"t"."a"${')'.repeat(deep)}) FROM "t"`, { aggregate: { fn: 'COUNT', column: 't.a' } }],
    ['ORDER BY', `SELECT "t"."id" FROM "t" ORDER BY ${'('.repeat(deep)}"t"."a"${')'.repeat(deep)} DESC`, { orderBy: [{ column: 't.a', direction: 'DESC' }] }],
    ['WHERE', `SELECT "t"."id" FROM "t" WHERE ${'('.repeat(deep)}"t"."a" = %s${')'.repeat(deep)}`, { table: 't', equalityFilters: [] }],
  ] as const)('brackets nested thousands deep in %s take work linear in the statement', (_, sql, expected) => {
    const { facts, reads, tokens } = readsOf(sql);
    expect(facts).toMatchObject(expected);
    expect(reads).toBeLessThanOrEqual(64 * tokens);
  });
});
