import { afterEach, describe, expect, it, vi } from 'vitest';
import { shortenSql, wrapText } from './text.js';
import { displayWidth, SEGMENT_CHUNK } from './width.js';

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
      for (const line of wrapText(name, 80)) expect(line.length).toBeLessThanOrEqual(80);
    });
    expect(Math.max(...lengths)).toBeLessThanOrEqual(SEGMENT_CHUNK);
  });
});

describe('wrapping prose with a word wider than the line', () => {
  const widest = (lines: string[]): number => Math.max(...lines.map(displayWidth));

  it('breaks a long URL, dotted path or SQL identifier at its separators, never past the width', () => {
    const url = `https://jaeger.internal.example.com/trace/${'4bf92f3577b34da6a3ce929d0e0e4736'.repeat(2)}/spans?service=recruit-web`;
    const dotted = 'recruit.views.dashboards.applications.ApplicationDashboardWithPrefetchedCandidatesView.get_queryset';
    const identifier = 'recruit_application_candidate_interview_feedback_scorecard_reviewer_assignment_history_id';
    for (const word of [url, dotted, identifier]) {
      const lines = wrapText(`Open ${word} to see it.`, 80);
      expect(widest(lines)).toBeLessThanOrEqual(80);
      expect(lines.join('').replace(/ /g, '')).toBe(`Open${word}toseeit.`);
    }
    const [first] = wrapText(dotted, 80);
    expect(first!.endsWith('.')).toBe(true);
    const [id] = wrapText(identifier, 60);
    expect(id!.endsWith('_')).toBe(true);
  });

  it('counts CJK characters as two columns when it cuts a word that has no separator', () => {
    const word = '注文一覧'.repeat(15);
    const lines = wrapText(`see ${word}`, 40);
    expect(widest(lines)).toBeLessThanOrEqual(40);
    expect(lines.join('').replace(/ /g, '')).toBe(`see${word}`);
  });

  it('leaves prose of short words as it was: at spaces', () => {
    expect(wrapText('the same query runs once per row of an earlier query', 20)).toEqual(['the same query runs', 'once per row of an', 'earlier query']);
  });
});
