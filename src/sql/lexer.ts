/**
 * A single-pass SQL tokenizer. It scans a byte image of the statement (reading a typed array is
 * several times cheaper than `charCodeAt`) and writes tokens into a reusable integer buffer
 * instead of allocating objects.
 */

import { BACKSLASH_ESCAPES, DOUBLE_QUOTED_STRINGS, HASH_COMMENTS, KNOWN_DIALECT, NESTED_COMMENTS, UNKNOWN_DIALECT, type SqlDialect } from './dialect.js';
import { FLAG_STATEFUL, KEYWORD_FLAGS, KW, MAX_KEYWORD_LENGTH, lookupKeyword, mixKeywordChar } from './keywords.js';

// Token kinds. Comments and whitespace produce no token.
/** Unquoted word; aux is its keyword id (0 for plain identifiers). */
export const TK_WORD = 1;
/** `"quoted"` or `` `backtick` `` identifier; aux holds QIDENT_* flags. */
export const TK_QIDENT = 2;
/** String literal: '…', E'…', N'…', X'…', B'…', U&'…', $$…$$, $tag$…$tag$, and MySQL's "…". */
export const TK_STRING = 3;
/** Number literal, with its sign when the minus is unary (`= -5`). */
export const TK_NUMBER = 4;
/** Placeholder: %s %b %t %(name)s ? ?1 $1 :name. */
export const TK_PARAM = 5;
/** TRUE / FALSE. */
export const TK_BOOL = 6;
export const TK_LPAREN = 7;
export const TK_RPAREN = 8;
export const TK_COMMA = 9;
export const TK_DOT = 10;
export const TK_SEMI = 11;
export const TK_LBRACKET = 12;
export const TK_RBRACKET = 13;
/** `::` cast. */
export const TK_CAST = 14;
/** Operator run (`=`, `<>`, `->>`, `||` …); aux is an OP_* code. */
export const TK_OP = 15;
/** Any other character, kept as written. */
export const TK_OTHER = 16;

/** A quoted identifier holding a doubled (escaped) quote. */
export const QIDENT_ESCAPED = 1;
/** A quoted identifier that runs to the end of the statement. */
export const QIDENT_UNTERMINATED = 2;

// Operator codes (aux of TK_OP). OP_NONE is every operator facts do not care about.
export const OP_NONE = 0;
export const OP_EQ = 1;
export const OP_NE = 2;
export const OP_LT = 3;
export const OP_GT = 4;
export const OP_LE = 5;
export const OP_GE = 6;
export const OP_STAR = 7;
/** `%%`: psycopg's escaped `%`, written as `%` in canonical text. */
export const OP_PERCENT2 = 8;

/**
 * Slots per token in `Tokens.data`: [kind | aux << AUX_SHIFT, start offset, end offset, index of
 * the matching bracket]. On a `%s` that starts a value run (`%s, %s, …, %s` written with exactly
 * ", " between, Django's `IN (…)` of a prefetch) the last slot is the index of the run's last
 * `%s` (see `valueRunEnd`); on the first token of a verbatim run, the index of the run's last
 * token (see `verbatimRunEnd`); on other tokens it is -1.
 */
export const STRIDE = 4;
export const KIND_MASK = 31;
export const AUX_SHIFT = 5;

/**
 * Token output. `data` holds `STRIDE` int32 slots per token. The pair slot of `(` / `[` holds the
 * index of the matching closer (or `count` when unclosed); a closer's holds its opener (or -1).
 */
export interface Tokens {
  count: number;
  data: Int32Array;
  /** Index of the first `;` outside every bracket, or -1: where the first statement ends. */
  firstSemi: number;
  /** Indices of the keyword tokens outside every bracket, in order: clause keywords are found among these. */
  topKeywords: Int32Array;
  topKeywordCount: number;
}

/**
 * The index of the last token of the value run starting at token i, or i itself when no run
 * starts there. Inside a run are only TK_COMMA and TK_PARAM tokens, so a scan that reacts to
 * neither may jump over it.
 */
export function valueRunEnd(d: Int32Array, i: number): number {
  const end = d[i * STRIDE + 3]!;
  return end > i && (d[i * STRIDE]! & KIND_MASK) === TK_PARAM ? end : i;
}

