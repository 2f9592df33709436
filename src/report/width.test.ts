import { describe, expect, it } from 'vitest';
import { displayWidth, firstGrapheme, fitsWithin, headWithin, SEGMENT_CHUNK } from './width.js';

describe('displayWidth (terminal columns)', () => {
  it('counts ASCII one column a character', () => {
    expect(displayWidth('GET dashboard/')).toBe(14);
    expect(displayWidth('')).toBe(0);
  });

  it('counts East Asian wide and fullwidth characters two columns', () => {
    expect(displayWidth('注文')).toBe(4); // CJK ideographs
    expect(displayWidth('カタカナ')).toBe(8);
    expect(displayWidth('한국어')).toBe(6); // Hangul syllables
    expect(displayWidth('ＡＢ')).toBe(4); // fullwidth Latin
    expect(displayWidth('\u3000')).toBe(2); // ideographic space
    expect(displayWidth('𠀋')).toBe(2); // extension B: a surrogate pair, one character
  });

  it('counts combining marks and other zero-width characters none', () => {
    expect(displayWidth('cafe\u0301')).toBe(4);
    expect(displayWidth('a\u200bb')).toBe(2); // zero-width space
    expect(displayWidth('\u1112\u1161\u11ab')).toBe(2); // 한 as conjoining Jamo: the medial and final draw onto the first
  });

  it('counts an emoji two columns, with its modifiers, joiners and selectors as one character', () => {
    expect(displayWidth('🍕')).toBe(2);
    expect(displayWidth('👍🏽')).toBe(2);
    expect(displayWidth('👨‍👩‍👧')).toBe(2);
    expect(displayWidth('🇫🇷')).toBe(2);
    expect(displayWidth('❤️')).toBe(2);
    expect(displayWidth('1️⃣')).toBe(2);
    expect(displayWidth('©')).toBe(1); // text presentation by default
  });

  it('counts other scripts one column a character', () => {
    expect(displayWidth('Ωμέγα')).toBe(5);
    expect(displayWidth('привет')).toBe(6);
  });
});

describe('headWithin', () => {
  it('cuts between characters, never inside a wide one, a surrogate pair or a combining sequence', () => {
    expect(headWithin('注文一覧', 5)).toEqual(['注文', '一覧']);
    expect(headWithin('x🍕🍕', 4)).toEqual(['x🍕', '🍕']);
    expect(headWithin('cafe\u0301s', 4)).toEqual(['cafe\u0301', 's']);
    expect(headWithin('abc', 5)).toEqual(['abc', '']);
    expect(headWithin('注', 1)).toEqual(['', '注']);
  });

  it('gives the first character whole, however wide', () => {
    expect(firstGrapheme('👨‍👩‍👧 family')).toBe('👨‍👩‍👧');
    expect(firstGrapheme('')).toBe('');
  });
});

describe('long text, segmented a chunk at a time', () => {
  // Graphemes that straddle a chunk's end: a ZWJ family, a flag pair, a combining accent, CJK.
  const straddling = ['👨‍👩‍👧', '🇫🇷', 'e\u0301', '注'];

  it('measures and cuts graphemes across chunk boundaries as in one piece', () => {
    for (const g of straddling) {
      for (let lead = SEGMENT_CHUNK - 8; lead <= SEGMENT_CHUNK + 1; lead++) {
        const text = `${'é'.repeat(lead)}${g}${'x'.repeat(SEGMENT_CHUNK)}${g}`;
        const w = displayWidth(g);
        expect(displayWidth(text), `${g} after ${lead}`).toBe(lead + SEGMENT_CHUNK + 2 * w);
        expect(headWithin(text, lead + w)[0]).toBe(`${'é'.repeat(lead)}${g}`);
        expect(headWithin(text, lead + w - 1)[0]).toBe('é'.repeat(lead));
      }
    }
    // A run of flags pairs from its start, whichever chunk a pair begins in.
    expect(displayWidth(`é${'🇫🇷'.repeat(300)}`)).toBe(601);
    expect(headWithin(`é${'🇫🇷'.repeat(300)}`, 400)[0]).toBe(`é${'🇫🇷'.repeat(199)}`);
  });

  it('keeps a grapheme longer than a chunk whole', () => {
    const heavy = `e${'\u0301'.repeat(SEGMENT_CHUNK * 3)}`;
    expect(displayWidth(`${heavy}a`)).toBe(2);
    expect(firstGrapheme(`${heavy}a`)).toBe(heavy);
    expect(headWithin(`${heavy}a`, 1)).toEqual([heavy, 'a']);
  });

  it('fitsWithin answers as displayWidth does', () => {
    const texts = ['', 'GET dashboard/', 'GET 注文/', 'cafe\u0301', '👨‍👩‍👧 family', `${'a'.repeat(79)}é`, `${'a'.repeat(80)}\u0301`, 'a\u200bb', ...straddling.map((g) => `${'é'.repeat(SEGMENT_CHUNK - 1)}${g}`)];
    for (const text of texts) {
      for (let columns = -1; columns <= displayWidth(text) + 2; columns++) expect(fitsWithin(text, columns), `${JSON.stringify(text)} in ${columns}`).toBe(displayWidth(text) <= columns);
    }
  });
});
