/** Turns cascades into Django ORM code: one suggestion per finding, and one combined fix per trigger, written in the idiom of the framework that serves the endpoint. */
import { stepsToJoined } from '../detect/joins.js';
import type { LeafShape, RelationStep, TriggerRef } from '../detect/types.js';
import type { SqlFacts } from '../sql/types.js';
import {
  ambiguousCure,
  filteredAnnotationCure,
  filteredRelationCure,
  filtersPerRow,
  hiddenRelationCure,
  inheritedRelationCure,
  isGenericLookup,
  isGet,
  joinRowsManualCure,
  perRowConditions,
  perRowTerms,
  reverseGetCure,
  tablelessCure,
  unlinkedCure,
  unnamedM2mCure,
  unnamedOrderCure,
} from './cures.js';
import { joinedPaths, type JoinFacts } from './joins.js';
import { candidateNames, candidatePaths, stepLabel, stepNames, type Naming, type RelationName } from './naming.js';
import { addsNothing, chainCalls, django } from './profiles/django.js';
import { profileFor } from './profiles/index.js';
import type { FixSite, QuerysetFix } from './profiles/types.js';
import { compareText } from '../detect/order.js';

export type SuggestionMethod =
  | 'select_related'
  | 'prefetch_related'
  | 'annotate'
  | 'bulk_update'
  | 'bulk_create'
  | 'cache'
  | 'task_queue'
  | 'index'
  | 'manual';

/** The report's `suggestion` object (DESIGN "Report JSON"). */
export interface Suggestion {
  method: SuggestionMethod;
  path: string;
  code: string;
  confidence: 'exact' | 'inferred';
  /** What is uncertain and what would settle it. */
  note?: string;
  /**
   * What the loop reads once the fix is in, instead of what it does now (`application.notes_count`,
   * not `application.notes.count()`). `required` is false when plain attribute access already uses
   * the loaded rows and only a loop that fetches by id or filters per row must change.
   */
  readInstead?: { read: string; insteadOf: string; required: boolean };
  /** Where the code goes when that is not the view's own queryset: a DRF view's `queryset`, a ModelAdmin. */
  placement?: string;
}

/** Where a fix goes (FixSite without the naming, which suggest/ supplies). */
export type FixWhere = Omit<FixSite, 'naming'>;

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
  /** What the trigger query joins and selects: a fix that replaces it keeps those select_related paths. */
  triggerFacts?: JoinFacts;
  /** Where the loop runs (the finding's location): its view, and the serializer field or list_display entry. */
  location?: { view?: string; function?: string; file?: string };
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
  if (!c.linked || c.steps.length === 0) {
    if (c.table === '') return tablelessCure(c.sql, over);
    return c.facts === undefined ? null : unlinkedCure(c.facts, naming, over);
  }
  const last = c.steps[c.steps.length - 1]!;
  // A forward FK the SQL cannot tell from another: only loading every candidate (select_related) fixes it blind.
  const ambiguous = c.steps.find((s) => candidateNames(s, naming).length > 1);
  if (ambiguous !== undefined && (c.leaf.kind !== 'fetch' || c.steps.some((s) => s.kind !== 'forward'))) {
    const before = c.steps.slice(0, c.steps.indexOf(ambiguous)).map((s) => relationOf(s, naming).name);
    const candidates = candidatePaths(ambiguous, before, naming).map((p) => p.join('__'));
    return ambiguousCure(over, naming.modelOf(ambiguous.toTable), candidates, c.steps.map((s) => stepLabel(s, naming)).join('__'));
  }
  const hidden = hiddenCure(c, naming, over);
  if (hidden !== undefined) return hidden;
  const inherited = inheritedCure(c, naming, over);
  if (inherited !== undefined) return inherited;
  const unsure = c.steps.find((s): s is M2mStep => s.kind === 'm2m' && stepNames(s, naming).unsure === true);
  if (unsure !== undefined) return unnamedCure(c, unsure, naming, over);
  const filtered = c.sql !== undefined && filtersPerRow(c.sql);
  if (last.kind === 'reverse' && (c.leaf.kind === 'first' || (c.leaf.kind === 'fetch' && filtered)) && relationOf(last, naming).autoThrough === true) {
    return joinRowsCure(c, last, naming, over);
  }
  if (last.kind !== 'forward' && c.sql !== undefined && filtered && !(c.facts && isGenericLookup(c.facts))) {
    const cure = filteredCure(c, last, c.sql, naming, over);
    if (cure !== null) return cure;
  }
  if (c.leaf.kind === 'first' && orderByArgs(c.leaf.orderBy, last, c.facts, naming) === null) {
    const path = c.steps.map((s) => relationOf(s, naming).name).join('__');
    return unnamedOrderCure(path, naming.modelOf(last.toTable), over, c.leaf.orderBy.map((o) => o.column));
  }
  if (last.kind === 'reverse' && c.leaf.kind === 'fetch' && c.facts !== undefined && isGet(c.facts) && c.trigger !== null) {
    const names = relationOf(last, naming);
    if (names.oneToOne === undefined) {
      const before = c.steps.slice(0, -1).map((s) => relationOf(s, naming).name);
      const under = (name: string): string => [...before, name].join('__');
      const model = naming.modelOf(last.toTable);
      const row = rowVariableOf(naming.modelOf(c.trigger.table));
      // Django names a reverse one-to-one by its query name (the model, lowercased), a reverse FK `<model>_set`.
      return reverseGetCure(over, model, naming.forwardName(last.toTable, last.column), row, under(names.queryName), under(names.name));
    }
  }
  return null;
}

type M2mStep = Extract<RelationStep, { kind: 'm2m' }>;

/**
 * The cure for a loop over a child's rows by a key its multi-table parent holds, or undefined when
 * the loop has none. After to-one steps its names start at their row (`book.author`); after a
 * to-many one it is the hoisting cure.
 */
