/** Turns cascades into Django ORM code: one suggestion per finding, and one combined queryset per trigger. */
import type { LeafShape, RelationStep, TriggerRef } from '../detect/types.js';
import type { SqlFacts } from '../sql/types.js';
import { filteredRelationCure, filtersPerRow, isGenericLookup, readInsteadNote, unlinkedCure } from './cures.js';
import type { Naming } from './naming.js';

export type SuggestionMethod =
  | 'select_related'
  | 'prefetch_related'
  | 'annotate'
  | 'bulk_update'
  | 'bulk_create'
  | 'cache'
  | 'task_queue'
  | 'index'
  /** No ORM call fixes it; `code` names the cure (hoist a per-row call, a filtered Prefetch, a fix upstream). */
  | 'manual';

/** The report's `suggestion` object (DESIGN "Report JSON"). */
export interface Suggestion {
  method: SuggestionMethod;
  path: string;
  code: string;
  confidence: 'exact' | 'inferred';
  /** What is uncertain and what would settle it. */
  note?: string;
}

/** The parts of a cascade the fix depends on. */
export interface CascadeShape {
  kind: 'n_plus_one' | 'repeated_write';
  table: string;
  trigger: TriggerRef | null;
  steps: RelationStep[];
  linked: boolean;
  leaf: LeafShape;
  /** Position in the request: fixes are listed in the order the code touches them. */
  firstIndex: number;
  /** The repeated query's facts and canonical SQL, for the loops no ORM call fixes (suggest/cures.ts). */
  facts?: SqlFacts;
  sql?: string;
}

/**
 * The manual cure for a loop that select_related / prefetch_related cannot fix, or null when a
 * plain ORM call does: no relation ties it to its trigger, or the relation is filtered per row.
 */
function manualCure(c: CascadeShape, naming: Naming): Suggestion | null {
  if (c.kind !== 'n_plus_one') return null;
  const over = c.trigger === null ? 'the rows you loop over' : naming.modelOf(c.trigger.table);
  if (!c.linked || c.steps.length === 0) return c.facts === undefined ? null : unlinkedCure(c.facts, naming, over);
  const last = c.steps[c.steps.length - 1]!;
  if (last.kind !== 'forward' && c.leaf.kind === 'fetch' && c.sql !== undefined && filtersPerRow(c.sql) && !(c.facts && isGenericLookup(c.facts))) {
    const path = c.steps.map((s) => relationOf(s, naming).name).join('__');
    return filteredRelationCure(path, naming.modelOf(last.toTable), over);
  }
  return null;
}

const INFERRED_NOTE =
  "names follow Django's defaults (x_id -> x, reverse accessor <model>_set); " +
  'run `manage.py n1lens_schema` and pass --schema for exact related_name, db_table and model names';

interface Edge {
  step: RelationStep;
  node: Node;
}

interface Node {
  table: string;
  children: Map<string, Edge>;
  leaves: { leaf: LeafShape; order: number }[];
  order: number;
}

const newNode = (table: string, order: number): Node => ({ table, children: new Map(), leaves: [], order });

function stepKey(step: RelationStep): string {
  return step.kind === 'm2m' ? `m2m:${step.through}:${step.sourceColumn}` : `${step.kind}:${step.toTable}:${step.column}`;
}

/** The ORM calls that fix the loops under one node, split the way a Django developer writes them. */
interface Calls {
  selectRelated: string[];
  prefetch: string[];
  annotate: string[];
}

const quote = (s: string): string => `'${s}'`;

function orderByArgs(orderBy: { column: string; direction: 'ASC' | 'DESC' }[], naming: Naming, table: string): string {
  return orderBy
    .map((o) => {
      const dot = o.column.lastIndexOf('.');
      const col = dot < 0 ? o.column : o.column.slice(dot + 1);
      const field = naming.fieldOfColumn(table, col);
      return quote(o.direction === 'DESC' ? `-${field}` : field);
    })
    .join(', ');
}

function relationOf(step: RelationStep, naming: Naming): { name: string; queryName: string; toMany: boolean } {
  switch (step.kind) {
    case 'forward': {
      const name = naming.forwardName(step.fromTable, step.column);
      return { name, queryName: name, toMany: false };
    }
    case 'reverse':
      return { ...naming.reverseName(step.fromTable, step.toTable, step.column), toMany: true };
    case 'm2m':
      return { ...naming.m2mName(step.fromTable, step.toTable, step.through, step.sourceColumn), toMany: true };
  }
}

/** `Model.objects.select_related(...)...` or '' when there is nothing to add. */
function queryset(table: string, calls: Calls, naming: Naming): string {
  const chain = renderCalls(calls);
  return chain === '' ? '' : `${naming.modelOf(table)}.objects${chain}`;
}

