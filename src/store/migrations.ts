/** The store's schema, as numbered migrations applied in order: SQLite's tracked in user_version, PostgreSQL's (the same logical schema, step for step) in n1lens_schema. */
import type { Database } from 'better-sqlite3';

const MIGRATIONS: readonly string[] = [
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
  // 7: retention deletes and period reads go by hour in every hourly table.
  `
  CREATE INDEX finding_hours_by_hour ON finding_hours(hour);
  CREATE INDEX fingerprint_hours_by_hour ON fingerprint_hours(hour);
  CREATE INDEX connection_hours_by_hour ON connection_hours(hour);
  CREATE INDEX connection_seconds_by_second ON connection_seconds(second);
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
  `
  CREATE INDEX finding_hours_by_hour ON finding_hours(hour);
  CREATE INDEX fingerprint_hours_by_hour ON fingerprint_hours(hour);
  CREATE INDEX connection_hours_by_hour ON connection_hours(hour);
  CREATE INDEX connection_seconds_by_second ON connection_seconds(second);
  `,
];

/** Brings a database to the newest schema; refuses one written by a newer n1lens. */
export function migrate(db: Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(`database schema version ${current} is newer than this n1lens understands (${MIGRATIONS.length})`);
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    const sql = MIGRATIONS[v];
    if (sql === undefined) continue;
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

export const SCHEMA_VERSION = MIGRATIONS.length;
