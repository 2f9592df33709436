/** Fixes that are not querysets: a cache for hot lookups, a task queue for serial fan-out, a composite index for slow queries, a pooler, a view to delete. */
import type { ConnectionPressure } from '../detect/connections.js';
import type { HotLookupFinding, SlowQueryFinding, SyncFanoutFinding } from '../detect/endpoint.js';
import { DEFAULT_MIN_REQUESTS, DEFAULT_MIN_WINDOW_MS, type DeadView } from '../detect/routes.js';
import { appPrefix } from '../detect/links.js';
import type { Naming } from './naming.js';
import type { Suggestion } from './fix.js';

const bare = (ref: string): string => ref.slice(ref.lastIndexOf('.') + 1);
const round = (n: number): string => (n >= 100 ? wholeWithCommas(n) : n.toFixed(1));

/**
 * `Math.round(n).toLocaleString('en-US')` (thousands grouped by commas) without ICU, whose first
 * use costs a process 20–50 ms of set-up: every report formats a figure this way.
 */
export function wholeWithCommas(n: number): string {
  const whole = Math.round(n);
  if (!Number.isSafeInteger(whole) || Object.is(whole, -0)) return whole.toLocaleString('en-US');
  const digits = String(Math.abs(whole));
  let out = digits.slice(0, ((digits.length - 1) % 3) + 1);
  for (let at = out.length; at < digits.length; at += 3) out += `,${digits.slice(at, at + 3)}`;
  return whole < 0 ? `-${out}` : out;
}

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
      `${Number.isInteger(s.callsPerRequest) ? s.callsPerRequest : s.callsPerRequest.toFixed(1)} serial outbound calls (${peers}) take ${round(s.outboundMsPerRequest)} ms ` +
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

/**
 * The cure for connection pressure. While one persistent connection per worker thread stays well
 * under max_connections: keep them (CONN_MAX_AGE, CONN_HEALTH_CHECKS). A fleet whose workers
 * would crowd max_connections, or a peak near it: PgBouncer in transaction mode, sized from the
 * DB-busy peak, with the settings and caveats transaction pooling brings. Another database than
 * PostgreSQL: fewer connections held, or a pooler of its own (ProxySQL for MySQL).
 */
