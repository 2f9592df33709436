/** Reads the select_related paths a query already has from its JOINs and selected columns, so a fix that replaces it keeps them. */
import { joinedTables, type JoinFacts } from '../detect/joins.js';
import { stepNames, type Naming } from './naming.js';

export type { JoinFacts } from '../detect/joins.js';

/**
 * `['author', 'publisher__country']` for `FROM book JOIN author ON (book.author_id = author.id) …` when
 * the joined tables' columns are selected (select_related); a join only filtered on is not a path.
 * Forward FK joins and selected reverse one-to-one joins count; a multi-table-inheritance parent
 * join (`*_ptr_id`) is Django's own (detect/joins.ts).
 */
export function joinedPaths(facts: JoinFacts | undefined, naming: Naming): string[] {
  if (facts === undefined) return [];
  const paths: string[] = [];
  for (const j of joinedTables(facts, naming)) {
    if (!j.selected || j.steps.length === 0) continue;
    const path = j.steps.map((s) => stepNames(s, naming).name).join('__');
    if (!paths.includes(path)) paths.push(path);
  }
  return paths;
}
