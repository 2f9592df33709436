/** Django core: the fixed queryset as a chain on the model's manager, the idiom for views, templates and tasks. */
import type { FrameworkProfile, QuerysetFix, ReadInstead, RenderedFix } from './types.js';

const quote = (s: string): string => `'${s}'`;

/** Paths another path extends are already loaded: select_related('job__company') loads job too. */
export function coveringPaths(paths: readonly string[]): string[] {
  return paths.filter((p, i, all) => all.indexOf(p) === i && !all.some((q) => q.startsWith(`${p}__`)));
}

const unique = (items: readonly string[]): string[] => items.filter((x, i, all) => all.indexOf(x) === i);

/** `.select_related(…).prefetch_related(…).annotate(…)`, the order a Django developer writes them; '' when empty. */
export function chainCalls(fix: QuerysetFix, options: { selectRelated?: boolean } = {}): string {
  const select = options.selectRelated === false ? [] : coveringPaths(fix.selectRelated);
  const prefetch = unique(fix.prefetch);
  const annotate = unique(fix.annotate);
  let out = '';
  if (select.length > 0) out += `.select_related(${select.map(quote).join(', ')})`;
  if (prefetch.length > 0) out += `.prefetch_related(${prefetch.join(', ')})`;
  if (annotate.length > 0) out += `.annotate(${annotate.join(', ')})`;
  return out + fix.extra.join('');
}

/** `# then read a, not b` lines for the reads the fix needs (annotations, to_attr lists). */
export function readComments(reads: readonly ReadInstead[]): string[] {
  return reads.filter((r) => r.required).map((r) => `# then read ${r.read}, not ${r.insteadOf}`);
}

/** True when the fix only adds what the trigger already joins: nothing new to paste. */
export function addsNothing(fix: QuerysetFix): boolean {
  return (
    fix.selectRelated.every((p) => fix.joined.includes(p)) &&
    fix.prefetch.length === 0 &&
    fix.annotate.length === 0 &&
    fix.extra.length === 0
  );
}

export const django: FrameworkProfile = {
  name: 'django',
  matches: () => true,
  render(_site, fix): RenderedFix {
    if (addsNothing(fix)) return { code: '' };
    return { code: [`${fix.model}.objects${chainCalls(fix)}`, ...readComments(fix.reads)].join('\n') };
  },
  // One loop's fix is the call it adds to the view's queryset. A select_related() with no arguments
  // (what the trigger's joins may come from) is replaced, not extended, by one with paths, so the
  // trigger's joins are named again (fix.ts includes them when the loop adds a path).
  renderOne: (_site, fix): RenderedFix => ({ code: chainCalls(fix) }),
};
