/**
 * django.contrib.admin: on a changelist, the rows come from the ModelAdmin, so the fix is its
 * `list_select_related` (every path, the ones the changelist already joins included: an explicit
 * select_related switches its automatic one off) and, for per-row aggregates and to_attr lists, a
 * `get_queryset` override plus the `list_display` method that reads the value.
 */
import { appPrefix } from '../../detect/links.js';
import { chainCalls, coveringPaths, readComments } from './django.js';
import type { FixSite, FrameworkProfile, QuerysetFix, RenderedFix } from './types.js';

const quote = (s: string): string => `'${s}'`;

/**
 * `(app_label, model_name)` of each model whose rows the fix's table holds: from the schema's labels
 * (a proxy with a changelist of its own shares its model's table), else Django's default table name.
 */
function modelKeys(site: FixSite, fix: QuerysetFix): [string, string][] {
  const keys: [string, string][] = [];
  for (const m of site.schema?.models ?? []) {
    const dot = m.model.lastIndexOf('.');
    if (m.table === fix.table && dot > 0) keys.push([m.model.slice(0, dot), m.model.slice(dot + 1).toLowerCase()]);
  }
  return keys.length > 0 ? keys : [[appPrefix(fix.table), fix.model.toLowerCase()]];
}

/**
 * A changelist of the fix's model: sqlcommenter's controller `admin:<app>_<model>_changelist`, or a
 * route ending `<app>/<model>/` under the admin site's prefix (a segment with `admin` in it, or any
 * prefix when the location's view is a ModelAdmin's `changelist_view`).
 */
function isChangelist(site: FixSite, fix: QuerysetFix): boolean {
  return modelKeys(site, fix).some(([app, model]) => isChangelistOf(site, app, model));
}

function isChangelistOf(site: FixSite, app: string, model: string): boolean {
  const view = site.view ?? '';
  if (view.endsWith(`:${app}_${model}_changelist`)) return true;
  const segments = site.route.replace(/^\^|\$$/g, '').split('/').filter((s) => s !== '');
  const n = segments.length;
  if (n < 2 || segments[n - 2] !== app || segments[n - 1] !== model) return false;
  return view.endsWith('.changelist_view') || segments.slice(0, n - 2).some((s) => s.includes('admin'));
}

/** `Owner.member` from a location's function (`library.admin.BookAdmin.review_count`), when the owner is a class. */
function member(source: string | undefined, model: string): { owner: string; name: string } | undefined {
  const m = /(?:^|\.)([A-Z]\w*)\.(\w+)$/.exec(source ?? '');
  return m === null || m[1] === model ? undefined : { owner: m[1]!, name: m[2]! };
}

/** The app's own ModelAdmin class when a location names it, else the model's name + `Admin`. */
function adminClassName(site: FixSite, fix: QuerysetFix): string {
  for (const source of [site.function, ...fix.rowValues.map((v) => v.source)]) {
    const owner = member(source, fix.model)?.owner;
    if (owner !== undefined) return owner;
  }
  return `${fix.model}Admin`;
}

/** `book.reviews_count` -> `obj.reviews_count`: list_display methods receive the row as `obj`. */
const asObj = (fix: QuerysetFix, code: string): string =>
  code.replace(new RegExp(`\\b${fix.rowVariable}\\.`, 'g'), 'obj.');

function adminClass(site: FixSite, fix: QuerysetFix): string {
  const className = adminClassName(site, fix);
  const body: string[] = [];
  const select = coveringPaths(fix.selectRelated);
  if (select.length > 0) body.push(`    list_select_related = (${select.map(quote).join(', ')}${select.length === 1 ? ',' : ''})`);
  const extra = chainCalls(fix, { selectRelated: false });
  if (extra !== '') {
    if (body.length > 0) body.push('');
    body.push('    def get_queryset(self, request):', `        return super().get_queryset(request)${extra}`);
  }
  const listed: string[] = [];
  for (const v of fix.rowValues) {
    // The list_display method that reads the value today keeps its name; else a new column.
    const entry = member(v.source, fix.model);
    const name = entry !== undefined && entry.owner === className ? entry.name : v.attr;
    body.push('', v.sortable ? `    @admin.display(ordering=${quote(v.attr)})` : '    @admin.display()');
    body.push(`    def ${name}(self, obj):`, `        return ${asObj(fix, v.read)}`);
    if (name !== v.attr) continue;
    const was = fix.reads.find((r) => r.read === v.read)?.insteadOf;
    listed.push(`# list_display: ${quote(v.attr)}${was === undefined ? '' : ` in place of the column that reads ${was}`}`);
  }
  const shown = new Set(fix.rowValues.map((v) => v.read));
  const otherReads = fix.reads.filter((r) => r.required && !shown.has(r.read));
  return [`class ${className}(admin.ModelAdmin):`, ...body, ...listed, ...readComments(otherReads)].join('\n');
}

const placement = (fix: QuerysetFix): string =>
  `merge into the ModelAdmin registered for ${fix.model} (its changelist builds this queryset)`;

function render(site: FixSite, fix: QuerysetFix): RenderedFix {
  const empty = fix.selectRelated.length === 0 && fix.prefetch.length === 0 && fix.annotate.length === 0 && fix.extra.length === 0;
  if (empty) return { code: '' };
  return { code: adminClass(site, fix), placement: placement(fix) };
}

export const admin: FrameworkProfile = {
  name: 'admin',
  matches: isChangelist,
  render,
  renderOne: render,
};
