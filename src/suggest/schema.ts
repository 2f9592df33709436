/** Reads and validates the Django schema file that `manage.py n1lens_schema` writes (DESIGN "Django schema file"). */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';

/**
 * The schema file's shapes, built when a file is read: zod schemas built at load would cost every
 * n1-report run start-up time, and most runs have no schema file.
 */
function schemaFileShapes() {
  const relation = z.object({
    name: z.string(),
    queryName: z.string(),
    kind: z.enum(['many_to_one', 'one_to_one', 'one_to_many', 'many_to_many']),
    target: z.string(),
    column: z.string().optional(),
    remoteColumn: z.string().optional(),
    through: z.string().optional(),
    sourceColumn: z.string().optional(),
    targetColumn: z.string().optional(),
    /**
     * A foreign key to a unique field other than the primary key (`to_field`): that field's name and
     * column, on the model the key points at (the target of a forward relation, this model for a
     * reverse one). The key's column holds that field's values.
     */
    toField: z.string().optional(),
    toFieldColumn: z.string().optional(),
    /** GenericRelation: the target's content-type column (remoteColumn is its object id). */
    contentTypeColumn: z.string().optional(),
  });

  /** A concrete field: its name and attname (`author`, `author_id`), both taken on each row. */
  const field = z.object({ name: z.string(), attname: z.string() });

  const model = z.object({
    model: z.string(),
    table: z.string(),
    pk: z.string(),
    relations: z.array(relation),
    /** Concrete fields, inherited ones included; files written before it have none. */
    fields: z.array(field).optional(),
    /** Properties the model's classes define: Django cannot set an annotation named like one. */
    properties: z.array(z.string()).optional(),
    /** Multi-table-inheritance parents, nearest first. */
    parents: z.array(z.string()).optional(),
    /** A Wagtail page model (wagtailcore.Page or a subclass). */
    wagtailPage: z.boolean().optional(),
    genericForeignKeys: z.array(z.object({ name: z.string(), contentTypeColumn: z.string(), objectIdColumn: z.string() })).optional(),
    /** A proxy model: the concrete model whose table it shares. */
    proxyFor: z.string().optional(),
    /** The default manager's name, for a model with no manager named `objects`. */
    manager: z.string().optional(),
  });

  /** One URLconf entry: the route as Django's resolver joins it (what traces carry as http.route) and its view. */
  const url = z.object({
    route: z.string(),
    view: z.string(),
    name: z.string().optional(),
    /** HTTP methods where the view says (class-based views, DRF viewsets, require_http_methods). */
    methods: z.array(z.string()).optional(),
    /** Language code → the route in that language, when it reads differently per language (i18n_patterns, translated routes). */
    languages: z.record(z.string(), z.string()).optional(),
    /** The model a class-based view names (its `model`, or its `queryset`'s): a proxy's label when it is one. */
    model: z.string().optional(),
    /** The view's source, relative to the project directory, and its first line. */
    file: z.string().optional(),
    line: z.number().int().optional(),
    /** The URLconf module that declares the route. */
    urlconf: z.string().optional(),
    /** The project's route (its view is the project's code, or its URLconf mounts it): only these are judged dead. */
    project: z.boolean().optional(),
  });

  const file = z.object({
    n1lensSchema: z.literal(1),
    models: z.array(model),
    /** Added for dead_view; files written before it have none. */
    urls: z.array(url).optional(),
  });
  return { relation, field, model, url, file };
}

type Shapes = ReturnType<typeof schemaFileShapes>;
export type SchemaRelation = z.infer<Shapes['relation']>;
export type SchemaField = z.infer<Shapes['field']>;
export type SchemaModel = z.infer<Shapes['model']>;
export type SchemaUrl = z.infer<Shapes['url']>;
export type DjangoSchema = z.infer<Shapes['file']>;

/** A schema file that could not be read or does not match the format. */
export class SchemaError extends Error {
  override name = 'SchemaError';
}

/** Validates parsed JSON as a schema file. */
export function parseSchema(json: unknown, source = 'schema'): DjangoSchema {
  const result = schemaFileShapes().file.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue?.path.length ? issue.path.join('.') : '(top level)';
    throw new SchemaError(`${source}: not an n1lens schema file: ${where}: ${issue?.message ?? 'invalid'}`);
  }
  return result.data;
}

/**
 * The model each table holds: the concrete model, not a proxy sharing its table (a proxy's label may
 * sort before its model's: shop.BargainBook before shop.Book); of two models with no proxyFor on one
 * table, the first.
 */
export function modelsByTable(schema: DjangoSchema): Map<string, SchemaModel> {
  const byTable = new Map<string, SchemaModel>();
  for (const m of schema.models) {
    const held = byTable.get(m.table);
    if (held === undefined || (held.proxyFor !== undefined && m.proxyFor === undefined)) byTable.set(m.table, m);
  }
  return byTable;
}

/** Reads a schema file from disk. */
export async function loadSchema(path: string): Promise<DjangoSchema> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new SchemaError(`${path}: cannot read schema file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SchemaError(`${path}: invalid JSON (${(e as Error).message})`);
  }
  return parseSchema(json, path);
}
