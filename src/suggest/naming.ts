/** Names Django uses for tables and columns: from the app's schema file when given, from Django's conventions otherwise. */
import { appPrefix, conventionLinks, type TableLinks } from '../detect/links.js';
import type { RelationStep } from '../detect/types.js';
import { modelsByTable, type DjangoSchema, type SchemaModel, type SchemaRelation } from './schema.js';

/** A relation's attribute name (select_related / prefetch_related) and its lookup name (filters, aggregates). */
export interface RelationName {
  name: string;
  queryName: string;
  /** A reverse relation's kind when the schema says: true for a one-to-one (single-valued), false for a foreign key; absent when unknown. */
  oneToOne?: boolean;
  /**
   * True when a reverse step's table is the join table Django creates for this M2M field, with no
   * model of its own: `book.tags.count()` and `.exists()` query it alone. Code names it `Book.tags.through`.
   */
  autoThrough?: boolean;
  /**
   * True for an M2M through a model of its own named without a schema: the join table (the through
   * model's, `shop_placement`) names neither the field nor the model that declares it. `name` and
   * `queryName` are then only one reading, the other model declaring the field with no related_name
   * (`shelf_set`); the other reading is a field of this model whose name nothing in the SQL tells.
   */
  unsure?: boolean;
  /**
   * True for a reverse relation the schema knows the foreign key or M2M field of (`Book.editor`) but
   * lists no accessor for: `related_name='+'` gives it neither an accessor nor a query name, so no
   * prefetch_related() or Count() can name it. `name` is then the field it goes back through
   * (`Book.editor`, for reports) and `queryName` the model's name (`book`, for annotation names).
   */
  hidden?: boolean;
  /**
   * For a reverse step through a multi-table-inheritance parent's key (`Restaurant.objects.filter(owner=a)`):
   * `name` and `queryName` are the relation to the parent's rows (`places`), and this is the query
   * name of the parent's one-to-one to the child (`restaurant`); '' when the SQL does not tell it.
   */
  inheritedBy?: string;
  /** True for a GenericRelation (`article.comments`): its rows are tied by (content type, object id), not by a foreign key. */
  generic?: boolean;
}

/** Everything suggest/ needs to turn SQL identifiers into ORM code. */
export interface Naming extends TableLinks {
  /** True when names come from the app's schema rather than conventions. */
  readonly exact: boolean;
  /**
   * Model class name for a table, e.g. `OrderLine`; for the join table Django creates for an M2M
   * field, which has no class of its own, the field's `through` (`Book.tags.through`).
   */
  modelOf(table: string): string;
  /** Field name of a forward FK column, e.g. `job_id` -> `job`. */
  forwardName(table: string, column: string): string;
  /** Reverse accessor from `fromTable` to rows of `toTable` whose `column` points back. */
  reverseName(fromTable: string, toTable: string, column: string): RelationName;
  /** M2M field on `fromTable` through `through`, whose `sourceColumn` points at `fromTable`. */
  m2mName(fromTable: string, toTable: string, through: string, sourceColumn: string): RelationName;
  /** Model field for a written column (FK columns lose `_id`). */
  fieldOfColumn(table: string, column: string): string;
  /**
   * A foreign key `table.column` to a unique field other than its target's primary key (`to_field`):
   * that field's name (`code`), by which the row is looked up and a subquery compares; undefined for
   * a key to the primary key.
   */
  toField(table: string, column: string): string | undefined;
  /**
   * What each row of `table`'s model already has by name: fields (name and attname) and relations
   * (accessor and query name), its parents' too. An annotation or to_attr that takes one raises when
   * pasted. Empty when no schema lists the model: conventions cannot tell.
   */
  attributeNames(table: string): ReadonlySet<string>;
}

/** A step's names: the attribute (select_related / prefetch_related) and the lookup (filters, aggregates). */
export function stepNames(step: RelationStep, naming: Naming): RelationName {
  switch (step.kind) {
    case 'forward': {
      const name = naming.forwardName(step.fromTable, step.column);
      return { name, queryName: name };
    }
    case 'reverse': {
      const inherited = step.inherited;
      if (inherited === undefined) return naming.reverseName(step.fromTable, step.toTable, step.column);
      const child = inherited.pointer === '' ? '' : naming.reverseName(inherited.table, step.toTable, inherited.pointer).queryName;
      return { ...naming.reverseName(step.fromTable, inherited.table, step.column), inheritedBy: child };
    }
    case 'm2m':
      return naming.m2mName(step.fromTable, step.toTable, step.through, step.sourceColumn);
  }
}

