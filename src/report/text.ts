/** Text helpers the renderers share: number formats, shortened SQL, and querysets broken at method calls. */

export const ms = (n: number): string => (n >= 1000 ? `${(n / 1000).toFixed(2)} s` : `${n.toFixed(1)} ms`);
export const int = (n: number): string => Math.round(n).toLocaleString('en-US');

export const KIND_LABEL = {
  n_plus_one: 'N+1',
  repeated_write: 'write loop',
  hot_lookup: 'hot lookup',
  sync_fanout: 'sync fan-out',
  slow_query: 'slow query',
} as const;

/** Keeps the head of a statement and its WHERE clause, the parts that identify it. */
export function shortenSql(sql: string, width: number): string {
  if (sql.length <= width) return sql;
  const where = sql.search(/ WHERE /);
  const from = sql.search(/ FROM /);
  if (from > 0) {
    const select = sql.slice(0, sql.indexOf(' ') + 1);
    const tail = sql.slice(from + 1);
    const candidate = `${select}… ${tail}`;
    if (candidate.length <= width) return candidate;
    if (where > from) {
      const fromPart = sql.slice(from + 1, where);
      const compact = `${select}… ${fromPart.split(' ').slice(0, 2).join(' ')} …${sql.slice(where)}`;
      if (compact.length <= width) return compact;
      return `${compact.slice(0, width - 1)}…`;
    }
  }
  return `${sql.slice(0, width - 1)}…`;
}

/**
 * Splits `Model.objects.a(...).b(...)` before each top-level `.call(` so a long queryset reads one
 * method per line, as it would be written in a view.
 */
export function breakChain(code: string, width: number, indent = '    '): string[] {
  if (code.length <= width || code.includes('\n')) return code.split('\n');
  const parts: string[] = [];
  let depth = 0;
  let quote = '';
  let start = 0;
  for (let i = 0; i < code.length; i++) {
    const ch = code[i];
    if (quote !== '') {
      if (ch === quote) quote = '';
      continue;
    }
    if (ch === "'" || ch === '"') quote = ch;
    else if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === '.' && depth === 0 && i > start && /[a-z_]/.test(code[i + 1] ?? '') && code.slice(start, i) !== 'objects') {
      const head = code.slice(start, i);
      if (!/^[A-Z]\w*$/.test(head) && !head.endsWith('objects')) {
        parts.push(head);
        start = i;
      }
    }
  }
  parts.push(code.slice(start));
  return parts.map((p, i) => (i === 0 ? p : indent + p));
}
