/** Lays out a normalised statement for reading: one clause per line, long select lists and WHERE conditions one per line. */

const CLAUSES = [
  'FROM', 'WHERE', 'GROUP BY', 'ORDER BY', 'HAVING', 'LIMIT', 'OFFSET', 'SET', 'VALUES', 'RETURNING', 'UNION ALL', 'UNION',
  'INNER JOIN', 'LEFT OUTER JOIN', 'LEFT JOIN', 'RIGHT OUTER JOIN', 'RIGHT JOIN', 'FULL OUTER JOIN', 'CROSS JOIN', 'JOIN', 'ON CONFLICT',
];
const CLAUSE_RE = new RegExp(`^(?:${CLAUSES.map((c) => c.replace(' ', '\\s+')).join('|')})\\b`, 'i');
const TOKEN_RE = /"(?:[^"]|"")*"|'(?:[^']|'')*'|`[^`]*`|\s+|[(),]|[^\s(),"'`]+/gy;

/** A long list (select columns) breaks after each comma once it would pass this width. */
const LIST_WIDTH = 72;

/**
 * Formats SQL for display. Only layout changes: tokens and their order stay as given, so the text
 * still reads as the fingerprinted statement.
 *
 * @example formatSql('SELECT "a"."id" FROM "a" WHERE ("a"."x" = ? AND "a"."y" = ?) LIMIT ?')
 * // SELECT "a"."id"\nFROM "a"\nWHERE ("a"."x" = ?\n  AND "a"."y" = ?)\nLIMIT ?
 */
export function formatSql(sql: string): string {
  const tokens = sql.trim().match(TOKEN_RE) ?? [];
  const lines: string[] = [];
  let line = '';
  let depth = 0;
  let clause = '';
  /** Depth of the parentheses that wrap a WHERE (Django writes `WHERE (a AND b)`). */
  let whereDepth = -1;
  let selectListLong = false;
  /** Words still to come of a multi-word clause keyword just matched (`INNER JOIN`). */
  let clauseWordsLeft = 0;
  const flush = (indent = ''): void => {
    if (line.trim() !== '') lines.push(line.replace(/\s+$/, ''));
    line = indent;
  };
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i]!;
    if (/^\s+$/.test(tok)) {
      if (line !== '' && !line.endsWith(' ') && !line.endsWith('(')) line += ' ';
      continue;
    }
    const rest = tokens.slice(i, i + 6).join('');
    const upper = tok.toUpperCase();
    const atClause = depth === 0 && clauseWordsLeft === 0 && CLAUSE_RE.exec(rest);
    if (clauseWordsLeft > 0) clauseWordsLeft--;
    if (atClause) {
      flush();
      clause = upper;
      clauseWordsLeft = atClause[0].split(/\s+/).length - 1;
      if (clause === 'WHERE' || clause === 'ON') whereDepth = -1;
    }
    if (depth === 0 && upper === 'SELECT' && i === 0) {
      // Measure the select list up to FROM to decide whether it goes one column per line.
      let j = i + 1;
      let width = 0;
      for (let d = 0; j < tokens.length; j++) {
        const t = tokens[j]!;
        if (t === '(') d++;
        else if (t === ')') d--;
        else if (d === 0 && /^FROM$/i.test(t)) break;
        width += t.length;
      }
      selectListLong = width > LIST_WIDTH;
      clause = 'SELECT';
    }
    if (tok === '(') {
      if (clause === 'WHERE' && whereDepth < 0 && /WHERE\s*$/i.test(line)) whereDepth = depth + 1;
      depth++;
      line += tok;
      continue;
    }
    if (tok === ')') {
      depth--;
      line = line.replace(/\s+$/, '') + tok;
      continue;
    }
    if (tok === ',') {
      line = line.replace(/\s+$/, '') + tok;
      if (depth === 0 && clause === 'SELECT' && selectListLong) flush('  ');
      continue;
    }
    if ((upper === 'AND' || upper === 'OR') && clause === 'WHERE' && (depth === 0 || depth === whereDepth)) {
      flush('  ');
    }
    if (depth === 0 && clause === 'SELECT' && selectListLong && upper === 'SELECT') {
      line += tok;
      flush('  ');
      continue;
    }
    line += tok;
  }
  flush();
  return lines.join('\n');
}

/** The table a statement reads or writes first (`FROM x`, `INTO x`, `UPDATE x`), for short labels. */
export function mainTable(sql: string): string {
  const m = /\b(?:FROM|INTO|UPDATE)\s+("(?:[^"]|"")*"|[\w.$]+)/i.exec(sql);
  return m ? m[1]!.replace(/^"|"$/g, '') : '';
}