export function suggestConnectionFix(p: ConnectionPressure): Suggestion {
  const fleet = p.reasons.includes('near_max_connections') || p.persistentWouldCrowd;
  if (!fleet) {
    // Django's own pool and PgBouncer are PostgreSQL's; MySQL and MariaDB keep the persistent connections.
    const code = [
      `# settings.py, served by WSGI (gunicorn, uWSGI): keep each worker's`,
      `# connection, checked before a request reuses it (Django >= 4.1)`,
      `DATABASES["default"]["CONN_MAX_AGE"] = 60`,
      `DATABASES["default"]["CONN_HEALTH_CHECKS"] = True`,
      ...(p.postgresql
        ? [
            ``,
            `# served by ASGI (uvicorn, daphne): CONN_MAX_AGE = 0 and a pool instead`,
            `# (Django >= 5.1, psycopg 3 with psycopg[pool]; it refuses CONN_MAX_AGE)`,
            `# DATABASES["default"].setdefault("OPTIONS", {})["pool"] = True`,
          ]
        : []),
    ].join('\n');
    return {
      method: 'manual',
      path: 'CONN_MAX_AGE',
      code,
      confidence: 'inferred',
      note:
        `${opening(p.newConnectionShare ?? 1)} (${rate(p.openedPerSecond)}): Django's ` +
        `CONN_MAX_AGE=0 connects and authenticates on every request. Persistent connections hold one per worker ` +
        `thread instead: ${p.perProcessPeakSum} at this traffic over ${p.processes} process${p.processes === 1 ? '' : 'es'}, ` +
        `${Math.round((p.perProcessPeakSum / p.maxConnections) * 100)}% of max_connections ${p.maxConnections}. ` +
        (p.postgresql
          ? `Under ASGI, Django's documentation says to keep persistent connections off (each request runs its ORM calls ` +
            `in a thread of its own, so a kept connection is never reused): use the backend's pool ("pool" in OPTIONS, ` +
            `Django 5.1+ with psycopg 3) with CONN_MAX_AGE = 0. ` +
            `Once the fleet's workers would crowd max_connections, put PgBouncer in transaction mode in front instead.`
          : `Under ASGI, Django's documentation says to keep persistent connections off (each request runs its ORM calls ` +
            `in a thread of its own, so a kept connection is never reused): a pooler in front of the database ` +
            `(ProxySQL for MySQL and MariaDB) keeps the server's connections instead.`),
    };
  }
  if (!p.postgresql) {
    // MySQL, MariaDB, Oracle, SQLite: no PgBouncer, and no PostgreSQL settings.
    const share = p.maxConnectionsAssumed
      ? `${percent(p.shareOfMax)} of an assumed max_connections ${p.maxConnections} (give --db-max-connections)`
      : `${percent(p.shareOfMax)} of max_connections (${p.maxConnections})`;
    const code = [
      `# The database is not PostgreSQL: hold fewer connections at once`,
      `# - fewer worker threads per process, or fewer processes per host`,
      `# - a pooler in front of it (ProxySQL for MySQL and MariaDB)`,
      `# - or a higher max_connections on the server (MySQL's default is 151)`,
    ].join('\n');
    return {
      method: 'manual',
      path: 'fewer connections',
      code,
      confidence: 'inferred',
      note:
        `${p.peakConnections} connections held at peak across ${p.processes} process${p.processes === 1 ? '' : 'es'}, ${share}; ` +
        `only ${p.dbBusyPeak} were running a query at the busiest second: a pooler that lends a connection per ` +
        `transaction serves the same traffic with far fewer.`,
    };
  }
  const pool = Math.max(5, Math.ceil(p.dbBusyPeak * 1.5));
  const code = [
    `; pgbouncer.ini`,
    `[databases]`,
    `; under the name Django connects with (its NAME), on the real server`,
    `DBNAME = host=POSTGRES_HOST port=5432 dbname=DBNAME`,
    `[pgbouncer]`,
    `; TCP for the app servers (without it, only a Unix socket)`,
    `listen_addr = 0.0.0.0`,
    `listen_port = 6432`,
    `; the app's user and password, one "user" "password" line each`,
    `auth_type = scram-sha-256`,
    `auth_file = /etc/pgbouncer/userlist.txt`,
    `pool_mode = transaction`,
    `max_client_conn = ${Math.max(100, p.perProcessPeakSum * 2)}`,
    `; DB-busy peak: ${p.dbBusyPeak} connections`,
    `default_pool_size = ${pool}`,
    ``,
    `# settings.py`,
    `DATABASES["default"].update({`,
    `    "HOST": "PGBOUNCER_HOST",`,
    `    "PORT": "6432",`,
    `    # .iterator()'s server-side cursors break under transaction pooling`,
    `    "DISABLE_SERVER_SIDE_CURSORS": True,`,
    `})`,
    `# Only with psycopg 3 and OPTIONS "server_side_binding": True (Django`,
    `# binds client-side by default, which prepares nothing): no prepared`,
    `# statements, or PgBouncer >= 1.21 with max_prepared_statements`,
    `# DATABASES["default"]["OPTIONS"]["prepare_threshold"] = None`,
  ].join('\n');
  const share = p.maxConnectionsAssumed
    ? `${percent(p.shareOfMax)} of PostgreSQL's default max_connections (${p.maxConnections}; give --db-max-connections)`
    : `${percent(p.shareOfMax)} of max_connections (${p.maxConnections})`;
  return {
    method: 'manual',
    path: 'PgBouncer (transaction mode)',
    code,
    confidence: 'inferred',
    note:
      `${p.peakConnections} connections held at peak across ${p.processes} process${p.processes === 1 ? '' : 'es'}, ${share}; ` +
      `only ${p.dbBusyPeak} were running a query at the busiest second, so a transaction-mode pool of ~${pool} server ` +
      `connections serves the same traffic. Transaction pooling caveats: no session-level SET (use SET LOCAL, or ` +
      `ALTER ROLE … SET timezone so Django skips its per-connection set_config); session advisory locks ` +
      `(pg_advisory_lock) break, use pg_advisory_xact_lock; LISTEN/NOTIFY needs a direct connection; prepared ` +
      `statements: none with Django's defaults (psycopg2, and psycopg 3's client-side binding); with ` +
      `"server_side_binding": True psycopg 3 prepares a statement after 5 executions (prepare_threshold above). ` +
      `A request in transaction.atomic (ATOMIC_REQUESTS) holds its server connection until it commits.`,
  };
}

/** What to do with a view nobody (or only a cron job) calls. */
export function suggestDeadView(v: DeadView): Suggestion {
  const where = v.file === undefined ? v.view : `${v.view} (${v.file}${v.line === undefined ? '' : `:${v.line}`})`;
  // Only a view dead over the whole window is to be removed; one unseen in a trace file, or without
  // enough history yet, is listed for a look.
  const head =
    v.status === 'dead'
      ? `# urls.py: remove the route${v.servedOn === undefined ? '' : ` ${v.route}`} to ${v.view}`
      : v.status === 'periodic'
        ? `# urls.py: once its scheduled caller is retired, remove the route to ${v.view}`
        : v.status === 'unseen_in_file'
          ? `# urls.py: ${v.view} not seen in this file; n1lens serve --dead-after judges it`
          : v.status === 'too_short_window'
            ? `# urls.py: ${v.view} quiet for ${spanText(v.windowMs)}, too short to call it dead; keep it`
            : v.status === 'too_little_traffic'
              ? `# urls.py: ${v.view} quiet for ${spanText(v.windowMs)}, with too little traffic to call it dead; keep it`
              : `# urls.py: ${v.view} has no request in the history so far; check again later`;
  const code = [head, `# path("${v.route}", …),`].join('\n');
  const note = withSetAside(v.servedOn === undefined ? viewNote(v, where) : routeNote(v, v.servedOn) ?? viewNote(v, where), v);
  return { method: 'manual', path: v.view, code, confidence: v.status === 'dead' ? 'exact' : 'inferred', note };
}