/**
 * The forward FKs a step may be, when the SQL cannot tell which (`created_by`, `assignee`; a key of
 * another joined table, from the trigger's rows: `book__author`); its one name otherwise.
 */
export function candidateNames(step: RelationStep, naming: Naming): string[] {
  if (step.kind !== 'forward' || (step.alternatives === undefined && step.otherPaths === undefined)) return [stepNames(step, naming).name];
  const own = [step.column, ...(step.alternatives ?? [])].map((column) => naming.forwardName(step.fromTable, column));
  return [...own, ...(step.otherPaths?.paths ?? []).map((p) => p.map((s) => stepNames(s, naming).name).join('__'))];
}

/**
 * The whole paths, from the queryset's rows, a step reached by `before` may be: `[...before, name]`
 * for each key of its own table, and each other joined path (`otherPaths`) in place of the joins
 * that lead to it.
 */
export function candidatePaths(step: RelationStep, before: readonly string[], naming: Naming): string[][] {
  if (step.kind !== 'forward' || (step.alternatives === undefined && step.otherPaths === undefined)) return [[...before, stepNames(step, naming).name]];
  const own = [step.column, ...(step.alternatives ?? [])].map((column) => [...before, naming.forwardName(step.fromTable, column)]);
  const other = step.otherPaths;
  if (other === undefined) return own;
  const base = before.slice(0, before.length - (other.pathLength - 1));
  return [...own, ...other.paths.map((p) => [...base, ...p.map((s) => stepNames(s, naming).name)])];
}

/**
 * A step's name as a report shows it: `created_by|assignee` for a forward FK the SQL cannot tell from
 * another, `shelf_set|?` for an M2M whose field's name the SQL does not tell (RelationName.unsure),
 * `places__restaurant` for a child's rows through its multi-table parent's key.
 */
export function stepLabel(step: RelationStep, naming: Naming): string {
  if (step.kind === 'm2m') {
    const names = stepNames(step, naming);
    return names.unsure === true ? `${names.name}|?` : names.name;
  }
  if (step.kind === 'reverse' && step.inherited !== undefined) {
    // The parent's rows, then the child's: the lookup from the loop's rows (`places__restaurant`).
    const names = stepNames(step, naming);
    return `${names.name}__${names.inheritedBy || '?'}`;
  }
  return candidateNames(step, naming).join('|');
}

/** `recruit_orderline` -> `orderline`: the model part of Django's default `<app>_<model>` table name. */
function modelPart(table: string): string {
  const app = appPrefix(table);
  return app === '' ? table : table.slice(app.length + 1);
}

const capitalise = (s: string): string => (s.length === 0 ? s : s[0]!.toUpperCase() + s.slice(1));

/**
 * `shop_book_tags` -> `Book.tags.through` when `shop_book` is among `tables`: Django names an M2M's
 * join table `<model's table>_<field>`, and a default model table has no `_` after its app's. The
 * longest such table is the model's.
 */
function conventionThrough(table: string, tables: readonly string[]): string | undefined {
  let owner: string | undefined;
  for (const t of tables) if (t !== table && table.startsWith(`${t}_`) && (owner === undefined || t.length > owner.length)) owner = t;
  return owner === undefined ? undefined : `${capitalise(modelPart(owner))}.${table.slice(owner.length + 1)}.through`;
}

const NO_NAMES: ReadonlySet<string> = new Set();

