/**
 * connection_pressure: how many database connections a service opens and holds, read from the
 * requests' DB spans and summed per process over time buckets that merge by addition.
 *
 * What the spans show when Django opens a connection (recorded in testdata/connections, see its
 * README): on PostgreSQL, through psycopg 3 and psycopg2 alike, Django's `ensure_timezone()` runs
 * `SELECT set_config('TimeZone', %s, false)` as the connection's first statement (older Django:
 * `SET TIME ZONE %s`), and `assume_role` adds `SET ROLE` after it (a set-up only at a connection's
 * start: an app sets a role itself mid-request, on the connection it holds). On MySQL and MariaDB,
 * Django's `init_connection_state()` sends `SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED`
 * (its default isolation_level), after `SET SQL_AUTO_IS_NULL = 0; ` where the server has that on,
 * through the connection's own cursor (older Django: `SET TX_ISOLATION = '…'`); OPTIONS'
 * init_command runs inside the driver's connect, untraced. Neither Python instrumentation emits a
 * connect span or `db.client.connection.*` attributes. SQLite holds no server connection at all:
 * its spans take no part here.
 * The time-zone statement only runs when the server's TimeZone differs from settings.TIME_ZONE (and
 * MySQL's not with isolation_level None), so "no set-up seen" means "unknown", never "no connection
 * opened".
 */
/** What one request did with connections (detect/request.ts reads it in its pass over the DB spans). */
export interface ConnectionUse {
  /** Connections it opened: runs of set-up statements. */
  opened: number;
  /** True on a system whose set-up can show (PostgreSQL, MySQL, MariaDB). */
  observable: boolean;
  /** On PostgreSQL: PgBouncer and PostgreSQL's settings apply. */
  postgresql: boolean;
  /** From its first DB call to its end: when Django (CONN_MAX_AGE=0) holds a connection for it. */
  heldFromMs: number;
  heldUntilMs: number;
  /** Time in DB calls: what a transaction-mode pooler needs a server connection for. */
  dbMs: number;
}

/** What a statement says about the connection it runs on (connectionSetupOf). */
export type ConnectionSetup = typeof SETUP_NONE | typeof SETUP_OPENS | typeof SETUP_AT_START;
/** Not a set-up statement. */
export const SETUP_NONE = 0;
/** Django runs it on every new connection and an app has no reason to: wherever it shows, a run of set-up starts there. */
export const SETUP_OPENS = 1;
/**
 * Set-up only at a connection's start: the first statement on it in the request, or right after
 * other set-up. An app issues the same statement itself mid-request (`SET ROLE` around a report),
 * on the connection it already holds.
 */
export const SETUP_AT_START = 2;

