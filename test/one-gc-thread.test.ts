import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tempDir } from './support.js';

const SERVE_THREAD = fileURLToPath(new URL('../dist/cli/serve-thread.js', import.meta.url));

/**
 * Run as `node churn.mjs <serve-thread.js>`: makes garbage collection single-threaded from now on, as
 * serve does on one core, starts a thread (this same file), and churns both heaps until the
 * process's own has run four mark-compacts and the thread's two; prints how many each ran.
 */
const CHURN = `
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import { PerformanceObserver, constants } from 'node:perf_hooks';
const onMajor = (count) => new PerformanceObserver((l) => { for (const e of l.getEntries()) if (e.detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR) count(); }).observe({ entryTypes: ['gc'] });
let keep = [];
const churn = () => { for (let i = 0; i < 20000; i++) keep.push({ a: i, b: 'x' + i }); if (keep.length > 400000) keep = []; };
if (isMainThread) {
  const { collectOnOneThreadFromNow } = await import(process.argv[2]);
  collectOnOneThreadFromNow();
  let majors = 0;
  let workerMajors = 0;
  onMajor(() => majors++);
  const worker = new Worker(new URL(import.meta.url));
  worker.on('message', () => workerMajors++);
  const started = Date.now();
  const timer = setInterval(() => {
    churn();
    if ((majors < 4 || workerMajors < 2) && Date.now() - started < 30000) return;
    clearInterval(timer);
    console.log(JSON.stringify({ majors, workerMajors }));
    void worker.terminate();
  }, 1);
} else {
  onMajor(() => parentPort.postMessage('major'));
  setInterval(churn, 1);
}
`;

describe('serve on one core: garbage collection without helper threads', () => {
  it("keeps the process alive through mark-compacts of its own heap and of the serve thread's", () => {
    // --single-threaded-gc set at run time aborted the process at its own heap's first mark-compact
    // (a V8 CHECK on the marking workers that heap was set up with).
    const script = join(tempDir('one-gc-thread'), 'churn.mjs');
    writeFileSync(script, CHURN);
    const run = spawnSync(process.execPath, [script, SERVE_THREAD], { encoding: 'utf8', timeout: 60_000 });
    expect(run.stderr, run.stderr).not.toContain('Check failed');
    expect(run.signal).toBeNull();
    expect(run.status, run.stderr).toBe(0);
    const counts = JSON.parse(run.stdout) as { majors: number; workerMajors: number };
    expect(counts.majors).toBeGreaterThanOrEqual(4);
    expect(counts.workerMajors).toBeGreaterThanOrEqual(2);
  }, 70_000);
});
