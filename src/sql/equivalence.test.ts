/**
 * The normaliser's whole output (fingerprint, canonical text, facts) against vectors recorded from
 * the token-array implementation it replaced: every statement of the recorded fixtures, SQL literals
 * from the test suites, and fast-check statements built from the lexer's tricky pieces.
 *
 * Re-record (only when an output change is intended): N1LENS_RECORD_SQL_VECTORS=1 npx vitest run src/sql/equivalence
 */

import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { createSqlNormalizer } from './cache.js';
import { normalizeSql } from './normalize.js';
import type { NormalizedSql } from './types.js';

const ROOT = join(import.meta.dirname, '..', '..');
const VECTORS = join(import.meta.dirname, 'testdata', 'normalizer-vectors.jsonl.gz');

/** [statement, fingerprint, canonical text, facts as JSON], then the span's db.system when the statement was read in a dialect. */
type Vector = [string, string, string, string] | [string, string, string, string, string];

function vectorOf(statement: string, n: NormalizedSql, system?: string): Vector {
  const v: Vector = [statement, n.fingerprint, n.sql, JSON.stringify(n.facts)];
  return system === undefined ? v : [...v, system];
}

// ---- the statements -------------------------------------------------------------------------

const STATEMENT_KEYS = new Set(['db.statement', 'db.query.text']);

/** Every db.statement / db.query.text string in a parsed OTLP/JSON or Zipkin document. */
function collectStatements(value: unknown, out: Set<string>): void {
  if (Array.isArray(value)) {
    for (const v of value) collectStatements(v, out);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  const o = value as Record<string, unknown>;
  if (typeof o.key === 'string' && STATEMENT_KEYS.has(o.key)) {
    const v = o.value as Record<string, unknown> | undefined;
    if (v && typeof v.stringValue === 'string') out.add(v.stringValue);
  }
  for (const [k, v] of Object.entries(o)) {
    if (STATEMENT_KEYS.has(k) && typeof v === 'string') out.add(v);
    else collectStatements(v, out);
  }
}

function files(dir: string, accept: (name: string) => boolean, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
    if (statSync(path).isDirectory()) files(path, accept, out);
    else if (accept(name)) out.push(path);
  }
  return out;
}

function fixtureStatements(out: Set<string>): void {
  const traceFiles = [
    ...files(join(ROOT, 'src'), (n) => /\.jsonl?(\.gz)?$/.test(n)).filter((p) => p.includes('testdata') && !p.includes('schema')),
    ...files(join(ROOT, 'samples', 'traces'), (n) => /\.jsonl(\.gz)?$/.test(n)),
  ];
  for (const path of traceFiles) {
    let text = readFileSync(path);
    if (path.endsWith('.gz')) text = gunzipSync(text);
    for (const line of text.toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      try {
        collectStatements(JSON.parse(line), out);
      } catch {
        // a pretty-printed document: parse it whole below
        try {
          collectStatements(JSON.parse(text.toString('utf8')), out);
        } catch {
          /* not JSON */
        }
        break;
      }
    }
  }
}

const LITERAL = /(['"`])((?:SELECT|INSERT|UPDATE|DELETE|WITH|SAVEPOINT|RELEASE|BEGIN|COMMIT|ROLLBACK|SET|REPLACE|VALUES|EXPLAIN|START)\b(?:(?!\1)[^\\\n]|\\.)*)\1/gi;

/** SQL string literals written in the test suites (escapes undone roughly: any text is an input). */
function literalStatements(out: Set<string>): void {
  for (const path of files(join(ROOT, 'src'), (n) => n.endsWith('.test.ts') && n !== 'equivalence.test.ts')) {
    for (const m of readFileSync(path, 'utf8').matchAll(LITERAL)) {
      if (m[2]!.includes('${')) continue;
      out.add(m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 't' ? '\t' : c)));
    }
  }
}

const caseOf = (word: string, mask: number) =>
  [...word].map((c, i) => ((mask >> i % 30) & 1 ? c.toLowerCase() : c)).join('');