function inheritedCure(c: CascadeShape, naming: Naming, over: string): Suggestion | undefined {
  const k = c.steps.findIndex((s) => s.kind === 'reverse' && s.inherited !== undefined);
  if (k < 0) return undefined;
  const step = c.steps[k] as Extract<RelationStep, { kind: 'reverse' }>;
  const parentTable = step.inherited!.table;
  const names = stepNames(step, naming);
  const before = c.steps.slice(0, k).map((s) => relationOf(s, naming));
  const direct = k === c.steps.length - 1 && before.every((r) => !r.toMany);
  const trigger = c.trigger === null ? over : naming.modelOf(c.trigger.table);
  const row = [rowVariableOf(trigger), ...before.map((r) => r.name)].join('.');
  const model = naming.modelOf(step.toTable);
  const holderTable = step.fromTable;
  const childName = names.inheritedBy ?? '';
  const stem = childName === '' ? rowVariableOf(model) : childName;
  const leaf = c.leaf;
  const field = leaf.kind === 'aggregate' && leaf.column !== '*' ? naming.fieldOfColumn(step.toTable, leaf.column) : 'pk';
  const annotation =
    leaf.kind === 'exists' ? `has_${stem}` : leaf.kind === 'count' ? `${stem}_count` : leaf.kind === 'aggregate' ? `${stem}_${field}_${leaf.fn.toLowerCase()}` : '';
  // The annotation goes on the loop's queryset, the to_attr list on the rows that hold the relation.
  const taken = c.trigger === null ? new Set<string>() : naming.attributeNames(c.trigger.table);
  const filtered = c.sql !== undefined && filtersPerRow(c.sql);
  return inheritedRelationCure({
    over,
    row: direct ? row : rowVariableOf(trigger),
    model,
    parent: naming.modelOf(parentTable),
    fk: naming.forwardName(step.toTable, step.column),
    outer: naming.toField(parentTable, step.column) ?? 'pk',
    path: [...before.map((r) => r.name), names.name].join('__'),
    lookup: [...before.map((r) => r.queryName), names.queryName].join('__'),
    child: childName,
    list: freeName(`${stem}s`, 'prefetched', (n) => naming.attributeNames(holderTable).has(n)),
    annotation: freeName(annotation, 'annotated', (n) => taken.has(n)),
    direct,
    leaf,
    field,
    conditions: filtered && c.sql !== undefined ? perRowConditions(c.sql, `${parentTable}.${step.column}`, step.toTable, naming) : [],
  });
}

/**
 * The cure for a loop through a key with no reverse accessor (related_name='+'), or undefined when
 * the loop has none; null when the plain fix names no accessor: an unfiltered exists() at the end
 * of to-one steps is an Exists() over the key itself.
 */
function hiddenCure(c: CascadeShape, naming: Naming, over: string): Suggestion | null | undefined {
  const k = c.steps.findIndex((s) => s.kind !== 'forward' && stepNames(s, naming).hidden === true);
  if (k < 0) return undefined;
  const step = c.steps[k] as Exclude<RelationStep, { kind: 'forward' }>;
  const before = c.steps.slice(0, k);
  const filtered = c.sql !== undefined && filtersPerRow(c.sql);
  if (c.leaf.kind === 'exists' && !filtered && k === c.steps.length - 1 && before.every((s) => !relationOf(s, naming).toMany)) return null;
  const names = stepNames(step, naming);
  const leaf = c.leaf;
  // A foreign key's rows hold the key; an M2M's are reached through its join table's rows.
  const [rows, fk, via, link] =
    step.kind === 'm2m'
      ? [naming.modelOf(step.through), naming.forwardName(step.through, step.sourceColumn), naming.forwardName(step.through, step.targetColumn), `${step.through}.${step.sourceColumn}`]
      : [naming.modelOf(step.toTable), naming.forwardName(step.toTable, step.column), '', `${step.toTable}.${step.column}`];
  // A key to_field holds that field's values: the subquery compares it with OuterRef('code'), not the pk.
  const [keyTable, keyColumn] = step.kind === 'm2m' ? [step.through, step.sourceColumn] : [step.toTable, step.column];
  return hiddenRelationCure({
    over,
    row: rowVariableOf(c.trigger === null ? over : naming.modelOf(c.trigger.table)),
    relation: names.name,
    model: naming.modelOf(step.toTable),
    rows,
    fk,
    via,
    outer: naming.toField(keyTable, keyColumn) ?? 'pk',
    alias: names.queryName,
    leaf,
    field: leaf.kind === 'aggregate' && leaf.column !== '*' ? naming.fieldOfColumn(step.toTable, leaf.column) : 'pk',
    conditions: filtered && c.sql !== undefined ? perRowConditions(c.sql, link, step.toTable, naming) : [],
    direct: k === 0 && k === c.steps.length - 1,
  });
}

/** The cure for a loop through an M2M whose name the SQL does not tell (`step`): the fix under each reading. */
function unnamedCure(c: CascadeShape, step: M2mStep, naming: Naming, over: string): Suggestion {
  const k = c.steps.indexOf(step);
  const holder = naming.modelOf(step.fromTable);
  const byAttribute = c.leaf.kind === 'fetch' || c.leaf.kind === 'first';
  const names = c.steps.map((s) => relationOf(s, naming)).map((r) => (byAttribute ? r.name : r.queryName));
  const path = (name: string): string => [...names.slice(0, k), name, ...names.slice(k + 1)].join('__');
  const leaf = c.leaf;
  const call = (name: string): string => {
    switch (leaf.kind) {
      case 'fetch':
        return `prefetch_related('${path(name)}')`;
      case 'first':
        return `prefetch_related(Prefetch('${path(name)}', …))`;
      case 'count':
        return `Count('${path(name)}')`;
      case 'aggregate': {
        const field = leaf.column === '*' ? '' : `__${naming.fieldOfColumn(step.toTable, leaf.column)}`;
        return `${leaf.fn[0]}${leaf.fn.slice(1).toLowerCase()}('${path(name)}${field}')`;
      }
      default:
        return `annotate() over '${path(name)}'`;
    }
  };
  return unnamedM2mCure({
    over,
    holder,
    target: naming.modelOf(step.toTable),
    through: naming.modelOf(step.through),
    ifTargetDeclares: call(names[k]!),
    ifHolderDeclares: call(`<its name on ${holder}>`),
    path: c.steps.map((s) => stepLabel(s, naming)).join('__'),
  });
}

/**
 * A per-row filter on an M2M's own through model (`book.shelves.filter(placement__position=0)`), as
 * lookups: from the related model (`placement__position=…`, for its queryset and Exists()), and split
 * for an annotation on the holder, the related model's own (`label=…`) and the through model's by
 * the holder's lookup to it (`placement`). Undefined when the step is no M2M with a through model of
 * its own, or the filter is not all plain equalities on those two tables.
 */
