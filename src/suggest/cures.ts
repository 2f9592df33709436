/**
 * Loops no plain select_related / prefetch_related fixes, and what does: a relation filtered per
 * row (a Prefetch with to_attr), a per-row call with no relation behind it (hoist it), a generic
 * relation looked up by (content_type, object_id), a relation whose name the SQL cannot tell (each
 * reading named). Each returns a `manual` suggestion whose text names the cure, never a call that
 * would not work.
 */
import type { LeafShape } from '../detect/types.js';
import type { SqlFacts } from '../sql/types.js';
import type { Suggestion } from './fix.js';
import type { Naming } from './naming.js';

const whereOf = (sql: string): string | undefined => / WHERE (.*?)(?: GROUP BY | ORDER BY | LIMIT | OFFSET |$)/.exec(sql)?.[1];

/** The per-row query's WHERE clause has conditions beyond the one that ties it to the row. */
export function filtersPerRow(sql: string): boolean {
  const where = whereOf(sql);
  return where !== undefined && /\b(AND|OR)\b/.test(where);
}

/**
 * The per-row query's conditions beyond `link` (the column that ties it to the row), as lookups on
 * `table`'s model with their values left out (`private=…`), when every condition is a plain
 * `table.column = ?` on that table; null when any is not (another table, a range, NOT, OR).
 */
export function perRowConditions(sql: string, link: string, table: string, naming: Naming): string[] | null {
  const terms = perRowTerms(sql, link);
  if (terms === null || terms.length === 0 || terms.some((t) => t.table !== table)) return null;
  return terms.map((t) => `${naming.fieldOfColumn(table, t.column)}=…`);
}

/** The per-row query's conditions beyond `link`, as `table.column`, when every one is a plain `table.column = ?`; null when any is not. */
export function perRowTerms(sql: string, link: string): { table: string; column: string }[] | null {
  const where = whereOf(sql);
  if (where === undefined || /\bOR\b/.test(where)) return null;
  const out: { table: string; column: string }[] = [];
  for (const term of where.split(' AND ')) {
    const m = /^\(*"?(\w+)"?\."?(\w+)"? = \?\)*$/.exec(term.trim());
    if (m !== null && `${m[1]}.${m[2]}` === link) continue;
    if (m === null) return null;
    out.push({ table: m[1]!, column: m[2]! });
  }
  return out;
}

/** `WHERE t.content_type_id = ? AND t.object_id = ?`: a GenericRelation (or GenericForeignKey) read per row. */
export function isGenericLookup(facts: SqlFacts): boolean {
  const own = facts.equalityFilters.filter((f) => f.startsWith(`${facts.table}.`)).map((f) => f.slice(facts.table.length + 1));
  return own.some((c) => c.endsWith('content_type_id')) && own.some((c) => c === 'object_id' || c.endsWith('object_id'));
}

/** A treebeard tree walk per row (Wagtail's `get_parent()` / `get_ancestors()`): `WHERE page.path = ?`. */
function isTreeWalk(facts: SqlFacts): boolean {
  return facts.equalityFilters.includes(`${facts.table}.path`) || facts.rangeFilters.includes(`${facts.table}.path`);
}

const manual = (path: string, code: string, note: string): Suggestion => ({ method: 'manual', path, code, confidence: 'inferred', note });

const FILTERED_NOTE = 'the per-row query has conditions beyond the relation (a .filter() in a model method or template tag)';

/**
 * `prefetch_related('x')` would be bypassed by the loop's own `.filter()`: a filtered Prefetch is the
 * cure. `filter` is the condition as far as the SQL tells it; `first` when the loop takes the first row.
 */
export function filteredRelationCure(relation: string, model: string, triggerModel: string, filter = '<the same filter>', first = false): Suggestion {
  const list = `obj.${relation}_filtered`;
  return manual(
    relation,
    `# ${triggerModel}: '${relation}' is filtered per row, which bypasses prefetch_related('${relation}'): ` +
      `prefetch_related(Prefetch('${relation}', queryset=${model}.objects.filter(${filter})${first ? '.order_by(<the same order>)' : ''}, to_attr='${relation}_filtered')) ` +
      `and read ${first ? `${list}[0] if ${list} else None` : list} in the loop instead of calling the filtering method`,
    FILTERED_NOTE,
  );
}

