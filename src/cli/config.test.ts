import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CliError } from './errors.js';
import { loadConfig } from './config.js';
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

function configError(root: string, file?: string): string {
  try {
    loadConfig(file, root);
  } catch (e) {
    expect(e).toBeInstanceOf(CliError);
    expect((e as CliError).exitCode).toBe(2);
    expect((e as Error).message).not.toContain('\n');
    return (e as Error).message.replace(`${root}/`, '');
  }
  throw new Error('expected a config error');
}

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

  it('refuses unknown keys and wrong types with one line naming the file, the key and the type', () => {
    expect(configError(project('unknown', { 'n1lens.toml': 'min-repeat = 3\n' }))).toBe('n1lens.toml: unknown key min-repeat');
    expect(configError(project('type', { 'n1lens.toml': 'min-repeats = "3"\n' }))).toBe('n1lens.toml: min-repeats must be a whole number ≥ 0');
    expect(configError(project('nested', { 'pyproject.toml': '[tool.n1lens.ignore]\ntables = "django_session"\n' }))).toBe(
      'pyproject.toml: tool.n1lens.ignore.tables must be an array of strings (globs)',
    );
    expect(configError(project('budget', { 'n1lens.toml': '[endpoints."GET a/"]\nmax-queries = -1\n' }))).toBe('n1lens.toml: endpoints."GET a/".max-queries must be a whole number ≥ 0');
    expect(configError(project('budget-key', { 'n1lens.toml': '[endpoints."GET a/"]\nmax_queries = 1\n' }))).toBe('n1lens.toml: unknown key endpoints."GET a/".max_queries');
    expect(configError(project('share', { 'n1lens.toml': 'hot-share = 2\n' }))).toBe('n1lens.toml: hot-share must be a number between 0 and 1');
    expect(configError(project('toml', { 'n1lens.toml': 'min-repeats = [1,\n' }))).toMatch(/^n1lens\.toml:2:1: not valid TOML: /);
    expect(configError(dir, join(dir, 'missing.toml'))).toMatch(/missing\.toml: no such config file$/);
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