function throughConditions(
  sql: string,
  link: string,
  last: Exclude<RelationStep, { kind: 'forward' }>,
  naming: Naming,
): { fromTarget: string[]; onTarget: string[]; onThrough: string[]; holderLookup: string } | undefined {
  if (last.kind !== 'm2m') return undefined;
  const terms = perRowTerms(sql, link);
  if (terms === null || !terms.some((t) => t.table === last.through) || terms.some((t) => t.table !== last.through && t.table !== last.toTable)) return undefined;
  const fromTarget = naming.reverseName(last.toTable, last.through, last.targetColumn);
  const fromHolder = naming.reverseName(last.fromTable, last.through, last.sourceColumn);
  if ([fromTarget, fromHolder].some((r) => r.autoThrough === true || r.hidden === true)) return undefined;
  const field = (t: { table: string; column: string }): string => `${naming.fieldOfColumn(t.table, t.column)}=…`;
  const onTarget = terms.filter((t) => t.table === last.toTable).map(field);
  const onThrough = terms.filter((t) => t.table === last.through).map(field);
  return { fromTarget: [...onTarget, ...onThrough.map((f) => `${fromTarget.queryName}__${f}`)], onTarget, onThrough, holderLookup: fromHolder.queryName };
}

/**
 * The first, or a filtered set, of an auto-created join table's own rows per row
 * (`Book.tags.through.objects.filter(book=b).first()`): prefetch_related('tags') loads tags, and a
 * Prefetch of tags can neither filter nor order by the join rows, which have no relation of their
 * own to prefetch: they are loaded once, by the join table's own fields.
 */
function joinRowsCure(c: CascadeShape, last: Extract<RelationStep, { kind: 'reverse' }>, naming: Naming, over: string): Suggestion {
  const through = last.toTable;
  const fk = naming.forwardName(through, last.column);
  const conditions = c.sql === undefined || !filtersPerRow(c.sql) ? [] : (perRowConditions(c.sql, `${through}.${last.column}`, through, naming) ?? ['<the same filter>']);
  const order =
    c.leaf.kind !== 'first'
      ? undefined
      : [fk, ...c.leaf.orderBy.map((o) => {
          const dot = o.column.lastIndexOf('.');
          const field = dot < 0 || o.column.slice(0, dot) === through ? naming.fieldOfColumn(through, o.column.slice(dot + 1)) : '<the same order>';
          return o.direction === 'DESC' ? `-${field}` : field;
        })];
  const path = c.steps.map((s) => relationOf(s, naming).name).join('__');
  return joinRowsManualCure({ over, path, through: naming.modelOf(through), holder: naming.modelOf(last.fromTable), fk, conditions, order });
}

/**
 * A relation filtered per row (`a.notes.filter(private=False)`): prefetch_related or a plain
 * annotation would ignore the filter, so every leaf kind gets the cure that keeps it, with the
 * filter's fields when the SQL tells them.
 */
function filteredCure(c: CascadeShape, last: Exclude<RelationStep, { kind: 'forward' }>, sql: string, naming: Naming, over: string): Suggestion | null {
  const link = last.kind === 'reverse' ? `${last.toTable}.${last.column}` : `${last.through}.${last.sourceColumn}`;
  const onThrough = throughConditions(sql, link, last, naming);
  const conditions = onThrough?.fromTarget ?? perRowConditions(sql, link, last.toTable, naming);
  const path = c.steps.map((s) => relationOf(s, naming).name).join('__');
  const model = naming.modelOf(last.toTable);
  if (c.leaf.kind === 'fetch' || c.leaf.kind === 'first') return filteredRelationCure(path, model, over, conditions?.join(', '), c.leaf.kind === 'first');
  // An annotation goes on the queryset of the rows that hold the relation: the trigger's, or the
  // Prefetch queryset of the last to-many relation before it.
  const rels = c.steps.map((s) => relationOf(s, naming));
  let k = c.steps.length - 2;
  while (k >= 0 && !rels[k]!.toMany) k--;
  const inner = rels.slice(k + 1);
  const at: At = { path: inner.map((r) => r.name), queryPath: inner.map((r) => r.queryName), toManyJoins: 0 };
  const holder = k < 0 ? over : naming.modelOf(c.steps[k]!.toTable);
  const row = rowVariableOf(k < 0 && c.trigger !== null ? naming.modelOf(c.trigger.table) : holder);
  // A count or aggregate through the M2M reaches the through rows from the holder: Q(shelves__placement__…)
  // would join another placement of the shelf, any book's.
  const a =
    onThrough !== undefined && c.leaf.kind !== 'exists'
      ? annotationOf(c.leaf, last, rels[rels.length - 1]!, at, last.toTable, naming, row, onThrough.onTarget, [...at.queryPath.slice(0, -1), onThrough.holderLookup].join('__'), onThrough.onThrough)
      : annotationOf(c.leaf, last, rels[rels.length - 1]!, at, last.toTable, naming, row, conditions);
  if (a === null) return null;
  const holderTable = k < 0 ? c.trigger?.table : c.steps[k]!.toTable;
  const fields = holderTable === undefined ? new Set<string>() : naming.attributeNames(holderTable);
  const name = freeName(a.name, 'annotated', (n) => fields.has(n));
  return filteredAnnotationCure(path, holder, `${name}=${a.expr}`, `${row}.${name}`);
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
  leaves: { leaf: LeafShape; order: number; source?: string; facts?: SqlFacts }[];
  order: number;
}

const newNode = (table: string, order: number): Node => ({ table, children: new Map(), leaves: [], order });

function stepKey(step: RelationStep): string {
  return step.kind === 'm2m' ? `m2m:${step.through}:${step.sourceColumn}` : `${step.kind}:${step.toTable}:${step.column}`;
}

const quote = (s: string): string => `'${s}'`;

const PYTHON_KEYWORDS = new Set(
  'and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield'.split(' '),
);

/**
 * `OrderLine` -> `order_line`: the per-row variable the reads use (`class_` for a model named `Class`;
 * `book_tags` for a row of `Book.tags.through`).
 */
