/**
 * What a statement gives the detectors (its normalised form and whether it sets a connection up),
 * remembered by the statement's text apart from its sqlcommenter comment: the wire decoder interns
 * the text and splits the comment off, and every request's comment is new (its traceparent), so
 * without this each request's statements would be joined and hashed again before the normaliser's
 * own memo recognised them.
 */
import type { NormalizedSql } from '../sql/types.js';
import { connectionSetupOf, type ConnectionSetup } from './connections.js';

/** Normalises one raw statement in its span's db.system's dialect; callers pass a cached normaliser (sql/cache.ts). */
export type Normalizer = (statement: string, system?: string) => NormalizedSql;

/** What a statement gives the per-request pass (detect/request.ts). */
export interface StatementFacts {
  n: NormalizedSql;
  /** connectionSetupOf the whole statement. */
  setup: ConnectionSetup;
}

interface Entry extends StatementFacts {
  /** The comment `n` was read with. */
  comment: string;
  /** The db.system `n` was read in. */
  system: string | undefined;
  /**
   * The normaliser gave the same result object for this text with two different comments: its
   * prefix memo proved the comment inert (no token reaches into it), so any comment of the same
   * form gives that result too.
   */
  inert: boolean;
}

export interface StatementMemo {
  /** The facts of `text + comment` (comment '' when none was split off), read in `system`'s dialect. */
  facts(text: string, comment: string, normalize: Normalizer, system?: string): StatementFacts;
}

/**
 * Remembers up to `maxEntries` texts (the older half dropped when full, as the normaliser's memos
 * do). A text is reused with a new comment only once the normaliser itself showed, by returning
 * one result object for two comments, that it serves the text's result from its prefix memo
 * whatever the comment (sql/cache.ts): the answers are the normaliser's, without joining the
 * strings or hashing them. `maxStatementLength` is the normaliser's (longer statements are not
 * memoised there, so they are not reused here).
 */
export function createStatementMemo(maxEntries = 10_000, maxStatementLength = 16_384): StatementMemo {
  const entries = new Map<string, Entry>();
  // A request's statements share one comment (the decoder interns it): its form is read once.
  let lastComment = '';
  let lastInert = false;
  const inert = (comment: string): boolean => {
    if (comment !== lastComment) {
      lastComment = comment;
      lastInert = inertForm(comment);
    }
    return lastInert;
  };
  return {
    facts(text, comment, normalize, system) {
      let entry = entries.get(text);
      // The text read for another system (an app with two kinds of database): read again, and keep the new reading.
      if (entry !== undefined && entry.system !== system) entry = undefined;
      if (entry !== undefined) {
        if (entry.comment === comment) return entry;
        if (entry.inert && text.length + comment.length <= maxStatementLength && inert(comment)) return entry;
      }
      const whole = comment === '' ? text : text + comment;
      const n = normalize(whole, system);
      if (entry !== undefined && n === entry.n && !entry.inert) {
        // Two wholes, one result object: only the prefix memo hands one result to two texts, and it
        // does for exactly these forms (a trailing one-line comment, no `%(` before it).
        if (whole.length <= maxStatementLength && inert(comment) && inertForm(entry.comment) && !text.includes('%(')) entry.inert = true;
        return entry;
      }
      if (maxEntries <= 0) return { n, setup: connectionSetupOf(whole) };
      if (entry === undefined && entries.size >= maxEntries) dropOlderHalf(entries);
      const fresh: Entry = { n, setup: connectionSetupOf(whole), comment, system, inert: false };
      entries.set(text, fresh);
      return fresh;
    },
  };
}

/**
 * A comment the normaliser's prefix memo treats as trailing (sql/cache.ts's trailingCommentStart
 * finds it right after the text): one block comment, its only star-slash at its end, on one line.
 * The leading slash-star also keeps connectionSetupOf's match (anchored at the start) out of it.
 */
function inertForm(comment: string): boolean {
  const n = comment.length;
  return (
    n >= 4 &&
    comment.charCodeAt(0) === 47 &&
    comment.charCodeAt(1) === 42 &&
    comment.lastIndexOf('/*', n - 3) === 0 &&
    comment.indexOf('*/', 1) === n - 2 &&
    comment.indexOf('\n') < 0 &&
    comment.indexOf('\r') < 0
  );
}

function dropOlderHalf(map: Map<string, unknown>): void {
  let drop = Math.max(1, map.size >> 1);
  for (const key of map.keys()) {
    if (drop-- === 0) break;
    map.delete(key);
  }
}
