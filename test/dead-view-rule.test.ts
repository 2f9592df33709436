import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runBin, tempDir } from './support.js';
import { recording, schema } from './dead-view-recording.js';
import { analyseFiles } from '../src/cli/report.js';
import type { Report } from '../src/report/model.js';
import { SqliteStore } from '../src/store/sqlite.js';

interface Attribute { key: string; value: { intValue?: string; stringValue?: string } }
interface Span { kind: number; attributes: Attribute[] }
interface Export { resourceSpans: { scopeSpans: { spans: Span[] }[] }[] }

/** The recording with each SERVER span of a route answered `status` instead. */
function answered(statuses: Record<string, number>): string {
  return recording
    .map((line) => {
      const body = JSON.parse(line) as Export;
      for (const rs of body.resourceSpans) {
        for (const ss of rs.scopeSpans) {
          for (const span of ss.spans) {
            const route = span.attributes.find((a) => a.key === 'http.route')?.value.stringValue;
            const status = route === undefined ? undefined : statuses[route];
            if (span.kind !== 2 || status === undefined) continue;
            span.attributes = [...span.attributes.filter((a) => a.key !== 'http.status_code'), { key: 'http.status_code', value: { intValue: String(status) } }];
          }
        }
      }
      return JSON.stringify(body);
    })
    .join('\n');
}

const stores: SqliteStore[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.closeSync();
});

/** The routes each path calls unused: n1-report --list-unseen over the file, and the store (serve, --db) that recorded the same requests. */
async function bothWays(file: string, schemaFile: string): Promise<{ offline: Report; stored: Awaited<ReturnType<SqliteStore['deadViews']>> }> {
  const run = await runBin(['--schema', schemaFile, '--list-unseen', '--max-findings', '100', '-f', 'json', file]);
  expect(run.stderr).toBe('');
  const store = SqliteStore.open(join(tempDir('dead-rule'), 'n1lens.db'));
  stores.push(store);
  await analyseFiles([file], { schemaPath: schemaFile, onAnalysed: (analyses) => store.recordSync(analyses) });
  return { offline: JSON.parse(run.stdout) as Report, stored: await store.deadViews(schema.urls!, 90 * 86_400_000, Date.now()) };
}

describe('dead views: one rule for what uses a route, offline and from the store', () => {
  it('lists the same routes from a trace file as from the store that recorded it: a refused method uses no route, a view that ran and found nothing does', async () => {
    const dir = tempDir('dead-rule');
    const file = join(dir, 'traces.jsonl');
    const schemaFile = join(dir, 'schema.json');
    // login/ refused (405); dashboard/optimised/ ran its queries and found nothing (404: get_object_or_404).
    writeFileSync(file, answered({ 'login/': 405, 'dashboard/optimised/': 404 }));
    writeFileSync(schemaFile, JSON.stringify(schema));
    const { offline, stored } = await bothWays(file, schemaFile);
    const unseen = (offline.serviceFindings ?? []).filter((f) => f.kind === 'dead_view').map((f) => f.subject);
    expect(unseen).toEqual(['login/', 'reports/legacy-export/']);
    expect(stored.map((v) => v.route).sort()).toEqual(unseen);
  });

  it('counts the requests it set aside on each route, in the file and in the store alike', async () => {
    const dir = tempDir('dead-rule');
    const file = join(dir, 'traces.jsonl');
    const schemaFile = join(dir, 'schema.json');
    writeFileSync(file, answered({ 'login/': 405 }));
    writeFileSync(schemaFile, JSON.stringify(schema));
    const { offline, stored } = await bothWays(file, schemaFile);
    const login = offline.serviceFindings?.find((f) => f.subject === 'login/');
    expect(login?.deadView?.setAsideRequests).toBe(1);
    expect(login?.suggestion.note).toMatch(/1 request answered 404 or 405 without using it was set aside/);
    expect(stored.map((v) => [v.route, v.setAsideRequests]).sort()).toEqual([['login/', 1], ['reports/legacy-export/', undefined]]);
  });
});