function renderCalls(calls: Calls): string {
  // A path that another extends is already covered: select_related('job__company') loads job too.
  const select = calls.selectRelated.filter(
    (p, i, all) => all.indexOf(p) === i && !all.some((q) => q.startsWith(`${p}__`)),
  );
  const prefetch = calls.prefetch.filter((p, i, all) => all.indexOf(p) === i);
  const annotate = calls.annotate.filter((p, i, all) => all.indexOf(p) === i);
  let out = '';
  if (select.length > 0) out += `.select_related(${select.map(quote).join(', ')})`;
  if (prefetch.length > 0) out += `.prefetch_related(${prefetch.join(', ')})`;
  if (annotate.length > 0) out += `.annotate(${annotate.join(', ')})`;
  return out;
}

/**
 * Renders the loops below `node`. `path` and `queryPath` are the lookups from the queryset's model to
 * `node` (attribute names and query names differ for reverse relations).
 */
function render(node: Node, naming: Naming, path: string[], queryPath: string[], calls: Calls): void {
  const edges = [...node.children.values()].sort((a, b) => a.node.order - b.node.order);
  for (const { step, node: child } of edges) {
    const rel = relationOf(step, naming);
    const childPath = [...path, rel.name];
    const childQuery = [...queryPath, rel.queryName];
    const fetched = child.leaves.some((l) => l.leaf.kind === 'fetch') || child.leaves.length === 0;

    if (!rel.toMany) {
      if (fetched) calls.selectRelated.push(childPath.join('__'));
      annotateLeaves(child, step, rel, childQuery, naming, calls);
      render(child, naming, childPath, childQuery, calls);
      continue;
    }

    annotateLeaves(child, step, rel, childQuery, naming, calls);
    for (const { leaf } of child.leaves) {
      if (leaf.kind !== 'first') continue;
      const ordered = leaf.orderBy.length > 0 ? `.order_by(${orderByArgs(leaf.orderBy, naming, child.table)})` : '';
      const toAttr = leaf.orderBy[0]?.direction === 'DESC' ? `recent_${rel.name}` : `ordered_${rel.name}`;
      calls.prefetch.push(
        `Prefetch(${quote(childPath.join('__'))}, queryset=${naming.modelOf(child.table)}.objects${ordered}, to_attr=${quote(toAttr)})`,
      );
    }
    if (!fetched && child.children.size === 0) continue;
    // Loops inside the prefetched rows: a Prefetch queryset with its own fix, or a plain path.
    const inner: Calls = { selectRelated: [], prefetch: [], annotate: [] };
    render(child, naming, [], [], inner);
    const nested = queryset(child.table, inner, naming);
    calls.prefetch.push(nested === '' ? quote(childPath.join('__')) : `Prefetch(${quote(childPath.join('__'))}, queryset=${nested})`);
  }
}

function annotateLeaves(
  child: Node,
  step: RelationStep,
  rel: { name: string; queryName: string; toMany: boolean },
  queryPath: string[],
  naming: Naming,
  calls: Calls,
): void {
  const lookup = queryPath.join('__');
  const alias = queryPath.join('_');
  for (const { leaf } of child.leaves) {
    if (leaf.kind === 'count') calls.annotate.push(`${alias}_count=Count(${quote(lookup)})`);
    else if (leaf.kind === 'aggregate') {
      const fn = leaf.fn[0] + leaf.fn.slice(1).toLowerCase();
      const field = leaf.column === '*' ? '' : `__${naming.fieldOfColumn(child.table, leaf.column)}`;
      const name = leaf.column === '*' ? alias : `${alias}_${naming.fieldOfColumn(child.table, leaf.column)}`;
      calls.annotate.push(`${name}_${leaf.fn.toLowerCase()}=${fn}(${quote(lookup + field)})`);
    } else if (leaf.kind === 'exists' && rel.toMany && step.kind === 'reverse') {
      const fk = naming.forwardName(step.toTable, step.column);
      calls.annotate.push(
        `has_${alias}=Exists(${naming.modelOf(child.table)}.objects.filter(${fk}=OuterRef('pk')))`,
      );
    } else if (leaf.kind === 'exists') {
      calls.annotate.push(`has_${alias}=Exists(${quote(lookup)})`);
    }
  }
}

function buildTree(rootTable: string, cascades: readonly CascadeShape[]): Node {
  const root = newNode(rootTable, -1);
  for (const c of cascades) {
    let node = root;
    for (const step of c.steps) {
      const key = stepKey(step);
      let edge = node.children.get(key);
      if (edge === undefined) {
        edge = { step, node: newNode(step.toTable, c.firstIndex) };
        node.children.set(key, edge);
      }
      edge.node.order = Math.min(edge.node.order, c.firstIndex);
      node = edge.node;
    }
    node.leaves.push({ leaf: c.leaf, order: c.firstIndex });
  }
  return root;
}

