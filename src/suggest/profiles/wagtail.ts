/**
 * Wagtail's idioms (with django-taggit and contenttypes' generic relations, which Wagtail sites
 * lean on): loops over pages, images and tags that plain select_related / prefetch_related name
 * wrongly or cannot fix. Each returns the finding's whole suggestion, or null when it is not one.
 */
import type { RelationStep } from '../../detect/types.js';
import type { CascadeShape, Suggestion } from '../fix.js';
import { stepNames, type Naming } from '../naming.js';
import type { DjangoSchema } from '../schema.js';
import { addsNothing, chainCalls, readComments } from './django.js';
import type { FixSite, FrameworkProfile, QuerysetFix, RenderedFix } from './types.js';

const PAGE_TABLE = 'wagtailcore_page';

/** Page models: from the schema's `wagtailPage`, else Wagtail's conventions (a `page_ptr_id` pk, the core table). */
function isPageTable(table: string, schema: DjangoSchema | undefined): boolean {
  if (table === PAGE_TABLE) return true;
  const m = schema?.models.find((x) => x.table === table);
  return m === undefined ? false : m.wagtailPage === true;
}

/** `page.specific` per row: a single-row read of a page type's table by its parent pointer. */
function isSpecificPerRow(c: CascadeShape, schema: DjangoSchema | undefined): boolean {
  const f = c.facts;
  if (f === undefined || f.operation !== 'SELECT' || f.limit !== 21) return false;
  // A forward FK from another model's rows to a page (snippet.page) is select_related's, not .specific's.
  if (c.linked && c.trigger !== null && !isPageTable(c.trigger.table, schema)) return false;
  const ptr = `${f.table}.page_ptr_id`;
  return f.equalityFilters.includes(ptr) && (schema === undefined || isPageTable(f.table, schema) || !schema.models.some((m) => m.table === f.table));
}

/** Wagtail's renditions (AbstractRendition's related_name is `renditions`), filtered by filter_spec per row. */
function isRenditionLoop(c: CascadeShape): boolean {
  const f = c.facts;
  return f !== undefined && /rendition/.test(f.table) && f.equalityFilters.some((x) => x.endsWith('.image_id'));
}

const relationName = (step: RelationStep, naming: Naming): string => stepNames(step, naming).name;

/** django-taggit's join: `taggit_tag` through a tagged-item table on `content_object_id`/`object_id`. */
function isTagLoop(c: CascadeShape): boolean {
  const last = c.steps[c.steps.length - 1];
  return last?.kind === 'm2m' && /tag$/.test(last.toTable) && /^(content_object_id|object_id)$/.test(last.sourceColumn);
}

/** `SELECT … content_type_id, … object_id …` rows whose per-row pk lookups hit varying tables: a GenericForeignKey. */
function isGenericForeignKeyLoop(c: CascadeShape): boolean {
  const t = c.trigger?.sql ?? '';
  return !c.linked && c.leaf.kind === 'fetch' && /"?content_type_id"?/.test(t) && /"?object_id"?/.test(t);
}

/** The suggestion in Wagtail's terms, or null when the loop is none of Wagtail's. */
export function wagtailSuggestion(c: CascadeShape, naming: Naming, schema?: DjangoSchema): Suggestion | null {
  if (c.kind !== 'n_plus_one') return null;
  const over = c.trigger === null ? 'the pages you loop over' : naming.modelOf(c.trigger.table);
  const exact = naming.exact;
  if (isSpecificPerRow(c, schema)) {
    return {
      method: 'manual',
      path: 'specific',
      code:
        `# ${over}: page.specific per row: call .specific() on the page queryset instead ` +
        `(e.g. ${over}.objects.live().specific()), with select_related(…, for_specific_subqueries=True) for the ` +
        'specific models\' own foreign keys and .defer_streamfields() when the list does not render bodies',
      confidence: 'inferred',
      note: '.specific() loads each page type in one query per type instead of one query per page',
    };
  }
  if (isRenditionLoop(c) && c.linked && c.steps.length > 0) {
    const names = c.steps.map((s) => relationName(s, naming));
    names[names.length - 1] = 'renditions';
    const path = names.join('__');
    return {
      method: 'prefetch_related',
      path,
      code: `.prefetch_related('${path}')`,
      confidence: exact ? 'exact' : 'inferred',
      note:
        "get_rendition() reads prefetched renditions; on an image queryset, .prefetch_renditions('<filter spec>') " +
        'loads only the renditions the template asks for',
    };
  }
  if (isTagLoop(c) && c.linked) {
    const names = c.steps.map((s) => relationName(s, naming));
    if (!exact) names[names.length - 1] = 'tags';
    const path = names.join('__');
    return {
      method: 'prefetch_related',
      path,
      code: `.prefetch_related('${path}')`,
      confidence: exact ? 'exact' : 'inferred',
      ...(exact ? {} : { note: "guess: django-taggit's manager is usually named tags; --schema names it exactly" }),
    };
  }
  if (isGenericForeignKeyLoop(c)) {
    const table = c.trigger?.table ?? '';
    const gfk = schema?.models.find((m) => m.table === table)?.genericForeignKeys?.[0]?.name;
    const name = gfk ?? 'content_object';
    return {
      method: 'prefetch_related',
      path: name,
      code: `.prefetch_related('${name}')`,
      confidence: gfk === undefined ? 'inferred' : 'exact',
      note:
        gfk === undefined
          ? `guess: a GenericForeignKey on ${over} (usually content_object); --schema names it exactly`
          : 'prefetch_related on a GenericForeignKey loads each content type in one query',
    };
  }
  return null;
}

/** A Wagtail site: its schema file marks page models. */
const isWagtailSite = (schema: DjangoSchema | undefined): boolean => schema?.models.some((m) => m.wagtailPage === true) ?? false;

/**
 * A Wagtail admin listing (a snippet or model viewset) evaluates the viewset's queryset: the fix goes
 * there, not in a view of the project's own. SnippetViewSet.get_queryset(request) replaces the
 * listing's queryset (None keeps Wagtail's); a ModelViewSet's IndexView builds it in get_base_queryset().
 */
function isWagtailListing(site: FixSite): boolean {
  const route = site.route.replace(/^\^/, '');
  if (/(^|\/)snippets\//.test(route)) return true;
  return isWagtailSite(site.schema) && route.startsWith('admin/') && !(site.view ?? '').startsWith('admin:');
}

function listingPlacement(fix: QuerysetFix): string {
  const chain = chainCalls(fix);
  return (
    `on the listing viewset: def get_queryset(self, request): return ${fix.model}.objects.all()${chain} (a SnippetViewSet), ` +
    `or, on a ModelViewSet's IndexView, def get_base_queryset(self): return super().get_base_queryset()${chain}`
  );
}

/** Wagtail's admin listings, as a framework profile (profiles/index.ts tries it before Django's admin). */
export const wagtailAdmin: FrameworkProfile = {
  name: 'wagtail',
  matches: (site) => isWagtailListing(site),
  render: (_site, fix): RenderedFix =>
    addsNothing(fix) ? { code: '' } : { code: [`${fix.model}.objects${chainCalls(fix)}`, ...readComments(fix.reads)].join('\n'), placement: listingPlacement(fix) },
  renderOne: (_site, fix): RenderedFix => ({ code: chainCalls(fix), placement: listingPlacement(fix) }),
};
