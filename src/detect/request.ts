/** Per-request detection: groups a request's DB spans by fingerprint, finds cascades and links each to its trigger. */
import { createNoiseFilter, type NoiseFilter } from '../sql/noise.js';
import type { NormalizedSql, SqlFacts } from '../sql/types.js';
import { DB_STRIDE, dbColumnsOf } from '../traces/compact.js';
import type { ColumnRequest, Request } from '../traces/request.js';
import { splitCatchAll } from './catch-all.js';
import { OBSERVABLE_SYSTEMS, POSTGRESQL_SYSTEMS, SETUP_AT_START, SETUP_OPENS, holdsConnection, type ConnectionSetup, type ConnectionUse } from './connections.js';
import { joinedTables, qualifiedTable, stepsToJoined } from './joins.js';
import { conventionLinks, type TableLinks } from './links.js';
import { locationOfExecutions, otherLocationsOf, requestControllerOf } from './location.js';
import { createStatementMemo, type Normalizer, type StatementMemo } from './statements.js';
import type {
  Cascade,
  CodeLocation,
  FingerprintUse,
  LeafShape,
  OutboundSummary,
  RelationStep,
  RequestAnalysis,
  TimelineEntry,
  TriggerRef,
} from './types.js';

export interface DetectOptions {
  /** Executions of one fingerprint in one request that make a cascade. Default 5. */
  minRepeats?: number;
  /** Schema-backed links; Django's naming conventions when absent. */
  links?: TableLinks;
  /** sync_fanout: serial outbound calls in one request that count. Default 3. */
  fanoutMinCalls?: number;
  /** sync_fanout: share of the request's duration those calls must take. Default 0.5. */
  fanoutMinShare?: number;
  /** Extra framework-noise patterns (regular expressions over the normalised SQL), on top of sql/noise.ts's list. */
  ignoreSql?: readonly string[];
  /** A prepared noise filter (the Analyzer makes one per run so its memo is shared); built from ignoreSql when absent. */
  noiseFilter?: NoiseFilter;
  /** Statements' normalised results by their text apart from the comment (the Analyzer keeps one per run); one per request when absent. */
  statements?: StatementMemo;
}

export type { Normalizer } from './statements.js';

/** What one statement of a request gave (analyseColumns). */
interface SeenStatement {
  comment: string;
  /** The span's db.system, whose dialect the statement was read in. */
  system: string;
  n: NormalizedSql;
  /** Its group; undefined for noise. */
  g: Group | undefined;
  setup: ConnectionSetup;
  rule: string | null;
  /** Its shape is a keyset pager's (keysetColumn), and the bound it pages from when written in it (NaN for a placeholder or none). */
  keyset: boolean;
  bound: number;
}

interface Group {
  n: NormalizedSql;
  /** Its executions: counted in analyseColumns's pass over the spans, which then sizes the two arrays below. */
  executions: number;
  /** Index in the request's kept spans of each execution. */
  indices: number[];
  /** Duration of each execution, in the same order. */
  durations: number[];
  totalMs: number;
  maxMs: number;
  /**
   * Executions that wrote several rows at once (INSERT … VALUES (…), (…)): bulk writes already. The
   * VALUES rows collapse, so a create() loop shares its fingerprint with a bulk_create of the same
   * columns; only the single-row executions make a write loop.
   */
  multiRow: number;
  /** Where the page after the last execution's would start: its OFFSET plus its LIMIT. */
  nextOffset: number;
  /** The first execution's OFFSET, where a walk of this query's pages starts; and the last execution's. */
  firstOffset: number;
  lastOffset: number;
  /** Pages in the walk the last execution belongs to. */
  walkPages: number;
  /**
   * Every execution read a page of more than one row starting where the one before ended (OFFSET
   * and LIMIT inlined, as Django writes them), or started a new walk of two pages or more: pages
   * walked one after another (a Paginator in a task, once per status), not a query per row. A walk
   * starts again at the first page's OFFSET, or below the page before, once the walk before it
   * tiled. A per-row slice (`related.all()[n]`, `qs[i:i+3]`) starts where its row says, so its
   * windows repeat, overlap or skip.
   */
  paged: boolean;
  /**
   * Every execution read a page of more than one row after (or before, DESC) a bound on the column it
   * is ordered by, each bound past the one before where the statements carry it: a keyset pager
   * (`filter(id__gt=last).order_by('id')[:500]`), walking a table as OFFSET pages do, not a query
   * per row. With placeholders (psycopg's spans) the shape alone decides; a query of one row per
   * row (`LIMIT 1`), or bounds that go back, is a query per row.
   */
  keyset: boolean;
  /** The last execution's bound, NaN when none was written. */
  lastBound: number;
  /** The smallest step between two executions' bounds (Infinity before two); NaN once a bound was no integer. */
  minStep: number;
  /** Whether a keyset-shaped group walks rows rather than pages (walksRows), once asked: -1 not yet, 0 no, 1 yes. */
  rowWalk: number;
  /** The longest IN list an execution held (facts.inValues; 0 for none), and how many executions held one that long. */
  inMax: number;
  atInMax: number;
}

/**
 * The fewest values each full chunk of a chunked IN batch holds. Django cuts a long `__in` list into
 * chunks of one size: `in_bulk` and the deletion collector by the backend's parameter limit (999 on
 * SQLite, or 999 / fields), a prefetch by `iterator(chunk_size=…)` (2,000 by default). A query per
 * row carries that row's few values, and rarely the same number every row.
 */
const MIN_CHUNK = 100;

/**
 * Every execution but at most one (the remainder) holds an IN list of the same length, of MIN_CHUNK
 * values or more, and that list is the query's only equality filter: one list cut into chunks (a
 * bounded batch), not a query per row. A query that also filters on a column by equality is still
 * a query per row of that column, whatever its IN list holds: `a.note_set.filter(author_id__in=team)`
 * per application carries the same long list of team members every row, and the row's own
 * `application_id = %s`.
 */
function chunkedBatch(g: Group): boolean {
  if (g.inMax < MIN_CHUNK || g.atInMax < g.indices.length - 1) return false;
  const inFilters = g.n.facts.inFilters ?? [];
  return g.n.facts.equalityFilters.every((f) => inFilters.includes(f));
}

/**
 * The column a keyset pager walks: a SELECT of pages (LIMIT inlined, above 1, no OFFSET) ordered
 * first by the one column its WHERE bounds by a range; undefined for any other statement.
 */
function keysetColumn(facts: SqlFacts): string | undefined {
  if (facts.operation !== 'SELECT' || facts.limit === null || facts.limit <= 1 || facts.offset !== undefined) return undefined;
  const order = facts.orderBy[0];
  return order !== undefined && facts.rangeFilters.length === 1 && facts.rangeFilters[0] === order.column ? order.column : undefined;
}

