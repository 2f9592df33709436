/**
 * Reads a printed fix back and checks every name in it against the schema file: select_related only
 * through forward FKs and one-to-ones, prefetch_related through any relation (reverse, M2M with
 * its custom through, GenericRelation, taggit managers, a GenericForeignKey), lookups by query
 * name. A fix that names what its model does not have would raise when pasted; it is never printed.
 */
import { modelsByTable, type DjangoSchema, type SchemaModel, type SchemaRelation } from './schema.js';

/** One name a fix uses that its model does not have. */
export interface UnknownName {
  model: string;
  name: string;
  call: string;
}

/** Relations by model, parents' included (a multi-table child can use them). */
export class SchemaIndex {
  readonly #byLabel = new Map<string, SchemaModel>();
  readonly #byClass = new Map<string, SchemaModel[]>();
  readonly #byTable: Map<string, SchemaModel>;

  constructor(schema: DjangoSchema) {
    for (const m of schema.models) {
      this.#byLabel.set(m.model, m);
      const cls = m.model.slice(m.model.lastIndexOf('.') + 1);
      this.#byClass.set(cls, [...(this.#byClass.get(cls) ?? []), m]);
    }
    this.#byTable = modelsByTable(schema);
  }

  byClass(name: string): SchemaModel[] {
    return this.#byClass.get(name) ?? [];
  }

  byLabel(label: string): SchemaModel | undefined {
    return this.#byLabel.get(label);
  }

  byTable(table: string): SchemaModel | undefined {
    return this.#byTable.get(table);
  }

  /** The model itself and its multi-table parents. */
  lineage(m: SchemaModel): SchemaModel[] {
    const out = [m];
    for (const p of m.parents ?? []) {
      const parent = this.#byLabel.get(p);
      if (parent !== undefined) out.push(parent);
    }
    return out;
  }

  /** True when `table`'s model is `of`'s model or one of its multi-table parents. */
  isSameOrParent(table: string, of: string): boolean {
    if (table === of) return true;
    const m = this.#byTable.get(of);
    return m !== undefined && this.lineage(m).some((x) => x.table === table);
  }

  relation(m: SchemaModel, name: string, by: 'name' | 'queryName'): SchemaRelation | undefined {
    for (const x of this.lineage(m)) {
      const r = x.relations.find((rel) => rel[by] === name);
      if (r !== undefined) return r;
    }
    return undefined;
  }

  hasGenericForeignKey(m: SchemaModel, name: string): boolean {
    return this.lineage(m).some((x) => (x.genericForeignKeys ?? []).some((g) => g.name === name));
  }
}

type PathKind = 'select' | 'prefetch' | 'lookup';

/**
 * Names along `a__b__c` from model `m`: the first unknown hop, else the model the path ends at
 * (undefined past a GenericForeignKey or out of the schema, where nothing is checked).
 */
function walkPath(index: SchemaIndex, m: SchemaModel, path: string, kind: PathKind): { unknown: UnknownName } | { target: SchemaModel | undefined } {
  let model: SchemaModel | undefined = m;
  const hops = path.split('__');
  for (let i = 0; i < hops.length; i++) {
    const hop = hops[i]!;
    if (model === undefined) return { target: undefined };
    if (kind === 'prefetch' && index.hasGenericForeignKey(model, hop)) {
      model = undefined;
      continue;
    }
    const r = index.relation(model, hop, kind === 'lookup' ? 'queryName' : 'name');
    if (r === undefined) {
      // A lookup may end on a plain field (Avg('lines__qty'), OuterRef('code') for a key to_field):
      // past a relation, or one the schema lists for the model (files before fields list none).
      if (kind === 'lookup' && i === hops.length - 1 && (i > 0 || (model.fields ?? []).some((f) => f.name === hop))) return { target: undefined };
      return { unknown: { model: model.model, name: hop, call: kind === 'select' ? 'select_related' : kind === 'prefetch' ? 'prefetch_related' : 'lookup' } };
    }
    const forward = r.column !== undefined;
    if (kind === 'select' && !(forward || r.kind === 'one_to_one')) {
      return { unknown: { model: model.model, name: hop, call: 'select_related' } };
    }
    model = index.byLabel(r.target);
  }
  return { target: model };
}

/** The first unknown hop of `a__b__c` from model `m`, or null. */
function checkPath(index: SchemaIndex, m: SchemaModel, path: string, kind: PathKind): UnknownName | null {
  const walked = walkPath(index, m, path, kind);
  return 'unknown' in walked ? walked.unknown : null;
}

