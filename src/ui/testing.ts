/** Test and screenshot fixtures: a real store filled by analysing the bundled sample recording. */
import { fileURLToPath } from 'node:url';
import { OfflineAnalysis } from '../analyzer.js';
import type { RequestAnalysis } from '../detect/types.js';
import { readTraceFile } from '../otlp/file.js';
import { loadSchema, schemaNaming, type DjangoSchema } from '../suggest/index.js';
import { SqliteStore } from '../store/sqlite.js';

export const SAMPLE_TRACES = fileURLToPath(new URL('../../samples/traces/recruit.jsonl.gz', import.meta.url));
export const SAMPLE_SCHEMA = fileURLToPath(new URL('../../samples/traces/recruit-schema.json', import.meta.url));

/** Every request of the sample recording, analysed with its schema, plus the schema for reports. */
export async function analyseSample(): Promise<{ analyses: RequestAnalysis[]; schema: DjangoSchema }> {
  const schema = await loadSchema(SAMPLE_SCHEMA);
  const analyses: RequestAnalysis[] = [];
  const offline = new OfflineAnalysis({ links: schemaNaming(schema) }, (a) => analyses.push(...a));
  for await (const batch of readTraceFile(SAMPLE_TRACES)) offline.add(batch.spans);
  offline.finish();
  return { analyses, schema };
}

/** A store (a real SQLite file, or `:memory:`) holding the sample; `lastSeenMs` is the recording's clock. */
export async function sampleStore(path = ':memory:'): Promise<{ store: SqliteStore; schema: DjangoSchema; lastSeenMs: number }> {
  const { analyses, schema } = await analyseSample();
  const store = SqliteStore.open(path);
  await store.record(analyses);
  const lastSeenMs = analyses.reduce((m, a) => Math.max(m, a.startMs + a.durationMs), 0);
  return { store, schema, lastSeenMs };
}
