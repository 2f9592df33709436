/** A bounded memo in front of the normaliser: Django repeats the same `%s` statement text constantly. */

import { createWorkspace, normalizeWith } from './normalize.js';
import type { NormalizedSql } from './types.js';

export interface SqlNormalizerOptions {
  /** Most statements remembered (default 10 000), in each of the two memos. 0 disables memoisation but still reuses buffers. */
  maxEntries?: number;
  /** Longer statements are normalised but not remembered, so the memo's memory stays bounded (default 16 384 chars). */
  maxStatementLength?: number;
}

/** A memoised `normalizeSql`. Results are shared between calls: treat them as read-only. */
export interface SqlNormalizer {
  (statement: string): NormalizedSql;
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
 *
 * @example
 * const normalize = createSqlNormalizer({ maxEntries: 10_000 });
 * normalize('SELECT "t"."id" FROM "t" WHERE "t"."id" = %s').fingerprint; // '…16 hex chars…'
 */
export function createSqlNormalizer(options: SqlNormalizerOptions = {}): SqlNormalizer {
  const maxEntries = Math.max(0, Math.floor(options.maxEntries ?? 10_000));
  const maxLength = options.maxStatementLength ?? 16_384;
  const ws = createWorkspace();
  const memo = new Map<string, NormalizedSql>();
  const byPrefix = new Map<string, NormalizedSql>();

  // The last few statements, compared before the memo: an N+1 loop alternates between a handful
  // of statements, and the decoder hands each one over as the same string again and again.
  const recentKeys: string[] = ['', '', '', ''];
  const recentValues: (NormalizedSql | undefined)[] = [undefined, undefined, undefined, undefined];
  let recentNext = 0;

  const normalize = (statement: string): NormalizedSql => {
    for (let i = 0; i < 4; i++) {
      if (recentKeys[i] === statement) {
        const recent = recentValues[i];
        if (recent !== undefined) return recent;
      }
    }
    const result = lookup(statement);
    // What the memo would not keep (too long, or memoisation off), the recent list does not either.
    if (maxEntries > 0 && typeof statement === 'string' && statement.length <= maxLength) {
      recentKeys[recentNext] = statement;
      recentValues[recentNext] = result;
      recentNext = (recentNext + 1) & 3;
    }
    return result;
  };

  const lookup = (statement: string): NormalizedSql => {
    const hit = memo.get(statement);
    if (hit !== undefined) return hit;
    const cacheable = maxEntries > 0 && typeof statement === 'string' && statement.length <= maxLength;
    const open = cacheable ? trailingCommentStart(statement) : -1;
    const prefix = open > 0 ? statement.slice(0, open) : undefined;
    let result = prefix === undefined ? undefined : byPrefix.get(prefix);
    if (result === undefined) {
      result = normalizeWith(ws, statement);
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
  Object.defineProperty(normalize, 'size', { get: () => memo.size, enumerable: true });
  return normalize as SqlNormalizer;
}

/**
 * Where the block comment that ends the statement starts, or -1: the text must end in star-slash, and
 * the last `/*` must open a comment that closes only there (the lexer's comments do not nest).
 */
function trailingCommentStart(sql: string): number {
  const n = sql.length;
  if (n < 5 || sql.charCodeAt(n - 1) !== 47 || sql.charCodeAt(n - 2) !== 42) return -1;
  const open = sql.lastIndexOf('/*', n - 3);
  // From open + 1: in `/*/ … */` the first star-slash is at open + 1.
  if (open <= 0 || sql.indexOf('*/', open + 1) !== n - 2) return -1;
  // A `--` comment in the prefix would end at a line break inside this one; `%(name)s` is found
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
