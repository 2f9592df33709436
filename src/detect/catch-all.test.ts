import { describe, expect, it } from 'vitest';
import { buildReport } from '../report/model.js';
import { createSqlNormalizer } from '../sql/index.js';
import { firstPathSegment, isCatchAllRoute, readSplit, servedPageTable } from './catch-all.js';
import { analyseRequest } from './request.js';
import { RollupSet } from './rollup.js';
import { requestOf } from './testing.js';

const normalize = createSqlNormalizer();
const WAGTAIL = 'GET ^((?:[\\w\\-]+/)*)$';
const pageBySlug = (slug: string): string =>
  `SELECT "wagtailcore_page"."id", "wagtailcore_page"."path", "wagtailcore_page"."content_type_id" FROM "wagtailcore_page" WHERE ("wagtailcore_page"."depth" = 3 AND "wagtailcore_page"."path" LIKE '00010001%' AND "wagtailcore_page"."slug" = '${slug}') LIMIT 21`;
const PAGE_BY_ID = 'SELECT "wagtailcore_page"."id", "wagtailcore_page"."path" FROM "wagtailcore_page" WHERE "wagtailcore_page"."id" = 3 LIMIT 21';
const specific = (table: string, id = 5): string =>
  `SELECT "wagtailcore_page"."id", "${table}"."page_ptr_id" FROM "${table}" INNER JOIN "wagtailcore_page" ON ("${table}"."page_ptr_id" = "wagtailcore_page"."id") WHERE "${table}"."page_ptr_id" = ${id} LIMIT 21`;
const SITE = 'SELECT "wagtailcore_site"."id", "wagtailcore_site"."root_page_id" FROM "wagtailcore_site" WHERE "wagtailcore_site"."is_default_site" LIMIT 21';

describe('catch-all routes', () => {
  it("recognises Wagtail's page route and other match-anything routes, not ordinary ones", () => {
    for (const r of ['^((?:[\\w\\-]+/)*)$', '<path:url>', '<path:path>/', '^(?P<path>.*)$', '.*']) expect(isCatchAllRoute(r), r).toBe(true);
    for (const r of ['books/<int:pk>/', 'dashboard/', '^blog/(?P<slug>[-\\w]+)/$', '']) expect(isCatchAllRoute(r), r).toBe(false);
  });

  it("recognises django.contrib.flatpages' catch-all as its docs write it, any path ending in a slash", () => {
    // re_path(r"^(?P<url>.*/)$", views.flatpage): the last pattern of a URLconf, so a scanner's /wp-admin/ reaches it.
    for (const r of ['^(?P<url>.*/)$', '(?P<url>.*/)$', '^(.*/)$', '^(?P<path>.+)/$']) expect(isCatchAllRoute(r), r).toBe(true);
    for (const r of ['^(?P<url>.*/)edit/$', '^pages(?P<url>.*/)$x']) expect(isCatchAllRoute(r), r).toBe(false);
  });

  it("recognises Wagtail's page route served under a prefix, as Django joins it", () => {
    // path('pages/', include(wagtail_urls)) (Wagtail's docs), re_path(r'^cms/', …), i18n_patterns:
    // ResolverMatch.route is the prefix, then Wagtail's pattern without its ^.
    for (const r of ['pages/((?:[\\w\\-]+/)*)$', '^cms/((?:[\\w\\-]+/)*)$', 'en/((?:[\\w\\-]+/)*)$']) expect(isCatchAllRoute(r), r).toBe(true);
    expect(isCatchAllRoute('(?P<x>\\d+)/((?:[\\w\\-]+/)*)$')).toBe(false);
  });

  it("reads the page served from routing's lookups: the last step of the first routing chain", () => {
    const chain = [SITE, PAGE_BY_ID, specific('home_homepage', 3), pageBySlug('blog'), specific('blog_blogindexpage', 4), pageBySlug('post'), specific('blog_blogpage')];
    // A template's per-row get_parent().specific after rendering started is not routing.
    const render = ['SELECT "blog_blogpage"."page_ptr_id" FROM "blog_blogpage" ORDER BY "blog_blogpage"."date" DESC', 'SELECT "x_y"."id" FROM "x_y"', 'SELECT "x_z"."id" FROM "x_z"', 'SELECT "x_w"."id" FROM "x_w"', 'SELECT "x_v"."id" FROM "x_v"', PAGE_BY_ID, specific('people_personpage')];
    expect(servedPageTable([...chain, ...render].map((s) => normalize(s)))).toBe('blog_blogpage');
    expect(servedPageTable([SITE, PAGE_BY_ID, specific('home_homepage', 3)].map((s) => normalize(s)))).toBe('home_homepage');
    expect(servedPageTable([SITE].map((s) => normalize(s)))).toBeUndefined();
    // A cold process fills the ContentType cache between the lookup and .specific.
    const CT = 'SELECT "django_content_type"."id", "django_content_type"."model" FROM "django_content_type" WHERE "django_content_type"."id" = 3 LIMIT 21';
    expect(servedPageTable([SITE, CT, pageBySlug('blog'), CT, specific('blog_blogindexpage', 4)].map((s) => normalize(s)))).toBe('blog_blogindexpage');
    expect(firstPathSegment('/blog/2024/post/?page=2')).toBe('/blog/');
    expect(firstPathSegment('/')).toBe('/');
  });

  it('splits the endpoint by page model, else by first path segment, and the report says how', () => {
    const set = new RollupSet();
    const blog = requestOf(WAGTAIL, [SITE, PAGE_BY_ID, specific('home_homepage', 3), pageBySlug('post'), specific('blog_blogpage')]);
    const people = requestOf(WAGTAIL, [SITE, PAGE_BY_ID, specific('home_homepage', 3), pageBySlug('ann'), specific('people_personpage')]);
    const unknown = { ...requestOf(WAGTAIL, [SITE]), path: '/search/?q=x' };
    const other = { ...requestOf('GET books/<int:pk>/', [SITE]), path: '/books/1/' };
    for (const r of [blog, people, unknown, other]) set.add(analyseRequest(r, normalize));
    const endpoints = buildReport(set.values()).endpoints;
    const byName = new Map(endpoints.map((e) => [e.endpoint, e]));
    expect([...byName.keys()].sort()).toEqual(
      [`${WAGTAIL} [page: blog_blogpage]`, `${WAGTAIL} [page: people_personpage]`, `${WAGTAIL} [path: /search/]`, 'GET books/<int:pk>/'].sort(),
    );
    expect(byName.get(`${WAGTAIL} [page: blog_blogpage]`)?.split).toEqual({ route: WAGTAIL, by: 'page_model', value: 'blog_blogpage' });
    expect(byName.get(`${WAGTAIL} [path: /search/]`)?.split).toEqual({ route: WAGTAIL, by: 'first_path_segment', value: '/search/' });
    expect(byName.get('GET books/<int:pk>/')).not.toHaveProperty('split');
    expect(readSplit('GET dashboard/')).toBeNull();
  });
});
