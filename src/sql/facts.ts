/** Reads the structural facts detection and suggestion need (tables, joins, filters, limit…) from a token stream. */

import { FLAG_AGGREGATE, KEYWORD_FLAGS, KEYWORD_TEXT, KW } from './keywords.js';
import {
  AUX_SHIFT, KIND_MASK, OP_EQ, OP_GE, OP_GT, OP_LE, OP_LT, OP_NE, OP_STAR, QIDENT_ESCAPED, QIDENT_UNTERMINATED, STRIDE,
  TK_BOOL, TK_CAST, TK_COMMA, TK_DOT, TK_LBRACKET, TK_LPAREN, TK_NUMBER, TK_OP, TK_PARAM,
  TK_QIDENT, TK_SEMI, TK_STRING, TK_WORD, valueRunEnd,
} from './lexer.js';
import type { Tokens } from './lexer.js';
import type { ColumnRef, SqlAggregate, SqlFacts, SqlOperation } from './types.js';

type JoinType = SqlFacts['joins'][number]['type'];

// Clauses of SELECT / UPDATE / DELETE, found at the statement's own nesting level.
const CL_SET = 0;
const CL_FROM = 1;
const CL_WHERE = 2;
const CL_GROUP = 3;
const CL_HAVING = 4;
const CL_WINDOW = 5;
const CL_ORDER = 6;
const CL_LIMIT = 7;
const CL_OFFSET = 8;
const CL_FETCH = 9;
const CL_FOR = 10;
const CL_RETURNING = 11;

/** Per-clause token bounds, -1 when absent. */
function clauseBounds(): number[] {
  return [-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1];
}

/**
 * Facts about the outermost statement (the first one when there are several). Subqueries are
 * skipped, never descended into; malformed SQL yields partial facts, never an exception.
 */
export function extractFacts(sql: string, t: Tokens, refs: ColumnRefCache | null = null): SqlFacts {
  return new FactReader(sql, t, refs).read();
}

/** A statement that only configures the ones after it in the same string: SET, BEGIN, START TRANSACTION. */
function isPreamble(keyword: number): boolean {
  return keyword === KW.SET || keyword === KW.BEGIN || keyword === KW.START;
}

/** Grouping parentheses a WHERE is read through; Django nests a few per Q object, a generated filter may nest thousands. */
const MAX_GROUPING = 256;

const REF_SLOTS = 1024;
/** Longest `qualifier.column` text the memo keeps. */
const REF_MAX = 96;

/**
 * Column refs a normaliser already built, by the raw text of their `qualifier.column` pair: a new
 * statement of an app names the same columns as the ones before it, and building `table.column`
 * (two slices and a concatenation) was most of the cost of reading a select list. Direct-mapped,
 * so its size is bounded: a collision replaces the older entry.
 */
export interface ColumnRefCache {
  /** The statement's byte image (see `writeByteImage`); the memo is used only for ASCII statements, whose image is their text. */
  bytes: Uint8Array | null;
  /** Each slot's raw text, REF_MAX bytes per slot (comparing bytes is cheaper than comparing a sliced string). */
  raw: Uint8Array;
  /** Each slot's raw text length; 0 when empty. */
  rawLength: Int32Array;
  ref: ColumnRef[];
}

export function createColumnRefCache(): ColumnRefCache {
  return {
    bytes: null,
    raw: new Uint8Array(REF_SLOTS * REF_MAX),
    rawLength: new Int32Array(REF_SLOTS),
    ref: new Array<ColumnRef>(REF_SLOTS).fill(''),
  };
}

/**
 * The memo slot for the qualified column ref written as `b[s, end)`, its qualifier ending at e
 * (the `.` is at e), or -1 when the text is too long to be remembered.
 */
export function columnRefSlot(b: Uint8Array, s: number, e: number, end: number): number {
  if (end - s > REF_MAX) return -1;
  // A few bytes of each name and both lengths pick the slot; comparing the text proves a match.
  const cs = e + 1;
  let h = Math.imul(e - s, 0x9e3779b1) ^ Math.imul(end - cs, 0x85ebca6b);
  h = Math.imul(h ^ b[s + 1]! ^ (b[e - 2]! << 8) ^ (b[s + 3]! << 16), 0xcc9e2d51);
  h = Math.imul(h ^ b[cs + 1]! ^ (b[end - 2]! << 8) ^ (b[cs + 2]! << 16), 0x1b873593);
  return (h ^ (h >>> 15) ^ (h >>> 22)) & (REF_SLOTS - 1);
}

/** The ref remembered in `slot` when it was built from the same text `b[s, end)`, else undefined. */
export function cachedColumnRef(cache: ColumnRefCache, b: Uint8Array, s: number, end: number, slot: number): ColumnRef | undefined {
  const len = end - s;
  if (cache.rawLength[slot] !== len) return undefined;
  const raw = cache.raw;
  const at = slot * REF_MAX;
  let k = 0;
  while (k < len && raw[at + k] === b[s + k]) k++;
  return k === len ? cache.ref[slot] : undefined;
}

/** Remembers `ref` for the text `b[s, end)` in the slot `columnRefSlot` gave. */
export function storeColumnRef(cache: ColumnRefCache, b: Uint8Array, s: number, end: number, slot: number, ref: ColumnRef): void {
  cache.raw.set(b.subarray(s, end), slot * REF_MAX);
  cache.rawLength[slot] = end - s;
  cache.ref[slot] = ref;
}

