/**
 * The process's memory as serve's admission reads it, and the full collection it runs before refusing
 * for memory that is only garbage.
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * V8 heap in use plus the memory of Buffers and other objects outside it (request bodies among them):
 * process.memoryUsage()'s heapUsed + external, read without the resident set size it also reads from
 * /proc (0.8 % of a busy server's CPU at one sample per 50 ms).
 */
export const heapAndExternal = (): number => {
  const h = getHeapStatistics();
  return h.used_heap_size + h.external_memory;
};

let collect: (() => void) | undefined;

/**
 * A full, blocking garbage collection of this thread's heap; none while V8's `gc` cannot be had. V8
 * offers it only to code run with --expose-gc, a flag of the whole process: it is set just long
 * enough to make a context that has `gc`. Another thread (a `--workers` shard) may switch it off in
 * between, and then this call collects nothing and the next one tries again.
 */
export function fullCollection(): void {
  collect ??= exposedGc();
  collect?.();
}

function exposedGc(): (() => void) | undefined {
  setFlagsFromString('--expose-gc');
  try {
    const gc: unknown = runInNewContext('typeof gc === "function" ? gc : undefined');
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
}
