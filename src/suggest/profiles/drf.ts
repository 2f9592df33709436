/**
 * Django REST framework: a generic view or viewset evaluates `self.queryset` (or `get_queryset()`)
 * and the serializer loops over it, so the fix says to put the queryset there, and per-row values
 * become read-only serializer fields.
 */
import { chainCalls, readComments } from './django.js';
import type { FixSite, FrameworkProfile, QuerysetFix, RenderedFix } from './types.js';

/** What marks a DRF view: a viewset or API view class, a router's `<basename>-list` name, or a serializer on the stack. */
function isDrf(site: FixSite): boolean {
  const view = site.view ?? '';
  return (
    /(ViewSet|APIView)$/.test(view) ||
    /(ListAPIView|RetrieveAPIView|CreateAPIView|ListCreateAPIView)\b/.test(view) ||
    /^[\w.:-]*-(list|detail)$/.test(view) ||
    /Serializer\b/.test(site.function ?? '')
  );
}

/** `BookViewSet` from `library.views.BookViewSet`; the router name otherwise. */
function viewName(site: FixSite): string {
  const view = site.view ?? '';
  const last = view.slice(view.lastIndexOf('.') + 1);
  return /^[A-Z]/.test(last) ? last : `the view routed as ${view}`;
}

const placement = (site: FixSite): string =>
  `on ${viewName(site)}: as its queryset attribute, or return it from get_queryset() (keep any filtering there)`;

/** A per-row annotation reaches the client as a read-only field in place of the method field that counted. */
function serializerLines(fix: QuerysetFix): string[] {
  return fix.rowValues
    .filter((v) => v.sortable)
    .map((v) => {
      const was = fix.reads.find((r) => r.read === v.read)?.insteadOf;
      return `# serializer: ${v.attr} = serializers.ReadOnlyField()${was === undefined ? '' : ` in place of a field that calls ${was}`}`;
    });
}

export const drf: FrameworkProfile = {
  name: 'drf',
  matches: (site) => isDrf(site),
  render(site, fix): RenderedFix {
    const calls = chainCalls(fix);
    if (calls === '') return { code: '' };
    const annotated = new Set(fix.rowValues.filter((v) => v.sortable).map((v) => v.read));
    return {
      code: [
        `queryset = ${fix.model}.objects${calls}`,
        ...serializerLines(fix),
        ...readComments(fix.reads.filter((r) => !annotated.has(r.read))),
      ].join('\n'),
      placement: placement(site),
    };
  },
  renderOne: (site, fix) => ({ code: chainCalls(fix), placement: placement(site) }),
};
