/** A bounded memo in front of the normaliser: Django repeats the same `%s` statement text constantly. */

import { dialectOf, type SqlDialect } from './dialect.js';
import { createWorkspace, normalizeWith } from './normalize.js';
import type { NormalizedSql } from './types.js';

export interface SqlNormalizerOptions {
  /**
   * Most statements remembered (default 10 000), in each of the two memos of each dialect in use
   * (one, unless an app talks to two kinds of database). 0 disables memoisation but still reuses buffers.
   */
  maxEntries?: number;
  /** Longer statements are normalised but not remembered, so the memo's memory stays bounded (default 16 384 chars). */
  maxStatementLength?: number;
}

/** A memoised `normalizeSql`, `system` being the span's `db.system`. Results are shared between calls: treat them as read-only. */
export interface SqlNormalizer {
  (statement: string, system?: string): NormalizedSql;
  /** Statements currently remembered (raw texts; the comment-stripped memo is counted apart). */
  readonly size: number;
}

/**
 * Creates a normaliser with its own scratch buffers and two memos. The first is keyed by the raw
 * statement. The second is keyed by the statement without its trailing block comment, because
 * sqlcommenter appends one carrying `traceparent='00-<trace>-<span>-01'` to every statement: the
 * raw text then differs per request, while comments never change the result. When a memo is full, its
 * older half (by insertion) is dropped, which keeps hits free of bookkeeping; a hot statement that
 * is dropped comes back on its next call.
 *
 * The prefix is used only for a comment on one line, with no `%(` before it (the lexer rules that
 * look further ahead than the `/*` every such comment starts with), and a result is remembered
 * by its prefix only once reading the statement proved the comment inert: no token reaches into it.
 * Each dialect (dialect.ts) has memos of its own, since one text may read differently in two.
 *
 * @example
 * const normalize = createSqlNormalizer({ maxEntries: 10_000 });
 * normalize('SELECT "t"."id" FROM "t" WHERE "t"."id" = %s').fingerprint; // '…16 hex chars…'
 */
export function createSqlNormalizer(options: SqlNormalizerOptions = {}): SqlNormalizer {
  const maxEntries = Math.max(0, Math.floor(options.maxEntries ?? 10_000));
  const maxLength = options.maxStatementLength ?? 16_384;
  const ws = createWorkspace();
  // Each dialect's memos, made when a statement of it first comes; the last system's are at hand.
  const memos: (DialectMemo | undefined)[] = [];
  let lastSystem: string | undefined;
  let last = new DialectMemo(dialectOf(undefined));
  memos[last.dialect] = last;

  const normalize = (statement: string, system?: string): NormalizedSql => {
    let m = last;
    if (system !== lastSystem) {
      const dialect = dialectOf(system);
      m = memos[dialect] ??= new DialectMemo(dialect);
      last = m;
      lastSystem = system;
    }
    const recentKeys = m.recentKeys;
    for (let i = 0; i < 4; i++) {
      if (recentKeys[i] === statement) {
        const recent = m.recentValues[i];
        if (recent !== undefined) return recent;
      }
    }
    const result = lookup(m, statement);
    // What the memo would not keep (too long, or memoisation off), the recent list does not either.
    if (maxEntries > 0 && typeof statement === 'string' && statement.length <= maxLength) {
      recentKeys[m.recentNext] = statement;
      m.recentValues[m.recentNext] = result;
      m.recentNext = (m.recentNext + 1) & 3;
    }
    return result;
  };

  const lookup = (m: DialectMemo, statement: string): NormalizedSql => {
    const { memo, byPrefix } = m;
    const hit = memo.get(statement);
    if (hit !== undefined) return hit;
    const cacheable = maxEntries > 0 && typeof statement === 'string' && statement.length <= maxLength;
    const open = cacheable ? trailingCommentStart(statement) : -1;
    const prefix = open > 0 ? statement.slice(0, open) : undefined;
    let result = prefix === undefined ? undefined : byPrefix.get(prefix);
    if (result === undefined) {
      result = normalizeWith(ws, statement, true, m.dialect);
      if (prefix !== undefined && ws.lastTokenEnd > 0 && ws.lastTokenEnd <= open) {
        if (byPrefix.size >= maxEntries) evictOlderHalf(byPrefix);
        byPrefix.set(prefix, result);
      }
    }
    if (cacheable) {
      if (memo.size >= maxEntries) evictOlderHalf(memo);
      memo.set(statement, result);
    }
    return result;
  };
  Object.defineProperty(normalize, 'size', {
    get: () => memos.reduce((sum, m) => sum + (m === undefined ? 0 : m.memo.size), 0),
    enumerable: true,
  });
  return normalize as SqlNormalizer;
}

/** One dialect's memos: by raw statement, by the statement without its trailing comment, and the last few. */
class DialectMemo {
  readonly memo = new Map<string, NormalizedSql>();
  readonly byPrefix = new Map<string, NormalizedSql>();
  // The last few statements, compared before the memo: an N+1 loop alternates between a handful
  // of statements, and the decoder hands each one over as the same string again and again.
  readonly recentKeys: string[] = ['', '', '', ''];
  readonly recentValues: (NormalizedSql | undefined)[] = [undefined, undefined, undefined, undefined];
  recentNext = 0;

  constructor(readonly dialect: SqlDialect) {}
}

/**
 * Where the block comment that ends the statement starts, or -1: the text must end in star-slash, and
 * the last `/*` must open a comment that closes only there. Where comments nest (PostgreSQL), the
 * prefix may leave one open: the comment then only deepens and closes it again, and the rest is a
 * comment whatever it holds.
 */
function trailingCommentStart(sql: string): number {
  const n = sql.length;
  if (n < 5 || sql.charCodeAt(n - 1) !== 47 || sql.charCodeAt(n - 2) !== 42) return -1;
  const open = sql.lastIndexOf('/*', n - 3);
  // From open + 1: in `/*/ … */` the first star-slash is at open + 1.
  if (open <= 0 || sql.indexOf('*/', open + 1) !== n - 2) return -1;
  // A `--` (or MySQL `#`) comment in the prefix would end at a line break inside this one; `%(name)s` is found
  // by looking up to 256 characters ahead. Either could make the comment's text matter.
  if (sql.indexOf('\n', open) >= 0 || sql.indexOf('\r', open) >= 0 || sql.lastIndexOf('%(', open) >= 0) return -1;
  return open;
}

function evictOlderHalf(memo: Map<string, unknown>): void {
  let drop = Math.max(1, memo.size >> 1);
  for (const key of memo.keys()) {
    if (drop-- === 0) break;
    memo.delete(key);
  }
}
