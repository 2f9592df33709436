import { afterEach, describe, expect, it, vi } from 'vitest';
import { shortenSql, wrapLong } from './text.js';
import { SEGMENT_CHUNK } from './width.js';

afterEach(() => {
  vi.restoreAllMocks();
});

/** The lengths of the strings Intl.Segmenter is given while `run` runs. */
function segmented(run: () => void): number[] {
  const lengths: number[] = [];
  const segment = Intl.Segmenter.prototype.segment;
  vi.spyOn(Intl.Segmenter.prototype, 'segment').mockImplementation(function (this: Intl.Segmenter, text: string) {
    lengths.push(text.length);
    return segment.call(this, text);
  });
  run();
  return lengths;
}

describe('shortening a long statement with a non-ASCII identifier', () => {
  // WHERE ("café_order"."c0" = ? OR "café_order"."c1" = ? OR …): ~48 KB, normalised (one space, literals ?).
  const arms = Array.from({ length: 1600 }, (_, i) => `"café_order"."c${i}" = ?`).join(' OR ');
  const sql = `SELECT "café_order"."id" FROM "café_order" WHERE (${arms})`;

  it('segments only a bounded head of it, however long it is', () => {
    // Node 20's segmenter costs time in proportion to the string it is given at every step: given
    // the whole statement to measure it, shortenSql took seconds per finding.
    expect(sql.length).toBeGreaterThan(40_000);
    let short = '';
    const lengths = segmented(() => {
      short = shortenSql(sql, 75);
    });
    expect(short).toBe('SELECT … FROM "café_order" … WHERE ("café_order"."c0" = ? OR "café_order".…');
    expect(lengths.length).toBeGreaterThan(0);
    expect(Math.max(...lengths)).toBeLessThanOrEqual(SEGMENT_CHUNK);
    // Each measure stops in its first chunk: a few chunks in all, not the statement.
    expect(lengths.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(4 * SEGMENT_CHUNK);
  });

  it('wraps a long non-ASCII name by segmenting chunks, never the whole name at each step', () => {
    const name = `GET ${Array.from({ length: 400 }, (_, i) => `café${i}`).join('/')}/`;
    const lengths = segmented(() => {
      for (const line of wrapLong(name, 80)) expect(line.length).toBeLessThanOrEqual(80);
    });
    expect(Math.max(...lengths)).toBeLessThanOrEqual(SEGMENT_CHUNK);
  });
});
