/** Reads and validates the Django schema file that `manage.py n1lens_schema` writes (DESIGN "Django schema file"). */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';

const relationSchema = z.object({
  name: z.string(),
  queryName: z.string(),
  kind: z.enum(['many_to_one', 'one_to_one', 'one_to_many', 'many_to_many']),
  target: z.string(),
  column: z.string().optional(),
  remoteColumn: z.string().optional(),
  through: z.string().optional(),
  sourceColumn: z.string().optional(),
  targetColumn: z.string().optional(),
});

const modelSchema = z.object({
  model: z.string(),
  table: z.string(),
  pk: z.string(),
  relations: z.array(relationSchema),
});

/** One URLconf entry: the route as Django's resolver joins it (what traces carry as http.route) and its view. */
const urlSchema = z.object({
  route: z.string(),
  view: z.string(),
  name: z.string().optional(),
  /** HTTP methods where the view says (class-based views, DRF viewsets, require_http_methods). */
  methods: z.array(z.string()).optional(),
  /** The view's source, relative to the project directory, and its first line. */
  file: z.string().optional(),
  line: z.number().int().optional(),
});

const fileSchema = z.object({
  n1lensSchema: z.literal(1),
  models: z.array(modelSchema),
  /** Added for dead_view; files written before it have none. */
  urls: z.array(urlSchema).optional(),
});

export type SchemaRelation = z.infer<typeof relationSchema>;
export type SchemaModel = z.infer<typeof modelSchema>;
export type SchemaUrl = z.infer<typeof urlSchema>;
export type DjangoSchema = z.infer<typeof fileSchema>;

/** A schema file that could not be read or does not match the format. */
export class SchemaError extends Error {
  override name = 'SchemaError';
}

/** Validates parsed JSON as a schema file. */
export function parseSchema(json: unknown, source = 'schema'): DjangoSchema {
  const result = fileSchema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue?.path.length ? issue.path.join('.') : '(top level)';
    throw new SchemaError(`${source}: not an n1lens schema file: ${where}: ${issue?.message ?? 'invalid'}`);
  }
  return result.data;
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