/**
 * A group that walks pages by keyset (Group.keyset). Where no execution carried its bound (psycopg's
 * placeholders) and the statement is filtered on a key to another table (its own table's or a joined
 * one's), the shape is also a parent's rows read per parent
 * (`a.note_set.filter(created__gte=since).order_by('-created')[:5]` in a loop):
 * a query per row, as it was before keyset walks were told apart; so is one that `walksRows` says
 * runs once per row of an earlier list (`filter(start__gt=e.start).order_by('start')[:3]` per event).
 * A walk whose bounds were seen moving on is a pager whatever else it filters on, unless its integer
 * bounds on the primary key step by less than a page: each page of a walk after a key (`id > last`)
 * holds LIMIT distinct keys above it, so the next bound is at least LIMIT - 1 further on (LIMIT
 * with `>`, one less where `>=` reads the last row again); the next id after each row's steps by
 * the gap between rows.
 */
function keysetPager(g: Group, links: TableLinks, walksRows: (g: Group) => boolean): boolean {
  if (!g.keyset) return false;
  const facts = g.n.facts;
  if (!Number.isNaN(g.lastBound)) {
    const pk = `${facts.table}.${links.primaryKey(facts.table)}`;
    return !(facts.orderBy[0]!.column === pk && g.minStep < facts.limit! - 1);
  }
  // The key may be the queried table's or a joined one's (filter(application__job=job)).
  const keyed = facts.equalityFilters.some((f) => {
    const column = columnName(f);
    return column.endsWith('_id') || links.foreignKeyTarget(tableName(f), column) !== undefined;
  });
  if (keyed) return false;
  if (g.rowWalk < 0) g.rowWalk = walksRows(g) ? 1 : 0;
  return g.rowWalk === 0;
}

/**
 * Whether a keyset-shaped group runs once per row of an earlier list rather than once per page: its
 * own table was read whole (no LIMIT) before its first execution, in the order it bounds (the events
 * by start, then the next few after each); or another query, keyed by a row of a list read before
 * its first execution (TriggerResolver.rowsParent) and of its own table, runs exactly once between
 * each two of its executions. Both then walk that list, one query per row (a template reading
 * `e.venue` beside the events after `e`); a list of another table is what a task walks pages for
 * (each queued export's job checked once per page). A walk has no use for its table read whole
 * first (it may start from one row, `.first()`); its own per-row work runs once per row of each
 * page, LIMIT (above 1) times between two pages; and a row checked once per page (the task's job)
 * is one row read once, not a list's.
 */
function walksRowsBeside(g: Group, groups: ReadonlyMap<string, Group>, parentRowsOf: (h: Group) => Group | undefined): boolean {
  const at = g.indices;
  const first = at[0]!;
  const { table, orderBy } = g.n.facts;
  for (const h of groups.values()) {
    const f = h.n.facts;
    // Read whole: no LIMIT, not even one a placeholder gives (facts.limit is null for both).
    const whole = f.limit === null && !h.n.sql.includes(' LIMIT ');
    if (h !== g && h.indices[0]! < first && f.operation === 'SELECT' && f.table === table && whole && f.orderBy[0]?.column === orderBy[0]!.column) return true;
  }
  for (const h of groups.values()) {
    if (h === g || h.keyset || Math.abs(h.indices.length - at.length) > 1 || !oncePerGap(at, h.indices)) continue;
    const parent = parentRowsOf(h);
    if (parent !== undefined && parent !== g && parent.n.facts.table === table && parent.indices[0]! < first) return true;
  }
  return false;
}

/** Whether `other` (sorted, like `at`) has exactly one index between each two consecutive indices of `at`. */
function oncePerGap(at: readonly number[], other: readonly number[]): boolean {
  let k = 0;
  while (k < other.length && other[k]! < at[0]!) k++;
  for (let i = 1; i < at.length; i++) {
    if (k >= other.length || other[k]! > at[i]!) return false;
    k++;
    if (k < other.length && other[k]! < at[i]!) return false;
  }
  return true;
}

/** A number compared by `>`, `>=`, `<` or `<=` in a keyset pager's statement (its only range): the bound. */
const RANGE_BOUND = /[<>]=?\s*(-?\d+(?:\.\d+)?)(?![\w.])/;

/** The bound a keyset pager's statement pages from, NaN when it is a placeholder. */
function boundOf(statement: string): number {
  const m = RANGE_BOUND.exec(statement);
  return m === null ? NaN : Number(m[1]);
}

/** How a repeated query is tied to the rows of an earlier one. */
type Shape =
  /**
   * A row of `table` by its primary key. `parentLink` is set when that key is also the row's
   * pointer to another table (a multi-table-inheritance child's `place_ptr_id`, a one-to-one
   * primary key): read from that table's rows, the step is its reverse one-to-one. `toColumn` is set
   * when the row is read by a column besides its pk that keys hold (a ForeignKey's `to_field`).
   */
  | { kind: 'forward'; table: string; parentLink?: { column: string; parentTable: string }; toColumn?: string }
  | { kind: 'reverse'; table: string; column: string; parentTable: string | undefined; viaIn: boolean; inherited?: { table: string; pointer: string } }
  | { kind: 'm2m'; table: string; through: string; sourceColumn: string; targetColumn: string; parentTable: string | undefined }
  | { kind: 'unknown' };

const MAX_CHAIN = 8;

/** Analyses one assembled request. Pure: the same request and options give the same analysis. */
export function analyseRequest(request: Request, normalize: Normalizer, options: DetectOptions = {}): RequestAnalysis {
  const { dbSpans, ...rest } = request;
  return analyseColumns({ ...rest, db: dbColumnsOf(dbSpans), dbOrder: dbSpans.map((_, i) => i) }, normalize, options);
}

/** What analyseColumns's pass over a request's DB spans gathers. */
interface SpanPass {
  /** Framework-internal statements dropped, by rule. */
  noise: Record<string, number>;
  /** Column index of each DB span that takes part in detection, in start order. */
  kept: number[];
  /** What each kept span's statement gave, in the same order. */
  keptAt: SeenStatement[];
  groups: Map<string, Group>;
  dbMs: number;
  /** Connection use: every DB span on a database connection, noise included (connections.ts); cache calls left out. */
  opened: number;
  connectionMs: number;
  heldUntil: number;
  /** Column index of the first DB span on a database connection, -1 when there is none; whether its system shows set-up, and is PostgreSQL. */
  firstHeld: number;
  observable: boolean;
  postgresql: boolean;
}

