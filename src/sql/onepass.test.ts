/**
 * The one-pass reader against the general path, which defines the output: Django-shaped statements
 * inside its grammar, and the same statements broken at every kind of edge (spacing, case, numbers
 * the lexer reads on through, doubled quotes, chains, comments), must give the same fingerprint,
 * canonical text and facts either way.
 */

import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { createWorkspace, normalizeSql, normalizeWith } from './normalize.js';
import type { Workspace } from './normalize.js';

const table = fc.constantFrom('"recruit_note"', '"auth_user"', '"shop_book"', '"a"', '"U0"', '"x y"', '"Order"');
const columnName = fc.constantFrom('"id"', '"name"', '"job_id"', '"status_id"', '"created_at"', '"a"', '"SELECT"');
const ref = fc.tuple(table, columnName).map(([t, c]) => `${t}.${c}`);
const integer = fc.constantFrom('1', '21', '0', '007', '123456789012345', '1234567890123456');
const value = fc.oneof(fc.constant('%s'), integer);
const inList = fc.integer({ min: 1, max: 40 }).map((k) => `(${Array.from({ length: k }, () => '%s').join(', ')})`);
const comparison = fc.oneof(
  fc.tuple(ref, fc.constantFrom('=', '<', '>', '<=', '>='), fc.oneof(value, ref)).map(([c, o, v]) => `${c} ${o} ${v}`),
  fc.tuple(ref, inList).map(([c, l]) => `${c} IN ${l}`),
  fc.tuple(ref, fc.constantFrom(' IS NULL', ' IS NOT NULL')).map(([c, t]) => c + t),
);
const condition: fc.Arbitrary<string> = fc.letrec<{ cond: string; pred: string }>((tie) => ({
  pred: fc.oneof({ depthSize: 'small', withCrossShrink: true }, comparison, tie('cond').map((c) => `(${c})`)),
  cond: fc.array(fc.tuple(tie('pred'), fc.constantFrom(' AND ', ' OR ')), { minLength: 1, maxLength: 4 })
    .map((ps) => ps.map(([p, j], i) => (i === 0 ? '' : j) + p).join('')),
})).cond;
const where = fc.option(condition.map((c) => ` WHERE ${c}`), { nil: '' });
const alias = fc.option(fc.constantFrom(' AS "a"', ' AS "__count"', ' AS "n"'), { nil: '' });
const item = fc.tuple(
  fc.oneof(ref, value, fc.tuple(fc.constantFrom('COUNT', 'SUM', 'AVG', 'MIN', 'MAX'), fc.oneof(fc.constant('*'), ref)).map(([f, a]) => `${f}(${a})`)),
  alias,
).map(([x, a]) => x + a);
const join = fc.tuple(fc.constantFrom('INNER JOIN', 'LEFT OUTER JOIN'), table, ref, ref)
  .map(([j, t, a, b]) => ` ${j} ${t} ON (${a} = ${b})`);
const list = <T extends string>(x: fc.Arbitrary<T>, max: number) => fc.array(x, { minLength: 1, maxLength: max }).map((xs) => xs.join(', '));

/** Statements inside the one-pass grammar. */
const inside: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(
    list(item, 5), table, fc.array(join, { maxLength: 3 }), where,
    fc.option(list(fc.tuple(ref, fc.constantFrom('', ' ASC', ' DESC')).map(([c, d]) => c + d), 3).map((o) => ` ORDER BY ${o}`), { nil: '' }),
    fc.option(fc.tuple(integer, fc.option(integer, { nil: undefined })).map(([n, o]) => ` LIMIT ${n}${o === undefined ? '' : ` OFFSET ${o}`}`), { nil: '' }),
  ).map(([items, t, joins, w, o, l]) => `SELECT ${items} FROM ${t}${joins.join('')}${w}${o}${l}`),
  fc.tuple(table, list(fc.tuple(columnName, value).map(([c, v]) => `${c} = ${v}`), 4), where)
    .map(([t, sets, w]) => `UPDATE ${t} SET ${sets}${w}`),
  fc.tuple(table, where).map(([t, w]) => `DELETE FROM ${t}${w}`),
  fc.tuple(table, fc.integer({ min: 1, max: 6 }), fc.option(ref.map((r) => ` RETURNING ${r}`), { nil: '' }))
    .map(([t, k, r]) => `INSERT INTO ${t} (${Array.from({ length: k }, (_, i) => `"c${i}"`).join(', ')}) VALUES (${Array.from({ length: k }, () => '%s').join(', ')})${r}`),
);

