/** A bounded memo in front of the normaliser: Django repeats the same `%s` statement text constantly. */

import { createWorkspace, normalizeWith } from './normalize.js';
import type { NormalizedSql } from './types.js';

export interface SqlNormalizerOptions {
  /** Most statements remembered (default 10 000). 0 disables the memo but still reuses buffers. */
  maxEntries?: number;
  /** Longer statements are normalised but not remembered, so the memo's memory stays bounded (default 16 384 chars). */
  maxStatementLength?: number;
}

/** A memoised `normalizeSql`. Results are shared between calls: treat them as read-only. */
export interface SqlNormalizer {
  (statement: string): NormalizedSql;
  /** Statements currently remembered. */
  readonly size: number;
}

/**
 * Creates a normaliser with its own scratch buffers and a memo keyed by the raw statement. When
 * the memo is full, the older half (by insertion) is dropped, which keeps hits free of bookkeeping;
 * a hot statement that is dropped comes back on its next call.
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

  const normalize = (statement: string): NormalizedSql => {
    const hit = memo.get(statement);
    if (hit !== undefined) return hit;
    const result = normalizeWith(ws, statement);
    if (maxEntries > 0 && typeof statement === 'string' && statement.length <= maxLength) {
      if (memo.size >= maxEntries) evictOlderHalf(memo);
      memo.set(statement, result);
    }
    return result;
  };
  Object.defineProperty(normalize, 'size', { get: () => memo.size, enumerable: true });
  return normalize as SqlNormalizer;
}

function evictOlderHalf(memo: Map<string, unknown>): void {
  let drop = Math.max(1, memo.size >> 1);
  for (const key of memo.keys()) {
    if (drop-- === 0) break;
    memo.delete(key);
  }
}
