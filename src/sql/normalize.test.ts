/** Canonical text rules, the fingerprint hash, and value-independence as a property. */

import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { fnv1a64 } from './hash.js';
import { normalizeSql } from './normalize.js';

const canon = (sql: string) => normalizeSql(sql).sql;
const fp = (sql: string) => normalizeSql(sql).fingerprint;

/** Reference FNV-1a 64 with BigInt over TextEncoder's UTF-8. */
function referenceFnv(text: string): string {
  let h = 0xcbf29ce484222325n;
  for (const b of new TextEncoder().encode(text)) h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return h.toString(16).padStart(16, '0');
}

function codes(text: string): Uint16Array {
  return Uint16Array.from(text, (_, i) => text.charCodeAt(i)).subarray(0, text.length);
}

describe('fingerprint hash', () => {
  test('is FNV-1a 64 over UTF-8: published test vectors', () => {
    expect(fnv1a64(codes(''), 0)).toBe('cbf29ce484222325');
    expect(fnv1a64(codes('a'), 1)).toBe('af63dc4c8601ec8c');
    expect(fnv1a64(codes('foobar'), 6)).toBe('85944171f73967e8');
  });

  test('matches a BigInt reference on any text, including surrogate pairs and lone surrogates', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 64 }), (text) => {
        const units = new Uint16Array(text.length);
        for (let i = 0; i < text.length; i++) units[i] = text.charCodeAt(i);
        expect(fnv1a64(units, text.length)).toBe(referenceFnv(text));
      }),
      { numRuns: 300 },
    );
  });

  test('hashes Latin-1 bytes as their UTF-8 encoding', () => {
    const bytes = Uint8Array.from([0x63, 0x61, 0x66, 0xe9]); // "café" in Latin-1
    expect(fnv1a64(bytes, 4)).toBe(referenceFnv('café'));
  });

  test('the fingerprint is the hash of the canonical text', () => {
    const n = normalizeSql('SELECT "naïve"."名前" FROM "naïve" WHERE "naïve"."x" = 5');
    expect(n.fingerprint).toBe(referenceFnv(n.sql));
    const m = normalizeSql('select * from t where a = 1');
    expect(m.fingerprint).toBe(referenceFnv('SELECT * FROM t WHERE a = ?'));
  });
});