/** A count, aggregate or exists() of a relation filtered per row: a plain annotation would ignore the filter; `annotation` keeps it. */
export function filteredAnnotationCure(relation: string, triggerModel: string, annotation: string, read: string): Suggestion {
  return manual(
    relation,
    `# ${triggerModel}: '${relation}' is filtered per row, which a plain annotation over it ignores: ` +
      `annotate(${annotation}) with the loop's own filter values, and read ${read} in the loop`,
    FILTERED_NOTE,
  );
}

/** Django's get() asks for up to 21 rows (MAX_GET_RESULTS), so that it can say how many more than one matched. */
export const isGet = (facts: SqlFacts): boolean => facts.limit === 21;

/**
 * A reverse relation read by get() per row, with no schema to say its kind: a reverse one-to-one
 * (`author.profile`) and a foreign key read with get() (`author.profile_set.get()`) have different
 * fixes, and each raises when pasted for the other.
 */
export function reverseGetCure(over: string, model: string, fk: string, row: string, oneToOne: string, manager: string): Suggestion {
  return manual(
    oneToOne,
    `# ${over}: one ${model} per row read by get() on its ${fk}: if ${model}.${fk} is a OneToOneField, select_related('${oneToOne}') ` +
      `and read ${row}.${oneToOne.replaceAll('__', '.')}; if it is a ForeignKey, prefetch_related('${manager}') and pick the row from ` +
      `${row}.${manager.replaceAll('__', '.')}.all() in the loop`,
    'without a schema the SQL cannot tell a reverse one-to-one from a foreign key read with get(): ' +
      'run `manage.py n1lens_schema` and pass --schema for the exact fix',
  );
}

/** What joinRowsManualCure says: the loop's rows, the M2M's path from them, and the join table's query. */
export interface JoinRows {
  /** The model the loop iterates (`Book`). */
  over: string;
  /** The M2M's path from those rows (`tags`). */
  path: string;
  /** The join table's queryset owner (`Book.tags.through`). */
  through: string;
  /** The model the join rows point back at, and that FK's field on the join table (`Book`, `book`). */
  holder: string;
  fk: string;
  /** Per-row conditions on the join table, as lookups; none when unfiltered. */
  conditions: readonly string[];
  /** order_by() fields, the FK first, for first(); undefined for a plain fetch. */
  order: readonly string[] | undefined;
}

/**
 * The join table's own rows per row (`Book.tags.through.objects.filter(book=b).first()`): loaded once
 * for every row, then grouped by the FK, since prefetch_related of the M2M loads the related rows,
 * not the join rows, and cannot filter or order by them.
 */
export function joinRowsManualCure(j: JoinRows): Suggestion {
  const filter = [`${j.fk}__in=<the ${j.holder} rows>`, ...j.conditions].join(', ');
  const ordered = j.order === undefined ? '' : `.order_by(${j.order.map((f) => `'${f}'`).join(', ')})`;
  const pick = j.order === undefined ? 'the rows of each' : 'the first row of each';
  return manual(
    j.path,
    `# ${j.over}: ${j.through} rows queried per row (prefetch_related('${j.path}') loads the related rows, not these): ` +
      `load them once, ${j.through}.objects.filter(${filter})${ordered}, keep ${pick} ${j.fk}_id in a dict, and read it in the loop`,
    `the per-row query reads the join table of the M2M '${j.path}' itself`,
  );
}

/**
 * A loop through one of several forward FKs to one table (`created_by`, `assignee`) that goes on
 * past it or aggregates: the SQL is the same whichever it is, so the fix is the one for the FK the
 * loop reads, which the code says and the SQL does not.
 */
export function ambiguousCure(over: string, model: string, candidates: readonly string[], path: string): Suggestion {
  return manual(
    path,
    `# ${over}: the loop reaches ${model} through one of ${candidates.join(', ')}, and the per-row SQL is the same for each: ` +
      `write the fix for the one the loop reads (${candidates.map((c) => `'${c}'`).join(' or ')} in its path)`,
    `the trigger selects ${candidates.length} foreign keys to ${model}; the query's values, which would tell them apart, never reach n1lens`,
  );
}

/** What unnamedM2mCure says: the M2M's two models and through model, and the fix under each reading. */
export interface UnnamedM2m {
  /** The model the loop iterates. */
  over: string;
  /** The M2M's model on the loop's side (`Book`), the other (`Shelf`) and the through model (`Placement`). */
  holder: string;
  target: string;
  through: string;
  /** The fix's call if `target` declares the field with no related_name, and if `holder` declares it. */
  ifTargetDeclares: string;
  ifHolderDeclares: string;
  /** The report's path, with the unknown name as `…|?`. */
  path: string;
}

