/**
 * The statement shapes Django writes, read in one pass over the byte image: canonical text, facts
 * and nothing else (no token array, no second walk). Anything outside these shapes returns null
 * and takes the general lexer → canonical text → facts path, which defines the output; this pass
 * must give exactly what that path gives (checked in onepass.test.ts and equivalence.test.ts).
 *
 * Accepted, written exactly in canonical form (upper-case keywords, single spaces, `"quoted"`
 * names without doubled quotes, `%s` placeholders, only a trailing block comment after the end):
 *   SELECT [DISTINCT] item, … FROM ("t" | (SELECT …) subquery) [INNER JOIN | LEFT OUTER JOIN "u" ON (ref = ref)]…
 *     [WHERE cond] [GROUP BY ref|n, … [HAVING cond]] [ORDER BY ref|n|RANDOM() [ASC|DESC], …]
 *     [LIMIT n [OFFSET m]] [FOR UPDATE]
 *   ref: "a"."b"; item: ref | (ref) | n | %s | (n|%s) | (SELECT …) | EXISTS(SELECT …)
 *     | COUNT|SUM|AVG|MIN|MAX(* | [DISTINCT] ref | "name") | DATE_TRUNC(%s, ref [AT TIME ZONE %s]),
 *     each with an optional AS "x"
 *   cond: pred (AND|OR pred)…; pred: (cond) | NOT pred | EXISTS(SELECT …) | x | x IS [NOT] NULL
 *     | x (=|<|>|<=|>=) (value | ref | (ref [+|-|*|/ value])) | x IN (%s, …) | x IN (SELECT …)
 *     | x BETWEEN value AND value | x [I]LIKE value; x: ref[::text] | UPPER(ref[::text]);
 *     value: %s | n | UPPER(%s)
 *   UPDATE "t" SET "c" = value | (ref +|- value), … [WHERE cond]
 *   DELETE FROM "t" [WHERE cond]
 *   INSERT INTO "t" ("c", …) (VALUES (%s, …)[, (%s, …)]… | SELECT * FROM UNNEST((%s)::type[], …)
 *     [ON CONFLICT DO NOTHING]) [RETURNING ref]
 *   BEGIN | COMMIT | ROLLBACK [TO SAVEPOINT "s"] | SAVEPOINT "s" | RELEASE SAVEPOINT "s"
 * Subqueries (where `U0."c"` and `"t" U0` aliases are read too), NOT and HAVING are read "quiet":
 * canonical text only, no filter, as the general path takes none from them.
 */

import { cachedColumnRef, columnRefSlot, storeColumnRef } from './facts.js';
import { FNV_OFFSET_HI, FNV_OFFSET_LO, fnv1a64, fnv1a64Hex, fnv1a64Run } from './hash.js';
import type { ColumnRefCache } from './facts.js';
import type { ColumnRef, SqlAggregate, SqlFacts } from './types.js';

type Join = SqlFacts['joins'][number];

const AGGREGATES: readonly SqlAggregate[] = ['COUNT', 'SUM', 'AVG', 'MIN', 'MAX'];

/** The texts the grammar matches, as bytes (a typed array reads faster than `charCodeAt`). */
const TEXTS = [
  ' (', ' < ', ' <= ', ' = ', ' > ', ' >= ', ' AND ', ' AS ', ' ASC', ' BETWEEN ', ' DESC', ' FOR UPDATE',
  ' FROM ', ' GROUP BY ', ' HAVING ', ' ILIKE ', ' IN (', ' INNER JOIN ', ' IS NOT NULL', ' IS NULL',
  ' LEFT OUTER JOIN ', ' LIKE ', ' LIMIT ', ' OFFSET ', ' ON (', ' OR ', ' ORDER BY ', ' RETURNING ',
  ' SET ', ' WHERE ', ') VALUES (', ') SELECT * FROM UNNEST(', ')::', ' ON CONFLICT DO NOTHING', ' + ', ' - ', ' * ', ' / ', '(', 'RANDOM()', ' subquery', ', ', '::text', 'BEGIN', 'COMMIT', 'DELETE FROM ',
  'DISTINCT ', 'DATE_TRUNC(', ' AT TIME ZONE ', 'EXISTS(', 'INSERT INTO ', 'NOT ', 'RELEASE SAVEPOINT ', 'ROLLBACK', 'SAVEPOINT ',
  'SELECT ', ' TO SAVEPOINT ', 'UPDATE ', 'UPPER(',
] as const;
const TEXT = Object.freeze(Object.fromEntries(TEXTS.map((t) => [t, asciiBytes(t)]))) as Readonly<Record<(typeof TEXTS)[number], Uint8Array>>;
const AGGREGATE_BYTES: readonly Uint8Array[] = AGGREGATES.map(asciiBytes);

/**
 * The base types of Django's PostgreSQL fields as bulk_create's UNNEST casts them (`varchar[]`,
 * parameters cut), each with `[]`, and its canonical text where a keyword in it is upper-cased.
 */