const KEYWORDS = [
  'SELECT', 'FROM', 'WHERE', 'IN', 'VALUES', 'CASE', 'WHEN', 'THEN', 'ELSE', 'END', 'SAVEPOINT', 'RELEASE',
  'ROLLBACK', 'TO', 'AND', 'OR', 'NOT', 'BETWEEN', 'IS', 'NULL', 'LIKE', 'ILIKE', 'JOIN', 'LEFT', 'INNER', 'OUTER',
  'ON', 'USING', 'AS', 'ORDER', 'BY', 'GROUP', 'HAVING', 'LIMIT', 'OFFSET', 'COUNT', 'SUM', 'MAX', 'ARRAY', 'ANY',
  'EXISTS', 'DISTINCT', 'UNION', 'INSERT', 'INTO', 'UPDATE', 'SET', 'DELETE', 'RETURNING', 'TRUE', 'FALSE', 'WITH',
  'FETCH', 'FIRST', 'ROWS', 'ONLY', 'FOR', 'UPPER', 'CAST', 'EXTRACT', 'DESC', 'ASC', 'FILTER', 'OVER', 'LATERAL',
  'BEGIN', 'COMMIT', 'DEFAULT', 'IF', 'REPLACE', 'IGNORE', 'NATURAL', 'CROSS', 'FULL', 'RIGHT', 'ALL', 'SOME', 'ROW',
];
const IDENTS = [
  'id', 't', 'u0', 'app_model', 'recruit_note', 'x$y', 'é', 'naïve', '名前', 'a1', '_x', 'E', 'N', 'X', 'B', 'U', 'e',
  '"recruit_note"', '"application_id"', '"a""b"', '"名"', '`tbl`', '`a``b`', '"unterminated', '"s140213_x1"', 'U0',
];
const VALUES = [
  "'x'", "'it''s'", "''", "E'a\\'b'", "e'\\\\'", "N'x'", "X'ff'", "B'01'", "U&'d\\0061t'", '$$body $$', '$t$ x $ $t$', '$a$x',
  "'unterminated", '1', '42', '1.5', '.5', '1e10', '1E-3', '0x1F', '00', '-5', '+3', '21', '9007199254740993',
  '%s', '%b', '%t', '%(name)s', '%(a b)x', '%%', '%', '?', '?1', '$1', '$', ':name', '::', ':=', ':', '?|', '?&',
];
const PUNCT = [
  '(', ')', '[', ']', ',', ';', '.', '*', '=', '<>', '!=', '<=', '>=', '<', '>', '-', '+', '/', '||', '~', '->',
  '->>', '@>', '#', '=-', '*-1', '|/', '!!', '^', '&',
];
const COMMENTS = ['-- c\n', '--x', '/* c */', '/*controller=\'x\',traceparent=\'00-1\'*/', '/* open', '/*/ x */', '\r\n'];
const SPACES = [' ', ' ', ' ', ' ', '', '\n', '\t', '\u00a0', '\u2003', '  ', '\u3000'];
const ODD = ['\u00e9', '\u4e2d', '\ud83d\ude00', '\ud800', '\u0000', '\u0007', '\u00ff', '\u0100', '{', '}', '\\', '@', '`'];

/** A token soup: random statements made from the lexer's pieces. */
const soup: fc.Arbitrary<string> = fc
  .array(
    fc.tuple(
      fc.oneof(
        { weight: 5, arbitrary: fc.tuple(fc.constantFrom(...KEYWORDS), fc.integer()).map(([w, m]) => caseOf(w, m)) },
        { weight: 5, arbitrary: fc.constantFrom(...IDENTS) },
        { weight: 4, arbitrary: fc.constantFrom(...VALUES) },
        { weight: 5, arbitrary: fc.constantFrom(...PUNCT) },
        { weight: 1, arbitrary: fc.constantFrom(...COMMENTS) },
        { weight: 1, arbitrary: fc.constantFrom(...ODD) },
      ),
      fc.constantFrom(...SPACES),
    ).map(([t, s]) => t + s),
    { maxLength: 40 },
  )
  .map((parts) => parts.join(''));

const name = fc.constantFrom('"recruit_note"', '"auth_user"', 'T1', '"shop_book"', '`blog`', 'U0', 'app_model');
const column = fc.tuple(fc.option(name, { nil: undefined }), fc.constantFrom('"id"', '"name"', 'id', '"job_id"', '*', '`x`'))
  .map(([t, c]) => (t === undefined ? c : `${t}.${c}`));
const value = fc.constantFrom('%s', '1', "'a'", '$1', '?', 'NULL', 'TRUE', '-2.5', "E'x'", '%(p)s');
const list = (item: fc.Arbitrary<string>) => fc.array(item, { minLength: 1, maxLength: 6 }).map((xs) => xs.join(', '));
const predicate = fc.oneof(
  fc.tuple(column, fc.constantFrom('=', '<', '>=', '<>', '!=', 'LIKE', 'IS'), value).map(([c, o, v]) => `${c} ${o} ${v}`),
  fc.tuple(column, fc.boolean(), list(value)).map(([c, not, vs]) => `${c}${not ? ' NOT' : ''} IN (${vs})`),
  fc.tuple(column, value, value).map(([c, a, b]) => `${c} BETWEEN ${a} AND ${b}`),
  fc.tuple(column).map(([c]) => `${c} = ANY(%s)`),
  fc.tuple(column, name).map(([c, t]) => `${c} IN (SELECT U0."id" FROM ${t} U0 WHERE U0."x" = %s)`),
);
const where = fc.array(fc.tuple(predicate, fc.constantFrom(' AND ', ' OR ', ' AND NOT ')), { minLength: 1, maxLength: 4 })
  .map((ps) => ps.map(([p, j], i) => (i === 0 ? '' : j) + (i % 3 === 2 ? `(${p})` : p)).join(''));