/**
 * The one pass over a request's DB spans, apart from the rest of analyseColumns so that V8
 * optimises this hot loop on its own, early (n1-report analyses most requests in one burst).
 */
function passOverSpans(request: ColumnRequest, normalize: Normalizer, isNoise: NoiseFilter, memo: StatementMemo): SpanPass {
  const db = request.db;
  const cols = db.dbCols;
  const statements = db.dbStatements;
  const comments = db.dbComments;
  const systems = db.dbSystems;
  const order = request.dbOrder;
  // Framework-internal statements are dropped before anything else looks at the request.
  const noise: Record<string, number> = {};
  // Column index and statement of each DB span that takes part in detection, in start order: at
  // most one per span, so both are made once at that size (no growth copies) and cut to length.
  const kept = new Array<number>(order.length);
  const keptAt = new Array<SeenStatement>(order.length);
  let keptCount = 0;
  const groups = new Map<string, Group>();
  let dbMs = 0;
  // Connection use reads every DB span on a database connection, noise included; a cache call
  // (Redis, Memcached) holds none (connections.ts holdsConnection).
  let opened = 0;
  let previousWasSetup = false;
  let connectionMs = 0;
  let heldUntil = request.startMs + request.durationMs;
  let firstHeld = -1;
  let observable = false;
  let postgresql = false;
  const uniformHolds = systems.values === undefined ? holdsConnection(systems.first ?? '') : undefined;
  // What each statement of the request gave, by its text (the decoder interns it, so the lookup
  // hashes nothing new), the last one compared first: an N+1 loop repeats a few statements. A
  // statement is its text and the request's sqlcommenter comment (traces/compact.ts).
  const seen = new Map<string, SeenStatement>();
  let lastS: string | undefined;
  let last: SeenStatement | undefined;
  for (let k = 0; k < order.length; k++) {
    const j = order[k]!;
    const statement = statements[j]!;
    const comment = comments.get(j);
    const system = systems.get(j);
    const startMs = cols[j * DB_STRIDE]!;
    const duration = cols[j * DB_STRIDE + 1]!;
    if (statement !== lastS || comment !== last!.comment || system !== last!.system) {
      let found = seen.get(statement);
      if (found === undefined || found.comment !== comment || found.system !== system) {
        const { n, setup } = memo.facts(statement, comment, normalize, system);
        const rule = isNoise(n);
        let g: Group | undefined;
        if (rule === null) {
          g = groups.get(n.fingerprint);
          if (g === undefined) {
            g = { n, executions: 0, indices: [], durations: [], totalMs: 0, maxMs: 0, multiRow: 0, nextOffset: 0, firstOffset: 0, lastOffset: 0, walkPages: 0, paged: true, keyset: true, lastBound: NaN, minStep: Infinity, rowWalk: -1, inMax: 0, atInMax: 0 };
            groups.set(n.fingerprint, g);
          }
        }
        const keyset = keysetColumn(n.facts) !== undefined;
        found = { comment, system, n, g, setup, rule, keyset, bound: keyset ? boundOf(statement) : NaN };
        seen.set(statement, found);
      }
      lastS = statement;
      last = found;
    }
    const { n, g, setup, rule } = last!;
    if (uniformHolds ?? holdsConnection(system)) {
      const first = firstHeld < 0;
      if (first) {
        firstHeld = j;
        observable = OBSERVABLE_SYSTEMS.has(system);
        postgresql = POSTGRESQL_SYSTEMS.has(system);
      }
      // A run of set-up statements opened a connection; SET ROLE and its like only at a connection's start.
      const isSetup: boolean = setup === SETUP_OPENS || (setup === SETUP_AT_START && (first || previousWasSetup));
      if (isSetup && !previousWasSetup) opened++;
      previousWasSetup = isSetup;
      connectionMs += duration;
      heldUntil = Math.max(heldUntil, startMs + duration);
    }
    if (rule !== null || g === undefined) {
      if (rule !== null) noise[rule] = (noise[rule] ?? 0) + 1;
      continue;
    }
    kept[keptCount] = j;
    keptAt[keptCount++] = last!;
    dbMs += duration;
    g.executions++;
    if (n.facts.multiRowValues === true && bulkWrite(n.facts)) g.multiRow++;
    const inValues = n.facts.inValues ?? 0;
    if (inValues > g.inMax) {
      g.inMax = inValues;
      g.atInMax = 1;
    } else if (inValues === g.inMax) g.atInMax++;
    // Pages tile the rows; one row per OFFSET is qs[i] in a loop, a query per row, however it walks.
    // A task may walk the same pages again (one walk per status, the same SQL text): a page back at
    // the first page's OFFSET, or below the one before, starts a new walk once the last one tiled.
    const { offset, limit } = n.facts;
    if (g.paged) {
      if (offset === undefined || limit === null || limit <= 1) g.paged = false;
      else if (g.executions === 1) {
        g.firstOffset = offset;
        g.walkPages = 1;
      } else if (offset === g.nextOffset) g.walkPages++;
      else if (g.walkPages >= 2 && (offset === g.firstOffset || offset < g.lastOffset)) g.walkPages = 1;
      else g.paged = false;
    }
    if (g.keyset) {
      const seen = last!;
      if (!seen.keyset) g.keyset = false;
      else if (!Number.isNaN(seen.bound)) {
        const ascending = n.facts.orderBy[0]!.direction === 'ASC';
        if (!Number.isNaN(g.lastBound) && (ascending ? seen.bound <= g.lastBound : seen.bound >= g.lastBound)) g.keyset = false;
        if (!Number.isInteger(seen.bound)) g.minStep = NaN;
        else if (!Number.isNaN(g.lastBound)) g.minStep = Math.min(g.minStep, Math.abs(seen.bound - g.lastBound));
        g.lastBound = seen.bound;
      }
    }
    g.lastOffset = offset ?? 0;
    g.nextOffset = (offset ?? 0) + (limit ?? 0);
    g.totalMs += duration;
    if (duration > g.maxMs) g.maxMs = duration;
  }
  kept.length = keptCount;
  keptAt.length = keptCount;
  // Each group's executions, now that their number is known: arrays of that size, filled in order.
  for (const g of groups.values()) {
    // A walk of one page does not tile: the last one, begun again, must read a second page too.
    if (g.executions > 1 && g.walkPages < 2) g.paged = false;
    g.indices = new Array<number>(g.executions);
    g.durations = new Array<number>(g.executions);
    g.executions = 0;
  }
  for (let i = 0; i < keptCount; i++) {
    const g = keptAt[i]!.g!;
    g.indices[g.executions] = i;
    g.durations[g.executions++] = cols[kept[i]! * DB_STRIDE + 1]!;
  }
  return { noise, kept, keptAt, groups, dbMs, opened, connectionMs, heldUntil, firstHeld, observable, postgresql };
}

