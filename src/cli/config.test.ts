import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CliError } from './errors.js';
import { CAPTURE_KEYS, loadConfig } from './config.js';
import { captureCommand } from './capture.js';
import { endpointDetectOptions } from './detector-options.js';
import { reportCommand, resolveReportOptions } from './report.js';

const dir = mkdtempSync(join(tmpdir(), 'n1lens-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function project(name: string, files: Record<string, string>): string {
  const root = join(dir, name);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

/** The one-line error the report command gives for this config file (named with --config), its folder left out. */
function configError(file: string): string {
  const command = reportCommand();
  try {
    command.parseOptions(['--config', file]);
    resolveReportOptions(command);
  } catch (e) {
    expect(e).toBeInstanceOf(CliError);
    expect((e as CliError).exitCode).toBe(2);
    expect((e as Error).message).not.toContain('\n');
    return (e as Error).message.replace(`${dirname(file)}/`, '');
  }
  throw new Error('expected a config error');
}

/** The report options a config file with this text gives (the flags after it on the command line). */
function optionsFrom(toml: string, args: string[] = []) {
  const root = project(`options-${Math.random().toString(36).slice(2)}`, { 'n1lens.toml': toml });
  const command = reportCommand();
  command.parseOptions(['--config', join(root, 'n1lens.toml'), ...args]);
  return resolveReportOptions(command);
}

const toml = (name: string, text: string, file = 'n1lens.toml'): string => join(project(name, { [file]: text }), file);

describe('config file', () => {
  it('finds n1lens.toml upwards from the working directory and resolves its paths beside it', () => {
    const root = project('upwards', {
      'n1lens.toml': 'min-repeats = 3\nschema = "schema.json"\nformat = ["terminal", "sarif=out/n1lens.sarif"]\n[ignore]\ntables = ["django_*"]\n[endpoints."GET dashboard/*"]\nmax-queries = 20\n',
      'app/deep/x.txt': '',
    });
    const c = loadConfig(undefined, join(root, 'app/deep'))!;
    expect(c.path).toBe(join(root, 'n1lens.toml'));
    expect(c.values).toEqual({
      'min-repeats': 3,
      schema: join(root, 'schema.json'),
      format: ['terminal', `sarif=${join(root, 'out/n1lens.sarif')}`],
      ignore: { tables: ['django_*'] },
      endpoints: { 'GET dashboard/*': { 'max-queries': 20 } },
    });
  });

  it('reads [tool.n1lens] from pyproject.toml, and passes over a pyproject without it', () => {
    const root = project('pyproject', {
      'pyproject.toml': '[project]\nname = "shop"\n[tool.n1lens]\nmax-findings = 2\n[tool.n1lens.ignore]\nendpoints = ["GET health/"]\n',
      'sub/pyproject.toml': '[project]\nname = "inner"\n',
    });
    const c = loadConfig(undefined, join(root, 'sub'))!;
    expect(c.path).toBe(join(root, 'pyproject.toml'));
    expect(c.values).toEqual({ 'max-findings': 2, ignore: { endpoints: ['GET health/'] } });
  });

  it('serves n1-report and capture alike: capture\'s own keys are passed over by the report, any other unknown key refused', () => {
    const reportFlags = new Set(reportCommand().options.map((o) => o.long));
    const captureOwn = captureCommand().options.map((o) => o.long!).filter((long) => !reportFlags.has(long)).map((long) => long.slice(2));
    expect([...CAPTURE_KEYS].sort()).toEqual(captureOwn.sort());
    const options = optionsFrom('out = "capture.jsonl"\nprotocol = "grpc"\nsettle-ms = 800\nmin-repeats = 3\n');
    expect(options.minRepeats).toBe(3);
    expect(configError(toml('capture-and-typo', 'settle-ms = 800\nsettle-msx = 1\n'))).toBe('n1lens.toml: unknown key settle-msx');
  });

  it('refuses unknown keys and wrong types with one line naming the file, the key and the type', () => {
    expect(configError(toml('unknown', 'min-repeat = 3\n'))).toBe('n1lens.toml: unknown key min-repeat');
    expect(configError(toml('type', 'min-repeats = "3"\n'))).toBe('n1lens.toml: min-repeats must be a number, not a string ("3")');
    expect(configError(toml('nested', '[tool.n1lens.ignore]\ntables = "django_session"\n', 'pyproject.toml'))).toBe(
      'pyproject.toml: tool.n1lens.ignore.tables must be an array of strings (globs)',
    );
    expect(configError(toml('budget', '[endpoints."GET a/"]\nmax-queries = -1\n'))).toBe('n1lens.toml: endpoints."GET a/".max-queries must be a whole number ≥ 0');
    expect(configError(toml('budget-key', '[endpoints."GET a/"]\nmax_queries = 1\n'))).toBe('n1lens.toml: unknown key endpoints."GET a/".max_queries');
    expect(configError(toml('share', 'hot-share = 2\n'))).toBe('n1lens.toml: hot-share must be a share between 0 and 1');
    expect(configError(toml('py-type', '[tool.n1lens]\nmax-findings = "none"\n', 'pyproject.toml'))).toBe('pyproject.toml: tool.n1lens.max-findings must be a whole number ≥ 0');
    expect(configError(toml('toml', 'min-repeats = [1,\n'))).toMatch(/^n1lens\.toml:2:1: not valid TOML: /);
    expect(configError(join(dir, 'missing.toml'))).toBe('missing.toml: no such config file');
  });

  it('takes a fraction of a millisecond and a small share from the file as their flags take them', () => {
    // min-wasted-ms took fractions in config files before the flag's parser checked them; TOML's 1e-8
    // is written 1e-8 by String(), which no flag reads.
    expect(optionsFrom('min-wasted-ms = 2.5\nhot-share = 0.00000001\n')).toMatchObject({ minWastedMs: 2.5, hotShare: 1e-8 });
    expect(optionsFrom('', ['--min-wasted-ms', '0.5'])).toMatchObject({ minWastedMs: 0.5 });
  });

  it('holds each key to its flag\'s own parser: what the flag refuses, the file refuses', () => {
    // The flag refuses 1 (one execution is no loop); the file once took it, and every query became a cascade.
    expect(configError(toml('repeats', 'min-repeats = 1\n'))).toBe('n1lens.toml: min-repeats must be a whole number ≥ 2');
    expect(configError(toml('wasted', 'min-wasted-ms = -1.5\n'))).toBe('n1lens.toml: min-wasted-ms must be a number ≥ 0');
    expect(configError(toml('jobs', 'jobs = 0\n'))).toBe('n1lens.toml: jobs must be a whole number ≥ 1');
    expect(configError(toml('format', 'format = ["xml"]\n'))).toMatch(/^n1lens\.toml: format "xml": use one of terminal, /);
    expect(configError(toml('regex', 'ignore-sql = ["("]\n'))).toMatch(/^n1lens\.toml: ignore-sql "\(": "\(" is not a regular expression/);
    expect(configError(toml('single', 'min-repeats = [3]\n'))).toBe('n1lens.toml: min-repeats must be one value, not an array (--min-repeats is not repeatable)');
    expect(configError(toml('text', 'schema = 3\n'))).toBe('n1lens.toml: schema must be a string, not a number');
    expect(configError(toml('bool', 'test-suite = "yes"\n'))).toBe('n1lens.toml: test-suite must be true or false');
    expect(configError(toml('config', 'config = "other.toml"\n'))).toBe('n1lens.toml: unknown key config');
  });

  it('takes every long flag of the command as a key, as the README says', () => {
    const o = optionsFrom(
      'min-share = 0.25\nignore-sql = ["FROM \\"django_session\\""]\ndb-max-connections = 400\nendpoint = "GET dashboard/*"\njobs = 2\n' +
        'test-suite = true\nno-color = true\nignore-table = ["a_*"]\n[ignore]\ntables = ["b_*"]\n',
    );
    expect(o).toMatchObject({ minShare: 0.25, ignoreSql: ['FROM "django_session"'], dbMaxConnections: 400, endpoint: 'GET dashboard/*', jobs: 2, testSuite: true, color: false });
    // --test-suite from the file lowers the default --min-repeats as the flag does.
    expect(o.minRepeats).toBe(3);
    // The file's ignore-table key and its [ignore] table add up; a flag replaces both.
    expect(o.ignoreTable).toEqual(['a_*', 'b_*']);
    expect(optionsFrom('ignore-table = ["a_*"]\n[ignore]\ntables = ["b_*"]\n', ['--ignore-table', 'c']).ignoreTable).toEqual(['c']);
    // A repeatable flag's key takes one string as well as an array; `no-color = false` leaves detection on.
    expect(optionsFrom('format = "json"\nno-color = false\n')).toMatchObject({ format: [{ format: 'json' }], color: undefined });
    // Paths are relative to the file, a database URL is not a path.
    expect(optionsFrom('write-baseline = "b.json"\n').writeBaseline).toMatch(/^\/.*\/b\.json$/);
    expect(optionsFrom('db = "postgres://u@h/n1lens"\n').db).toBe('postgres://u@h/n1lens');
  });

  it('says in one line when --config names a file it cannot read, or a pyproject.toml without [tool.n1lens]', () => {
    const folder = join(dir, 'a-folder.toml');
    mkdirSync(folder, { recursive: true });
    expect(configError(folder)).toBe('a-folder.toml: cannot read the config file: it is a directory');
    expect(configError(toml('no-table', '[project]\nname = "shop"\n', 'pyproject.toml'))).toBe('pyproject.toml: no [tool.n1lens] table in it');
  });

  it('lets flags win over the file, and the file win over defaults', () => {
    const root = project('precedence', { 'n1lens.toml': 'min-repeats = 4\nmax-findings = 2\nformat = "json"\n[ignore]\ntables = ["a_*"]\n' });
    const parse = (args: string[]) => {
      const command = reportCommand();
      command.parseOptions(['--config', join(root, 'n1lens.toml'), ...args]);
      return resolveReportOptions(command);
    };
    expect(parse([])).toMatchObject({ minRepeats: 4, maxFindings: 2, format: [{ format: 'json' }], ignoreTable: ['a_*'], slowMs: 100 });
    expect(parse(['--min-repeats', '7', '-f', 'markdown', '--ignore-table', 'b'])).toMatchObject({ minRepeats: 7, maxFindings: 2, format: [{ format: 'markdown' }], ignoreTable: ['b'] });
    // --test-suite lowers the default, but not what the file or a flag says.
    expect(parse(['--test-suite'])).toMatchObject({ minRepeats: 4 });
    const bare = reportCommand();
    bare.parseOptions(['--test-suite', '--config', join(project('empty', { 'n1lens.toml': '' }), 'n1lens.toml')]);
    expect(resolveReportOptions(bare)).toMatchObject({ minRepeats: 3 });
    // ... and turns warm-up off in the detectors the report is built with.
    expect(endpointDetectOptions(resolveReportOptions(bare))).toMatchObject({ testSuite: true });
    expect(endpointDetectOptions(parse([]))).not.toHaveProperty('testSuite');
  });
});