/** Token kinds never followed by a space in canonical text. */
export const NO_SPACE_AFTER: Readonly<Uint8Array> = kindSet([TK_LPAREN, TK_LBRACKET, TK_DOT, TK_CAST]);
/** Token kinds never preceded by a space in canonical text. */
export const NO_SPACE_BEFORE: Readonly<Uint8Array> = kindSet([TK_RPAREN, TK_RBRACKET, TK_COMMA, TK_DOT, TK_CAST, TK_SEMI, TK_LBRACKET]);
/** Kinds that may be part of a verbatim run: written as they are and changing no collapse state. */
const VERBATIM: Readonly<Uint8Array> = kindSet([TK_WORD, TK_QIDENT, TK_DOT, TK_COMMA, TK_OP]);

function kindSet(kinds: number[]): Uint8Array {
  const set = new Uint8Array(TK_OTHER + 1);
  for (const k of kinds) set[k] = 1;
  return set;
}

/**
 * The index of the last token of the verbatim run starting at token i, or i itself when none
 * starts there. A verbatim run is two or more tokens whose canonical text is the raw text from the
 * first's start to the last's end: names, upper-case keywords that are not FLAG_STATEFUL, `.`,
 * `,` and operators other than `%%`, separated exactly as canonical text separates them (one
 * space, or nothing around `.` and before `,`). Django writes most of a statement that way.
 */
export function verbatimRunEnd(d: Int32Array, i: number): number {
  const end = d[i * STRIDE + 3]!;
  return end > i && VERBATIM[d[i * STRIDE]! & KIND_MASK] === 1 ? end : i;
}

export function createTokens(capacity = 256): Tokens {
  return { count: 0, data: new Int32Array(capacity * STRIDE), firstSemi: -1, topKeywords: new Int32Array(16), topKeywordCount: 0 };
}

/** Byte standing for any non-ASCII character that may be part of an identifier. */
export const B_UNICODE = 0x80;
/** Byte standing for non-ASCII whitespace (U+00A0 and friends). */
export const B_UNICODE_SPACE = 0xa0;

/**
 * Writes the byte image of `sql`, then BYTE_IMAGE_PADDING zero bytes, into `bytes` (which must
 * hold them) and returns whether the statement is pure ASCII, in which case the image is the text
 * itself. Otherwise each non-ASCII code unit becomes B_UNICODE or B_UNICODE_SPACE, so offsets
 * still match the string.
 */
export function writeByteImage(sql: string, bytes: Buffer): boolean {
  const n = sql.length;
  // UTF-8 is longer than n bytes exactly when a character is not ASCII, and with room for 4 more
  // bytes (a character's most) a longer encoding cannot stop at n: one call writes and tells.
  const ascii = bytes.write(sql) === n; // UTF-8 from 0 to the end: Buffer#write's shortest path
  if (!ascii) {
    for (let i = 0; i < n; i++) {
      const c = sql.charCodeAt(i);
      bytes[i] = c < 0x80 ? c : isUnicodeSpace(c) ? B_UNICODE_SPACE : B_UNICODE;
    }
  }
  for (let k = n; k < n + BYTE_IMAGE_PADDING; k++) bytes[k] = 0;
  return ascii;
}

// Character classes; 0 is everything else.
const C_WORD = 1;
const C_DIGIT = 2;
const C_OP = 3;

/** ASCII character classes. */
const CLASS: Readonly<Uint8Array> = (() => {
  const cls = new Uint8Array(128);
  for (let c = 65; c <= 90; c++) cls[c] = C_WORD;
  for (let c = 97; c <= 122; c++) cls[c] = C_WORD;
  cls[95] = C_WORD;
  for (let c = 48; c <= 57; c++) cls[c] = C_DIGIT;
  for (const ch of '+-*/<>=~!@#^&|') cls[ch.charCodeAt(0)] = C_OP;
  return cls;
})();

