/** Reads the relation steps a query's JOINs walk from its own table, so a loop over a joined table's rows is named by its whole path. */
import type { SqlFacts } from '../sql/types.js';
import type { TableLinks } from './links.js';
import type { RelationStep } from './types.js';

/** The facts of a query that say what it joins. */
export type JoinFacts = Pick<SqlFacts, 'table' | 'joins' | 'selectedColumns'>;

/** One JOIN the walk could follow: the joined table, the steps from the query's table to it, and whether its columns are selected. */
export interface JoinedTable {
  table: string;
  /** What its columns are qualified by: its alias when the table is joined more than once (SqlFacts.joins), else its table. */
  qualifier: string;
  steps: RelationStep[];
  selected: boolean;
  /** For a forward FK join, the FK column it follows on the row it comes from (`recruit_application.reviewer_id`, `T3.dept_id`). */
  via?: string;
}

const tableOf = (ref: string): string => ref.slice(0, Math.max(0, ref.lastIndexOf('.')));
const columnOf = (ref: string): string => ref.slice(ref.lastIndexOf('.') + 1);

/**
 * The JOINs of `facts` that follow a relation from a table already reached, in order, each with
 * the steps from `facts.table`: forward FK joins (`reached.fk = joined.pk`) and reverse one-to-one
 * joins (`reached.pk = joined.fk`, only when selected: a reverse FK joined to filter is to-many). A
 * multi-table-inheritance parent join (`*_ptr_id`) adds no step: the child has its parent's fields.
 * A table joined more than once is followed per occurrence, by the alias its columns carry
 * (`T3.id`), so a second foreign key to it, or a self-join, is its own path.
 */
export function joinedTables(facts: JoinFacts, links: TableLinks): JoinedTable[] {
  const out: JoinedTable[] = [];
  if (facts.joins.length === 0) return out;
  const selected = new Set(facts.selectedColumns.map(tableOf));
  // Each occurrence by its qualifier: the steps that reach it, and its table.
  const reached = new Map<string, RelationStep[]>([[facts.table, []]]);
  const tableOfQualifier = new Map<string, string>([[facts.table, facts.table]]);
  const add = (join: JoinFacts['joins'][number], qualifier: string, steps: RelationStep[], via?: string): void => {
    if (!reached.has(qualifier)) {
      reached.set(qualifier, steps);
      tableOfQualifier.set(qualifier, join.table);
    }
    const joined: JoinedTable = { table: join.table, qualifier, steps, selected: selected.has(qualifier) };
    if (via !== undefined) joined.via = via;
    out.push(joined);
  };
  for (const join of facts.joins) {
    if (join.type !== 'INNER' && join.type !== 'LEFT') continue;
    const qualifier = join.alias ?? join.table;
    const pk = `${qualifier}.${links.primaryKey(join.table)}`;
    // A forward join by a key to_field (`invoice.currency_id = currency.code`) follows it the same way.
    const toField = join.on.find((ref) => tableOf(ref) === qualifier && links.toFieldColumns?.(join.table).includes(columnOf(ref)) === true);
    const toLeft = toField === undefined ? undefined : join.on.find((ref) => ref !== toField && reached.has(tableOf(ref)));
    if (toField !== undefined && toLeft !== undefined && !join.on.includes(pk)) {
      const from = tableOfQualifier.get(tableOf(toLeft))!;
      const column = columnOf(toLeft);
      if (links.foreignKeyTarget(from, column) === join.table && links.toFieldColumn?.(from, column) === columnOf(toField)) {
        add(join, qualifier, [...reached.get(tableOf(toLeft))!, { kind: 'forward', fromTable: from, column, toTable: join.table }], toLeft);
        continue;
      }
    }
    if (join.on.includes(pk)) {
      const left = join.on.find((ref) => ref !== pk && reached.has(tableOf(ref)));
      if (left === undefined) continue;
      const from = tableOfQualifier.get(tableOf(left))!;
      const column = columnOf(left);
      const prefix = reached.get(tableOf(left))!;
      if (column.endsWith('_ptr_id')) add(join, qualifier, prefix);
      else if (links.foreignKeyTarget(from, column) === join.table) add(join, qualifier, [...prefix, { kind: 'forward', fromTable: from, column, toTable: join.table }], left);
      continue;
    }
    const back = join.on.find((ref) => tableOf(ref) === qualifier);
    const fromQualifier = join.on.map(tableOf).find((t) => t !== qualifier && reached.has(t));
    if (back === undefined || fromQualifier === undefined) continue;
    const from = tableOfQualifier.get(fromQualifier)!;
    if (!join.on.includes(`${fromQualifier}.${links.primaryKey(from)}`)) continue;
    if (links.foreignKeyTarget(join.table, columnOf(back)) !== from || !selected.has(qualifier)) continue;
    add(join, qualifier, [...reached.get(fromQualifier)!, { kind: 'reverse', fromTable: from, toTable: join.table, column: columnOf(back) }]);
  }
  return out;
}

/** The table a column ref's qualifier names in `facts`: the table of the join it is the alias of, else the qualifier itself. */
export function qualifiedTable(facts: Pick<SqlFacts, 'joins'>, qualifier: string): string {
  for (const j of facts.joins) if (j.alias === qualifier) return j.table;
  return qualifier;
}

/**
 * The steps from `facts.table` to the occurrence `qualifier` (a table, or the alias of a table joined
 * more than once) through the query's JOINs: [] for its own table (or an inheritance parent),
 * undefined when no join reaches it.
 */
export function stepsToJoined(facts: JoinFacts, qualifier: string, links: TableLinks): RelationStep[] | undefined {
  if (qualifier === facts.table) return [];
  return joinedTables(facts, links).find((j) => j.qualifier === qualifier)?.steps;
}