export function rowVariableOf(model: string): string {
  const name = model.replace(/\.through$/, '').replace(/([a-z0-9])([A-Z])/g, '$1_$2').replaceAll('.', '_').toLowerCase();
  return PYTHON_KEYWORDS.has(name) ? `${name}_` : name;
}

/**
 * `order_by()` arguments for the rows `step` leads to, from the per-row query's ORDER BY: a column
 * of another table becomes its lookup (`placement__position` through an M2M's own through model,
 * `author__name` through a join of the query's), never a bare name the model lacks; null when a
 * column's table is none of those.
 */
function orderByArgs(orderBy: readonly { column: string; direction: 'ASC' | 'DESC' }[], step: RelationStep, facts: SqlFacts | undefined, naming: Naming): string | null {
  const table = step.toTable;
  const args: string[] = [];
  for (const o of orderBy) {
    const dot = o.column.lastIndexOf('.');
    const from = dot < 0 ? table : o.column.slice(0, dot);
    const field = naming.fieldOfColumn(from, o.column.slice(dot + 1));
    let via: string[] | undefined;
    if (from === table) via = [];
    else if (step.kind === 'm2m' && from === step.through) via = [naming.reverseName(table, from, step.targetColumn).queryName];
    else if (facts !== undefined && facts.table === table) via = stepsToJoined(facts, from, naming)?.map((s) => stepNames(s, naming).queryName);
    if (via === undefined) return null;
    const lookup = [...via, field].join('__');
    args.push(quote(o.direction === 'DESC' ? `-${lookup}` : lookup));
  }
  return args.join(', ');
}

/** A step's names, and whether it leads to many rows: a reverse one-to-one (schema-known) is single-valued, like a forward FK. */
function relationOf(step: RelationStep, naming: Naming): RelationName & { toMany: boolean } {
  const names = stepNames(step, naming);
  return { ...names, toMany: step.kind === 'm2m' || (step.kind === 'reverse' && names.oneToOne !== true) };
}

function emptyFix(table: string, naming: Naming): QuerysetFix {
  const model = naming.modelOf(table);
  return {
    model,
    table,
    rowVariable: rowVariableOf(model),
    selectRelated: [],
    joined: [],
    prefetch: [],
    annotate: [],
    extra: [],
    reads: [],
    rowValues: [],
  };
}

/** Where the walk is: the lookups from the queryset's model to a node, and the attributes from a row. */
interface At {
  /** Attribute names (select_related / prefetch_related path parts). */
  path: string[];
  /** Query names (filters, aggregates). */
  queryPath: string[];
  /**
   * How many to-many relations the queryset aggregates in joins. Each repeats the row once per
   * related row: with two, each multiplies the other's rows (2 reviews × 3 tags gives 6 and 6); with
   * one, it multiplies the one row of a to-one relation aggregated beside it (Count('profile') next
   * to Count('book') gives the number of books). A multiplied Count counts distinct rows and a
   * multiplied Sum is a subquery.
   */
  toManyJoins: number;
}

/** The to-many relations whose rows `node`'s queryset aggregates in joins (Count, Sum, Avg…), through its to-one ones. */
function aggregatedJoins(node: Node, naming: Naming): number {
  let joins = 0;
  for (const { step, node: child } of node.children.values()) {
    if (!relationOf(step, naming).toMany) joins += aggregatedJoins(child, naming);
    else if (child.leaves.some((l) => l.leaf.kind === 'count' || l.leaf.kind === 'aggregate')) joins++;
  }
  return joins;
}

/** The walk's start at the queryset's own model. */
const startAt = (node: Node, naming: Naming): At => ({ path: [], queryPath: [], toManyJoins: aggregatedJoins(node, naming) });

/** `application.job.company` for the attributes `job`, `company` of the row `application`. */
const attrOf = (row: string, path: string[]): string => [row, ...path].join('.');

/**
 * The select_related paths `node`'s rows were fetched with per row (the loop's own select_related(),
 * or the related model's manager's: `Meta.base_manager_name` for a forward FK, the default manager
 * for a reverse one). A fix that loads the rows without them moves the query per row onto the join.
 */
function perRowJoins(node: Node, naming: Naming): string[] {
  const paths: string[] = [];
  for (const { leaf, facts } of node.leaves) {
    if (leaf.kind !== 'fetch') continue;
    for (const p of joinedPaths(facts, naming)) if (!paths.includes(p)) paths.push(p);
  }
  return paths;
}

