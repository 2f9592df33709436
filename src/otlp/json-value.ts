/** JSON values as the trace readers see them: the object test they share, and writing such values back as text. */
export type JsonObject = Record<string, unknown>;

/** A JSON object, not null and not an array. */
export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * JSON.stringify of a value JSON.parse made, or one built of such values. JSON.stringify recurses,
 * JSON.parse does not: a value nested some thousands deep that json.ts accepts (in a field it
 * ignores) overflows the stack in JSON.stringify, and is written by jsonTextDeep instead.
 */
export function jsonText(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    return jsonTextDeep(value);
  }
}

/** JSON.stringify's text for JSON.parse's values (objects, arrays, strings, numbers, booleans, null), with a stack of its own for the nesting. */
export function jsonTextDeep(root: unknown): string {
  const parts: string[] = [];
  /** The containers being written: each one's keys (undefined for an array), and the index of its next member. */
  const open: { of: JsonObject | unknown[]; keys: string[] | undefined; next: number }[] = [];
  let value = root;
  for (;;) {
    if (Array.isArray(value)) {
      parts.push('[');
      open.push({ of: value, keys: undefined, next: 0 });
    } else if (isObject(value)) {
      const object = value;
      parts.push('{');
      open.push({ of: object, keys: Object.keys(object).filter((key) => object[key] !== undefined), next: 0 });
    } else parts.push(value === undefined ? 'null' : JSON.stringify(value));
    // The next member to write, closing the containers that have none left.
    for (;;) {
      const top = open.at(-1);
      if (top === undefined) return parts.join('');
      const { of, keys } = top;
      const i = top.next;
      if (i === (keys === undefined ? of.length : keys.length)) {
        parts.push(keys === undefined ? ']' : '}');
        open.pop();
        continue;
      }
      top.next++;
      if (i > 0) parts.push(',');
      if (keys === undefined) value = (of as unknown[])[i];
      else {
        parts.push(JSON.stringify(keys[i]), ':');
        value = (of as JsonObject)[keys[i]!];
      }
      break;
    }
  }
}
