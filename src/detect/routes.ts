/**
 * dead_view: the app's routes (from the schema file's URLconf export) against the traffic seen per
 * route, to name views nobody calls, and views kept alive only by a scheduled caller (the same
 * minute each day, the same client: a cron job).
 */
import { isCatchAllRoute, readSplit } from './catch-all.js';
import { PER_REQUEST_FRAMEWORK_TABLES } from './endpoint.js';
import type { RequestAnalysis } from './types.js';

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;
/** Past this many distinct values a pattern is "many" and stops being tracked value by value. */
const MAX_MINUTES = 8;
const MAX_CLIENTS = 4;
const MAX_DAYS = 400;

/**
 * When and from whom a route is called, compact and additive: the minutes of the day and the
 * clients it was called at/from (each up to a few distinct values, then only "many"), and the days.
 */
export interface TrafficPattern {
  /** Minute of the day (UTC) → requests; null once more than MAX_MINUTES distinct minutes were seen. */
  minutes: Map<number, number> | null;
  /** Caller (user agent, or address without one: callerOf) → requests; null once more than MAX_CLIENTS were seen. */
  clients: Map<string, number> | null;
  /** Days (since the epoch, UTC) with a request; null past MAX_DAYS. */
  days: Set<number> | null;
  /**
   * Per caller that is a user agent sent with an address: the address of its requests on each day
   * (UTC), or null once one day showed two different ones (callerOf: two hosts running the same
   * program, not one job on a new address each run). Null once the route can no longer be periodic
   * (minutes, clients or days past their limit), as it is then never read.
   */
  addresses: Map<string, Map<number, string> | null> | null;
}

/**
 * One route's traffic, kept for as long as the store lives (it is tiny): the requests that used the
 * route (usesRoute), and how many others it set aside. An entry of only set-aside requests has no
 * request, and its first and last seen are Infinity and -Infinity.
 */
export interface RouteTraffic {
  service: string;
  endpoint: string;
  requests: number;
  firstSeenMs: number;
  lastSeenMs: number;
  pattern: TrafficPattern;
  /** Requests answered 404 or 405 that were no use of the route (usesRoute): a scanner's, a refused method's. */
  setAside: number;
}

export function emptyPattern(): TrafficPattern {
  return { minutes: new Map(), clients: new Map(), days: new Set(), addresses: new Map() };
}

function addTo<K>(map: Map<K, number> | null, key: K, n: number, max: number): Map<K, number> | null {
  if (map === null) return null;
  map.set(key, (map.get(key) ?? 0) + n);
  return map.size > max ? null : map;
}