class FactReader {
  private readonly d: Int32Array;
  private readonly n: number;
  private readonly firstSemi: number;
  /** The lexer's keywords outside every bracket; null once the statement read is itself in brackets. */
  private topKeywords: Int32Array | null;
  private readonly topKeywordCount: number;
  /** Where the last `nextKeyword` search in `topKeywords` ended. */
  private topAt = 0;
  private table = '';
  private aliases: Map<string, string> | null = null;
  /** Last qualifier resolved: Django repeats `"app_model".` before every column. */
  private lastQualifierRaw = '';
  private lastQualifierTable = '';
  /** The most values a filter's `IN (…)` list held (from two, a write by it is of several rows). */
  private inValues = 0;
  private readonly facts: SqlFacts = {
    operation: 'OTHER',
    transactionControl: false,
    table: '',
    joins: [],
    equalityFilters: [],
    inFilters: [],
    rangeFilters: [],
    orderBy: [],
    limit: null,
    aggregate: null,
    exists: false,
    selectedColumns: [],
    writtenColumns: [],
  };

  constructor(
    private readonly sql: string,
    t: Tokens,
    private readonly refCache: ColumnRefCache | null,
  ) {
    this.d = t.data;
    this.n = t.count;
    this.firstSemi = t.firstSemi;
    this.topKeywords = t.topKeywords;
    this.topKeywordCount = t.topKeywordCount;
  }

  /** The first keyword token at the statement's level in [j, end), or end. */
  private nextKeyword(j: number, end: number): number {
    const top = this.topKeywords;
    if (top !== null) {
      let x = this.topAt > 0 && top[this.topAt - 1]! >= j ? 0 : this.topAt;
      while (x < this.topKeywordCount && top[x]! < j) x++;
      this.topAt = x;
      return x < this.topKeywordCount && top[x]! < end ? top[x]! : end;
    }
    for (; j < end; j++) {
      const k = this.kind(j);
      if (k === TK_LPAREN || k === TK_LBRACKET) j = this.after(j) - 1;
      else if (k === TK_PARAM) j = valueRunEnd(this.d, j);
      else if (k === TK_WORD && this.aux(j) !== 0) return j;
    }
    return end;
  }

  private kind(i: number): number {
    return i < this.n ? this.d[i * STRIDE]! & KIND_MASK : 0;
  }

  /** Keyword id of token i, 0 when it is not a keyword. */
  private kw(i: number): number {
    if (i >= this.n) return 0;
    const info = this.d[i * STRIDE]!;
    return (info & KIND_MASK) === TK_WORD ? info >> AUX_SHIFT : 0;
  }

  private aux(i: number): number {
    return this.d[i * STRIDE]! >> AUX_SHIFT;
  }

  /** Index just past the bracket group opened at i (clamped to the token count). */
  private after(i: number): number {
    const p = this.d[i * STRIDE + 3]!;
    return p >= this.n ? this.n : p + 1;
  }

  /** An identifier token's name: quotes removed and doubled quotes undone. */
  private ident(i: number): string {
    const info = this.d[i * STRIDE]!;
    const s = this.d[i * STRIDE + 1]!;
    const e = this.d[i * STRIDE + 2]!;
    if ((info & KIND_MASK) !== TK_QIDENT) return this.sql.slice(s, e);
    const flags = info >> AUX_SHIFT;
    const name = this.sql.slice(s + 1, (flags & QIDENT_UNTERMINATED) !== 0 ? e : e - 1);
    if ((flags & QIDENT_ESCAPED) === 0) return name;
    const q = this.sql[s]!;
    return name.replaceAll(q + q, q);
  }

  /** Starts an identifier chain: a quoted name or an unquoted non-keyword word. */
  private isNameStart(i: number): boolean {
    const k = this.kind(i);
    return k === TK_QIDENT || (k === TK_WORD && this.aux(i) === 0);
  }

  private isName(i: number): boolean {
    const k = this.kind(i);
    return k === TK_QIDENT || k === TK_WORD;
  }

  private isValue(i: number): boolean {
    const k = this.kind(i);
    return k === TK_STRING || k === TK_NUMBER || k === TK_PARAM || k === TK_BOOL;
  }

  /**
   * The run of `(` that `isSubquery` measured last: tokens [parenRunStart, parenRunEnd) are `(`,
   * parenRunEnd is not. Readers ask about each `(` of a run in turn (`((((x))))`), and measuring each
   * one's rest of the run again made 40 KB of nested brackets take seconds.
   */
  private parenRunStart = -1;
  private parenRunEnd = -1;

  /** `(` opening a subquery: `(SELECT`, `(WITH`, `(VALUES`, also behind extra parentheses. */
  private isSubquery(i: number): boolean {
    let f: number;
    if (i >= this.parenRunStart && i < this.parenRunEnd) f = this.parenRunEnd;
    else {
      f = i;
      while (this.kind(f) === TK_LPAREN) f++;
      this.parenRunStart = i;
      this.parenRunEnd = f;
    }
    const k = this.kw(f);
    return k === KW.SELECT || k === KW.WITH || k === KW.VALUES;
  }

