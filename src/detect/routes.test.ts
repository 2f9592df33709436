import { describe, expect, it } from 'vitest';
import { suggestDeadView } from '../suggest/operational.js';
import { createSqlNormalizer } from '../sql/index.js';
import { analyseRequest } from './request.js';
import { addToPattern, detectDeadViews, emptyPattern, mergePatterns, periodicCaller, routeOf, routeTraffic, unseenViews, type RouteTraffic } from './routes.js';
import { APPLICATIONS, AUTH_USER, requestOf, SESSION } from './testing.js';

const DAY = 86_400_000;
const T0 = Date.parse('2026-11-02T00:00:00Z');

function traffic(endpoint: string, hits: [startMs: number, client: string][]): RouteTraffic {
  const t: RouteTraffic = { service: 'web', endpoint, requests: 0, firstSeenMs: Infinity, lastSeenMs: -Infinity, pattern: emptyPattern(), setAside: 0 };
  for (const [startMs, client] of hits) {
    t.requests++;
    t.firstSeenMs = Math.min(t.firstSeenMs, startMs);
    t.lastSeenMs = Math.max(t.lastSeenMs, startMs);
    addToPattern(t.pattern, startMs, client);
  }
  return t;
}

/** Route traffic of one request to each endpoint: what a trace file of them holds. */
const seenIn = (endpoints: string[]): RouteTraffic[] => endpoints.map((e) => traffic(e, [[T0, 'u']]));

const at = (day: number, hh: number, mm: number, ss = 0): number => T0 + day * DAY + ((hh * 60 + mm) * 60 + ss) * 1000;