/** 1 for ASCII characters that continue a word: letters, digits, `_`, `$`. */
const WORD_PART: Readonly<Uint8Array> = (() => {
  const t = new Uint8Array(128);
  for (let c = 0; c < 128; c++) if (CLASS[c] === C_WORD || CLASS[c] === C_DIGIT || c === 36) t[c] = 1;
  return t;
})();

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Non-ASCII whitespace; everything else above 0x7f may be part of an identifier. */
function isUnicodeSpace(c: number): boolean {
  return (
    c === 0xa0 || c === 0xfeff || c === 0x1680 || (c >= 0x2000 && c <= 0x200b) ||
    c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000
  );
}

/** Skips a quoted run whose quote doubles as its escape; returns the offset after the closing quote. */
function skipQuoted(b: Uint8Array, i: number, n: number, quote: number): number {
  while (i < n) {
    if (b[i] === quote) {
      if (b[i + 1] !== quote) return i + 1;
      i += 2;
    } else i++;
  }
  return n;
}

/** Skips the body of E'…' (or a MySQL string, '…' or "…") where backslash escapes the next character and a doubled quote is one. */
function skipEscapeString(b: Uint8Array, i: number, n: number, quote: number): number {
  while (i < n) {
    const c = b[i];
    if (c === 92) i += 2;
    else if (c === quote) {
      if (b[i + 1] !== quote) return i + 1;
      i += 2;
    } else i++;
  }
  return n;
}

/** Skips the rest of a block comment whose `/*` ends before i, counting the comments opened in it (PostgreSQL's nesting). */
function skipNestedComment(b: Uint8Array, i: number, n: number): number {
  let depth = 1;
  while (i < n) {
    const c = b[i];
    if (c === 42 && b[i + 1] === 47) {
      i += 2;
      if (--depth === 0) return i;
    } else if (c === 47 && b[i + 1] === 42) {
      depth++;
      i += 2;
    } else i++;
  }
  return n;
}

function scanDigits(b: Uint8Array, i: number, n: number): number {
  while (i < n && isDigit(b[i]!)) i++;
  return i;
}

function scanNumber(b: Uint8Array, i: number, n: number): number {
  if (b[i] === 48 && (b[i + 1]! | 32) === 120 && isHex(b[i + 2]!)) {
    i += 3;
    while (i < n && isHex(b[i]!)) i++;
    return i;
  }
  i = scanDigits(b, i, n);
  if (i < n && b[i] === 46) i = scanDigits(b, i + 1, n);
  if (i < n && (b[i]! | 32) === 101) {
    let j = i + 1;
    if (b[j] === 43 || b[j] === 45) j++;
    if (j < n && isDigit(b[j]!)) i = scanDigits(b, j + 1, n);
  }
  return i;
}

function isHex(c: number): boolean {
  return isDigit(c) || ((c | 32) >= 97 && (c | 32) <= 102);
}

/** Letters, digits, `_`, `$` and non-space non-ASCII continue a word. */
function isWordByte(c: number): boolean {
  return c < 128 ? WORD_PART[c] === 1 : c !== B_UNICODE_SPACE;
}

/** psycopg placeholder conversions: %s, %b (binary), %t (text). */
function isParamLetter(c: number | undefined): boolean {
  return c === 115 || c === 98 || c === 116;
}

/** Zero bytes `writeByteImage`'s buffer needs past the statement, so lookahead never reads stale bytes. */
export const BYTE_IMAGE_PADDING = 4;

/**
 * Tokenizes the statement whose byte image (see `writeByteImage`) is `b[0, n)`, followed by
 * BYTE_IMAGE_PADDING zero bytes, into `t`, growing its buffer when needed. `sql` is the text
 * itself, used only to find dollar-quote terminators exactly. `dialect` (see dialect.ts) says
 * whether block comments nest, whether a backslash escapes in plain strings, whether `"…"` is a
 * string and whether `#` starts a line comment; in the unknown
 * dialect strings follow standard_conforming_strings (a backslash is ordinary) until a backtick
 * identifier shows the statement is MySQL's. Never throws and always advances: unterminated
 * strings, identifiers and comments run to the end; unknown characters become TK_OTHER tokens.
 */
