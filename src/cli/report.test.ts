/** analyseFiles, n1-report's reading of trace files on one thread. */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { tempDir } from '../../test/support.js';
import { buildReport } from '../report/model.js';
import { analyseFiles, reportCommand } from './report.js';

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