const ARRAY_TYPES: readonly { raw: Uint8Array; canonical: Uint8Array | null }[] = [
  ['bigint'], ['integer'], ['varchar'], ['text'], ['timestamp with time zone', 'TIMESTAMP WITH TIME ZONE'],
  ['boolean'], ['smallint'], ['date', 'DATE'], ['numeric'], ['uuid'], ['jsonb'], ['double precision', 'double PRECISION'],
  ['time', 'TIME'], ['interval', 'INTERVAL'], ['inet'], ['bytea'],
].map(([raw, canonical]) => ({ raw: asciiBytes(`${raw}[]`), canonical: canonical === undefined ? null : asciiBytes(canonical) }));

function asciiBytes(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/**
 * The empty list every result without such facts shares (results are read-only, see
 * `createSqlNormalizer`): most statements have no joins, ranges or ORDER BY, and allocating
 * an array for each is measurable at this rate.
 */
const NONE: ColumnRef[] = Object.freeze([]) as unknown as ColumnRef[];

/** `list` with `ref` appended unless it is there already; a new array when `list` is NONE. */
function added(list: ColumnRef[], ref: ColumnRef): ColumnRef[] {
  if (list === NONE) return [ref];
  if (!list.includes(ref)) list.push(ref);
  return list;
}

/** `list` with `item` appended; a new array when `list` is NONE. */
function appended<T>(list: T[], item: T): T[] {
  if ((list as unknown) === NONE) return [item];
  list.push(item);
  return list;
}

/**
 * Deepest nesting of predicates and subqueries read here; deeper statements (never Django's own)
 * take the general path, whose reading does not recurse as deep.
 */
const MAX_NESTING = 64;

// Comparison operators of a predicate.
const OP_EQ = 1;
const OP_RANGE = 2;
const OP_IN = 3;

/**
 * A select list read before, by its raw text from `SELECT` up to ` FROM `: its facts and the hash
 * state after its text. An app's statements select the same models' columns again and again
 * (a model's fields, then a different WHERE, ORDER BY or IN list), so a statement the memo has
 * never seen usually starts with a list it has.
 */
interface SelectList {
  bytes: Uint8Array;
  selectedColumns: ColumnRef[];
  aggregate: SqlFacts['aggregate'];
  exists: boolean;
  hi: number;
  lo: number;
}

/** Select lists remembered per normaliser (direct-mapped: a collision replaces the older one). */
const LIST_SLOTS = 256;
/** Longest `SELECT …` text remembered, in bytes. */
const MAX_LIST_LENGTH = 4096;

/** The memo slot of the select list `b[0, end)`: its length and a few bytes at both ends. */
function listSlot(b: Uint8Array, end: number): number {
  let h = Math.imul(end, 0x9e3779b1) ^ b[end - 2]! ^ (b[end - 5]! << 8) ^ (b[end >> 1]! << 16) ^ (b[8]! << 24);
  h = Math.imul(h ^ (h >>> 15), 0x85ebca6b);
  return (h ^ (h >>> 13)) & (LIST_SLOTS - 1);
}

/** Reusable state of the one-pass reader (one per normaliser workspace). */
export class OnePass {
  /** Select lists read before; null for a one-shot normalisation, which would only fill it. */
  private readonly lists: (SelectList | undefined)[] | null;
  /** FNV-1a state: after the first `hashedTo` bytes of the canonical text, when hashedTo > 0. */
  private readonly state = new Int32Array(2);
  private hashedTo = 0;
  /** Fingerprint of the canonical text written by the last successful `read`. */
  fingerprint = '';

  constructor(remember: boolean) {
    this.lists = remember ? new Array<SelectList | undefined>(LIST_SLOTS).fill(undefined) : null;
  }

  private sql = '';
  private b: Uint8Array = new Uint8Array(0);
  private n = 0;
  private i = 0;
  /** Canonical text goes to `out[at + o]`; `out` is the buffer that also holds the byte image at 0. */
  private out: Buffer = Buffer.alloc(0);
  private at = 0;
  private o = 0;
  /** Start of the raw text not yet copied to the output (the output is the raw text but for values). */
  private from = 0;
  private refs: ColumnRefCache | null = null;
  private equalityFilters: ColumnRef[] = NONE;
  private inFilters: ColumnRef[] = NONE;
  private rangeFilters: ColumnRef[] = NONE;
  /** Above 0 while a subquery, a NOT or a HAVING is read: the general path takes no filter from those. */
  private quiet = 0;
  /** The most values a filter's `IN (…)` list held (from two, a write by it is of several rows). */
  private inValues = 0;
  /** Predicates and subqueries open around the cursor: the grammar recurses on them, so it is bounded. */
  private nesting = 0;
  /** End of the last token read: the statement ends there (what follows is blank or a comment). */
  lastTokenEnd = 0;
  /** Length of the canonical text written by the last successful `read`. */
  length = 0;

  /**
   * Reads the ASCII statement `sql` whose byte image is `b[0, n)`, writing its canonical text to
   * `out` from `at`. Returns its facts, or null when the statement is not one of the shapes.
   */
  read(sql: string, b: Uint8Array, n: number, out: Buffer, at: number, refs: ColumnRefCache | null): SqlFacts | null {
    this.sql = sql;
    this.b = b;
    this.n = n;
    this.i = 0;
    this.out = out;
    this.at = at;
    this.o = 0;
    this.from = 0;
    this.refs = refs;
    this.equalityFilters = NONE;
    this.inFilters = NONE;
    this.rangeFilters = NONE;
    this.quiet = 0;
    this.nesting = 0;
    this.inValues = 0;
    this.hashedTo = 0;
    const facts = this.statement();
    if (facts === null) return null;
    const end = this.i;
    if (!this.blankToEnd()) return null;
    this.flush(end);
    this.lastTokenEnd = end;
    this.length = this.o;
    // The canonical text's hash, on from the select list's when that was hashed already.
    const state = this.state;
    if (this.hashedTo === 0) {
      state[0] = FNV_OFFSET_HI;
      state[1] = FNV_OFFSET_LO;
    }
    this.fingerprint = fnv1a64Run(out, at + this.hashedTo, at + this.o, state)
      ? fnv1a64Hex(state)
      : fnv1a64(out.subarray(at), this.o);
    return facts;
  }

  private statement(): SqlFacts | null {
    switch (this.b[0]) {
      case 83: // S
        return this.b[1] === 69 ? this.select() : this.control();
      case 85: // U
        return this.update();
      case 68: // D
        return this.delete();
      case 73: // I
        return this.insert();
      case 66: // B
      case 67: // C
      case 82: // R
        return this.control();
      default:
        return null;
    }
  }

  private select(): SqlFacts | null {
    if (!this.lit(TEXT['SELECT '])) return null;
    const lists = this.quiet === 0 ? this.lists : null;
    let slot = -1;
    let listEnd = -1;
    if (lists !== null) {
      // A select list read before (a model's columns): its facts, and the hash of its text.
      listEnd = this.sql.indexOf(' FROM ', 7);
      if (listEnd > 7 && listEnd <= MAX_LIST_LENGTH) {
        slot = listSlot(this.b, listEnd);
        const seen = lists[slot];
        if (seen !== undefined && seen.bytes.length === listEnd && this.sameBytes(seen.bytes, listEnd)) {
          this.i = listEnd;
          this.state[0] = seen.hi;
          this.state[1] = seen.lo;
          this.hashedTo = listEnd;
          return this.selectFrom(seen.selectedColumns, seen.aggregate, seen.exists);
        }
      }
    }
    if (!this.selectList()) return null;
    const selectedColumns = this.listColumns;
    const aggregate = this.listAggregate;
    const exists = this.listExists;
    if (this.bareName && this.quiet === 0) return this.selectFrom(selectedColumns, aggregate, exists, true);
    if (slot >= 0 && this.i === listEnd && this.from === 0) {
      // Its canonical text is its raw text (no value in it): hash it now, remember both.
      const state = this.state;
      state[0] = FNV_OFFSET_HI;
      state[1] = FNV_OFFSET_LO;
      if (fnv1a64Run(this.b, 0, listEnd, state)) {
        this.hashedTo = listEnd;
        const bytes = new Uint8Array(this.b.subarray(0, listEnd)); // a copy, not a view of the scratch buffer
        lists![slot] = { bytes, selectedColumns, aggregate, exists, hi: state[0]!, lo: state[1]! };
      }
    }
    return this.selectFrom(selectedColumns, aggregate, exists);
  }

  /** Moves past a `"name"` followed by `)` (no qualifier); false, the cursor unmoved, otherwise. */
  private bareNameAt(): boolean {
    const s = this.i;
    if (this.name() && this.b[this.i] === 41) return true;
    this.i = s;
    return false;
  }

  /** Whether the select list read last has an aggregate of a bare column name. */
  private bareName = false;
  /** The select list's facts, left by `selectList`. */
  private listColumns: ColumnRef[] = NONE;
  private listAggregate: SqlFacts['aggregate'] = null;
  private listExists = false;

  /** `[DISTINCT] item, …` up to ` FROM `: false when not readable; else its facts in the list fields. */
  private selectList(): boolean {
    let bareName = false; // (a subquery in the list reads a list of its own)
    this.lit(TEXT['DISTINCT ']);
    const selectedColumns: ColumnRef[] = [];
    let items = 0;
    let allAggregates = true;
    let aggregate: SqlFacts['aggregate'] = null;
    let constant = false;
    const b = this.b;
    do {
      const c = b[this.i]!;
      let itemAggregate: SqlFacts['aggregate'] = null;
      let itemConstant = false;
      if (c === 34 || (this.quiet > 0 && this.aliasAt(this.i))) {
        const ref = this.ref();
        if (ref === null) return false;
        if (!selectedColumns.includes(ref)) selectedColumns.push(ref);
      } else if (c === 37) {
        if (!this.param()) return false;
        itemConstant = true;
      } else if (c >= 48 && c <= 57) {
        if (this.integer() < 0) return false;
        itemConstant = true;
      } else if (c === 40) {
        // `(SELECT …)`, `("t"."c")` (a prefetch's related key), `(1)` (an older exists())
        const d = b[++this.i];
        if (d === 83) {
          if (!this.subquery()) return false;
        } else if (d === 34) {
          const ref = this.ref();
          if (ref === null || !this.close()) return false;
          if (!selectedColumns.includes(ref)) selectedColumns.push(ref);
        } else {
          if (!this.value() || !this.close()) return false;
          itemConstant = true;
        }
      } else if (this.lit(TEXT['EXISTS('])) {
        if (!this.subquery()) return false;
      } else if (this.lit(TEXT['DATE_TRUNC('])) {
        // dates() and the admin's date hierarchy: DATE_TRUNC(%s, "t"."c"[ AT TIME ZONE %s])
        if (!this.param() || !this.lit(TEXT[', '])) return false;
        const ref = this.ref();
        if (ref === null || (this.lit(TEXT[' AT TIME ZONE ']) && !this.param()) || !this.close()) return false;
        if (!selectedColumns.includes(ref)) selectedColumns.push(ref);
      } else {
        const fn = this.aggregateName();
        if (fn === null) return false;
        let column: ColumnRef | '*';
        if (b[this.i] === 42) {
          this.i++;
          column = '*';
        } else if (b[this.i] === 34 && this.bareNameAt()) {
          // A bare `"name"`: a derived table's column (the admin's MIN("__col1")), which makes no
          // ref; a table's would be `table.name`, so `select` then leaves the statement.
          bareName = true;
          column = '*';
        } else {
          this.lit(TEXT['DISTINCT ']);
          const ref = this.ref();
          if (ref === null) return false;
          if (!selectedColumns.includes(ref)) selectedColumns.push(ref);
          column = ref;
        }
        if (!this.close()) return false;
        itemAggregate = { fn, column };
      }
      if (this.lit(TEXT[' AS ']) && !this.name()) return false;
      items++;
      if (itemAggregate === null) allAggregates = false;
      else aggregate ??= itemAggregate;
      if (items === 1) constant = itemConstant;
    } while (this.lit(TEXT[', ']));
    this.bareName = bareName;
    this.listColumns = selectedColumns;
    this.listAggregate = items > 0 && allAggregates ? aggregate : null;
    this.listExists = items === 1 && constant;
    return true;
  }

  /** The rest of a SELECT from ` FROM `, its select list read. */
  private selectFrom(selectedColumns: ColumnRef[], aggregate: SqlFacts['aggregate'], exists: boolean, derivedOnly = false): SqlFacts | null {
    const b = this.b;
    if (!this.lit(TEXT[' FROM '])) return null;
    let table: string | null;
    if (b[this.i] === 40 && b[this.i + 1] === 83) {
      // A derived table: Django's count() of a DISTINCT, sliced or annotated query.
      this.i++;
      if (!this.subquery() || !this.lit(TEXT[' subquery'])) return null;
      table = '';
    } else {
      table = this.table();
      if (table === null || derivedOnly) return null;
    }
    let joins = NONE as unknown as Join[];
    for (;;) {
      let type: Join['type'];
      if (this.lit(TEXT[' INNER JOIN '])) type = 'INNER';
      else if (this.lit(TEXT[' LEFT OUTER JOIN '])) type = 'LEFT';
      else break;
      const joined = this.table();
      if (joined === null || !this.lit(TEXT[' ON ('])) return null;
      const left = this.ref();
      if (left === null || !this.lit(TEXT[' = '])) return null;
      const right = this.ref();
      if (right === null || !this.close()) return null;
      joins = appended(joins, { table: joined, type, on: left === right ? [left] : [left, right] });
    }
    if (!this.where()) return null;
    if (this.lit(TEXT[' GROUP BY '])) {
      // Neither GROUP BY nor HAVING adds a fact.
      do if (b[this.i]! >= 48 && b[this.i]! <= 57 ? this.integer() < 0 : this.ref() === null) return null;
      while (this.lit(TEXT[', ']));
      if (this.lit(TEXT[' HAVING '])) {
        this.quiet++;
        const read = this.condition();
        this.quiet--;
        if (!read) return null;
      }
    }
    let orderBy = NONE as unknown as SqlFacts['orderBy'];
    if (this.lit(TEXT[' ORDER BY '])) {
      do {
        // A position (`ORDER BY 1`) is a value, order_by('?') is RANDOM(): no column.
        const c = b[this.i]!;
        const column = c >= 48 && c <= 57 ? (this.integer() < 0 ? null : '') : c === 82 ? (this.lit(TEXT['RANDOM()']) ? '' : null) : this.ref();
        if (column === null) return null;
        let direction: 'ASC' | 'DESC' = 'ASC';
        if (this.lit(TEXT[' DESC'])) direction = 'DESC';
        else this.lit(TEXT[' ASC']);
        if (column !== '') orderBy = appended(orderBy, { column, direction });
      } while (this.lit(TEXT[', ']));
    }
    let limit: number | null = null;
    let offset = -1;
    if (this.lit(TEXT[' LIMIT '])) {
      limit = this.integer();
      if (limit < 0) return null;
      if (this.lit(TEXT[' OFFSET ']) && (offset = this.integer()) < 0) return null;
    }
    this.lit(TEXT[' FOR UPDATE']);
    const facts: SqlFacts = {
      operation: 'SELECT',
      transactionControl: false,
      table,
      joins,
      equalityFilters: this.equalityFilters,
      inFilters: this.inFilters,
      rangeFilters: this.rangeFilters,
      orderBy,
      limit,
      aggregate,
      exists,
      selectedColumns,
      writtenColumns: NONE,
    };
    if (offset >= 0) facts.offset = offset;
    if (this.inValues >= 2) facts.inValues = this.inValues;
    return facts;
  }

  /** The rest of `(SELECT …)` from its SELECT, closing bracket included: canonical text only, no facts. */
  private subquery(): boolean {
    if (this.nesting === MAX_NESTING) return false;
    this.nesting++;
    this.quiet++;
    const read = this.select() !== null;
    this.quiet--;
    this.nesting--;
    return read && this.close();
  }

  /** `)` at the cursor, moved past. */
  private close(): boolean {
    if (this.b[this.i] !== 41) return false;
    this.i++;
    return true;
  }

  /** BEGIN, COMMIT, ROLLBACK [TO SAVEPOINT "s"], SAVEPOINT "s", RELEASE SAVEPOINT "s". */
  private control(): SqlFacts | null {
    let operation: 'BEGIN' | 'COMMIT' | 'ROLLBACK' | 'SAVEPOINT' | 'RELEASE';
    if (this.lit(TEXT['BEGIN'])) operation = 'BEGIN';
    else if (this.lit(TEXT['COMMIT'])) operation = 'COMMIT';
    else if (this.lit(TEXT['ROLLBACK'])) {
      operation = 'ROLLBACK';
      if (this.lit(TEXT[' TO SAVEPOINT ']) && !this.savepointName()) return null;
    } else if (this.lit(TEXT['SAVEPOINT '])) {
      operation = 'SAVEPOINT';
      if (!this.savepointName()) return null;
    } else if (this.lit(TEXT['RELEASE SAVEPOINT '])) {
      operation = 'RELEASE';
      if (!this.savepointName()) return null;
    } else return null;
    return this.write(operation, '', NONE, true);
  }

  /** A savepoint's `"name"`, written `?`: Django's names differ per call. */
  private savepointName(): boolean {
    const s = this.i;
    if (!this.name()) return false;
    this.flush(s);
    this.put(63);
    this.from = this.i;
    return true;
  }

  private update(): SqlFacts | null {
    if (!this.lit(TEXT['UPDATE '])) return null;
    const table = this.table();
    if (table === null || !this.lit(TEXT[' SET '])) return null;
    const writtenColumns: string[] = [];
    do {
      const s = this.i;
      if (!this.name() || !this.lit(TEXT[' = '])) return null;
      const end = this.nameEnd;
      if (this.b[this.i] === 40) {
        // An F() expression: ("t"."c" + %s)
        this.i++;
        if (this.ref() === null || !(this.lit(TEXT[' + ']) || this.lit(TEXT[' - '])) || !this.value() || !this.close()) return null;
      } else if (!this.value()) return null;
      writtenColumns.push(this.sql.slice(s + 1, end - 1));
    } while (this.lit(TEXT[', ']));
    if (!this.where()) return null;
    return this.write('UPDATE', table, writtenColumns);
  }

  private delete(): SqlFacts | null {
    if (!this.lit(TEXT['DELETE FROM '])) return null;
    const table = this.table();
    if (table === null || !this.where()) return null;
    return this.write('DELETE', table, NONE);
  }

  private insert(): SqlFacts | null {
    if (!this.lit(TEXT['INSERT INTO '])) return null;
    const table = this.table();
    if (table === null || !this.lit(TEXT[' ('])) return null;
    const writtenColumns: string[] = [];
    do {
      const s = this.i;
      if (!this.name()) return null;
      writtenColumns.push(this.sql.slice(s + 1, this.nameEnd - 1));
    } while (this.lit(TEXT[', ']));
    let multiRow = false;
    if (this.lit(TEXT[') VALUES ('])) {
      let values = 0;
      do {
        if (!this.param()) return null;
        values++;
      } while (this.lit(TEXT[', ']));
      if (!this.close()) return null;
      // Further rows of as many %s are the first one's text again: the canonical text drops them.
      const firstRowEnd = this.i;
      const b = this.b;
      while (b[this.i] === 44 && b[this.i + 1] === 32 && b[this.i + 2] === 40) {
        this.i += 3;
        for (let k = 0; k < values; k++) {
          if ((k > 0 && !this.lit(TEXT[', '])) || b[this.i] !== 37 || b[this.i + 1] !== 115) return null;
          this.i += 2;
        }
        if (!this.close()) return null;
        multiRow = true;
      }
      if (multiRow) {
        this.flush(firstRowEnd);
        this.from = this.i;
      }
    } else if (this.lit(TEXT[') SELECT * FROM UNNEST('])) {
      // bulk_create's arrays, one per column: (%s)::type[]
      do if (!this.lit(TEXT['('])  || !this.param() || !this.lit(TEXT[')::']) || !this.arrayType()) return null;
      while (this.lit(TEXT[', ']));
      if (!this.close()) return null;
      this.lit(TEXT[' ON CONFLICT DO NOTHING']);
      multiRow = true; // Django writes UNNEST only for two rows or more
    } else return null;
    // RETURNING is not read by the facts; only its text is kept.
    if (this.lit(TEXT[' RETURNING ']) && this.ref() === null) return null;
    const facts = this.write('INSERT', table, writtenColumns);
    if (multiRow) facts.multiRowValues = true;
    return facts;
  }

  /** A column type of Django's, then `[]`, written in canonical form (its keywords upper-case). */
  private arrayType(): boolean {
    for (let k = 0; k < ARRAY_TYPES.length; k++) {
      const type = ARRAY_TYPES[k]!;
      const s = this.i;
      if (!this.lit(type.raw)) continue;
      if (type.canonical !== null) {
        this.flush(s);
        for (let j = 0; j < type.canonical.length; j++) this.put(type.canonical[j]!);
        this.from = this.i - 2; // from the `[]`
      }
      return true;
    }
    return false;
  }

  /** Facts of a statement other than SELECT, with the filters `where` collected. */
  private write(
    operation: 'UPDATE' | 'DELETE' | 'INSERT' | 'BEGIN' | 'COMMIT' | 'ROLLBACK' | 'SAVEPOINT' | 'RELEASE', table: string, writtenColumns: string[],
    transactionControl = false,
  ): SqlFacts {
    const facts: SqlFacts = {
      operation,
      transactionControl,
      table,
      joins: NONE as unknown as Join[],
      equalityFilters: this.equalityFilters,
      inFilters: this.inFilters,
      rangeFilters: this.rangeFilters,
      orderBy: NONE as unknown as SqlFacts['orderBy'],
      limit: null,
      aggregate: null,
      exists: false,
      selectedColumns: NONE,
      writtenColumns,
    };
    if (this.inValues >= 2 && (operation === 'UPDATE' || operation === 'DELETE')) facts.multiRowValues = true;
    return facts;
  }

  /** An optional ` WHERE cond`; false when it is there but not readable. Fills the filter lists. */
  private where(): boolean {
    return !this.lit(TEXT[' WHERE ']) || this.condition();
  }

  /** Predicates joined by AND / OR. */
  private condition(): boolean {
    do if (!this.predicate()) return false;
    while (this.lit(TEXT[' AND ']) || this.lit(TEXT[' OR ']));
    return true;
  }

  /** `(cond)`, `NOT pred` (no filter inside), `EXISTS(SELECT …)` (none), or a comparison. */
  private predicate(): boolean {
    if (this.nesting === MAX_NESTING) return false;
    this.nesting++;
    const read = this.predicateAt();
    this.nesting--;
    return read;
  }

  private predicateAt(): boolean {
    const b = this.b;
    const c = b[this.i];
    if (c === 40) {
      if (b[this.i + 1] === 83) return false; // a subquery's value compared: not a shape
      this.i++;
      return this.condition() && this.close();
    }
    if (c === 78 && this.lit(TEXT['NOT '])) {
      this.quiet++;
      const read = this.predicate();
      this.quiet--;
      return read;
    }
    if (c === 69 && this.lit(TEXT['EXISTS('])) return this.subquery();
    return this.comparison();
  }

  /**
   * `x op value` (a filter on x's column), `x IN (%s, …)`, `x BETWEEN v AND v`, `x op "c"."d"`,
   * `x IN (SELECT …)`, `x LIKE v`, `x IS [NOT] NULL` or `x` alone (none of these a filter), where x
   * is a column, maybe `::text` and inside `UPPER(…)` as Django's text lookups write it.
   */
  private comparison(): boolean {
    const column = this.operand();
    if (column === null) return false;
    const b = this.b;
    let op: number;
    if (this.lit(TEXT[' = '])) op = OP_EQ;
    else if (this.lit(TEXT[' IN ('])) op = OP_IN;
    else if (this.lit(TEXT[' >= ']) || this.lit(TEXT[' <= ']) || this.lit(TEXT[' < ']) || this.lit(TEXT[' > '])) op = OP_RANGE;
    else if (this.lit(TEXT[' BETWEEN '])) {
      if (!this.value() || !this.lit(TEXT[' AND ']) || !this.value()) return false;
      if (this.quiet === 0) this.rangeFilters = added(this.rangeFilters, column);
      return true;
    } else if (this.lit(TEXT[' LIKE ']) || this.lit(TEXT[' ILIKE '])) return this.value(); // not a filter an index serves
    else if (this.lit(TEXT[' IS NULL']) || this.lit(TEXT[' IS NOT NULL'])) return true; // nor this
    else return true; // a boolean column
    if (op === OP_IN) {
      if (b[this.i] === 83) return this.subquery();
      // `(%s, %s, …)` is canonically `(?)`: every element repeats the first.
      if (b[this.i] !== 37 || b[this.i + 1] !== 115) return false;
      this.flush(this.i);
      this.put(63);
      this.i += 2;
      const first = this.i;
      while (b[this.i] === 44 && b[this.i + 1] === 32 && b[this.i + 2] === 37 && b[this.i + 3] === 115) this.i += 4;
      if (b[this.i] !== 41) return false;
      const values = 1 + ((this.i - first) >> 2); // each further value is `, %s`
      this.from = this.i;
      this.i++;
      if (this.quiet === 0) {
        if (values > this.inValues) this.inValues = values;
        this.equalityFilters = added(this.equalityFilters, column);
        this.inFilters = added(this.inFilters, column);
      }
      return true;
    }
    const c = b[this.i];
    if (c === 34 || (c === 40 && b[this.i + 1] === 34) || (this.quiet > 0 && this.aliasAt(this.i))) {
      // column against column (or an outer query's column, `("t"."id")`): not a filter
      if (c !== 40) return this.ref() !== null;
      this.i++;
      if (this.ref() === null) return false;
      // ("t"."c" * %s): F() arithmetic, still a column
      if (this.lit(TEXT[' + ']) || this.lit(TEXT[' - ']) || this.lit(TEXT[' * ']) || this.lit(TEXT[' / '])) {
        if (!this.value()) return false;
      }
      return this.close();
    }
    if (!this.value()) return false;
    if (this.quiet === 0) {
      if (op === OP_EQ) this.equalityFilters = added(this.equalityFilters, column);
      else this.rangeFilters = added(this.rangeFilters, column);
    }
    return true;
  }

  /**
   * The left side of a comparison: `"a"."b"`, maybe `::text`, maybe inside `UPPER(…)`; in a quiet
   * part (subquery, NOT, HAVING) also an alias's column or an aggregate. Its column ('' for
   * `COUNT(*)`), or null when it is none of these.
   */
  private operand(): ColumnRef | null {
    const b = this.b;
    const c = b[this.i];
    if (c === 34 || (this.quiet > 0 && this.aliasAt(this.i))) return this.castRef();
    if (this.lit(TEXT['UPPER('])) {
      const column = this.castRef();
      return column !== null && this.close() ? column : null;
    }
    if (this.quiet === 0) return null;
    if (this.aggregateName() === null) return null;
    let column: ColumnRef | null = '';
    if (b[this.i] === 42) this.i++;
    else column = this.ref();
    return column !== null && this.close() ? column : null;
  }

  /** A column ref with an optional `::text`. */
  private castRef(): ColumnRef | null {
    const ref = this.ref();
    if (ref !== null) this.lit(TEXT['::text']);
    return ref;
  }

  /** `%s`, an unsigned integer, or `UPPER(%s)`, each value written `?`. */
  private value(): boolean {
    const c = this.b[this.i];
    if (c === 37) return this.param();
    if (c === 85) return this.lit(TEXT['UPPER(']) && this.param() && this.close();
    return this.integer() >= 0;
  }

  /** `%s`, written `?`. */
  private param(): boolean {
    const b = this.b;
    if (b[this.i] !== 37 || b[this.i + 1] !== 115) return false;
    this.flush(this.i);
    this.put(63);
    this.i += 2;
    this.from = this.i;
    return true;
  }

  /** An unsigned integer of up to 15 digits, written `?`; its value, or -1 when there is none. */
  private integer(): number {
    const b = this.b;
    const s = this.i;
    let v = 0;
    let i = s;
    for (let c = b[i]!; c >= 48 && c <= 57 && i - s < 15; c = b[++i]!) v = v * 10 + (c - 48);
    // The number must end here: the lexer would read on through `.5`, `e3`, `x1f` or a word.
    const e = i < this.n ? b[i]! : 32;
    if (i === s || (e > 32 && e !== 44 && e !== 41)) return -1;
    this.flush(s);
    this.put(63);
    this.i = i;
    this.from = i;
    return v;
  }

  /** `COUNT(` and the other aggregates: the function, or null. */
  private aggregateName(): SqlAggregate | null {
    for (let k = 0; k < AGGREGATES.length; k++) {
      if (this.lit(AGGREGATE_BYTES[k]!)) {
        if (this.b[this.i] !== 40) return null;
        this.i++;
        return AGGREGATES[k]!;
      }
    }
    return null;
  }

  /** End offset of the last name read by `name`. */
  private nameEnd = 0;

  /** A `"quoted"` name with at least one character and no doubled quote. */
  private name(): boolean {
    const b = this.b;
    const s = this.i;
    if (s >= this.n || b[s] !== 34) return false;
    let j = s + 1;
    const n = this.n;
    while (j < n && b[j] !== 34) j++;
    if (j >= n || j === s + 1 || b[j + 1] === 34) return false;
    this.i = this.nameEnd = j + 1;
    return true;
  }

  /**
   * A table name (no schema); in a quiet part also its alias (`"t" U0`), and '' is returned: the
   * name is read by no fact there.
   */
  private table(): string | null {
    const s = this.i;
    if (!this.name()) return null;
    if (this.quiet === 0) return this.sql.slice(s + 1, this.i - 1);
    const i = this.i;
    if (this.b[i] === 32 && this.aliasAt(i + 1)) this.i = this.aliasEnd;
    return '';
  }

  /** End of the alias `aliasAt` found last. */
  private aliasEnd = 0;

  /**
   * Whether one of Django's table aliases starts at i: a capital letter and digits (`U0`, `T3`),
   * not running on into a word; no keyword looks like that. Sets `aliasEnd`.
   */
  private aliasAt(i: number): boolean {
    const b = this.b;
    const c = b[i]!;
    if (c < 65 || c > 90) return false;
    let j = i + 1;
    let d = b[j]!;
    if (d < 48 || d > 57) return false;
    do d = b[++j]!;
    while (d >= 48 && d <= 57);
    if (j > this.n || (d >= 65 && d <= 90) || (d >= 97 && d <= 122) || d === 95 || d === 36 || d >= 128) return false;
    this.aliasEnd = j;
    return true;
  }

  /** `"q"."c"` as the ref `q.c`, or in a quiet part `U0."c"` as ''; null when the text is not such a pair. */
  private ref(): ColumnRef | null {
    const s = this.i;
    if (this.b[s] !== 34) {
      if (this.quiet === 0 || !this.aliasAt(s) || this.b[this.aliasEnd] !== 46) return null;
      this.i = this.aliasEnd + 1;
      if (!this.name()) return null;
      const c = this.b[this.i];
      return c === 46 || c === 40 ? null : '';
    }
    if (!this.name()) return null;
    const e = this.i;
    if (this.b[e] !== 46) return null;
    this.i = e + 1;
    if (!this.name()) return null;
    const end = this.i;
    const c = this.b[end];
    if (c === 46 || c === 40) return null; // a longer chain, `t.*` or a call
    const cache = this.refs;
    let slot = -1;
    if (cache !== null) {
      slot = columnRefSlot(this.b, s, e, end);
      const hit = slot >= 0 ? cachedColumnRef(cache, this.b, s, end, slot) : undefined;
      if (hit !== undefined) return hit;
    }
    const ref = `${this.sql.slice(s + 1, e - 1)}.${this.sql.slice(e + 2, end - 1)}`;
    if (slot >= 0) storeColumnRef(cache!, this.b, s, end, slot, ref);
    return ref;
  }

  /** Whether `b[0, len)` equals `bytes[0, len)`. */
  private sameBytes(bytes: Uint8Array, len: number): boolean {
    const b = this.b;
    for (let k = 0; k < len; k++) if (b[k] !== bytes[k]) return false;
    return true;
  }

  /** Matches `word` (one of TEXT) at the cursor and moves past it. */
  private lit(word: Uint8Array): boolean {
    const b = this.b;
    const i = this.i;
    const len = word.length;
    if (i + len > this.n) return false;
    for (let k = 0; k < len; k++) if (b[i + k] !== word[k]) return false;
    this.i = i + len;
    return true;
  }

  /** Whitespace and block comments only from the cursor to the end (a comment there makes no token). */
  private blankToEnd(): boolean {
    const b = this.b;
    const n = this.n;
    let i = this.i;
    if (i < n) {
      // A keyword or name must not run on into a word: `LIMIT 1` is complete, `"t"x` is not.
      const c = b[i]!;
      if (c > 32 && c !== 47) return false;
    }
    while (i < n) {
      const c = b[i]!;
      if (c <= 32) i++;
      else if (c === 47 && b[i + 1] === 42) {
        const close = this.sql.indexOf('*/', i + 2);
        if (close < 0) return false;
        i = close + 2;
      } else return false;
    }
    return true;
  }

  /** Copies the raw text from `from` up to `to` to the output. */
  private flush(to: number): void {
    const from = this.from;
    if (to > from) {
      this.out.copyWithin(this.at + this.o, from, to);
      this.o += to - from;
    }
    this.from = to;
  }

  private put(c: number): void {
    this.out[this.at + this.o++] = c;
  }
}