export function tokenize(sql: string, b: Uint8Array, n: number, t: Tokens, dialect: SqlDialect = UNKNOWN_DIALECT): void {
  let d = t.data;
  let count = 0;
  let top = -1; // innermost open bracket; older ones are chained through their pair slots
  let prevKind = 0;
  let prevAux = 0;
  let firstSemi = -1;
  let topKeywords = t.topKeywords;
  let topKeywordCount = 0;
  let runFirst = -1; // first token of the verbatim run being extended, or -1
  let prevEnd = 0; // end offset of the previous token
  // MySQL escapes quotes in strings with backslashes; its identifiers (Django's too) use backticks.
  let backslashEscapes = (dialect & BACKSLASH_ESCAPES) !== 0;
  const hashComments = (dialect & HASH_COMMENTS) !== 0;
  let i = 0;

  while (i < n) {
    const c = b[i]!;
    if (c <= 32 || c === B_UNICODE_SPACE) {
      i++;
      continue;
    }
    const start = i;
    let kind = TK_OTHER;
    let aux = 0;
    let verbatim = true; // for VERBATIM kinds: false for a keyword not written as canonical text

    if (c >= 128 || CLASS[c] === C_WORD) {
      // word: ASCII letter or _, or non-space non-ASCII; keyword hash on the way
      let h = 0;
      let e = c;
      for (;;) {
        h = mixKeywordChar(h, e);
        i++;
        if (i >= n) break;
        e = b[i]!;
        if (!isWordByte(e)) break;
      }
      const len = i - start;
      kind = TK_WORD;
      const q = b[i];
      if (len === 1 && q === 39) {
        // E'…' N'…' X'…' B'…' prefixed strings
        const p = c | 32;
        if (p === 101) {
          i = skipEscapeString(b, i + 1, n, 39);
          kind = TK_STRING;
        } else if (p === 110 || p === 120 || p === 98) {
          i = skipQuoted(b, i + 1, n, 39);
          kind = TK_STRING;
        }
      } else if (len === 1 && (c | 32) === 117 && q === 38 && b[i + 1] === 39) {
        i = skipQuoted(b, i + 2, n, 39); // U&'…'
        kind = TK_STRING;
      }
      if (kind === TK_WORD && len <= MAX_KEYWORD_LENGTH) {
        aux = lookupKeyword(b, start, i, h);
        if (aux === KW.TRUE || aux === KW.FALSE) {
          kind = TK_BOOL;
          aux = 0;
        } else if (aux !== 0) {
          // A keyword is written upper-case: verbatim only when it already is (letters and `_` only).
          verbatim = (KEYWORD_FLAGS[aux]! & FLAG_STATEFUL) === 0;
          for (let k = start; k < i && verbatim; k++) verbatim = (b[k]! & 0x20) === 0;
        }
      }
    } else if (CLASS[c] === C_DIGIT) {
      i = scanNumber(b, i, n);
      kind = TK_NUMBER;
    } else {
      switch (c) {
        case 34: // "identifier", or MySQL's "string"
          if ((dialect & DOUBLE_QUOTED_STRINGS) !== 0) {
            i = skipEscapeString(b, i + 1, n, 34);
            if (nameOnly(b, start, i, prevKind, prevAux, top) || (prevKind === TK_LPAREN && afterInsertTarget(d, count - 1))) {
              // Only ANSI_QUOTES lets a "…" stand here: every "…" of the statement is a name.
              tokenize(sql, b, n, t, dialect & ~DOUBLE_QUOTED_STRINGS);
              return;
            }
            kind = TK_STRING;
            break;
          }
        // falls through
        case 96: {
          // `identifier` (MySQL)
          let j = i + 1;
          aux = QIDENT_UNTERMINATED;
          while (j < n) {
            if (b[j] !== c) j++;
            else if (b[j + 1] === c) {
              aux |= QIDENT_ESCAPED;
              j += 2;
            } else {
              aux &= ~QIDENT_UNTERMINATED;
              j++;
              break;
            }
          }
          i = j;
          kind = TK_QIDENT;
          if (c === 96 && (dialect & KNOWN_DIALECT) === 0) backslashEscapes = true;
          break;
        }
        case 39: // 'string'
          i = backslashEscapes ? skipEscapeString(b, i + 1, n, 39) : skipQuoted(b, i + 1, n, 39);
          kind = TK_STRING;
          break;
        case 40:
          kind = TK_LPAREN;
          i++;
          break;
        case 41:
          kind = TK_RPAREN;
          i++;
          break;
        case 91:
          kind = TK_LBRACKET;
          i++;
          break;
        case 93:
          kind = TK_RBRACKET;
          i++;
          break;
        case 44:
          kind = TK_COMMA;
          i++;
          break;
        case 59:
          kind = TK_SEMI;
          i++;
          break;
        case 46: // . : a number like .5 unless it qualifies a name
          if (
            isDigit(b[i + 1]!) &&
            !(prevKind === TK_WORD && prevAux === 0) && prevKind !== TK_QIDENT && prevKind !== TK_RPAREN &&
            prevKind !== TK_RBRACKET && prevKind !== TK_PARAM
          ) {
            i = scanNumber(b, i, n);
            kind = TK_NUMBER;
          } else {
            kind = TK_DOT;
            i++;
          }
          break;
        case 37: {
          // %s %b %t, %(name)s, %% (escaped modulo), or a lone % operator
          const next = b[i + 1];
          kind = TK_OP;
          if (isParamLetter(next)) {
            kind = TK_PARAM;
            i += 2;
          } else if (next === 37) {
            aux = OP_PERCENT2;
            verbatim = false; // written as one `%`
            i += 2;
          } else if (next === 40) {
            let j = i + 2;
            const limit = Math.min(n, i + 256);
            while (j < limit && b[j] !== 41) j++;
            if (j < limit && isParamLetter(b[j + 1])) {
              kind = TK_PARAM;
              i = j + 2;
            } else i++;
          } else i++;
          break;
        }
        case 63: // ? placeholder (sqlite ?NNN), or the jsonb operators ?| ?&
          if (b[i + 1] === 124 || b[i + 1] === 38) {
            kind = TK_OP;
            i += 2;
          } else {
            kind = TK_PARAM;
            i = scanDigits(b, i + 1, n);
          }
          break;
        case 36: {
          // $1 placeholder, or $$ / $tag$ dollar quoting
          const next = b[i + 1]!;
          if (isDigit(next)) {
            kind = TK_PARAM;
            i = scanDigits(b, i + 2, n);
            break;
          }
          let j = i + 1;
          if (next !== 36) {
            if (!(next >= 128 ? next !== B_UNICODE_SPACE : CLASS[next] === C_WORD)) {
              i++;
              break; // a lone $
            }
            while (j < n && b[j] !== 36 && isWordByte(b[j]!)) j++;
            if (j >= n || b[j] !== 36) {
              i++;
              break;
            }
          }
          const tag = sql.slice(i, j + 1);
          const close = sql.indexOf(tag, j + 1);
          i = close < 0 ? n : close + tag.length;
          kind = TK_STRING;
          break;
        }
        case 58: {
          // :: cast, := assignment, :name placeholder, or a lone colon
          const next = b[i + 1]!;
          if (next === 58) {
            kind = TK_CAST;
            i += 2;
          } else if (next === 61) {
            kind = TK_OP;
            i += 2;
          } else if (next < 128 && CLASS[next] === C_WORD) {
            kind = TK_PARAM;
            i += 2;
            while (i < n && isWordByte(b[i]!)) i++;
          } else {
            kind = TK_OP;
            i++;
          }
          break;
        }
        default:
          if (CLASS[c] !== C_OP) {
            i++; // unknown character: kept as written
            break;
          }
          if ((c === 45 && b[i + 1] === 45) || (c === 35 && hashComments)) {
            // -- line comment, or MySQL's # one
            i++;
            while (i < n && b[i] !== 10 && b[i] !== 13) i++;
            continue;
          }
          if (c === 47 && b[i + 1] === 42) {
            // /* block comment */, nested only where the dialect nests them
            if ((dialect & NESTED_COMMENTS) === 0) {
              const close = sql.indexOf('*/', i + 2);
              i = close < 0 ? n : close + 2;
            } else i = skipNestedComment(b, i + 2, n);
            continue;
          }
          i = scanOperator(b, i, n, hashComments);
          kind = TK_OP;
          if (i - start === 1) {
            if ((c === 45 || c === 43) && unaryContext(prevKind, prevAux)) {
              const f = b[i]!;
              if (isDigit(f) || (f === 46 && isDigit(b[i + 1]!))) {
                i = scanNumber(b, i, n);
                kind = TK_NUMBER;
              }
            }
            if (kind === TK_OP) aux = c === 61 ? OP_EQ : c === 60 ? OP_LT : c === 62 ? OP_GT : c === 42 ? OP_STAR : OP_NONE;
          } else if (i - start === 2) {
            const f = b[start + 1];
            if (f === 61) aux = c === 60 ? OP_LE : c === 62 ? OP_GE : c === 33 ? OP_NE : c === 61 ? OP_EQ : OP_NONE;
            else if (c === 60 && f === 62) aux = OP_NE;
          }
      }
    }

    const o = count * STRIDE;
    if (o + STRIDE > d.length) d = grow(t, n);
    d[o] = kind | (aux << AUX_SHIFT);
    d[o + 1] = start;
    d[o + 2] = i;
    if (kind === TK_LPAREN || kind === TK_LBRACKET) {
      d[o + 3] = top;
      top = count;
    } else if (kind === TK_RPAREN || kind === TK_RBRACKET) {
      if (top >= 0) {
        const po = top * STRIDE + 3;
        const outer = d[po]!;
        d[po] = count;
        d[o + 3] = top;
        top = outer;
      } else d[o + 3] = -1;
    } else {
      d[o + 3] = -1;
      if (top < 0) {
        if (kind === TK_WORD && aux !== 0) {
          if (topKeywordCount === topKeywords.length) topKeywords = growTopKeywords(t);
          topKeywords[topKeywordCount++] = count;
        } else if (kind === TK_SEMI && firstSemi < 0) firstSemi = count;
      }
    }
    // Extend the verbatim run, or end it and maybe start another at this token.
    if (VERBATIM[kind] === 1 && verbatim) {
      // Inside a run only `.` and `,` change canonical spacing (NO_SPACE_AFTER / NO_SPACE_BEFORE).
      const gap = prevKind === TK_DOT || kind === TK_DOT || kind === TK_COMMA ? 0 : 1;
      if (runFirst >= 0 && start - prevEnd === gap && (gap === 0 || b[prevEnd] === 32)) {
        d[runFirst * STRIDE + 3] = count;
      } else runFirst = count;
    } else runFirst = -1;
    prevEnd = i;
    count++;
    prevKind = kind;
    prevAux = aux;
    // `%s, %s, …`: the bytes ", %s" always lex as a comma and a `%s`, so write them in a tight loop.
    if (kind === TK_PARAM && i - start === 2 && c === 37 && b[start + 1] === 115 && b[i] === 44 && b[i + 1] === 32 && b[i + 2] === 37 && b[i + 3] === 115) {
      const first = count - 1;
      // Find the run's end first, so the writing loop needs no capacity check.
      let runEnd = i;
      do runEnd += 4;
      while (b[runEnd] === 44 && b[runEnd + 1] === 32 && b[runEnd + 2] === 37 && b[runEnd + 3] === 115);
      const last = count + ((runEnd - i) >> 1);
      while (last * STRIDE > d.length) d = grow(t, n);
      for (let r = count * STRIDE; i < runEnd; r += 2 * STRIDE, i += 4) {
        d[r] = TK_COMMA;
        d[r + 1] = i;
        d[r + 2] = i + 1;
        d[r + 3] = -1;
        d[r + 4] = TK_PARAM;
        d[r + 5] = i + 2;
        d[r + 6] = i + 4;
        d[r + 7] = -1;
      }
      count = last;
      d[first * STRIDE + 3] = count - 1;
      prevEnd = i;
    }
  }
  // Unclosed brackets pair with the end.
  while (top >= 0) {
    const po = top * STRIDE + 3;
    const outer = d[po]!;
    d[po] = count;
    top = outer;
  }
  t.count = count;
  t.firstSemi = firstSemi;
  t.topKeywordCount = topKeywordCount;
}