/**
 * Whether a statement that wrote several rows (facts.multiRowValues) is a bulk write already: an
 * INSERT of several rows, or an UPDATE or DELETE by IN lists alone (Django's collector and
 * bulk_update, `WHERE id IN (…)`). One that also filters on a column by equality is still one
 * statement per row of that column (`a.interviews.filter(status__in=…).delete()` per application,
 * `book.tags.remove(x, y)` per book).
 */
function bulkWrite(facts: SqlFacts): boolean {
  if (facts.operation === 'INSERT') return true;
  const inFilters = facts.inFilters ?? [];
  return facts.equalityFilters.every((f) => inFilters.includes(f));
}

/** A RequestAnalysis's fields apart from its timeline and the optional ones. */
type AnalysisFields = Omit<RequestAnalysis, 'timeline' | 'instance' | 'client' | 'status'>;

/**
 * What analyseColumns gives, its timeline built on first read. Made so that every analysis keeps one
 * fast map: an object literal with a getter (and any getter closing over its own variables) is made
 * in dictionary mode, which made every later read of its fields (the rollups', the store's) a hash
 * lookup. The timeline stays an own, enumerable property (spreads and JSON see it), through one
 * shared accessor pair.
 */
class ColumnAnalysis implements RequestAnalysis {
  readonly traceId: string;
  readonly endpoint: string;
  readonly service: string;
  declare instance?: string;
  declare client?: string;
  declare status?: number;
  readonly startMs: number;
  readonly durationMs: number;
  readonly dbSpans: number;
  readonly dbMs: number;
  readonly noise: Record<string, number>;
  readonly cascades: Cascade[];
  readonly uses: FingerprintUse[];
  readonly outbound: OutboundSummary;
  declare timeline: TimelineEntry[];
  // Assigned after timeline is defined, so the keys come in RequestAnalysis's order.
  declare connection: ConnectionUse | null;
  #timeline: TimelineEntry[] | undefined;
  /** The request's start, as the offsets were measured from when the analysis was made. */
  readonly #start: number;
  /**
   * What the timeline is built from: the kept spans' column indices and statements, and the columns
   * (their whole trace's); all three undefined once released (releaseTimeline).
   */
  #kept: readonly number[] | undefined;
  #keptAt: readonly SeenStatement[] | undefined;
  #cols: readonly number[] | undefined;

  static readonly #timelineProperty: PropertyDescriptor = {
    enumerable: true,
    configurable: true,
    get(this: ColumnAnalysis): TimelineEntry[] {
      if (this.#timeline !== undefined) return this.#timeline;
      const cols = this.#cols;
      const keptAt = this.#keptAt;
      if (this.#kept === undefined || cols === undefined || keptAt === undefined) throw new Error(`the timeline of trace ${this.traceId} was released (releaseTimeline)`);
      return (this.#timeline = this.#kept.map((j, i) => ({
        offsetMs: cols[j * DB_STRIDE]! - this.#start,
        durationMs: cols[j * DB_STRIDE + 1]!,
        fingerprint: keptAt[i]!.n.fingerprint,
      })));
    },
    set(this: ColumnAnalysis, value: TimelineEntry[]): void {
      this.#timeline = value;
    },
  };

  constructor(fields: AnalysisFields, kept: readonly number[], keptAt: readonly SeenStatement[], cols: readonly number[]) {
    this.traceId = fields.traceId;
    this.endpoint = fields.endpoint;
    this.service = fields.service;
    this.startMs = fields.startMs;
    this.durationMs = fields.durationMs;
    this.dbSpans = fields.dbSpans;
    this.dbMs = fields.dbMs;
    this.noise = fields.noise;
    this.cascades = fields.cascades;
    this.uses = fields.uses;
    this.outbound = fields.outbound;
    this.#start = fields.startMs;
    this.#kept = kept;
    this.#keptAt = keptAt;
    this.#cols = cols;
    Object.defineProperty(this, 'timeline', ColumnAnalysis.#timelineProperty);
    this.connection = fields.connection;
  }

  /** See releaseTimeline. */
  static release(a: ColumnAnalysis): void {
    a.#timeline = a.#kept = a.#keptAt = a.#cols = undefined;
  }

  /** See timelineReleased. */
  static released(a: ColumnAnalysis): boolean {
    return a.#kept === undefined;
  }
}

/**
 * Lets go of what `a` keeps to build its timeline on first read (its request's kept spans, and the
 * columns of its whole trace), for a holder that will never read it: serve's intake holds each
 * analysis until the store's write, and the rows it builds as analyses come keep each finding's
 * candidates for its example as they go (store/rows.ts). Held that long, they outlived the young
 * generation with the analysis. Reading the timeline afterwards throws. An analysis not made here
 * (JSON, a worker's copy) keeps no spans and is left as it is.
 */
export function releaseTimeline(a: RequestAnalysis): void {
  if (a instanceof ColumnAnalysis) ColumnAnalysis.release(a);
}

/** Whether `a`'s timeline was let go (releaseTimeline): it can no longer be an example. */
export function timelineReleased(a: RequestAnalysis): boolean {
  return a instanceof ColumnAnalysis && ColumnAnalysis.released(a);
}

/** --min-repeats when not given; a test suite's runs on little data, where a loop of 3 already shows the N+1. */
export const DEFAULT_MIN_REPEATS = 5;
export const TEST_SUITE_MIN_REPEATS = 3;

/**
 * analyseRequest over a request whose DB spans are still in their trace's columns (the Analyzer's
 * path): one pass over the spans, no object per span. The timeline, which only a finding's example
 * shows, is built when first read.
 */
