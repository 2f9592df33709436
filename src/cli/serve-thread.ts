/**
 * Runs `n1lens serve` on a worker thread whose V8 heap is sized for sustained intake: the process's
 * own heap is configured before any JavaScript runs, so only a new isolate can be given other limits.
 * Under a flood, V8's default heap on a large machine lets garbage grow to about four times the live
 * data before a full collection (old generation limit in GiB); buffered spans turn over every few
 * seconds, so that garbage, not the buffer, was most of serve's memory (bench/README.md, "Overload").
 */
import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { fullCollection } from '../server/heap.js';
import { onShutdown, shutdownMessage } from './lifecycle.js';

/** Heap sizes for the serve thread; an absent one is left to V8's flags (NODE_OPTIONS or the command line). */
export interface ServeHeapLimits {
  maxOldGenerationSizeMb?: number;
  maxYoungGenerationSizeMb?: number;
}

/** Young generation of 12 MiB: V8 splits it into two 4 MiB semi-spaces and a large-object space of the same size. */
const YOUNG_GENERATION_MB = 12;
/**
 * V8 lets an old generation limited to at most ~2 GiB grow by 1.3–2× its live size before collecting
 * (4× above that). 1 GiB gives ~1.6×, and is far above what the intake holds at --max-buffer-mib 256.
 */
const MIN_OLD_GENERATION_MB = 1024;

/** The flag names V8 takes with dashes or underscores. */
const flagGiven = (flags: readonly string[], name: string): boolean => flags.some((f) => f.replace(/_/g, '-').startsWith(`--${name}`));

/**
 * The serve thread's heap: a 12 MiB young generation and an old generation of max(1 GiB, 4 × the
 * buffer). A limit the user set as a V8 flag (`NODE_OPTIONS=--max-old-space-size=…`) is kept instead.
 */
export function serveHeapLimits(maxBufferMib: number, flags: readonly string[]): ServeHeapLimits {
  return {
    ...(flagGiven(flags, 'max-old-space-size') || flagGiven(flags, 'max-heap-size') ? {} : { maxOldGenerationSizeMb: Math.max(MIN_OLD_GENERATION_MB, 4 * maxBufferMib) }),
    ...(flagGiven(flags, 'max-semi-space-size') || flagGiven(flags, 'max-heap-size') ? {} : { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB }),
  };
}

/** V8 flags that say how its garbage collector uses threads; one given by the user is left as it is. */
const GC_THREAD_FLAGS = ['single-threaded', 'parallel-scavenge', 'no-parallel-scavenge', 'concurrent-marking', 'no-concurrent-marking', 'parallel-marking', 'no-parallel-marking'];

/**
 * Whether each thread of serve should collect its garbage alone: when its busy threads (the serve
 * thread, and with `--workers N` the N shard threads beside it) leave no core to V8's helper
 * threads, the helpers only take turns with them, and each collection waits for its helpers while
 * the scheduler shares the cores out. On one pinned core, p99 export latency 57–80 ms instead of
 * 93–146 ms; `--workers 2` on two cores, 10–20 % less CPU per span (bench/README.md, "One core, one
 * GC thread" and "--workers 2 on two cores, one GC thread each").
 */
export function collectOnOneThread(cores: number, flags: readonly string[], workers = 1): boolean {
  const busyThreads = workers > 1 ? workers + 1 : 1;
  return busyThreads >= cores && !GC_THREAD_FLAGS.some((name) => flagGiven(flags, name));
}

/**
 * What `--single-threaded-gc` turns off, but parallel marking: V8 gives a heap its marking workers
 * when the heap is set up, and this process's own heap, set up with them, fails a CHECK and aborts
 * the process at its next mark-compact once parallel marking is off (a flag set at run time reaches
 * every isolate). Concurrent marking off leaves parallel marking to the atomic pause only.
 */
const ONE_GC_THREAD_FLAGS = [
  '--no-concurrent-marking',
  '--no-cppheap-concurrent-marking',
  '--no-parallel-scavenge',
  '--no-concurrent-sweeping',
  '--no-parallel-compaction',
  '--no-parallel-pointer-update',
  '--no-concurrent-array-buffer-sweeping',
] as const;

/**
 * Makes every isolate created from now on, and this one, collect garbage without helper threads but
 * at the atomic pause. A marking cycle this isolate began with concurrent markers must also end with
 * them, so a full collection first finishes whatever cycle is under way.
 */
export function collectOnOneThreadFromNow(): void {
  fullCollection();
  for (const flag of ONE_GC_THREAD_FLAGS) setFlagsFromString(flag);
}

/** The process's V8 flags: its command line and NODE_OPTIONS. */
export function nodeFlags(): string[] {
  return [...process.execArgv, ...(process.env['NODE_OPTIONS'] ?? '').split(/\s+/).filter(Boolean)];
}

/** --max-buffer-mib's default, which also sizes the serve thread's heap when the flag is not given. */
export const DEFAULT_MAX_BUFFER_MIB = 256;

/**
 * Runs `n1lens serve argv` (the CLI entry beside this module) on a worker thread whose heap is sized
 * for `maxBufferMib` (and whose collections use helper threads unless `workers` leave them no core),
 * hands it this process's signals, and resolves with its exit code. The thread prints its own errors
 * (one line, exit 2 for a bad flag or a port in use); a thread that dies on its heap limit is
 * reported here, exit 1.
 */
export function serveOnThread(argv: string[], { maxBufferMib, workers }: { maxBufferMib: number; workers: number }): Promise<number> {
  const flags = nodeFlags();
  const limits = serveHeapLimits(maxBufferMib, flags);
  if (collectOnOneThread(availableParallelism(), flags, workers)) collectOnOneThreadFromNow();
  return new Promise((resolve) => {
    const worker = new Worker(new URL('./n1lens.js', import.meta.url), { argv, resourceLimits: limits });
    let failed = false;
    onShutdown((why) => worker.postMessage(shutdownMessage(why)));
    worker.on('error', (e: NodeJS.ErrnoException) => {
      failed = true;
      const why =
        e.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? `the server's heap reached its limit (${limits.maxOldGenerationSizeMb ?? 'V8 default'} MiB) and it stopped; acknowledged exports are in the spool and are replayed at the next start`
          : (e.message ?? String(e)).split('\n')[0];
      process.stderr.write(`n1lens serve: ${why}\n`);
    });
    worker.on('exit', (code) => resolve(failed && code === 0 ? 1 : code));
  });
}