  /** The first `;` at the level of token i in [i, end), or end. */
  private semicolonFrom(i: number, end: number): number {
    for (let j = i; j < end; j++) {
      const k = this.kind(j);
      if (k === TK_LPAREN || k === TK_LBRACKET) j = this.after(j) - 1;
      else if (k === TK_PARAM) j = valueRunEnd(this.d, j);
      else if (k === TK_SEMI) return j;
    }
    return end;
  }

  read(): SqlFacts {
    let i = 0;
    let end = this.n;
    // `(SELECT …) UNION (SELECT …)`: describe the first part.
    while (this.kind(i) === TK_LPAREN) {
      end = Math.min(end, this.after(i) - 1);
      i++;
      this.topKeywords = null;
    }
    // At the top level the lexer already knows where the first statement ends.
    if (i === 0) {
      if (this.firstSemi >= 0) {
        end = this.firstSemi;
        // `SET LOCAL statement_timeout = …; SELECT …` or `BEGIN; SELECT …` in one string: the SETs
        // and the transaction's opening configure the query after them, which is the statement's
        // work (a loop of them is a loop of that query).
        for (let set = 0; isPreamble(this.kw(set)) && end < this.n; ) {
          let next = end + 1;
          while (this.kind(next) === TK_SEMI) next++;
          const w = this.kw(next);
          if (!isPreamble(w) && w !== KW.SELECT && w !== KW.WITH && w !== KW.INSERT && w !== KW.REPLACE && w !== KW.UPDATE && w !== KW.DELETE) break;
          i = set = next;
          end = this.semicolonFrom(next, this.n);
        }
      }
    } else end = this.semicolonFrom(i, end);
    if (i >= end) return this.facts;

    let first = this.kw(i);
    if (first === KW.WITH) {
      // CTE bodies are parenthesised; the main statement is the first verb at this level.
      first = 0;
      for (let j = i + 1; j < end; j++) {
        const k = this.kind(j);
        if (k === TK_LPAREN || k === TK_LBRACKET) {
          j = this.after(j) - 1;
          continue;
        }
        const w = this.kw(j);
        if (w === KW.SELECT || w === KW.INSERT || w === KW.UPDATE || w === KW.DELETE) {
          first = w;
          i = j;
          break;
        }
      }
    }

    const f = this.facts;
    switch (first) {
      case KW.SELECT:
        f.operation = 'SELECT';
        this.readSelect(i, end);
        break;
      case KW.INSERT:
      case KW.REPLACE:
        f.operation = 'INSERT';
        this.readInsert(i + 1, end);
        break;
      case KW.UPDATE:
        f.operation = 'UPDATE';
        this.readUpdate(i + 1, end);
        break;
      case KW.DELETE:
        f.operation = 'DELETE';
        this.readDelete(i + 1, end);
        break;
      case KW.BEGIN:
      case KW.START:
        this.control('BEGIN');
        break;
      case KW.COMMIT:
      case KW.END:
        this.control('COMMIT');
        break;
      case KW.ROLLBACK:
      case KW.ABORT:
        this.control('ROLLBACK');
        break;
      case KW.SAVEPOINT:
        this.control('SAVEPOINT');
        break;
      case KW.RELEASE:
        this.control('RELEASE');
        break;
      case KW.SET:
        this.control('SET');
        break;
    }
    f.table = this.table;
    return f;
  }

  private control(op: SqlOperation): void {
    this.facts.operation = op;
    this.facts.transactionControl = true;
  }

  /**
   * Finds the clauses at the statement's level in (from, end): starts[c] is the first token of
   * clause c (after ORDER BY / GROUP BY), ends[c] its end; -1 when absent. Returns where the first
   * clause keyword is (the end of a SELECT list).
   */
  private clauses(from: number, end: number, starts: number[], ends: number[]): number {
    let firstAt = end;
    let cur = -1;
    let j = this.nextKeyword(from, end);
    for (; j < end; j = this.nextKeyword(j + 1, end)) {
      const w = this.aux(j);
      let c = -1;
      switch (w) {
        case KW.SET: c = CL_SET; break;
        case KW.FROM:
          // `IS [NOT] DISTINCT FROM` is a comparison
          if (this.kw(j - 1) !== KW.DISTINCT) c = CL_FROM;
          break;
        case KW.WHERE: c = CL_WHERE; break;
        case KW.GROUP: c = CL_GROUP; break;
        case KW.HAVING: c = CL_HAVING; break;
        case KW.WINDOW: c = CL_WINDOW; break;
        case KW.ORDER: c = CL_ORDER; break;
        case KW.LIMIT: c = CL_LIMIT; break;
        case KW.OFFSET: c = CL_OFFSET; break;
        case KW.FETCH: c = CL_FETCH; break;
        case KW.FOR: c = CL_FOR; break;
        case KW.RETURNING: c = CL_RETURNING; break;
        case KW.UNION:
        case KW.INTERSECT:
        case KW.EXCEPT:
          c = -2;
          break;
      }
      if (c === -1 || (c >= 0 && starts[c] !== -1)) continue;
      if (cur >= 0) ends[cur] = j;
      if (firstAt === end) firstAt = j;
      if (c === -2) {
        cur = -1;
        break;
      }
      cur = c;
      starts[c] = (c === CL_ORDER || c === CL_GROUP) && this.kw(j + 1) === KW.BY ? j + 2 : j + 1;
    }
    if (cur >= 0) ends[cur] = j;
    return firstAt;
  }

