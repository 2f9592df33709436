/** Reads the relation steps a query's JOINs walk from its own table, so a loop over a joined table's rows is named by its whole path. */
import type { SqlFacts } from '../sql/types.js';
import type { TableLinks } from './links.js';
import type { RelationStep } from './types.js';

/** The facts of a query that say what it joins. */
export type JoinFacts = Pick<SqlFacts, 'table' | 'joins' | 'selectedColumns'>;

/** One JOIN the walk could follow: the joined table, the steps from the query's table to it, and whether its columns are selected. */
export interface JoinedTable {
  table: string;
  steps: RelationStep[];
  selected: boolean;
}

const tableOf = (ref: string): string => ref.slice(0, Math.max(0, ref.lastIndexOf('.')));
const columnOf = (ref: string): string => ref.slice(ref.lastIndexOf('.') + 1);

/**
 * The JOINs of `facts` that follow a relation from a table already reached, in order, each with
 * the steps from `facts.table`: forward FK joins (`reached.fk = joined.pk`) and reverse one-to-one
 * joins (`reached.pk = joined.fk`, only when selected: a reverse FK joined to filter is to-many). A
 * multi-table-inheritance parent join (`*_ptr_id`) adds no step: the child has its parent's fields.
 * Aliased self-joins resolve to their table, so a table's steps are those of its first join.
 */
export function joinedTables(facts: JoinFacts, links: TableLinks): JoinedTable[] {
  const out: JoinedTable[] = [];
  if (facts.joins.length === 0) return out;
  const selected = new Set(facts.selectedColumns.map(tableOf));
  const reached = new Map<string, RelationStep[]>([[facts.table, []]]);
  const add = (table: string, steps: RelationStep[]): void => {
    if (!reached.has(table)) reached.set(table, steps);
    out.push({ table, steps, selected: selected.has(table) });
  };
  for (const join of facts.joins) {
    if (join.type !== 'INNER' && join.type !== 'LEFT') continue;
    const pk = `${join.table}.${links.primaryKey(join.table)}`;
    // A forward join by a key to_field (`invoice.currency_id = currency.code`) follows it the same way.
    const toField = join.on.find((ref) => tableOf(ref) === join.table && links.toFieldColumns?.(join.table).includes(columnOf(ref)) === true);
    const left = toField === undefined ? undefined : join.on.find((ref) => ref !== toField && reached.has(tableOf(ref)));
    if (toField !== undefined && left !== undefined && !join.on.includes(pk)) {
      const from = tableOf(left);
      const column = columnOf(left);
      if (links.foreignKeyTarget(from, column) === join.table && links.toFieldColumn?.(from, column) === columnOf(toField)) {
        add(join.table, [...reached.get(from)!, { kind: 'forward', fromTable: from, column, toTable: join.table }]);
        continue;
      }
    }
    if (join.on.includes(pk)) {
      const left = join.on.find((ref) => ref !== pk && reached.has(tableOf(ref)));
      if (left === undefined) continue;
      const from = tableOf(left);
      const column = columnOf(left);
      const prefix = reached.get(from)!;
      if (column.endsWith('_ptr_id')) add(join.table, prefix);
      else if (links.foreignKeyTarget(from, column) === join.table) add(join.table, [...prefix, { kind: 'forward', fromTable: from, column, toTable: join.table }]);
      continue;
    }
    const back = join.on.find((ref) => tableOf(ref) === join.table);
    const from = join.on.map(tableOf).find((t) => t !== join.table && reached.has(t));
    if (back === undefined || from === undefined || !join.on.includes(`${from}.${links.primaryKey(from)}`)) continue;
    if (links.foreignKeyTarget(join.table, columnOf(back)) !== from || !selected.has(join.table)) continue;
    add(join.table, [...reached.get(from)!, { kind: 'reverse', fromTable: from, toTable: join.table, column: columnOf(back) }]);
  }
  return out;
}

/** The steps from `facts.table` to `table` through the query's JOINs: [] for its own table (or an inheritance parent), undefined when no join reaches it. */
export function stepsToJoined(facts: JoinFacts, table: string, links: TableLinks): RelationStep[] | undefined {
  if (table === facts.table) return [];
  return joinedTables(facts, links).find((j) => j.table === table)?.steps;
}