/** The note, then how many requests to the route were no use of it (detect/routes.ts usesRoute), so a scanned route is not taken for an unseen one. */
function withSetAside(note: string, v: DeadView): string {
  const n = v.setAsideRequests ?? 0;
  if (n === 0) return note;
  return `${note}${note.endsWith('.') ? '' : '.'} ${n} request${n === 1 ? '' : 's'} answered 404 or 405 without using it ${n === 1 ? 'was' : 'were'} set aside.`;
}

/** What to do with a view nobody (or only a cron job) calls, on every route it has. */
function viewNote(v: DeadView, where: string): string {
  return v.status === 'periodic' && v.periodic !== undefined
    ? `only one client calls it, at ${clockText(v.periodic.minuteOfDay)} UTC on ${v.periodic.days} days` +
        `${v.periodic.client === '' ? '' : ` (${v.periodic.client})`}: a scheduled job keeps it alive. ` +
        `Find the job; if nothing reads what it produces, retire both, then ${where} and the tables only it uses.`
    : v.status === 'unseen_in_file'
      ? `not seen in this file; a recording covers too little time to call a view dead (serve keeps the history)`
      : v.status === 'no_traffic_yet'
        ? `no request in the ${spanText(v.historyMs)} of history there is (less than the ${spanText(v.windowMs)} asked${seenText(v)}); ` +
          `check again once the store covers the window`
        : v.status === 'too_short_window'
          ? `no request in the ${spanText(v.windowMs)} asked${seenText(v, v.historyMs)}, but a view used weekly or at month's end ` +
            `is that quiet too: nothing to remove on so short a window. Judge it with --dead-after ${wholeDays(v.neededWindowMs ?? DEFAULT_MIN_WINDOW_MS)}d or more ` +
            `(90d also covers quarterly jobs), once the store holds that much history`
        : v.status === 'too_little_traffic'
          ? `no request in the ${spanText(v.windowMs)} asked${seenText(v, v.historyMs)}: so little traffic leaves a used view unseen as easily ` +
            `as an unused one, so nothing is called dead below ${v.neededRequests ?? DEFAULT_MIN_REQUESTS} requests. Judge it again once the app has served more.`
        : `no request in ${spanText(v.windowMs)}: delete ${where}, its templates and tests, and the tables only it uses ` +
          `(after a grace period with the route logging a warning)`;
}

/** What to do with a dead or periodic route of a view still served on another route (servedOn): the route goes, not the view. */
function routeNote(v: DeadView, servedOn: string): string | undefined {
  if (v.status === 'dead') {
    return `no request on this route in ${spanText(v.windowMs)}, and the view is still served on ${servedOn}: remove this route only ` +
      `(after a grace period with it logging a warning), not the view`;
  }
  if (v.status === 'periodic' && v.periodic !== undefined) {
    return `only one client calls this route, at ${clockText(v.periodic.minuteOfDay)} UTC on ${v.periodic.days} days` +
      `${v.periodic.client === '' ? '' : ` (${v.periodic.client})`}: a scheduled job keeps it alive, and the view is still served on ${servedOn}. ` +
      `Find the job; if nothing reads what it produces, retire it, then remove this route.`;
  }
  return undefined;
}

/** `; 3 requests to the URLconf's routes over 19 days of history`: what the verdict rests on, when known. */
function seenText(v: DeadView, overMs?: number): string {
  if (v.historyRequests === undefined) return '';
  const n = `${wholeWithCommas(v.historyRequests)} request${v.historyRequests === 1 ? '' : 's'} to the URLconf's routes`;
  return overMs === undefined ? `; ${n} so far` : ` (${n} over ${spanText(overMs)} of history)`;
}

const wholeDays = (ms: number): number => Math.ceil(ms / 86_400_000);

const percent = (share: number): string => `${Math.round(share * 100)}%`;
/** Connections opened per request: a share of requests, or (several databases) an average above one. */
const opening = (perRequest: number): string =>
  perRequest > 1 ? `Every request opens ${perRequest.toFixed(1)} new connections on average` : `${percent(perRequest)} of requests open a new connection`;
const rate = (perSecond: number | null): string => (perSecond === null ? 'rate unknown' : `${perSecond.toFixed(1)} connections/s`);
/** Minute of the day as HH:MM. */
export const clockText = (minute: number): string => `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;

/** A span of time in days (whole), or hours below a day: "90 days", "5.0 hours". */
export function spanText(msSpan: number): string {
  const d = msSpan / 86_400_000;
  if (d >= 1) return `${Math.floor(d)} day${Math.floor(d) === 1 ? '' : 's'}`;
  return `${(msSpan / 3_600_000).toFixed(1)} hours`;
}
