import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { Report } from '../src/report/model.js';
import { root, runBinSync, tempDir } from './support.js';

const fixture = join(root, 'src/otlp/testdata/django-sqlite-stable-semconv.otlp.pb');
const fixtureOld = join(root, 'src/otlp/testdata/django-sqlite-old-semconv.jsonl');
const dir = tempDir('cli');

const run = (args: string[], input?: Buffer | string, bin = 'n1-report') => runBinSync(args, { bin, ...(input === undefined ? {} : { input }) });

describe('n1-report', () => {
  it('prints a ranked terminal report and exits 1 when N+1 findings exceed the default budget', () => {
    const r = run([fixture]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^n1lens · 4 requests · 315 DB queries/);
    expect(r.stdout).toMatch(/1\. GET dashboard\//);
    expect(r.stdout).toContain("Application.objects.select_related('candidate', 'job__company', 'status')");
    expect(r.stdout).not.toMatch(/\u001b\[/); // NO_COLOR
    for (const line of r.stdout.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
  });

  it('prints exactly the DESIGN JSON shape', () => {
    const r = run([fixture, '--format', 'json']);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.n1lensReport).toBe(1);
    expect(Object.keys(report.summary)).toEqual(['requests', 'dbSpans', 'findings', 'wastedMs']);
    const e = report.endpoints[0]!;
    expect(e).toMatchObject({ endpoint: 'GET dashboard/', requests: 1, queriesPerRequest: { p50: 303, max: 303 } });
    const f = e.findings[0]!;
    for (const key of ['kind', 'operation', 'table', 'fingerprint', 'sql', 'repeatsPerRequest', 'requestsAffected', 'wastedMs', 'trigger', 'chain', 'suggestion', 'exampleTraceId']) {
      expect(f).toHaveProperty(key);
    }
    expect(f.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(f.exampleTraceId).toMatch(/^[0-9a-f]{32}$/);
    expect(f.sql).not.toMatch(/'[^']*'|\b\d{2,}\b(?! LIMIT)/);
  });

  it('prints GitHub-flavoured Markdown', () => {
    const r = run([fixture, '-f', 'markdown']);
    expect(r.stdout).toMatch(/^## n1lens report/);
    expect(r.stdout).toContain('| 1 | `GET dashboard/` | 1 | 303 |');
    expect(r.stdout).toContain('```python');
  });

  it('exits 0 within budget, or when the endpoint filter leaves no finding', () => {
    expect(run([fixture, '--max-findings', '6']).code).toBe(0);
    const r = run([fixture, '--endpoint', 'GET dashboard/optimised*', '-f', 'json']);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as Report).endpoints.map((e) => e.endpoint)).toEqual(['GET dashboard/optimised/']);
  });

  it('reads several files, gzip and standard input', () => {
    const gz = join(dir, 'x.gz');
    writeFileSync(gz, gzipSync(readFileSync(fixtureOld)));
    const both = JSON.parse(run([fixture, gz, '-f', 'json']).stdout) as Report;
    expect(both.summary.requests).toBe(8);
    const stdin = JSON.parse(run(['-', '-f', 'json'], readFileSync(fixture)).stdout) as Report;
    expect(stdin.summary.requests).toBe(4);
  });

  it('refuses standard input named twice with one line and exit 2: it can be read only once', () => {
    const message = '- (standard input) is given more than once; it can be read only once\n';
    const report = run(['-', fixture, '-', '-f', 'json'], readFileSync(fixture));
    expect(report).toEqual({ code: 2, stdout: '', stderr: `n1-report: ${message}` });
    const digest = run(['digest', '-', '-', '--dry-run'], readFileSync(fixture), 'n1lens');
    expect(digest).toEqual({ code: 2, stdout: '', stderr: `n1lens: ${message}` });
  });

  it('gives one clear line and exit 2 for corrupt, truncated, empty and missing files, with nothing on stdout', () => {
    const truncated = join(dir, 'truncated.jsonl');
    writeFileSync(truncated, readFileSync(fixtureOld, 'utf8').slice(0, 5000));
    const corrupt = join(dir, 'corrupt.pb');
    writeFileSync(corrupt, Buffer.from([0, 0, 0, 9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
    const empty = join(dir, 'empty.jsonl');
    writeFileSync(empty, '');
    for (const file of [truncated, corrupt, empty, join(dir, 'missing.jsonl')]) {
      const r = run([file, '-f', 'json']);
      expect(r.code, file).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(file);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('reads OTLP JSON written with the pre-1.0 instrumentationLibrarySpans as its scopeSpans form (--jobs too), and refuses spans under an unknown name', () => {
    const rename = (from: RegExp, to: string) => readFileSync(fixtureOld, 'utf8').replace(from, to);
    const old = join(dir, 'instrumentation-library.jsonl');
    writeFileSync(old, rename(/"scopeSpans":/g, '"instrumentationLibrarySpans":').replace(/"scope":/g, '"instrumentationLibrary":'));
    const expected = run([fixtureOld, '-f', 'json']);
    expect((JSON.parse(expected.stdout) as Report).summary.findings).toBeGreaterThan(0);
    expect(run([old, '-f', 'json'])).toEqual(expected);
    const jobs = spawnSync(process.execPath, [join(root, 'bin/n1-report.js'), old, '-f', 'json', '--jobs', '2'], { env: { ...process.env, N1LENS_JOBS_MIN_BYTES: '0' }, encoding: 'utf8' });
    expect(jobs.stdout).toBe(expected.stdout);
    const unknown = join(dir, 'unknown-name.jsonl');
    writeFileSync(unknown, rename(/"scopeSpans":/g, '"ScopeSpans":'));
    const r = run([unknown, '-f', 'json']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^n1-report: .*unknown-name\.jsonl: line 1: resourceSpans\[0\]\.ScopeSpans holds spans under a name OTLP does not have \(expected "scopeSpans"\)[^\n]*\n$/);
  });

  it('leaves queries with no span above them out of the endpoints, counted once in the summary (a test database\'s set-up), --jobs too', () => {
    // What `n1lens capture -- python manage.py test` records: the runner's set-up statements each a
    // trace with no parent span, and a test's span with its own queries (an N+1) below it.
    const lines: string[] = [];
    const at = (ms: number): string => String(1_700_000_000_000_000_000n + BigInt(ms) * 1_000_000n);
    const query = (traceId: string, spanId: string, parentSpanId: string, sql: string, ms: number) => ({
      traceId, spanId, ...(parentSpanId === '' ? {} : { parentSpanId }), name: sql.split(' ')[0]!, kind: 3,
      startTimeUnixNano: at(ms), endTimeUnixNano: at(ms + 1), attributes: [{ key: 'db.system', value: { stringValue: 'sqlite' } }, { key: 'db.statement', value: { stringValue: sql } }],
    });
    const resource = { attributes: [{ key: 'service.name', value: { stringValue: 'recruit' } }] };
    const setUp = ['CREATE TABLE "recruit_job" ("id" integer)', 'PRAGMA foreign_keys = 0', 'BEGIN', 'INSERT INTO "django_migrations" ("app") VALUES (\'recruit\')', 'SELECT "django_migrations"."app" FROM "django_migrations"'];
    for (let i = 0; i < 40; i++) {
      const traceId = (i + 1).toString(16).padStart(32, '0');
      lines.push(JSON.stringify({ resourceSpans: [{ resource, scopeSpans: [{ scope: { name: 'opentelemetry.instrumentation.sqlite3' }, spans: [query(traceId, (i + 1).toString(16).padStart(16, '0'), '', setUp[i % setUp.length]!, i)] }] }] }));
    }
    const testTrace = 'f'.repeat(32);
    const testSpan = { traceId: testTrace, spanId: 'f'.repeat(16), name: 'test tests/test_jobs.py::JobsTests::test_reads_companies', kind: 1, startTimeUnixNano: at(100), endTimeUnixNano: at(200), attributes: [] };
    const body = [query(testTrace, 'e'.repeat(16), testSpan.spanId, 'SELECT "recruit_job"."id", "recruit_job"."company_id" FROM "recruit_job"', 101)];
    for (let k = 1; k <= 6; k++) body.push(query(testTrace, `e${k}`.padEnd(16, '0'), testSpan.spanId, `SELECT "recruit_company"."id" FROM "recruit_company" WHERE "recruit_company"."id" = ${k} LIMIT 21`, 101 + k * 2));
    lines.push(JSON.stringify({ resourceSpans: [{ resource, scopeSpans: [{ scope: { name: 'opentelemetry.instrumentation.sqlite3' }, spans: body }, { scope: { name: 'n1lens_django.testing' }, spans: [testSpan] }] }] }));
    const file = join(dir, 'manage-py-test.jsonl');
    writeFileSync(file, lines.join('\n') + '\n');

    const r = run([file, '--test-suite', '-f', 'json']);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.endpoints.map((e) => [e.endpoint, e.requests, e.findings.map((f) => f.table)])).toEqual([
      ['test tests/test_jobs.py::JobsTests::test_reads_companies', 1, ['recruit_company']],
    ]);
    expect(report.summary).toMatchObject({ requests: 1, dbSpans: 7, queriesOutsideRequests: 40 });
    const jobs = spawnSync(process.execPath, [join(root, 'bin/n1-report.js'), file, '--test-suite', '-f', 'json', '--jobs', '2'], { env: { ...process.env, N1LENS_JOBS_MIN_BYTES: '0' }, encoding: 'utf8' });
    expect(jobs.stdout).toBe(r.stdout);
    const terminal = run([file, '--test-suite']).stdout;
    expect(terminal).toMatch(/^n1lens · 1 requests · 7 DB queries · 1 findings · /);
    expect(terminal.split('\n').slice(1, 3)).toEqual(["queries outside any request or test left out: 40 (no span above them: a test", "database's set-up, migrations, a script)"]);
    expect(terminal).not.toMatch(/^\d+\. (CREATE|PRAGMA|BEGIN|INSERT|SELECT)\b/m);
  });

  it('exits 2 on usage errors', () => {
    expect(run([]).code).toBe(2);
    expect(run([fixture, '--format', 'xml']).code).toBe(2);
    expect(run([fixture, '--min-repeats', 'many']).code).toBe(2);
  });

  it('rejects --min-repeats below 2 with one line: one execution is no loop', () => {
    for (const value of ['0', '1']) {
      const r = run([fixture, '--min-repeats', value]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain('--min-repeats must be a whole number ≥ 2');
    }
    expect(run([fixture, '--min-repeats', '2']).code).toBe(1);
  });

  it('reports a file given twice exactly as once, for every fixture and the bundled recording', () => {
    const fixtures = [
      ...readdirSync(join(root, 'src/otlp/testdata'))
        .filter((name) => /\.(jsonl|pb|binpb|json)$/.test(name))
        .map((name) => join(root, 'src/otlp/testdata', name)),
      join(root, 'samples/traces/recruit.jsonl.gz'),
    ];
    expect(fixtures.length).toBeGreaterThan(10);
    for (const file of fixtures) {
      const once = run([file, '-f', 'json']);
      const twice = run([file, file, '-f', 'json']);
      expect(once.code, `${file}: ${once.stderr}`).not.toBe(2);
      expect(twice.code, file).toBe(once.code);
      expect(twice.stdout, file).toBe(once.stdout);
    }
  }, 240_000);

  it('takes --ignore-sql patterns and --min-share, and refuses a bad pattern with exit 2', () => {
    const all = JSON.parse(run([fixture, '--format', 'json', '--ignore-sql', 'FROM "recruit_candidate"']).stdout) as Report;
    expect(all.summary.frameworkQueriesDropped?.byRule.user_pattern).toBeGreaterThanOrEqual(50);
    expect(all.endpoints[0]!.findings.some((f) => f.table === 'recruit_candidate')).toBe(false);
    const bad = run([fixture, '--ignore-sql', '(']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/"\(" is not a regular expression/);
    expect(run([fixture, '--min-share', '2']).code).toBe(2);
  });

  it('is the same command as `n1lens report`', () => {
    const a = run([fixture, '-f', 'json']);
    const b = run(['report', fixture, '-f', 'json'], undefined, 'n1lens');
    expect(b.code).toBe(a.code);
    expect(b.stdout).toBe(a.stdout);
  });
});

describe('colour', () => {
  /** The terminal report into a pipe with this environment (no NO_COLOR, FORCE_COLOR or CI from the test run's own). */
  const report = (env: NodeJS.ProcessEnv): string => {
    const r = spawnSync(process.execPath, [join(root, 'bin/n1-report.js'), fixture], { env: { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, CI: undefined, ...env }, encoding: 'utf8' });
    expect(r.stderr).toBe(''); // no warning from Node either
    return r.stdout;
  };
  const coloured = /\u001b\[/;

  it('follows FORCE_COLOR and NO_COLOR as Node documents them, and colours no pipe or file by itself, on CI neither', () => {
    expect(report({})).not.toMatch(coloured);
    expect(report({ CI: 'true' })).not.toMatch(coloured);
    expect(report({ FORCE_COLOR: '0' })).not.toMatch(coloured);
    expect(report({ FORCE_COLOR: '1' })).toMatch(coloured);
    expect(report({ FORCE_COLOR: '1', NO_COLOR: '1' })).toMatch(coloured);
  });
});

describe('standard output closed by its reader (| head)', () => {
  const sample = join(root, 'samples/traces/recruit.jsonl.gz');
  /** Runs `command | reader` in bash; the writer's status (PIPESTATUS[0]) and stderr. */
  function piped(command: string[], reader: string) {
    const quoted = command.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const r = spawnSync('bash', ['-c', `${quoted} | ${reader}; exit "\${PIPESTATUS[0]}"`], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: undefined } });
    return { code: r.status, stderr: r.stderr };
  }

  it("ends quietly with the run's own exit code: a gate under pipefail keeps its verdict", () => {
    // The HTML report is far more than a pipe holds, so the reader is gone while it is written.
    const over = piped([process.execPath, join(root, 'bin/n1-report.js'), '-f', 'html', sample], 'head -c 1 >/dev/null');
    expect(over.stderr).toBe('');
    expect(over.code).toBe(1);
    const within = piped([process.execPath, join(root, 'bin/n1-report.js'), '-f', 'html', '--max-findings', '1000', sample], 'head -c 1 >/dev/null');
    expect(within.stderr).toBe('');
    expect(within.code).toBe(0);
  });

  it('holds for every command that writes standard output (n1lens diff)', () => {
    const json = join(dir, 'epipe-report.json');
    writeFileSync(json, run([fixture, '-f', 'json']).stdout);
    for (let i = 0; i < 3; i++) {
      const r = piped([process.execPath, join(root, 'bin/n1lens.js'), 'diff', json, json], 'true');
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
  });
});
