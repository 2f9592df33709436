/** Names what a JSON value that is not trace data looks like, for the one-line error a wrong file gets. */

const KNOWN_KEYS: readonly [key: string, looksLike: string][] = [
  ['resourceMetrics', 'an OTLP metrics export'],
  ['resource_metrics', 'an OTLP metrics export'],
  ['resourceLogs', 'an OTLP logs export'],
  ['resource_logs', 'an OTLP logs export'],
  ['resourceProfiles', 'an OTLP profiles export'],
  ['n1lensReport', 'an n1lens report (the output of n1-report --format json)'],
  ['n1lensSchema', 'an n1lens Django schema file (give it with --schema)'],
  ['traceEvents', 'a Chrome trace-event file'],
  ['traces', 'a Tempo search response (trace ids only, no spans)'],
];

function keyList(keys: readonly string[]): string {
  const shown = keys.slice(0, 4).map((k) => JSON.stringify(k)).join(', ');
  return keys.length > 4 ? `${shown}, …` : shown;
}

/**
 * What a top-level JSON object looks like, from its keys: e.g. `an OTLP metrics export` or
 * `a JSON object with keys "foo"`.
 */
export function describeObjectKeys(keys: readonly string[]): string {
  for (const [key, looksLike] of KNOWN_KEYS) if (keys.includes(key)) return looksLike;
  if (keys.length === 0) return 'an empty JSON object';
  return `a JSON object with key${keys.length === 1 ? '' : 's'} ${keyList(keys)}`;
}

/** What a JSON value looks like: an object by its keys, anything else by its type. */
export function describeJsonValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return value.length === 0 ? 'an empty JSON array' : `a JSON array of ${describeJsonValue(value[0]).replace(/^an? /, '')}s`;
  if (typeof value === 'object') return describeObjectKeys(Object.keys(value));
  if (typeof value === 'string') return 'a JSON string';
  return `a JSON ${typeof value}`;
}

/** The one-line complaint: what the input is (`this looks like …`, `element 3 … is …`) and what n1lens reads instead. */
export function notTraceData(what: string): string {
  return `not trace data (${what}); n1lens reads OTLP (JSON or protobuf), Jaeger JSON and Zipkin v2 JSON traces: see README`;
}
