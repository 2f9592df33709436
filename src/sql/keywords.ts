/** The SQL keyword table: ids the lexer attaches to words, looked up without allocating a string. */

/**
 * Words that are uppercased in canonical text and never taken for column names in facts (Django
 * quotes every identifier, so an unquoted `date` or `level` in hand-written SQL is the only loss).
 * Order is irrelevant; ids are positions + 1.
 */
const WORDS = [
  // clauses and joins
  'SELECT', 'FROM', 'WHERE', 'AND', 'OR', 'NOT', 'IN', 'IS', 'NULL', 'AS', 'ON', 'USING',
  'JOIN', 'INNER', 'LEFT', 'RIGHT', 'FULL', 'OUTER', 'CROSS', 'NATURAL', 'LATERAL', 'ONLY',
  'GROUP', 'BY', 'ORDER', 'ASC', 'DESC', 'NULLS', 'FIRST', 'LAST', 'LIMIT', 'OFFSET', 'FETCH',
  'NEXT', 'ROW', 'ROWS', 'HAVING', 'WINDOW', 'OVER', 'PARTITION', 'FILTER', 'WITHIN',
  'DISTINCT', 'ALL', 'ANY', 'SOME', 'UNION', 'INTERSECT', 'EXCEPT', 'WITH', 'RECURSIVE',
  'MATERIALIZED',
  // writes
  'INSERT', 'INTO', 'VALUES', 'DEFAULT', 'UPDATE', 'SET', 'DELETE', 'RETURNING', 'CONFLICT',
  'DO', 'NOTHING', 'DUPLICATE', 'REPLACE', 'IGNORE',
  // expressions
  'CASE', 'WHEN', 'THEN', 'ELSE', 'END', 'EXISTS', 'LIKE', 'ILIKE', 'SIMILAR', 'ESCAPE',
  'BETWEEN', 'SYMMETRIC', 'COLLATE', 'CAST', 'ARRAY', 'INTERVAL', 'AT', 'TIME', 'ZONE', 'DATE',
  'TIMESTAMP', 'PRECISION', 'VARYING', 'WITHOUT', 'TRUE', 'FALSE', 'IF',
  // functions Django emits
  'COUNT', 'SUM', 'AVG', 'MIN', 'MAX', 'COALESCE', 'NULLIF', 'GREATEST', 'LEAST', 'EXTRACT',
  'UPPER', 'LOWER',
  // locking
  'FOR', 'SHARE', 'NOWAIT', 'SKIP', 'LOCKED', 'OF',
  // transactions and session
  'BEGIN', 'START', 'TRANSACTION', 'WORK', 'COMMIT', 'ROLLBACK', 'ABORT', 'SAVEPOINT',
  'RELEASE', 'TO', 'ISOLATION', 'LEVEL', 'READ', 'WRITE', 'COMMITTED', 'UNCOMMITTED',
  'REPEATABLE', 'SERIALIZABLE', 'DEFERRABLE', 'LOCAL', 'SESSION',
  // other statements (only so their case is canonical)
  'DECLARE', 'CURSOR', 'CLOSE', 'EXPLAIN', 'ANALYZE', 'SHOW', 'TRUNCATE', 'CREATE', 'DROP',
  'ALTER', 'TABLE', 'INDEX',
] as const;

export type Keyword = (typeof WORDS)[number];

/** Keyword ids by name: `KW.SELECT`. 0 is "not a keyword". */
export const KW: Readonly<Record<Keyword, number>> = Object.freeze(
  Object.fromEntries(WORDS.map((w, i) => [w, i + 1])) as Record<Keyword, number>,
);

/** Keyword text by id (index 0 unused). */
export const KEYWORD_TEXT: readonly string[] = Object.freeze(['', ...WORDS]);

/** Keywords written without a space before `(` in canonical text, like function names. */
const FUNCTION_LIKE: readonly Keyword[] = [
  'COUNT', 'SUM', 'AVG', 'MIN', 'MAX', 'COALESCE', 'NULLIF', 'GREATEST', 'LEAST', 'EXTRACT',
  'UPPER', 'LOWER', 'CAST', 'EXISTS', 'ANY', 'SOME', 'ARRAY', 'IF', 'REPLACE', 'DATE', 'LEFT',
  'RIGHT',
];

/** Aggregate functions, for `SqlFacts.aggregate`. */
const AGGREGATES: readonly Keyword[] = ['COUNT', 'SUM', 'AVG', 'MIN', 'MAX'];

/**
 * Keywords whose writing changes the canonical text's collapse state (VALUES rows, `IN (SELECT`,
 * CASE arms) or the next token's text (savepoint names): never inside a verbatim run.
 */
const STATEFUL: readonly Keyword[] = ['VALUES', 'SELECT', 'WITH', 'CASE', 'WHEN', 'ELSE', 'END', 'SAVEPOINT', 'RELEASE', 'TO'];

export const FLAG_FUNCTION = 1;
export const FLAG_AGGREGATE = 2;
export const FLAG_STATEFUL = 4;

/** Flags by keyword id. */
export const KEYWORD_FLAGS: Readonly<Uint8Array> = (() => {
  const flags = new Uint8Array(WORDS.length + 1);
  for (const w of FUNCTION_LIKE) flags[KW[w]] = flags[KW[w]]! | FLAG_FUNCTION;
  for (const w of AGGREGATES) flags[KW[w]] = flags[KW[w]]! | FLAG_AGGREGATE;
  for (const w of STATEFUL) flags[KW[w]] = flags[KW[w]]! | FLAG_STATEFUL;
  return flags;
})();

/** Longest keyword; longer words are not looked up. */
export const MAX_KEYWORD_LENGTH = WORDS.reduce((m, w) => Math.max(m, w.length), 0);

/**
 * Folds an ASCII letter to upper case (`_` and uppercase letters are unchanged), then mixes it into
 * a running word hash. The lexer calls this per character, so keyword lookup needs no substring.
 */
export function mixKeywordChar(hash: number, code: number): number {
  return (Math.imul(hash, 31) + (code & 0xdf)) | 0;
}

const TABLE_BITS = 10;
const TABLE_MASK = (1 << TABLE_BITS) - 1;

function slot(hash: number): number {
  return (hash ^ (hash >>> TABLE_BITS) ^ (hash >>> 20)) & TABLE_MASK;
}

/** Open-addressed hash table of keyword ids, built once. */
const TABLE: Readonly<Uint16Array> = (() => {
  const table = new Uint16Array(TABLE_MASK + 1);
  WORDS.forEach((w, i) => {
    let h = 0;
    for (let k = 0; k < w.length; k++) h = mixKeywordChar(h, w.charCodeAt(k));
    let s = slot(h);
    while (table[s] !== 0) s = (s + 1) & TABLE_MASK;
    table[s] = i + 1;
  });
  return table;
})();

/**
 * The keyword id of `bytes[start, end)` given its hash from `mixKeywordChar`, or 0 (bytes that
 * are not ASCII letters or `_` never match).
 */
export function lookupKeyword(bytes: Uint8Array, start: number, end: number, hash: number): number {
  const len = end - start;
  let s = slot(hash);
  for (;;) {
    const id = TABLE[s]!;
    if (id === 0) return 0;
    const word = KEYWORD_TEXT[id] as string;
    if (word.length === len) {
      let k = 0;
      while (k < len) {
        const c = bytes[start + k]!;
        const w = word.charCodeAt(k);
        const isLetter = (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
        if (isLetter ? (c & 0xdf) !== w : c !== w) break;
        k++;
      }
      if (k === len) return id;
    }
    s = (s + 1) & TABLE_MASK;
  }
}
