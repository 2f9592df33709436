/** Reads the select_related paths a query already has from its JOINs and selected columns, so a fix that replaces it keeps them. */
import type { SqlFacts } from '../sql/types.js';
import type { Naming } from './naming.js';

/** The facts of a trigger query that say what it joins. */
export type JoinFacts = Pick<SqlFacts, 'table' | 'joins' | 'selectedColumns'>;

const tableOf = (ref: string): string => ref.slice(0, Math.max(0, ref.lastIndexOf('.')));
const columnOf = (ref: string): string => ref.slice(ref.lastIndexOf('.') + 1);

/**
 * `['author', 'publisher__country']` for `FROM book JOIN author ON (book.author_id = author.id) …` when
 * the joined tables' columns are selected (select_related); a join only filtered on is not a path.
 * Forward FK joins (`left.fk = joined.pk`) and reverse one-to-one joins (`left.pk = joined.fk`, when
 * selected) count; a multi-table-inheritance parent join (`*_ptr_id`) is Django's own. Aliased self-joins resolve to their table, so a second hop through
 * the same table is not told apart from the first.
 */
export function joinedPaths(facts: JoinFacts | undefined, naming: Naming): string[] {
  if (facts === undefined || facts.joins.length === 0) return [];
  const selected = new Set(facts.selectedColumns.map(tableOf));
  const reached = new Map<string, string>([[facts.table, '']]);
  const paths: string[] = [];
  const add = (table: string, path: string): void => {
    if (!reached.has(table)) reached.set(table, path);
    if (selected.has(table) && !paths.includes(path)) paths.push(path);
  };
  const under = (from: string, name: string): string => {
    const prefix = reached.get(from) ?? '';
    return prefix === '' ? name : `${prefix}__${name}`;
  };
  for (const join of facts.joins) {
    if (join.type !== 'INNER' && join.type !== 'LEFT') continue;
    const pk = `${join.table}.${naming.primaryKey(join.table)}`;
    if (join.on.includes(pk)) {
      // Forward: reached.fk = joined.pk.
      const left = join.on.find((ref) => ref !== pk && reached.has(tableOf(ref)));
      if (left === undefined) continue;
      const from = tableOf(left);
      const column = columnOf(left);
      if (column.endsWith('_ptr_id') || naming.foreignKeyTarget(from, column) !== join.table) continue;
      add(join.table, under(from, naming.forwardName(from, column)));
      continue;
    }
    // Reverse one-to-one: reached.pk = joined.fk, e.g. select_related('profile'). A reverse FK joined
    // only to filter selects none of its columns, so it never gets here as a path.
    const back = join.on.find((ref) => tableOf(ref) === join.table);
    const from = join.on.map(tableOf).find((t) => t !== join.table && reached.has(t));
    if (back === undefined || from === undefined || !join.on.includes(`${from}.${naming.primaryKey(from)}`)) continue;
    if (naming.foreignKeyTarget(join.table, columnOf(back)) !== from || !selected.has(join.table)) continue;
    add(join.table, under(from, naming.reverseName(from, join.table, columnOf(back)).name));
  }
  return paths;
}
