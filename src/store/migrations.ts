/** The store's schema, as numbered migrations applied in order: SQLite's tracked in user_version, PostgreSQL's (the same logical schema, step for step) in n1lens_schema. */
import type { Database } from 'better-sqlite3';

export const SQLITE_MIGRATIONS: readonly string[] = [
  // 1: endpoints, normalised statements, per-finding identity, hourly rollups, one example per finding.
  `
  CREATE TABLE endpoints (
    id INTEGER PRIMARY KEY,
    service TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    first_seen_ms REAL NOT NULL,
    last_seen_ms REAL NOT NULL,
    UNIQUE (service, endpoint)
  );
  CREATE TABLE statements (
    fingerprint TEXT PRIMARY KEY,
    sql TEXT NOT NULL,
    facts TEXT NOT NULL
  );
  CREATE TABLE findings (
    id INTEGER PRIMARY KEY,
    endpoint_id INTEGER NOT NULL REFERENCES endpoints(id),
    fingerprint TEXT NOT NULL REFERENCES statements(fingerprint),
    kind TEXT NOT NULL,
    link TEXT NOT NULL,
    first_seen_ms REAL NOT NULL,
    last_seen_ms REAL NOT NULL,
    UNIQUE (endpoint_id, fingerprint)
  );
  CREATE TABLE endpoint_hours (
    endpoint_id INTEGER NOT NULL REFERENCES endpoints(id),
    hour INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    db_spans INTEGER NOT NULL,
    repeats INTEGER NOT NULL,
    wasted_ms REAL NOT NULL,
    rollup TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, hour)
  ) WITHOUT ROWID;
  CREATE TABLE finding_hours (
    finding_id INTEGER NOT NULL REFERENCES findings(id),
    hour INTEGER NOT NULL,
    requests_affected INTEGER NOT NULL,
    executions INTEGER NOT NULL,
    wasted_ms REAL NOT NULL,
    rollup TEXT NOT NULL,
    PRIMARY KEY (finding_id, hour)
  ) WITHOUT ROWID;
  CREATE TABLE fingerprint_hours (
    endpoint_id INTEGER NOT NULL REFERENCES endpoints(id),
    fingerprint TEXT NOT NULL REFERENCES statements(fingerprint),
    hour INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    executions INTEGER NOT NULL,
    total_ms REAL NOT NULL,
    rollup TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, fingerprint, hour)
  ) WITHOUT ROWID;
  CREATE TABLE examples (
    finding_id INTEGER PRIMARY KEY REFERENCES findings(id),
    trace_id TEXT NOT NULL,
    wasted_ms REAL NOT NULL,
    timeline TEXT NOT NULL
  );
  CREATE INDEX endpoint_hours_by_hour ON endpoint_hours(hour);
  `,
  // 2 (issue 18): connections held per process and second, and opened per hour, for
  // connection_pressure; per-route traffic (first/last seen, when and from whom) for dead_view,
  // kept for as long as the store lives: a route's history is what makes it dead.
  `
  CREATE TABLE connection_seconds (
    service TEXT NOT NULL,
    instance TEXT NOT NULL,
    second INTEGER NOT NULL,
    held INTEGER NOT NULL,
    held_ms REAL NOT NULL,
    db_ms REAL NOT NULL,
    opened INTEGER NOT NULL,
    PRIMARY KEY (service, second, instance)
  ) WITHOUT ROWID;
  CREATE TABLE connection_hours (
    service TEXT NOT NULL,
    hour INTEGER NOT NULL,
    db_requests INTEGER NOT NULL,
    observable_requests INTEGER NOT NULL,
    opened INTEGER NOT NULL,
    PRIMARY KEY (service, hour)
  ) WITHOUT ROWID;
  CREATE TABLE route_traffic (
    service TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    requests INTEGER NOT NULL,
    first_seen_ms REAL NOT NULL,
    last_seen_ms REAL NOT NULL,
    pattern TEXT NOT NULL,
    PRIMARY KEY (service, endpoint)
  ) WITHOUT ROWID;
  `,
  // 3 (issue 10): where the example request issued the repeated query and evaluated its trigger (CodeLocation JSON).
  `
  ALTER TABLE examples ADD COLUMN location TEXT;
  ALTER TABLE examples ADD COLUMN trigger_location TEXT;
  `,
  // 4: people's decisions about findings (web UI acknowledge / ignore), by signature, with reason and expiry.
  `
  CREATE TABLE acknowledgements (
    signature TEXT PRIMARY KEY,
    service TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    kind TEXT NOT NULL,
    table_name TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('acknowledged', 'ignored')),
    reason TEXT NOT NULL,
    expires TEXT,
    created_ms REAL NOT NULL
  );
  `,
  // 5: rollups() reads fingerprint_hours by endpoint and hour; the primary key (endpoint, fingerprint,
  // hour) made each such read scan every hour of the endpoint's fingerprints.
  `
  CREATE INDEX fingerprint_hours_by_endpoint_hour ON fingerprint_hours(endpoint_id, hour);
  `,
  // 6: traces whose analysis is committed, so replaying the spool after a crash counts none twice.
  `
  CREATE TABLE spool_committed (
    trace_id TEXT PRIMARY KEY,
    committed_ms REAL NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX spool_committed_by_time ON spool_committed(committed_ms);
  `,
  // 7: narrow additive summaries of the hourly rows, so the overview sums a period in SQL instead of
  // decoding every hour's JSON. Hour rows are written with the hourly rollups (and backfilled here);
  // 6-hour, day and week rows are built from them once their period is over (summary_blocks says
  // which are built; a late write to an hour drops its blocks' marks). Duration histograms (JSON
  // [bucket, count] pairs) of the coarse blocks sit apart, keyed statement first, so the sums scan
  // narrow rows and a slow statement's histograms are one range read (hours read fingerprint_hours).
  `
  CREATE TABLE summary_endpoints (
    size INTEGER NOT NULL,
    start INTEGER NOT NULL,
    endpoint_id INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    db_spans INTEGER NOT NULL,
    wasted_ms REAL NOT NULL,
    first_seen_ms REAL NOT NULL,
    last_seen_ms REAL NOT NULL,
    outbound_requests INTEGER NOT NULL,
    outbound_ms REAL NOT NULL,
    PRIMARY KEY (size, start, endpoint_id)
  ) WITHOUT ROWID;
  CREATE TABLE summary_queries (
    size INTEGER NOT NULL,
    start INTEGER NOT NULL,
    endpoint_id INTEGER NOT NULL,
    queries INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    PRIMARY KEY (size, start, endpoint_id, queries)
  ) WITHOUT ROWID;
  CREATE TABLE summary_noise (
    size INTEGER NOT NULL,
    start INTEGER NOT NULL,
    endpoint_id INTEGER NOT NULL,
    rule TEXT NOT NULL,
    dropped INTEGER NOT NULL,
    PRIMARY KEY (size, start, endpoint_id, rule)
  ) WITHOUT ROWID;
  CREATE TABLE summary_findings (
    size INTEGER NOT NULL,
    start INTEGER NOT NULL,
    finding_id INTEGER NOT NULL,
    requests_affected INTEGER NOT NULL,
    executions INTEGER NOT NULL,
    wasted_ms REAL NOT NULL,
    PRIMARY KEY (size, start, finding_id)
  ) WITHOUT ROWID;
  CREATE TABLE summary_selects (
    size INTEGER NOT NULL,
    start INTEGER NOT NULL,
    endpoint_id INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    requests INTEGER NOT NULL,
    executions INTEGER NOT NULL,
    total_ms REAL NOT NULL,
    max_ms REAL NOT NULL,
    PRIMARY KEY (size, start, endpoint_id, fingerprint)
  ) WITHOUT ROWID;
  CREATE TABLE summary_durations (
    endpoint_id INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    size INTEGER NOT NULL,
    start INTEGER NOT NULL,
    durations TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, fingerprint, size, start)
  ) WITHOUT ROWID;
  CREATE TABLE summary_blocks (
    size INTEGER NOT NULL,
    start INTEGER NOT NULL,
    PRIMARY KEY (size, start)
  ) WITHOUT ROWID;
  INSERT INTO summary_endpoints
    SELECT 3600000, hour, endpoint_id, requests, db_spans, wasted_ms, rollup ->> '$.firstSeenMs', rollup ->> '$.lastSeenMs',
      rollup ->> '$.outbound.requests', rollup ->> '$.outbound.totalMs'
    FROM endpoint_hours;
  INSERT INTO summary_queries
    SELECT 3600000, h.hour, h.endpoint_id, q.value ->> 0, q.value ->> 1 FROM endpoint_hours h, json_each(h.rollup, '$.queriesPerRequest') q;
  INSERT INTO summary_noise
    SELECT 3600000, h.hour, h.endpoint_id, n.key, n.value FROM endpoint_hours h, json_each(h.rollup, '$.noiseDropped') n;
  INSERT INTO summary_findings SELECT 3600000, hour, finding_id, requests_affected, executions, wasted_ms FROM finding_hours;
  INSERT INTO summary_selects
    SELECT 3600000, h.hour, h.endpoint_id, h.fingerprint, h.requests, h.executions, h.total_ms, h.rollup ->> '$.example.maxMs'
    FROM fingerprint_hours h JOIN statements s ON s.fingerprint = h.fingerprint
    WHERE s.facts ->> '$.operation' = 'SELECT' AND NOT coalesce(s.facts ->> '$.transactionControl', 0)
      AND NOT EXISTS (SELECT 1 FROM findings f JOIN finding_hours fh ON fh.finding_id = f.id
                      WHERE f.endpoint_id = h.endpoint_id AND f.fingerprint = h.fingerprint AND fh.hour = h.hour);
  `,
  // 8: retention deletes and period reads go by hour in every hourly table.
  `
  CREATE INDEX IF NOT EXISTS finding_hours_by_hour ON finding_hours(hour);
  CREATE INDEX IF NOT EXISTS fingerprint_hours_by_hour ON fingerprint_hours(hour);
  CREATE INDEX IF NOT EXISTS connection_hours_by_hour ON connection_hours(hour);
  CREATE INDEX IF NOT EXISTS connection_seconds_by_second ON connection_seconds(second);
  `,
  // 9: minute rows beside the hourly ones, kept for the last 48 h, so a period's edges within them are
  // exact to the minute (`since=10m`, a digest six minutes after traffic); older edges stay whole hours.
  // The period summaries take minute rows in their existing tables (size 60000).
  `
  CREATE TABLE IF NOT EXISTS endpoint_minutes (
    endpoint_id INTEGER NOT NULL REFERENCES endpoints(id),
    minute INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    db_spans INTEGER NOT NULL,
    repeats INTEGER NOT NULL,
    wasted_ms REAL NOT NULL,
    rollup TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, minute)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS finding_minutes (
    finding_id INTEGER NOT NULL REFERENCES findings(id),
    minute INTEGER NOT NULL,
    requests_affected INTEGER NOT NULL,
    executions INTEGER NOT NULL,
    wasted_ms REAL NOT NULL,
    rollup TEXT NOT NULL,
    PRIMARY KEY (finding_id, minute)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS fingerprint_minutes (
    endpoint_id INTEGER NOT NULL REFERENCES endpoints(id),
    fingerprint TEXT NOT NULL REFERENCES statements(fingerprint),
    minute INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    executions INTEGER NOT NULL,
    total_ms REAL NOT NULL,
    rollup TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, fingerprint, minute)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS connection_minutes (
    service TEXT NOT NULL,
    minute INTEGER NOT NULL,
    db_requests INTEGER NOT NULL,
    observable_requests INTEGER NOT NULL,
    opened INTEGER NOT NULL,
    PRIMARY KEY (service, minute)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS endpoint_minutes_by_minute ON endpoint_minutes(minute);
  CREATE INDEX IF NOT EXISTS finding_minutes_by_minute ON finding_minutes(minute);
  CREATE INDEX IF NOT EXISTS fingerprint_minutes_by_minute ON fingerprint_minutes(minute);
  CREATE INDEX IF NOT EXISTS fingerprint_minutes_by_endpoint_minute ON fingerprint_minutes(endpoint_id, minute);
  CREATE INDEX IF NOT EXISTS connection_minutes_by_minute ON connection_minutes(minute);
  `,
  // 10: dated events of the store's own history; 'minute_rows_since' is when a store with hour rows
  // gained minute rows (see MINUTE_ROWS_MARK), so the hour of that upgrade is read whole.
  `
  CREATE TABLE IF NOT EXISTS store_marks (
    name TEXT PRIMARY KEY,
    at_ms INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
  // 11: committed traces as one row per write (a JSON array of trace ids), appended in id order and
  // indexed in memory (committed-index.ts): a row per trace, keyed by its random id, cost a page write
  // per trace once the table outgrew the cache.
  `
  CREATE TABLE spool_commits (
    id INTEGER PRIMARY KEY,
    committed_ms REAL NOT NULL,
    trace_ids TEXT NOT NULL
  );
  INSERT INTO spool_commits (committed_ms, trace_ids)
    SELECT committed_ms, json_group_array(trace_id) FROM spool_committed GROUP BY committed_ms ORDER BY committed_ms;
  DROP TABLE spool_committed;
  `,
  // 12: what serve learned of the peers an app calls (traces/peers.ts), shared so that a restart, the
  // other shards and the other instances start from it: opaque 1 learned to send no spans, 0 seen to
  // answer (which no later verdict overrides).
  `
  CREATE TABLE IF NOT EXISTS peer_verdicts (
    peer TEXT PRIMARY KEY,
    opaque INTEGER NOT NULL,
    changed_ms REAL NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS peer_verdicts_by_change ON peer_verdicts(changed_ms);
  `,
  // 13: the calls committed traces still await (a queued task; traces/assemble.ts pendingCalls),
  // pruned with the commits, so their later spans continue them after a restart or a crash too.
  `
  CREATE TABLE IF NOT EXISTS commit_awaits (
    trace_id TEXT PRIMARY KEY,
    committed_ms REAL NOT NULL,
    calls TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS commit_awaits_by_time ON commit_awaits(committed_ms);
  `,
  // 14: requests on PostgreSQL apart from those whose set-up shows, now that MySQL's shows too: the
  // advice for connection_pressure (PgBouncer or not) follows it. Until now only PostgreSQL's showed.
  `
  ALTER TABLE connection_hours ADD COLUMN postgresql_requests INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE connection_minutes ADD COLUMN postgresql_requests INTEGER NOT NULL DEFAULT 0;
  UPDATE connection_hours SET postgresql_requests = observable_requests;
  UPDATE connection_minutes SET postgresql_requests = observable_requests;
  `,
  // 15: queries outside any request (a test database's set-up, a management command, a script;
  // traces/assemble.ts isOutsideRequests) per hour and service, added with their traces' commit so a
  // replay counts them once; the report's summary reads them, its --service narrowing them. Hour rows
  // only (pruned with the others by the retention): a period's edge counts its hour whole.
  `
  CREATE TABLE IF NOT EXISTS outside_query_hours (
    hour INTEGER NOT NULL,
    service TEXT NOT NULL,
    queries INTEGER NOT NULL,
    PRIMARY KEY (hour, service)
  ) WITHOUT ROWID;
  `,
  // 16: per route, the requests answered 404 or 405 that were no use of it (detect/routes.ts usesRoute),
  // so a dead view says how many it set aside. A route with only those has a row of no request, its
  // first and last seen Infinity and -Infinity.
  `
  ALTER TABLE route_traffic ADD COLUMN set_aside INTEGER NOT NULL DEFAULT 0;
  `,
];

/**
 * The same schema for PostgreSQL, migration for migration (a test checks both lists have the same
 * length). Epoch-ms keys are bigint, durations double precision; JSON stays text, merged in code.
 */
export const POSTGRES_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE endpoints (
    id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    service text NOT NULL,
    endpoint text NOT NULL,
    first_seen_ms double precision NOT NULL,
    last_seen_ms double precision NOT NULL,
    UNIQUE (service, endpoint)
  );
  CREATE TABLE statements (
    fingerprint text PRIMARY KEY,
    sql text NOT NULL,
    facts text NOT NULL
  );
  CREATE TABLE findings (
    id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    endpoint_id integer NOT NULL REFERENCES endpoints(id),
    fingerprint text NOT NULL REFERENCES statements(fingerprint),
    kind text NOT NULL,
    link text NOT NULL,
    first_seen_ms double precision NOT NULL,
    last_seen_ms double precision NOT NULL,
    UNIQUE (endpoint_id, fingerprint)
  );
  CREATE TABLE endpoint_hours (
    endpoint_id integer NOT NULL REFERENCES endpoints(id),
    hour bigint NOT NULL,
    requests bigint NOT NULL,
    db_spans bigint NOT NULL,
    repeats bigint NOT NULL,
    wasted_ms double precision NOT NULL,
    rollup text NOT NULL,
    PRIMARY KEY (endpoint_id, hour)
  );
  CREATE TABLE finding_hours (
    finding_id integer NOT NULL REFERENCES findings(id),
    hour bigint NOT NULL,
    requests_affected bigint NOT NULL,
    executions bigint NOT NULL,
    wasted_ms double precision NOT NULL,
    rollup text NOT NULL,
    PRIMARY KEY (finding_id, hour)
  );
  CREATE TABLE fingerprint_hours (
    endpoint_id integer NOT NULL REFERENCES endpoints(id),
    fingerprint text NOT NULL REFERENCES statements(fingerprint),
    hour bigint NOT NULL,
    requests bigint NOT NULL,
    executions bigint NOT NULL,
    total_ms double precision NOT NULL,
    rollup text NOT NULL,
    PRIMARY KEY (endpoint_id, fingerprint, hour)
  );
  CREATE TABLE examples (
    finding_id integer PRIMARY KEY REFERENCES findings(id),
    trace_id text NOT NULL,
    wasted_ms double precision NOT NULL,
    timeline text NOT NULL
  );
  CREATE INDEX endpoint_hours_by_hour ON endpoint_hours(hour);
  `,
  `
  CREATE TABLE connection_seconds (
    service text NOT NULL,
    instance text NOT NULL,
    second bigint NOT NULL,
    held double precision NOT NULL,
    held_ms double precision NOT NULL,
    db_ms double precision NOT NULL,
    opened bigint NOT NULL,
    PRIMARY KEY (service, second, instance)
  );
  CREATE TABLE connection_hours (
    service text NOT NULL,
    hour bigint NOT NULL,
    db_requests bigint NOT NULL,
    observable_requests bigint NOT NULL,
    opened bigint NOT NULL,
    PRIMARY KEY (service, hour)
  );
  CREATE TABLE route_traffic (
    service text NOT NULL,
    endpoint text NOT NULL,
    requests bigint NOT NULL,
    first_seen_ms double precision NOT NULL,
    last_seen_ms double precision NOT NULL,
    pattern text NOT NULL,
    PRIMARY KEY (service, endpoint)
  );
  `,
  `
  ALTER TABLE examples ADD COLUMN location text;
  ALTER TABLE examples ADD COLUMN trigger_location text;
  `,
  `
  CREATE TABLE acknowledgements (
    signature text PRIMARY KEY,
    service text NOT NULL,
    endpoint text NOT NULL,
    kind text NOT NULL,
    table_name text NOT NULL,
    state text NOT NULL CHECK (state IN ('acknowledged', 'ignored')),
    reason text NOT NULL,
    expires text,
    created_ms double precision NOT NULL
  );
  `,
  `
  CREATE INDEX fingerprint_hours_by_endpoint_hour ON fingerprint_hours(endpoint_id, hour);
  `,
  `
  CREATE TABLE spool_committed (
    trace_id text PRIMARY KEY,
    committed_ms double precision NOT NULL
  );
  CREATE INDEX spool_committed_by_time ON spool_committed(committed_ms);
  `,
  // 7: the summary tables (SQLite fills them for its overview; PostgreSQL readers use the hourly rows).
  `
  CREATE TABLE summary_endpoints (size bigint NOT NULL, start bigint NOT NULL, endpoint_id integer NOT NULL, requests bigint NOT NULL,
    db_spans bigint NOT NULL, wasted_ms double precision NOT NULL, first_seen_ms double precision NOT NULL, last_seen_ms double precision NOT NULL,
    outbound_requests bigint NOT NULL, outbound_ms double precision NOT NULL, PRIMARY KEY (size, start, endpoint_id));
  CREATE TABLE summary_queries (size bigint NOT NULL, start bigint NOT NULL, endpoint_id integer NOT NULL, queries bigint NOT NULL,
    requests bigint NOT NULL, PRIMARY KEY (size, start, endpoint_id, queries));
  CREATE TABLE summary_noise (size bigint NOT NULL, start bigint NOT NULL, endpoint_id integer NOT NULL, rule text NOT NULL,
    dropped bigint NOT NULL, PRIMARY KEY (size, start, endpoint_id, rule));
  CREATE TABLE summary_findings (size bigint NOT NULL, start bigint NOT NULL, finding_id integer NOT NULL, requests_affected bigint NOT NULL,
    executions bigint NOT NULL, wasted_ms double precision NOT NULL, PRIMARY KEY (size, start, finding_id));
  CREATE TABLE summary_selects (size bigint NOT NULL, start bigint NOT NULL, endpoint_id integer NOT NULL, fingerprint text NOT NULL,
    requests bigint NOT NULL, executions bigint NOT NULL, total_ms double precision NOT NULL, max_ms double precision NOT NULL,
    PRIMARY KEY (size, start, endpoint_id, fingerprint));
  CREATE TABLE summary_durations (endpoint_id integer NOT NULL, fingerprint text NOT NULL, size bigint NOT NULL, start bigint NOT NULL,
    durations text NOT NULL, PRIMARY KEY (endpoint_id, fingerprint, size, start));
  CREATE TABLE summary_blocks (size bigint NOT NULL, start bigint NOT NULL, PRIMARY KEY (size, start));
  `,
  `
  CREATE INDEX IF NOT EXISTS finding_hours_by_hour ON finding_hours(hour);
  CREATE INDEX IF NOT EXISTS fingerprint_hours_by_hour ON fingerprint_hours(hour);
  CREATE INDEX IF NOT EXISTS connection_hours_by_hour ON connection_hours(hour);
  CREATE INDEX IF NOT EXISTS connection_seconds_by_second ON connection_seconds(second);
  `,
  // 9: minute rows for the last 48 h (see the SQLite list).
  `
  CREATE TABLE IF NOT EXISTS endpoint_minutes (
    endpoint_id integer NOT NULL REFERENCES endpoints(id),
    minute bigint NOT NULL,
    requests bigint NOT NULL,
    db_spans bigint NOT NULL,
    repeats bigint NOT NULL,
    wasted_ms double precision NOT NULL,
    rollup text NOT NULL,
    PRIMARY KEY (endpoint_id, minute)
  );
  CREATE TABLE IF NOT EXISTS finding_minutes (
    finding_id integer NOT NULL REFERENCES findings(id),
    minute bigint NOT NULL,
    requests_affected bigint NOT NULL,
    executions bigint NOT NULL,
    wasted_ms double precision NOT NULL,
    rollup text NOT NULL,
    PRIMARY KEY (finding_id, minute)
  );
  CREATE TABLE IF NOT EXISTS fingerprint_minutes (
    endpoint_id integer NOT NULL REFERENCES endpoints(id),
    fingerprint text NOT NULL REFERENCES statements(fingerprint),
    minute bigint NOT NULL,
    requests bigint NOT NULL,
    executions bigint NOT NULL,
    total_ms double precision NOT NULL,
    rollup text NOT NULL,
    PRIMARY KEY (endpoint_id, fingerprint, minute)
  );
  CREATE TABLE IF NOT EXISTS connection_minutes (
    service text NOT NULL,
    minute bigint NOT NULL,
    db_requests bigint NOT NULL,
    observable_requests bigint NOT NULL,
    opened bigint NOT NULL,
    PRIMARY KEY (service, minute)
  );
  CREATE INDEX IF NOT EXISTS endpoint_minutes_by_minute ON endpoint_minutes(minute);
  CREATE INDEX IF NOT EXISTS finding_minutes_by_minute ON finding_minutes(minute);
  CREATE INDEX IF NOT EXISTS fingerprint_minutes_by_minute ON fingerprint_minutes(minute);
  CREATE INDEX IF NOT EXISTS fingerprint_minutes_by_endpoint_minute ON fingerprint_minutes(endpoint_id, minute);
  CREATE INDEX IF NOT EXISTS connection_minutes_by_minute ON connection_minutes(minute);
  `,
  `
  CREATE TABLE IF NOT EXISTS store_marks (name text PRIMARY KEY, at_ms bigint NOT NULL);
  `,
  // 11: nothing. PostgreSQL keeps a row per committed trace: its WAL logs the row, not the page, and
  // instances writing at once need the unique index to count a trace once.
  `
  SELECT 1;
  `,
  `
  CREATE TABLE IF NOT EXISTS peer_verdicts (peer text PRIMARY KEY, opaque boolean NOT NULL, changed_ms double precision NOT NULL);
  CREATE INDEX IF NOT EXISTS peer_verdicts_by_change ON peer_verdicts(changed_ms);
  `,
  `
  CREATE TABLE IF NOT EXISTS commit_awaits (trace_id text PRIMARY KEY, committed_ms double precision NOT NULL, calls text NOT NULL);
  CREATE INDEX IF NOT EXISTS commit_awaits_by_time ON commit_awaits(committed_ms);
  `,
  `
  ALTER TABLE connection_hours ADD COLUMN IF NOT EXISTS postgresql_requests bigint NOT NULL DEFAULT 0;
  ALTER TABLE connection_minutes ADD COLUMN IF NOT EXISTS postgresql_requests bigint NOT NULL DEFAULT 0;
  UPDATE connection_hours SET postgresql_requests = observable_requests;
  UPDATE connection_minutes SET postgresql_requests = observable_requests;
  `,
  // 15: queries outside any request per hour and service (see the SQLite list).
  `
  CREATE TABLE IF NOT EXISTS outside_query_hours (hour bigint NOT NULL, service text NOT NULL, queries bigint NOT NULL, PRIMARY KEY (hour, service));
  `,
  // 16: requests set aside per route (see the SQLite list).
  `
  ALTER TABLE route_traffic ADD COLUMN IF NOT EXISTS set_aside bigint NOT NULL DEFAULT 0;
  `,
];

/** The schema version from which a store has minute rows (migration 9). */
const MINUTE_ROWS_VERSION = 9;
/** The store_marks row naming when a store that predates minute rows gained them. */
export const MINUTE_ROWS_MARK = 'minute_rows_since';

/** True when migrating from `version` upgrades a store that has hour rows but no minute rows yet. */
export const gainsMinuteRows = (version: number): boolean => version > 0 && version < MINUTE_ROWS_VERSION;

/**
 * Brings a database to the newest schema; refuses one written by a newer n1lens. Each step reads the
 * version and applies the next migration in one IMMEDIATE transaction, so processes opening a new
 * store at once (serve and a digest, say) take turns instead of both creating the same tables. A store
 * that gains minute rows now is marked with `nowMs` (see MINUTE_ROWS_MARK), in the last step's transaction.
 */
export function migrate(db: Database, nowMs: number): void {
  /** The schema version, checked to be one this n1lens understands. */
  const version = (): number => {
    const current = db.pragma('user_version', { simple: true }) as number;
    if (current > SQLITE_MIGRATIONS.length) {
      throw new Error(`database schema version ${current} is newer than this n1lens understands (${SQLITE_MIGRATIONS.length})`);
    }
    return current;
  };
  const from = version();
  if (from === SQLITE_MIGRATIONS.length) return; // up to date: no write lock (the file may be read-only)
  const step = db.transaction((): boolean => {
    const current = version();
    if (current === SQLITE_MIGRATIONS.length) return false;
    db.exec(SQLITE_MIGRATIONS[current]!);
    db.pragma(`user_version = ${current + 1}`);
    if (current + 1 === SQLITE_MIGRATIONS.length && gainsMinuteRows(from)) {
      db.prepare('INSERT INTO store_marks (name, at_ms) VALUES (?, ?) ON CONFLICT (name) DO NOTHING').run(MINUTE_ROWS_MARK, nowMs);
    }
    return true;
  });
  let more = true;
  while (more) more = step.immediate();
}

export const SCHEMA_VERSION = SQLITE_MIGRATIONS.length;
