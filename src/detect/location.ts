/**
 * Where a finding's query is issued, across requests: per cascade, a small additive tally of the
 * locations seen (so rollups still merge by addition), from which reports take the most common.
 */
import { commentTags, lastCommentBody, sqlCommenterTags } from '../sql/sqlcommenter.js';
import type { CodeLocation } from './types.js';

/** Location key → the location and the requests it was seen in. */
export type LocationTally = Map<string, { location: CodeLocation; count: number }>;

/** Distinct locations kept per tally: a loop runs from a handful of places, not hundreds. */
export const MAX_DISTINCT = 8;

/** The fields joined by \u0001, an absent one as '' (as Array.join writes it), without an array per call. */
export function locationKey(l: CodeLocation): string {
  return `${l.file ?? ''}\u0001${l.line ?? ''}\u0001${l.function ?? ''}\u0001${l.template ?? ''}\u0001${l.templateLine ?? ''}\u0001${l.view ?? ''}`;
}

/** Adds `count` sightings of a location; a new location past `maxDistinct` is not kept. */
export function tallyLocation(tally: LocationTally, location: CodeLocation, count = 1, maxDistinct = MAX_DISTINCT): void {
  const key = locationKey(location);
  const seen = tally.get(key);
  if (seen !== undefined) seen.count += count;
  else if (tally.size < maxDistinct) tally.set(key, { location, count });
}

export function mergeTallies(into: LocationTally, from: LocationTally): void {
  for (const { location, count } of from.values()) tallyLocation(into, location, count);
}

/** The most common location; ties go to the smaller key, so the answer does not depend on order. */
export function mostCommonLocation(tally: LocationTally | undefined): CodeLocation | undefined {
  if (tally === undefined) return undefined;
  let best: { key: string; location: CodeLocation; count: number } | undefined;
  for (const [key, { location, count }] of tally) {
    if (best === undefined || count > best.count || (count === best.count && key < best.key)) best = { key, location, count };
  }
  return best?.location;
}

/**
 * The location of a group of executions in one request: the most common span location (they are
 * interned, so identity compares them), with the view from sqlcommenter's `controller` when the
 * spans do not name one. `locationAt` is undefined when no span of the request has a location.
 */
export function locationOfExecutions(
  locationAt: ((i: number) => CodeLocation | undefined) | undefined,
  statementAt: (i: number) => string,
  indices: readonly number[],
  controllerOf: ControllerOf = sqlCommenterController,
): CodeLocation | undefined {
  let best: CodeLocation | undefined;
  let bestCount = 0;
  let counts: Map<CodeLocation, number> | undefined;
  if (locationAt !== undefined) {
    for (const i of indices) {
      const location = locationAt(i);
      if (location === undefined) continue;
      if (best === undefined) {
        best = location;
        bestCount = 1;
        continue;
      }
      if (location === best && counts === undefined) {
        bestCount++;
        continue;
      }
      counts ??= new Map([[best, bestCount]]);
      const n = (counts.get(location) ?? 0) + 1;
      counts.set(location, n);
      if (n > bestCount) {
        best = location;
        bestCount = n;
      }
    }
  }
  if (best?.view !== undefined) return best;
  const controller = indices[0] === undefined ? undefined : controllerOf(statementAt(indices[0]));
  if (controller === undefined) return best;
  return best === undefined ? { view: controller } : { ...best, view: controller };
}

/**
 * The locations of a group of executions other than `main` (locationOfExecutions' answer), each once,
 * in the order they first ran: a query two loops run (two template lines) is issued from each.
 * Each takes `main`'s view when its span names none (sqlcommenter's, as locationOfExecutions gives
 * it). Undefined when there are none.
 */
export function otherLocationsOf(
  locationAt: ((i: number) => CodeLocation | undefined) | undefined,
  indices: readonly number[],
  main: CodeLocation | undefined,
): CodeLocation[] | undefined {
  if (locationAt === undefined) return undefined;
  const mainKey = main === undefined ? undefined : locationKey(main);
  let others: CodeLocation[] | undefined;
  let last: CodeLocation | undefined;
  for (const i of indices) {
    const location = locationAt(i);
    // Locations are interned: a loop's executions share one object, so most compare at once.
    if (location === undefined || location === last) continue;
    last = location;
    const place = location.view === undefined && main?.view !== undefined ? { ...location, view: main.view } : location;
    const key = locationKey(place);
    if (key !== mainKey && !others?.some((o) => locationKey(o) === key)) (others ??= []).push(place);
  }
  return others;
}

/** The sqlcommenter `controller` of a statement (its view), or undefined. */
export type ControllerOf = (statement: string) => string | undefined;

const sqlCommenterController: ControllerOf = (statement) => sqlCommenterTags(statement)?.controller;

/**
 * sqlCommenterController for the statements of one request, which share one comment (the same
 * traceparent): the comment read last is remembered, so its tags are parsed once per request
 * instead of once per fingerprint.
 */
export function requestControllerOf(): ControllerOf {
  let lastStatement: string | undefined;
  let lastBody: string | undefined;
  let lastController: string | undefined;
  return (statement) => {
    // The columns hand over a request's one interned comment: mostly the very string read last.
    if (statement === lastStatement) return lastController;
    // lastCommentBody's bounds, compared in place with the last body before any string is cut.
    const close = statement.lastIndexOf('*/');
    const open = close < 0 ? -1 : statement.lastIndexOf('/*', close);
    if (open < 0) return undefined;
    if (lastBody === undefined || close - open - 2 !== lastBody.length || !statement.startsWith(lastBody, open + 2)) {
      lastBody = lastCommentBody(statement)!;
      lastController = commentTags(lastBody)?.controller;
    }
    lastStatement = statement;
    return lastController;
  };
}
