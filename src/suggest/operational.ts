/** Fixes that are not querysets: a cache for hot lookups, a task queue for serial fan-out, a composite index for slow queries. */
import type { HotLookupFinding, SlowQueryFinding, SyncFanoutFinding } from '../detect/endpoint.js';
import { appPrefix } from '../detect/links.js';
import type { Naming } from './naming.js';
import type { Suggestion } from './fix.js';

const bare = (ref: string): string => ref.slice(ref.lastIndexOf('.') + 1);
const round = (n: number): string => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1));

/** Cache a single-row read keyed by its unique column, with a TTL and invalidation on write. */
/** A window as minutes (or seconds under two minutes). */
const seconds = (ms: number): string => (ms < 120_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60_000)} min`);

export function suggestCache(f: HotLookupFinding, naming: Naming, ttlSeconds = 300): Suggestion {
  const table = f.facts.table;
  const model = naming.modelOf(table);
  const keys = f.facts.equalityFilters.filter((c) => c.startsWith(`${table}.`)).map((c) => naming.fieldOfColumn(table, bare(c)));
  const args = keys.map((k) => `${k}=${k}`).join(', ');
  const keyExpr = keys.map((k) => `{${k}}`).join(':');
  const h = f.hotLookup;
  const code = [
    `key = f"${model.toLowerCase()}:${keys.join(':')}:${keyExpr}"`,
    `obj = cache.get(key)`,
    `if obj is None:`,
    `    obj = ${model}.objects.get(${args})`,
    `    cache.set(key, obj, timeout=${ttlSeconds})`,
    `# on post_save / post_delete of ${model}: cache.delete(key)`,
  ].join('\n');
  return {
    method: 'cache',
    path: keys.join(','),
    code,
    confidence: naming.exact ? 'exact' : 'inferred',
    note:
      h.callsPerDay === null || h.dbMsPerDay === null
        ? `runs in ${Math.round(h.shareOfRequests * 100)}% of requests: ${h.observedCalls} calls in ${seconds(h.observedMs)} observed, ` +
          `too short a window for a daily rate; a ${ttlSeconds / 60}-minute cache would have saved ${round(h.observedCalls * h.meanMs)} ms of DB time`
        : `runs in ${Math.round(h.shareOfRequests * 100)}% of requests, ~${round(h.callsPerDay)} calls/day over the ${seconds(h.observedMs)} observed; ` +
          `a ${ttlSeconds / 60}-minute cache saves up to ${round(h.dbMsPerDay / 1000)} s of DB time per day`,
  };
}

/** Move serial outbound calls to a task queue, with idempotency keys so retries do not repeat side effects. */
export function suggestTaskQueue(f: SyncFanoutFinding): Suggestion {
  const s = f.syncFanout;
  const peers = s.peers.length > 0 ? s.peers.join(', ') : 'external services';
  const code = [
    `@shared_task(autoretry_for=(RequestException,), retry_backoff=True)`,
    `def notify(idempotency_key, payload):`,
    `    ...  # send with header Idempotency-Key: idempotency_key`,
    ``,
    `# in the view, after the commit:`,
    `transaction.on_commit(lambda: notify.delay(f"{obj.pk}:notify", payload))`,
  ].join('\n');
  return {
    method: 'task_queue',
    path: peers,
    code,
    confidence: 'inferred',
    note:
      `${s.callsPerRequest.toFixed(1)} serial outbound calls (${peers}) take ${round(s.outboundMsPerRequest)} ms ` +
      `of a ${round(s.requestMsPerRequest)} ms request; queued, the request loses ~${round(s.outboundMsPerRequest)} ms`,
  };
}

/**
 * How often each `table.column` is filtered with `=` across all the traffic seen, weighted by
 * executions. Django sorts filter() keyword arguments, so the WHERE order says nothing about intent;
 * usage does: the column most queries filter on first makes the index serve the most queries.
 */
export type ColumnUse = ReadonlyMap<string, number>;

/** The composite index for a slow query: equality columns (most used first), then range and ORDER BY columns with direction. */
export function indexColumns(f: SlowQueryFinding, use: ColumnUse = new Map()): { column: string; direction: 'ASC' | 'DESC' }[] {
  const table = f.facts.table;
  const own = (ref: string): boolean => ref.startsWith(`${table}.`) || !ref.includes('.');
  const cols: { column: string; direction: 'ASC' | 'DESC' }[] = [];
  const add = (column: string, direction: 'ASC' | 'DESC'): void => {
    if (!cols.some((c) => c.column === column)) cols.push({ column, direction });
  };
  const weight = (ref: string): number => use.get(ref.includes('.') ? ref : `${table}.${ref}`) ?? 0;
  const equality = f.facts.equalityFilters.filter(own);
  // Array.prototype.sort is stable: ties keep the statement's order.
  for (const ref of [...equality].sort((a, b) => weight(b) - weight(a))) add(bare(ref), 'ASC');
  const order = new Map(f.facts.orderBy.filter((o) => own(o.column)).map((o) => [bare(o.column), o.direction]));
  for (const ref of f.facts.rangeFilters) if (own(ref)) add(bare(ref), order.get(bare(ref)) ?? 'ASC');
  for (const [column, direction] of order) add(column, direction);
  return cols;
}

export function suggestIndex(f: SlowQueryFinding, use: ColumnUse = new Map()): Suggestion {
  const table = f.facts.table;
  const cols = indexColumns(f, use);
  // Postgres truncates identifiers at 63 bytes; the model part of the table keeps names short, as in the seed.
  const model = appPrefix(table) === '' ? table : table.slice(appPrefix(table).length + 1);
  const name = `idx_${model}_${cols.map((c) => c.column.replace(/_id$/, '')).join('_')}`.slice(0, 63);
  const colSql = cols.map((c) => `"${c.column}"${c.direction === 'DESC' ? ' DESC' : ''}`).join(', ');
  const app = appPrefix(table) || 'app';
  // The SQL is split into adjacent string literals, as a hand-written migration would be, so it reads at 80 columns.
  const code = [
    `class Migration(migrations.Migration):`,
    `    atomic = False  # required for CONCURRENTLY`,
    `    dependencies = [("${app}", "<previous migration>")]`,
    `    operations = [`,
    `        migrations.RunSQL(`,
    `            'CREATE INDEX CONCURRENTLY IF NOT EXISTS '`,
    `            '"${name}" '`,
    `            'ON "${table}" '`,
    `            '(${colSql});',`,
    `            reverse_sql='DROP INDEX CONCURRENTLY IF EXISTS '`,
    `            '"${name}";',`,
    `        ),`,
    `    ]`,
  ].join('\n');
  return {
    method: 'index',
    path: `${table} (${cols.map((c) => c.column + (c.direction === 'DESC' ? ' DESC' : '')).join(', ')})`,
    code,
    confidence: 'inferred',
    note: `p95 ${round(f.slowQuery.p95Ms)} ms over ${f.slowQuery.executions} executions; check the plan with EXPLAIN ANALYZE before and after`,
  };
}