describe('periodic callers', () => {
  it('is one client at the same minute (give or take) on several days', () => {
    const cron = traffic('GET nightly/', [[at(0, 2, 0, 5), 'cron'], [at(1, 2, 1, 2), 'cron'], [at(2, 1, 59, 58), 'cron'], [at(3, 2, 0), 'cron']]);
    expect(periodicCaller(cron)).toEqual({ minuteOfDay: 120, days: 4, client: 'cron', requests: 4 });
  });

  it('is one program whichever address it came from: a cron job behind a load balancer, or a new pod each night', () => {
    // An ALB forwards from the node of each zone (three addresses); a Kubernetes CronJob gets a new pod IP every run.
    const alb = traffic('GET nightly/', [0, 1, 2, 3, 4].map((d) => [at(d, 2, 0, d), `10.0.${(d % 3) + 1}.5 curl/8.5`] as [number, string]));
    expect(periodicCaller(alb)).toEqual({ minuteOfDay: 120, days: 5, client: 'curl/8.5', requests: 5 });
    const pods = traffic('GET nightly/', Array.from({ length: 30 }, (_, d) => [at(d, 2, 0), `10.42.${d}.17 python-requests/2.32.3`] as [number, string]));
    expect(periodicCaller(pods)?.days).toBe(30);
    // Without a user agent, the address is all there is to tell callers apart.
    const bare = traffic('GET nightly/', [[at(0, 2, 0), '10.0.0.9'], [at(1, 2, 0), '10.0.0.9'], [at(2, 2, 0), '10.0.0.8']]);
    expect(periodicCaller(bare)).toBeNull();
    expect(periodicCaller(traffic('GET nightly/', [[at(0, 2, 0), '::1'], [at(1, 2, 0), '::1'], [at(2, 2, 0), '::1']]))?.client).toBe('::1');
  });

  it('is not one caller when two hosts send the same user agent on one day: two partners\' nightly scripts, both python-requests', () => {
    // Each a nightly script on its own host, both at 02:00: two callers, whatever their user agent.
    const partners = (days: number[]): [number, string][] =>
      days.flatMap((d) => [[at(d, 2, 0), '203.0.113.7 python-requests/2.32.3'], [at(d, 2, 1), '198.51.100.23 python-requests/2.32.3']] as [number, string][]);
    expect(periodicCaller(traffic('GET api/export/', partners([0, 1, 2, 3, 4])))).toBeNull();
    // Merged from batches, one address each, the day they share still tells them apart.
    const first = traffic('GET api/export/', partners([0, 1, 2, 3, 4]).filter(([, c]) => c.startsWith('203.')));
    const second = traffic('GET api/export/', partners([0, 1, 2, 3, 4]).filter(([, c]) => c.startsWith('198.')));
    expect(periodicCaller(first)).not.toBeNull();
    mergePatterns(first.pattern, second.pattern);
    expect(first.pattern).toEqual(traffic('GET api/export/', partners([0, 1, 2, 3, 4])).pattern);
    expect(periodicCaller({ ...first, requests: 10 })).toBeNull();
    // One job on a new address each run (a new pod, another node) is still one caller.
    const pods = traffic('GET api/export/', [0, 1, 2, 3, 4].map((d) => [at(d, 2, 0), `10.42.${d}.17 python-requests/2.32.3`] as [number, string]));
    expect(periodicCaller(pods)).toMatchObject({ client: 'python-requests/2.32.3', days: 5 });
  });

  it("keeps its time of day across a daylight-saving change (a crontab in local time moves by an hour in UTC)", () => {
    const cron = traffic('GET nightly/', [0, 1, 2, 3, 4, 5].map((d) => [at(d, d < 3 ? 2 : 1, 0), 'cron'] as [number, string]));
    expect(periodicCaller(cron)).toMatchObject({ days: 6, requests: 6 });
    // Two times of day that are not an hour apart are no schedule.
    expect(periodicCaller(traffic('GET x/', [0, 1, 2, 3, 4, 5].map((d) => [at(d, d < 3 ? 2 : 4, 0), 'cron'] as [number, string])))).toBeNull();
  });

  it('wraps around midnight', () => {
    const cron = traffic('GET nightly/', [[at(0, 23, 59), 'cron'], [at(2, 0, 0), 'cron'], [at(3, 0, 1), 'cron']]);
    expect(periodicCaller(cron)?.days).toBe(3);
  });

  it('is not people: another client, another time, too few days, or too many calls a day', () => {
    const base: [number, string][] = [[at(0, 2, 0), 'cron'], [at(1, 2, 0), 'cron'], [at(2, 2, 0), 'cron']];
    expect(periodicCaller(traffic('GET x/', [...base, [at(2, 2, 0, 30), 'browser']]))).toBeNull();
    expect(periodicCaller(traffic('GET x/', [...base, [at(2, 14, 30), 'cron']]))).toBeNull();
    expect(periodicCaller(traffic('GET x/', base.slice(0, 2)))).toBeNull();
    expect(periodicCaller(traffic('GET x/', [...base, ...base, ...base, ...base, ...base]))).toBeNull();
  });

  it('stops tracking past a few minutes or clients, and merges like adding', () => {
    const busy = traffic('GET x/', Array.from({ length: 20 }, (_, i) => [at(i % 3, 9, i), `c${i}`] as [number, string]));
    expect(busy.pattern.minutes).toBeNull();
    expect(busy.pattern.clients).toBeNull();
    const a = traffic('GET x/', [[at(0, 2, 0), 'cron'], [at(1, 2, 0), 'cron']]);
    const b = traffic('GET x/', [[at(2, 2, 0), 'cron']]);
    mergePatterns(a.pattern, b.pattern);
    expect(a.pattern).toEqual(traffic('GET x/', [[at(0, 2, 0), 'cron'], [at(1, 2, 0), 'cron'], [at(2, 2, 0), 'cron']]).pattern);
  });
});

