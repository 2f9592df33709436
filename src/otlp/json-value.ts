/** The JSON object test every JSON trace reader (OTLP, Jaeger, Zipkin) shares. */
export type JsonObject = Record<string, unknown>;

/** A JSON object, not null and not an array. */
export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