/** `Book.tags.through` as a queryset's owner: the model and its M2M field. */
const THROUGH = /^(\w+)\.(\w+)\.through$/;

/** An M2M's auto-created join table has no model in the schema: the field it belongs to must exist. */
function checkThrough(owner: string, index: SchemaIndex, found: UnknownName[]): void {
  const m = THROUGH.exec(owner);
  if (m === null) return;
  const models = index.byClass(m[1]!);
  const hasM2m = (x: SchemaModel): boolean => index.relation(x, m[2]!, 'name')?.kind === 'many_to_many';
  if (models.length > 0 && !models.some(hasM2m)) found.push({ model: models[0]!.model, name: m[2]!, call: 'through' });
}

/** Splits `a, b(c, d), 'e,f'` at top-level commas. */
function splitArgs(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quote = '';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (quote !== '') {
      if (ch === quote) quote = '';
    } else if (ch === "'" || ch === '"') quote = ch;
    else if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === ',' && depth === 0) {
      out.push(s.slice(start, i).trim());
      start = i + 1;
    }
  }
  const last = s.slice(start).trim();
  if (last !== '') out.push(last);
  return out;
}

/** `.name(args)` calls of a chain, in order. */
function calls(chain: string): { method: string; args: string }[] {
  const out: { method: string; args: string }[] = [];
  let i = 0;
  while (i < chain.length) {
    const m = /^\.(\w+)\(/.exec(chain.slice(i));
    if (m === null) break;
    let depth = 1;
    let j = i + m[0].length;
    let quote = '';
    for (; j < chain.length && depth > 0; j++) {
      const ch = chain[j]!;
      if (quote !== '') {
        if (ch === quote) quote = '';
      } else if (ch === "'" || ch === '"') quote = ch;
      else if (ch === '(') depth++;
      else if (ch === ')') depth--;
    }
    out.push({ method: m[1]!, args: chain.slice(i + m[0].length, j - 1) });
    i = j;
  }
  return out;
}

const literal = (arg: string): string | null => /^'([^']*)'$/.exec(arg.trim())?.[1] ?? null;

/**
 * The manager a printed queryset starts from: `objects`, or the default manager the schema names for
 * a model that has none called so (`Catalogue.listed`). The schema names no other manager.
 */
const managerOf = (m: SchemaModel): string => m.manager ?? 'objects';

/**
 * The models `Class.` may be: the one the fix is for (`model`) when it has that class name, as a
 * class name two apps share names that one in its own fix; else every model of that name.
 */
function modelsNamed(index: SchemaIndex, cls: string, model: SchemaModel | undefined): SchemaModel[] {
  if (model !== undefined && model.model.slice(model.model.lastIndexOf('.') + 1) === cls) return [model];
  return index.byClass(cls);
}

/**
 * The names in `code` (one printed fix: `Model.objects.…` lines, or a bare `.select_related(…)`
 * chain on `model`) that do not exist on the model they are called on, its manager included.
 * Comments are skipped.
 */
export function unknownNames(code: string, index: SchemaIndex, model?: SchemaModel): UnknownName[] {
  const problems: UnknownName[] = [];
  for (const raw of code.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const through = /^(\w+\.\w+\.through)\.objects/.exec(line);
    const head = /^(\w+)\.(\w+)(?=\.|$)/.exec(line);
    if (through !== null) {
      checkThrough(through[1]!, index, problems); // its own fields are Django's, named after the two models
    } else if (head !== null) {
      const candidates = modelsNamed(index, head[1]!, model);
      if (candidates.length === 0) continue; // not a model of this schema (a write helper, a comment)
      checkChain(line.slice(head[0].length), candidates, index, problems, head[2]!);
    } else if (line.startsWith('.') && model !== undefined) {
      checkChain(line, [model], index, problems);
    }
  }
  return problems;
}

/** `chain` on `manager` of one of `candidates` (a class name two apps share: fine if it fits either). */
function checkChain(chain: string, candidates: SchemaModel[], index: SchemaIndex, problems: UnknownName[], manager?: string): void {
  let best: UnknownName[] | undefined;
  for (const m of candidates) {
    const found: UnknownName[] = [];
    if (manager !== undefined && manager !== managerOf(m)) found.push({ model: m.model, name: manager, call: 'manager' });
    for (const { method, args } of calls(chain)) checkCall(method, args, m, index, found);
    if (best === undefined || found.length < best.length) best = found;
  }
  problems.push(...(best ?? []));
}