export function analyseColumns(request: ColumnRequest, normalize: Normalizer, options: DetectOptions = {}): RequestAnalysis {
  const minRepeats = options.minRepeats ?? DEFAULT_MIN_REPEATS;
  const isNoise = options.noiseFilter ?? createNoiseFilter(options.ignoreSql);
  const memo = options.statements ?? createStatementMemo();
  const db = request.db;
  const cols = db.dbCols;
  const statements = db.dbStatements;
  const comments = db.dbComments;
  const order = request.dbOrder;
  const { noise, kept, keptAt, groups, dbMs, opened, connectionMs, heldUntil, firstHeld, observable, postgresql } = passOverSpans(request, normalize, isNoise, memo);

  const links = options.links ?? conventionLinks(tablesOf(groups.values()));
  const walksRows = (g: Group): boolean => walksRowsBeside(g, groups, (h) => resolver.rowsParent(h));
  const isCascade = (g: Group): boolean =>
    g.indices.length - g.multiRow >= minRepeats && !g.paged && !keysetPager(g, links, walksRows) && !chunkedBatch(g) && !g.n.facts.transactionControl && cascadeKind(g.n.facts) !== null;

  const resolver = new TriggerResolver(keptAt, links, isCascade);
  // The request's statements share sqlcommenter's comment: its view is read once.
  const controllerOf = requestControllerOf();
  const locations = db.dbLocations;
  const locationAt = locations.first === undefined && locations.values === undefined ? undefined : (i: number): CodeLocation | undefined => locations.get(kept[i]!);
  // sqlcommenter's tags are read from the comment alone when it was split off: it holds the last
  // comment of the whole statement (it starts at or before it), so the view read is the same.
  const statementAt = (i: number): string => {
    const comment = comments.get(kept[i]!);
    return comment === '' ? statements[kept[i]!]! : comment;
  };
  const locate = (indices: readonly number[]): CodeLocation | undefined => locationOfExecutions(locationAt, statementAt, indices, controllerOf);
  const cascades: Cascade[] = [];
  for (const g of groups.values()) {
    if (!isCascade(g)) continue;
    const kind = cascadeKind(g.n.facts);
    if (kind === null) continue;
    const link = resolver.resolve(g);
    const steps = followedSelfReference(g, link, groups, isCascade, (h) => resolver.resolve(h));
    const executions = g.indices.length;
    const location = locate(g.indices);
    const triggerFirst = link.trigger === null ? undefined : groups.get(link.trigger.fingerprint)?.indices[0];
    const triggerLocation = triggerFirst === undefined ? undefined : locate([triggerFirst]);
    const cascade: Cascade = {
      kind,
      fingerprint: g.n.fingerprint,
      sql: g.n.sql,
      facts: g.n.facts,
      executions,
      totalMs: g.totalMs,
      wastedMs: g.totalMs - g.totalMs / executions,
      firstIndex: g.indices[0] ?? 0,
      trigger: link.trigger,
      steps,
      linked: link.linked,
      leaf: leafShape(g.n.facts, links),
    };
    if (location !== undefined) cascade.location = location;
    const otherLocations = otherLocationsOf(locationAt, g.indices, location);
    if (otherLocations !== undefined) cascade.otherLocations = otherLocations;
    if (triggerLocation !== undefined) cascade.triggerLocation = triggerLocation;
    cascades.push(cascade);
  }
  cascades.sort((a, b) => a.firstIndex - b.firstIndex);

  const uses: FingerprintUse[] = [];
  for (const g of groups.values()) {
    const location = locate(g.indices);
    const use: FingerprintUse = {
      fingerprint: g.n.fingerprint,
      sql: g.n.sql,
      facts: g.n.facts,
      executions: g.indices.length,
      totalMs: g.totalMs,
      maxMs: g.maxMs,
      durationsMs: g.durations,
    };
    if (location !== undefined) use.location = location;
    uses.push(use);
  }

  const analysis = new ColumnAnalysis(
    {
      traceId: request.traceId,
      endpoint: splitCatchAll(request.endpoint, request.path, () => keptAt.map((s) => s.n)),
      service: request.service,
      startMs: request.startMs,
      durationMs: request.durationMs,
      dbSpans: kept.length,
      dbMs,
      noise,
      cascades,
      uses,
      outbound: summariseOutbound(request, options.fanoutMinCalls ?? 3, options.fanoutMinShare ?? 0.5),
      connection:
        firstHeld < 0
          ? null
          : {
              opened,
              observable,
              postgresql,
              heldFromMs: cols[firstHeld * DB_STRIDE]!,
              heldUntilMs: heldUntil,
              dbMs: connectionMs,
            },
    },
    kept,
    keptAt,
    cols,
  );
  if (request.instance !== undefined) analysis.instance = request.instance;
  if (request.client !== undefined) analysis.client = request.client;
  if (request.status !== undefined) analysis.status = request.status;
  return analysis;
}

function tablesOf(groups: Iterable<Group>): string[] {
  const tables: string[] = [];
  for (const g of groups) {
    if (g.n.facts.table) tables.push(g.n.facts.table);
    for (const j of g.n.facts.joins) tables.push(j.table);
  }
  return tables;
}

function cascadeKind(facts: SqlFacts): Cascade['kind'] | null {
  switch (facts.operation) {
    case 'SELECT':
      return 'n_plus_one';
    case 'INSERT':
    case 'UPDATE':
    case 'DELETE':
      return 'repeated_write';
    default:
      return null;
  }
}

function leafShape(facts: SqlFacts, links: TableLinks): LeafShape {
  switch (facts.operation) {
    case 'UPDATE':
      return { kind: 'update', columns: facts.writtenColumns };
    case 'INSERT':
      return { kind: 'insert' };
    case 'DELETE':
      return { kind: 'delete' };
    default:
      break;
  }
  if (facts.exists) return { kind: 'exists' };
  if (facts.aggregate !== null) {
    const { fn, column } = facts.aggregate;
    if (fn === 'COUNT') return { kind: 'count' };
    return { kind: 'aggregate', fn, column: column === '*' ? '*' : columnName(column) };
  }
  const pk = `${facts.table}.${links.primaryKey(facts.table)}`;
  if (facts.limit === 1 && !facts.equalityFilters.includes(pk)) return { kind: 'first', orderBy: facts.orderBy };
  return { kind: 'fetch' };
}

/** `recruit_note.application_id` -> `application_id`. */
export function columnName(ref: string): string {
  const dot = ref.lastIndexOf('.');
  return dot < 0 ? ref : ref.slice(dot + 1);
}

function tableName(ref: string): string {
  const dot = ref.lastIndexOf('.');
  return dot < 0 ? '' : ref.slice(0, dot);
}

/** tableName(ref) === table, without cutting the string. */
function inTable(ref: string, table: string): boolean {
  const dot = ref.lastIndexOf('.');
  return dot < 0 ? table === '' : dot === table.length && ref.startsWith(table);
}

const UNKNOWN: Shape[] = [{ kind: 'unknown' }];

/**
 * Reads from SQL alone how a SELECT may be tied to an earlier query's rows, most likely first. A
 * query filtering on several foreign keys (`Note.objects.filter(user=request.user, application=a)`)
 * gives one reverse shape per key: the SQL cannot tell which one the loop varies, the rows it walks can.
 */