  private readSelect(i: number, end: number): void {
    const starts = clauseBounds();
    const ends = clauseBounds();
    const listEnd = this.clauses(i + 1, end, starts, ends);
    let listStart = i + 1;
    const q = this.kw(listStart);
    if (q === KW.DISTINCT) {
      listStart++;
      if (this.kw(listStart) === KW.ON && this.kind(listStart + 1) === TK_LPAREN) listStart = this.after(listStart + 1);
    } else if (q === KW.ALL) listStart++;

    // FROM first: it defines the aliases every other clause refers to.
    if (starts[CL_FROM]! >= 0) this.readFrom(starts[CL_FROM]!, ends[CL_FROM]!);
    this.readSelectList(listStart, listEnd, starts[CL_FROM]! >= 0);
    if (starts[CL_WHERE]! >= 0) this.readWhere(starts[CL_WHERE]!, ends[CL_WHERE]!);
    if (starts[CL_ORDER]! >= 0) this.readOrderBy(starts[CL_ORDER]!, ends[CL_ORDER]!);
    this.readLimit(starts[CL_LIMIT]!, starts[CL_FETCH]!);
    this.readOffset(starts[CL_LIMIT]!, starts[CL_OFFSET]!);
    if (this.inValues >= 2) this.facts.inValues = this.inValues;
  }

  private readInsert(i: number, end: number): void {
    // INSERT [IGNORE] [INTO] t, INSERT OR REPLACE INTO t (sqlite), REPLACE INTO t (MySQL)
    while (i < end) {
      const w = this.kw(i);
      if (w === KW.INTO || w === KW.IGNORE || w === KW.OR || w === KW.REPLACE) i++;
      else break;
    }
    i = this.readTableName(i, end, true);
    if (this.kw(i) === KW.AS && this.isName(i + 1)) i += 2;
    if (this.kind(i) === TK_LPAREN && !this.isSubquery(i)) {
      const close = this.after(i) - 1;
      const cols = this.facts.writtenColumns;
      for (let j = i + 1; j < close; j++) {
        if (this.isName(j) && this.kind(j + 1) !== TK_DOT) cols.push(this.ident(j));
      }
      i = close + 1;
    }
    // VALUES (…), (…): one statement writes many rows, which is what bulk_create already does.
    if (this.kw(i) === KW.VALUES && this.kind(i + 1) === TK_LPAREN) {
      const next = this.after(i + 1);
      if (next < end && this.kind(next) === TK_COMMA && this.kind(next + 1) === TK_LPAREN) this.facts.multiRowValues = true;
    } else if (this.isUnnestSelect(i, end)) {
      // SELECT * FROM UNNEST((%s)::type[], …): Django 5.2's bulk_create on PostgreSQL, which it
      // writes only for two rows or more (one row is VALUES).
      this.facts.multiRowValues = true;
    }
  }

  /** `SELECT * FROM UNNEST(` at i. */
  private isUnnestSelect(i: number, end: number): boolean {
    if (i + 4 >= end || this.kw(i) !== KW.SELECT || this.kind(i + 1) !== TK_OP || this.aux(i + 1) !== OP_STAR) return false;
    if (this.kw(i + 2) !== KW.FROM || this.kind(i + 3) !== TK_WORD || this.kind(i + 4) !== TK_LPAREN) return false;
    const s = this.d[(i + 3) * STRIDE + 1]!;
    return this.d[(i + 3) * STRIDE + 2]! - s === 6 && this.sql.substr(s, 6).toUpperCase() === 'UNNEST';
  }

  private readUpdate(i: number, end: number): void {
    if (this.kw(i) === KW.ONLY) i++;
    i = this.readTableName(i, end, true);
    const starts = clauseBounds();
    const ends = clauseBounds();
    this.clauses(i, end, starts, ends);
    const setStart = starts[CL_SET]!;
    let caseSet = false;
    if (setStart >= 0) {
      // SET "a" = …, "b" = …, ("c", "d") = (…): the name before each top-level `=`
      const setEnd = ends[CL_SET]!;
      const cols = this.facts.writtenColumns;
      let itemStart = setStart;
      let tupleEnd = -1; // the closing ) of a ("c", "d") column tuple
      for (let j = setStart; j < setEnd; j++) {
        const k = this.kind(j);
        if (k === TK_LPAREN) {
          if (j === itemStart) tupleEnd = this.after(j) - 1;
          else j = this.after(j) - 1;
        } else if (k === TK_COMMA) {
          if (j > tupleEnd) itemStart = j + 1;
        } else if (k === TK_OP && this.aux(j) === OP_EQ && itemStart >= 0) {
          for (let c = itemStart; c < j; c++) {
            if (this.isName(c) && this.kind(c + 1) !== TK_DOT) cols.push(this.ident(c));
          }
          itemStart = -1; // until the next comma
          if (this.isCaseValue(j + 1)) caseSet = true;
        }
      }
    }
    if (starts[CL_WHERE]! >= 0) this.readWhere(starts[CL_WHERE]!, ends[CL_WHERE]!);
    // SET "c" = CASE WHEN (pk = %s) THEN %s … END WHERE pk IN (…): bulk_update's batch, each row's
    // value in one statement.
    if ((caseSet && this.facts.inFilters!.length > 0) || this.inValues >= 2) this.facts.multiRowValues = true;
    if (starts[CL_ORDER]! >= 0) this.readOrderBy(starts[CL_ORDER]!, ends[CL_ORDER]!);
    this.readLimit(starts[CL_LIMIT]!, -1);
  }

