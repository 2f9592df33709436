import { describe, expect, it } from 'vitest';
import { collectOnOneThread, serveHeapLimits } from './serve-thread.js';

describe('serveHeapLimits', () => {
  it('sizes the old generation from the buffer, and keeps a limit the user gave V8', () => {
    expect(serveHeapLimits(256, [])).toEqual({ maxOldGenerationSizeMb: 1024, maxYoungGenerationSizeMb: 12 });
    expect(serveHeapLimits(512, [])).toEqual({ maxOldGenerationSizeMb: 2048, maxYoungGenerationSizeMb: 12 });
    expect(serveHeapLimits(256, ['--max_old_space_size=300'])).toEqual({ maxYoungGenerationSizeMb: 12 });
    expect(serveHeapLimits(256, ['--max-heap-size=300'])).toEqual({});
  });
});

describe('collectOnOneThread', () => {
  it('keeps garbage collection on each thread when its busy threads leave no core to spare, unless the user chose', () => {
    expect(collectOnOneThread(1, [])).toBe(true);
    expect(collectOnOneThread(2, [])).toBe(false);
    // --workers N: the thread that takes exports and N shard threads.
    expect(collectOnOneThread(2, [], 2)).toBe(true);
    expect(collectOnOneThread(3, [], 2)).toBe(true);
    expect(collectOnOneThread(4, [], 2)).toBe(false);
    expect(collectOnOneThread(8, [], 8)).toBe(true);
    expect(collectOnOneThread(2, ['--single-threaded-gc'], 2)).toBe(false);
    expect(collectOnOneThread(1, ['--concurrent-marking'])).toBe(false);
    expect(collectOnOneThread(1, ['--no_parallel_scavenge'])).toBe(false);
    expect(collectOnOneThread(1, ['--single-threaded-gc'])).toBe(false);
    expect(collectOnOneThread(1, ['--max-old-space-size=300'])).toBe(true);
  });
});
