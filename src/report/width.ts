/**
 * Text width in terminal columns, for the terminal report's 80-column layout: East Asian wide and
 * fullwidth characters and emoji take two columns, combining marks and other zero-width characters
 * none, and a character outside the BMP (a surrogate pair) is one character. Counted per grapheme
 * (what a terminal draws as one character: `é` as e + U+0301, 👍🏽, 🇫🇷, a ZWJ family), so text is
 * never cut inside one.
 *
 * Not a full implementation of UAX #11: ambiguous-width characters (Greek, Cyrillic, box drawing)
 * count one column, as terminals outside East Asian locales draw them; a control character counts
 * none (the report holds none; colour codes are added after the layout).
 */

/** Whether a code point is East Asian Wide or Fullwidth (the blocks a terminal draws two columns wide). */
function isWide(cp: number): boolean {
  return (
    (cp >= 0x1100 && cp <= 0x115f) || // Hangul Jamo leading consonants
    (cp >= 0x2e80 && cp <= 0x303e) || // CJK radicals, Kangxi, ideographic description, CJK symbols and punctuation
    (cp >= 0x3041 && cp <= 0x33ff) || // Hiragana, Katakana, Bopomofo, Hangul compatibility Jamo, Kanbun, enclosed CJK, CJK compatibility
    (cp >= 0x3400 && cp <= 0x4dbf) || // CJK unified ideographs extension A
    (cp >= 0x4e00 && cp <= 0x9fff) || // CJK unified ideographs
    (cp >= 0xa000 && cp <= 0xa4cf) || // Yi
    (cp >= 0xa960 && cp <= 0xa97f) || // Hangul Jamo extended A
    (cp >= 0xac00 && cp <= 0xd7a3) || // Hangul syllables
    (cp >= 0xf900 && cp <= 0xfaff) || // CJK compatibility ideographs
    (cp >= 0xfe10 && cp <= 0xfe19) || // vertical forms
    (cp >= 0xfe30 && cp <= 0xfe6f) || // CJK compatibility forms, small form variants
    (cp >= 0xff00 && cp <= 0xff60) || // fullwidth ASCII and punctuation
    (cp >= 0xffe0 && cp <= 0xffe6) || // fullwidth signs
    (cp >= 0x16fe0 && cp <= 0x16fe4) || // ideographic symbols
    (cp >= 0x17000 && cp <= 0x18cff) || // Tangut, Khitan
    (cp >= 0x1b000 && cp <= 0x1b2ff) || // Kana supplement and extensions, Nushu
    (cp >= 0x1f200 && cp <= 0x1f2ff) || // enclosed ideographic supplement
    (cp >= 0x20000 && cp <= 0x2fffd) || // CJK extensions B to F, compatibility supplement
    (cp >= 0x30000 && cp <= 0x3fffd) // CJK extensions G and H
  );
}

// Emoji drawn as emoji: by default, or asked for by VS16 (❤️, 1️⃣), and flags (two regional indicators).
const EMOJI = /\p{Emoji_Presentation}|\uFE0F|\p{Regional_Indicator}/u;
// Marks, format characters (ZWJ, ZWSP, soft hyphen), variation selectors, Hangul medial and final
// Jamo (drawn onto the leading consonant), and controls.
const ZERO = /^[\p{M}\p{Cf}\p{Cc}\uFE00-\uFE0F\u1160-\u11FF\u{E0100}-\u{E01EF}]+$/u;
const PLAIN = /^[\x20-\x7e]*$/;

let segmenter: Intl.Segmenter | undefined;

/** Code units the segmenter is given at a time (see graphemes). */
export const SEGMENT_CHUNK = 256;

const isHighSurrogate = (unit: number): boolean => unit >= 0xd800 && unit <= 0xdbff;

