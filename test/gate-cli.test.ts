/** The pull-request gate through the real binary: baseline, config, several outputs, one-line errors. */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gitTopLevel } from '../src/cli/repo-root.js';
import type { Baseline } from '../src/report/baseline.js';
import type { Report } from '../src/report/model.js';
import { analyseRequest } from '../src/detect/request.js';
import { APPLICATIONS, DASHBOARD_ROW, loop, requestOf } from '../src/detect/testing.js';
import { createSqlNormalizer } from '../src/sql/index.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { root, runBinSync } from './support.js';

const fixture = join(root, 'src/otlp/testdata/django-sqlite-stable-semconv.otlp.pb');
const dir = mkdtempSync(join(tmpdir(), 'n1lens-gate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (args: string[], options: { cwd?: string; env?: Record<string, string> } = {}) =>
  runBinSync(args, { bin: 'n1lens', cwd: options.cwd ?? dir, env: { GITHUB_STEP_SUMMARY: '', ...options.env } });

describe('n1lens report as a CI gate', () => {
  it('passes after --write-baseline, fails on exactly the finding removed from it, and lists fixed entries', () => {
    const baseline = join(dir, 'baseline.json');
    const write = run(['report', fixture, '--write-baseline', baseline]);
    expect(write.code).toBe(0);
    expect(write.stderr).toBe(`n1lens: wrote 6 findings to the baseline ${baseline}\n`);
    const b = JSON.parse(readFileSync(baseline, 'utf8')) as Baseline;
    expect(b.findings).toHaveLength(6);

    const pass = run(['report', fixture, '--baseline', baseline]);
    expect(pass.code).toBe(0);
    expect(pass.stdout).toContain('✓ within budget: 0 new · 6 baselined · 0 fixed since · budget 0');

    const [removed, ...kept] = b.findings;
    const stale = { signature: 'ffffffffffffffff', endpoint: 'GET gone/', kind: 'n_plus_one', table: 'recruit_old' };
    writeFileSync(baseline, JSON.stringify({ n1lensBaseline: 1, findings: [...kept, stale] }));
    const fail = run(['report', fixture, '--baseline', baseline, '-f', 'json=' + join(dir, 'r.json'), '-f', 'terminal']);
    expect(fail.code).toBe(1);
    expect(fail.stdout).toContain('✗ over budget: 1 new · 5 baselined · 1 fixed since · budget 0');
    expect(fail.stdout).toContain(`signature ${removed!.signature}`);
    expect(fail.stdout.match(/^ {2}✗ /gm)).toHaveLength(1);
    expect(fail.stdout).toContain('✓ fixed: N+1 in GET gone/ on recruit_old');
    for (const line of fail.stdout.split('\n')) expect(line.length).toBeLessThanOrEqual(80);

    // Re-writing keeps the reason people wrote.
    writeFileSync(baseline, JSON.stringify({ n1lensBaseline: 1, findings: b.findings.map((e, i) => (i === 0 ? { ...e, reason: 'PERF-12', expires: '2099-01-01' } : e)) }));
    expect(run(['report', fixture, '--write-baseline', baseline]).code).toBe(0);
    expect((JSON.parse(readFileSync(baseline, 'utf8')) as Baseline).findings[0]).toMatchObject({ reason: 'PERF-12', expires: '2099-01-01' });
  });

  it('fails again on a baseline entry past its expires date', () => {
    const baseline = join(dir, 'expired.json');
    run(['report', fixture, '--write-baseline', baseline]);
    const b = JSON.parse(readFileSync(baseline, 'utf8')) as Baseline;
    b.findings[2]!.expires = '2020-01-01';
    writeFileSync(baseline, JSON.stringify(b));
    const r = run(['report', fixture, '--baseline', baseline]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('baseline entry expired on 2020-01-01');
  });

  it('writes sarif, junit, json and github outputs from one run, and the step summary', () => {
    const summary = join(dir, 'summary.md');
    const r = run(['report', fixture, '-f', 'github', '-f', `sarif=${join(dir, 'out/n1.sarif')}`, '-f', `junit=${join(dir, 'out/junit.xml')}`, '-f', `json=${join(dir, 'out/r.json')}`], {
      env: { GITHUB_STEP_SUMMARY: summary },
    });
    expect(r.code).toBe(1);
    expect(r.stdout.match(/^::error /gm)).toHaveLength(6);
    expect(JSON.parse(readFileSync(join(dir, 'out/n1.sarif'), 'utf8'))).toMatchObject({ version: '2.1.0' });
    expect(readFileSync(join(dir, 'out/junit.xml'), 'utf8')).toContain('failures="1"');
    expect(JSON.parse(readFileSync(join(dir, 'out/r.json'), 'utf8'))).toMatchObject({ n1lensReport: 1 });
    expect(readFileSync(summary, 'utf8')).toMatch(/^### ❌ n1lens: 6 new findings over budget/);
  });

  it('names SARIF and annotation files from the git top level when the Django project is in a subfolder', () => {
    // A checkout whose manage.py is in backend/: the recording names files from BASE_DIR (recruit/views.py).
    const checkout = join(dir, 'checkout');
    mkdirSync(join(checkout, '.git'), { recursive: true });
    mkdirSync(join(checkout, 'backend'), { recursive: true });
    const recording = join(root, 'samples/traces/recruit.jsonl.gz');
    const uris = (file: string): string[] =>
      (JSON.parse(readFileSync(file, 'utf8')) as { runs: { results: { locations: { physicalLocation: { artifactLocation: { uri: string } } }[] }[] }[] }).runs[0]!.results.map(
        (x) => x.locations[0]!.physicalLocation.artifactLocation.uri,
      );
    // Run in backend/ (as pytest runs beside manage.py): BASE_DIR is the working directory.
    const inside = run(['report', recording, '-f', 'sarif=out.sarif', '-f', 'github'], { cwd: join(checkout, 'backend') });
    expect(inside.code).toBe(1);
    const found = uris(join(checkout, 'backend/out.sarif'));
    expect(found.length).toBeGreaterThan(0);
    for (const uri of found) expect(uri).toMatch(/^backend\/recruit\//);
    for (const m of inside.stdout.matchAll(/^::error file=([^,]+),/gm)) expect(m[1]).toMatch(/^backend\/recruit\//);
    // Run at the top: --base-dir says where BASE_DIR is; --repo-root overrides the git top level.
    run(['report', recording, '-f', 'sarif=top.sarif', '--base-dir', 'backend'], { cwd: checkout });
    expect(uris(join(checkout, 'top.sarif'))).toEqual(found);
    run(['report', recording, '-f', 'sarif=root.sarif', '--repo-root', 'backend'], { cwd: join(checkout, 'backend') });
    for (const uri of uris(join(checkout, 'backend/root.sarif'))) expect(uri).toMatch(/^recruit\//);
  });

  it('names SARIF and annotation files from --base-dir outside any git repository, run from a folder below it', () => {
    // `cd tests && pytest --n1lens` in a project with no .git above it: the plugin passes --base-dir BASE_DIR.
    // The root defaulted to the working directory (tests/), so every file was outside it and left out.
    const project = join(dir, 'no-git', 'project');
    mkdirSync(join(project, 'tests'), { recursive: true });
    expect(gitTopLevel(project)).toBeUndefined();
    const recording = join(root, 'samples/traces/recruit.jsonl.gz');
    const r = run(['report', recording, '--base-dir', project, '-f', 'sarif=n1lens.sarif', '-f', 'github'], { cwd: join(project, 'tests') });
    expect(r.code).toBe(1);
    const results = (JSON.parse(readFileSync(join(project, 'tests/n1lens.sarif'), 'utf8')) as { runs: { results: { locations: { physicalLocation: { artifactLocation: { uri: string } } }[] }[] }[] }).runs[0]!.results;
    expect(results.length).toBeGreaterThan(0);
    for (const x of results) expect(x.locations[0]!.physicalLocation.artifactLocation.uri).toMatch(/^recruit\//);
    const files = [...r.stdout.matchAll(/^::error file=([^,]+),/gm)].map((m) => m[1]);
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) expect(file).toMatch(/^recruit\//);
  });

  it('under --test-suite has no hot_lookup in any output: terminal, json, sarif or baseline', () => {
    // The recruit recording's webhook repeats one candidate lookup in every call: a hot_lookup as traffic.
    const recording = join(root, 'samples/traces/recruit.jsonl.gz');
    const kinds = (file: string): string[] =>
      (JSON.parse(readFileSync(file, 'utf8')) as { endpoints: { findings: { kind: string }[] }[] }).endpoints.flatMap((e) => e.findings.map((f) => f.kind));
    const traffic = join(dir, 'traffic.json');
    run(['report', recording, '-f', `json=${traffic}`]);
    expect(kinds(traffic)).toContain('hot_lookup');

    const out = (name: string): string => join(dir, `suite-${name}`);
    const r = run(['report', recording, '--test-suite', '-f', 'terminal', '-f', `json=${out('r.json')}`, '-f', `sarif=${out('r.sarif')}`, '--write-baseline', out('baseline.json')]);
    expect(r.code).toBe(0);
    expect(kinds(out('r.json'))).not.toContain('hot_lookup');
    expect(kinds(out('r.json'))).toContain('n_plus_one');
    expect(r.stdout).not.toMatch(/hot lookup|hot_lookup/);
    // SARIF's rules list every kind; its results are the findings.
    const sarif = JSON.parse(readFileSync(out('r.sarif'), 'utf8')) as { runs: { results: { ruleId: string }[] }[] };
    expect(sarif.runs[0]!.results.map((x) => x.ruleId)).not.toContain('hot_lookup');
    expect((JSON.parse(readFileSync(out('baseline.json'), 'utf8')) as Baseline).findings.map((e) => e.kind)).not.toContain('hot_lookup');

    // A baseline written from production traffic keeps its hot_lookup entries through a test-suite run: not fixed, not dropped.
    const production = out('production-baseline.json');
    run(['report', recording, '--write-baseline', production]);
    const hot = (JSON.parse(readFileSync(production, 'utf8')) as Baseline).findings.filter((e) => e.kind === 'hot_lookup');
    expect(hot.length).toBeGreaterThan(0);
    const suite = run(['report', recording, '--test-suite', '--baseline', production, '--write-baseline', production]);
    expect(suite.stdout).not.toContain('fixed: ');
    expect((JSON.parse(readFileSync(production, 'utf8')) as Baseline).findings.filter((e) => e.kind === 'hot_lookup')).toEqual(hot);
  });

  it('appends the verdict to a step summary that is also a --format file, after that file is written', () => {
    const summary = join(dir, 'summary-and-markdown.md');
    writeFileSync(summary, 'previous step\n');
    const r = run(['report', fixture, '-f', 'github', '-f', `markdown=${summary}`], { env: { GITHUB_STEP_SUMMARY: summary } });
    expect(r.code).toBe(1);
    const text = readFileSync(summary, 'utf8');
    // The markdown report replaces the file; the verdict follows it.
    expect(text).not.toContain('previous step');
    expect(text).toMatch(/### ❌ n1lens: 6 new findings over budget/);
    expect(text.indexOf('### ❌ n1lens')).toBeGreaterThan(0);
  });

  it('takes its settings from n1lens.toml, and flags win', () => {
    const project = mkdtempSync(join(dir, 'proj-'));
    writeFileSync(join(project, 'n1lens.toml'), '[ignore]\ntables = ["recruit_c*", "recruit_status"]\n[endpoints."GET dashboard/"]\nmax-findings = 4\n');
    const r = run(['report', fixture, '-f', 'json'], { cwd: project });
    expect(r.code).toBe(0);
    const tables = (JSON.parse(r.stdout) as { endpoints: { findings: { table: string }[] }[] }).endpoints.flatMap((e) => e.findings.map((f) => f.table));
    expect(tables.sort()).toEqual(['recruit_interview', 'recruit_job', 'recruit_note']);
    expect(run(['report', fixture, '--min-repeats', '60'], { cwd: project }).code).toBe(0);
    expect(run(['report', fixture, '--ignore-table', 'none'], { cwd: project }).code).toBe(1);
    // No finding in the fixture wastes a second per request.
    const quiet = run(['report', fixture, '--ignore-table', 'none', '--min-wasted-ms', '1000', '-f', 'json'], { cwd: project });
    expect(quiet.code).toBe(0);
    expect((JSON.parse(quiet.stdout) as { summary: { findings: number } }).summary.findings).toBe(0);
  });

  it('one n1lens.toml serves file runs, pulls, store reports and capture: each leaves the keys of the others be', () => {
    const project = mkdtempSync(join(dir, 'proj-'));
    writeFileSync(
      join(project, 'n1lens.toml'),
      'limit = 5000\nallow-partial = true\nservice = "recruit"\nsince = "24h"\njobs = 1\nout = "capture.jsonl"\nsettle-ms = 50\nmin-repeats = 5\n',
    );
    const file = run(['report', fixture, '-f', 'json'], { cwd: project });
    expect(file.stderr).toBe('');
    expect(file.code).toBe(1);
    expect((JSON.parse(file.stdout) as { summary: { findings: number } }).summary.findings).toBeGreaterThan(0);
    // A pull flag typed where it does nothing is still refused.
    expect(run(['report', fixture, '--limit', '10'], { cwd: project }).stderr).toBe('n1lens: --limit applies to --from\n');
    const capture = run(['capture', '--', process.execPath, '-e', '0'], { cwd: project });
    expect(capture.stderr).not.toContain('unknown key');
    expect(capture.stderr).toMatch(/recording to .*capture\.jsonl/);
  });

  it('gives one clear line and exit 2 for a bad config, a bad baseline and a bad format', () => {
    const project = mkdtempSync(join(dir, 'bad-'));
    writeFileSync(join(project, 'pyproject.toml'), '[tool.n1lens]\nmax-findings = "none"\n');
    writeFileSync(join(project, 'b.json'), '{"n1lensBaseline": 1, "findings": [}');
    const cases: [string[], string][] = [
      [['report', fixture], 'n1lens: pyproject.toml: tool.n1lens.max-findings must be a whole number ≥ 0\n'],
      [['report', fixture, '--config', join(dir, 'nope.toml')], `n1lens: ${join(dir, 'nope.toml')}: no such config file\n`],
      // Each key is held to its flag's parser: --min-repeats 1 is refused, so is min-repeats = 1.
      [['report', fixture, '--config', join(project, 'one.toml')], 'n1lens: one.toml: min-repeats must be a whole number ≥ 2\n'],
      [['report', fixture, '--config', project], `n1lens: ${project}: cannot read the config file: it is a directory\n`],
    ];
    writeFileSync(join(project, 'one.toml'), 'min-repeats = 1\n');
    for (const [args, stderr] of cases) {
      const r = run(args, { cwd: project });
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(stderr);
      expect(r.stdout).toBe('');
    }
    writeFileSync(join(project, 'pyproject.toml'), '[project]\nname = "x"\n');
    const bad = run(['report', fixture, '--baseline', 'b.json'], { cwd: project });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^n1lens: b\.json: not a baseline file: invalid JSON \(.*\)\n$/);
    const missing = run(['report', fixture, '--baseline', 'none.json'], { cwd: project });
    expect(missing.stderr).toBe('n1lens: none.json: no such baseline file (write one with --write-baseline none.json)\n');
    const format = run(['report', fixture, '-f', 'xml'], { cwd: project });
    expect(format.code).toBe(2);
    expect(format.stderr).toMatch(/use one of terminal, markdown, json, sarif, github, junit, html/);
    const two = run(['report', fixture, '-f', 'json', '-f', 'sarif'], { cwd: project });
    expect(two.code).toBe(2);
    expect(two.stderr).toMatch(/^n1lens: only one --format can go to standard output/);
    expect(existsSync(join(project, '.n1lens'))).toBe(false);
  });

  it('gives one line and exit 2, with nothing printed, for an output or baseline it cannot write or read', () => {
    const folder = join(dir, 'a-directory');
    mkdirSync(folder, { recursive: true });
    const cases: [string[], string][] = [
      [['-f', 'terminal', '-f', `sarif=${folder}`], `${folder}: cannot write the sarif output: it is a directory`],
      [['--baseline', folder], `${folder}: cannot read the baseline: it is a directory`],
      [['--write-baseline', folder], `${folder}: cannot write the baseline: it is a directory`],
      [['-f', 'json=/dev/null/x'], '/dev/null/x: cannot write the json output: /dev/null is not a directory'],
      [['--write-baseline', '/dev/null/b.json', '-f', 'json'], '/dev/null/b.json: cannot write the baseline: /dev/null is not a directory'],
    ];
    for (const [args, message] of cases) {
      const r = run(['report', fixture, ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toBe(`n1lens: ${message}\n`);
      expect(r.stdout).toBe('');
    }
    // A step summary it cannot append to fails before any output is written.
    const summary = run(['report', fixture, '-f', 'github', '-f', `json=${join(dir, 'with-summary.json')}`], { env: { GITHUB_STEP_SUMMARY: folder } });
    expect(summary.code).toBe(2);
    expect(summary.stderr).toBe(`n1lens: ${folder}: cannot append the GitHub step summary (GITHUB_STEP_SUMMARY): it is a directory\n`);
    expect(summary.stdout).toBe('');
    expect(existsSync(join(dir, 'with-summary.json'))).toBe(false);
  });

  it('refuses a --write-baseline file that does not parse, and a step summary it cannot append to, before reading any trace', () => {
    const project = mkdtempSync(join(dir, 'up-front-'));
    writeFileSync(join(project, 'old.json'), '{"n1lensBaseline": 1, "findings": [}');
    const baseline = run(['report', 'missing.jsonl', '--write-baseline', 'old.json'], { cwd: project });
    expect(baseline.code).toBe(2);
    expect(baseline.stderr).toMatch(/^n1lens: old\.json: not a baseline file: invalid JSON \(.*\)\n$/);
    const summary = run(['report', 'missing.jsonl', '-f', 'github'], { cwd: project, env: { GITHUB_STEP_SUMMARY: project } });
    expect(summary.stderr).toBe(`n1lens: ${project}: cannot append the GitHub step summary (GITHUB_STEP_SUMMARY): it is a directory\n`);
  });

  it.skipIf(!existsSync('/dev/full'))('leaves the baseline, every output file and the step summary as they were when a write fails after the checks', () => {
    // /dev/full passes the check before the analysis (a writable file) and fails the write, as a full disk does.
    const project = mkdtempSync(join(dir, 'all-or-nothing-'));
    const before = { 'b.json': '{"n1lensBaseline": 1, "findings": []}\n', 'out.sarif': 'old sarif\n', 'summary.md': 'earlier step\n' };
    for (const [name, text] of Object.entries(before)) writeFileSync(join(project, name), text);
    const r = run(['report', fixture, '--write-baseline', 'b.json', '-f', 'sarif=out.sarif', '-f', 'github', '-f', 'json=/dev/full'], {
      cwd: project,
      env: { GITHUB_STEP_SUMMARY: join(project, 'summary.md') },
    });
    expect(r).toEqual({ code: 2, stdout: '', stderr: 'n1lens: /dev/full: cannot write the json output: no space left on the device\n' });
    // Nothing changed, and no temp file is left beside them.
    expect(Object.fromEntries(readdirSync(project).map((name) => [name, readFileSync(join(project, name), 'utf8')]))).toEqual(before);
  });

  it('n1lens diff compares two report files and exits 1 on a regression, 2 on a file that is not a report', () => {
    const before = join(dir, 'before.json');
    const after = join(dir, 'after.json');
    run(['report', fixture, '-f', `json=${before}`]);
    run(['report', fixture, '--ignore-table', 'recruit_*', '-f', `json=${after}`]);
    const fixed = run(['diff', before, after]);
    expect(fixed.code).toBe(0);
    expect(fixed.stdout).toMatch(/: 6 fixed · 0 new · 0 worse · 0 better\n/);
    const back = run(['diff', after, before, '-f', 'json']);
    expect(back.code).toBe(1);
    expect(JSON.parse(back.stdout)).toMatchObject({ totals: { new: 6 }, regression: true });
    writeFileSync(join(dir, 'not.json'), '{"hello": 1}');
    const bad = run(['diff', before, join(dir, 'not.json')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe(`n1lens: ${join(dir, 'not.json')}: not an n1lens report JSON (write one with n1-report --format json): n1lensReport does not fit\n`);
  });

  it('n1lens capture passes on the command\'s own failure, and says so when nothing was exported', () => {
    const r = run(['capture', '--out', join(dir, 'cap/none.jsonl'), '--settle-ms', '50', '--', process.execPath, '-e', 'process.exit(3)']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^n1lens capture: OTLP http\/protobuf on 127\.0\.0\.1:\d+, recording to .*none\.jsonl\n/);
    expect(r.stderr).toContain(`n1lens capture: ${process.execPath} exported no spans: set up the OpenTelemetry SDK`);
    const missing = run(['capture', '--settle-ms', '50', '--out', join(dir, 'cap/x.jsonl'), '--', 'no-such-command-n1lens']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/n1lens: no-such-command-n1lens: command not found\n$/);
  });

  it('n1lens capture checks the report flags before it runs the command, as n1-report does before the analysis', () => {
    const marker = join(dir, 'cap-ran');
    const folder = join(dir, 'cap-a-folder');
    mkdirSync(folder, { recursive: true });
    const cases: [string[], RegExp][] = [
      [['--baseline', 'typo.json'], /^n1lens: typo\.json: no such baseline file/],
      [['-f', 'terminal', '-f', `sarif=${folder}`], /^n1lens: .*cap-a-folder: cannot write the sarif output: it is a directory\n$/],
      [['--trace-url', 'https://jaeger.example/trace/'], /^n1lens: --trace-url/],
    ];
    for (const [flags, says] of cases) {
      const r = run(['capture', '--settle-ms', '50', '--out', join(dir, 'cap/checked.jsonl'), ...flags, '--', 'sh', '-c', `touch "${marker}"`]);
      expect(r.code, flags.join(' ')).toBe(2);
      expect(r.stderr).toMatch(says);
      // The (long) test suite was not run, and then its recording thrown away, for a typo in a flag.
      expect(existsSync(marker), flags.join(' ')).toBe(false);
    }
  });

  it('n1lens capture exits 128 + the signal that killed the command, as a shell does', () => {
    for (const [signal, code] of [['TERM', 143], ['KILL', 137], ['INT', 130]] as const) {
      const r = run(['capture', '--settle-ms', '50', '--out', join(dir, 'cap/signal.jsonl'), '--', 'sh', '-c', `kill -${signal} $$`]);
      expect(r.code, signal).toBe(code);
    }
  });
});

describe('a baseline judged in another scope than the one it was written in', () => {
  const entries = (file: string): Baseline['findings'] => (JSON.parse(readFileSync(file, 'utf8')) as Baseline).findings;

  it('calls no entry fixed that --min-wasted-ms left out, and a rewrite keeps them', () => {
    const baseline = join(dir, 'scope-min.json');
    expect(run(['report', fixture, '--write-baseline', baseline]).code).toBe(0);
    expect(entries(baseline)).toHaveLength(6);
    // Every loop wastes less than this per request: the run left them out, it did not see them gone.
    const narrow = run(['report', fixture, '--baseline', baseline, '--min-wasted-ms', '100000']);
    expect(narrow.code).toBe(0);
    expect(narrow.stdout).toContain('0 new · 0 baselined · 0 fixed since');
    expect(narrow.stdout).not.toContain('fixed: ');
    run(['report', fixture, '--baseline', baseline, '--min-wasted-ms', '100000', '--write-baseline', baseline]);
    expect(entries(baseline)).toHaveLength(6);
  });

  it('records --min-repeats, and calls no loop fixed that a run with a higher one did not look for', () => {
    const baseline = join(dir, 'scope-repeats.json');
    expect(run(['report', fixture, '--min-repeats', '4', '--write-baseline', baseline]).code).toBe(0);
    expect((JSON.parse(readFileSync(baseline, 'utf8')) as Baseline).scope).toEqual({ minRepeats: 4 });
    expect(entries(baseline)).toHaveLength(6);
    const higher = run(['report', fixture, '--baseline', baseline, '--min-repeats', '1000']);
    expect(higher.code).toBe(0);
    expect(higher.stdout).toContain('0 new · 0 baselined · 0 fixed since');
    expect(higher.stdout).toMatch(/--min-repeats: 4 in the baseline, 1000 in this run/);
    run(['report', fixture, '--baseline', baseline, '--min-repeats', '1000', '--write-baseline', baseline]);
    expect(entries(baseline)).toHaveLength(6);
  });

  it('calls findings the baseline\'s own scope left out neither new nor fixed, and says how the scopes differ', () => {
    const baseline = join(dir, 'scope-min-written.json');
    expect(run(['report', fixture, '--min-wasted-ms', '100000', '--write-baseline', baseline]).code).toBe(0);
    expect(entries(baseline)).toEqual([]);
    const wide = run(['report', fixture, '--baseline', baseline]);
    expect(wide.code).toBe(0);
    expect(wide.stdout).toContain('✓ within budget: 0 new');
    expect(wide.stdout).toMatch(/6 outside the baseline's scope/);
    expect(wide.stdout).toMatch(/--min-wasted-ms: 100000 in the baseline, 0 in this run/);
    for (const line of wide.stdout.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
    // The same run with the baseline's scope judges as usual, and says nothing of scopes.
    const same = run(['report', fixture, '--baseline', baseline, '--min-wasted-ms', '100000']);
    expect(same.stdout).not.toMatch(/scope/);
  });
});

describe('a store report (--db) narrowed by its flags', () => {
  it('--service and --ignore-table narrow it, and a slice of the services calls no other service\'s entry fixed', async () => {
    const db = join(dir, 'services.db');
    const store = SqliteStore.open(db);
    const normalize = createSqlNormalizer();
    const startMs = Date.now() - 10 * 60_000;
    const requests = [
      ...[1, 2, 3].map((i) => ({ ...requestOf('GET dashboard/', [APPLICATIONS, ...loop(8, ...DASHBOARD_ROW)], { traceId: i.toString(16).padStart(32, '0'), startMs }), service: 'web' })),
      ...[4, 5, 6].map((i) => ({ ...requestOf('GET admin/applications/', [APPLICATIONS, ...loop(8, DASHBOARD_ROW[0]!)], { traceId: i.toString(16).padStart(32, '0'), startMs }), service: 'admin' })),
    ];
    await store.record(requests.map((r) => analyseRequest(r, normalize)));
    await store.close();
    const json = (...flags: string[]): Report => JSON.parse(run(['report', '--db', db, '-f', 'json', '--max-findings', '100', ...flags]).stdout) as Report;

    expect(json().endpoints.map((e) => e.service).sort()).toEqual(['admin', 'web']);
    expect(json('--service', 'web').endpoints.map((e) => e.service)).toEqual(['web']);
    const tables = (r: Report) => r.endpoints.flatMap((e) => e.findings.map((f) => f.table));
    expect(tables(json())).toContain('recruit_candidate');
    expect(tables(json('--ignore-table', 'recruit_candidate'))).not.toContain('recruit_candidate');

    const baseline = join(dir, 'services-baseline.json');
    expect(run(['report', '--db', db, '--write-baseline', baseline]).code).toBe(0);
    const all = (JSON.parse(readFileSync(baseline, 'utf8')) as Baseline).findings;
    expect(all.some((e) => e.endpoint === 'GET admin/applications/')).toBe(true);
    const web = run(['report', '--db', db, '--service', 'web', '--baseline', baseline, '--max-findings', '100']);
    expect(web.stdout).toContain('0 fixed since');
    run(['report', '--db', db, '--service', 'web', '--baseline', baseline, '--write-baseline', baseline]);
    expect((JSON.parse(readFileSync(baseline, 'utf8')) as Baseline).findings).toEqual(all);
  });
});