  /** A value that is a CASE, maybe in CAST(…) or parentheses (bulk_update's casts). */
  private isCaseValue(i: number): boolean {
    for (;;) {
      if (this.kind(i) === TK_LPAREN) i++;
      else if (this.kw(i) === KW.CAST && this.kind(i + 1) === TK_LPAREN) i += 2;
      else return this.kw(i) === KW.CASE;
    }
  }

  private readDelete(i: number, end: number): void {
    if (this.kw(i) === KW.FROM) i++;
    if (this.kw(i) === KW.ONLY) i++;
    i = this.readTableName(i, end, true);
    const starts = clauseBounds();
    const ends = clauseBounds();
    this.clauses(i, end, starts, ends);
    if (starts[CL_WHERE]! >= 0) this.readWhere(starts[CL_WHERE]!, ends[CL_WHERE]!);
    // WHERE pk IN (…100 pks): Django's collector deletes a queryset in such batches.
    if (this.inValues >= 2) this.facts.multiRowValues = true;
    if (starts[CL_ORDER]! >= 0) this.readOrderBy(starts[CL_ORDER]!, ends[CL_ORDER]!);
    this.readLimit(starts[CL_LIMIT]!, -1);
  }

  /**
   * Reads `name[.name…] [[AS] alias]` at i; the last part is the table (schemas are dropped, as
   * column refs are `table.column`). Sets the main table when `main`. Returns the index after it.
   */
  private readTableName(i: number, end: number, main: boolean): number {
    if (i >= end || !this.isName(i)) return i;
    let last = i;
    while (this.kind(last + 1) === TK_DOT && this.isName(last + 2)) last += 2;
    const table = this.ident(last);
    i = last + 1;
    if (main) this.table = table;
    return this.readAlias(i, end, table);
  }

  /** The alias `readAlias` read last ('' when there was none). */
  private aliasRead = '';

  private readAlias(i: number, end: number, table: string): number {
    let a = -1;
    this.aliasRead = '';
    if (this.kw(i) === KW.AS && i + 1 < end && this.isName(i + 1)) a = i + 1;
    else if (i < end && this.isNameStart(i)) a = i;
    if (a < 0) return i;
    if (table !== '') {
      this.aliasRead = this.ident(a);
      (this.aliases ??= new Map()).set(this.aliasRead, table);
      this.lastQualifierRaw = '';
    }
    i = a + 1;
    if (this.kind(i) === TK_LPAREN) i = this.after(i); // column alias list
    return i;
  }

  /**
   * FROM t [alias] (, t2 | [type] JOIN t2 [alias] ON … | USING (…))… A table met again (a second
   * foreign key to it, a self-join) is another row: its alias stays the qualifier of its columns
   * (`T3.username`) and names the join (`alias`), so its columns are never taken for the first's.
   */
  private readFrom(start: number, end: number): void {
    let i = start;
    let first = true;
    while (i < end) {
      let type: JoinType = 'INNER';
      if (!first) {
        const k = this.kind(i);
        if (k === TK_COMMA) {
          type = 'CROSS';
          i++;
        } else {
          let w = this.kw(i);
          if (w === KW.NATURAL) w = this.kw(++i);
          if (w === KW.LEFT) type = 'LEFT';
          else if (w === KW.RIGHT) type = 'RIGHT';
          else if (w === KW.FULL) type = 'FULL';
          else if (w === KW.CROSS) type = 'CROSS';
          else if (w !== KW.INNER && w !== KW.JOIN) {
            i = k === TK_LPAREN ? this.after(i) : i + 1; // not a join: skip
            continue;
          }
          if (w !== KW.JOIN) i++;
          if (this.kw(i) === KW.OUTER) i++;
          if (this.kw(i) !== KW.JOIN) continue;
          i++;
        }
      }
      while (this.kw(i) === KW.LATERAL || this.kw(i) === KW.ONLY) i++;

      let table = '';
      if (this.kind(i) === TK_LPAREN) {
        i = this.readAlias(this.after(i), end, ''); // derived table: no name to report
      } else if (this.isName(i)) {
        let last = i;
        while (this.kind(last + 1) === TK_DOT && this.isName(last + 2)) last += 2;
        if (this.kind(last + 1) === TK_LPAREN) {
          i = this.readAlias(this.after(last + 1), end, ''); // table function: UNNEST(…)
        } else {
          table = this.ident(last);
          i = this.readAlias(last + 1, end, table);
        }
      } else {
        i++;
        continue;
      }
      let alias: string | undefined;
      if (
        !first && table !== '' && this.aliasRead !== '' && this.aliasRead !== table &&
        (this.table === table || this.facts.joins.some((j) => j.table === table))
      ) {
        alias = this.aliasRead;
        this.aliases!.set(alias, alias);
      }
      if (first) {
        this.table = table;
        first = false;
        continue;
      }
      const on: ColumnRef[] = [];
      if (this.kw(i) === KW.ON) {
        let j = i + 1;
        for (; j < end; j++) {
          const k = this.kind(j);
          if (k === TK_LPAREN || k === TK_LBRACKET) {
            j = this.after(j) - 1;
            continue;
          }
          const w = this.kw(j);
          if (
            k === TK_COMMA || w === KW.JOIN || w === KW.INNER || w === KW.LEFT || w === KW.RIGHT ||
            w === KW.FULL || w === KW.CROSS || w === KW.NATURAL
          ) break;
        }
        this.refs(i + 1, j, on);
        i = j;
      } else if (this.kw(i) === KW.USING && this.kind(i + 1) === TK_LPAREN) {
        const close = this.after(i + 1) - 1;
        for (let j = i + 2; j < close; j++) if (this.isName(j) && table !== '') on.push(`${alias ?? table}.${this.ident(j)}`);
        i = close + 1;
      }
      if (table !== '') this.facts.joins.push(alias === undefined ? { table, type, on } : { table, alias, type, on });
    }
  }

