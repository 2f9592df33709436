/** What the SQL stage says about one statement: its fingerprint and the structural facts detection and suggestion read. */

/** 16 lowercase hex characters: a stable 64-bit hash of the normalised statement. */
export type Fingerprint = string & { readonly __brand?: 'Fingerprint' };

export type SqlOperation =
  | 'SELECT' | 'INSERT' | 'UPDATE' | 'DELETE'
  | 'BEGIN' | 'COMMIT' | 'ROLLBACK' | 'SAVEPOINT' | 'RELEASE' | 'SET'
  | 'OTHER';

export type SqlAggregate = 'COUNT' | 'SUM' | 'AVG' | 'MIN' | 'MAX';

/**
 * A `table.column` reference with identifiers unquoted, e.g. `recruit_note.application_id`; through
 * a later occurrence of a table joined more than once, `alias.column` (see `SqlFacts.joins`).
 */
export type ColumnRef = string;

export interface SqlFacts {
  operation: SqlOperation;
  /** True for BEGIN/COMMIT/ROLLBACK/SAVEPOINT/RELEASE/SET: never a cascade. */
  transactionControl: boolean;
  /** The FROM / INTO / UPDATE table, unquoted; '' when there is none. */
  table: string;
  /**
   * Tables joined in, in order, unquoted (aliases resolved to their table). A table met a second
   * time (two foreign keys to it, a self-join: Django's `"auth_user" T3`) is another row: that
   * join carries its `alias`, and refs to its columns are qualified by it (`T3.id`).
   */
  joins: { table: string; alias?: string; type: 'INNER' | 'LEFT' | 'RIGHT' | 'FULL' | 'CROSS'; on: ColumnRef[] }[];
  /** Columns compared with `=` (or `IN`) to a value or placeholder in WHERE: `table.column`. */
  equalityFilters: ColumnRef[];
  /** The subset of equalityFilters compared with `IN (…)`: a prefetch_related query's shape. */
  inFilters?: ColumnRef[];
  /** Columns compared with a range operator (<, >, <=, >=, BETWEEN) in WHERE. */
  rangeFilters: ColumnRef[];
  /** ORDER BY columns with their direction. */
  orderBy: { column: ColumnRef; direction: 'ASC' | 'DESC' }[];
  /** The LIMIT value as written in the raw statement (Django inlines it: 21 for get(), 1 for first()); null when absent or a placeholder. */
  limit: number | null;
  /** The aggregate function of the select list when it is the main output, e.g. COUNT for `.count()`. */
  aggregate: { fn: SqlAggregate; column: ColumnRef | '*' } | null;
  /** `SELECT (1) AS "a" … LIMIT 1`: Django's `.exists()`. */
  exists: boolean;
  /** Selected columns as `table.column` (only those with a qualified or resolvable table). */
  selectedColumns: ColumnRef[];
  /** For UPDATE: the SET columns. For INSERT: the column list. */
  writtenColumns: string[];
  /**
   * The OFFSET value as written (Django inlines it: `qs[40:60]`, a Paginator's page), or MySQL's
   * `LIMIT offset, n`; absent without one or for a placeholder. Pages walked one after another
   * differ in it; a per-row slice repeats it.
   */
  offset?: number;
  /**
   * Several rows written in one statement (a bulk write already): INSERT … VALUES (…), (…), PostgreSQL
   * bulk_create's INSERT … SELECT * FROM UNNEST(…), bulk_update's UPDATE … SET "c" = CASE WHEN … END
   * WHERE pk IN (…), and any UPDATE or DELETE filtered by an IN list of two values or more (Django's
   * collector deletes a queryset 100 pks per statement).
   */
  multiRowValues?: boolean;
  /**
   * On a SELECT: the most values one `IN (…)` list of its own WHERE holds, when two or more (not in
   * a subquery, nor under NOT). Django's batches show in it: `in_bulk` and a prefetch cut into
   * chunks on SQLite (999 parameters) or by `iterator(chunk_size=…)` run full chunks of one size.
   */
  inValues?: number;
}

/** A statement after normalisation. */
export interface NormalizedSql {
  fingerprint: Fingerprint;
  /** Canonical text with literals and placeholders as `?`; never contains literal values. */
  sql: string;
  facts: SqlFacts;
}
