/** How detection learns which table a foreign-key column points at: Django's conventions, or an app's schema. */

/** Answers the relational questions that link a repeated query to the query whose rows it loops over. */
export interface TableLinks {
  /** The table a `table.column` foreign key points at, or undefined when it is not a known FK. */
  foreignKeyTarget(table: string, column: string): string | undefined;
  /** The primary-key column of a table. */
  primaryKey(table: string): string;
  /**
   * A foreign key to a unique column other than the target's primary key (Django's `to_field`): the
   * target's column that `table.column` holds values of; undefined for a key to the primary key (the
   * only kind Django's conventions know).
   */
  toFieldColumn?(table: string, column: string): string | undefined;
  /** The columns of `table` besides its primary key that foreign keys point at (`to_field`): a row read by one is read by its key. */
  toFieldColumns?(table: string): readonly string[];
  /**
   * The tables whose model has a GenericRelation to `table`'s rows by `objectIdColumn` (with a
   * content-type column beside it): `shop_article` for `shop_comment.object_id`. Absent when only a
   * schema can tell (Django's conventions name no generic relation).
   */
  genericRelations?(table: string, objectIdColumn: string): string[];
}

/**
 * Django's defaults: a `<field>_id` column points at a table named `<app>_<field>` (or `<field>`), and
 * the pk is `id`. `knownTables` are the tables seen in the request, so the guess only names real ones.
 */
export function conventionLinks(knownTables: Iterable<string>): TableLinks {
  // Distinct, in first-seen order; a request names a handful of tables, so a scan beats a Set.
  const tables: string[] = [];
  for (const t of knownTables) if (!tables.includes(t)) tables.push(t);
  return {
    foreignKeyTarget(table, column) {
      if (!column.endsWith('_id') || column === 'id') return undefined;
      const field = column.slice(0, -3);
      // django-taggit's custom through model (`blog_blogpagetag`) points back with content_object.
      if (field === 'content_object' && table.endsWith('tag') && tables.includes(table.slice(0, -3))) return table.slice(0, -3);
      // The first table named `<field>` or `<app>_<field>`, preferring the referring table's app.
      const suffix = `_${field}`;
      const sameApp = `${appPrefix(table)}${suffix}`;
      let first: string | undefined;
      for (const t of tables) {
        if (t === sameApp) return t;
        if (first === undefined && (t === field || t.endsWith(suffix))) first = t;
      }
      return first;
    },
    primaryKey: () => 'id',
  };
}

/** `recruit_application` -> `recruit`: Django's default db_table is `<app_label>_<model>`. */
export function appPrefix(table: string): string {
  const cut = table.indexOf('_');
  return cut <= 0 ? '' : table.slice(0, cut);
}