/** Django-shaped statements: selects with joins, filters, aggregates; writes; transactions. */
const shaped: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(
    fc.constantFrom('', 'DISTINCT ', 'DISTINCT ON (t.a) '),
    fc.oneof(list(column), fc.constantFrom('COUNT(*) AS "__count"', '1 AS "a"', '(1) AS "a"', 'SUM("x"."y")', 'MAX(t.a) FILTER (WHERE t.b = 1)', 'COUNT(*) OVER ()')),
    name,
    fc.array(fc.tuple(fc.constantFrom('INNER JOIN', 'LEFT OUTER JOIN', 'CROSS JOIN', ',', 'JOIN', 'NATURAL JOIN'), name, fc.option(name, { nil: '' }), column, column), { maxLength: 3 }),
    fc.option(where, { nil: undefined }),
    fc.option(fc.tuple(list(column), fc.constantFrom('', ' ASC', ' DESC')), { nil: undefined }),
    fc.constantFrom('', ' LIMIT 21', ' LIMIT 1', ' LIMIT %s', ' LIMIT 5, 10', ' FETCH FIRST 3 ROWS ONLY', ' FETCH NEXT ROW ONLY', ' OFFSET 10', ' FOR UPDATE', ';'),
  ).map(([d, cols, t, joins, w, o, tail]) =>
    `SELECT ${d}${cols} FROM ${t}` +
    joins.map(([j, jt, alias, a, b]) => (j === ',' ? `, ${jt}` : ` ${j} ${jt}${alias ? ` ${alias}` : ''} ON (${a} = ${b})`)).join('') +
    (w === undefined ? '' : ` WHERE ${w}`) + (o === undefined ? '' : ` ORDER BY ${o[0]}${o[1]}`) + tail),
  fc.tuple(name, list(fc.constantFrom('"a"', '"b"', 'c')), fc.array(list(value), { minLength: 1, maxLength: 4 }), fc.constantFrom('', ' RETURNING "id"', ' ON CONFLICT DO NOTHING'))
    .map(([t, cols, rows, tail]) => `INSERT INTO ${t} (${cols}) VALUES ${rows.map((r) => `(${r})`).join(', ')}${tail}`),
  fc.tuple(name, fc.array(fc.tuple(column, value), { minLength: 1, maxLength: 4 }), fc.option(where, { nil: undefined }))
    .map(([t, sets, w]) => `UPDATE ${t} SET ${sets.map(([c, v]) => `${c} = ${v}`).join(', ')}${w === undefined ? '' : ` WHERE ${w}`}`),
  fc.tuple(name, fc.array(fc.tuple(value, value), { minLength: 1, maxLength: 5 }), column)
    .map(([t, arms, c]) => `UPDATE ${t} SET "x" = CASE ${arms.map(([a, b]) => `WHEN (${c} = ${a}) THEN ${b}`).join(' ')} ELSE NULL END WHERE ${c} IN (%s, %s)`),
  fc.tuple(name, fc.option(where, { nil: undefined })).map(([t, w]) => `DELETE FROM ${t}${w === undefined ? '' : ` WHERE ${w}`}`),
  fc.constantFrom(
    'SAVEPOINT "s140213_x1"', 'RELEASE SAVEPOINT "s140213_x1"', 'ROLLBACK TO SAVEPOINT "s1_x2"', 'BEGIN', 'COMMIT',
    "SET TIME ZONE 'UTC'", 'START TRANSACTION', 'WITH x AS (SELECT 1) SELECT * FROM x', '(SELECT 1) UNION (SELECT 2)',
    'SELECT ARRAY[%s, %s, %s]', "SELECT QUOTE(?), QUOTE(?)", 'UPDATE ONLY t SET (a, b) = (1, 2)',
  ),
);

/** The generated statements, with a mutated copy of each shaped one (a token dropped or doubled). */
function generatedStatements(out: Set<string>): void {
  for (const s of fc.sample(soup, { seed: 15, numRuns: 6000 })) out.add(s);
  for (const s of fc.sample(shaped, { seed: 1515, numRuns: 4000 })) {
    out.add(s);
    const cut = (s.length * 0.37) | 0;
    out.add(s.slice(0, cut) + s.slice(cut + 3));
    out.add(s.toLowerCase());
  }
}

