/** Turns the spans of one trace into requests: each DB or outbound span goes to its nearest enclosing request span. */
import { SpanKind, type SpanRecord } from '../otlp/span.js';
import type { PeerCall } from './peers.js';
import { NO_REQUEST_SPAN, type DbSpan, type OutboundCall, type OutboundKind, type Request } from './request.js';

/** A request span is a SERVER or CONSUMER span, or a span with no parent at all. */
export function isRequestSpan(span: SpanRecord): boolean {
  return span.kind === SpanKind.SERVER || span.kind === SpanKind.CONSUMER || span.parentSpanId === '';
}

/**
 * Work outside any request: a DB span or an outbound call (a CLIENT or PRODUCER span: an API called,
 * a task queued) with no parent at all, as Django's test runner creating, migrating and flushing the
 * test database, a management command, a script or Celery beat run them. It roots its trace as any
 * parentless span does, but is no request: in no endpoint (it would be one named by its verb, INSERT
 * or POST), analysed by no detector (a loop is told within a request). Assembly leaves it out, with
 * any query below it that no request of its own (a SERVER or CONSUMER span: the called API's view)
 * encloses, and counts those queries (AssemblyStats.queriesOutsideRequests).
 */
export function isOutsideRequests(span: SpanRecord): boolean {
  return span.parentSpanId === '' && span.kind !== SpanKind.SERVER && span.kind !== SpanKind.CONSUMER && (isDbSpan(span) || outboundKindOf(span) !== null);
}

/**
 * The requests to analyse: those whose request span is not outside any request (isOutsideRequests);
 * the queries of the others (the span itself when it is one, and the DB spans below it) are added to `stats`.
 */
export function withoutQueriesOutside<R extends { spanId: string }>(
  requests: R[],
  requestSpans: ReadonlyMap<string, SpanRecord>,
  queriesBelow: (request: R) => number,
  stats?: AssemblyStats,
): R[] {
  let outside = 0;
  let left = 0;
  const kept = requests.filter((r) => {
    const span = r.spanId === '' ? undefined : requestSpans.get(r.spanId);
    if (span === undefined || !isOutsideRequests(span)) return true;
    left++;
    const queries = (isDbSpan(span) ? 1 : 0) + queriesBelow(r);
    outside += queries;
    if (queries > 0) stats?.outside?.push({ traceId: span.traceId, startMs: span.startMs, service: span.service, queries });
    return false;
  });
  if (stats !== undefined) stats.queriesOutsideRequests += outside;
  return left === 0 ? requests : kept;
}

/**
 * `METHOD route` for HTTP servers, the span name for tasks and everything else. A server without a
 * route (an ASGI/WSGI middleware's span) is keyed on its path with ids collapsed, never on the raw
 * path: `GET /api/books/1/` and `/2/` are one endpoint. A route on a descendant span replaces it
 * (see adoptDescendantRoutes).
 */
export function endpointOf(span: SpanRecord): string {
  if (hasRoute(span)) return routeEndpoint(span.httpMethod, span.httpRoute!);
  if (span.kind !== SpanKind.CONSUMER && span.httpTarget !== undefined && span.httpTarget !== '') {
    const path = collapseIds(stripQuery(span.httpTarget));
    return span.httpMethod ? `${span.httpMethod} ${path}` : path;
  }
  return span.kind === SpanKind.CONSUMER ? span.name : span.name.replace(/(^|\s)(\/\S*)/g, (_m, lead: string, path: string) => lead + collapseIds(stripQuery(path)));
}

const hasRoute = (span: SpanRecord): boolean => span.kind !== SpanKind.CONSUMER && span.httpRoute !== undefined && span.httpRoute !== '';

const routeEndpoint = (method: string | undefined, route: string): string => (method ? `${method} ${route}` : route);

