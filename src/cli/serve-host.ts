/**
 * The main thread of `n1lens serve` as started by bin/n1lens.js: it loads only what it needs to start
 * the serve thread (serve-thread.ts) and pass it signals, so the rest of the CLI is loaded once, on
 * that thread, and the idle main isolate stays small.
 */
import { DEFAULT_MAX_BUFFER_MIB, serveOnThread } from './serve-thread.js';

/** A whole-number flag as given (`--workers 2` or `--workers=2`); the serve thread itself rejects a bad value. */
function wholeFlag(argv: readonly string[], name: string, fallback: number): number {
  let value: string | undefined;
  argv.forEach((a, i) => {
    if (a === name) value = argv[i + 1];
    else if (a.startsWith(`${name}=`)) value = a.slice(name.length + 1);
  });
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

const argv = process.argv.slice(2);
process.exitCode = await serveOnThread(argv, { maxBufferMib: wholeFlag(argv, '--max-buffer-mib', DEFAULT_MAX_BUFFER_MIB), workers: wholeFlag(argv, '--workers', 1) });