/**
 * The graphemes of `text` from its start, segmented a bounded chunk at a time. Node 20's
 * Intl.Segmenter iterator costs time in proportion to the whole string it was given at every step,
 * so walking a long statement (48 KB) grapheme by grapheme took seconds, and even a walk that stops
 * after 80 columns paid for the whole string at each step. A chunk's last grapheme may go on past the
 * chunk: it is segmented again at the head of the next one, which starts on a grapheme boundary (the
 * boundaries before it depend only on what precedes them and the character after, all in the chunk).
 * A walk that stops early segments no further than the chunk it stopped in.
 */
function* graphemes(text: string): Generator<string> {
  segmenter ??= new Intl.Segmenter('en', { granularity: 'grapheme' });
  let start = 0;
  let size = SEGMENT_CHUNK;
  while (start < text.length) {
    let end = Math.min(text.length, start + size);
    // Never between the halves of a surrogate pair: the half would be a character of its own, and
    // the grapheme before it (👨‍👩‍ of a family cut at 👧) would end there.
    if (end < text.length && isHighSurrogate(text.charCodeAt(end - 1))) end--;
    let pending = '';
    let consumed = 0;
    for (const { segment } of segmenter.segment(text.slice(start, end))) {
      if (pending !== '') {
        yield pending;
        consumed += pending.length;
      }
      pending = segment;
    }
    if (end === text.length) {
      yield pending;
      return;
    }
    // One grapheme filled the whole chunk (a letter under hundreds of marks): try a chunk twice as long.
    if (consumed === 0) size *= 2;
    else size = SEGMENT_CHUNK;
    start += consumed;
  }
}

/** The columns one grapheme takes: 0, 1 or 2. */
function graphemeWidth(g: string): number {
  if (g.length === 1) {
    const cp = g.charCodeAt(0);
    if (cp >= 0x20 && cp < 0x7f) return 1;
  }
  if (ZERO.test(g)) return 0;
  if (EMOJI.test(g)) return 2;
  return isWide(g.codePointAt(0)!) ? 2 : 1;
}

/**
 * Columns `text` takes in a terminal.
 *
 * @example displayWidth('GET 注文/') // 9
 * @example displayWidth('cafe\u0301') // 4
 */
export function displayWidth(text: string): number {
  if (PLAIN.test(text)) return text.length;
  let n = 0;
  for (const g of graphemes(text)) n += graphemeWidth(g);
  return n;
}

/**
 * Whether `text` fits `columns`: displayWidth(text) <= columns, but reading no further than the
 * columns it needs, so that asking it of a long statement costs what the line it fits costs.
 *
 * @example fitsWithin('GET 注文/', 8) // false
 */
export function fitsWithin(text: string, columns: number): boolean {
  if (columns < 0) return false;
  // Printable ASCII up to one past the width: one column a character, and nothing joins them.
  if (PLAIN.test(text.slice(0, columns + 1))) return text.length <= columns;
  let used = 0;
  for (const g of graphemes(text)) {
    used += graphemeWidth(g);
    if (used > columns) return false;
  }
  return true;
}

/**
 * The longest head of `text` that fits `columns`, cut between graphemes, and the rest. Reads no
 * further than the head and the grapheme after it.
 *
 * @example headWithin('注文一覧', 5) // ['注文', '一覧']
 */
export function headWithin(text: string, columns: number): [head: string, rest: string] {
  const n = Math.max(0, columns);
  // The first n characters and the one after them printable ASCII: a grapheme boundary at n.
  if (PLAIN.test(text.slice(0, n + 1))) return [text.slice(0, n), text.slice(n)];
  let used = 0;
  let end = 0;
  for (const g of graphemes(text)) {
    const w = graphemeWidth(g);
    if (used + w > columns) break;
    used += w;
    end += g.length;
  }
  return [text.slice(0, end), text.slice(end)];
}

/** The first grapheme of `text` (whole, however wide): what a line too narrow for it still takes. */
export function firstGrapheme(text: string): string {
  for (const g of graphemes(text)) return g;
  return '';
}