function shapesOf(facts: SqlFacts, links: TableLinks): Shape[] {
  if (facts.operation !== 'SELECT' || facts.table === '') return UNKNOWN;
  const table = facts.table;
  // A filter the statement gives as an IN list (a prefetch's batch), not one value.
  const viaIn = (filter: string): boolean => (facts.inFilters ?? []).includes(filter);
  // A multi-table-inheritance child's query joins its parents on its pointer: a filter on a
  // parent's column is a filter on a field the child inherits (Restaurant.objects.filter(owner=a)).
  const parents = parentJoins(facts, links);
  let inherited: Shape[] | undefined;
  // M2M: the filter sits on a joined table, e.g. shop_book_tags.book_id = ? (its refs carry its
  // alias when it is joined more than once).
  for (const join of facts.joins) {
    const qualifier = join.alias ?? join.table;
    const parent = parents.get(qualifier);
    if (parent !== undefined) {
      for (const f of facts.equalityFilters) {
        if (!inTable(f, qualifier)) continue;
        const column = columnName(f);
        const parentTable = links.foreignKeyTarget(join.table, column);
        if (parentTable === undefined && !column.endsWith('_id')) continue;
        (inherited ??= []).push({ kind: 'reverse', table, column, parentTable, viaIn: viaIn(f), inherited: { table: join.table, pointer: parent } });
      }
      continue;
    }
    const filter = facts.equalityFilters.find((f) => inTable(f, qualifier));
    if (filter === undefined || join.table === table) continue;
    const sourceColumn = columnName(filter);
    const parentTable = links.foreignKeyTarget(join.table, sourceColumn);
    // A filter on a joined row's own field (a.notes.filter(user__username=…)) is no through table's pointer.
    if (parentTable === undefined && !sourceColumn.endsWith('_id')) continue;
    const targetRef = join.on.find((r) => inTable(r, qualifier) && r !== filter);
    return [{
      kind: 'm2m',
      table,
      through: join.table,
      sourceColumn,
      targetColumn: targetRef === undefined ? '' : columnName(targetRef),
      parentTable,
    }];
  }
  const pk = `${table}.${links.primaryKey(table)}`;
  const parentLink = parentLinkOf(facts, links);
  if (parentLink !== undefined) return [{ kind: 'forward', table, parentLink }];
  if (facts.equalityFilters.includes(pk)) return [{ kind: 'forward', table }];
  // A row read by the unique column a foreign key points at instead of the pk (Django's to_field).
  const toColumn = links.toFieldColumns?.(table).find((c) => facts.equalityFilters.includes(`${table}.${c}`));
  if (toColumn !== undefined) return [{ kind: 'forward', table, toColumn }];
  // (content_type_id, object_id): a generic relation, not a reverse FK from ContentType.
  let objectId = false;
  let contentType = false;
  for (const f of facts.equalityFilters) {
    if (!inTable(f, table)) continue;
    // Neither suffix has a dot, so the whole ref ends with it exactly when its column does.
    if (f.endsWith('object_id')) objectId = true;
    if (f.endsWith('content_type_id')) contentType = true;
  }
  const generic = objectId && contentType;
  let reverse: Shape[] | undefined;
  // A GenericRelation the schema names (article.comments): one reverse shape per model that has one.
  if (generic && links.genericRelations !== undefined) {
    for (const f of facts.equalityFilters) {
      if (!inTable(f, table) || !f.endsWith('object_id')) continue;
      const column = columnName(f);
      for (const parentTable of links.genericRelations(table, column)) (reverse ??= []).push({ kind: 'reverse', table, column, parentTable, viaIn: viaIn(f) });
    }
  }
  for (const f of facts.equalityFilters) {
    if (!inTable(f, table)) continue;
    const column = columnName(f);
    if (generic && (column.endsWith('content_type_id') || column.endsWith('object_id'))) continue;
    const parentTable = links.foreignKeyTarget(table, column);
    if (parentTable !== undefined || column.endsWith('_id')) {
      (reverse ??= []).push({ kind: 'reverse', table, column, parentTable, viaIn: viaIn(f) });
    }
  }
  if (inherited !== undefined) (reverse ??= []).push(...inherited);
  return reverse ?? UNKNOWN;
}

/**
 * The multi-table-inheritance parents `facts` joins on the child's pointer (`shop_restaurant.place_ptr_id
 * = shop_place.id`, and on through a grandparent's), each with the queried table's pointer column to
 * it ('' for a grandparent): a `<parent>_ptr_id` column, or the schema's primary key that points at
 * the joined table. Keyed by each join's qualifier: its alias when the table is joined more than once.
 */
function parentJoins(facts: SqlFacts, links: TableLinks): Map<string, string> {
  const parents = new Map<string, string>();
  if (facts.joins.length === 0) return parents;
  // Each occurrence by its qualifier (its alias when the table is joined more than once), with its table.
  const reached = new Map<string, string>([[facts.table, facts.table]]);
  for (const join of facts.joins) {
    if (join.type !== 'INNER' && join.type !== 'LEFT') continue;
    const qualifier = join.alias ?? join.table;
    if (!join.on.includes(`${qualifier}.${links.primaryKey(join.table)}`)) continue;
    for (const ref of join.on) {
      const fromQualifier = tableName(ref);
      const from = reached.get(fromQualifier);
      if (fromQualifier === qualifier || from === undefined) continue;
      const column = columnName(ref);
      const pointer = column.endsWith('_ptr_id') || (column === links.primaryKey(from) && links.foreignKeyTarget(from, column) === join.table);
      if (!pointer) continue;
      // A grandparent's pointer is its child's, not the queried table's: the steps name no column for it.
      parents.set(qualifier, fromQualifier === facts.table ? column : '');
      reached.set(qualifier, join.table);
      break;
    }
  }
  return parents;
}

/**
 * The filter on a primary key that also points at another table: the schema's one-to-one primary
 * key, or, by Django's naming, a multi-table-inheritance child's `<parent>_ptr_id`, which Django
 * filters on with the parent's table joined on it (the child has its parent's fields).
 */
function parentLinkOf(facts: SqlFacts, links: TableLinks): { column: string; parentTable: string } | undefined {
  const table = facts.table;
  const pkColumn = links.primaryKey(table);
  for (const f of facts.equalityFilters) {
    if (!inTable(f, table)) continue;
    const column = columnName(f);
    const target = links.foreignKeyTarget(table, column);
    if (column === pkColumn && target !== undefined && target !== table) return { column, parentTable: target };
    if (!column.endsWith('_ptr_id')) continue;
    const parent = facts.joins.find((j) => j.table !== table && j.on.includes(f) && j.on.includes(`${j.alias ?? j.table}.${links.primaryKey(j.table)}`));
    if (parent !== undefined && (target === undefined || target === parent.table)) return { column, parentTable: parent.table };
  }
  return undefined;
}