/** Collects the ORM calls and reads that fix the loops below `node` into `fix`, naming what it sets as `names` says. */
function collect(node: Node, naming: Naming, at: At, fix: QuerysetFix, names?: Names): void {
  const edges = [...node.children.values()].sort((a, b) => a.node.order - b.node.order);
  const row = fix.rowVariable;
  for (const { step, node: child } of edges) {
    const rel = relationOf(step, naming);
    const childAt: At = { ...at, path: [...at.path, rel.name], queryPath: [...at.queryPath, rel.queryName] };
    const lookup = childAt.path.join('__');
    const fetched = child.leaves.some((l) => l.leaf.kind === 'fetch') || child.leaves.length === 0;
    const childModel = naming.modelOf(child.table);

    if (!rel.toMany) {
      const candidates = candidatePaths(step, at.path, naming);
      if (candidates.length > 1) {
        // A forward FK the SQL cannot tell from others to the same table: load every one, and the
        // paths of loops past it under each (a join the loop does not need costs less than a query
        // per row); no read is named. Other leaves past it get a manual cure (manualCure).
        for (const path of candidates) {
          if (fetched) fix.selectRelated.push(path.join('__'));
          const under = emptyFix(child.table, naming);
          // The joins a path shares with the walk keep their query names; its forward keys' are their names.
          let shared = 0;
          while (shared < at.path.length && shared < path.length - 1 && path[shared] === at.path[shared]) shared++;
          const queryPath = [...at.queryPath.slice(0, shared), ...path.slice(shared)];
          collect(child, naming, { ...at, path, queryPath }, under, names);
          fix.selectRelated.push(...under.selectRelated);
        }
        continue;
      }
      if (fetched) fix.selectRelated.push(lookup, ...perRowJoins(child, naming).map((p) => `${lookup}__${p}`));
      if (child.leaves.some((l) => l.leaf.kind === 'fetch')) {
        // A reverse one-to-one is read by the row it points back at, a forward FK by its id.
        // A key to_field holds that field's values (`code=invoice.currency_id`), any other the pk's.
        const by =
          step.kind === 'reverse'
            ? `${naming.forwardName(step.toTable, step.column)}=${attrOf(row, at.path)}`
            : `${(step.kind === 'forward' ? naming.toField(step.fromTable, step.column) : undefined) ?? 'pk'}=${attrOf(row, [...at.path, `${rel.name}_id`])}`;
        fix.reads.push({ read: attrOf(row, childAt.path), insteadOf: `${childModel}.objects.get(${by})`, required: false });
      }
      annotateLeaves(child, step, rel, childAt, naming, fix, names);
      collect(child, naming, childAt, fix, names);
      continue;
    }

    annotateLeaves(child, step, rel, childAt, naming, fix, names);
    for (const { leaf, source, facts } of child.leaves) {
      if (leaf.kind !== 'first') continue;
      const args = orderByArgs(leaf.orderBy, step, facts, naming);
      if (args === null) continue; // an order no lookup names: manualCure gave the loop its own cure
      const ordered = leaf.orderBy.length > 0 ? `.order_by(${args})` : '';
      // to_attr is set on the rows that hold the relation: it may take none of their names. The
      // same Prefetch from two loops is one (the profile prints it once).
      const queryset = `Prefetch(${quote(lookup)}, queryset=${childModel}.objects${ordered}, to_attr=`;
      const base = leaf.orderBy[0]?.direction === 'DESC' ? `recent_${rel.name}` : `ordered_${rel.name}`;
      const fields = naming.attributeNames(step.fromTable);
      const set = setByFix(fix);
      const insteadOf = `${attrOf(row, childAt.path)}${ordered}.first()`;
      const toAttr = named(names, `to_attr ${insteadOf}`, () =>
        fix.prefetch.includes(`${queryset}${quote(base)})`) ? base : freeName(base, 'prefetched', (n) => fields.has(n) || set.has(n)),
      );
      fix.prefetch.push(`${queryset}${quote(toAttr)})`);
      const list = attrOf(row, [...at.path, toAttr]);
      fix.reads.push({ read: `${list}[0] if ${list} else None`, insteadOf, required: true });
      if (at.path.length === 0) {
        fix.rowValues.push({ attr: toAttr, read: `${list}[0] if ${list} else None`, sortable: false, ...(source === undefined ? {} : { source }) });
      }
    }
    // The prefetch sets each related row's FK back to its row itself: that join is not needed.
    const fk = step.kind === 'reverse' ? naming.forwardName(step.toTable, step.column) : '';
    const joins = perRowJoins(child, naming).filter((p) => p !== fk);
    if (child.leaves.some((l) => l.leaf.kind === 'fetch')) {
      const manager = attrOf(row, childAt.path);
      fix.reads.push({
        read: `${manager}.all()`,
        insteadOf:
          joins.length > 0
            ? `${manager}.select_related(${joins.map(quote).join(', ')})`
            : step.kind === 'reverse'
              ? `${childModel}.objects.filter(${rel.generic === true ? genericFilter(step, naming, attrOf(row, at.path)) : `${fk}=${attrOf(row, at.path)}`})`
              : `${manager}.filter(…)`,
        // The loop queries an M2M's join table itself, or calls select_related() on the relation (a
        // new query): only reading the prefetched rows uses the fix.
        required: rel.autoThrough === true || joins.length > 0,
      });
    }
    if (!fetched && child.children.size === 0) continue;
    // Loops inside the prefetched rows: a Prefetch queryset with its own fix, or a plain path.
    const inner = emptyFix(child.table, naming);
    inner.selectRelated.push(...joins);
    collect(child, naming, startAt(child, naming), inner, names);
    fix.reads.push(...inner.reads);
    fix.prefetch.push(
      addsNothing(inner) ? quote(lookup) : `Prefetch(${quote(lookup)}, queryset=${inner.model}.objects${chainCalls(inner)})`,
    );
  }
}

/**
 * The rows one step leads to from the outer queryset's row, for a subquery: `Review.objects` filtered
 * by `book` on `OuterRef('pk')`, or on `OuterRef('book')` when the step starts at the row's `book`
 * (`queryPath` ends with the step's own query name): OuterRef('pk') from a related row would compare
 * with the outer row's own id.
 */
function relatedRows(step: RelationStep, queryPath: readonly string[], naming: Naming): RelatedRows {
  const model = naming.modelOf(step.toTable);
  const outer = queryPath.slice(0, -1).join('__') || 'pk';
  switch (step.kind) {
    case 'forward':
      // A key to_field holds that field's values: the related rows are found by it.
      return { rows: model, by: naming.toField(step.fromTable, step.column) ?? 'pk', outer: queryPath.join('__') };
    case 'reverse': {
      const names = naming.reverseName(step.fromTable, step.toTable, step.column);
      // A GenericRelation's rows match by content type too, which only the relation itself says: the
      // subquery is over the row's own model, through the relation.
      if (names.generic === true) return { rows: naming.modelOf(step.fromTable), by: 'pk', outer, via: names.queryName };
      // An auto-created join table has no model class: its own FK fields are named after the models.
      const rows = names.autoThrough === true ? `${naming.modelOf(step.fromTable)}.${names.name}.through` : model;
      // The rows' key compares with the field it points at: the pk, or its to_field (`OuterRef('code')`).
      const toField = naming.toField(step.toTable, step.column);
      return { rows, by: naming.forwardName(step.toTable, step.column), outer: toField === undefined ? outer : [...queryPath.slice(0, -1), toField].join('__') };
    }
    case 'm2m':
      // The M2M seen from its other end: Tag's query name for Book.tags (`book`, or its related_query_name).
      return { rows: model, by: naming.m2mName(step.toTable, step.fromTable, step.through, step.targetColumn).queryName, outer };
  }
}

/** The rows a relation with no reverse accessor leads to, as a query by its field: `Book.objects.filter(editor=user)`, `Essay.objects.filter(labels=tag)`. */
function hiddenRows(step: RelationStep, path: string[], naming: Naming, row: string): string {
  const holder = attrOf(row, path.slice(0, -1));
  if (step.kind === 'm2m') return `${naming.modelOf(step.toTable)}.objects.filter(${naming.m2mName(step.toTable, step.fromTable, step.through, step.targetColumn).name}=${holder})`;
  if (step.kind === 'reverse') return `${naming.modelOf(step.toTable)}.objects.filter(${naming.forwardName(step.toTable, step.column)}=${holder})`;
  return toOneRows(step, path, naming, row);
}