const ADDRESS = /^(?:\d{1,3}(?:\.\d{1,3}){3}|\[?[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*\]?)$/;

/** The address a client string starts with (SpanRecord.client is `address user-agent`), or undefined. */
function addressOf(client: string): string | undefined {
  const space = client.indexOf(' ');
  return space > 0 && ADDRESS.test(client.slice(0, space)) ? client.slice(0, space) : undefined;
}

/**
 * Who sent a request, for telling a scheduled job apart (SpanRecord.client is `address user-agent`,
 * either alone when the other is unknown): its user agent, the same program whichever address it came
 * from (a load balancer forwards from the node of each zone, a Kubernetes CronJob runs in a new pod
 * each time); its address when it sent no user agent. A user agent whose requests came from two
 * addresses on one day is two hosts running the same program (TrafficPattern.addresses), which
 * periodicCaller tells apart.
 */
export function callerOf(client: string): string {
  const address = addressOf(client);
  return address === undefined ? client : client.slice(address.length + 1);
}

/** Notes that `caller` sent a request from `address` on `day`: null for the caller once a day had two. */
function addAddress(addresses: Map<string, Map<number, string> | null>, caller: string, day: number, address: string): void {
  let byDay = addresses.get(caller);
  if (byDay === undefined) addresses.set(caller, (byDay = new Map()));
  if (byDay === null) return;
  const before = byDay.get(day);
  if (before === undefined) byDay.set(day, address);
  else if (before !== address) addresses.set(caller, null);
}

/** Addresses are kept only while the route may still be periodic. */
function dropAddressesPastLimits(p: TrafficPattern): void {
  if (p.minutes === null || p.clients === null || p.days === null) p.addresses = null;
}

/** Adds one request to a route's pattern. */
export function addToPattern(p: TrafficPattern, startMs: number, client: string): void {
  const day = Math.floor(startMs / DAY_MS);
  const caller = callerOf(client);
  p.minutes = addTo(p.minutes, Math.floor((startMs % DAY_MS) / MINUTE_MS), 1, MAX_MINUTES);
  p.clients = addTo(p.clients, caller, 1, MAX_CLIENTS);
  if (p.days !== null) {
    p.days.add(day);
    if (p.days.size > MAX_DAYS) p.days = null;
  }
  const address = addressOf(client);
  if (p.addresses !== null && address !== undefined) addAddress(p.addresses, caller, day, address);
  dropAddressesPastLimits(p);
}

export function mergePatterns(into: TrafficPattern, from: TrafficPattern): void {
  if (from.minutes === null) into.minutes = null;
  else for (const [k, n] of from.minutes) into.minutes = addTo(into.minutes, k, n, MAX_MINUTES);
  if (from.clients === null) into.clients = null;
  // A store written before callerOf keyed clients by address and user agent: read as callers too.
  else for (const [k, n] of from.clients) into.clients = addTo(into.clients, callerOf(k), n, MAX_CLIENTS);
  if (from.days === null) into.days = null;
  else if (into.days !== null) {
    for (const d of from.days) into.days.add(d);
    if (into.days.size > MAX_DAYS) into.days = null;
  }
  if (from.addresses === null) into.addresses = null;
  else if (into.addresses !== null) {
    for (const [caller, byDay] of from.addresses) {
      if (byDay === null) into.addresses.set(caller, null);
      else for (const [day, address] of byDay) addAddress(into.addresses, caller, day, address);
    }
  }
  dropAddressesPastLimits(into);
}

/**
 * Whether a request used its route's view: the one rule for every path that judges routes (serve's
 * store, `--db`, the digest, `n1-report --list-unseen`). Any answer but 404 and 405 is a use, as is
 * a request whose span gives no status. A 405 refused the method: nothing was served. A 404 is a use
 * when the view ran: its route matched (Django's instrumentation names a request by its route only
 * once URL resolution matched one; a path no route matches leaves the span named by its method) and
 * the request did the view's work, DB queries or outbound calls (a detail view polled for an id not
 * created yet: get_object_or_404 looked and found nothing). A 404 without any is from before the
 * view (a middleware, a view that refuses outright), as is one whose only queries loaded the session
 * and the user (PER_REQUEST_FRAMEWORK_TABLES: a logged-in client's, read by a middleware, or by the
 * 404 page's base template asking `user.is_authenticated`, whatever the view did). A view's own
 * `get_object_or_404(User, …)` reads the same way, so a user-detail view polled only for gone users
 * is taken for unused: rarer than every 404 of a signed-in client. Nor is opening a transaction work
 * (ATOMIC_REQUESTS on SQLite: Django's `BEGIN` around every view, one that refuses outright too).
 * One through a catch-all route (`<path:slug>/`, Wagtail's pages) is a path no page has, the
 * catch-all's view being the URL resolution: a scanner's `/wp-login.php`.
 */
export function usesRoute(a: Pick<RequestAnalysis, 'endpoint' | 'status' | 'uses' | 'outbound'>): boolean {
  if (a.status === 405) return false;
  if (a.status !== 404) return true;
  const viewQueried = a.uses.some((u) => !u.facts.transactionControl && !PER_REQUEST_FRAMEWORK_TABLES.includes(u.facts.table));
  return (viewQueried || a.outbound.calls > 0) && !isCatchAllRoute(routeOf(a.endpoint));
}

/** The key of route traffic maps (addRouteRequest, addRouteTraffic): service and endpoint. */
const trafficKey = (t: { service: string; endpoint: string }): string => `${t.service}\u0000${t.endpoint}`;

/** Adds one analysed request to the route traffic keyed by service and endpoint: a use of its route, or one set aside (usesRoute). */
export function addRouteRequest(byKey: Map<string, RouteTraffic>, a: RequestAnalysis): void {
  const key = trafficKey(a);
  let t = byKey.get(key);
  if (t === undefined) {
    t = { service: a.service, endpoint: a.endpoint, requests: 0, firstSeenMs: Infinity, lastSeenMs: -Infinity, pattern: emptyPattern(), setAside: 0 };
    byKey.set(key, t);
  }
  if (!usesRoute(a)) {
    t.setAside++;
    return;
  }
  t.requests++;
  t.firstSeenMs = Math.min(t.firstSeenMs, a.startMs);
  t.lastSeenMs = Math.max(t.lastSeenMs, a.startMs);
  addToPattern(t.pattern, a.startMs, a.client ?? '');
}

/** Adds `t` to the route traffic keyed by service and endpoint (another batch's, another shard's). */
export function addRouteTraffic(byKey: Map<string, RouteTraffic>, t: RouteTraffic): void {
  const key = trafficKey(t);
  const into = byKey.get(key);
  if (into === undefined) byKey.set(key, copyOf(t));
  else addTraffic(into, t);
}

/** Route traffic of a batch of analysed requests, one entry per service and endpoint: the requests that used their route (usesRoute). */
export function routeTraffic(analyses: Iterable<RequestAnalysis>): RouteTraffic[] {
  const byKey = new Map<string, RouteTraffic>();
  for (const a of analyses) addRouteRequest(byKey, a);
  return [...byKey.values()];
}

/** A scheduled caller: every request within a few minutes of one time of day, from one client, on several days. */
export interface PeriodicCaller {
  /** Minute of the day (UTC) of most of its requests. */
  minuteOfDay: number;
  days: number;
  client: string;
  requests: number;
}

export interface PeriodicOptions {
  /** Distinct days needed before a pattern counts as daily. Default 3. */
  minDays?: number;
  /** Minutes either side of the usual time (or of an hour off it: daylight saving) still counted as the same time. Default 2. */
  toleranceMinutes?: number;
  /** Requests per day a scheduled job makes at most. Default 4. */
  maxPerDay?: number;
}

/** The scheduled caller a pattern shows, or null when the traffic looks like people (or is too little to say). */
export function periodicCaller(t: RouteTraffic, options: PeriodicOptions = {}): PeriodicCaller | null {
  const { minutes, clients, days, addresses } = t.pattern;
  if (minutes === null || clients === null || days === null || clients.size !== 1) return null;
  // One user agent from two addresses on one day: two hosts running the same program (two partners'
  // scripts, both python-requests), not one job that ran from a new address (a new pod, another node).
  const [caller] = clients.keys();
  if (addresses?.get(caller!) === null) return null;
  const minDays = options.minDays ?? 3;
  const tolerance = options.toleranceMinutes ?? 2;
  if (days.size < minDays || t.requests > days.size * (options.maxPerDay ?? 4)) return null;
  let main = 0;
  let mainCount = -1;
  for (const [m, n] of minutes) if (n > mainCount || (n === mainCount && m < main)) [main, mainCount] = [m, n];
  for (const m of minutes.keys()) {
    const d = Math.min(Math.abs(m - main), 1440 - Math.abs(m - main));
    // A crontab in local time runs an hour earlier or later in UTC after a daylight-saving change.
    if (d > tolerance && Math.abs(d - 60) > tolerance) return null;
  }
  return { minuteOfDay: main, days: days.size, client: caller ?? '', requests: t.requests };
}

/** A URLconf entry to audit (the schema file's `urls`). */
export interface RouteEntry {
  route: string;
  view: string;
  name?: string;
  methods?: string[];
  /** Language code → the route in that language (i18n_patterns): a request's http.route carries its own language's. */
  languages?: Record<string, string>;
  file?: string;
  line?: number;
  /** The URLconf module whose urlpatterns declare the route (manage.py n1lens_schema). */
  urlconf?: string;
  /**
   * The project's route: its view is the project's code, or the project's URLconf mounts it (a
   * generic view). Set by the integration, which knows the project's packages (its module header);
   * a file written before it has none, and ownedRoute guesses.
   */
  project?: boolean;
}

/** Every route a request to this entry's view can carry: its route, and its form in each language. */
function routesOf(r: RouteEntry): string[] {
  return r.languages === undefined ? [r.route] : [...new Set([r.route, ...Object.values(r.languages)])];
}

export type DeadViewStatus =
  /** No request for the whole window, and the history covers it. */
  | 'dead'
  /** No request in the history there is, which is shorter than the window. */
  | 'no_traffic_yet'
  /**
   * No request in a window shorter than minWindowMs (`--dead-after 1h`): a view used weekly or at
   * month's end is that quiet too, so nothing is said to go.
   */
  | 'too_short_window'
  /**
   * No request in a window long enough (30 days or more), but the URLconf's routes had fewer than
   * minRequests requests over the history: a handful of requests a month leaves a used view unseen
   * as easily as an unused one, so nothing is said to go.
   */
  | 'too_little_traffic'
  /** Only a scheduled caller uses it. */
  | 'periodic'
  /** Offline: not in this file (a file covers too little time to call anything dead). */
  | 'unseen_in_file';

export interface DeadView extends RouteEntry {
  status: DeadViewStatus;
  requests: number;
  lastSeenMs: number | null;
  /** The window asked for, and how much history the traffic data covers. */
  windowMs: number;
  historyMs: number;
  enoughHistory: boolean;
  /** Requests to the URLconf's routes over that history (serve's store; absent offline). */
  historyRequests?: number;
  /** too_short_window: the shortest window that tells an unused view (DeadViewOptions.minWindowMs). */
  neededWindowMs?: number;
  /** too_little_traffic: the requests to the URLconf's routes that tell an unused view (DeadViewOptions.minRequests). */
  neededRequests?: number;
  periodic?: PeriodicCaller;
  /** Another route of the same view that had a request in the window: only this route is to go, not the view. */
  servedOn?: string;
  /** Requests to the route answered 404 or 405 that were no use of it (usesRoute) over the history; absent when none. */
  setAsideRequests?: number;
}

export interface DeadViewOptions extends PeriodicOptions {
  /** No request for this long makes a view dead. */
  windowMs: number;
  /** The end of the window (now). */
  nowMs: number;
  /** When the traffic data starts: the first request to one of the URLconf's routes (urlconfHistorySince). */
  historySinceMs: number;
  /**
   * The shortest window that can call a view dead: below it a view with no request is too_short_window.
   * Default 30 days, so a month-end report's view is not taken for an unused one.
   */
  minWindowMs?: number;
  /**
   * The fewest requests to the URLconf's routes over the history that can call a view dead: below it
   * a view with no request is too_little_traffic. Default 50 (under two a day over 30 days).
   */
  minRequests?: number;
  /** A schema without RouteEntry.project: views of these module prefixes are the framework's, not the app's. Default django., rest_framework. (Nor do views under site-packages count.) */
  ignoreModules?: readonly string[];
}

const DEFAULT_IGNORED = ['django.', 'rest_framework.'];
/** DeadViewOptions.minWindowMs when not given: what outputs name as the window needed. */
export const DEFAULT_MIN_WINDOW_MS = 30 * DAY_MS;
/** DeadViewOptions.minRequests when not given: what outputs name as the traffic needed. */
export const DEFAULT_MIN_REQUESTS = 50;

/**
 * `GET dashboard/` → `dashboard/`: the route part of an endpoint name. A catch-all route's endpoint
 * split by page model or path (`GET <path:slug>/ [path: /blog/]`, detect/catch-all.ts) is its route's
 * traffic all the same.
 */
export function routeOf(endpoint: string): string {
  const name = readSplit(endpoint)?.route ?? endpoint;
  const space = name.indexOf(' ');
  return space > 0 && /^[A-Z]+$/.test(name.slice(0, space)) ? name.slice(space + 1) : name;
}

const copyOf = (t: RouteTraffic): RouteTraffic => ({
  ...t,
  pattern: {
    minutes: t.pattern.minutes && new Map(t.pattern.minutes),
    clients: t.pattern.clients && new Map(t.pattern.clients),
    days: t.pattern.days && new Set(t.pattern.days),
    addresses: t.pattern.addresses && new Map([...t.pattern.addresses].map(([caller, byDay]) => [caller, byDay && new Map(byDay)])),
  },
});

function addTraffic(into: RouteTraffic, t: RouteTraffic): void {
  into.requests += t.requests;
  into.setAside += t.setAside;
  into.firstSeenMs = Math.min(into.firstSeenMs, t.firstSeenMs);
  into.lastSeenMs = Math.max(into.lastSeenMs, t.lastSeenMs);
  mergePatterns(into.pattern, t.pattern);
}

/** `POST webhooks/ats/` → `POST`; undefined for a name without a method. */
function methodOf(endpoint: string): string | undefined {
  const space = endpoint.indexOf(' ');
  const method = space > 0 ? endpoint.slice(0, space) : '';
  return /^[A-Z]+$/.test(method) ? method : undefined;
}

/**
 * Whether a request of this method used the view: any, when the view does not say which it takes;
 * otherwise one it takes (HEAD with GET). A GET to a POST-only webhook was refused (405), and a
 * scanner's requests keep no view alive.
 */
function accepts(r: RouteEntry, method: string | undefined): boolean {
  if (r.methods === undefined || method === undefined) return true;
  return r.methods.includes(method) || (method === 'HEAD' && r.methods.includes('GET'));
}

/** Traffic by route, one entry per endpoint (method and service) on it. */
function byRoute(traffic: Iterable<RouteTraffic>): Map<string, RouteTraffic[]> {
  const out = new Map<string, RouteTraffic[]>();
  for (const t of traffic) {
    const route = routeOf(t.endpoint);
    const seen = out.get(route);
    if (seen === undefined) out.set(route, [t]);
    else seen.push(t);
  }
  return out;
}

/** A view's traffic over all its routes (one per language) and the methods it takes, or undefined when it had none. */
function trafficOf(r: RouteEntry, seen: ReadonlyMap<string, readonly RouteTraffic[]>): RouteTraffic | undefined {
  let out: RouteTraffic | undefined;
  for (const route of routesOf(r)) {
    for (const t of seen.get(route) ?? []) {
      if (t.requests === 0 || !accepts(r, methodOf(t.endpoint))) continue;
      if (out === undefined) out = copyOf(t);
      else addTraffic(out, t);
    }
  }
  return out;
}

/** Requests set aside on a route (any method: a refused one too), in every language's form of it; absent when none. */
function setAsideOn(r: RouteEntry, seen: ReadonlyMap<string, readonly RouteTraffic[]>): { setAsideRequests?: number } {
  let n = 0;
  for (const route of routesOf(r)) for (const t of seen.get(route) ?? []) n += t.setAside;
  return n === 0 ? {} : { setAsideRequests: n };
}

/**
 * A view of an installed package (its source under site-packages or dist-packages: Wagtail's admin,
 * django-debug-toolbar, allauth) comes with the package, used or not: never the app's to delete.
 */
const INSTALLED = /(?:^|[\\/])(?:site|dist)-packages[\\/]/;

/**
 * A route the app owns, so one to judge: as the schema says (RouteEntry.project: a generic view the
 * project's urls.py mounts is the project's, as are its own views installed as a wheel). A schema
 * written before it says nothing; then, a guess from the view alone: neither of an ignored module
 * (Django's, DRF's) nor under site-packages.
 */
const owned = (r: RouteEntry, ignore: readonly string[]): boolean =>
  r.project ?? (!ignore.some((m) => r.view.startsWith(m)) && (r.file === undefined || !INSTALLED.test(r.file)));

/**
 * A format-suffix route's ending as DRF's format_suffix_patterns (DefaultRouter) writes it: a regex
 * route's `\.(?P<format>[a-z0-9]+)/?$` (or `(?:json|html)` for allowed formats), a path route's
 * `.<drf_format_suffix:format>`. The route it doubles ends in `/$` or `/` instead.
 */
const FORMAT_SUFFIX = /(?:\\\.\(\?P<\w+>(?:\[a-z0-9\]\+|\(\?:[^()]*\))\)\/\?\$?|\.<drf_format_suffix\w*:\w+>)$/;

/** A route without its trailing `$` and `/`: `api/books/$` and `api/books\.(?P<format>…)/?$` both read `api/books`. */
const stem = (route: string): string => route.replace(/\$$/, '').replace(/\/$/, '');

/**
 * Each route's key for judging it: its view and route, except a DRF format-suffix twin
 * (`api/books\.(?P<format>[a-z0-9]+)/?$` of `api/books/$`, the same view), which nobody calls and
 * which is judged with the route it doubles. Two routes of one view are otherwise judged each on
 * its own: a left-over `legacy/reports/` is dead though `reports/` is used, and so is a viewset's
 * detail route nobody calls while its list route is used.
 */
function routeKeys(routes: readonly RouteEntry[]): Map<RouteEntry, string> {
  const key = (r: RouteEntry): string => `${r.view}\u0000${r.route}`;
  const plain = new Map<string, RouteEntry>();
  for (const r of routes) if (!FORMAT_SUFFIX.test(r.route)) plain.set(`${r.view}\u0000${stem(r.route)}`, r);
  const out = new Map<RouteEntry, string>();
  for (const r of routes) {
    const twinOf = FORMAT_SUFFIX.test(r.route) ? plain.get(`${r.view}\u0000${stem(r.route.replace(FORMAT_SUFFIX, ''))}`) : undefined;
    out.set(r, key(twinOf ?? r));
  }
  return out;
}

/**
 * When this URLconf's history starts: the first request to any of its routes, or undefined when none
 * had one. A store shared with other services (a Celery worker, another app) holds older traffic that
 * says nothing about this app's views: counted from it, a view of an app traced since yesterday
 * would be "dead: no request in 90 days".
 */
export function urlconfHistorySince(routes: readonly RouteEntry[], traffic: Iterable<RouteTraffic>): number | undefined {
  const own = new Set(routes.flatMap(routesOf));
  let since: number | undefined;
  for (const t of traffic) if (t.requests > 0 && own.has(routeOf(t.endpoint)) && (since === undefined || t.firstSeenMs < since)) since = t.firstSeenMs;
  return since;
}

/** Requests to the URLconf's routes in the traffic: how much the history behind a verdict holds. */
function urlconfRequests(routes: readonly RouteEntry[], traffic: Iterable<RouteTraffic>): number {
  const own = new Set(routes.flatMap(routesOf));
  let n = 0;
  for (const t of traffic) if (own.has(routeOf(t.endpoint))) n += t.requests;
  return n;
}

/**
 * Dead and periodic views: every app route with no request in the window, or only a scheduled
 * caller; a DRF format-suffix twin with the route it doubles (routeKeys).
 */
export function detectDeadViews(routes: readonly RouteEntry[], traffic: Iterable<RouteTraffic>, o: DeadViewOptions): DeadView[] {
  const all = [...traffic];
  const seen = byRoute(all);
  const historyMs = Math.max(0, o.nowMs - o.historySinceMs);
  const historyRequests = urlconfRequests(routes, all);
  const enoughHistory = historyMs >= o.windowMs;
  const minWindowMs = o.minWindowMs ?? DEFAULT_MIN_WINDOW_MS;
  const minRequests = o.minRequests ?? DEFAULT_MIN_REQUESTS;
  // Time first (no history yet, too short a window), then traffic: a long window of a handful of requests.
  const quietStatus: DeadViewStatus =
    !enoughHistory ? 'no_traffic_yet' : o.windowMs < minWindowMs ? 'too_short_window' : historyRequests < minRequests ? 'too_little_traffic' : 'dead';
  const since = o.nowMs - o.windowMs;
  // A route's traffic with its format-suffix twin's: a DRF router gives each viewset route one
  // (books\.(?P<format>…)) that nobody calls, and the route is no less used for it.
  const keys = routeKeys(routes);
  const byKey = new Map<string, RouteTraffic | undefined>();
  for (const r of routes) {
    const k = keys.get(r)!;
    const t = trafficOf(r, seen);
    const before = byKey.get(k);
    if (before === undefined) byKey.set(k, t && copyOf(t));
    else if (t !== undefined) addTraffic(before, t);
  }
  // Per view, its routes (keys) with a request in the window.
  const served = new Map<string, { key: string; route: string }[]>();
  for (const r of routes) {
    const t = byKey.get(keys.get(r)!);
    if (t === undefined || t.lastSeenMs < since) continue;
    const list = served.get(r.view);
    if (list === undefined) served.set(r.view, [{ key: keys.get(r)!, route: r.route }]);
    else list.push({ key: keys.get(r)!, route: r.route });
  }
  const out: DeadView[] = [];
  for (const r of routes) {
    if (!owned(r, o.ignoreModules ?? DEFAULT_IGNORED)) continue;
    const t = byKey.get(keys.get(r)!);
    const servedOn = served.get(r.view)?.find((s) => s.key !== keys.get(r))?.route;
    const base = { ...r, windowMs: o.windowMs, historyMs, enoughHistory, historyRequests, ...(servedOn === undefined ? {} : { servedOn }), ...setAsideOn(r, seen) };
    if (t === undefined || t.lastSeenMs < since) {
      const needed =
        quietStatus === 'too_short_window' ? { neededWindowMs: minWindowMs } : quietStatus === 'too_little_traffic' ? { neededRequests: minRequests } : {};
      out.push({ ...base, ...needed, status: quietStatus, requests: 0, lastSeenMs: t?.lastSeenMs ?? null });
      continue;
    }
    const periodic = periodicCaller(t, o);
    if (periodic !== null) out.push({ ...base, status: 'periodic', requests: t.requests, lastSeenMs: t.lastSeenMs, periodic });
  }
  return out;
}

/** Offline: the app routes no request in the file used (its route traffic: routeTraffic, RollupSet.routes). */
export function unseenViews(routes: readonly RouteEntry[], traffic: Iterable<RouteTraffic>, ignoreModules: readonly string[] = DEFAULT_IGNORED): DeadView[] {
  const seen = byRoute(traffic);
  // A route used, or its format-suffix twin (a DRF router's), is used.
  const keys = routeKeys(routes);
  const usedKeys = new Set(routes.filter((r) => trafficOf(r, seen) !== undefined).map((r) => keys.get(r)!));
  return routes
    .filter((r) => owned(r, ignoreModules) && !usedKeys.has(keys.get(r)!))
    .map((r) => ({ ...r, status: 'unseen_in_file' as const, requests: 0, lastSeenMs: null, windowMs: 0, historyMs: 0, enoughHistory: false, ...setAsideOn(r, seen) }));
}
