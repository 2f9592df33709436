/**
 * The main thread of `n1lens serve` as started by bin/n1lens.js: it loads only what it needs to start
 * the serve thread (serve-thread.ts) and pass it signals, so the rest of the CLI is loaded once, on
 * that thread, and the idle main isolate stays small.
 */
import { DEFAULT_MAX_BUFFER_MIB, serveOnThread } from './serve-thread.js';

/** --max-buffer-mib as given (`--max-buffer-mib 64` or `=64`); the serve thread itself rejects a bad value. */
function maxBufferMib(argv: readonly string[]): number {
  let value: string | undefined;
  argv.forEach((a, i) => {
    if (a === '--max-buffer-mib') value = argv[i + 1];
    else if (a.startsWith('--max-buffer-mib=')) value = a.slice('--max-buffer-mib='.length);
  });
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : DEFAULT_MAX_BUFFER_MIB;
}

const argv = process.argv.slice(2);
process.exitCode = await serveOnThread(argv, maxBufferMib(argv));