const EDITS = [
  '', ' ', '  ', '\n', ';', ' ;', '.', '.5', 'e3', 'x1f', '"', '""', '"x"', '(', ')', ',', ', ', '%s', '%', '%%', '*', '=',
  '<>', '!=', ' AND ', ' OR ', ' NOT ', 'DESC', 'ASC', ' AS ', 'U0', ' IS', 'NULL', ' OFFSET ', ' LIMIT ', '-', '/* c */', '/*', '*/', '--', "'x'", ' FOR UPDATE',
  ' /*controller=\'x\',traceparent=\'00-1\'*/', 'é', '`',
];

/** The same statements broken somewhere: a piece inserted, a span dropped, or case changed. */
const edited: fc.Arbitrary<string> = fc.tuple(inside, fc.nat(), fc.nat({ max: 4 }), fc.constantFrom(...EDITS), fc.nat({ max: 3 }))
  .map(([s, at, drop, piece, how]) => {
    const k = at % (s.length + 1);
    if (how === 0) return s.slice(0, k) + piece + s.slice(k);
    if (how === 1) return s.slice(0, k) + s.slice(k + drop);
    if (how === 2) return s.slice(0, k) + s.slice(k).toLowerCase();
    return s + piece;
  });

function same(ws: Workspace, reference: Workspace, statement: string): void {
  const got = normalizeWith(ws, statement);
  const want = normalizeWith(reference, statement, false);
  expect({ fingerprint: got.fingerprint, sql: got.sql, facts: JSON.stringify(got.facts) })
    .toEqual({ fingerprint: want.fingerprint, sql: want.sql, facts: JSON.stringify(want.facts) });
  expect(ws.lastTokenEnd).toBe(reference.lastTokenEnd);
  // The one-shot entry point (no column-ref memo) agrees too.
  expect(normalizeSql(statement)).toEqual(want);
}

describe('the one-pass reader gives exactly what the general path gives', () => {
  test('on statements inside its grammar, most of which it reads itself', () => {
    const ws = createWorkspace();
    const reference = createWorkspace();
    let read = 0;
    fc.assert(
      fc.property(inside, (s) => {
        ws.onePass.length = -1;
        same(ws, reference, s);
        if (ws.onePass.length >= 0) read++;
      }),
      { numRuns: 3000, seed: 15 },
    );
    // Only the 16-digit integers (beyond the 15 digits it reads) are left to the general path.
    expect(read).toBeGreaterThan(2000);
  });

  test('on the same statements broken at every kind of edge', () => {
    const ws = createWorkspace();
    const reference = createWorkspace();
    fc.assert(fc.property(edited, (s) => same(ws, reference, s)), { numRuns: 6000, seed: 1515 });
  });

  test('on the shapes the bench and the Django sample write', () => {
    const ws = createWorkspace();
    const reference = createWorkspace();
    for (const s of [
      'SELECT "django_session"."session_key", "django_session"."session_data" FROM "django_session" WHERE "django_session"."session_key" = %s LIMIT 21',
      'SELECT 1 AS "a" FROM "recruit_application" WHERE "recruit_application"."candidate_id" = %s LIMIT 1',
      'SELECT COUNT(*) AS "__count" FROM "recruit_note" WHERE "recruit_note"."application_id" = %s',
      'SELECT "recruit_note"."id" FROM "recruit_note" WHERE "recruit_note"."application_id" IN (%s, %s, %s)',
      'SELECT "recruit_application"."id" FROM "recruit_application" WHERE ("recruit_application"."submitted_at" >= %s AND "recruit_application"."status_id" IN (%s, %s, %s)) ORDER BY "recruit_application"."id" ASC',
      'SELECT "recruit_tag"."id" FROM "recruit_tag" INNER JOIN "recruit_candidate_tags" ON ("recruit_tag"."id" = "recruit_candidate_tags"."tag_id") WHERE "recruit_candidate_tags"."candidate_id" = %s',
      'UPDATE "recruit_application" SET "status_id" = %s, "updated_at" = %s WHERE "recruit_application"."id" = %s',
      'INSERT INTO "django_session" ("session_key", "session_data", "expire_date") VALUES (%s, %s, %s)',
      'INSERT INTO "recruit_note" ("body") VALUES (%s) RETURNING "recruit_note"."id"',
      'DELETE FROM "django_session" WHERE "django_session"."session_key" IN (%s)',
      'SELECT "shop_order"."id" FROM "shop_order" WHERE "shop_order"."shipped_at" IS NULL ORDER BY "shop_order"."id" DESC LIMIT 20 OFFSET 40',
      'BEGIN',
      'COMMIT',
      'SELECT "t"."id" FROM "t" WHERE "t"."id" = %s LIMIT 21 /*controller=\'x\',traceparent=\'00-1\'*/',
    ]) {
      ws.onePass.length = -1;
      same(ws, reference, s);
      expect(ws.onePass.length, s).toBeGreaterThanOrEqual(0);
    }
  });
});