  /** `table.column` for a chain whose last two names are at q (or -1) and c. */
  private resolve(q: number, c: number): ColumnRef | null {
    if (q < 0) return this.table === '' ? null : `${this.table}.${this.ident(c)}`;
    const d = this.d;
    const s = d[q * STRIDE + 1]!;
    const e = d[q * STRIDE + 2]!;
    // `q.c` written without a gap and no alias in play: the ref depends on that text alone.
    const cache = this.refCache;
    let slot = -1;
    const end = d[c * STRIDE + 2]!;
    const b = cache === null ? null : cache.bytes;
    if (b !== null && this.aliases === null && c === q + 2 && d[(q + 1) * STRIDE + 1] === e && d[c * STRIDE + 1] === e + 1) {
      slot = columnRefSlot(b, s, e, end);
      const hit = slot >= 0 ? cachedColumnRef(cache!, b, s, end, slot) : undefined;
      if (hit !== undefined) return hit;
    }
    const column = this.ident(c);
    const raw = this.lastQualifierRaw;
    let table: string;
    if (raw.length === e - s && raw.length > 0 && this.sql.startsWith(raw, s)) {
      table = this.lastQualifierTable;
    } else {
      const qualifier = this.ident(q);
      table = this.aliases?.get(qualifier) ?? qualifier;
      this.lastQualifierRaw = this.sql.slice(s, e);
      this.lastQualifierTable = table;
    }
    const ref = `${table}.${column}`;
    if (slot >= 0) storeColumnRef(cache!, b!, s, end, slot, ref);
    return ref;
  }

  /**
   * Appends the column references in [a, b) to out (deduplicated), skipping subqueries, function
   * names, aliases after AS, cast types and `t.*`. Returns how many references it met.
   */
  private refs(a: number, b: number, out: ColumnRef[]): number {
    let met = 0;
    for (let j = a; j < b; j++) {
      const k = this.kind(j);
      if (k === TK_PARAM) {
        j = valueRunEnd(this.d, j);
        continue;
      }
      if (k === TK_LPAREN) {
        if (this.isSubquery(j)) j = this.after(j) - 1;
        continue;
      }
      if (k === TK_CAST) {
        j = this.skipType(j + 1) - 1;
        continue;
      }
      if (k === TK_WORD) {
        const w = this.aux(j);
        if (w === KW.AS) {
          j = this.skipType(j + 1) - 1; // an alias, or the type in CAST(x AS type)
          continue;
        }
        if (w === KW.EXTRACT && this.kind(j + 1) === TK_LPAREN) {
          j += 2; // EXTRACT(YEAR FROM …): the field is not a column
          continue;
        }
        if (w !== 0) continue;
      } else if (k !== TK_QIDENT) continue;
      let next = this.kind(j + 1); // the token after the chain's last name, once the loop is done
      if (next === TK_LPAREN || next === TK_STRING) continue; // f(…), or a typed literal: date '…'
      let prev = -1;
      let last = j;
      while (next === TK_DOT && this.isName(last + 2)) {
        prev = last;
        last += 2;
        next = this.kind(last + 1);
      }
      j = last;
      if (next === TK_DOT) {
        j++; // t.* or t.(…): not a column
        continue;
      }
      if (next === TK_LPAREN) continue; // schema.func(…)
      const ref = this.resolve(prev, last);
      met++;
      if (ref !== null && !out.includes(ref)) out.push(ref);
    }
    return met;
  }

  /** Index after a type name: `integer`, `"char"`, `varchar(10)`, `integer[]`, `pg_catalog.text`. */
  private skipType(i: number): number {
    if (!this.isName(i)) return i;
    while (this.kind(i + 1) === TK_DOT && this.isName(i + 2)) i += 2;
    i++;
    if (this.kind(i) === TK_LPAREN) i = this.after(i);
    while (this.kind(i) === TK_LBRACKET) i = this.after(i);
    return i;
  }

  private readSelectList(a: number, b: number, hasFrom: boolean): void {
    const f = this.facts;
    this.refs(a, b, f.selectedColumns);
    let aggregate: SqlFacts['aggregate'] = null;
    let allAggregates = true;
    let items = 0;
    let constant = false;
    // The items, split at top-level commas. Once two are seen and one is not an aggregate, the
    // rest cannot change the result: most select lists end their reading at the second item.
    let start = a;
    for (let j = a; j <= b && (allAggregates || items < 2); j++) {
      const k = j < b ? this.kind(j) : TK_COMMA;
      if (k === TK_LPAREN || k === TK_LBRACKET) {
        j = this.after(j) - 1;
        continue;
      }
      if (k !== TK_COMMA) continue;
      const end = j;
      const itemStart = start;
      start = j + 1;
      if (end === itemStart) continue;
      items++;
      if (allAggregates) {
        const agg = this.aggregateItem(itemStart, end);
        if (agg === null) allAggregates = false;
        else aggregate ??= agg;
      }
      if (items === 1) constant = this.isConstantItem(itemStart, end);
    }
    if (items > 0 && allAggregates) f.aggregate = aggregate;
    // Django's .exists(): SELECT 1 AS "a" (Value(1) compiles to %s), older SELECT (1) AS "a"
    f.exists = hasFrom && items === 1 && constant;
  }