describe('dead views', () => {
  const routes = [
    { route: 'dashboard/', view: 'app.views.dashboard' },
    { route: 'old/', view: 'app.views.old', file: 'app/views.py', line: 40 },
    { route: 'admin/', view: 'django.contrib.admin.sites.index' },
  ];

  it('lists app routes with no request in the window, and says when the history is too short to tell', () => {
    const seen = [traffic('GET dashboard/', [[at(10, 9, 0), 'u']]), traffic('GET old/', [[at(0, 9, 0), 'u']])];
    const dead = detectDeadViews(routes, seen, { minRequests: 0, windowMs: 5 * DAY, minWindowMs: DAY, nowMs: at(11, 0, 0), historySinceMs: at(0, 9, 0) });
    expect(dead).toEqual([expect.objectContaining({ route: 'old/', status: 'dead', lastSeenMs: at(0, 9, 0), enoughHistory: true, line: 40 })]);
    const young = detectDeadViews(routes, seen, { minRequests: 0, windowMs: 90 * DAY, nowMs: at(11, 0, 0), historySinceMs: at(0, 9, 0) });
    expect(young).toEqual([]);
    const never = detectDeadViews(routes, [seen[0]!], { minRequests: 0, windowMs: 90 * DAY, nowMs: at(11, 0, 0), historySinceMs: at(0, 9, 0) });
    expect(never).toEqual([expect.objectContaining({ route: 'old/', status: 'no_traffic_yet', enoughHistory: false, historyMs: at(11, 0, 0) - at(0, 9, 0) })]);
  });

  it('offline, names the app routes not seen in the file', () => {
    expect(unseenViews(routes, seenIn(['GET dashboard/', 'POST login/'])).map((v) => [v.route, v.status])).toEqual([['old/', 'unseen_in_file']]);
  });

  it("leaves out the views of installed packages, wherever the environment is, as it leaves out Django's", () => {
    const installed = [
      { route: 'admin/pages/<int:page_id>/edit/', view: 'wagtail.admin.views.pages.edit.EditView', file: '/srv/venv/lib/python3.12/site-packages/wagtail/admin/views/pages/edit.py' },
      { route: '__debug__/render_panel/', view: 'debug_toolbar.views.render_panel', file: '.venv/lib/python3.12/site-packages/debug_toolbar/views.py' },
      { route: 'accounts/login/', view: 'allauth.account.views.LoginView', file: '/usr/lib/python3/dist-packages/allauth/account/views.py' },
    ];
    const all = [...routes, ...installed];
    expect(unseenViews(all, seenIn(['GET dashboard/'])).map((v) => v.route)).toEqual(['old/']);
    const dead = detectDeadViews(all, [traffic('GET dashboard/', [[at(10, 9, 0), 'u']])], { minRequests: 0, windowMs: 5 * DAY, minWindowMs: DAY, nowMs: at(11, 0, 0), historySinceMs: at(0, 0, 0) });
    expect(dead.map((v) => v.route)).toEqual(['old/']);
  });

  it("judges every route the schema marks as the project's: a generic view its urls.py mounts, its own views installed as a wheel", () => {
    const own = [
      { route: 'about/', view: 'django.views.generic.base.TemplateView', file: '/srv/venv/lib/python3.12/site-packages/django/views/generic/base.py', urlconf: 'recruit.urls', project: true },
      { route: 'jobs/', view: 'rest_framework.generics.ListAPIView', urlconf: 'recruit.urls', project: true },
      { route: 'reports/', view: 'recruit.views.report', file: '/srv/venv/lib/python3.12/site-packages/recruit/views.py', urlconf: 'recruit.urls', project: true },
      { route: 'admin/', view: 'django.contrib.admin.sites.AdminSite.index', urlconf: 'django.contrib.admin', project: false },
      { route: 'partner/status/', view: 'partnerlib.views.status', urlconf: 'partnerlib.urls', project: false },
    ];
    const mine = ['about/', 'jobs/', 'reports/'];
    expect(unseenViews(own, seenIn([])).map((v) => v.route)).toEqual(mine);
    const o = { minRequests: 0, windowMs: 90 * DAY, nowMs: at(200, 0, 0), historySinceMs: at(0, 0, 0) };
    expect(detectDeadViews(own, [traffic('GET partner/status/', [[at(199, 9, 0), 'u']])], o).map((v) => [v.route, v.status])).toEqual(mine.map((r) => [r, 'dead']));
  });

  it("counts a view's traffic in every language's form of its route (i18n_patterns)", () => {
    const about = { route: 'en/about/', view: 'app.views.about', languages: { en: 'en/about/', fr: 'fr/about/', de: 'de/ueber/' } };
    expect(unseenViews([about], seenIn(['GET fr/about/']))).toEqual([]);
    expect(unseenViews([about], seenIn(['GET es/about/'])).map((v) => v.route)).toEqual(['en/about/']);
    const french = traffic('GET fr/about/', [[at(1, 3, 0), 'cron'], [at(2, 3, 0), 'cron']]);
    const german = traffic('GET de/ueber/', [[at(3, 3, 0), 'cron']]);
    const o = { minRequests: 0, windowMs: 5 * DAY, minWindowMs: DAY, nowMs: at(4, 0, 0), historySinceMs: at(0, 0, 0) };
    expect(detectDeadViews([about], [french], o)).toEqual([]);
    // One scheduled caller across the languages is still one caller on three days.
    expect(detectDeadViews([about], [french, german], o).map((v) => [v.status, v.periodic?.days])).toEqual([['periodic', 3]]);
  });

  it('counts only requests of a method the view takes, when it says which', () => {
    const webhook = { route: 'webhooks/ats/', view: 'app.views.ats_webhook', methods: ['POST'] };
    const page = { route: 'about/', view: 'app.views.about', methods: ['GET'] };
    // A GET to a POST-only view was refused (405); a HEAD is a GET's; a view that says nothing takes any.
    expect(unseenViews([webhook, page, routes[0]!], seenIn(['GET webhooks/ats/', 'HEAD about/', 'OPTIONS dashboard/'])).map((v) => v.route)).toEqual(['webhooks/ats/']);
    const o = { minRequests: 0, windowMs: 5 * DAY, minWindowMs: DAY, nowMs: at(11, 0, 0), historySinceMs: at(0, 0, 0) };
    const scanned = [traffic('GET webhooks/ats/', [[at(10, 9, 0), 'scanner']]), traffic('POST webhooks/ats/', [[at(1, 9, 0), 'ats']])];
    expect(detectDeadViews([webhook], scanned, o)).toEqual([expect.objectContaining({ route: 'webhooks/ats/', status: 'dead', lastSeenMs: at(1, 9, 0) })]);
    expect(detectDeadViews([webhook], [traffic('POST webhooks/ats/', [[at(10, 9, 0), 'ats']])], o)).toEqual([]);
  });

  it('judges a route with its DRF format-suffix twin: a viewset used on its list route is not dead for its unused format-suffix twin', () => {
    const viewset = [
      { route: 'api/books/$', view: 'app.views.BookViewSet', methods: ['GET'] },
      { route: 'api/books\\.(?P<format>[a-z0-9]+)/?$', view: 'app.views.BookViewSet', methods: ['GET'] },
    ];
    expect(unseenViews(viewset, seenIn(['GET api/books/$']))).toEqual([]);
    // The twins of a detail route, of a router's allowed formats, of a path route (DRF's drf_format_suffix converter).
    const twins = [
      { route: 'api/books/(?P<pk>[^/.]+)/$', view: 'app.views.BookViewSet' },
      { route: 'api/books/(?P<pk>[^/.]+)\\.(?P<format>[a-z0-9]+)/?$', view: 'app.views.BookViewSet' },
      { route: 'api/authors/$', view: 'app.views.AuthorViewSet' },
      { route: 'api/authors\\.(?P<format>(?:json|html))/?$', view: 'app.views.AuthorViewSet' },
      { route: 'api/tags/', view: 'app.views.TagViewSet' },
      { route: 'api/tags.<drf_format_suffix:format>', view: 'app.views.TagViewSet' },
    ];
    expect(unseenViews(twins, seenIn(['GET api/books/(?P<pk>[^/.]+)/$', 'GET api/authors/$', 'GET api/tags/']))).toEqual([]);
    const o = { minRequests: 0, windowMs: 5 * DAY, minWindowMs: DAY, nowMs: at(11, 0, 0), historySinceMs: at(0, 0, 0) };
    expect(detectDeadViews(viewset, [traffic('GET api/books/$', [[at(10, 9, 0), 'u']])], o)).toEqual([]);
    // Unused on every route: each route is listed, as each is to go.
    expect(detectDeadViews(viewset, [], o).map((v) => [v.route, v.status])).toEqual([
      ['api/books/$', 'dead'],
      ['api/books\\.(?P<format>[a-z0-9]+)/?$', 'dead'],
    ]);
  });

  it('judges each route of a view on its own: a dead route of a view another route keeps alive is listed (a left-over URL, a viewset detail route nobody calls)', () => {
    // The same view mounted twice: the current URL, and a left-over one nobody has called in 90 days.
    const report = [
      { route: 'reports/', view: 'recruit.views.report', file: 'recruit/views.py', line: 10 },
      { route: 'legacy/reports/', view: 'recruit.views.report', file: 'recruit/views.py', line: 10 },
    ];
    const o = { minRequests: 0, windowMs: 90 * DAY, nowMs: at(200, 0, 0), historySinceMs: at(0, 0, 0) };
    const seen = [traffic('GET reports/', [[at(199, 9, 0), 'u']]), traffic('GET legacy/reports/', [[at(5, 9, 0), 'u']])];
    const [legacy, ...others] = detectDeadViews(report, seen, o);
    expect([legacy?.route, legacy?.status, others]).toEqual(['legacy/reports/', 'dead', []]);
    // The route is to go, not the view: the finding says which route still serves it.
    expect(legacy?.servedOn).toBe('reports/');
    expect(suggestDeadView(legacy!).note).toMatch(/still served on reports\/: remove this route only/);
    expect(suggestDeadView(legacy!).note).not.toMatch(/delete recruit\.views\.report/);
    expect(detectDeadViews(report, [], o).map((v) => [v.route, v.servedOn])).toEqual([['reports/', undefined], ['legacy/reports/', undefined]]);
    expect(unseenViews(report, seenIn(['GET reports/'])).map((v) => v.route)).toEqual(['legacy/reports/']);
    // A DRF viewset: its list route is used, its detail route (and that route's format-suffix twin) never.
    const viewset = [
      { route: 'api/books/$', view: 'api.views.BookViewSet', methods: ['GET', 'POST'] },
      { route: 'api/books\\.(?P<format>[a-z0-9]+)/?$', view: 'api.views.BookViewSet', methods: ['GET', 'POST'] },
      { route: 'api/books/(?P<pk>[^/.]+)/$', view: 'api.views.BookViewSet', methods: ['DELETE', 'GET', 'PATCH', 'PUT'] },
      { route: 'api/books/(?P<pk>[^/.]+)\\.(?P<format>[a-z0-9]+)/?$', view: 'api.views.BookViewSet', methods: ['DELETE', 'GET', 'PATCH', 'PUT'] },
    ];
    const detail = ['api/books/(?P<pk>[^/.]+)/$', 'api/books/(?P<pk>[^/.]+)\\.(?P<format>[a-z0-9]+)/?$'];
    expect(detectDeadViews(viewset, [traffic('GET api/books/$', [[at(199, 9, 0), 'u']])], o).map((v) => v.route)).toEqual(detail);
    expect(unseenViews(viewset, seenIn(['GET api/books/$'])).map((v) => v.route)).toEqual(detail);
  });

  it('withholds the delete advice over a window too short to tell an unused view from a weekly or monthly one (--dead-after 1h)', () => {
    // 20 days of history; old/ last called 2 days ago, dashboard/ an hour ago: quiet for an hour is not dead.
    const seen = [traffic('GET dashboard/', [[at(19, 23, 30), 'u'], [at(5, 9, 0), 'u']]), traffic('GET old/', [[at(18, 0, 0), 'u']])];
    const o = { minRequests: 0, windowMs: 3_600_000, nowMs: at(20, 0, 0), historySinceMs: at(0, 9, 0) };
    const [old, ...others] = detectDeadViews(routes, seen, o);
    expect([old?.route, old?.status, others]).toEqual(['old/', 'too_short_window', []]);
    expect(old).toMatchObject({ historyMs: at(20, 0, 0) - at(0, 9, 0), historyRequests: 3 });
    const advice = suggestDeadView(old!);
    expect(advice.code).not.toMatch(/remove the route/);
    expect(advice.note).not.toMatch(/delete/);
    // It says what was seen and what window would judge it.
    expect(advice.note).toMatch(/1\.0 hours/);
    expect(advice.note).toMatch(/3 requests to the URLconf's routes over 19 days/);
    expect(advice.note).toMatch(/--dead-after 30d/);
    // From the shortest window that tells (30 days by default), with the history to cover it, it is dead.
    const month = detectDeadViews(routes, seen, { ...o, windowMs: 30 * DAY, nowMs: at(60, 0, 0) });
    expect(month.map((v) => [v.route, v.status])).toEqual([['old/', 'dead'], ['dashboard/', 'dead']].sort());
  });

  it('withholds the verdict over a long window of too little traffic: a month of a handful of requests tells no unused view', () => {
    // 60 days of history, a 30-day window, and 6 requests in all: an unseen route says little.
    const few = [traffic('GET dashboard/', [0, 10, 20, 35, 50, 59].map((d) => [at(d, 9, 0), `u${d}`] as [number, string]))];
    const o = { windowMs: 30 * DAY, nowMs: at(60, 0, 0), historySinceMs: at(0, 0, 0) };
    const [old, ...others] = detectDeadViews(routes, few, o);
    expect([old?.route, old?.status, old?.historyRequests, old?.neededRequests, others]).toEqual(['old/', 'too_little_traffic', 6, 50, []]);
    const advice = suggestDeadView(old!);
    expect(advice.code).not.toMatch(/remove the route/);
    expect(advice.note).not.toMatch(/delete/);
    expect(advice.note).toMatch(/6 requests to the URLconf's routes/);
    expect(advice.note).toMatch(/50/);
    // With the traffic to tell (50 requests by default, or as asked), the same window judges it.
    const busy = [traffic('GET dashboard/', Array.from({ length: 50 }, (_, i) => [at(10 + i, 9, 0), `u${i % 7}`] as [number, string]))];
    expect(detectDeadViews(routes, busy, o).map((v) => [v.route, v.status])).toEqual([['old/', 'dead']]);
    expect(detectDeadViews(routes, few, { ...o, minRequests: 5 }).map((v) => [v.route, v.status])).toEqual([['old/', 'dead']]);
  });

  it("takes a 404 for a use of its route only when the view ran: a detail view polled for an id not yet created is in use; scanners through a catch-all, a 404 before any work and a 405 are not", () => {
    const normalize = createSqlNormalizer();
    let n = 0;
    const request = (endpoint: string, day: number, status: number, client = '10.0.0.7 Mozilla/5.0', queries = [APPLICATIONS]) => {
      const r = requestOf(endpoint, queries, { traceId: (++n).toString(16).padStart(32, '0'), startMs: at(day, 9, n % 60) });
      r.status = status;
      r.client = client;
      return analyseRequest(r, normalize);
    };
    const scanner = '45.9.20.1 Mozilla/5.0 zgrab/0.x';
    const site = [
      { route: '<path:slug>/', view: 'cms.views.page', project: true },
      { route: 'books/<int:pk>/', view: 'shop.views.book_detail', project: true },
      { route: 'api/orders/<int:pk>/', view: 'shop.views.order_detail', project: true },
      { route: 'api/exports/<int:pk>/', view: 'shop.views.export_status', project: true },
      { route: 'beta/<int:pk>/', view: 'shop.views.beta', project: true },
      { route: 'webhooks/ats/', view: 'shop.views.ats_webhook', project: true },
    ];
    const analyses = [
      // /wp-login.php, /.env, /admin/../ probes, routed by the catch-all (any path matches it) and answered 404: no page there.
      ...Array.from({ length: 40 }, (_, i) => request('GET <path:slug>/', 110 + i, 404, scanner)),
      // A detail view: some ids are gone, most are served.
      request('GET books/<int:pk>/', 150, 200), request('GET books/<int:pk>/', 190, 404), request('GET books/<int:pk>/', 195, 404, scanner),
      // Served until day 50; since then a client polls an order not created yet: the view looks it up (get_object_or_404) and finds nothing.
      request('GET api/orders/<int:pk>/', 50, 200), request('GET api/orders/<int:pk>/', 180, 404), request('GET api/orders/<int:pk>/', 199, 404, '10.0.0.8 okhttp/4.12'),
      // Only ever 404, but the view asked the export service (an outbound call) each time: it ran.
      request('GET api/exports/<int:pk>/', 199, 404, undefined, []),
      // Answered 404 before any work (a middleware, a view that refuses outright): nothing shows the view ran.
      request('GET beta/<int:pk>/', 199, 404, undefined, []),
      // A GET to a POST-only webhook whose schema entry says no methods: refused.
      request('GET webhooks/ats/', 199, 405, scanner),
    ];
    analyses[analyses.length - 3]!.outbound = { calls: 1, sequentialCalls: 1, totalMs: 12, peers: ['exports.internal'], fanout: false };
    const o = { windowMs: 90 * DAY, minRequests: 0, nowMs: at(200, 0, 0), historySinceMs: at(0, 0, 0) };
    const dead = detectDeadViews(site, routeTraffic(analyses), o);
    expect(dead.map((v) => [v.route, v.status, v.lastSeenMs])).toEqual([
      ['<path:slug>/', 'dead', null],
      ['beta/<int:pk>/', 'dead', null],
      ['webhooks/ats/', 'dead', null],
    ]);
    // What was set aside is counted, so a scanned route says so (the note, the JSON's setAsideRequests).
    expect(dead.map((v) => [v.route, v.setAsideRequests])).toEqual([['<path:slug>/', 40], ['beta/<int:pk>/', 1], ['webhooks/ats/', 1]]);
    expect(suggestDeadView(dead[0]!).note).toMatch(/40 requests answered 404 or 405 without using it were set aside/);
    expect(unseenViews(site, routeTraffic(analyses)).map((v) => [v.route, v.setAsideRequests])).toEqual([['<path:slug>/', 40], ['beta/<int:pk>/', 1], ['webhooks/ats/', 1]]);
    // A route with none set aside says nothing of it.
    expect(detectDeadViews(site, [], o).find((v) => v.route === 'books/<int:pk>/')).not.toHaveProperty('setAsideRequests');
    // A request with no status (a span that does not say) is a use, as before.
    const r = requestOf('GET webhooks/ats/', [APPLICATIONS], { traceId: 'f'.repeat(32), startMs: at(199, 9, 0) });
    expect(detectDeadViews(site, routeTraffic([analyseRequest(r, normalize)]), o).map((v) => v.route)).not.toContain('webhooks/ats/');
  });

  it("takes a 404 whose only queries loaded the session and the user (middleware's, before the view) for no use: a logged-in client's 404 from a feature-flag process_view is not the view's work", () => {
    const normalize = createSqlNormalizer();
    const site = [
      { route: 'beta/<int:pk>/', view: 'shop.views.beta', project: true },
      { route: 'books/<int:pk>/', view: 'shop.views.book_detail', project: true },
    ];
    const request = (endpoint: string, n: number, queries: string[]) => {
      const r = requestOf(endpoint, queries, { traceId: n.toString(16).padStart(32, '0'), startMs: at(190 + n, 9, 0) });
      r.status = 404;
      r.client = '10.0.0.7 Mozilla/5.0';
      return analyseRequest(r, normalize);
    };
    const analyses = [
      // SessionMiddleware's lazy session and AuthenticationMiddleware's user, read by a middleware that then refused the flagged-off route.
      request('GET beta/<int:pk>/', 1, [SESSION, AUTH_USER]),
      request('GET beta/<int:pk>/', 2, [SESSION, AUTH_USER]),
      // The same logged-in client, but the view looked the book up and found none: it ran.
      request('GET books/<int:pk>/', 3, [SESSION, AUTH_USER, APPLICATIONS]),
    ];
    const o = { windowMs: 90 * DAY, minRequests: 0, nowMs: at(200, 0, 0), historySinceMs: at(0, 0, 0) };
    expect(detectDeadViews(site, routeTraffic(analyses), o).map((v) => [v.route, v.status, v.setAsideRequests])).toEqual([['beta/<int:pk>/', 'dead', 2]]);
    expect(unseenViews(site, routeTraffic(analyses)).map((v) => v.route)).toEqual(['beta/<int:pk>/']);
  });

  it("takes a 404 whose only statements opened and closed a transaction (ATOMIC_REQUESTS on SQLite: Django's BEGIN) for no use: no row was read", () => {
    const normalize = createSqlNormalizer();
    const site = [{ route: 'beta/<int:pk>/', view: 'shop.views.beta', project: true }];
    const analyses = [['BEGIN'], ['BEGIN', 'SAVEPOINT "s1_x1"', 'RELEASE SAVEPOINT "s1_x1"']].map((statements, n) => {
      const r = requestOf('GET beta/<int:pk>/', statements, { traceId: (n + 1).toString(16).padStart(32, '0'), startMs: at(190 + n, 9, 0), system: 'sqlite' });
      r.status = 404;
      return analyseRequest(r, normalize);
    });
    const o = { windowMs: 90 * DAY, minRequests: 0, nowMs: at(200, 0, 0), historySinceMs: at(0, 0, 0) };
    expect(detectDeadViews(site, routeTraffic(analyses), o).map((v) => [v.route, v.status, v.setAsideRequests])).toEqual([['beta/<int:pk>/', 'dead', 2]]);
  });

  it("sets aside a scanner's 404 through django.contrib.flatpages' catch-all (the flatpage looked up, none there): no page is a use of no view", () => {
    const normalize = createSqlNormalizer();
    const FLATPAGE =
      'SELECT "django_flatpage"."id", "django_flatpage"."url" FROM "django_flatpage" INNER JOIN "django_flatpage_sites" ON ("django_flatpage"."id" = "django_flatpage_sites"."flatpage_id") WHERE ("django_flatpage"."url" = %s AND "django_flatpage_sites"."site_id" = %s) LIMIT 21';
    const site = [{ route: '^(?P<url>.*/)$', view: 'django.contrib.flatpages.views.flatpage', project: true }];
    const analyses = Array.from({ length: 3 }, (_, n) => {
      const r = requestOf('GET ^(?P<url>.*/)$', [FLATPAGE], { traceId: (n + 1).toString(16).padStart(32, '0'), startMs: at(190 + n, 9, 0) });
      r.status = 404;
      r.client = '45.9.20.1 Mozilla/5.0 zgrab/0.x';
      return analyseRequest(r, normalize);
    });
    const o = { windowMs: 90 * DAY, minRequests: 0, nowMs: at(200, 0, 0), historySinceMs: at(0, 0, 0) };
    expect(detectDeadViews(site, routeTraffic(analyses), o).map((v) => [v.route, v.status, v.setAsideRequests])).toEqual([['^(?P<url>.*/)$', 'dead', 3]]);
  });

  it('reads the route from an endpoint name', () => {
    expect(routeOf('GET dashboard/')).toBe('dashboard/');
    expect(routeOf('recruit.tasks.send_digest')).toBe('recruit.tasks.send_digest');
    expect(routeOf('GET ')).toBe('');
    // A catch-all's endpoint split by what it served is still its route's traffic.
    expect(routeOf('GET <path:slug>/ [path: /blog/]')).toBe('<path:slug>/');
    expect(routeOf('GET ^((?:[\\w\\-]+/)*)$ [page: blog_blogpage]')).toBe('^((?:[\\w\\-]+/)*)$');
  });
});
