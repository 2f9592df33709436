/** analyseFiles, n1-report's reading of trace files on one thread. */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { tempDir } from '../../test/support.js';
import { analyseRequest } from '../detect/request.js';
import { APPLICATIONS, DASHBOARD_ROW, loop, requestOf } from '../detect/testing.js';
import { buildReport } from '../report/model.js';
import { createSqlNormalizer } from '../sql/index.js';
import { SqliteStore } from '../store/sqlite.js';
import { analyseFiles, reportCommand } from './report.js';

// belowMinWasted runs detection again over every rollup: counted, to see which runs ask it.
const counted = vi.hoisted(() => ({ belowMinWasted: 0 }));
vi.mock('../report/index.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../report/index.js')>();
  return {
    ...actual,
    belowMinWasted: (...args: Parameters<typeof actual.belowMinWasted>) => {
      counted.belowMinWasted++;
      return actual.belowMinWasted(...args);
    },
  };
});

const fixture = new URL('../otlp/testdata/django-sqlite-old-semconv.jsonl', import.meta.url).pathname;
/** The fixture's JSON lines with other trace ids (each reversed, then marked), so that they are other requests. */
const withOtherTraces = (mark: string): string =>
  readFileSync(fixture, 'utf8').replace(/"traceId":"([0-9a-f]{32})"/g, (_all, id: string) => `"traceId":"${mark}${[...id].reverse().join('').slice(1)}"`);

afterEach(() => vi.restoreAllMocks());

describe('analyseFiles', () => {
  it('reads each file as it was when the run started, however it grows while the files before it are read, as --jobs N does', async () => {
    const requests = buildReport((await analyseFiles([fixture], {})).rollups.values()).summary.requests;
    expect(requests).toBeGreaterThan(0);
    const growing = join(tempDir('report-growing'), 'growing.jsonl');
    writeFileSync(growing, readFileSync(fixture));
    // Standard input, read first, grows the second file by as many other requests before it ends.
    async function* stdin(): AsyncGenerator<Buffer> {
      yield Buffer.from(withOtherTraces('a'));
      appendFileSync(growing, withOtherTraces('b'));
    }
    vi.spyOn(process, 'stdin', 'get').mockReturnValue(Readable.from(stdin(), { objectMode: false }) as unknown as typeof process.stdin);
    const { rollups } = await analyseFiles(['-', growing], {});
    expect(readFileSync(growing, 'utf8')).toContain('"traceId":"b');
    expect(buildReport(rollups.values()).summary.requests).toBe(2 * requests);
  });
});

describe('spans the decoders refuse', () => {
  it('are counted by reason in the JSON summary and in one quiet line of the terminal report', async () => {
    const dir = tempDir('report-refused');
    // Zipkin v2 allows a span without its timestamp; OTLP's is required: it is left out, the rest read.
    const zipkin = join(dir, 'zipkin.json');
    const span = (id: string, extra: object) => ({ traceId: 'a'.repeat(32), id, name: 'q', duration: 10, localEndpoint: { serviceName: 'shop' }, ...extra });
    writeFileSync(zipkin, JSON.stringify([
      span('1'.repeat(16), { kind: 'SERVER', timestamp: 1_760_000_000_000_000, name: 'GET', tags: { 'http.method': 'GET', 'http.route': 'books/' } }),
      span('2'.repeat(16), { parentId: '1'.repeat(16) }),
      span('3'.repeat(16), { parentId: '1'.repeat(16) }),
    ]));
    const damaged = join(dir, 'damaged.jsonl');
    writeFileSync(damaged, readFileSync(fixture, 'utf8').replace(/"spanId":"[0-9a-f]{16}"/, '"spanId":"zz"'));
    const json = join(dir, 'report.json');
    const text = join(dir, 'report.txt');
    await reportCommand().exitOverride().parseAsync([zipkin, damaged, '-f', `json=${json}`, '-f', `terminal=${text}`, '--jobs', '1'], { from: 'user' });
    expect((JSON.parse(readFileSync(json, 'utf8')) as { summary: object }).summary).toMatchObject({
      spansDropped: { total: 3, byReason: { bad_span_id: 1, no_timestamp: 2 } },
    });
    expect(readFileSync(text, 'utf8').split('\n')).toContain('spans left out: 3 (bad_span_id 1, no_timestamp 2)');
    process.exitCode = undefined;
  });

  it('leave the summary as it was when there are none', async () => {
    const { rollups, refused } = await analyseFiles([fixture], {});
    expect(refused).toEqual({});
    expect(buildReport(rollups.values(), { refusedSpans: refused }).summary).not.toHaveProperty('spansDropped');
  });
});

