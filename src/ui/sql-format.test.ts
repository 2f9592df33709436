import { describe, expect, it } from 'vitest';
import { formatSql, mainTable } from './sql-format.js';

describe('formatSql', () => {
  it('puts each clause on its own line, long select lists and WHERE conditions one per line', () => {
    const sql =
      'SELECT "a"."id", "a"."user_id", "a"."candidate_id", "a"."job_id", "a"."status_id", "a"."created" FROM "a" INNER JOIN "c" ON ("a"."candidate_id" = "c"."id") ' +
      'WHERE ("a"."created" >= ? AND "a"."status_id" = ?) ORDER BY "a"."created" DESC LIMIT ?';
    expect(formatSql(sql)).toBe(
      [
        'SELECT',
        '  "a"."id",',
        '  "a"."user_id",',
        '  "a"."candidate_id",',
        '  "a"."job_id",',
        '  "a"."status_id",',
        '  "a"."created"',
        'FROM "a"',
        'INNER JOIN "c" ON ("a"."candidate_id" = "c"."id")',
        'WHERE ("a"."created" >= ?',
        '  AND "a"."status_id" = ?)',
        'ORDER BY "a"."created" DESC',
        'LIMIT ?',
      ].join('\n'),
    );
  });

  it('keeps every token in order: only the layout changes', () => {
    for (const sql of [
      'UPDATE "t" SET "x" = ?, "y" = ? WHERE "t"."id" = ?',
      'INSERT INTO "t" ("x", "y") VALUES (?, ?) RETURNING "t"."id"',
      "SELECT COUNT(*) AS \"__count\" FROM \"n\" WHERE (\"n\".\"a\" = ? OR \"n\".\"b\" IN (SELECT \"id\" FROM \"m\" WHERE \"m\".\"s\" = 'x, y'))",
    ]) {
      expect(formatSql(sql).replace(/\s+/g, ' ').replace(/\( /g, '(')).toBe(sql);
    }
  });

  it('names the main table for short labels', () => {
    expect(mainTable('SELECT "recruit_job"."id" FROM "recruit_job" WHERE "recruit_job"."id" = ?')).toBe('recruit_job');
    expect(mainTable('UPDATE "t" SET "x" = ?')).toBe('t');
    expect(mainTable('SELECT set_config(?, ?, ?)')).toBe('');
  });
});
