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
 * A full, blocking garbage collection of this thread's heap. V8 offers one only to code run with
 * --expose-gc, so the flag is set just long enough to make a context that has its `gc`.
 */
export function fullCollection(): void {
  if (collect === undefined) {
    setFlagsFromString('--expose-gc');
    collect = runInNewContext('gc') as () => void;
    setFlagsFromString('--no-expose-gc');
  }
  collect();
}
