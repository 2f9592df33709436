import { describe, expect, it } from 'vitest';
import { analyseFiles } from '../cli/report.js';
import { createSqlNormalizer } from '../sql/index.js';
import { analyseRequest } from '../detect/request.js';
import { RollupSet } from '../detect/rollup.js';
import { requestOf, type Step } from '../detect/testing.js';
import { applyAcknowledgements, signatureOf } from './acknowledge.js';
import { baselineFromReport } from './baseline.js';
import { diffReports } from './diff.js';
import { judge } from './gate.js';
import { buildReport, type Report } from './model.js';
import { findingSignature, serviceSignature } from './signature.js';

const testdata = (name: string) => new URL(`../otlp/testdata/${name}`, import.meta.url).pathname;

/** Plain FNV-1a 64 with BigInt over UTF-8, written from the definition. */
function referenceFnv(text: string): string {
  let h = 0xcbf29ce484222325n;
  for (const b of new TextEncoder().encode(text)) h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return h.toString(16).padStart(16, '0');
}

async function signatures(file: string): Promise<Map<string, string>> {
  const { rollups } = await analyseFiles([file], { minRepeats: 5 });
  const report = buildReport(rollups.values());
  const out = new Map<string, string>();
  for (const e of report.endpoints) for (const f of e.findings) out.set(`${e.endpoint} ${f.kind} ${f.table} ${f.fingerprint}`, f.signature);
  return out;
}

describe('finding signature', () => {
  it('is FNV-1a 64 of the documented text, reproducible by other tools', () => {
    const parts = { endpoint: 'GET dashboard/', kind: 'n_plus_one', table: 'recruit_candidate', fingerprint: '9f2c0000aaaabbbb' } as const;
    expect(findingSignature(parts)).toBe(referenceFnv('n1lens-signature-v1\nGET dashboard/\nn_plus_one\nrecruit_candidate\n9f2c0000aaaabbbb'));
    expect(findingSignature({ ...parts, endpoint: 'GET café/' })).toBe(referenceFnv('n1lens-signature-v1\nGET café/\nn_plus_one\nrecruit_candidate\n9f2c0000aaaabbbb'));
  });

  it('told apart by service (SARIF, where two services share one) is FNV-1a 64 of the documented text too', () => {
    expect(serviceSignature('9ece2add66ed6280', 'worker')).toBe(referenceFnv('n1lens-signature-v1-service\nworker\n9ece2add66ed6280'));
  });

  it('changes with each of endpoint, kind, table and fingerprint', () => {
    const base = { endpoint: 'GET a/', kind: 'n_plus_one', table: 't', fingerprint: '0000000000000001' } as const;
    const all = new Set([
      findingSignature(base),
      findingSignature({ ...base, endpoint: 'GET b/' }),
      findingSignature({ ...base, kind: 'repeated_write' }),
      findingSignature({ ...base, table: 'u' }),
      findingSignature({ ...base, fingerprint: '0000000000000002' }),
    ]);
    expect(all.size).toBe(5);
  });

  it('is the same for the same findings in two separate recordings of the app (old and stable semconv)', async () => {
    const [a, b] = await Promise.all([signatures(testdata('django-sqlite-old-semconv.otlp.pb')), signatures(testdata('django-sqlite-stable-semconv.otlp.pb'))]);
    expect(a.size).toBeGreaterThanOrEqual(6);
    expect([...a.entries()].sort()).toEqual([...b.entries()].sort());
    for (const [key, sig] of a) {
      const [method, route, kind, table, fingerprint] = key.split(' ') as [string, string, 'n_plus_one', string, string];
      expect(sig).toBe(findingSignature({ endpoint: `${method} ${route}`, kind, table, fingerprint }));
    }
  });
});

describe('a loop warm-up in one run and an N+1 in the next', () => {
  const normalize = createSqlNormalizer();
  const PAGES = 'SELECT "blog_page"."id", "blog_page"."image_id" FROM "blog_page" ORDER BY "blog_page"."id"';
  const rendition = (r: number): string => `SELECT "images_rendition"."id" FROM "images_rendition" WHERE "images_rendition"."image_id" = ${r} LIMIT 21`;
  const cold: Step[] = [PAGES, { sql: rendition, rows: 12 }];
  const warm: Step[] = [PAGES];
  const reportOf = (requests: Step[][]): Report => {
    const set = new RollupSet();
    for (const [i, steps] of requests.entries()) set.add(analyseRequest(requestOf('GET blog/', steps, { traceId: (i + 1).toString(16).padStart(32, '0'), startMs: i * 1000 }), normalize));
    return buildReport(set.values());
  };
  // One cold request of five: warm-up. Three of four: the steady state, an N+1.
  const quiet = reportOf([cold, warm, warm, warm, warm]);
  const busy = reportOf([cold, cold, cold, warm]);
  const loopOf = (r: Report) => r.endpoints[0]!.findings[0]!;

  it('keeps its signature: the loop is the same query of the same endpoint, only the traffic differs', () => {
    expect([loopOf(quiet).kind, loopOf(busy).kind]).toEqual(['warm_up', 'n_plus_one']);
    expect(loopOf(quiet).signature).toBe(loopOf(busy).signature);
    expect(loopOf(quiet).signature).toBe(findingSignature({ endpoint: 'GET blog/', kind: 'n_plus_one', table: 'images_rendition', fingerprint: loopOf(quiet).fingerprint }));
  });

  it('is not new against a baseline written when it was warm-up, nor fixed against one written when it was an N+1', () => {
    const fromQuiet = baselineFromReport(quiet);
    expect(judge(busy, { maxFindings: 0, today: '2026-01-01', baseline: fromQuiet }).findings.map((g) => g.status)).toEqual(['baselined']);
    const fromBusy = baselineFromReport(busy);
    expect(judge(quiet, { maxFindings: 0, today: '2026-01-01', baseline: fromBusy }).fixed).toEqual([]);
  });

  it('stays muted by a decision taken on its finding page (signed from the stored loop, never warm-up)', () => {
    const f = loopOf(quiet);
    const ack = { signature: signatureOf('GET blog/', { kind: 'n_plus_one', table: f.table, fingerprint: f.fingerprint }), service: 'recruit', endpoint: 'GET blog/', kind: 'n_plus_one' as const, table: f.table, state: 'ignored' as const, reason: 'cold cache', createdMs: 0 };
    expect(applyAcknowledgements(quiet, [ack], 0).endpoints[0]!.findings).toEqual([]);
  });

  it('is a regression in n1lens diff when it becomes the steady state, and an improvement the other way', () => {
    const worse = diffReports(quiet, busy);
    expect(worse.regression).toBe(true);
    expect(worse.endpoints[0]!.findings.map((f) => f.change)).toEqual(['worse']);
    const better = diffReports(busy, quiet);
    expect(better.regression).toBe(false);
    expect(better.endpoints[0]!.findings.map((f) => f.change)).toEqual(['better']);
  });
});