  /** The aggregate of a select item whose columns all sit inside aggregate calls, else null. */
  private aggregateItem(a: number, b: number): SqlFacts['aggregate'] {
    let found: SqlFacts['aggregate'] = null;
    for (let j = a; j < b; j++) {
      const k = this.kind(j);
      if (k === TK_WORD) {
        const w = this.aux(j);
        if (w === KW.AS) {
          j = this.skipType(j + 1) - 1;
          continue;
        }
        if ((KEYWORD_FLAGS[w]! & FLAG_AGGREGATE) !== 0 && this.kind(j + 1) === TK_LPAREN) {
          const close = this.after(j + 1) - 1;
          if (found === null) {
            const cols: ColumnRef[] = [];
            this.refs(j + 2, close, cols);
            found = { fn: KEYWORD_TEXT[w] as SqlAggregate, column: cols[0] ?? '*' };
          }
          j = close;
          if (this.kw(j + 1) === KW.FILTER && this.kind(j + 2) === TK_LPAREN) j = this.after(j + 2) - 1;
          if (this.kw(j + 1) === KW.OVER) return null; // a window function yields rows
          continue;
        }
        if (w !== 0) continue;
      } else if (k === TK_LPAREN) {
        if (this.isSubquery(j)) return null;
        continue;
      } else if (k === TK_CAST) {
        j = this.skipType(j + 1) - 1;
        continue;
      } else if (k !== TK_QIDENT) continue;
      if (this.kind(j + 1) !== TK_LPAREN) return null; // a column outside any aggregate
    }
    return found;
  }

  /** `1`, `%s`, `(1)` with an optional alias. */
  private isConstantItem(a: number, b: number): boolean {
    if (b - a >= 2 && this.kw(b - 2) === KW.AS) b -= 2;
    while (b - a >= 3 && this.kind(a) === TK_LPAREN && this.after(a) === b) {
      a++;
      b--;
    }
    return b - a === 1 && this.isValue(a);
  }

  private readWhere(a: number, b: number): void {
    this.boolExpr(a, b, false, 0);
  }

  /**
   * Splits [a, b) at top-level AND / OR (the AND of BETWEEN excepted) into predicates. `depth` counts
   * the grouping parentheses around it: past MAX_GROUPING no filter is read, so the recursion is bounded.
   */
  private boolExpr(a: number, b: number, negated: boolean, depth: number): void {
    if (depth > MAX_GROUPING) return;
    let ps = a;
    let between = false;
    for (let j = a; j < b; j++) {
      const k = this.kind(j);
      if (k === TK_LPAREN || k === TK_LBRACKET) {
        j = this.after(j) - 1;
        continue;
      }
      if (k !== TK_WORD) {
        if (k === TK_PARAM) j = valueRunEnd(this.d, j);
        continue;
      }
      const w = this.aux(j);
      if (w === KW.BETWEEN) between = true;
      else if (w === KW.AND && between) between = false;
      else if (w === KW.AND || w === KW.OR) {
        this.predicate(ps, j, negated, depth);
        ps = j + 1;
      }
    }
    this.predicate(ps, Math.min(b, this.n), negated, depth);
  }

  private predicate(a: number, b: number, negated: boolean, depth: number): void {
    while (a < b && this.kw(a) === KW.NOT) {
      negated = true;
      a++;
    }
    if (a >= b) return;
    if (this.kind(a) === TK_LPAREN && this.after(a) === b && !this.isSubquery(a)) {
      this.boolExpr(a + 1, b - 1, negated, depth + 1); // grouping parentheses
      return;
    }
    if (negated) return; // NOT (a = 1) filters nothing an index helps with
    let op = -1;
    let range = false;
    let list = false; // IN (…) or = ANY(…): a prefetch's shape
    for (let j = a; j < b && op < 0; j++) {
      const k = this.kind(j);
      if (k === TK_LPAREN || k === TK_LBRACKET) {
        j = this.after(j) - 1;
        continue;
      }
      if (k === TK_PARAM) {
        j = valueRunEnd(this.d, j);
        continue;
      }
      if (k === TK_OP) {
        const x = this.aux(j);
        if (x === OP_EQ) op = j;
        else if (x === OP_LT || x === OP_GT || x === OP_LE || x === OP_GE) {
          op = j;
          range = true;
        } else if (x === OP_NE) return;
      } else if (k === TK_WORD) {
        const w = this.aux(j);
        if (w === KW.IN || w === KW.BETWEEN) {
          if (this.kw(j - 1) === KW.NOT) return;
          op = j;
          range = w === KW.BETWEEN;
          list = w === KW.IN;
        } else if (w === KW.IS || w === KW.LIKE || w === KW.ILIKE || w === KW.SIMILAR) return;
      }
    }
    if (op < 0) return;
    let r0 = op + 1;
    const w = this.kw(r0);
    if (w === KW.ALL) return;
    if ((w === KW.ANY || w === KW.SOME) && this.kind(r0 + 1) === TK_LPAREN) {
      r0++; // = ANY(…)
      list = true;
    }
    const lhs: ColumnRef[] = [];
    const rhs: ColumnRef[] = [];
    const lhsRefs = this.refs(a, op, lhs);
    const rhsRefs = this.refs(r0, b, rhs);
    let col: ColumnRef | undefined;
    if (lhsRefs === 1 && rhsRefs === 0 && this.valueSide(r0, b)) col = lhs[0];
    else if (rhsRefs === 1 && lhsRefs === 0 && this.valueSide(a, op)) col = rhs[0];
    if (col === undefined) return;
    if (list && this.kw(op) === KW.IN && this.kind(r0) === TK_LPAREN) this.inValues = Math.max(this.inValues, this.listLength(r0));
    const out = range ? this.facts.rangeFilters : this.facts.equalityFilters;
    if (!out.includes(col)) out.push(col);
    const inFilters = this.facts.inFilters!;
    if (list && !inFilters.includes(col)) inFilters.push(col);
  }

