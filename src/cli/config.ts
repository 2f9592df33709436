/**
 * The project's n1lens settings: `n1lens.toml`, or `[tool.n1lens]` in `pyproject.toml`, found by
 * walking up from the working directory. Parsed with smol-toml, checked with zod; flags override it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { parse as parseToml, TomlError } from 'smol-toml';
import { z } from 'zod';
import { CliError } from './errors.js';

/**
 * The config file's schema, built when a file is read: zod schemas built at load cost every run
 * start-up time, and most runs have no config file.
 */
function configSchema() {
  const wholeNumber = z.int({ error: 'a whole number ≥ 0' }).min(0, { error: 'a whole number ≥ 0' });
  const nonNegative = z.number({ error: 'a number ≥ 0' }).min(0, { error: 'a number ≥ 0' });
  const share = z.number({ error: 'a number between 0 and 1' }).min(0, { error: 'a number between 0 and 1' }).max(1, { error: 'a number between 0 and 1' });
  const text = z.string({ error: 'a string' });
  const globs = z.array(z.string({ error: 'a string (a glob)' }), { error: 'an array of strings (globs)' });

  /** One endpoint glob's own budget: it replaces the global max-findings for the endpoints it matches. */
  const endpointBudget = z.strictObject({
    'max-findings': wholeNumber.optional(),
    'max-queries': wholeNumber.optional(),
    'max-wasted-ms': nonNegative.optional(),
  });

  return z.strictObject({
    'min-repeats': wholeNumber.optional(),
    'slow-ms': wholeNumber.optional(),
    'hot-share': share.optional(),
    'hot-min-requests': wholeNumber.optional(),
    'hot-min-per-day': wholeNumber.optional(),
    'fanout-min-calls': wholeNumber.optional(),
    'fanout-min-share': share.optional(),
    'max-findings': wholeNumber.optional(),
    'min-wasted-ms': nonNegative.optional(),
    schema: text.optional(),
    baseline: text.optional(),
    format: z.union([text, z.array(text)], { error: 'a string or an array of strings, e.g. ["terminal", "sarif=n1lens.sarif"]' }).optional(),
    ignore: z
      .strictObject({ endpoints: globs.optional(), tables: globs.optional() }, { error: 'a table with endpoints and tables (arrays of globs)' })
      .optional(),
    endpoints: z
      .record(z.string(), endpointBudget, { error: 'a table of endpoint globs, each with max-findings, max-queries or max-wasted-ms' })
      .optional(),
  });
}

export type ConfigFile = z.infer<ReturnType<typeof configSchema>>;

export interface LoadedConfig {
  /** The file it came from, for messages. */
  path: string;
  /** `tool.n1lens` in pyproject.toml, '' in n1lens.toml: prefixes key names in messages. */
  prefix: string;
  values: ConfigFile;
}

/** Keys that hold file paths, resolved against the config file's folder. */
const PATH_KEYS = ['schema', 'baseline'] as const;

const keyName = (path: readonly PropertyKey[]): string =>
  path.map((p, i) => (typeof p === 'number' ? `[${p}]` : /^[A-Za-z0-9_-]+$/.test(String(p)) ? `${i === 0 ? '' : '.'}${String(p)}` : `${i === 0 ? '' : '.'}"${String(p)}"`)).join('');

function problem(file: string, prefix: string, issues: z.core.$ZodIssue[]): string {
  const issue = issues[0]!;
  const at = (path: readonly PropertyKey[]) => [prefix, keyName(path)].filter((s) => s !== '').join('.');
  if (issue.code === 'unrecognized_keys') {
    return `${file}: unknown key ${at([...issue.path, issue.keys[0]!])}`;
  }
  return `${file}: ${at(issue.path)} must be ${issue.message}`;
}

/** Parses and checks one config file's text; `pyproject` reads only its `[tool.n1lens]` table (undefined when absent). */
export function parseConfig(source: string, path: string, pyproject: boolean): LoadedConfig | undefined {
  const rel = relative(process.cwd(), path);
  const shown = rel === '' || rel.startsWith('..') ? path : rel;
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(source) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof TomlError) throw new CliError(`${shown}:${e.line}:${e.column}: not valid TOML: ${e.message.split('\n')[0]}`);
    throw e;
  }
  const prefix = pyproject ? 'tool.n1lens' : '';
  const table = pyproject ? (doc.tool as Record<string, unknown> | undefined)?.n1lens : doc;
  if (table === undefined) return undefined;
  const parsed = configSchema().safeParse(table);
  if (!parsed.success) throw new CliError(problem(shown, prefix, parsed.error.issues));
  const values = { ...parsed.data };
  const base = dirname(path);
  for (const key of PATH_KEYS) if (values[key] !== undefined) values[key] = resolve(base, values[key]);
  if (values.format !== undefined) values.format = [values.format].flat().map((f) => resolveFormatFile(f, base));
  return { path, prefix, values };
}

/** `sarif=out.sarif` written in a config file names a file beside that config. */
function resolveFormatFile(spec: string, base: string): string {
  const eq = spec.indexOf('=');
  return eq < 0 ? spec : `${spec.slice(0, eq)}=${resolve(base, spec.slice(eq + 1))}`;
}

/** Reads the file named by `--config`, or the nearest n1lens.toml / pyproject.toml with [tool.n1lens] from `cwd` up. */
export function loadConfig(explicit: string | undefined, cwd = process.cwd()): LoadedConfig | undefined {
  if (explicit !== undefined) {
    if (!existsSync(explicit)) throw new CliError(`${explicit}: no such config file`);
    return parseConfig(readFileSync(explicit, 'utf8'), resolve(explicit), explicit.endsWith('pyproject.toml'));
  }
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const own = join(dir, 'n1lens.toml');
    if (existsSync(own)) return parseConfig(readFileSync(own, 'utf8'), own, false);
    const pyproject = join(dir, 'pyproject.toml');
    if (existsSync(pyproject)) {
      const found = parseConfig(readFileSync(pyproject, 'utf8'), pyproject, true);
      if (found !== undefined) return found;
    }
    if (dirname(dir) === dir) return undefined;
  }
}

const camel = (key: string): string => key.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());

/**
 * Copies config values into the command's options wherever the option still holds its default:
 * a flag given on the command line always wins. `ignore` and `endpoints` have no flag and are
 * returned as they are.
 */
export function applyConfig(command: Command, config: LoadedConfig | undefined): Pick<ConfigFile, 'ignore' | 'endpoints'> {
  if (config === undefined) return {};
  const { ignore, endpoints, ...flags } = config.values;
  for (const [key, value] of Object.entries(flags)) {
    const name = camel(key);
    const source = command.getOptionValueSource(name);
    if (source === 'cli' || source === 'env') continue;
    command.setOptionValueWithSource(name, value, 'config');
  }
  return { ...(ignore === undefined ? {} : { ignore }), ...(endpoints === undefined ? {} : { endpoints }) };
}