function checkCall(method: string, args: string, m: SchemaModel, index: SchemaIndex, found: UnknownName[]): void {
  const push = (p: UnknownName | null): void => void (p !== null && found.push(p));
  for (const arg of splitArgs(args)) {
    if (method === 'select_related') {
      const path = literal(arg);
      if (path !== null) push(checkPath(index, m, path, 'select'));
    } else if (method === 'prefetch_related') {
      const path = literal(arg);
      if (path !== null) {
        push(checkPath(index, m, path, 'prefetch'));
        continue;
      }
      const pf = /^Prefetch\('([^']*)'(?:,\s*queryset=(\w+(?:\.\w+\.through)?)\.(\w+)(.*?))?(?:,\s*to_attr='[^']*')?\)$/s.exec(arg);
      if (pf === null) continue;
      const walked = walkPath(index, m, pf[1]!, 'prefetch');
      if ('unknown' in walked) found.push(walked.unknown);
      if (pf[2] === undefined) continue;
      const inner = index.byClass(pf[2]);
      // The queryset is of the related model (or a model sharing its table or inheriting it):
      // any other model's rows, an M2M's join rows included, are not what the relation holds.
      const target = 'target' in walked ? walked.target : undefined;
      if (target !== undefined && (inner.length > 0 || THROUGH.test(pf[2])) && !inner.some((x) => index.isSameOrParent(target.table, x.table))) {
        found.push({ model: m.model, name: pf[1]!, call: `Prefetch(queryset=${pf[2]})` });
      } else if (inner.length > 0) {
        // Of the relation's model when the schema tells it: a class name two apps share is that one.
        const fitting = inner.filter((x) => target === undefined || index.isSameOrParent(target.table, x.table));
        checkChain(pf[4] ?? '', fitting, index, found, THROUGH.test(pf[2]) ? undefined : pf[3]);
      }
    } else if (method === 'annotate') {
      const agg = /^\w+=(?:Count|Sum|Avg|Min|Max)\('([^']*)'(?:, distinct=True)?\)$/.exec(arg);
      if (agg !== null) push(checkPath(index, m, agg[1]!, 'lookup'));
      // A subquery over related rows: Exists(Review.objects.filter(book=OuterRef('book'))), over an
      // auto-created M2M join table, Exists(Book.tags.through.objects.filter(book=OuterRef('pk'))), or
      // a sum of them, Subquery(….order_by().values('book').annotate(total=Sum('stars')).values('total')).
      // A GenericRelation's rows are the outer model's own, through it:
      // Exists(Article.objects.filter(pk=OuterRef('pk'), comments__isnull=False)).
      const sub =
        /^\w+=(?:Exists|Subquery)\((\w+)(?:\.(\w+)\.through)?\.(\w+)\.filter\((\w+)=OuterRef\('([^']*)'\)((?:, \w+=\w+)*)\)(?:\.order_by\(\)\.values\('\w+'\)\.annotate\(\w+=\w+\('\w+'\)\)\.values\('\w+'\))?\)$/.exec(arg);
      if (sub !== null) {
        const [owner, m2m, manager, name, outer, more] = [sub[1]!, sub[2], sub[3]!, sub[4]!, sub[5]!, sub[6]!];
        if (outer !== 'pk') push(checkPath(index, m, outer, 'lookup'));
        const models = index.byClass(owner);
        if (models.length === 0) continue;
        if (m2m !== undefined) {
          // The join table is no model of the schema: its FK names follow Django's rule; the M2M must exist.
          if (models.every((x) => index.relation(x, m2m, 'name')?.kind !== 'many_to_many')) found.push({ model: models[0]!.model, name: m2m, call: 'through' });
          continue;
        }
        // Each lookup's first part on the inner model (`comments` of `comments__isnull`), and its manager.
        const lookups = [name, ...more.split(', ').filter((x) => x !== '').map((x) => x.slice(0, x.indexOf('=')))];
        const problems = models.map((x) => {
          const own: UnknownName[] = manager === managerOf(x) ? [] : [{ model: x.model, name: manager, call: 'manager' }];
          for (const first of lookups.map((l) => l.split('__')[0]!)) {
            if (first !== 'pk' && index.relation(x, first, 'queryName') === undefined && !(x.fields ?? []).some((f) => f.name === first)) {
              own.push({ model: x.model, name: first, call: 'filter' });
            }
          }
          return own;
        });
        found.push(...problems.reduce((a, b) => (b.length < a.length ? b : a)));
      }
    }
  }
}