  /** The values of the bracket group opened at i: one more than the commas at its own level (a value run counted, not walked). */
  private listLength(i: number): number {
    const close = this.after(i) - 1;
    let commas = 0;
    for (let j = i + 1; j < close; j++) {
      const k = this.kind(j);
      if (k === TK_COMMA) commas++;
      else if (k === TK_LPAREN || k === TK_LBRACKET) j = this.after(j) - 1;
      else if (k === TK_PARAM) {
        const e = valueRunEnd(this.d, j);
        commas += (e - j) >> 1; // `%s, %s, …, %s`: a comma between each two
        j = e;
      }
    }
    return commas + 1;
  }

  /** Holds a literal or placeholder and no subquery (columns were already counted). */
  private valueSide(a: number, b: number): boolean {
    let value = false;
    for (let j = a; j < b; j++) {
      if (this.kind(j) === TK_LPAREN && this.isSubquery(j)) return false;
      if (this.isValue(j)) {
        value = true;
        j = valueRunEnd(this.d, j);
      }
    }
    return value;
  }

  private readOrderBy(a: number, b: number): void {
    this.forEachItem(a, b, (start, end) => {
      let direction: 'ASC' | 'DESC' = 'ASC';
      for (let x = start; x < end; x++) if (this.kw(x) === KW.DESC) direction = 'DESC';
      const cols: ColumnRef[] = [];
      this.refs(start, end, cols);
      if (cols[0] !== undefined) this.facts.orderBy.push({ column: cols[0], direction });
    });
  }

  /** Calls `each(start, end)` for every item of the token range [a, b), split at top-level commas. */
  private forEachItem(a: number, b: number, each: (start: number, end: number) => void): void {
    let itemStart = a;
    for (let j = a; j <= b; j++) {
      const k = j < b ? this.kind(j) : TK_COMMA;
      if (k === TK_LPAREN || k === TK_LBRACKET) {
        j = this.after(j) - 1;
        continue;
      }
      if (k !== TK_COMMA) continue;
      each(itemStart, j);
      itemStart = j + 1;
    }
  }

  /** LIMIT n, LIMIT offset, n (MySQL), or FETCH FIRST n ROWS ONLY; null for placeholders and ALL. */
  private readLimit(limitAt: number, fetchAt: number): void {
    let value: number | null = null;
    if (limitAt >= 0 && this.kind(limitAt) === TK_NUMBER) {
      const at = this.kind(limitAt + 1) === TK_COMMA && this.kind(limitAt + 2) === TK_NUMBER ? limitAt + 2 : limitAt;
      value = this.integer(at);
    } else if (fetchAt >= 0) {
      let j = fetchAt;
      const w = this.kw(j);
      if (w === KW.FIRST || w === KW.NEXT) j++;
      if (this.kind(j) === TK_NUMBER) value = this.integer(j);
      else if (this.kw(j) === KW.ROW || this.kw(j) === KW.ROWS) value = 1;
    }
    this.facts.limit = value;
  }

  /** OFFSET n, or LIMIT offset, n (MySQL); nothing for placeholders. */
  private readOffset(limitAt: number, offsetAt: number): void {
    let at = -1;
    if (offsetAt >= 0) at = offsetAt;
    else if (limitAt >= 0 && this.kind(limitAt) === TK_NUMBER && this.kind(limitAt + 1) === TK_COMMA) at = limitAt;
    const value = at >= 0 && this.kind(at) === TK_NUMBER ? this.integer(at) : null;
    if (value !== null) this.facts.offset = value;
  }

  /** A token of decimal digits as a safe integer (exact below 2^53, as Number() of the text would be); else null. */
  private integer(i: number): number | null {
    const sql = this.sql;
    const e = this.d[i * STRIDE + 2]!;
    let v = 0;
    for (let k = this.d[i * STRIDE + 1]!; k < e; k++) {
      const c = sql.charCodeAt(k);
      if (c < 48 || c > 57) return null;
      v = v * 10 + (c - 48);
    }
    return v <= Number.MAX_SAFE_INTEGER ? v : null;
  }
}