// After any leading comment. Django's time zone (PostgreSQL's ensure_timezone), and its MySQL
// backend's session isolation level and SQL_AUTO_IS_NULL. Not SET TRANSACTION ISOLATION LEVEL without
// SESSION: an app's setting for its next transaction, on the connection it holds.
const SETUP_OPENING =
  /^\s*(?:\/\*[\s\S]*?\*\/\s*)?(?:SELECT\s+set_config\s*\(\s*'TimeZone'|SET\s+(?:SESSION\s+)?(?:TIME\s+ZONE|TIMEZONE)\b|SET\s+SESSION\s+TRANSACTION\s+ISOLATION\s+LEVEL\b|SET\s+(?:SQL_AUTO_IS_NULL|TX_ISOLATION|TRANSACTION_ISOLATION)\s*=)/i;
// Django's assume_role (PostgreSQL); MySQL's session sql_mode and character set (an init_command
// some drivers trace). Not search_path: django-tenants sets it before every cursor of a persistent
// connection, so it opens nothing.
const SETUP_AT_CONNECTION_START =
  /^\s*(?:\/\*[\s\S]*?\*\/\s*)?(?:SELECT\s+set_config\s*\(\s*'role'|SET\s+(?:SESSION\s+)?(?:ROLE|NAMES)\b|SET\s+(?:SESSION\s+|@@(?:SESSION\.)?)?sql_mode\s*=)/i;

/** Whether a statement is one a driver or Django runs to set a new connection up (each run of them opened one), and where it counts. */
export function connectionSetupOf(statement: string): ConnectionSetup {
  const c = statement.charCodeAt(0);
  // Cheap first test: every set-up statement starts with S/s, or a comment or blank before it.
  if (c !== 83 && c !== 115 && c !== 47 && c !== 32 && c !== 10 && c !== 9) return SETUP_NONE;
  if (SETUP_OPENING.test(statement)) return SETUP_OPENS;
  return SETUP_AT_CONNECTION_START.test(statement) ? SETUP_AT_START : SETUP_NONE;
}

/** True for a statement that can set a new connection up, wherever it counts (connectionSetupOf). */
export function isConnectionSetup(statement: string): boolean {
  return connectionSetupOf(statement) !== SETUP_NONE;
}

/** Systems where Django's set-up statements can show in the spans. */
export const OBSERVABLE_SYSTEMS: ReadonlySet<string> = new Set(['postgresql', 'postgres', 'mysql', 'mariadb']);

/** PostgreSQL's names (old and stable). */
export const POSTGRESQL_SYSTEMS: ReadonlySet<string> = new Set(['postgresql', 'postgres']);

/**
 * DB spans of these systems (db.system / db.system.name, old and stable names) hold no server
 * connection: a cache's, a search index's or a document store's calls (Django's cache on Redis or
 * Memcached, traced by their instrumentations with a statement, `GET ?`), and SQLite, a file the
 * process opens itself, with no max_connections and nothing for a pooler to share.
 */
const NOT_A_DATABASE_CONNECTION: ReadonlySet<string> = new Set([
  'sqlite', 'redis', 'memcached', 'mongodb', 'elasticsearch', 'opensearch', 'cassandra', 'couchbase', 'couchdb',
  'cosmosdb', 'azure.cosmosdb', 'dynamodb', 'aws.dynamodb', 'hbase', 'neo4j', 'geode', 'coherence', 'influxdb',
]);

/** True for a DB span that runs on one of the app's database server connections, false for SQLite or a cache or search call. */
export const holdsConnection = (system: string): boolean => !NOT_A_DATABASE_CONNECTION.has(system);

/** One process's second: [requests holding a connection at its first instant, connection-ms held in it, DB ms started in it, connections opened in it]. */
export type ConnectionSecond = [held: number, heldMs: number, dbMs: number, opened: number];

/** A service's connections over time, per process (SpanRecord.instance, '' when unknown). Every figure adds. */
export interface ConnectionRollup {
  service: string;
  /** Requests with a DB call. */
  dbRequests: number;
  /** Of those, on a system whose set-up statements show (PostgreSQL, MySQL, MariaDB). */
  observableRequests: number;
  /** Of those, on PostgreSQL. */
  postgresqlRequests: number;
  opened: number;
  /** instance → epoch second → figures. */
  seconds: Map<string, Map<number, ConnectionSecond>>;
}

export function emptyConnectionRollup(service: string): ConnectionRollup {
  return { service, dbRequests: 0, observableRequests: 0, postgresqlRequests: 0, opened: 0, seconds: new Map() };
}

/** A request held for hours (a long task) is counted for its first hour only. */
const MAX_SECONDS_PER_REQUEST = 3600;

function secondOf(seconds: Map<number, ConnectionSecond>, s: number): ConnectionSecond {
  let row = seconds.get(s);
  if (row === undefined) {
    row = [0, 0, 0, 0];
    seconds.set(s, row);
  }
  return row;
}

/** Adds one request's connection use. */
export function addConnectionUse(rollup: ConnectionRollup, instance: string, use: ConnectionUse): void {
  rollup.dbRequests++;
  if (use.observable) rollup.observableRequests++;
  if (use.postgresql) rollup.postgresqlRequests++;
  rollup.opened += use.opened;
  let seconds = rollup.seconds.get(instance);
  if (seconds === undefined) {
    seconds = new Map();
    rollup.seconds.set(instance, seconds);
  }
  const from = use.heldFromMs;
  const until = Math.max(use.heldUntilMs, from);
  const first = Math.floor(from / 1000);
  const start = secondOf(seconds, first);
  start[3] += use.opened;
  const last = Math.min(Math.floor(until / 1000), first + MAX_SECONDS_PER_REQUEST);
  // DB time is spread over the seconds held in proportion (the spans' own times are not kept).
  const dbPerMs = until > from ? use.dbMs / (until - from) : 0;
  if (until <= from) start[2] += use.dbMs;
  for (let s = first; s <= last; s++) {
    const lo = Math.max(from, s * 1000);
    const hi = Math.min(until, s * 1000 + 1000);
    // The instant sample at the second's start, as a poll of pg_stat_activity would see it.
    const holdsAtStart = from <= s * 1000 && s * 1000 < until;
    if (hi <= lo && !holdsAtStart) continue;
    const row = s === first ? start : secondOf(seconds, s);
    if (holdsAtStart) row[0]++;
    if (hi > lo) {
      row[1] += hi - lo;
      row[2] += (hi - lo) * dbPerMs;
    }
  }
}

export function mergeConnectionRollups(into: ConnectionRollup, from: ConnectionRollup): void {
  into.dbRequests += from.dbRequests;
  into.observableRequests += from.observableRequests;
  into.postgresqlRequests += from.postgresqlRequests;
  into.opened += from.opened;
  for (const [instance, seconds] of from.seconds) {
    let target = into.seconds.get(instance);
    if (target === undefined) {
      target = new Map();
      into.seconds.set(instance, target);
    }
    for (const [s, row] of seconds) {
      const t = secondOf(target, s);
      for (let i = 0; i < 4; i++) t[i]! += row[i]!;
    }
  }
}

export interface ConnectionDetectOptions {
  /** The database's max_connections; 100 (PostgreSQL's default) is assumed when absent. */
  dbMaxConnections?: number;
  /** Share of max_connections at peak that is pressure. Default 0.5 (the seed: 280 of 400). */
  pressureShare?: number;
  /** Share of requests opening a new connection that counts as churn (CONN_MAX_AGE=0). Default 0.5. */
  churnShare?: number;
  /** Connections opened per second, over the time the traffic was active (activeTimeSeconds), before churn matters. Default 1. */
  churnMinPerSecond?: number;
  /** Requests with a DB call before churn is judged. Default 20. */
  churnMinRequests?: number;
}

/** PostgreSQL's default max_connections. */
export const DEFAULT_MAX_CONNECTIONS = 100;

/** The figures of a connection_pressure finding. */
export interface ConnectionPressure {
  /** Connections held across the fleet at the busiest sampled instant (whole seconds). */
  peakConnections: number;
  peakAtMs: number;
  /** Processes seen (with a DB call), and the sum of each one's own peak: what per-worker persistent connections would hold. */
  processes: number;
  perProcessPeakSum: number;
  /** Server connections a transaction-mode pooler needs at the busiest second: DB time / 1 s, rounded up. */
  dbBusyPeak: number;
  /**
   * Connections opened: total, per second over the time the traffic was active (activeTimeSeconds), and per request with a
   * DB call (the share of requests that opened one; above 1 when requests open several, one per
   * database alias); null without a set-up signal.
   */
  opened: number | null;
  openedPerSecond: number | null;
  newConnectionShare: number | null;
  /** Seconds with DB activity, and the whole period they span. */
  activeSeconds: number;
  firstMs: number;
  lastMs: number;
  dbRequests: number;
  maxConnections: number;
  maxConnectionsAssumed: boolean;
  shareOfMax: number;
  /** The service's database is PostgreSQL (its requests' DB spans say so): PgBouncer and PostgreSQL's settings apply. */
  postgresql: boolean;
  /** Persistent per-worker connections (perProcessPeakSum) would reach at least the pressure share of max_connections: a pooler is the cure, not CONN_MAX_AGE. */
  persistentWouldCrowd: boolean;
  /** Why it is a finding. */
  reasons: ('near_max_connections' | 'connection_per_request')[];
}

/**
 * Connections held in a second: the instant sample at its start, or more when the connection-ms
 * held in it say so (an average of 2.3 over the second means at least 3 at some instant).
 */
function atLeast(held: number, heldMs: number): number {
  return Math.max(held, Math.ceil(heldMs / 1000 - 1e-9));
}

/**
 * The time connections were opened over, in seconds: the minutes that had a connection held, 60 s
 * each, and no more than the traffic spans, first second to last. Over the seconds with a request
 * only, an app serving one request a minute would open "1 connection a second"; over the whole span,
 * the same churn on two mornings a day apart (a report over two days, nights idle) would be diluted
 * by the night between them and fall under the threshold.
 */
function activeTimeSeconds(firstSecond: number, lastSecond: number, activeMinutes: number): number {
  return Math.min(lastSecond - firstSecond + 1, activeMinutes * 60);
}

/** The service's connection figures, whether or not they make a finding. */
export function connectionFigures(rollup: ConnectionRollup, options: ConnectionDetectOptions = {}): ConnectionPressure | null {
  const fleet = new Map<number, { held: number; heldMs: number; dbMs: number }>();
  let perProcessPeakSum = 0;
  let processes = 0;
  for (const seconds of rollup.seconds.values()) {
    let peak = 0;
    processes++;
    for (const [s, [held, heldMs, dbMs]] of seconds) {
      peak = Math.max(peak, atLeast(held, heldMs));
      const f = fleet.get(s);
      if (f === undefined) fleet.set(s, { held, heldMs, dbMs });
      else {
        f.held += held;
        f.heldMs += heldMs;
        f.dbMs += dbMs;
      }
    }
    perProcessPeakSum += peak;
  }
  if (fleet.size === 0) return null;
  let peakConnections = -1;
  let peakSecond = 0;
  let dbBusyPeak = 0;
  let first = Infinity;
  let last = -Infinity;
  const minutes = new Set<number>();
  for (const [s, f] of fleet) {
    minutes.add(Math.floor(s / 60));
    const held = atLeast(f.held, f.heldMs);
    if (held > peakConnections || (held === peakConnections && s < peakSecond)) {
      peakConnections = held;
      peakSecond = s;
    }
    dbBusyPeak = Math.max(dbBusyPeak, Math.ceil(f.dbMs / 1000 - 1e-9));
    first = Math.min(first, s);
    last = Math.max(last, s);
  }
  const known = rollup.observableRequests > 0 && rollup.opened > 0;
  const maxConnections = options.dbMaxConnections ?? DEFAULT_MAX_CONNECTIONS;
  const activeSeconds = fleet.size;
  const shareOfMax = peakConnections / maxConnections;
  const reasons: ConnectionPressure['reasons'] = [];
  const pressureShare = options.pressureShare ?? 0.5;
  if (shareOfMax >= pressureShare) reasons.push('near_max_connections');
  const newConnectionShare = known ? rollup.opened / rollup.observableRequests : null;
  const openedPerSecond = known ? rollup.opened / activeTimeSeconds(first, last, minutes.size) : null;
  if (
    newConnectionShare !== null &&
    openedPerSecond !== null &&
    rollup.observableRequests >= (options.churnMinRequests ?? 20) &&
    newConnectionShare >= (options.churnShare ?? 0.5) &&
    openedPerSecond >= (options.churnMinPerSecond ?? 1)
  ) {
    reasons.push('connection_per_request');
  }
  return {
    peakConnections,
    peakAtMs: peakSecond * 1000,
    processes,
    perProcessPeakSum,
    dbBusyPeak,
    opened: known ? rollup.opened : null,
    openedPerSecond,
    newConnectionShare,
    activeSeconds,
    firstMs: first * 1000,
    lastMs: last * 1000 + 1000,
    dbRequests: rollup.dbRequests,
    maxConnections,
    maxConnectionsAssumed: options.dbMaxConnections === undefined,
    shareOfMax,
    postgresql: rollup.postgresqlRequests > 0,
    persistentWouldCrowd: perProcessPeakSum >= pressureShare * maxConnections,
    reasons,
  };
}

/** connection_pressure for one service: its figures when they are pressure, null otherwise. */
export function detectConnectionPressure(rollup: ConnectionRollup, options: ConnectionDetectOptions = {}): ConnectionPressure | null {
  const figures = connectionFigures(rollup, options);
  return figures !== null && figures.reasons.length > 0 ? figures : null;
}