/** Django's default names. `knownTables` lets FK guesses name only tables actually seen. */
export function conventionNaming(knownTables: Iterable<string>): Naming {
  const tables = [...new Set(knownTables)];
  const links = conventionLinks(tables);
  const forwardName = (_table: string, column: string): string =>
    column.endsWith('_id') ? column.slice(0, -3) : column;
  return {
    exact: false,
    foreignKeyTarget: links.foreignKeyTarget,
    primaryKey: links.primaryKey,
    modelOf: (table) => conventionThrough(table, tables) ?? capitalise(modelPart(table)),
    forwardName,
    reverseName(fromTable, toTable, column) {
      // `shop_book_tags` for shop_book: model tables are `<app>_<model>`, with no `_` in a model name.
      if (toTable.startsWith(`${fromTable}_`)) {
        const field = toTable.slice(fromTable.length + 1);
        return { name: field, queryName: field, autoThrough: true };
      }
      // A multi-table-inheritance child's pointer (`place_ptr_id`) is a one-to-one: `place.restaurant`.
      if (column.endsWith('_ptr_id')) return { name: modelPart(toTable), queryName: modelPart(toTable), oneToOne: true };
      return { name: `${modelPart(toTable)}_set`, queryName: modelPart(toTable) };
    },
    m2mName: (fromTable, toTable, through) => {
      if (through.startsWith(`${fromTable}_`)) {
        const field = through.slice(fromTable.length + 1);
        return { name: field, queryName: field };
      }
      // The other end of an auto M2M (`shop_book_tags` seen from shop_tag): Django's reverse names.
      const reverse = { name: `${modelPart(toTable)}_set`, queryName: modelPart(toTable) };
      if (through.startsWith(`${toTable}_`)) return reverse;
      // A through model of its own (`shop_placement`): its name is no field's, and either model may
      // declare the field. The reverse names are one reading; suggest/ names both (fix.ts manualCure).
      return { ...reverse, unsure: true };
    },
    // Only a column that points at a known table is an FK whose field drops `_id` (`external_id` stays).
    fieldOfColumn: (table, column) => (links.foreignKeyTarget(table, column) === undefined ? column : forwardName(table, column)),
    toField: () => undefined,
    attributeNames: () => NO_NAMES,
  };
}