/**
 * An M2M through a model of its own, without a schema: the join table is the through model's
 * (`shop_placement`), so neither the field's name nor the model that declares it can be read from
 * the SQL, and a name guessed from the table (`placement`) is no accessor at all. Both readings are
 * named, as for two foreign keys the SQL cannot tell apart.
 */
export function unnamedM2mCure(m: UnnamedM2m): Suggestion {
  return manual(
    m.path,
    `# ${m.over}: the loop reaches ${m.target} through ${m.through}, an M2M's own through model, whose table names neither the field nor its model: ` +
      `${m.ifTargetDeclares} if ${m.target} declares the ManyToManyField with no related_name (by its related_name if it has one), ` +
      `${m.ifHolderDeclares} if ${m.holder} declares it`,
    'without a schema the SQL cannot tell which model declares an M2M with a through model of its own, nor its name: ' +
      'run `manage.py n1lens_schema` and pass --schema for the exact fix',
  );
}

/** What hiddenRelationCure says: a foreign key or M2M field back to the loop's rows that has no reverse accessor. */
export interface HiddenRelation {
  /** The model the loop iterates (`User`) and its per-row variable (`user`). */
  over: string;
  row: string;
  /** The field with no reverse accessor (`Book.editor`, `Essay.labels`) and its model (`Book`). */
  relation: string;
  model: string;
  /**
   * The rows that hold the key to the loop's rows (`Book`; an M2M's join table, `Essay.labels.through`),
   * that key (`editor`, `tag`), and, for a join table, its key to `model`'s rows (`essay`; '' for a foreign key).
   */
  rows: string;
  fk: string;
  via: string;
  /** The loop's row's field the key holds: `pk`, or the field a key with `to_field` points at (`code`). */
  outer: string;
  /** The stem for annotation names (`book`). */
  alias: string;
  /** The per-row query's leaf, and its field for an aggregate (`stars`). */
  leaf: LeafShape;
  field: string;
  /** Lookups of a per-row filter on `model` beyond the key (`title=…`); null when the SQL does not tell them. */
  conditions: readonly string[] | null;
  /** True when the key points at the loop's own rows; false when the loop reaches them through other relations first. */
  direct: boolean;
}

/**
 * Rows of `model` per row by a key with `related_name='+'`: the loop's model has no accessor to
 * prefetch and no query name to count through, so the cure reads the rows or figures by the key
 * itself: once for every row, or in a subquery per row.
 */
export function hiddenRelationCure(h: HiddenRelation): Suggestion {
  const head = `# ${h.over}: ${h.relation} has related_name='+', so ${h.over} has no reverse accessor or query name for it to prefetch or count: `;
  const note = `${h.relation} has no reverse relation (related_name='+'); giving it a related_name makes prefetch_related / Count usable`;
  const on = (lookup: string): string => (h.via === '' ? lookup : `${h.via}__${lookup}`);
  const extra = h.conditions === null ? ', <the same filter>' : h.conditions.map((c) => `, ${on(c)}`).join('');
  if (!h.direct) {
    return manual(h.relation, `${head}load the ${h.model} rows once by ${h.fk}_id for every row the loop reaches, keep them in a dict, and read it in the loop`, note);
  }
  const rows = `${h.rows}.objects.filter(${h.fk}=OuterRef('${h.outer}')${extra}).order_by().values('${h.fk}')`;
  switch (h.leaf.kind) {
    case 'count':
      return manual(
        h.relation,
        `${head}annotate(${h.alias}_count=Coalesce(Subquery(${rows}.annotate(n=Count('pk')).values('n')), 0)) ` +
          `(Coalesce from django.db.models.functions), and read ${h.row}.${h.alias}_count in the loop`,
        note,
      );
    case 'aggregate': {
      const fn = h.leaf.fn[0] + h.leaf.fn.slice(1).toLowerCase();
      const name = `${h.alias}_${h.field}_${h.leaf.fn.toLowerCase()}`;
      return manual(h.relation, `${head}annotate(${name}=Subquery(${rows}.annotate(v=${fn}('${on(h.field)}')).values('v'))), and read ${h.row}.${name} in the loop`, note);
    }
    case 'exists':
      return manual(h.relation, `${head}annotate(has_${h.alias}=Exists(${h.rows}.objects.filter(${h.fk}=OuterRef('${h.outer}')${extra}))), and read ${h.row}.has_${h.alias} in the loop`, note);
    default: {
      const each = h.via === '' ? 'rows' : `${h.via}s`;
      const pick = h.leaf.kind === 'first' ? `the first of the ${each} of each ${h.fk}_id (ordered as the loop orders them)` : `the ${each} of each ${h.fk}_id`;
      const joined = h.via === '' ? '' : `.select_related('${h.via}')`;
      return manual(
        h.relation,
        `${head}load the ${h.model} rows once, ${h.rows}.objects.filter(${h.fk}__in=<the ${h.over} rows>${extra})${joined}, keep ${pick} in a dict, and read it in the loop`,
        note,
      );
    }
  }
}