/**
 * The steps of a loop that follows a self-referential FK (e.manager, e.manager.manager), as deep as
 * each row goes. Every level runs the same fingerprint and the ids never reach n1lens, so the link
 * names one level. Another loop over the same trigger's rows that runs at most once per row (its
 * relations to-one) marks where each row's queries start: the most executions between two of its
 * own are the levels a row follows. Without one, the last step says the depth is unknown (`deeper`).
 * A marker that skips some rows merges two rows' levels: the depth is then overstated, which loads
 * a level too many rather than leaving a query per row.
 */
function followedSelfReference(g: Group, link: Link, groups: ReadonlyMap<string, Group>, isCascade: (h: Group) => boolean, resolve: (h: Group) => Link): RelationStep[] {
  const last = link.steps[link.steps.length - 1];
  if (!link.linked || link.trigger === null || last?.kind !== 'forward' || last.fromTable !== last.toTable || last.alternatives !== undefined || last.otherPaths !== undefined) return link.steps;
  const isSelf = (s: RelationStep | undefined): boolean => s?.kind === 'forward' && s.fromTable === s.toTable;
  let marker: Group | undefined;
  for (const h of groups.values()) {
    if (h === g || !isCascade(h) || (marker !== undefined && h.indices.length <= marker.indices.length)) continue;
    const l = resolve(h);
    const oncePerRow = l.steps.length > 0 && l.steps.slice(0, -1).every((s) => s.kind === 'forward') && !isSelf(l.steps[l.steps.length - 1]);
    if (l.linked && l.trigger?.fingerprint === link.trigger.fingerprint && oncePerRow) marker = h;
  }
  let depth = 0;
  if (marker !== undefined && marker.indices.length >= 3) {
    // Both index lists are in request order: one walk counts g's executions between consecutive markers.
    let j = 0;
    for (let i = 0; i + 1 < marker.indices.length; i++) {
      const from = marker.indices[i]!;
      const to = marker.indices[i + 1]!;
      while (j < g.indices.length && g.indices[j]! < from) j++;
      let n = 0;
      for (; j < g.indices.length && g.indices[j]! < to; j++) n++;
      depth = Math.max(depth, n);
    }
  }
  if (depth === 0) return [...link.steps.slice(0, -1), { ...last, deeper: true }];
  return [...link.steps, ...Array.from({ length: depth - 1 }, () => last)];
}

interface Link {
  trigger: TriggerRef | null;
  steps: RelationStep[];
  linked: boolean;
}

/** Walks back from a cascade to the query whose rows it loops over, through enclosing loops. */
class TriggerResolver {
  readonly #memo = new Map<string, Link>();

  constructor(
    /** What each kept span's statement gave, its group included, in start order. */
    private readonly kept: readonly SeenStatement[],
    private readonly links: TableLinks,
    private readonly isCascade: (g: Group) => boolean,
  ) {}

  resolve(g: Group, depth = 0): Link {
    const memo = this.#memo.get(g.n.fingerprint);
    if (memo !== undefined) return memo;
    const link = this.#resolve(g, depth);
    this.#memo.set(g.n.fingerprint, link);
    return link;
  }

