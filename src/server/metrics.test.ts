import { describe, expect, it } from 'vitest';
import { createMetrics, shardedMetricsText } from './metrics.js';

/** The value of an unlabelled metric in an exposition; NaN when it is not there. */
const valueOf = (text: string, name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);

describe('/metrics under serve --workers', () => {
  it("adds up what each shard holds (open traces, awaited calls' bytes) and leaves out the serving thread's own", async () => {
    const serving = createMetrics();
    serving.awaitedCallBytes.set(999); // the serving thread analyses nothing: its own value is not the process's
    serving.exportsAccepted.inc({ transport: 'http' }, 5);
    const shards = [createMetrics(), createMetrics()];
    shards[0]!.awaitedCallBytes.set(100);
    shards[1]!.awaitedCallBytes.set(250);
    shards[0]!.openTraces.set(3);
    shards[1]!.openTraces.set(4);
    shards[1]!.exportsAccepted.inc({ transport: 'http' }, 7); // counted by the serving thread only
    const text = await shardedMetricsText(serving, await Promise.all(shards.map((s) => s.registry.getMetricsAsJSON())));
    expect(valueOf(text, 'n1lens_awaited_call_bytes')).toBe(350);
    expect(valueOf(text, 'n1lens_open_traces')).toBe(7);
    expect(text).toMatch(/^n1lens_exports_accepted_total\{transport="http"\} 5$/m);
  });
});
