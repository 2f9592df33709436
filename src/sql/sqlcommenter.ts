/**
 * sqlcommenter's key-values, read from a statement's trailing comment before normalisation drops
 * it: `/*controller='dashboard',route='dashboard/',traceparent='00-…'*\/`. Values are URL-encoded;
 * Django's commenter also doubles `%` for the driver's paramstyle.
 */

/** The keys n1lens reads; others (traceparent, db_driver…) are ignored. */
export interface SqlCommenterTags {
  controller?: string;
  route?: string;
  framework?: string;
  app_name?: string;
  action?: string;
}

const KEYS = new Set<keyof SqlCommenterTags>(['controller', 'route', 'framework', 'app_name', 'action']);
const PAIR = /([A-Za-z_][\w.-]*)='((?:[^'\\]|\\.)*)'/g;

/** The tags of the statement's last block comment, or undefined when it has none of the keys above. */
export function sqlCommenterTags(statement: string): SqlCommenterTags | undefined {
  const body = lastCommentBody(statement);
  return body === undefined ? undefined : commentTags(body);
}

/** The text inside the statement's last block comment, or undefined when it has none. */
export function lastCommentBody(statement: string): string | undefined {
  const close = statement.lastIndexOf('*/');
  if (close < 0) return undefined;
  const open = statement.lastIndexOf('/*', close);
  if (open < 0) return undefined;
  return statement.slice(open + 2, close);
}

/** sqlCommenterTags of a comment's text. */
export function commentTags(body: string): SqlCommenterTags | undefined {
  let tags: SqlCommenterTags | undefined;
  // Each match read by index: destructuring it would walk an iterator per match (once per request).
  for (const match of body.matchAll(PAIR)) {
    const key = match[1] as keyof SqlCommenterTags;
    if (!KEYS.has(key)) continue;
    (tags ??= {})[key] = decode(match[2]!);
  }
  return tags;
}

function decode(raw: string): string {
  const text = raw.replace(/\\'/g, "'").replace(/%%/g, '%');
  try {
    return decodeURIComponent(text);
  } catch {
    return text; // not valid percent-encoding: keep it as written
  }
}
