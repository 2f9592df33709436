/** store_marks as the scheduled digest uses them: where the last digest ended, moved by compare-and-set so instances sharing a store post a period once. */
import { describe, expect, it } from 'vitest';
import { upgradableStores } from '../../test/stores.js';

describe.each(upgradableStores('digest-marks'))('%s store: marks', (_name, make) => {
  it('are kept across a reopen, and move only from the value they hold', async () => {
    const { open } = await make();
    const store = await open({});
    expect(await store.mark('digest_until:recruit')).toBeUndefined();
    expect(await store.moveMark('digest_until:recruit', undefined, 1_000)).toBe(true);
    expect(await store.moveMark('digest_until:recruit', undefined, 2_000)).toBe(false);
    expect(await store.moveMark('digest_until:recruit', 5_000, 6_000)).toBe(false);
    expect(await store.moveMark('digest_until:recruit', 1_000, 86_400_000)).toBe(true);
    await store.close();
    const again = await open({});
    expect(await again.mark('digest_until:recruit')).toBe(86_400_000);
    expect(await again.mark('digest_until:*')).toBeUndefined();
    expect(await again.moveMark('digest_until:recruit', 86_400_000, undefined)).toBe(true);
    expect(await again.mark('digest_until:recruit')).toBeUndefined();
    await again.close();
  });

  it('of several connections moving a mark from the same value at once, exactly one does', async () => {
    const { open } = await make();
    const stores = await Promise.all(Array.from({ length: 4 }, () => open({})));
    try {
      await stores[0]!.moveMark('digest_until:*', undefined, 60_000);
      const moved = await Promise.all(stores.map((s, i) => s.moveMark('digest_until:*', 60_000, 120_000 + i * 60_000)));
      expect(moved.filter(Boolean)).toHaveLength(1);
      const first = await Promise.all(stores.map((s) => s.moveMark('digest_until:new', undefined, 60_000)));
      expect(first.filter(Boolean)).toHaveLength(1);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });
});