describe('a baseline and a run that covers part of the app (--endpoint, --ignore-endpoint, --ignore-table)', () => {
  // Accepted elsewhere in the app: a page this run leaves out.
  const careers = { signature: '0123456789abcdef', endpoint: 'GET careers/', kind: 'n_plus_one', table: 'recruit_job', reason: 'PERF-7: paginate first', expires: '2099-01-01' };

  async function run(args: string[]): Promise<string> {
    const out: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => (out.push(String(chunk)), true));
    await reportCommand().exitOverride().parseAsync([fixture, '--jobs', '1', '--no-color', ...args], { from: 'user' });
    vi.restoreAllMocks();
    return out.join('');
  }

  it('neither calls the entries it left out fixed nor drops them when it rewrites the baseline', async () => {
    const dir = tempDir('report-baseline-scope');
    const baseline = join(dir, 'baseline.json');
    await run(['--write-baseline', baseline]);
    const written = JSON.parse(readFileSync(baseline, 'utf8')) as { n1lensBaseline: 1; findings: object[] };
    expect(written.findings).toHaveLength(6);
    writeFileSync(baseline, JSON.stringify({ ...written, findings: [...written.findings, careers] }));

    const text = await run(['--endpoint', 'GET dashboard/*', '--baseline', baseline]);
    expect(process.exitCode).toBe(0);
    expect(text).toContain('✓ within budget: 0 new · 6 baselined · 0 fixed since');
    expect(text).not.toContain('GET careers/');
    // Leaving out a table is no fix either (GET careers/, in no request of the file, is the one fixed).
    const noNotes = await run(['--ignore-table', 'recruit_note', '--baseline', baseline]);
    expect(noNotes).toContain('0 new · 5 baselined · 1 fixed since');
    expect(noNotes).not.toMatch(/fixed: .* on recruit_note/);

    await run(['--endpoint', 'GET dashboard/*', '--write-baseline', baseline]);
    expect((JSON.parse(readFileSync(baseline, 'utf8')) as { findings: object[] }).findings).toContainEqual(careers);
    process.exitCode = undefined;
  });
});

describe('--min-wasted-ms over a store (--db)', () => {
  it('runs detection again for what it left out only in a run with a baseline to judge by or to write', async () => {
    const dir = tempDir('report-db-min-wasted');
    const db = join(dir, 'n1lens.db');
    const store = SqliteStore.open(db);
    const normalize = createSqlNormalizer();
    const startMs = Date.now() - 10 * 60_000;
    const requests = [1, 2, 3].map((i) => requestOf('GET dashboard/', [APPLICATIONS, ...loop(8, ...DASHBOARD_ROW)], { traceId: i.toString(16).padStart(32, '0'), startMs }));
    await store.record(requests.map((r) => analyseRequest(r, normalize)));
    await store.close();
    const run = async (...args: string[]): Promise<number> => {
      counted.belowMinWasted = 0;
      vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
      vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
      await reportCommand().exitOverride().parseAsync(['--db', db, '--min-wasted-ms', '1', '--max-findings', '100', '-f', `json=${join(dir, 'r.json')}`, ...args], { from: 'user' });
      vi.restoreAllMocks();
      return counted.belowMinWasted;
    };
    expect(await run()).toBe(0);
    const baseline = join(dir, 'baseline.json');
    expect(await run('--write-baseline', baseline)).toBe(1);
    expect(await run('--baseline', baseline)).toBe(1);
    process.exitCode = undefined;
  });
});

describe('queries outside requests over a store (--db)', () => {
  it('are in the summary as serve stored them, narrowed by --service and --since', async () => {
    const dir = tempDir('report-db-outside');
    const db = join(dir, 'n1lens.db');
    const store = SqliteStore.open(db);
    const startMs = Date.now() - 10 * 60_000;
    const request = analyseRequest(requestOf('GET dashboard/', [APPLICATIONS, ...loop(8, ...DASHBOARD_ROW)], { traceId: '1'.repeat(32), startMs }), createSqlNormalizer());
    await store.record([request], { traceIds: [request.traceId, '2'.repeat(32)], nowMs: startMs }, undefined, [{ traceId: '2'.repeat(32), startMs, service: request.service, queries: 7 }]);
    await store.close();
    const outside = async (...args: string[]): Promise<number | undefined> => {
      const out = join(dir, 'r.json');
      vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
      vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
      await reportCommand().exitOverride().parseAsync(['--db', db, '-f', `json=${out}`, ...args], { from: 'user' });
      vi.restoreAllMocks();
      return (JSON.parse(readFileSync(out, 'utf8')) as { summary: { queriesOutsideRequests?: number } }).summary.queriesOutsideRequests;
    };
    expect(await outside()).toBe(7);
    expect(await outside('--service', request.service, '--since', '2h')).toBe(7);
    expect(await outside('--service', 'billing')).toBeUndefined();
    process.exitCode = undefined;
  });
});