  #resolve(g: Group, depth: number): Link {
    const first = g.indices[0] ?? 0;
    const shapes = shapesOf(g.n.facts, this.links);
    const found = depth < MAX_CHAIN ? this.#findParent(g, shapes, first) : undefined;
    if (found === undefined) {
      const fallback = this.#lastSelectBefore(first, g);
      return { trigger: fallback === undefined ? null : triggerRef(fallback), steps: [], linked: false };
    }
    const { parent, steps } = found;
    // A parent that is itself a loop, or a prefetch (`IN` over the rows of an earlier query), is not the
    // outermost trigger: the fix names the whole path from the outer query.
    const parentShape = shapesOf(parent.n.facts, this.links)[0]!;
    const parentIsPrefetch = parentShape.kind === 'reverse' && parentShape.viaIn;
    if (this.isCascade(parent) || parentIsPrefetch) {
      const outer = this.resolve(parent, depth + 1);
      if (outer.linked && outer.trigger !== null) {
        return { trigger: outer.trigger, steps: [...outer.steps, ...steps], linked: true };
      }
    }
    return { trigger: triggerRef(parent), steps, linked: true };
  }

  /**
   * The earlier query whose rows `g`'s SQL reads one row of each time, when it read rows to walk (more
   * than once, or not one row by its key): found from SQL alone, asking no group whether it is a cascade.
   */
  rowsParent(g: Group): Group | undefined {
    const found = this.#findParent(g, shapesOf(g.n.facts, this.links), g.indices[0] ?? 0);
    if (found === undefined) return undefined;
    const { parent } = found;
    return parent.indices.length > 1 || !this.#singleRow(parent.n.facts) ? parent : undefined;
  }

  /** The nearest earlier query whose rows explain one of this one's shapes (the first it explains). */
  #findParent(g: Group, shapes: readonly Shape[], first: number): { parent: Group; steps: RelationStep[] } | undefined {
    if (shapes[0]!.kind === 'unknown') return undefined;
    // The walk back crosses earlier loops: a statement already tried gives the same answer again.
    let tried: Set<NormalizedSql> | undefined;
    // One row read once (request.user) gives a loop no rows to walk: an earlier query that has rows
    // is preferred when it explains another of the query's filters (the applications, for
    // Note.filter(user=request.user, application=a)); one explaining the same filter is older
    // than the row that does (a list of orders, then the one order the page shows), which wins.
    let oneRow: { parent: Group; steps: RelationStep[]; shape: Shape } | undefined;
    for (let i = first - 1; i >= 0; i--) {
      const { n, g: parent } = this.kept[i]!;
      if (n.fingerprint === g.n.fingerprint || n.facts.operation !== 'SELECT' || parent === undefined) continue;
      if (tried?.has(n)) continue;
      (tried ??= new Set()).add(n);
      for (const shape of shapes) {
        const steps = this.#stepsFrom(n.facts, shape);
        if (steps === undefined) continue;
        if (parent.indices.length > 1 || !this.#singleRow(n.facts)) return oneRow?.shape === shape ? oneRow : { parent, steps };
        oneRow ??= { parent, steps, shape };
        break;
      }
    }
    return oneRow;
  }

  /**
   * The steps from `parent`'s rows to the repeated query's table. A relation of a table the parent
   * joins (`select_related('job')`, then `a.job.company` per row) starts with the joins' own steps
   * (`job`, `company`); a joined table no forward join reaches (a reverse join, an unknown FK)
   * explains nothing.
   */
  #stepsFrom(parent: SqlFacts, shape: Shape): RelationStep[] | undefined {
    const from = (table: string, step: RelationStep): RelationStep[] | undefined => {
      const prefix = stepsToJoined(parent, table, this.links);
      return prefix === undefined || prefix.some((s) => s.kind !== 'forward') ? undefined : [...prefix, step];
    };
    switch (shape.kind) {
      case 'forward': {
        // Every selected FK to the table could be the one the loop follows. One whose row the
        // parent already joins and selects (select_related) runs no query per row, so it is not,
        // unless no other is (a fetch by id of a loaded relation). Of the rest, the first is
        // read, and the others on its table are kept as what the SQL cannot tell it from.
        // Each candidate's steps are kept: worked out once, and returned as they are when there is
        // one candidate (nearly always).
        // A ref's qualifier is its table, or the alias of a table the parent joins twice (another row of it).
        const candidates: { ref: string; qualifier: string; table: string; column: string; steps: RelationStep[] }[] = [];
        for (const ref of parent.selectedColumns) {
          const qualifier = tableName(ref);
          const table = qualifiedTable(parent, qualifier);
          const column = columnName(ref);
          if (column === this.links.primaryKey(table)) continue;
          if (this.links.foreignKeyTarget(table, column) !== shape.table) continue;
          // A key holds the values of the column the row is read by: the pk, or its to_field's.
          if (this.links.toFieldColumn?.(table, column) !== shape.toColumn) continue;
          if (candidates.some((c) => c.ref === ref)) continue;
          const steps = from(qualifier, { kind: 'forward', fromTable: table, column, toTable: shape.table });
          if (steps !== undefined) candidates.push({ ref, qualifier, table, column, steps });
        }
        if (candidates.length === 1) return candidates[0]!.steps;
        // Which are loaded only matters, and is only read from the joins, when there are several.
        const loaded = candidates.length < 2 ? new Set<string>() : loadedForeignKeys(parent, shape.table, this.links);
        const unloaded = candidates.filter((c) => !loaded.has(c.ref));
        const [chosen, ...rest] = unloaded.length > 0 ? unloaded : candidates;
        if (chosen !== undefined) {
          const alternatives = rest.filter((c) => c.qualifier === chosen.qualifier).map((c) => c.column);
          // A key of another joined table (blurb.book.author beside blurb.critic) runs the same query per row too.
          const elsewhere = rest.filter((c) => c.qualifier !== chosen.qualifier).map((c) => c.steps);
          if (alternatives.length === 0 && elsewhere.length === 0) return chosen.steps;
          return [
            ...chosen.steps.slice(0, -1),
            {
              kind: 'forward',
              fromTable: chosen.table,
              column: chosen.column,
              toTable: shape.table,
              ...(alternatives.length === 0 ? {} : { alternatives }),
              ...(elsewhere.length === 0 ? {} : { otherPaths: { pathLength: chosen.steps.length, paths: elsewhere } }),
            },
          ];
        }
        // No FK of the parent's rows points at it: the row is the parent rows' own child (place.restaurant).
        const link = shape.parentLink;
        if (link === undefined || parent.table === shape.table || !selectsFrom(parent, link.parentTable)) return undefined;
        return from(link.parentTable, { kind: 'reverse', fromTable: link.parentTable, toTable: shape.table, column: link.column });
      }
      case 'reverse':
        if (shape.parentTable === undefined || !selectsFrom(parent, shape.parentTable)) return undefined;
        return from(shape.parentTable, {
          kind: 'reverse',
          fromTable: shape.parentTable,
          toTable: shape.table,
          column: shape.column,
          ...(shape.inherited === undefined ? {} : { inherited: shape.inherited }),
        });
      case 'm2m':
        if (shape.parentTable === undefined || !selectsFrom(parent, shape.parentTable)) return undefined;
        return from(shape.parentTable, {
          kind: 'm2m',
          fromTable: shape.parentTable,
          toTable: shape.table,
          through: shape.through,
          sourceColumn: shape.sourceColumn,
          targetColumn: shape.targetColumn,
        });
      default:
        return undefined;
    }
  }

  /** A read of one row by its primary key (`.get(pk=…)`, the session's user). */
  #singleRow(facts: SqlFacts): boolean {
    const pk = `${facts.table}.${this.links.primaryKey(facts.table)}`;
    return facts.equalityFilters.includes(pk) && !(facts.inFilters ?? []).includes(pk);
  }

  /** Fallback trigger: the last different SELECT before the first repeat that is not a loop itself. */
  #lastSelectBefore(first: number, g: Group): Group | undefined {
    for (let i = first - 1; i >= 0; i--) {
      const { n, g: candidate } = this.kept[i]!;
      if (n.fingerprint === g.n.fingerprint || n.facts.operation !== 'SELECT') continue;
      if (candidate !== undefined && !this.isCascade(candidate)) return candidate;
    }
    return undefined;
  }
}

/**
 * The FK refs to `target` whose rows `facts` joins and selects (select_related): no query per row
 * reads them. Each is the ref the join follows (`recruit_application.user_id`, `T3.dept_id`), as
 * the parent's selected columns name it.
 */
function loadedForeignKeys(facts: SqlFacts, target: string, links: TableLinks): Set<string> {
  const loaded = new Set<string>();
  for (const j of joinedTables(facts, links)) {
    if (j.selected && j.table === target && j.via !== undefined) loaded.add(j.via);
  }
  return loaded;
}

function selectsFrom(facts: SqlFacts, table: string): boolean {
  return facts.table === table || facts.joins.some((j) => j.table === table);
}

function triggerRef(g: Group): TriggerRef {
  return { fingerprint: g.n.fingerprint, table: g.n.facts.table, sql: g.n.sql };
}

function summariseOutbound(request: Pick<Request, 'outbound' | 'durationMs'>, minCalls: number, minShare: number): OutboundSummary {
  let sequential = 0;
  let lastEnd = -Infinity;
  let totalMs = 0;
  const peers = new Set<string>();
  for (const call of request.outbound) {
    if (call.startMs >= lastEnd) sequential++;
    lastEnd = Math.max(lastEnd, call.startMs + call.durationMs);
    totalMs += call.durationMs;
    if (call.peer) peers.add(call.peer);
  }
  const share = request.durationMs > 0 ? totalMs / request.durationMs : 0;
  return {
    calls: request.outbound.length,
    sequentialCalls: sequential,
    totalMs,
    peers: [...peers],
    fanout: sequential >= minCalls && share >= minShare,
  };
}