/**
 * What a loop counts or aggregates over a to-one relation, which has no manager to call count() on:
 * the related model's query, `Profile.objects.filter(author=author)` for a reverse one-to-one,
 * `Author.objects.filter(pk=book.author_id)` for a forward FK.
 */
function toOneRows(step: Exclude<RelationStep, { kind: 'm2m' }>, path: string[], naming: Naming, row: string): string {
  const model = naming.modelOf(step.toTable);
  const holder = path.slice(0, -1);
  if (step.kind === 'forward') return `${model}.objects.filter(${naming.toField(step.fromTable, step.column) ?? 'pk'}=${attrOf(row, [...holder, `${path[path.length - 1]!}_id`])})`;
  return `${model}.objects.filter(${naming.forwardName(step.toTable, step.column)}=${attrOf(row, holder)})`;
}

/** What a GenericRelation's rows of `holder` are filtered by: `content_type=ContentType.objects.get_for_model(article), object_id=article.pk`. */
function genericFilter(step: Extract<RelationStep, { kind: 'reverse' }>, naming: Naming, holder: string): string {
  return `content_type=ContentType.objects.get_for_model(${holder}), ${naming.fieldOfColumn(step.toTable, step.column)}=${holder}.pk`;
}

/** The rows of relatedRows: `rows` filtered by `by` on `OuterRef(outer)`; `via` the lookup from them to the related rows, when they are the row's own model. */
interface RelatedRows {
  rows: string;
  by: string;
  outer: string;
  via?: string;
}

/** `Review.objects.filter(book=OuterRef('pk'))`: what Exists() and Subquery() take. */
const relatedQueryset = (r: RelatedRows): string => `${r.rows}.objects.filter(${r.by}=OuterRef(${quote(r.outer)}))`;

/** An annotation that replaces a per-row read: its name, its expression and the read it replaces. */
interface Annotation {
  name: string;
  expr: string;
  insteadOf: string;
}

/**
 * The annotation for one count, aggregate or exists() leaf at `at` (whose last step is `step`), or
 * null for other leaves. `conditions` are a per-row filter's lookups on the related model (`private=…`;
 * null when the SQL does not tell them): the annotation then keeps that filter, for a manual cure.
 */
function annotationOf(
  leaf: LeafShape,
  step: RelationStep,
  rel: RelationName & { toMany: boolean },
  at: At,
  table: string,
  naming: Naming,
  row: string,
  conditions?: string[] | null,
  throughLookup?: string,
  throughConditions: readonly string[] = [],
): Annotation | null {
  const lookup = at.queryPath.join('__');
  const alias = at.queryPath.join('_');
  // A to-many relation's manager (`author.book_set`); a to-one relation has none (an M2M is always to-many),
  // nor has a key with no reverse accessor (related_name='+').
  const related =
    rel.hidden === true ? hiddenRows(step, at.path, naming, row) : step.kind === 'm2m' || rel.toMany ? attrOf(row, at.path) : toOneRows(step, at.path, naming, row);
  // A filter on an M2M's through model is by the holder's own lookup to it (`throughLookup`).
  const onThrough = throughConditions.map((c) => `${throughLookup}__${c}`);
  const filtered =
    conditions === undefined ? '' : `, filter=Q(${conditions === null ? `<the same filter, as ${lookup}__… lookups>` : [...conditions.map((c) => `${lookup}__${c}`), ...onThrough].join(', ')})`;
  // A to-many join repeats each row of the others once per row of it: a to-many relation's rows are
  // repeated by any other to-many join, a to-one relation's one row by any at all. Count each once.
  const repeated = at.toManyJoins > (rel.toMany ? 1 : 0);
  const distinct = repeated ? ', distinct=True' : '';
  switch (leaf.kind) {
    case 'count':
      return { name: `${alias}_count`, expr: `Count(${quote(lookup)}${distinct}${filtered})`, insteadOf: `${related}.count()` };
    case 'aggregate': {
      const fn = leaf.fn[0] + leaf.fn.slice(1).toLowerCase();
      const field = leaf.column === '*' ? '' : naming.fieldOfColumn(table, leaf.column);
      const name = leaf.column === '*' ? alias : `${alias}_${field}`;
      const over = field === '' ? "'*'" : quote(field);
      // The repeats leave an average, a minimum and a maximum as they are, but multiply a sum: it is
      // summed in a subquery of its own (Django's documented form: values() groups by the relation).
      const r = relatedRows(step, at.queryPath, naming);
      const summed = r.via === undefined ? field : `${r.via}__${field}`;
      const expr =
        leaf.fn === 'SUM' && distinct !== '' && field !== '' && conditions === undefined
          ? `Subquery(${relatedQueryset(r)}.order_by().values(${quote(r.by)}).annotate(total=Sum(${quote(summed)})).values('total'))`
          : `${fn}(${quote(field === '' ? lookup : `${lookup}__${field}`)}${filtered})`;
      return { name: `${name}_${leaf.fn.toLowerCase()}`, expr, insteadOf: `${related}.aggregate(${fn}(${over}))['${field || '*'}__${leaf.fn.toLowerCase()}']` };
    }
    case 'exists': {
      const r = relatedRows(step, at.queryPath, naming);
      const extra = [...(r.via === undefined ? [] : [`${r.via}__isnull=False`]), ...(conditions === undefined ? [] : (conditions?.map((c) => (r.via === undefined ? c : `${r.via}__${c}`)) ?? ['<the same filter>']))];
      const rows = relatedQueryset(r);
      const expr = extra.length === 0 ? rows : `${rows.slice(0, -1)}, ${extra.join(', ')})`;
      return { name: `has_${alias}`, expr: `Exists(${expr})`, insteadOf: `${related}.exists()` };
    }
    default:
      return null;
  }
}

/**
 * `name`, or the first of `name_<suffix>`, `name_<suffix>_2`, … that is not `taken`: Django refuses
 * an annotation or to_attr named like a field or relation of the model ("conflicts with a field on
 * the model"), and one keyword twice in annotate() is no Python.
 */
