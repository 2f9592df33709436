/** analyseFiles, n1-report's reading of trace files on one thread. */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { tempDir } from '../../test/support.js';
import { buildReport } from '../report/model.js';
import { analyseFiles } from './report.js';

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