/** Exact names from `manage.py n1lens_schema`; falls back to conventions for tables the schema lacks. */
export function schemaNaming(schema: DjangoSchema, knownTables: Iterable<string> = []): Naming {
  const byTable = modelsByTable(schema);
  const byLabel = new Map<string, SchemaModel>();
  for (const m of schema.models) byLabel.set(m.model, m);
  const fallback = conventionNaming([...knownTables, ...byTable.keys()]);
  const tableOf = (label: string): string | undefined => byLabel.get(label)?.table;
  const relations = (table: string): SchemaRelation[] => byTable.get(table)?.relations ?? [];

  const forwardRelation = (table: string, column: string): SchemaRelation | undefined =>
    relations(table).find((r) => (r.kind === 'many_to_one' || r.kind === 'one_to_one') && r.column === column);

  // The columns foreign keys point at besides primary keys (to_field), by the table that has them.
  let toFieldColumns: Map<string, string[]> | undefined;
  const referenced = (table: string): readonly string[] => {
    if (toFieldColumns === undefined) {
      toFieldColumns = new Map();
      for (const m of schema.models) {
        for (const r of m.relations) {
          const target = r.kind === 'many_to_one' || r.kind === 'one_to_one' ? tableOf(r.target) : undefined;
          if (target === undefined || r.column === undefined || r.toFieldColumn === undefined) continue;
          const columns = toFieldColumns.get(target) ?? [];
          if (!columns.includes(r.toFieldColumn)) toFieldColumns.set(target, [...columns, r.toFieldColumn]);
        }
      }
    }
    return toFieldColumns.get(table) ?? [];
  };

  // M2M join tables are not models (auto through), so their FK columns are read off the M2M relation.
  const throughTarget = (through: string, column: string): string | undefined => {
    for (const m of schema.models) {
      for (const r of m.relations) {
        if (r.kind !== 'many_to_many' || r.through !== through) continue;
        if (r.sourceColumn === column) return m.table;
        if (r.targetColumn === column) return tableOf(r.target);
      }
    }
    return undefined;
  };

  // Django checks an annotation against every field and relation of the model and its parents.
  const taken = new Map<string, ReadonlySet<string>>();
  const attributeNames = (table: string): ReadonlySet<string> => {
    const m = byTable.get(table);
    if (m === undefined) return NO_NAMES;
    let names = taken.get(table);
    if (names === undefined) {
      const lineage = [m, ...(m.parents ?? []).flatMap((p) => byLabel.get(p) ?? [])];
      names = new Set(
        lineage.flatMap((x) => [
          ...(x.fields ?? []).flatMap((f) => [f.name, f.attname]),
          ...(x.properties ?? []),
          ...x.relations.flatMap((r) => [r.name, r.queryName]),
          ...(x.genericForeignKeys ?? []).map((g) => g.name),
        ]),
      );
      taken.set(table, names);
    }
    return names;
  };

  const className = (m: SchemaModel): string => m.model.slice(m.model.lastIndexOf('.') + 1);
  // An auto-created join table is no model of the schema: it is `<Model>.<m2m field>.through`,
  // from the end that declares the field (whose table its name starts with) when the schema says.
  const schemaThrough = (table: string): string | undefined => {
    let found: string | undefined;
    for (const m of schema.models) {
      for (const r of m.relations) {
        if (r.kind !== 'many_to_many' || r.through !== table) continue;
        const through = `${className(m)}.${r.name}.through`;
        if (table === `${m.table}_${r.name}`) return through;
        found ??= through;
      }
    }
    return found;
  };

  // An M2M declared on another model whose reverse the schema leaves out (related_name='+'): seen
  // from `fromTable`, the join table's `column` points at it. Named by the field it goes back through.
  const hiddenM2m = (fromTable: string, through: string, column: string): RelationName | undefined => {
    if (!byTable.has(fromTable)) return undefined;
    for (const m of byTable.values()) {
      const r = m.relations.find((x) => x.kind === 'many_to_many' && x.through === through && x.targetColumn === column && tableOf(x.target) === fromTable);
      if (r !== undefined) return { name: `${className(m)}.${r.name}`, queryName: className(m).toLowerCase(), hidden: true };
    }
    return undefined;
  };

  const genericRelations = (table: string, objectIdColumn: string): string[] => {
    const parents: string[] = [];
    for (const [t, m] of byTable) {
      const generic = m.relations.some((r) => r.contentTypeColumn !== undefined && r.remoteColumn === objectIdColumn && tableOf(r.target) === table);
      if (generic) parents.push(t);
    }
    return parents;
  };

  return {
    exact: true,
    genericRelations,
    foreignKeyTarget(table, column) {
      const r = forwardRelation(table, column);
      if (r !== undefined) return tableOf(r.target);
      if (byTable.has(table)) return undefined;
      return throughTarget(table, column) ?? fallback.foreignKeyTarget(table, column);
    },
    primaryKey: (table) => byTable.get(table)?.pk ?? 'id',
    toFieldColumn: (table, column) => forwardRelation(table, column)?.toFieldColumn,
    toFieldColumns: referenced,
    toField: (table, column) => forwardRelation(table, column)?.toField,
    modelOf(table) {
      const m = byTable.get(table);
      if (m === undefined) return schemaThrough(table) ?? fallback.modelOf(table);
      return className(m);
    },
    forwardName: (table, column) => forwardRelation(table, column)?.name ?? fallback.forwardName(table, column),
    reverseName(fromTable, toTable, column) {
      const r = relations(fromTable).find(
        (x) =>
          (x.kind === 'one_to_many' || x.kind === 'one_to_one') &&
          x.remoteColumn === column &&
          tableOf(x.target) === toTable,
      );
      if (r !== undefined) return { name: r.name, queryName: r.queryName, oneToOne: r.kind === 'one_to_one', ...(r.contentTypeColumn === undefined ? {} : { generic: true }) };
      const m2m = byTable.has(toTable) ? undefined : relations(fromTable).find((x) => x.kind === 'many_to_many' && x.through === toTable && x.sourceColumn === column);
      if (m2m !== undefined) return { name: m2m.name, queryName: m2m.queryName, autoThrough: true };
      // The rows of an M2M's join table whose reverse has no accessor.
      const hidden = byTable.has(toTable) ? undefined : hiddenM2m(fromTable, toTable, column);
      if (hidden !== undefined) return hidden;
      // The schema leaves out a reverse relation with no accessor (related_name='+'): its key is known.
      const fk = forwardRelation(toTable, column);
      const held = byTable.get(toTable);
      if (fk !== undefined && held !== undefined && byTable.has(fromTable) && tableOf(fk.target) === fromTable) {
        return { name: `${className(held)}.${fk.name}`, queryName: className(held).toLowerCase(), hidden: true };
      }
      return fallback.reverseName(fromTable, toTable, column);
    },
    m2mName(fromTable, toTable, through, sourceColumn) {
      const r = relations(fromTable).find(
        (x) => x.kind === 'many_to_many' && x.through === through && x.sourceColumn === sourceColumn,
      );
      if (r !== undefined) return { name: r.name, queryName: r.queryName };
      return hiddenM2m(fromTable, through, sourceColumn) ?? fallback.m2mName(fromTable, toTable, through, sourceColumn);
    },
    fieldOfColumn(table, column) {
      const r = forwardRelation(table, column);
      if (r !== undefined) return r.name;
      return byTable.has(table) ? column : fallback.fieldOfColumn(table, column);
    },
    attributeNames,
  };
}