export function freeName(name: string, suffix: 'annotated' | 'prefetched', taken: (name: string) => boolean): string {
  if (!taken(name)) return name;
  for (let n = 1; ; n++) {
    const next = n === 1 ? `${name}_${suffix}` : `${name}_${suffix}_${n}`;
    if (!taken(next)) return next;
  }
}

/** `notes_count` of the annotate() argument `notes_count=Count('notes')`. */
const keywordOf = (arg: string): string => arg.slice(0, arg.indexOf('='));

/** The per-row attributes a fix already sets on its rows: its annotations and its to_attr lists. */
const setByFix = (fix: QuerysetFix): Set<string> => new Set([...fix.annotate.map(keywordOf), ...fix.rowValues.map((v) => v.attr)]);

/**
 * The names a fix gives its annotations and to_attr lists, by the read each replaces: filled by the
 * endpoint's combined fix, then read by one loop's own fix, so that both print the same name (a name
 * is taken apart only when another loop of the queryset takes it, which one loop alone cannot see).
 */
type Names = Map<string, string>;

/** The name `names` has for `key`, else `choose()`'s, which it then keeps. */
function named(names: Names | undefined, key: string, choose: () => string): string {
  const name = names?.get(key) ?? choose();
  names?.set(key, name);
  return name;
}