function methodOf(c: CascadeShape, naming: Naming): SuggestionMethod {
  const leaf = c.leaf.kind;
  if (leaf === 'count' || leaf === 'aggregate' || leaf === 'exists') return 'annotate';
  return c.steps.every((s) => relationOf(s, naming).toMany === false) ? 'select_related' : 'prefetch_related';
}

function pathOf(c: CascadeShape, naming: Naming): string {
  const useQueryNames = c.leaf.kind === 'count' || c.leaf.kind === 'aggregate' || c.leaf.kind === 'exists';
  return c.steps.map((s) => (useQueryNames ? relationOf(s, naming).queryName : relationOf(s, naming).name)).join('__');
}

/** The fix for one cascade on its own. */
export function suggestCascade(c: CascadeShape, naming: Naming): Suggestion {
  const model = naming.modelOf(c.table);
  const confidence = naming.exact && c.linked ? 'exact' : 'inferred';
  const note = confidence === 'exact' ? {} : { note: c.linked ? INFERRED_NOTE : unlinkedNote(c) };
  if (c.kind === 'repeated_write') {
    switch (c.leaf.kind) {
      case 'update': {
        const fields = c.leaf.columns.map((col) => quote(naming.fieldOfColumn(c.table, col))).join(', ');
        return { method: 'bulk_update', path: model, code: `${model}.objects.bulk_update(objs, [${fields}])`, confidence, ...note };
      }
      case 'insert':
        return { method: 'bulk_create', path: model, code: `${model}.objects.bulk_create(objs)`, confidence, ...note };
      default:
        return {
          method: 'bulk_update',
          path: model,
          code: `${model}.objects.filter(pk__in=ids).delete()`,
          confidence,
          ...note,
        };
    }
  }
  const cure = manualCure(c, naming);
  if (cure !== null) return cure;
  if (!c.linked || c.steps.length === 0) {
    const pkLookup = c.leaf.kind === 'fetch' || c.leaf.kind === 'first';
    const method: SuggestionMethod = pkLookup ? 'select_related' : methodOf(c, naming);
    const over = c.trigger === null ? 'the rows you loop over' : naming.modelOf(c.trigger.table);
    return {
      method,
      path: '',
      code: `# ${over}: load ${model} with the rows (${method}) instead of one query per row`,
      confidence: 'inferred',
      note: unlinkedNote(c),
    };
  }
  const tree = buildTree(c.trigger?.table ?? c.table, [c]);
  const calls: Calls = { selectRelated: [], prefetch: [], annotate: [] };
  render(tree, naming, [], [], calls);
  const method = methodOf(c, naming);
  const path = pathOf(c, naming);
  if (method === 'select_related' && c.leaf.kind === 'fetch') {
    // The SQL of `b.author` and of `Author.objects.get(pk=b.author_id)` is the same: say what to read.
    const field = path.split('__')[0]!;
    const rowVar = naming.modelOf(c.trigger?.table ?? c.table).slice(0, 1).toLowerCase() || 'row';
    const read = readInsteadNote(rowVar, field, naming.modelOf(c.steps[0]!.toTable));
    return { method, path, code: renderCalls(calls), confidence, note: 'note' in note ? `${note.note}; ${read}` : read };
  }
  return { method, path, code: renderCalls(calls), confidence, ...note };
}

function unlinkedNote(c: CascadeShape): string {
  return (
    `could not tell from SQL which relation of ${c.trigger?.table ?? 'the trigger'} leads to ${c.table}; ` +
    'a schema file (--schema) names it when it is a real relation'
  );
}

/**
 * One queryset per trigger that fixes every loop over that trigger's rows, in the order a Django
 * developer writes it: select_related, prefetch_related, annotate. Write loops follow on their own lines.
 */
export function combinedFix(cascades: readonly CascadeShape[], naming: Naming): string {
  const byTrigger = new Map<string, CascadeShape[]>();
  const lines: string[] = [];
  const writes: string[] = [];
  const sorted = [...cascades].sort((a, b) => a.firstIndex - b.firstIndex);
  for (const c of sorted) {
    if (c.kind === 'repeated_write') {
      writes.push(suggestCascade(c, naming).code);
      continue;
    }
    if (!c.linked || c.trigger === null || c.steps.length === 0 || manualCure(c, naming) !== null) continue;
    const key = c.trigger.table;
    const list = byTrigger.get(key) ?? [];
    list.push(c);
    byTrigger.set(key, list);
  }
  for (const [table, list] of byTrigger) {
    const calls: Calls = { selectRelated: [], prefetch: [], annotate: [] };
    render(buildTree(table, list), naming, [], [], calls);
    const qs = queryset(table, calls, naming);
    if (qs !== '') lines.push(qs);
  }
  return [...lines, ...writes.filter((w, i, all) => all.indexOf(w) === i)].join('\n');
}