describe('canonical text', () => {
  test('whitespace collapses to single spaces with one spacing around punctuation', () => {
    expect(canon('SELECT\n\t"a" ,\n "b"  FROM   "t"   WHERE ( "a"=1 )')).toBe('SELECT "a", "b" FROM "t" WHERE ("a" = ?)');
    expect(canon('SELECT("a")FROM"t"WHERE"a"=1')).toBe('SELECT ("a") FROM "t" WHERE "a" = ?');
  });

  test('function calls take no space before (, keywords do', () => {
    expect(canon('select count (*), upper ("x"), my_fn ( 1 ) from t where x in(1) and exists (select 1)')).toBe(
      'SELECT COUNT(*), UPPER("x"), my_fn(?) FROM t WHERE x IN (?) AND EXISTS(SELECT ?)',
    );
  });

  test('trailing semicolons are dropped, inner ones kept', () => {
    expect(canon('SELECT 1;')).toBe('SELECT ?');
    expect(canon('SELECT 1 ; ;')).toBe('SELECT ?');
    expect(canon('BEGIN; SELECT 1;')).toBe('BEGIN; SELECT ?');
  });

  test('IN lists of any length and any value style collapse to IN (?)', () => {
    const forms = ['IN (%s)', 'IN (%s, %s, %s)', 'IN (1,2,3,4,5,6)', "IN ('a', 'b')", 'IN (?, ?)', 'IN ($1, $2, $3)', 'IN (-1, 2.5, TRUE)'];
    for (const f of forms) expect(canon(`SELECT * FROM t WHERE x ${f}`)).toBe('SELECT * FROM t WHERE x IN (?)');
    expect(canon('SELECT * FROM t WHERE x NOT IN (1, 2)')).toBe('SELECT * FROM t WHERE x NOT IN (?)');
  });

  test('tuple IN lists keep one tuple', () => {
    expect(canon('SELECT * FROM t WHERE (a, b) IN ((1, 2), (3, 4), (5, 6))')).toBe('SELECT * FROM t WHERE (a, b) IN ((?, ?))');
  });

  test('an IN list that mixes shapes keeps each distinct shape', () => {
    expect(canon('SELECT * FROM t WHERE x IN (1, NULL, 2, NULL)')).toBe('SELECT * FROM t WHERE x IN (?, NULL, NULL)');
  });

  test('IN (SELECT …) is a subquery and is not collapsed', () => {
    expect(canon('SELECT * FROM t WHERE x IN (SELECT a, a FROM u)')).toBe('SELECT * FROM t WHERE x IN (SELECT a, a FROM u)');
  });

  test('multi-row VALUES keeps one row and its column count', () => {
    expect(canon('INSERT INTO "t" ("a", "b") VALUES (1, 2), (3, 4), (5, 6)')).toBe('INSERT INTO "t" ("a", "b") VALUES (?, ?)');
    expect(canon('INSERT INTO "t" ("a", "b", "c") VALUES (1, 2, 3)')).toBe('INSERT INTO "t" ("a", "b", "c") VALUES (?, ?, ?)');
    // an unquoted name before ( reads as a function name, whatever the input spacing
    expect(canon('INSERT INTO t (a, b) VALUES (1, 2), (3, 4)')).toBe('INSERT INTO t(a, b) VALUES (?, ?)');
    expect(fp('INSERT INTO t (a, b) VALUES (1, 2)')).not.toBe(fp('INSERT INTO t (a, b, c) VALUES (1, 2, 3)'));
    expect(canon('INSERT INTO "t" ("a") VALUES (1), (DEFAULT), (2)')).toBe('INSERT INTO "t" ("a") VALUES (?), (DEFAULT)');
  });

  test('ARRAY[…] literals collapse, nested ones too', () => {
    expect(canon('SELECT * FROM t WHERE x = ANY(ARRAY[1, 2, 3])')).toBe('SELECT * FROM t WHERE x = ANY(ARRAY[?])');
    expect(canon('SELECT ARRAY[[1, 2], [3, 4], [5, 6]]')).toBe('SELECT ARRAY[[?]]');
    expect(canon('SELECT "a"[1], "a"[2:3] FROM t')).toBe('SELECT "a"[?], "a"[? : ?] FROM t');
  });

  test('identical CASE arms collapse (bulk_update batches of any size)', () => {
    expect(canon('SELECT CASE x WHEN 1 THEN 2 WHEN 3 THEN 4 ELSE 5 END FROM t')).toBe('SELECT CASE x WHEN ? THEN ? ELSE ? END FROM t');
    expect(canon('SELECT CASE WHEN a = 1 THEN b WHEN c = 1 THEN d END FROM t')).toBe('SELECT CASE WHEN a = ? THEN b WHEN c = ? THEN d END FROM t');
    expect(canon('SELECT CASE WHEN a THEN CASE WHEN b THEN 1 WHEN b THEN 2 END WHEN a THEN CASE WHEN b THEN 3 END END')).toBe(
      'SELECT CASE WHEN a THEN CASE WHEN b THEN ? END END',
    );
  });

  test('savepoint names are values: every Django savepoint shares a fingerprint', () => {
    expect(fp('SAVEPOINT "s1_x1"')).toBe(fp('SAVEPOINT "s139990_x42"'));
    expect(canon('savepoint s1_x1')).toBe('SAVEPOINT ?');
    expect(canon('RELEASE SAVEPOINT "s1_x1"')).toBe('RELEASE SAVEPOINT ?');
    expect(canon('RELEASE "s1_x1"')).toBe('RELEASE ?');
    expect(canon('ROLLBACK TO SAVEPOINT "s1_x1"')).toBe('ROLLBACK TO SAVEPOINT ?');
    expect(canon('ROLLBACK TO "s1_x1"')).toBe('ROLLBACK TO ?');
  });

  test('NULL stays: IS NULL and = ? are different statements', () => {
    expect(fp('SELECT * FROM t WHERE a IS NULL')).not.toBe(fp('SELECT * FROM t WHERE a = 1'));
    expect(fp('SELECT * FROM t WHERE a IS NULL')).not.toBe(fp('SELECT * FROM t WHERE a IS NOT NULL'));
  });

  test('different structure gives different fingerprints', () => {
    const statements = [
      'SELECT "a" FROM "t" WHERE "a" = 1',
      'SELECT "a" FROM "t" WHERE "b" = 1',
      'SELECT "a" FROM "u" WHERE "a" = 1',
      'SELECT "a" FROM "t" WHERE "a" > 1',
      'SELECT "a" FROM "t" WHERE "a" = 1 LIMIT 1',
      'SELECT "a" FROM "t" WHERE "a" = 1 ORDER BY "a"',
      'SELECT "a", "b" FROM "t" WHERE "a" = 1',
      'SELECT "A" FROM "t" WHERE "a" = 1',
      'DELETE FROM "t" WHERE "a" = 1',
    ];
    expect(new Set(statements.map(fp)).size).toBe(statements.length);
  });
});

