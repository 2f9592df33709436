import { describe, expect, it } from 'vitest';
import { displayWidth, firstGrapheme, headWithin } from './width.js';

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
