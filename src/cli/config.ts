/**
 * The project's n1lens settings: `n1lens.toml`, or `[tool.n1lens]` in `pyproject.toml`, found by
 * walking up from the working directory. Parsed with smol-toml; its keys are the command's long flags,
 * each value checked by that flag's own parser (plus the `ignore` and `endpoints` tables, checked
 * with zod). Flags given on the command line override it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { InvalidArgumentError, type Command, type Option } from 'commander';
import { parse as parseToml, TomlError } from 'smol-toml';
import { z } from 'zod';
import { CliError } from './errors.js';
import { fileError } from './output-files.js';

/**
 * The schema of the tables that have no flag (`ignore`, `endpoints`), built when a file is read: zod
 * schemas built at load cost every run start-up time, and most runs have no config file. Every other
 * key is a long flag, checked by that flag's own parser (applyConfig).
 */
function tablesSchema() {
  const wholeNumber = z.int({ error: 'a whole number ≥ 0' }).min(0, { error: 'a whole number ≥ 0' });
  const nonNegative = z.number({ error: 'a number ≥ 0' }).min(0, { error: 'a number ≥ 0' });
  const globs = z.array(z.string({ error: 'a string (a glob)' }), { error: 'an array of strings (globs)' });

  /** One endpoint glob's own budget: it replaces the global max-findings for the endpoints it matches. */
  const endpointBudget = z.strictObject({
    'max-findings': wholeNumber.optional(),
    'max-queries': wholeNumber.optional(),
    'max-wasted-ms': nonNegative.optional(),
  });

  return z.object({
    ignore: z
      .strictObject({ endpoints: globs.optional(), tables: globs.optional() }, { error: 'a table with endpoints and tables (arrays of globs)' })
      .optional(),
    endpoints: z
      .record(z.string(), endpointBudget, { error: 'a table of endpoint globs, each with max-findings, max-queries or max-wasted-ms' })
      .optional(),
  });
}

/** The tables without a flag, checked; every other key holds a flag's value as the file gives it. */
export type ConfigFile = z.infer<ReturnType<typeof tablesSchema>> & Record<string, unknown>;

export interface LoadedConfig {
  /** The file it came from. */
  path: string;
  /** The file as messages name it: relative to the working directory when under it. */
  shown: string;
  /** `tool.n1lens` in pyproject.toml, '' in n1lens.toml: prefixes key names in messages. */
  prefix: string;
  values: ConfigFile;
}

/** Keys that hold file paths, resolved against the config file's folder (`format`'s `=FILE` too). */
const PATH_KEYS = ['schema', 'baseline', 'write-baseline', 'out', 'db', 'repo-root', 'base-dir'];

/**
 * `n1lens capture`'s own flags: capture takes most report flags and these, and one file serves both
 * commands, so the report commands pass these keys over instead of refusing them as unknown
 * (config.test.ts checks the list against capture's flags; capture passes the report's own over).
 */
export const CAPTURE_KEYS: readonly string[] = ['out', 'protocol', 'settle-ms'];

/** Flags that are no config key: the file itself, and the ones that print and exit. */
const NOT_KEYS = new Set(['--config', '--help', '--version']);

const keyName = (path: readonly PropertyKey[]): string =>
  path.map((p, i) => (typeof p === 'number' ? `[${p}]` : /^[A-Za-z0-9_-]+$/.test(String(p)) ? `${i === 0 ? '' : '.'}${String(p)}` : `${i === 0 ? '' : '.'}"${String(p)}"`)).join('');

const keyAt = (prefix: string, path: readonly PropertyKey[]): string => [prefix, keyName(path)].filter((s) => s !== '').join('.');

function problem(file: string, prefix: string, issues: z.core.$ZodIssue[]): string {
  const issue = issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    return `${file}: unknown key ${keyAt(prefix, [...issue.path, issue.keys[0]!])}`;
  }
  return `${file}: ${keyAt(prefix, issue.path)} must be ${issue.message}`;
}

const isTable = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);

/**
 * Parses one config file's text and checks its `ignore` and `endpoints` tables (flag keys are checked
 * against the command, by applyConfig); `pyproject` reads only its `[tool.n1lens]` table, undefined
 * when absent.
 */
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
  const tool = doc.tool;
  const table = pyproject ? (isTable(tool) ? tool.n1lens : undefined) : doc;
  if (table === undefined) return undefined;
  if (!isTable(table)) throw new CliError(`${shown}: ${prefix} must be a table`);
  const parsed = tablesSchema().safeParse(table);
  if (!parsed.success) throw new CliError(problem(shown, prefix, parsed.error.issues));
  const values: ConfigFile = { ...table, ...parsed.data };
  for (const key of ['ignore', 'endpoints'] as const) if (values[key] === undefined) delete values[key];
  const base = dirname(path);
  for (const key of PATH_KEYS) {
    const value = values[key];
    // A database URL (postgres://…) or :memory: is no path.
    if (typeof value === 'string' && value !== ':memory:' && !/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) values[key] = resolve(base, value);
  }
  const format = values.format;
  if (typeof format === 'string') values.format = resolveFormatFile(format, base);
  else if (Array.isArray(format)) values.format = format.map((f: unknown) => (typeof f === 'string' ? resolveFormatFile(f, base) : f));
  return { path, shown, prefix, values };
}

/** `sarif=out.sarif` written in a config file names a file beside that config. */
function resolveFormatFile(spec: string, base: string): string {
  const eq = spec.indexOf('=');
  return eq < 0 ? spec : `${spec.slice(0, eq)}=${resolve(base, spec.slice(eq + 1))}`;
}

function readConfigFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw fileError(error, path, 'cannot read the config file');
  }
}

/** Reads the file named by `--config`, or the nearest n1lens.toml / pyproject.toml with [tool.n1lens] from `cwd` up. */
export function loadConfig(explicit: string | undefined, cwd = process.cwd()): LoadedConfig | undefined {
  if (explicit !== undefined) {
    if (!existsSync(explicit)) throw new CliError(`${explicit}: no such config file`);
    const pyproject = basename(explicit) === 'pyproject.toml';
    const config = parseConfig(readConfigFile(explicit), resolve(explicit), pyproject);
    // Named on purpose, a pyproject.toml without the table would otherwise be passed over without a word.
    if (config === undefined) throw new CliError(`${explicit}: no [tool.n1lens] table in it`);
    return config;
  }
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const own = join(dir, 'n1lens.toml');
    if (existsSync(own)) return parseConfig(readConfigFile(own), own, false);
    const pyproject = join(dir, 'pyproject.toml');
    if (existsSync(pyproject)) {
      const found = parseConfig(readConfigFile(pyproject), pyproject, true);
      if (found !== undefined) return found;
    }
    if (dirname(dir) === dir) return undefined;
  }
}

/** The command's option a config key names: every long flag is a key, spelled without its dashes. */
function optionFor(command: Command, key: string): Option | undefined {
  return command.options.find((o) => o.long === `--${key}` && !NOT_KEYS.has(o.long));
}

const typeOf = (value: unknown): string => (Array.isArray(value) ? 'an array' : value instanceof Date ? 'a date' : isTable(value) ? 'a table' : `a ${typeof value}`);

/**
 * A config value as the flag's own parser takes it, so that the file and the command line accept
 * the same values: a number or a string for a flag with a value (a number only where the flag
 * reads one, a string only where it reads text), an array of them where the flag is repeatable,
 * true or false for a flag without a value. Undefined leaves the option as it is (`no-color = false`).
 */
/** A TOML number as the decimal text a flag takes: String() writes 1e-8 for 0.00000001, which no flag reads. */
const decimalText = (n: number): string => n.toLocaleString('en-US', { useGrouping: false, maximumFractionDigits: 20 });

function configValue(option: Option, value: unknown, fail: (what: string) => CliError): unknown {
  if (option.negate || option.isBoolean()) {
    if (typeof value !== 'boolean') throw fail('must be true or false');
    return option.negate ? (value ? false : undefined) : value;
  }
  const parse = option.parseArg as ((value: string, previous: unknown) => unknown) | undefined;
  const items = Array.isArray(value) ? (value as unknown[]) : [value];
  let result: unknown = Array.isArray(option.defaultValue) ? [...(option.defaultValue as unknown[])] : undefined;
  for (const item of items) {
    if (typeof item !== 'string' && !(typeof item === 'number' && Number.isFinite(item))) {
      throw fail(`must be ${parse === undefined ? 'a string' : 'a number or a string'}${Array.isArray(value) ? ', in each place of its array' : ''}, not ${typeOf(item)}`);
    }
    if (parse === undefined) {
      if (typeof item !== 'string') throw fail(`must be a string, not ${typeOf(item)}`);
      result = item;
      continue;
    }
    try {
      result = parse(typeof item === 'number' ? decimalText(item) : item, result);
    } catch (e) {
      if (!(e instanceof InvalidArgumentError)) throw e;
      const message = e.message;
      throw fail(message.startsWith(`${option.long} `) ? message.slice(option.long!.length + 1) : `"${String(item)}": ${message}`);
    }
    const last = Array.isArray(result) ? (result as unknown[]).at(-1) : result;
    if (typeof item === 'string' && typeof last === 'number') throw fail(`must be a number, not a string ("${item}")`);
    if (typeof item === 'number' && typeof last !== 'number') throw fail(`must be a string, not a number`);
  }
  if (Array.isArray(value) && !Array.isArray(result)) throw fail(`must be one value, not an array (${option.long} is not repeatable)`);
  return result;
}

/**
 * Checks every key against the command (each long flag is one, checked by that flag's own parser)
 * and copies the values into the options wherever the option still holds its default: a flag given
 * on the command line always wins. `ignore` and `endpoints` have no flag and are returned as they are.
 * `othersKeys`: keys of the other commands that read the file, passed over.
 */
export function applyConfig(command: Command, config: LoadedConfig | undefined, othersKeys: readonly string[] = []): Pick<ConfigFile, 'ignore' | 'endpoints'> {
  if (config === undefined) return {};
  const { ignore, endpoints, ...flags } = config.values;
  for (const [key, value] of Object.entries(flags)) {
    const option = optionFor(command, key);
    const at = keyAt(config.prefix, [key]);
    // Another command's key (`othersKeys`): the file serves it too.
    if (option === undefined && othersKeys.includes(key)) continue;
    if (option === undefined) throw new CliError(`${config.shown}: unknown key ${at}`);
    // Checked even when a flag overrides it: the file is wrong either way.
    const parsed = configValue(option, value, (what) => new CliError(`${config.shown}: ${at} ${what}`));
    const name = option.attributeName();
    const source = command.getOptionValueSource(name);
    if (source === 'cli' || source === 'env' || parsed === undefined) continue;
    command.setOptionValueWithSource(name, parsed, 'config');
  }
  return { ...(ignore === undefined ? {} : { ignore }), ...(endpoints === undefined ? {} : { endpoints }) };
}
