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

/** `(app_label, model_name)` of the fix's model: from the schema's label, else Django's default table name. */
function modelKey(site: FixSite, fix: QuerysetFix): [string, string] {
  const label = site.schema?.models.find((m) => m.table === fix.table)?.model;
  if (label !== undefined && label.includes('.')) {
    const dot = label.lastIndexOf('.');
    return [label.slice(0, dot), label.slice(dot + 1).toLowerCase()];
  }
  return [appPrefix(fix.table), fix.model.toLowerCase()];
}

/**
 * A changelist of the fix's model: sqlcommenter's controller `admin:<app>_<model>_changelist`, or a
 * route `…admin…/<app>/<model>/` (the admin site's prefix, then the model's URL).
 */
function isChangelist(site: FixSite, fix: QuerysetFix): boolean {
  const [app, model] = modelKey(site, fix);
  if (site.view !== undefined && site.view.endsWith(`:${app}_${model}_changelist`)) return true;
  const segments = site.route.replace(/^\^|\$$/g, '').split('/').filter((s) => s !== '');
  const n = segments.length;
  return n >= 3 && segments[n - 2] === app && segments[n - 1] === model && segments.slice(0, n - 2).some((s) => s.includes('admin'));
}

/** `book.reviews_count` -> `obj.reviews_count`: list_display methods receive the row as `obj`. */
const asObj = (fix: QuerysetFix, code: string): string =>
  code.replace(new RegExp(`\\b${fix.rowVariable}\\.`, 'g'), 'obj.');

function adminClass(fix: QuerysetFix): string {
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
    body.push('', v.sortable ? `    @admin.display(ordering=${quote(v.attr)})` : '    @admin.display()');
    body.push(`    def ${v.attr}(self, obj):`, `        return ${asObj(fix, v.read)}`);
    const was = fix.reads.find((r) => r.read === v.read)?.insteadOf;
    listed.push(`# list_display: ${quote(v.attr)}${was === undefined ? '' : ` in place of the column that reads ${was}`}`);
  }
  const shown = new Set(fix.rowValues.map((v) => v.read));
  const otherReads = fix.reads.filter((r) => r.required && !shown.has(r.read));
  return [`class ${fix.model}Admin(admin.ModelAdmin):`, ...body, ...listed, ...readComments(otherReads)].join('\n');
}

const placement = (fix: QuerysetFix): string =>
  `merge into the ModelAdmin registered for ${fix.model} (its changelist builds this queryset)`;

function render(_site: FixSite, fix: QuerysetFix): RenderedFix {
  const empty = fix.selectRelated.length === 0 && fix.prefetch.length === 0 && fix.annotate.length === 0 && fix.extra.length === 0;
  if (empty) return { code: '' };
  return { code: adminClass(fix), placement: placement(fix) };
}

export const admin: FrameworkProfile = {
  name: 'admin',
  matches: isChangelist,
  render,
  renderOne: render,
};