const stripQuery = (target: string): string => {
  const cut = target.search(/[?#]/);
  return cut < 0 ? target : target.slice(0, cut);
};

const NUMERIC = /^\d+$/;
const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const HEX = /^(?=[a-f]*\d)[0-9a-f]{8,}$/i;

/** `/api/books/12/reviews/5f2b9c1a0e/` -> `/api/books/{id}/reviews/{id}/`: numeric, uuid and hex segments. */
export function collapseIds(path: string): string {
  return path
    .split('/')
    .map((segment) => (NUMERIC.test(segment) || UUID.test(segment) || HEX.test(segment) ? '{id}' : segment))
    .join('/');
}

/**
 * Where the request span has no route (opentelemetry-instrumentation-asgi's middleware around
 * Django: the SERVER span carries only the path; Django's own span below it, INTERNAL there, has
 * the route), the earliest descendant span with a route names the endpoint. `ownerOf` finds the
 * request a span belongs to ('' for none).
 */
export function adoptDescendantRoutes(
  requestSpans: ReadonlyMap<string, SpanRecord>,
  requests: ReadonlyMap<string, { endpoint: string }>,
  candidates: Iterable<SpanRecord>,
  ownerOf: (span: SpanRecord) => string,
): void {
  const routeless = new Set<string>();
  // A task (CONSUMER) is named by its span, whatever runs inside it.
  for (const [id, s] of requestSpans) if (s.kind !== SpanKind.CONSUMER && !hasRoute(s)) routeless.add(id);
  if (routeless.size === 0) return;
  const best = new Map<string, SpanRecord>();
  for (const s of candidates) {
    if (!hasRoute(s) || requestSpans.has(s.spanId)) continue;
    const owner = ownerOf(s);
    if (!routeless.has(owner)) continue;
    const current = best.get(owner);
    if (current === undefined || s.startMs < current.startMs) best.set(owner, s);
  }
  for (const [owner, s] of best) {
    const request = requests.get(owner)!;
    request.endpoint = routeEndpoint(s.httpMethod ?? requestSpans.get(owner)!.httpMethod, s.httpRoute!);
  }
}

/** A span that ran one SQL statement (a system and a non-empty statement). */
export function isDbSpan(span: SpanRecord): boolean {
  return span.dbSystem !== undefined && span.dbStatement !== undefined && span.dbStatement !== '';
}

/** The kind of outbound call a CLIENT/PRODUCER span is, or null when it is not one. */
export function outboundKindOf(span: SpanRecord): OutboundKind | null {
  if (span.kind !== SpanKind.CLIENT && span.kind !== SpanKind.PRODUCER) return null;
  if (span.dbSystem !== undefined) return null;
  if (span.messagingSystem !== undefined) return 'messaging';
  if (span.rpcSystem !== undefined) return 'rpc';
  if (span.httpMethod !== undefined) return 'http';
  return 'other';
}

/**
 * Whether a trace's spans look whole: its root (a span with no parent) has arrived, every other
 * span's parent has too, and every outbound call (a CLIENT or PRODUCER span that is not a query)
 * has been answered: a SERVER or CONSUMER span below it (the callee's entry, the task it queued), or
 * a nested call that is answered in turn. A span of the caller's own process below a call (the
 * Redis LPUSH under Celery's apply_async) is no answer. An SDK exports a process's spans as they
 * end, children before their parent, so a trace with a missing parent or an unanswered call is
 * certainly waiting for spans; one that looks whole can gain some only from an export overtaken in
 * transit, or from work that outlives its parent span. A call to a peer that `opaque` says sends no
 * spans (learnablePeer, traces/peers.ts) needs no answer.
 *
 * `records` are the trace's spans as records; `columnParents` the parents of spans kept apart (a
 * CompactTrace's plain DB spans, which answer no call), and `isColumnSpan` whether an id is one of
 * those spans. `awaited`: the spans are a released trace's continuation, and these are the calls it
 * still awaited; a span answering one of them roots it. `opaque` is asked only once every parent has
 * arrived, and its first `false` ends the look (the assembler remembers that peer as what was missing).
 */
export function looksWhole(
  records: readonly SpanRecord[],
  columnParents: readonly string[] = [],
  isColumnSpan: (spanId: string) => boolean = () => false,
  opaque: (peer: string) => boolean = () => false,
  awaited?: ReadonlySet<string>,
): boolean {
  const ids = new Set<string>();
  for (const r of records) ids.add(r.spanId);
  const arrived = (spanId: string): boolean => ids.has(spanId) || isColumnSpan(spanId);
  let hasRoot = false;
  for (const r of records) {
    if (r.parentSpanId === '' || awaited?.has(r.parentSpanId) === true) hasRoot = true;
    else if (!arrived(r.parentSpanId)) return false;
  }
  if (!hasRoot) return false;
  for (const parent of columnParents) if (!arrived(parent)) return false;
  for (const path of callPaths(records)) {
    if (!path.answered && (path.peer === undefined || !opaque(path.peer))) return false;
  }
  return true;
}

/**
 * Whether a trace still awaits the parent of one of its spans that is no request span. Such a
 * parent runs in the same process (only a request span's parent is another's), and an SDK exports a
 * span only once it has ended, after its children: so the parent is most often still running (a
 * view that called another service early and then queried for longer than the trace wait; a long
 * task whose first queries came before its run's span), if it was not lost. Such a trace waits as
 * one without a request span does, not the trace wait alone: let go sooner, what it awaits came
 * late and was dropped, or its queries were analysed as orphans and their request without them.
 * `released`: the spans are a released trace's continuation, whose parents among the spans the
 * trace had, or among the calls it awaited, come no more. The rest as for looksWhole.
 */
export function awaitsParents(
  records: readonly SpanRecord[],
  columnParents: readonly string[] = [],
  isColumnSpan: (spanId: string) => boolean = () => false,
  released?: ReleasedTrace,
): boolean {
  const ids = new Set<string>();
  for (const r of records) ids.add(r.spanId);
  // A continuation's spans right below an awaited call (the broker client's inside apply_async) await nothing either.
  const waiting = (parent: string): boolean =>
    parent !== '' && !ids.has(parent) && !isColumnSpan(parent) && (released === undefined || !(released.ids.has(parent) || released.had(parent)));
  for (const r of records) if (!isRequestSpan(r) && waiting(r.parentSpanId)) return true;
  // Runs of one parent: a query's is most often the one before's.
  for (let i = 0; i < columnParents.length; i++) {
    if (columnParents[i] !== columnParents[i - 1] && waiting(columnParents[i]!)) return true;
  }
  return false;
}

/** What a continuation knows of its released trace: the ids of the calls it still awaited (awaitedIds), and whether a span id was its. */
export interface ReleasedTrace {
  ids: ReadonlySet<string>;
  had: (spanId: string) => boolean;
}

/**
 * The peer a call is learned by (traces/peers.ts): an HTTP or RPC client call's host, in lower case;
 * a queued task or a message sent (PRODUCER, or a messaging CLIENT span), `queue:` and its span name
 * (Celery's `apply_async/<task>`, `send <topic>`), since its destination is not always an attribute;
 * a client's generic name (botocore's `SQS.SendMessage`) stands for every queue it sends to. A queue
 * is learned when nobody consuming it sends spans; one whose consumer answers after the trace wait is
 * un-learned by that answer (continuingSpans).
 */
export function learnablePeer(span: SpanRecord): string | undefined {
  const kind = outboundKindOf(span);
  if (kind === null) return undefined;
  const peer =
    span.kind === SpanKind.PRODUCER || kind === 'messaging' ? `${QUEUE_PEER}${span.name}`
    : (kind === 'http' || kind === 'rpc') && span.peer !== undefined ? span.peer.toLowerCase()
    : undefined;
  return peer !== undefined && peer.length <= MAX_PEER_NAME ? peer : undefined;
}

/** What a queue's peer name starts with; no host does (an IPv6 address's colons sit between hex digits). */
export const QUEUE_PEER = 'queue:';
/** Longer names are not learned (their calls always wait): a peer is kept in memory and in the store, up to MAX_PEERS of them. */
const MAX_PEER_NAME = 300;

/** What a trace says of each peer it called: for each of its call paths (callPaths) that has a peer, whether a callee answered it. */
export function peerCalls(paths: readonly CallPath[]): PeerCall[] {
  let byPeer: Map<string, boolean> | undefined;
  for (const path of paths) {
    if (path.peer === undefined) continue;
    byPeer ??= new Map();
    byPeer.set(path.peer, path.answered || byPeer.get(path.peer) === true);
  }
  return byPeer === undefined ? [] : [...byPeer].map(([peer, answered]) => ({ peer, answered }));
}

/**
 * The outbound calls of a released trace that nothing answered, from its callPaths (with `via`): a
 * Celery task still queued or still running, a callee whose batch processor has not sent yet. Calls
 * to peers `opaque` names are left out: they never answer; but for a probe (`probe`), which lists
 * them last, so that a late answer un-learns its peer. Spans that come later below one of them are new
 * work (continuingSpans).
 */
export function pendingCalls(paths: readonly CallPath[], opaque: (peer: string) => boolean = () => false, probe = false): AwaitedCall[] {
  const pending: AwaitedCall[] = [];
  for (const path of paths) {
    if (path.answered || (path.peer !== undefined && opaque(path.peer) && !probe)) continue;
    const call: AwaitedCall = { spanId: path.call.spanId };
    if (path.peer !== undefined) call.peer = path.peer;
    if (path.via.length > 0) call.via = path.via;
    pending.push(call);
  }
  return learnedLast(pending, opaque).slice(0, MAX_AWAITED_CALLS);
}

/**
 * A call a released trace still awaits (pendingCalls): the innermost call of a path (callPaths); its
 * peer, when it has one; and the calls it is nested in, outermost first (at most MAX_VIA), below any of
 * which its answer may come too.
 */
export interface AwaitedCall {
  spanId: string;
  peer?: string;
  via?: string[];
}

/** The span ids below which a span answers one of `calls`. */
export function awaitedIds(calls: readonly AwaitedCall[]): Set<string> {
  const ids = new Set<string>();
  for (const c of calls) {
    ids.add(c.spanId);
    if (c.via !== undefined) for (const id of c.via) ids.add(id);
  }
  return ids;
}

/** Whether an answer below one of the span ids `answered` answers `call` (continuingSpans). */
export const isAnswered = (call: AwaitedCall, answered: ReadonlySet<string>): boolean =>
  answered.has(call.spanId) || (call.via !== undefined && call.via.some((id) => answered.has(id)));

/** `calls` with those to peers `opaque` names last (a probe's), so that they never crowd out the others under MAX_AWAITED_CALLS. */
export function learnedLast(calls: AwaitedCall[], opaque: (peer: string) => boolean): AwaitedCall[] {
  const learned = calls.filter((c) => c.peer !== undefined && opaque(c.peer));
  return learned.length === 0 ? calls : calls.filter((c) => c.peer === undefined || !opaque(c.peer)).concat(learned);
}

/**
 * Calls remembered per released trace at most: a view that queues a hundred tasks would otherwise
 * keep a hundred ids for each of the last 100k traces. Answers to the rest are late, as before.
 */
export const MAX_AWAITED_CALLS = 16;

/**
 * The spans among `records` (those that came after their trace was released) that are new work: each
 * SERVER or CONSUMER span that answers one of the calls the trace still awaited (pendingCalls), right
 * below it or below a nested call (the HTTP library's span inside the app's), and every span below
 * those. `answered`: the calls they answer. Anything else (a late query of a request analysed before,
 * a copy of a span below a call that is no answer) is no new work, and answers nothing.
 */
export function continuingSpans(records: readonly SpanRecord[], calls: ReadonlySet<string>): { spans: SpanRecord[]; answered: Set<string> } {
  const byId = new Map<string, SpanRecord>();
  for (const r of records) byId.set(r.spanId, r);
  const answered = new Set<string>();
  const starts = new Set<string>();
  // The awaited id (a call or one of its `via`) each late call leads up to through nested calls (null:
  // none), so that a deep chain of calls with an answer below each is walked once, not once per answer.
  const leadsTo = new Map<string, string | null>();
  for (const r of records) {
    if (r.kind !== SpanKind.SERVER && r.kind !== SpanKind.CONSUMER) continue;
    const walked: string[] = [];
    let current = r;
    let found: string | null = null;
    // Up through nested calls only; at most records.length steps (a longer walk is a cycle).
    for (let steps = 0; steps <= records.length; steps++) {
      if (calls.has(current.parentSpanId)) {
        found = current.parentSpanId;
        break;
      }
      const parent = byId.get(current.parentSpanId);
      if (parent === undefined || parent === current || outboundKindOf(parent) === null) break;
      const known = leadsTo.get(parent.spanId);
      if (known !== undefined) {
        found = known;
        break;
      }
      walked.push(parent.spanId);
      current = parent;
    }
    for (const id of walked) leadsTo.set(id, found);
    if (found !== null) {
      answered.add(found);
      starts.add(r.spanId);
    }
  }
  const verdicts = new Map<string, boolean>();
  const continues = (span: SpanRecord): boolean => {
    const path: string[] = [];
    let current: SpanRecord | undefined = span;
    let found = false;
    for (let steps = 0; current !== undefined && steps <= records.length; steps++) {
      const known = verdicts.get(current.spanId);
      if (known !== undefined) {
        found = known;
        break;
      }
      path.push(current.spanId);
      if (starts.has(current.spanId)) {
        found = true;
        break;
      }
      current = byId.get(current.parentSpanId);
    }
    for (const id of path) verdicts.set(id, found);
    return found;
  };
  return { spans: records.filter(continues), answered };
}

/**
 * One way a call went out: an outbound call and the calls nested in it down to an innermost one (the
 * HTTP library's span inside the app's, the SQS client's send inside Celery's apply_async). A callee
 * may answer at any of them: a view sits below urllib3's span, a Celery task below apply_async.
 */
export interface CallPath {
  /** The innermost call. */
  call: SpanRecord;
  /** Whether a SERVER or CONSUMER span sits right below one of the path's calls. */
  answered: boolean;
  /** The outermost learnable call's peer (learnablePeer): Celery's task, not the broker client inside it. */
  peer: string | undefined;
  /** The calls `call` is nested in, outermost first, at most MAX_VIA (the outermost and the nearest), but for those an answered path goes through; only when asked for (`withVia`). */
  via: string[];
}

/** Outer calls an awaited call keeps (AwaitedCall.via): nesting is two or three deep in practice, and absurd trees stay linear. */
const MAX_VIA = 4;

/**
 * The call paths of a trace's spans, one per innermost call. Walked top down from each outermost
 * call, so that a call's state is its parent's plus its own; no recursion, however deep. Calls in a
 * parent cycle have no outermost call and make no path.
 */
export function callPaths(records: readonly SpanRecord[], withVia = false): CallPath[] {
  let calls: Map<string, SpanRecord> | undefined;
  for (const r of records) if (outboundKindOf(r) !== null) (calls ??= new Map()).set(r.spanId, r);
  if (calls === undefined) return [];
  const served = new Set<string>();
  const below = new Map<string, SpanRecord[]>();
  for (const r of records) {
    if (r.parentSpanId === '' || r.parentSpanId === r.spanId) continue;
    if (r.kind === SpanKind.SERVER || r.kind === SpanKind.CONSUMER) served.add(r.parentSpanId);
    // The record the map kept: a copy of a span (an exporter's retry) is no second call.
    else if (calls.get(r.spanId) === r && calls.has(r.parentSpanId)) {
      const list = below.get(r.parentSpanId);
      if (list === undefined) below.set(r.parentSpanId, [r]);
      else list.push(r);
    }
  }
  const paths: CallPath[] = [];
  const walk: CallPath[] = [];
  for (const outer of calls.values()) {
    if (outer.parentSpanId !== outer.spanId && calls.has(outer.parentSpanId)) continue; // nested: walked from its outermost call
    walk.push({ call: outer, answered: served.has(outer.spanId), peer: learnablePeer(outer), via: [] });
    while (walk.length > 0) {
      const at = walk.pop()!;
      const inner = below.get(at.call.spanId);
      if (inner === undefined) {
        paths.push(at);
        continue;
      }
      // Past MAX_VIA, the outermost call and the nearest ones: an answer hangs off either end.
      const via = !withVia ? at.via : at.via.length < MAX_VIA ? [...at.via, at.call.spanId] : [at.via[0]!, ...at.via.slice(2), at.call.spanId];
      // Pushed last to first, so that paths come in the order their calls arrived.
      for (let i = inner.length - 1; i >= 0; i--) {
        const c = inner[i]!;
        walk.push({ call: c, answered: at.answered || served.has(c.spanId), peer: at.peer ?? learnablePeer(c), via });
      }
    }
  }
  if (withVia) {
    // A call with an answered path through it is no place for another path's answer: a later copy of
    // that answer (a replay, a resend) sits below it. So the retry beside a failed attempt is not
    // taken, when its export comes again, for the failed attempt's answer. Every call up an answered
    // path counts, not only those in its via window: walked up from each, to the first one marked.
    let settled: Set<string> | undefined;
    for (const path of paths) {
      if (!path.answered) continue;
      settled ??= new Set();
      for (let at = calls.get(path.call.parentSpanId); at !== undefined && !settled.has(at.spanId); at = calls.get(at.parentSpanId)) settled.add(at.spanId);
    }
    if (settled !== undefined) {
      for (const path of paths) if (!path.answered && path.via.some((id) => settled.has(id))) path.via = path.via.filter((id) => !settled.has(id));
    }
  }
  return paths;
}

const byStart = (a: { startMs: number }, b: { startMs: number }): number => a.startMs - b.startMs;

/** Sorts by start time (stable); spans usually arrive in order already, which one pass confirms. */
export function sortByStart(list: { startMs: number }[]): void {
  for (let i = 1; i < list.length; i++) {
    if (!(byStart(list[i - 1]!, list[i]!) <= 0)) {
      list.sort(byStart);
      return;
    }
  }
}

/**
 * What assembly saw besides the requests: copies of a span id already taken (exporter retries, a file
 * read twice), and work outside any request (isOutsideRequests), left out.
 */
export interface AssemblyStats {
  duplicateSpans: number;
  queriesOutsideRequests: number;
  /** When given, each piece of work outside any request with queries, as well: serve stores them per hour with its trace's commit. */
  outside?: OutsideQueries[];
}

/** The queries one piece of work outside any request ran (isOutsideRequests): its trace, when it began, its service. */
export interface OutsideQueries {
  traceId: string;
  startMs: number;
  service: string;
  queries: number;
}

/**
 * Assembles one trace. Spans may come in any order; parent cycles and self-parents end the walk
 * (the span then counts as orphaned), so absurd trees never hang. A span id seen again is the same
 * span again: it is counted once (and in stats.duplicateSpans).
 */
export function assembleTrace(spans: readonly SpanRecord[], stats?: AssemblyStats): Request[] {
  const requests = new Map<string, Request>();
  let duplicates = 0;
  const requestSpans = new Map<string, SpanRecord>();
  for (const s of spans) {
    if (!isRequestSpan(s)) continue;
    if (requests.has(s.spanId)) duplicates++;
    requests.set(s.spanId, requestFor(s));
    requestSpans.set(s.spanId, s);
  }
  // Span ids already taken. A DB copy of an id wins over any other copy, then the first to arrive
  // (assembleCompact, which keeps DB spans apart, follows the same rule).
  const taken = new Set<string>();
  const dbIds = new Set<string>();
  for (const s of spans) if (isDbSpan(s) && !requests.has(s.spanId)) dbIds.add(s.spanId);

  // Built on first need: in a Django trace every DB span's parent is the request span itself.
  let byId: Map<string, SpanRecord> | undefined;
  // Memoised owner per span id: '' means "no request above it".
  let ownerOf: Map<string, string> | undefined;
  const findOwner = (start: SpanRecord): string => {
    // The parent is a request span: the walk below would stop at it at once.
    if (requests.has(start.parentSpanId)) return start.parentSpanId;
    if (byId === undefined) {
      byId = new Map<string, SpanRecord>();
      for (const s of spans) byId.set(s.spanId, s);
      ownerOf = new Map<string, string>();
    }
    const memo = ownerOf!;
    const path: string[] = [];
    let owner = '';
    let current: SpanRecord | undefined = byId.get(start.parentSpanId);
    // At most spans.length steps: a longer walk can only be a cycle.
    for (let steps = 0; current !== undefined && steps <= spans.length; steps++) {
      const known = memo.get(current.spanId);
      if (known !== undefined) {
        owner = known;
        break;
      }
      if (requests.has(current.spanId)) {
        owner = current.spanId;
        break;
      }
      path.push(current.spanId);
      if (current.parentSpanId === '' || current.parentSpanId === current.spanId) break;
      current = byId.get(current.parentSpanId);
    }
    for (const id of path) memo.set(id, owner);
    return owner;
  };

  adoptDescendantRoutes(requestSpans, requests, spans, findOwner);

  // One per service: the queries of two processes whose request spans never came are no one request's.
  let orphans: Map<string, Request> | undefined;
  const orphanRequest = (s: SpanRecord): Request => {
    orphans ??= new Map();
    let request = orphans.get(s.service);
    if (request === undefined) orphans.set(s.service, (request = orphanRequestFor(s.traceId, s.service, s.startMs)));
    return request;
  };

  for (const s of spans) {
    const db = isDbSpan(s);
    const outKind = db ? null : outboundKindOf(s);
    if (!db && outKind === null) continue;
    if (requests.has(s.spanId)) continue; // a request span is never its own child
    if (taken.has(s.spanId) || (!db && dbIds.has(s.spanId))) {
      duplicates++;
      continue;
    }
    taken.add(s.spanId);
    const ownerId = findOwner(s);
    const request = ownerId === '' ? orphanRequest(s) : requests.get(ownerId);
    if (request === undefined) continue;
    if (db) {
      const dbSpan: DbSpan = {
        spanId: s.spanId,
        startMs: s.startMs,
        durationMs: s.endMs - s.startMs,
        system: s.dbSystem ?? '',
        statement: s.dbStatement ?? '',
      };
      if (s.location !== undefined) dbSpan.location = s.location;
      request.dbSpans.push(dbSpan);
    } else if (outKind !== null) {
      request.outbound.push(outboundCall(s, outKind));
    }
  }

  if (stats !== undefined) stats.duplicateSpans += duplicates;
  return withoutQueriesOutside(finishRequests(requests.values(), orphans?.values()), requestSpans, (r) => r.dbSpans.length, stats);
}

/** The outbound call a CLIENT/PRODUCER span stands for. */
export function outboundCall(s: SpanRecord, kind: OutboundKind): OutboundCall {
  return { spanId: s.spanId, name: s.name, kind, peer: s.peer ?? '', startMs: s.startMs, durationMs: s.endMs - s.startMs };
}

/** Final touches: the orphan requests' extents (after the others, in order of their first span), spans in start order. */
export function finishRequests(requests: Iterable<Request>, orphans: Iterable<Request> | undefined): Request[] {
  const result = [...requests];
  for (const orphan of orphans ?? []) {
    let first = Infinity;
    let last = -Infinity;
    for (const span of [...orphan.dbSpans, ...orphan.outbound]) {
      first = Math.min(first, span.startMs);
      last = Math.max(last, span.startMs + span.durationMs);
    }
    orphan.startMs = first;
    orphan.durationMs = last - first;
    result.push(orphan);
  }
  for (const r of result) {
    sortByStart(r.dbSpans);
    sortByStart(r.outbound);
  }
  return result;
}

/** The (still empty) request a request span opens. */
export function requestFor(s: SpanRecord): Request {
  const request: Request = {
    traceId: s.traceId,
    spanId: s.spanId,
    endpoint: endpointOf(s),
    service: s.service,
    startMs: s.startMs,
    durationMs: s.endMs - s.startMs,
    dbSpans: [],
    outbound: [],
  };
  if (s.httpTarget !== undefined) request.path = s.httpTarget;
  if (s.instance !== undefined) request.instance = s.instance;
  if (s.client !== undefined) request.client = s.client;
  if (s.httpStatus !== undefined) request.status = s.httpStatus;
  return request;
}

/** The synthetic request that gathers a service's DB and outbound spans whose request span never arrived. */
export function orphanRequestFor(traceId: string, service: string, startMs: number): Request {
  return { traceId, spanId: '', endpoint: NO_REQUEST_SPAN, service, startMs, durationMs: 0, dbSpans: [], outbound: [] };
}
