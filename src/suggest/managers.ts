/** Names each model's manager in printed code: `Model.objects`, or the default manager of a model that has no `objects`. */
import type { DjangoSchema } from './schema.js';

/**
 * The rewrite of printed code for the models the schema says have no manager named `objects`
 * (`listed = models.Manager()` declared instead): `Catalogue.objects` becomes `Catalogue.listed`,
 * since `Catalogue.objects` raises AttributeError. suggest/ writes every queryset as
 * `Model.objects…`; this is applied to the finished text. A class name two models share is the
 * model among them whose table the endpoint reads (`tables`, when one does), else left as it is
 * unless both lack `objects` under the same default manager. The identity when none does.
 *
 * Example: `managerRewrite(schema)("Catalogue.objects.select_related('publisher')")`
 * -> `"Catalogue.listed.select_related('publisher')"`.
 */
export function managerRewrite(schema: DjangoSchema | undefined, tables?: Iterable<string>): (text: string) => string {
  if (schema === undefined) return same;
  if (tables !== undefined) return makeRewrite(schema, new Set(tables));
  let rewrite = made.get(schema);
  if (rewrite === undefined) {
    rewrite = makeRewrite(schema);
    made.set(schema, rewrite);
  }
  return rewrite;
}

const same = (text: string): string => text;

/** One rewrite per schema: a report calls managerRewrite once per endpoint. */
const made = new WeakMap<DjangoSchema, (text: string) => string>();

function makeRewrite(schema: DjangoSchema, tables?: ReadonlySet<string>): (text: string) => string {
  const className = (m: DjangoSchema['models'][number]): string => m.model.slice(m.model.lastIndexOf('.') + 1);
  // Of the models a class name two apps share, the ones whose tables the endpoint reads, if any does.
  const read = new Set(schema.models.filter((m) => tables?.has(m.table) === true).map(className));
  const byClass = new Map<string, string | null>();
  for (const m of schema.models) {
    const cls = className(m);
    if (read.has(cls) && tables?.has(m.table) !== true) continue;
    const manager = m.manager ?? null;
    byClass.set(cls, byClass.has(cls) && byClass.get(cls) !== manager ? null : manager);
  }
  const renamed = [...byClass].filter((e): e is [string, string] => e[1] !== null);
  if (renamed.length === 0) return same;
  const managers = new Map(renamed);
  // `Catalogue.objects` as a whole name: not `Book.tags.through.objects`, nor `XCatalogue.objects`.
  const pattern = new RegExp(`(?<![\\w.])(${renamed.map(([cls]) => cls).join('|')})\\.objects\\b`, 'g');
  return (text) => text.replace(pattern, (_, cls: string) => `${cls}.${managers.get(cls)!}`);
}
