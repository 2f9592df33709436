import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { root, runBinSync, tempDir } from './support.js';
import type { Report } from '../src/report/model.js';

// The bundled recording: PostgreSQL, CONN_MAX_AGE=0 (Django's default), one runserver process.
const sample = join(root, 'samples/traces/recruit.jsonl.gz');
const sampleSchema = join(root, 'samples/traces/recruit-schema.json');
const dir = tempDir('conn-cli');

const run = (args: string[], bin = 'n1-report') => runBinSync(args, { bin });

describe('connection_pressure and dead views from the command line', () => {
  it('names a connection per request on the bundled recording, in every format, without touching the budget', () => {
    const json = run([sample, '-f', 'json', '--max-findings', '1000']);
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as Report;
    const pressure = report.serviceFindings?.find((f) => f.kind === 'connection_pressure');
    expect(pressure?.connectionPressure).toMatchObject({ processes: 1, peakConnections: 1, newConnectionShare: 1, reasons: ['connection_per_request'] });
    expect(pressure?.suggestion).toMatchObject({ method: 'manual', path: 'CONN_MAX_AGE' });
    expect(pressure?.suggestion.code).toContain('CONN_HEALTH_CHECKS');

    const terminal = run([sample, '--max-findings', '1000']).stdout;
    expect(terminal).toContain('Connections and dead views (not counted in the budget)');
    expect(terminal).toMatch(/connections\s+recruit/);
    for (const line of terminal.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
    expect(run([sample, '-f', 'markdown', '--max-findings', '1000']).stdout).toContain('### Connections and dead views');
  });

  it('with --db-max-connections, a fleet near the limit gets PgBouncer (share of N at peak)', () => {
    // One connection at peak against max_connections 2: 50%, the pressure share.
    const r = run([sample, '-f', 'json', '--max-findings', '1000', '--db-max-connections', '2']);
    const pressure = (JSON.parse(r.stdout) as Report).serviceFindings?.find((f) => f.kind === 'connection_pressure');
    expect(pressure?.connectionPressure).toMatchObject({ maxConnections: 2, maxConnectionsAssumed: false, shareOfMax: 0.5 });
    expect(pressure?.suggestion.path).toBe('PgBouncer (transaction mode)');
    expect(pressure?.suggestion.code).toContain('pool_mode = transaction');
    expect(pressure?.suggestion.code).toContain('"DISABLE_SERVER_SIDE_CURSORS": True');
    expect(pressure?.suggestion.note).toMatch(/advisory locks/);
  });

  it('offline, lists routes not seen in the file only with --list-unseen', () => {
    const schema = JSON.parse(readFileSync(sampleSchema, 'utf8')) as Record<string, unknown>;
    const withUrls = join(dir, 'schema.json');
    writeFileSync(
      withUrls,
      JSON.stringify({
        ...schema,
        urls: [
          { route: 'dashboard/', view: 'recruit.views.dashboard' },
          { route: 'reports/legacy-export/', view: 'recruit.views.legacy_export', file: 'recruit/views.py', line: 105 },
        ],
      }),
    );
    const plain = JSON.parse(run([sample, '-f', 'json', '--schema', withUrls, '--max-findings', '1000']).stdout) as Report;
    expect(plain.serviceFindings?.some((f) => f.kind === 'dead_view')).toBe(false);
    const listed = JSON.parse(run([sample, '-f', 'json', '--schema', withUrls, '--list-unseen', '--max-findings', '1000']).stdout) as Report;
    const views = listed.serviceFindings?.filter((f) => f.kind === 'dead_view') ?? [];
    expect(views.map((v) => [v.subject, v.deadView?.status])).toEqual([['reports/legacy-export/', 'unseen_in_file']]);
    expect(views[0]?.location).toEqual({ view: 'recruit.views.legacy_export', file: 'recruit/views.py', line: 105 });
    expect(run([sample, '--schema', withUrls, '--list-unseen', '--max-findings', '1000']).stdout).toContain('not seen in this file');
  });

  it('never tells a pull request to remove a route only because its test traffic missed it', () => {
    // A view unseen in one trace file is not dead (the note says so): no output may tell to remove it.
    const schema = JSON.parse(readFileSync(sampleSchema, 'utf8')) as Record<string, unknown>;
    const withUrls = join(dir, 'schema-sarif.json');
    writeFileSync(withUrls, JSON.stringify({ ...schema, urls: [{ route: 'reports/legacy-export/', view: 'recruit.views.legacy_export', file: 'samples/recruit/recruit/views.py', line: 1 }] }));
    const sarif = JSON.parse(run([sample, '-f', 'sarif', '--schema', withUrls, '--list-unseen', '--max-findings', '1000']).stdout) as {
      runs: { results: { ruleId: string; message: { text: string; markdown: string } }[]; tool: { driver: { rules: { id: string; help: { text: string } }[] } } }[];
    };
    const [result] = sarif.runs[0]!.results.filter((r) => r.ruleId === 'dead_view');
    expect(result?.message.text).toMatch(/not seen/);
    expect(`${result?.message.text} ${result?.message.markdown}`).not.toMatch(/remove|delete/i);
    const rule = sarif.runs[0]!.tool.driver.rules.find((r) => r.id === 'dead_view');
    expect(rule?.help.text).toMatch(/not seen in a trace file/);
    const json = JSON.parse(run([sample, '-f', 'json', '--schema', withUrls, '--list-unseen', '--max-findings', '1000']).stdout) as Report;
    expect(json.serviceFindings?.find((f) => f.kind === 'dead_view')?.suggestion.code).not.toMatch(/remove/);
  });

  it('gives one clear line and exit 2 for misuse', () => {
    // A schema file written before the URLconf export.
    const { urls: _urls, ...modelsOnly } = JSON.parse(readFileSync(sampleSchema, 'utf8')) as Record<string, unknown>;
    const oldSchema = join(dir, 'old-schema.json');
    writeFileSync(oldSchema, JSON.stringify(modelsOnly));
    const cases: [string[], RegExp][] = [
      [[sample, '--dead-after', '90d'], /--dead-after applies to --db: a trace file covers too little time/],
      [[sample, '--list-unseen', '--schema', oldSchema], /--list-unseen needs --schema with the URLconf/],
      [['--db', join(dir, 'missing.db')], /no such store/],
      [[sample, '--db', join(dir, 'missing.db')], /give trace files, --from or --db: one source at a time/],
      [[sample, '--db-max-connections', '0'], /--db-max-connections must be a whole number ≥ 1/],
    ];
    for (const [args, message] of cases) {
      const r = run(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe('');
    }
  });
});
