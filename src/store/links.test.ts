/**
 * A finding's link to its trigger self-corrects in the store: a request whose cascade arrived partial
 * (its first batch late, so the list query is missing) links the company lookups to the job lookups,
 * one relation; the whole request links them to the applications list, two. Whichever is written
 * first, the store keeps the whole chain, and the report's fix names `job__company`.
 */
import { describe, expect, it } from 'vitest';
import { analyseRequest } from '../detect/request.js';
import { RollupSet } from '../detect/rollup.js';
import { APPLICATIONS, AUTH_USER, DASHBOARD_ROW, SESSION, loop, requestOf } from '../detect/testing.js';
import type { RequestAnalysis } from '../detect/types.js';
import { createSqlNormalizer } from '../sql/index.js';
import { postgresDatabase, tempDir } from '../../test/support.js';
import { PostgresStore } from './postgres.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './store.js';

const normalize = createSqlNormalizer();
const T0 = Date.parse('2025-01-13T09:00:00Z');
const COMPANY = 'recruit_company';

const whole = (i: number): RequestAnalysis =>
  analyseRequest(requestOf('GET dashboard/', [SESSION, AUTH_USER, APPLICATIONS, ...loop(20, ...DASHBOARD_ROW)], { traceId: `a${i}`.padStart(32, '0'), startMs: T0 + i * 1000 }), normalize);
/** The same view with its first batch (session, user, the applications list, the first rows) not arrived yet. */
const partial = (i: number): RequestAnalysis =>
  analyseRequest(requestOf('GET dashboard/', loop(20, ...DASHBOARD_ROW).slice(13), { traceId: `b${i}`.padStart(32, '0'), startMs: T0 + i * 1000 }), normalize);

const companyLoop = (a: RequestAnalysis) => a.cascades.find((c) => c.sql.includes(`FROM "${COMPANY}"`))!;

async function dashboardFix(store: Store): Promise<{ fix: string; trigger: string | undefined; chain: string[] }> {
  const report = await store.report({ sinceMs: T0 - 3_600_000 });
  const dashboard = report.endpoints.find((e) => e.endpoint === 'GET dashboard/')!;
  const company = dashboard.findings.find((f) => f.sql.includes(`FROM "${COMPANY}"`))!;
  return { fix: dashboard.fix, trigger: company.trigger?.table, chain: company.chain };
}

const backends: [string, () => Promise<Store>][] = [
  ['SQLite', async () => SqliteStore.open(`${tempDir('links')}/n1lens.db`)],
  ['PostgreSQL', async () => PostgresStore.open(await postgresDatabase('links'))],
];

describe('the readings the analysis gives', () => {
  it('links the partial request one relation short', () => {
    expect(companyLoop(whole(1)).steps).toHaveLength(2);
    expect(companyLoop(partial(1)).steps).toHaveLength(1);
    expect(companyLoop(partial(1)).trigger?.table).toBe('recruit_job');
  });

  it('RollupSet keeps the whole chain in either order', () => {
    for (const order of [[partial(1), whole(2)], [whole(2), partial(1)]]) {
      const set = new RollupSet();
      for (const a of order) set.add(a);
      const company = [...set.values()[0]!.cascades.values()].find((c) => c.sql.includes(`FROM "${COMPANY}"`))!;
      expect(company.trigger?.table).toBe('recruit_application');
      expect(company.steps.map((s) => s.toTable)).toEqual(['recruit_job', COMPANY]);
    }
  });
});

describe.each(backends)('%s store', (_name, open) => {
  it.each([
    ['a partial request first, then the whole one', [[partial(1)], [whole(2), whole(3)]]],
    ['the whole one first, then a partial one', [[whole(2), whole(3)], [partial(1)]]],
  ])('keeps the whole chain for %s', async (_order, writes) => {
    const store = await open();
    try {
      for (const batch of writes) await store.record(batch);
      const { fix, trigger, chain } = await dashboardFix(store);
      expect(trigger).toBe('recruit_application');
      expect(chain).toHaveLength(2);
      expect(fix).toContain("'job__company'");
    } finally {
      await store.close();
    }
  });
});