/**
 * Statements added since the recording, each with the db.system it is read in (none: no dialect):
 * MySQL's "…" strings, and a query after BEGIN / START TRANSACTION in one string.
 */
const ADDED: readonly (readonly [string, string | undefined])[] = [
  ['SELECT `t`.`id` FROM `t` WHERE `t`.`name` = "O\\"Brien" AND `t`.`x` = 1', 'mysql'],
  ['SELECT `t`.`id` FROM `t` WHERE `t`.`nick` = "say ""hi"""', 'mysql'],
  ['SELECT `t`.`id` FROM `t` WHERE `t`.`nick` = "say ""hi"""', 'mariadb'],
  ["INSERT INTO `t` (`a`, `b`) VALUES (\"x\", 'y'), (\"C:\\\\\", 'z')", 'mysql'],
  ['SELECT "t"."id" FROM "t" WHERE "t"."x" = \'a"b\'', 'mysql'],
  ['SELECT "t"."id" FROM "t" WHERE "t"."x" = 1', 'mysql'],
  ['SELECT "t"."id" FROM "t" WHERE "t"."x" = 1', 'postgresql'],
  ['SELECT "t"."id" FROM "t" WHERE "t"."x" = 1', 'sqlite'],
  ['SELECT "unterminated', 'mysql'],
  ['SELECT "a\\', 'mysql'],
  ['BEGIN; SELECT `t`.`id` FROM `t` WHERE `t`.`n` = "x"', 'mysql'],
  ['START TRANSACTION; SELECT `t`.`id` FROM `t` WHERE `t`.`id` > %s ORDER BY `t`.`id` ASC LIMIT 500', 'mysql'],
  ['BEGIN; SELECT "t"."id" FROM "t" WHERE "t"."a_id" = %s LIMIT 21', undefined],
  ['begin;\nSELECT "t"."id" FROM "t" WHERE "t"."a_id" = %s LIMIT 21; COMMIT', undefined],
  ['START TRANSACTION; UPDATE "t" SET "n" = %s WHERE "t"."id" = %s', undefined],
  ["SET LOCAL lock_timeout = '1s'; BEGIN; DELETE FROM \"t\" WHERE \"t\".\"id\" IN (%s, %s)", undefined],
  ['BEGIN; COMMIT', undefined],
];

function corpus(): string[] {
  const out = new Set<string>();
  fixtureStatements(out);
  literalStatements(out);
  generatedStatements(out);
  return [...out];
}

// ---- the test -------------------------------------------------------------------------------

function readVectors(): Vector[] {
  return gunzipSync(readFileSync(VECTORS)).toString('utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Vector);
}

describe('normaliser equivalence with the recorded vectors', () => {
  if (process.env.N1LENS_RECORD_SQL_VECTORS === '1') {
    test('records the vectors', () => {
      const lines = [
        ...corpus().map((s) => JSON.stringify(vectorOf(s, normalizeSql(s)))),
        ...ADDED.map(([s, system]) => JSON.stringify(vectorOf(s, normalizeSql(s, system), system))),
      ];
      writeFileSync(VECTORS, gzipSync(lines.join('\n') + '\n', { level: 9 }));
    });
    return;
  }

  const vectors = readVectors();

  test('the vectors cover fixtures, test literals and generated statements', () => {
    expect(vectors.length).toBeGreaterThan(15_000);
    expect(vectors.some(([s]) => s.includes('traceparent='))).toBe(true);
    expect(vectors.some(([s]) => s.startsWith('SAVEPOINT'))).toBe(true);
    for (const [s, system] of ADDED) expect(vectors.some((v) => v[0] === s && v[4] === system)).toBe(true);
  });

  test('normalizeSql gives the recorded fingerprint, text and facts for every statement', () => {
    const wrong: string[] = [];
    for (const v of vectors) {
      const got = vectorOf(v[0], normalizeSql(v[0], v[4]), v[4]);
      if (got[1] !== v[1] || got[2] !== v[2] || got[3] !== v[3]) wrong.push(JSON.stringify({ expected: v, got }));
      if (wrong.length >= 5) break;
    }
    expect(wrong).toEqual([]);
  });

  test('a reused normaliser (shared scratch buffers, memo off) gives the same, in any order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: vectors.length - 1 }), { minLength: 1, maxLength: 200 }), (picks) => {
        const normalize = createSqlNormalizer({ maxEntries: 0 });
        for (const k of picks) {
          const v = vectors[k]!;
          expect(vectorOf(v[0], normalize(v[0], v[4]), v[4])).toEqual(v);
        }
      }),
      { numRuns: 100, seed: 15 },
    );
  });
});