/** Literal values in every syntax the lexer knows, each with its expected canonical `?`. */
const literal = fc.oneof(
  fc.integer().map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => (Object.is(x, -0) ? '0' : String(x))),
  fc.string({ unit: 'grapheme', maxLength: 12 }).map((s) => `'${s.replaceAll("'", "''")}'`),
  fc.string({ unit: 'grapheme', maxLength: 12 }).map((s) => `E'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`),
  fc.string({ maxLength: 12 }).filter((s) => !s.includes('$')).map((s) => `$$${s}$$`),
  fc.constantFrom('TRUE', 'false', '%s', '?', '$1', ':name', '%(id)s', '.5', '-1e-3', '0x1F'),
);

const TEMPLATES = [
  (v: string[]) => `SELECT "t"."id", "t"."name" FROM "t" WHERE "t"."id" = ${v[0]} LIMIT ${v[1]}`,
  (v: string[]) => `SELECT "t"."id" FROM "t" WHERE ("t"."a" > ${v[0]} AND "t"."b" = ${v[1]}) ORDER BY "t"."id" ASC`,
  (v: string[]) => `SELECT "t"."id" FROM "t" WHERE "t"."fk_id" IN (${v.join(', ')})`,
  (v: string[]) => `INSERT INTO "t" ("a", "b") VALUES ${v.map((x, i) => `(${x}, ${v[(i + 1) % v.length]})`).join(', ')} RETURNING "t"."id"`,
  (v: string[]) => `UPDATE "t" SET "a" = ${v[0]}, "b" = ${v[1]} WHERE "t"."id" = ${v[0]}`,
  (v: string[]) => `SELECT COUNT(*) AS "__count" FROM "t" WHERE "t"."x" BETWEEN ${v[0]} AND ${v[1]} /* app='x',v=${v.length} */`,
];

describe('properties', () => {
  test('statements that differ only in literal values share a fingerprint', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: TEMPLATES.length - 1 }),
        fc.array(literal, { minLength: 2, maxLength: 8 }),
        (which, values) => {
          const template = TEMPLATES[which]!;
          const placeholders = template(values.map(() => '%s'));
          const filled = normalizeSql(template(values));
          expect(filled.fingerprint).toMatch(/^[0-9a-f]{16}$/);
          expect(filled.sql).toBe(normalizeSql(placeholders).sql);
          expect(filled.fingerprint).toBe(normalizeSql(placeholders).fingerprint);
        },
      ),
      { numRuns: 500 },
    );
  });

  test('canonical text never contains a string literal value', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z]{6,12}$/), (secret) => {
        const sql = `SELECT "t"."id" FROM "t" WHERE "t"."email" = 'zq${secret}@example.com' AND "t"."n" = 9${secret.length}7`;
        const n = normalizeSql(sql);
        expect(n.sql).not.toContain(secret);
        expect(n.sql).not.toMatch(/\d/);
      }),
    );
  });

  test('any input gives a 16-hex-digit fingerprint and never throws', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => {
        expect(normalizeSql(text).fingerprint).toMatch(/^[0-9a-f]{16}$/);
      }),
      { numRuns: 1000 },
    );
  });

  test('SQL-ish noise never throws and normalising is stable', () => {
    const piece = fc.constantFrom(
      'SELECT', 'FROM', 'WHERE', 'IN', '(', ')', '[', ']', ',', '.', '"t"', '`u`', "'s'", "E'\\'", '$$', '$x$', '%s', '%(a)s',
      '?', '$1', ':n', '::', '-', '--', '/*', '*/', 'VALUES', 'CASE', 'WHEN', 'THEN', 'END', 'ARRAY', 'SAVEPOINT', 'JOIN',
      'ON', 'ORDER', 'BY', 'LIMIT', '1', '-2', ';', ' ', '\n', 'é', '😀', '%%', '=', '<>', 'AS', 'T3',
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), (pieces) => {
        const sql = pieces.join(' ');
        const a = normalizeSql(sql);
        expect(a).toEqual(normalizeSql(sql));
        expect(a.fingerprint).toMatch(/^[0-9a-f]{16}$/);
      }),
      { numRuns: 1000 },
    );
  });
});