/**
 * Whether MySQL's `"…"` at b[start, end) stands where a string cannot, so the server reads it as a
 * name (sql_mode ANSI_QUOTES): after `.`, right before `.` (`"t"."id"`), or after JOIN, UPDATE,
 * INTO, or a FROM outside brackets (inside them FROM may be a function's: `TRIM(… FROM "x")`). A
 * backslash in it leaves the dot undecided: `"a\".b"` is one string.
 */
function nameOnly(b: Uint8Array, start: number, end: number, prevKind: number, prevAux: number, top: number): boolean {
  if (prevKind === TK_DOT) return true;
  if (prevKind === TK_WORD && (prevAux === KW.JOIN || prevAux === KW.UPDATE || prevAux === KW.INTO || (prevAux === KW.FROM && top < 0))) return true;
  if (b[end] !== 46 || b[end - 1] !== 34) return false;
  for (let k = start + 1; k < end; k++) if (b[k] === 92) return false;
  return true;
}

/** Whether the `(` at token `open` follows `INTO name` or `INTO schema.name`: an INSERT's column list, of names only. */
function afterInsertTarget(d: Int32Array, open: number): boolean {
  let k = open - 1;
  if (k < 0 || !isName(d, k)) return false;
  if (k >= 2 && (d[(k - 1) * STRIDE]! & KIND_MASK) === TK_DOT && isName(d, k - 2)) k -= 2;
  const into = d[(k - 1) * STRIDE];
  return k >= 1 && (into! & KIND_MASK) === TK_WORD && into! >> AUX_SHIFT === KW.INTO;
}