function annotateLeaves(
  child: Node,
  step: RelationStep,
  rel: RelationName & { toMany: boolean },
  at: At,
  naming: Naming,
  fix: QuerysetFix,
  names?: Names,
): void {
  const row = fix.rowVariable;
  const fields = naming.attributeNames(fix.table);
  for (const { leaf, source } of child.leaves) {
    const a = annotationOf(leaf, step, rel, at, child.table, naming, row);
    if (a === null) continue;
    // The same annotation from two loops is one argument (the profile prints it once); another one
    // under its name, or a field's, gets a name of its own.
    const set = setByFix(fix);
    const name = named(names, `annotate ${a.insteadOf}`, () =>
      fix.annotate.includes(`${a.name}=${a.expr}`) ? a.name : freeName(a.name, 'annotated', (n) => fields.has(n) || set.has(n)),
    );
    fix.annotate.push(`${name}=${a.expr}`);
    fix.reads.push({ read: `${row}.${name}`, insteadOf: a.insteadOf, required: true });
    fix.rowValues.push({ attr: name, read: `${row}.${name}`, sortable: true, ...(source === undefined ? {} : { source }) });
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
    node.leaves.push({
      leaf: c.leaf,
      order: c.firstIndex,
      ...(c.location?.function === undefined ? {} : { source: c.location.function }),
      ...(c.facts === undefined ? {} : { facts: c.facts }),
    });
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
  // A key with no reverse accessor has no query name either: it is named by the key (`Book.editor`).
  return c.steps.map((s) => (useQueryNames && relationOf(s, naming).hidden !== true ? relationOf(s, naming).queryName : stepLabel(s, naming))).join('__');
}

/** What a fix over a self-referential FK of unknown depth leaves out: the next level, which runs the same query. */
function deeperNote(c: CascadeShape, naming: Naming): string | undefined {
  const last = c.steps[c.steps.length - 1];
  if (last?.kind !== 'forward' || last.deeper !== true || c.trigger === null) return undefined;
  const names = c.steps.map((s) => relationOf(s, naming).name);
  const next = [...names, names[names.length - 1]!];
  const row = rowVariableOf(naming.modelOf(c.trigger.table));
  return (
    `every level of ${names[names.length - 1]} runs this same query, so the SQL does not tell how deep the loop goes: ` +
    `if it also reads ${[row, ...next].join('.')} (or deeper), select_related('${next.join('__')}') covers that level too`
  );
}

/** The note of a fix that loads every forward FK a step may be. */
function ambiguousNote(c: CascadeShape, naming: Naming): string | undefined {
  const step = c.steps.find((s) => candidateNames(s, naming).length > 1);
  if (step === undefined) return undefined;
  if (step.kind === 'forward' && step.otherPaths !== undefined) {
    const before = c.steps.slice(0, c.steps.indexOf(step)).map((s) => relationOf(s, naming).name);
    const paths = candidatePaths(step, before, naming).map((p) => p.join('__'));
    return (
      `the rows reach ${naming.modelOf(step.toTable)} through ${paths.join(' or ')} and the per-row SQL is the same for each ` +
      '(its values never reach n1lens): the fix loads all of them; keep the ones the loop reads'
    );
  }
  return (
    `${naming.modelOf(step.fromTable)} has ${candidateNames(step, naming).join(', ')} to ${naming.modelOf(step.toTable)} and the per-row SQL is the same for each ` +
    '(its values never reach n1lens): the fix loads all of them; keep the ones the loop reads'
  );
}

/** The fix's calls for loops over one trigger's rows, with the trigger's own joins first. */
function querysetFix(table: string, cascades: readonly CascadeShape[], naming: Naming, keepJoins: boolean, names?: Names): QuerysetFix {
  const fix = emptyFix(table, naming);
  const tree = buildTree(table, cascades);
  collect(tree, naming, startAt(tree, naming), fix, names);
  const joined: string[] = [];
  for (const c of cascades) for (const p of joinedPaths(c.triggerFacts, naming)) if (!joined.includes(p)) joined.push(p);
  if (keepJoins || fix.selectRelated.length > 0) {
    fix.joined = joined;
    fix.selectRelated = [...joined, ...fix.selectRelated.filter((p) => !joined.includes(p))];
  }
  return fix;
}

const DEFAULT_WHERE: FixWhere = { endpoint: '', route: '' };

/**
 * The read loops the combined fix fixes, one queryset each, by the trigger's fingerprint (two
 * querysets of one model, Book.objects.filter(a) and Book.objects.filter(b), are two places to
 * paste, not one), each in the order the request ran them.
 */
function byTrigger(cascades: readonly CascadeShape[], naming: Naming): Map<string, { table: string; loops: CascadeShape[] }> {
  const groups = new Map<string, { table: string; loops: CascadeShape[] }>();
  for (const c of [...cascades].sort((a, b) => a.firstIndex - b.firstIndex)) {
    if (c.kind === 'repeated_write' || !c.linked || c.trigger === null || c.steps.length === 0 || manualCure(c, naming) !== null) continue;
    const group = groups.get(c.trigger.fingerprint) ?? { table: c.trigger.table, loops: [] };
    group.loops.push(c);
    groups.set(c.trigger.fingerprint, group);
  }
  return groups;
}

/**
 * Where the loops over one trigger run: the endpoint, plus what their locations say. The view is the
 * most common one; the function is a framework member (a serializer field, an admin column) when one
 * is named, as that is what decides the idiom.
 */
function siteOf(where: FixWhere, cascades: readonly CascadeShape[], naming: Naming): FixSite {
  const site: FixSite = { ...where, naming };
  const views = new Map<string, number>();
  for (const c of cascades) if (c.location?.view !== undefined) views.set(c.location.view, (views.get(c.location.view) ?? 0) + 1);
  const view = [...views].sort((a, b) => b[1] - a[1] || compareText(a[0], b[0]))[0]?.[0];
  if (site.view === undefined && view !== undefined) site.view = view;
  const located = cascades.map((c) => c.location).filter((l) => l?.function !== undefined);
  const framework = located.find((l) => /(Serializer|Admin)\.\w+$/.test(l!.function!)) ?? located[0];
  if (site.function === undefined && framework?.function !== undefined) {
    site.function = framework.function;
    if (framework.file !== undefined) site.file = framework.file;
  }
  return site;
}

/**
 * The model the view reads `table`'s rows through, when the schema tells it and it is not the
 * table's own model: a proxy (whose manager may keep some rows only) that a class-based view names
 * (`model = BargainBook`), or whose admin changelist the route is (`admin/shop/bargainbook/`).
 */
function viewModel(site: FixSite, table: string): string | undefined {
  const schema = site.schema;
  if (schema === undefined) return undefined;
  const proxies = schema.models.filter((m) => m.table === table && m.proxyFor !== undefined);
  if (proxies.length === 0) return undefined;
  const className = (label: string): string => label.slice(label.lastIndexOf('.') + 1);
  const url = (schema.urls ?? []).find((u) => u.model !== undefined && (u.view === site.view || (site.view === undefined && u.route === site.route)));
  const named = proxies.find((m) => m.model === url?.model);
  if (named !== undefined) return className(named.model);
  const segments = site.route.split('/').filter((x) => x !== '');
  const n = segments.length;
  if (n < 3 || !segments.slice(0, n - 2).some((x) => x.includes('admin'))) return undefined;
  const changelist = proxies.find((m) => m.model.toLowerCase() === `${segments[n - 2]}.${segments[n - 1]}`);
  return changelist === undefined ? undefined : className(changelist.model);
}

/**
 * The fix for one cascade on its own. `endpoint` is every loop of the endpoint's combined fix
 * (combinedFix's input): the names this fix sets (annotations, to_attr lists) are then the ones the
 * combined fix gives them, which another loop over the same rows may have made take a name apart.
 */
export function suggestCascade(c: CascadeShape, naming: Naming, where: FixWhere = DEFAULT_WHERE, endpoint: readonly CascadeShape[] = []): Suggestion {
  const model = naming.modelOf(c.table);
  const ambiguity = c.linked ? ambiguousNote(c, naming) : undefined;
  const confidence = naming.exact && c.linked && ambiguity === undefined ? 'exact' : 'inferred';
  const notes = c.linked ? [ambiguity, naming.exact ? undefined : INFERRED_NOTE, deeperNote(c, naming)] : [unlinkedNote(c)];
  const said = notes.filter((n) => n !== undefined);
  const note = said.length === 0 ? {} : { note: said.join('; ') };
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
  const site = siteOf(where, [c], naming);
  const names: Names = new Map();
  const queryset = c.trigger === null ? undefined : byTrigger(endpoint, naming).get(c.trigger.fingerprint);
  if (queryset !== undefined && queryset.loops.length > 1) querysetFix(queryset.table, queryset.loops, naming, true, names);
  const fix = querysetFix(c.trigger?.table ?? c.table, [c], naming, false, names);
  fix.model = viewModel(site, fix.table) ?? fix.model;
  const profile = profileFor(site, fix);
  const refined = profile.refine?.(site, fix) ?? fix;
  const rendered = (profile.renderOne ?? django.renderOne!)(site, refined);
  const read = refined.reads[0];
  return {
    method: methodOf(c, naming),
    path: pathOf(c, naming),
    code: rendered.code,
    confidence,
    ...note,
    ...(read === undefined ? {} : { readInstead: { read: read.read, insteadOf: read.insteadOf, required: read.required } }),
    ...(rendered.placement === undefined ? {} : { placement: rendered.placement }),
  };
}

function unlinkedNote(c: CascadeShape): string {
  return (
    `could not tell from SQL which relation of ${c.trigger?.table ?? 'the trigger'} leads to ${c.table}; ` +
    'a schema file (--schema) names it when it is a real relation'
  );
}

/**
 * One fix per trigger that fixes every loop over that trigger's rows, keeping the joins the trigger
 * already has, written by the profile of the framework that serves the endpoint (a queryset, a
 * ModelAdmin's attributes, a DRF view's `queryset`) and followed by the reads the loops must change.
 * Write loops follow on their own lines.
 */
export function combinedFix(cascades: readonly CascadeShape[], naming: Naming, where: FixWhere = DEFAULT_WHERE): string {
  const writes = [...cascades]
    .sort((a, b) => a.firstIndex - b.firstIndex)
    .filter((c) => c.kind === 'repeated_write')
    .map((c) => suggestCascade(c, naming).code);
  const blocks: string[] = [];
  for (const { table, loops } of byTrigger(cascades, naming).values()) {
    const site = siteOf(where, loops, naming);
    const fix = querysetFix(table, loops, naming, true);
    fix.model = viewModel(site, table) ?? fix.model;
    const profile = profileFor(site, fix);
    const { code, placement } = profile.render(site, profile.refine?.(site, fix) ?? fix);
    const block = placement === undefined ? code : `# ${placement}\n${code}`;
    if (code !== '' && !blocks.includes(block)) blocks.push(block);
  }
  return [...blocks, ...writes.filter((w, i, all) => all.indexOf(w) === i)].join('\n');
}