/** What inheritedRelationCure says: a child model's rows per row by a key its multi-table parent holds. */
export interface InheritedRelation {
  /** The model the loop iterates (`Author`) and the read of its row (`author`, `book.author` past to-one steps). */
  over: string;
  row: string;
  /** The child model (`Restaurant`), its parent (`Place`), and the key on the parent (`owner`). */
  model: string;
  parent: string;
  fk: string;
  /** The attribute path from the loop's rows to the parent's rows (`places`, `author__places`), and its lookup path. */
  path: string;
  lookup: string;
  /** The parent's one-to-one to the child (`restaurant`); '' when the SQL does not tell it. */
  child: string;
  /** The field of the rows the key points at that it holds: `pk`, or its `to_field` (`code`). */
  outer: string;
  /** True when the relation starts at the loop's rows or past to-one steps; false past a to-many one. */
  direct: boolean;
  /** Names for the to_attr list and the annotations, free on the rows that hold them. */
  list: string;
  annotation: string;
  leaf: LeafShape;
  /** The aggregate's field (`rating`). */
  field: string;
  /** Lookups of a per-row filter beyond the key; null when the SQL does not tell them. */
  conditions: readonly string[] | null;
}

/**
 * A child's rows per row by a key its multi-table parent holds (`Restaurant.objects.filter(owner=a)`):
 * the loop's model has a relation to the parent's rows (`places`), which a Prefetch with the child's
 * queryset loads as child rows, and which counts reach through the parent's one-to-one to the child.
 */
export function inheritedRelationCure(h: InheritedRelation): Suggestion {
  const filter = h.conditions === null ? '<the same filter>' : h.conditions.join(', ');
  const head = `# ${h.over}: ${h.model} rows per row by ${h.parent}.${h.fk}, a key ${h.model} inherits from ${h.parent}: `;
  const note = `${h.model} is a multi-table child of ${h.parent}: the relation from the loop's rows is ${h.parent}'s, and a Prefetch of it with ${h.model}'s queryset loads ${h.model} rows`;
  const rows = h.conditions?.length === 0 ? 'all()' : `filter(${filter})`;
  const prefetch = (ordered: string): string =>
    `prefetch_related(Prefetch('${h.path}', queryset=${h.model}.objects.${rows}${ordered}, to_attr='${h.list}'))`;
  const list = `${h.row}.${h.list}`;
  const target = h.child === '' ? '' : `${h.lookup}__${h.child}`;
  const q = h.conditions === null ? `, filter=Q(<the same filter, as ${target}__… lookups>)` : h.conditions.length === 0 ? '' : `, filter=Q(${h.conditions.map((c) => `${target}__${c}`).join(', ')})`;
  // The key compares with the row it points at (past to-one steps, `book__author`), by its pk or its to_field.
  const holder = h.lookup.includes('__') ? h.lookup.slice(0, h.lookup.lastIndexOf('__')) : '';
  const outerRef = holder === '' ? h.outer : h.outer === 'pk' ? holder : `${holder}__${h.outer}`;
  switch (h.direct ? h.leaf.kind : 'other') {
    case 'fetch':
      return manual(h.path, `${head}${prefetch('')} and read ${list} in the loop`, note);
    case 'first':
      return manual(h.path, `${head}${prefetch('.order_by(<the same order>)')} and read ${list}[0] if ${list} else None in the loop`, note);
    case 'exists':
      return manual(h.path, `${head}annotate(${h.annotation}=Exists(${h.model}.objects.filter(${h.fk}=OuterRef('${outerRef}')${h.conditions?.length ? `, ${filter}` : ''}))) and read ${h.row}.${h.annotation} in the loop`, note);
    case 'count':
    case 'aggregate': {
      if (target === '' || (h.leaf.kind !== 'count' && h.leaf.kind !== 'aggregate')) break;
      const expr = h.leaf.kind === 'count' ? `Count('${target}'${q})` : `${h.leaf.fn[0]}${h.leaf.fn.slice(1).toLowerCase()}('${target}__${h.field}'${q})`;
      return manual(h.path, `${head}annotate(${h.annotation}=${expr}) and read ${h.row}.${h.annotation} in the loop`, note);
    }
    default:
      break;
  }
  return manual(h.path, `${head}load the ${h.model} rows once by ${h.fk}_id for every row the loop reaches, keep them in a dict, and read it in the loop`, note);
}

