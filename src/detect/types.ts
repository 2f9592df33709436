/** What detection says about requests and endpoints: cascades, their triggers, and the relation path between them. */
import type { Fingerprint, SqlFacts } from '../sql/types.js';
import type { ConnectionUse } from './connections.js';

export type FindingKind =
  | 'n_plus_one'
  | 'repeated_write'
  | 'hot_lookup'
  | 'sync_fanout'
  | 'slow_query'
  | 'connection_pressure'
  | 'dead_view'
  /** A repeat seen in only a minority of an endpoint's requests: cache fill or first-visit work. */
  | 'warm_up';

/** Where in the app's code a finding or its trigger is (issue 10's shape, shared by every output). */
export interface CodeLocation { file?: string; line?: number; function?: string; template?: string; templateLine?: number; view?: string; }

/** One hop from the trigger's rows to the repeated query's table, in SQL terms (suggest/ names it). */
export type RelationStep =
  /**
   * `fromTable.column` is an FK to `toTable` (select_related). `alternatives`: other FK columns of
   * `fromTable` to `toTable` the trigger selects, which the SQL cannot tell `column` from (the loop
   * queries `toTable` by id either way, and the ids never reach n1lens); absent when there are none.
   */
  | {
      kind: 'forward';
      fromTable: string;
      column: string;
      toTable: string;
      alternatives?: string[];
      /**
       * Other paths from the same rows to `toTable` through tables the trigger joins (`blurb.critic`
       * beside `blurb.book.author` under select_related('book')): the SQL cannot tell them from this
       * step's either. Each is whole, from the rows the trigger selects; this step's own path from
       * them is its last `pathLength` steps (this step and the joins before it).
       */
      otherPaths?: { pathLength: number; paths: RelationStep[][] };
      /**
       * A self-referential FK (e.manager) whose depth per row the SQL does not tell: every level
       * (e.manager.manager) runs the same query, so the loop may follow it further than the steps say.
       */
      deeper?: true;
    }
  /**
   * `toTable.column` is an FK back to `fromTable` (reverse accessor, prefetch_related). `inherited`:
   * the column is a multi-table-inheritance parent's (`Restaurant.objects.filter(owner=a)` filters
   * `shop_place.owner_id`): its table, and the child's pointer to it (`place_ptr_id`; '' when the
   * column is a grandparent's).
   */
  | { kind: 'reverse'; fromTable: string; toTable: string; column: string; inherited?: { table: string; pointer: string } }
  /** Many-to-many through a join table. */
  | { kind: 'm2m'; fromTable: string; toTable: string; through: string; sourceColumn: string; targetColumn: string };

/** What each execution of the repeated query asks for, which decides the ORM idiom. */
export type LeafShape =
  | { kind: 'fetch' }
  | { kind: 'count' }
  | { kind: 'aggregate'; fn: 'SUM' | 'AVG' | 'MIN' | 'MAX'; column: string }
  | { kind: 'first'; orderBy: { column: string; direction: 'ASC' | 'DESC' }[] }
  | { kind: 'exists' }
  | { kind: 'update'; columns: string[] }
  | { kind: 'insert' }
  | { kind: 'delete' };

/** The query a cascade loops over, by fingerprint. */
export interface TriggerRef {
  fingerprint: Fingerprint;
  table: string;
  sql: string;
}

/** A fingerprint that ran at least minRepeats times in one request. */
export interface Cascade {
  kind: 'n_plus_one' | 'repeated_write';
  fingerprint: Fingerprint;
  sql: string;
  facts: SqlFacts;
  executions: number;
  totalMs: number;
  /** Total minus one execution's share: what a JOIN or prefetch would still cost. */
  wastedMs: number;
  /** Index of the first execution in the request's DB timeline. */
  firstIndex: number;
  /** The outermost query whose rows the loop (or loops) iterate; null when none precedes it. */
  trigger: TriggerRef | null;
  /** From the trigger's table to this query's table; empty when the link could not be read from SQL. */
  steps: RelationStep[];
  /** True when the link to the trigger was read from SQL, false when it fell back to "the last SELECT before". */
  linked: boolean;
  leaf: LeafShape;
  /** Where the repeated query is issued (the most common place among its executions). */
  location?: CodeLocation;
  /** The other places its executions were issued from (another loop running the same query), in the order they first ran. */
  otherLocations?: CodeLocation[];
  /** Where the trigger query is evaluated. */
  triggerLocation?: CodeLocation;
}

/** One DB call in a request's timeline, kept for the example waterfall (no SQL text, no values). */
export interface TimelineEntry {
  offsetMs: number;
  durationMs: number;
  fingerprint: Fingerprint;
}

/** Per-fingerprint figures of one request, for the cross-request detectors. */
export interface FingerprintUse {
  fingerprint: Fingerprint;
  sql: string;
  facts: SqlFacts;
  executions: number;
  totalMs: number;
  maxMs: number;
  durationsMs: number[];
  /** Where the app issues it (the most common place in this request). */
  location?: CodeLocation;
}

/** One outbound call sequence, for sync_fanout. */
export interface OutboundSummary {
  calls: number;
  /** Calls that did not overlap the previous one. */
  sequentialCalls: number;
  totalMs: number;
  peers: string[];
  /** Enough serial calls taking enough of the request to count as sync_fanout. */
  fanout: boolean;
}

/** Everything detection keeps from one request. */
export interface RequestAnalysis {
  traceId: string;
  endpoint: string;
  service: string;
  /** The process that served it (Request.instance). */
  instance?: string;
  /** Who sent it (Request.client). */
  client?: string;
  /** The HTTP status it was answered with (Request.status), when known. */
  status?: number;
  startMs: number;
  durationMs: number;
  /** DB spans that take part in detection (framework noise excluded). */
  dbSpans: number;
  dbMs: number;
  /** Framework-internal statements dropped, by sql/noise.ts rule id. */
  noise: Record<string, number>;
  cascades: Cascade[];
  uses: FingerprintUse[];
  outbound: OutboundSummary;
  timeline: TimelineEntry[];
  /** Connections it opened and held; null without a DB call. */
  connection: ConnectionUse | null;
  /**
   * Set on a request that continues a trace analysed before (a queued task whose spans came after
   * the trace was released): its request span's id. Its trace's commit is taken by then, so a write
   * commits the request under a key of its own (store.ts commitKeyOf).
   */
  continuationSpanId?: string;
}
