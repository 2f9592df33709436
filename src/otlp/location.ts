/**
 * Where a span's code runs, from the attributes apps already send: OpenTelemetry's `code.*` (stable
 * and older names, `code.stacktrace`) and the `n1lens.*` ones n1lens_django's location processor
 * adds (view, template line, DRF serializer field, admin `list_display` entry).
 */
import type { CodeLocation } from '../detect/types.js';

/** The attribute keys read, in slot order: decoders store each value at its key's slot. */
export const LOCATION_KEYS = [
  'code.file.path',
  'code.filepath',
  'code.line.number',
  'code.lineno',
  'code.function.name',
  'code.function',
  'code.namespace',
  'code.stacktrace',
  'n1lens.view',
  'n1lens.template.path',
  'n1lens.template.line',
  'n1lens.drf.serializer',
  'n1lens.drf.field',
  'n1lens.drf.file',
  'n1lens.drf.line',
  'n1lens.admin.model_admin',
  'n1lens.admin.list_display',
  'n1lens.admin.file',
  'n1lens.admin.line',
] as const;

const FILE_PATH = 0;
const FILEPATH = 1;
const LINE_NUMBER = 2;
const LINENO = 3;
const FUNCTION_NAME = 4;
const FUNCTION = 5;
const NAMESPACE = 6;
const STACKTRACE = 7;
const VIEW = 8;
const TEMPLATE_PATH = 9;
const TEMPLATE_LINE = 10;
const DRF_SERIALIZER = 11;
const DRF_FIELD = 12;
const DRF_FILE = 13;
const DRF_LINE = 14;
const ADMIN_MODEL_ADMIN = 15;
const ADMIN_LIST_DISPLAY = 16;
const ADMIN_FILE = 17;
const ADMIN_LINE = 18;

/** The values read so far for one span, by slot; undefined where the key was absent. */
export type LocationParts = (string | undefined)[];

const SLOT = new Map<string, number>(LOCATION_KEYS.map((key, i) => [key, i]));

/** The slot of a location attribute key, or -1. */
export function locationSlot(key: string): number {
  return SLOT.get(key) ?? -1;
}

export function newLocationParts(): LocationParts {
  return new Array<string | undefined>(LOCATION_KEYS.length).fill(undefined);
}

/**
 * Locations are interned: the spans of one loop share one object, so a buffered span pays for a
 * reference, not a copy. Cleared when full: an app has a bounded number of places that query.
 */
const INTERN_MAX = 8192;
const interned = new Map<string, CodeLocation>();

/** The CodeLocation the parts describe (interned), or undefined when they say nothing usable. */
export function locationOf(parts: LocationParts): CodeLocation | undefined {
  const key = parts.join('\u0001');
  const known = interned.get(key);
  if (known !== undefined) return known;
  const location = build(parts);
  if (location === undefined) return undefined;
  if (interned.size >= INTERN_MAX) interned.clear();
  interned.set(key, location);
  return location;
}

function build(p: LocationParts): CodeLocation | undefined {
  let file = p[FILE_PATH] || p[FILEPATH];
  let line = lineNumber(p[LINE_NUMBER] ?? p[LINENO]);
  let fn = p[FUNCTION_NAME] || qualified(p[NAMESPACE], p[FUNCTION]);
  if (!file && p[STACKTRACE]) {
    const frame = innermostFrame(p[STACKTRACE]);
    file = frame.file;
    line = frame.line ?? line;
    fn ||= frame.fn;
  }

  // A DRF serializer field or an admin list_display entry is the code that has to change; an
  // application frame in that same file (a SerializerMethodField, an admin method) is more precise.
  // A member with no file of the app's (a library's serializer, the default ModelAdmin) names no
  // line to change: the application frame, when there is one, is the app's line.
  const framework = frameworkMember(p);
  if (framework !== undefined && (!file || (framework.file !== undefined && framework.file !== file))) {
    file = framework.file;
    line = framework.line;
    fn = framework.fn;
  }

  const location: CodeLocation = {};
  if (file) location.file = file;
  if (line !== undefined) location.line = line;
  if (fn) location.function = fn;
  if (p[TEMPLATE_PATH]) {
    location.template = p[TEMPLATE_PATH];
    const templateLine = lineNumber(p[TEMPLATE_LINE]);
    if (templateLine !== undefined) location.templateLine = templateLine;
  }
  if (p[VIEW]) location.view = p[VIEW];
  return Object.keys(location).length === 0 ? undefined : location;
}

function frameworkMember(p: LocationParts): { file: string | undefined; line: number | undefined; fn: string } | undefined {
  if (p[DRF_SERIALIZER]) {
    const fn = p[DRF_FIELD] ? `${p[DRF_SERIALIZER]}.${p[DRF_FIELD]}` : p[DRF_SERIALIZER];
    return { file: p[DRF_FILE] || undefined, line: lineNumber(p[DRF_LINE]), fn };
  }
  if (p[ADMIN_MODEL_ADMIN]) {
    const fn = p[ADMIN_LIST_DISPLAY] ? `${p[ADMIN_MODEL_ADMIN]}.${p[ADMIN_LIST_DISPLAY]}` : p[ADMIN_MODEL_ADMIN];
    return { file: p[ADMIN_FILE] || undefined, line: lineNumber(p[ADMIN_LINE]), fn };
  }
  return undefined;
}

function lineNumber(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

function qualified(namespace: string | undefined, fn: string | undefined): string | undefined {
  if (!fn) return undefined;
  return namespace && !fn.startsWith(`${namespace}.`) ? `${namespace}.${fn}` : fn;
}

const PYTHON_FRAME = /File "([^"]+)", line (\d+), in ([^\s]+)/g;
const AT_FRAME = /^\s*at (?:(\S+) \()?([^():\s]+):(\d+)(?::\d+)?\)?/m;

/** The innermost frame of a stack trace: Python's is its last `File …` line, others' their first `at …`. */
function innermostFrame(trace: string): { file?: string; line?: number; fn?: string } {
  let last: RegExpExecArray | null = null;
  for (const m of trace.matchAll(PYTHON_FRAME)) last = m;
  if (last !== null) return { file: last[1]!, line: lineNumber(last[2]), fn: last[3]! };
  const at = AT_FRAME.exec(trace);
  if (at !== null) return { file: at[2]!, line: lineNumber(at[3]), ...(at[1] ? { fn: at[1] } : {}) };
  return {};
}