/** Whether token k is a plain or quoted name. */
function isName(d: Int32Array, k: number): boolean {
  const slot = d[k * STRIDE]!;
  const kind = slot & KIND_MASK;
  return kind === TK_QIDENT || (kind === TK_WORD && slot >> AUX_SHIFT === 0);
}

function growTopKeywords(t: Tokens): Int32Array {
  const next = new Int32Array(t.topKeywords.length * 2);
  next.set(t.topKeywords);
  return (t.topKeywords = next);
}

/** Doubles the token buffer (never beyond n + 1 tokens: each token consumes a character). */
function grow(t: Tokens, n: number): Int32Array {
  const next = new Int32Array(Math.min(Math.max(t.data.length * 2, 64 * STRIDE), (n + 1) * STRIDE));
  next.set(t.data);
  return (t.data = next);
}

/** Characters that let a multi-character operator end in + or - (PostgreSQL's rule). */
function isOperatorSpecial(c: number): boolean {
  return c !== 43 && c !== 45 && c !== 42 && c !== 47 && c !== 60 && c !== 62 && c !== 61;
}

/**
 * The end of the operator run at i. A run stops where a comment starts (at `#` too where
 * `hashComments`), and cannot end in + or - unless it holds one of ~ ! @ # ^ & |, so `=-5` is `=`
 * then `-5` and `*-1` is `*` then `-1`.
 */
function scanOperator(b: Uint8Array, i: number, n: number, hashComments: boolean): number {
  let j = i + 1;
  let special = isOperatorSpecial(b[i]!);
  while (j < n) {
    const e = b[j]!;
    if (e >= 128 || CLASS[e] !== C_OP) break;
    const f = b[j + 1];
    if ((e === 45 && f === 45) || (e === 47 && f === 42) || (e === 35 && hashComments)) break;
    if (isOperatorSpecial(e)) special = true;
    j++;
  }
  if (!special) {
    while (j - i > 1 && (b[j - 1] === 43 || b[j - 1] === 45)) j--;
  }
  return j;
}

/** Whether a `-` or `+` here is a sign (after an operator, `(`, `,`, or a keyword that ends no expression). */
function unaryContext(prevKind: number, prevAux: number): boolean {
  switch (prevKind) {
    case 0:
    case TK_OP:
    case TK_LPAREN:
    case TK_LBRACKET:
    case TK_COMMA:
    case TK_SEMI:
      return true;
    case TK_WORD:
      return prevAux !== 0 && prevAux !== KW.END && prevAux !== KW.NULL;
    default:
      return false;
  }
}