/** first() ordered by a column of a table the related model has no lookup to that the SQL names. */
export function unnamedOrderCure(relation: string, model: string, triggerModel: string, columns: readonly string[]): Suggestion {
  return manual(
    relation,
    `# ${triggerModel}: the first of '${relation}' per row, ordered by ${columns.join(', ')}: ` +
      `prefetch_related(Prefetch('${relation}', queryset=${model}.objects.order_by(<the same order, as ${model} lookups>), to_attr='ordered_${relation}')) ` +
      `and read obj.ordered_${relation}[0] if obj.ordered_${relation} else None in the loop`,
    `could not tell from SQL which lookup from ${model} reaches the ORDER BY column's table`,
  );
}

/** The function a table-less `SELECT f(…)` calls (`nextval`, `NOW`), or undefined when it calls none first. */
function calledFunction(sql: string): string | undefined {
  return /^SELECT (?:DISTINCT )?(?:[\w$]+\.)*([\w$]+)\(/i.exec(sql)?.[1];
}

/**
 * A query that reads no table, run once per row: a sequence value per object (`SELECT nextval(…)`
 * from a custom save()), `SELECT NOW()`, a stored function per row. A real round trip each, but no
 * relation leads to it, so the cure is to take the values in one query or call it once, never a
 * relation to load.
 */
export function tablelessCure(sql: string | undefined, over: string): Suggestion {
  const fn = sql === undefined ? undefined : calledFunction(sql);
  // The statement as it is when short (`SELECT nextval(?)`, `SELECT NOW()`), else the function it calls.
  const call = sql !== undefined && sql.length <= 60 ? sql : fn === undefined ? 'a query with no table' : `SELECT ${fn}(…)`;
  const note = 'the repeated query reads no table: no relation leads to it, so no queryset call can load it with the rows';
  if (fn !== undefined && /^nextval$/i.test(fn)) {
    return manual(
      '',
      `# ${over}: ${call} once per row (a sequence value for each object, e.g. in a custom save()): take the values in one query ` +
        '(PostgreSQL: SELECT nextval(%s) FROM generate_series(1, %s)), or let the column\'s database default fill them and bulk_create(objs)',
      note,
    );
  }
  return manual(
    '',
    `# ${over}: ${call} once per row: call it once before the loop when its answer does not depend on the row, ` +
      'or compute it for every row in the query that loads them (annotate)',
    note,
  );
}

/** No relation of the rows leads to the repeated query's table. */
export function unlinkedCure(facts: SqlFacts, naming: Naming, over: string): Suggestion {
  const model = facts.table === '' ? 'the repeated query' : naming.modelOf(facts.table);
  if (isGenericLookup(facts)) {
    return manual(
      model,
      `# ${over}: ${model} rows are read per row by (content_type, object_id): add a GenericRelation(${model}) to the model you loop over ` +
        `and prefetch_related() it by that name`,
      'a generic relation: no ForeignKey links the rows to it, so only a GenericRelation can be prefetched',
    );
  }
  if (isTreeWalk(facts)) {
    return manual(
      model,
      `# ${over}: a tree walk per row (get_parent() / get_ancestors() on each ${model}): hoist it out of the loop, ` +
        'e.g. call it once when every row shares the parent, or load the ancestors in one query by path',
      'treebeard looks pages up by path; no relation can be prefetched for it',
    );
  }
  return manual(
    model,
    `# ${over}: one ${model} query per row and no relation between them: hoist the per-row call out of the loop ` +
      `(load the ${model} rows once, e.g. in_bulk(ids), and look them up in the loop)`,
    `could not tell from SQL which relation of ${over} leads to ${facts.table || 'this query'}; ` +
      'a schema file (--schema) names it when it is a real relation',
  );
}

/** Appended to a forward select_related fix: the same SQL comes from a fetch by id, which it does not cure. */
export function readInsteadNote(rowVar: string, field: string, model: string): string {
  return (
    `if the loop fetches by id (${model}.objects.get(pk=${rowVar}.${field}_id), or await ${model}.objects.aget(…) in async code), ` +
    `read ${rowVar}.${field} instead: select_related alone does not remove that query (in async code, with no await)`
  );
}
