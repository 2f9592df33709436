import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyseRequest } from '../detect/request.js';
import { RollupSet } from '../detect/rollup.js';
import { APPLICATIONS, DASHBOARD_ROW, loop, requestOf } from '../detect/testing.js';
import { buildReport } from '../report/model.js';
import { createSqlNormalizer } from '../sql/index.js';
import { SCHEMA_VERSION } from './migrations.js';
import { Store } from './store.js';
import { tempDir } from '../../test/support.js';

const normalize = createSqlNormalizer();
const HOUR = 3_600_000;
const T0 = Date.parse('2025-01-13T09:00:00Z');
const SECRET = 'jane.doe+secret@example.com';

const dashboard = (i: number, startMs: number, rows = 20) =>
  analyseRequest(
    requestOf(
      'GET dashboard/',
      [
        `SELECT "auth_user"."id" FROM "auth_user" WHERE "auth_user"."email" = '${SECRET}' LIMIT 21`,
        APPLICATIONS,
        ...loop(rows, ...DASHBOARD_ROW),
      ],
      { traceId: i.toString(16).padStart(32, '0'), startMs },
    ),
    normalize,
  );

function tempDb(): string {
  return join(tempDir('store'), 'n1lens.db');
}

describe('Store', () => {
  it('migrates a new file to the current user_version and refuses a newer one', () => {
    const path = tempDb();
    const store = Store.open(path);
    expect(store.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    store.db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    store.close();
    expect(() => Store.open(path)).toThrow(/newer than this n1lens understands/);
  });

  it('reports from stored hourly rollups exactly what the in-memory rollups give', () => {
    const store = Store.open(tempDb());
    const analyses = [dashboard(1, T0 + 10), dashboard(2, T0 + HOUR + 10, 30), dashboard(3, T0 + 2 * HOUR + 10)];
    store.record(analyses.slice(0, 2));
    store.record(analyses.slice(2));
    const memory = new RollupSet();
    for (const a of analyses) memory.add(a);
    expect(store.report()).toEqual(buildReport(memory.values()));
    store.close();
  });

  it('answers a period with only the hours inside it', () => {
    const store = Store.open(tempDb());
    store.record([dashboard(1, T0 + 10), dashboard(2, T0 + HOUR + 10), dashboard(3, T0 + 2 * HOUR + 10)]);
    expect(store.report({ sinceMs: T0 + HOUR }).summary.requests).toBe(2);
    expect(store.report({ sinceMs: T0 + HOUR, untilMs: T0 + 2 * HOUR }).summary.requests).toBe(1);
    expect(store.report({ endpoint: 'GET other/*' }).endpoints).toEqual([]);
    store.close();
  });

  it('keeps the worst request of each finding as its example, with the DB timeline', () => {
    const store = Store.open(tempDb());
    store.record([dashboard(1, T0, 10)]);
    store.record([dashboard(2, T0 + 5, 40), dashboard(3, T0 + 9, 20)]);
    const ids = [...store.findingIds().values()];
    expect(ids).toHaveLength(6);
    const finding = store.finding(ids[0]!);
    expect(finding?.example?.traceId).toBe('2'.padStart(32, '0'));
    expect(finding?.example?.timeline).toHaveLength(2 + 40 * 6);
    expect(finding?.executions).toBe(70);
    expect(store.finding(99_999)).toBeUndefined();
    store.close();
  });

  it('never writes literal values from statements to the database file', () => {
    const path = tempDb();
    const store = Store.open(path);
    store.record([dashboard(1, T0)]);
    store.db.pragma('wal_checkpoint(TRUNCATE)');
    store.close();
    const bytes = readFileSync(path).toString('latin1');
    expect(bytes).toContain('recruit_candidate');
    expect(bytes).not.toContain(SECRET);
    expect(bytes).not.toContain('jane.doe');
  });
});
