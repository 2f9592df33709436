/** Turns a raw statement into its canonical text, fingerprint and facts (see DESIGN.md "Fingerprint"). */

import { DOUBLE_QUOTED_STRINGS, UNKNOWN_DIALECT, dialectOf, type SqlDialect } from './dialect.js';
import { createColumnRefCache, extractFacts } from './facts.js';
import type { ColumnRefCache } from './facts.js';
import { fnv1a64 } from './hash.js';
import { OnePass } from './onepass.js';
import { FLAG_FUNCTION, KEYWORD_FLAGS, KEYWORD_TEXT, KW } from './keywords.js';
import {
  AUX_SHIFT, BYTE_IMAGE_PADDING, KIND_MASK, OP_PERCENT2, STRIDE,
  TK_BOOL, TK_CAST, TK_COMMA, TK_DOT, TK_LBRACKET, TK_LPAREN, TK_NUMBER, TK_OP, TK_PARAM,
  TK_QIDENT, TK_RBRACKET, TK_RPAREN, TK_SEMI, TK_STRING, TK_WORD, NO_SPACE_AFTER, NO_SPACE_BEFORE,
  createTokens, tokenize, verbatimRunEnd, writeByteImage,
} from './lexer.js';
import type { Tokens } from './lexer.js';
import type { NormalizedSql } from './types.js';

/**
 * Scratch buffers for one normaliser. Reusing them is what makes normalisation allocation-light;
 * a workspace must not be shared by two calls at once (JavaScript never does that on one thread).
 */
export interface Workspace {
  tokens: Tokens;
  /**
   * One buffer for the byte image and, from `narrowAt` on, the narrow canonical text: a verbatim
   * run then moves from one to the other with a single `copyWithin`.
   */
  image: Buffer;
  /** The statement's byte image (see `writeByteImage`): `image` up to `narrowAt`. */
  bytes: Buffer;
  /** Canonical text when every kept character is Latin-1 (the usual case), one byte each: `image` from `narrowAt`. */
  narrow: Buffer;
  narrowAt: number;
  /** Canonical text otherwise. */
  wide: Uint16Array;
  /** Collapse state per open bracket, FRAME slots each; frame 0 is the statement level. */
  frames: Int32Array;
  /** Collapse state per open CASE, CASE_FRAME slots each. */
  cases: Int32Array;
  /** Column refs built by earlier statements (null for a one-shot call, which would only fill it). */
  refs: ColumnRefCache | null;
  /** The one-pass reader of Django's statement shapes. */
  onePass: OnePass;
  /** Where the last token of the statement normalised last ends; 0 when it had none. */
  lastTokenEnd: number;
}

/** Statements longer than this get a throwaway workspace, so a cached one never holds megabytes. */
const MAX_REUSED_LENGTH = 1 << 16;

/** Bytes of `image` a statement of `length` characters needs: its image, then up to 2 output bytes per character. */
function imageSize(length: number): number {
  return length + BYTE_IMAGE_PADDING + 2 * length + 16;
}

/** Points `bytes` and `narrow` into `image`, sized for statements up to `length` characters. */
function useImage(ws: Workspace, image: Buffer, length: number): void {
  ws.image = image;
  ws.narrowAt = length + BYTE_IMAGE_PADDING;
  ws.bytes = image.subarray(0, ws.narrowAt);
  ws.narrow = image.subarray(ws.narrowAt);
}

/** A workspace over `image`, laid out for statements up to `length` characters. */
function workspace(image: Buffer, length: number, tokens: Tokens, frames: Int32Array, cases: Int32Array, refs: ColumnRefCache | null): Workspace {
  const narrowAt = length + BYTE_IMAGE_PADDING;
  return {
    tokens,
    image,
    bytes: image.subarray(0, narrowAt),
    narrow: image.subarray(narrowAt),
    narrowAt,
    wide: new Uint16Array(0),
    frames,
    cases,
    refs,
    onePass: new OnePass(refs !== null),
    lastTokenEnd: 0,
  };
}

export function createWorkspace(expectedLength = 1024): Workspace {
  return workspace(
    Buffer.allocUnsafeSlow(imageSize(expectedLength)), expectedLength, createTokens(expectedLength + 1),
    new Int32Array(FRAME * 32), new Int32Array(CASE_FRAME * 8), createColumnRefCache(),
  );
}

/**
 * A workspace for one call: buffers from Node's shared pool and frame stacks small enough to live
 * on the JS heap, because off-heap typed arrays cost microseconds each to allocate.
 */
function createOneShotWorkspace(length: number): Workspace {
  return workspace(
    Buffer.allocUnsafe(imageSize(length)), length, createTokens((length >> 1) + 8),
    new Int32Array(FRAME), new Int32Array(CASE_FRAME), null,
  );
}

/**
 * Normalises one statement: comments dropped, literals and placeholders as `?`, value lists
 * collapsed, keywords uppercased, one canonical spacing. `system` is the span's `db.system`
 * (`postgresql`, `mysql`, `sqlite`…): it says whether block comments nest and whether a backslash
 * escapes a quote (dialect.ts); without it, rules that need no dialect apply. Never throws. Each
 * call allocates its own scratch buffers; code that normalises many statements should use
 * `createSqlNormalizer`.
 *
 * @example
 * normalizeSql('SELECT "t"."id" FROM "t" WHERE "t"."id" IN (%s, %s) LIMIT 21').sql
 * // 'SELECT "t"."id" FROM "t" WHERE "t"."id" IN (?) LIMIT ?'
 * normalizeSql("SELECT id FROM users WHERE name = 'O\\'Brien'", 'mysql').sql
 * // 'SELECT id FROM users WHERE name = ?'
 */
export function normalizeSql(statement: string, system?: string): NormalizedSql {
  return normalizeWith(createOneShotWorkspace(typeof statement === 'string' ? statement.length : 0), statement, true, dialectOf(system));
}

/**
 * `normalizeSql` reusing `ws` (see `createSqlNormalizer`), in `dialect`. `onePass: false` takes the
 * general path for every statement: the reference the one-pass reader is tested against. The
 * one-pass reader needs no dialect: it accepts no string, and no comment but blank ones at the end,
 * which end where the statement ends in every dialect. It reads `"…"` as a name, so it is left out
 * where that is a string (MySQL, whose Django backend writes backticks the reader never accepts).
 */
export function normalizeWith(ws: Workspace, statement: string, onePass = true, dialect: SqlDialect = UNKNOWN_DIALECT): NormalizedSql {
  const sql = typeof statement === 'string' ? statement : String(statement ?? '');
  const n = sql.length;
  const owner = ws;
  if (ws.narrowAt < n + BYTE_IMAGE_PADDING) {
    if (n > MAX_REUSED_LENGTH) ws = createWorkspace(n);
    else useImage(ws, Buffer.allocUnsafeSlow(imageSize(2 * n)), 2 * n);
  }
  const bytes = ws.bytes;
  const ascii = writeByteImage(sql, bytes);

  if (ascii && onePass && (dialect & DOUBLE_QUOTED_STRINGS) === 0) {
    // Django's own shapes: canonical text and facts in one pass, no token array.
    const pass = ws.onePass;
    const facts = pass.read(sql, bytes, n, ws.image, ws.narrowAt, ws.refs);
    if (facts !== null) {
      owner.lastTokenEnd = pass.lastTokenEnd;
      return { fingerprint: pass.fingerprint, sql: ws.narrow.toString('latin1', 0, pass.length), facts };
    }
  }

  const t = ws.tokens;
  tokenize(sql, bytes, n, t, dialect);
  owner.lastTokenEnd = t.count > 0 ? t.data[(t.count - 1) * STRIDE + 2]! : 0;

  const cap = 2 * n + 16; // each token writes at most its own length plus one space
  let text: string;
  let fingerprint: string;
  let len = emit(sql, bytes, ascii, t, ws.narrow, true, ws);
  if (len >= 0) {
    text = ws.narrow.toString('latin1', 0, len);
    fingerprint = fnv1a64(ws.narrow, len);
  } else {
    // A kept identifier has a character above U+00FF: redo into 16-bit output.
    if (ws.wide.length < cap) ws.wide = new Uint16Array(cap);
    len = emit(sql, bytes, ascii, t, ws.wide, false, ws);
    text = fromCodes(ws.wide, len);
    fingerprint = fnv1a64(ws.wide, len);
  }
  const refs = ws.refs;
  if (refs !== null) refs.bytes = ascii ? bytes : null;
  return { fingerprint, sql: text, facts: extractFacts(sql, t, refs) };
}

function fromCodes(codes: Uint16Array, len: number): string {
  let s = '';
  for (let i = 0; i < len; i += 8192) {
    s += String.fromCharCode.apply(null, codes.subarray(i, Math.min(len, i + 8192)) as unknown as number[]);
  }
  return s;
}

// Frame slots. A LIST frame (`IN (`, `ARRAY[`) drops elements whose text equals the first one's;
// any frame in VALUES mode does the same for whole rows `(…), (…)` at its level.
const FRAME = 9;
const F_TYPE = 0;
const F_FIRST_START = 1; // out offset where the first element starts
const F_FIRST_END = 2; // out offset where it ends; -1 until the first comma
const F_ELEM_START = 3;
const F_SEP_START = 4; // out offset of the comma before the current element
const F_VALUES = 5; // 1 while this level is a VALUES row list
const F_ROW_FIRST_START = 6;
const F_ROW_FIRST_END = 7; // -1 until the first row closes
const F_ROW_SEP_START = 8;
const FT_PLAIN = 0;
const FT_LIST = 1;
const FT_ROW = 2;

// CASE slots: identical `WHEN … THEN …` arms collapse like list elements (bulk_update's CASE).
const CASE_FRAME = 4;
const C_DEPTH = 0;
const C_FIRST_START = 1;
const C_FIRST_END = 2; // -1 until the first arm ends
const C_ARM_START = 3; // -1 before the first WHEN

/** Whether out[a0, a1) equals out[b0, b1), ignoring one leading space on either. */
function sameText(out: Uint8Array | Uint16Array, a0: number, a1: number, b0: number, b1: number): boolean {
  if (out[a0] === 32) a0++;
  if (out[b0] === 32) b0++;
  if (a1 - a0 !== b1 - b0) return false;
  for (let k = 0; k < a1 - a0; k++) if (out[a0 + k] !== out[b0 + k]) return false;
  return true;
}

function growFrames(ws: Workspace, needed: number): Int32Array {
  const next = new Int32Array(Math.max(needed, ws.frames.length * 2));
  next.set(ws.frames);
  return (ws.frames = next);
}

function growCases(ws: Workspace, needed: number): Int32Array {
  const next = new Int32Array(Math.max(needed, ws.cases.length * 2));
  next.set(ws.cases);
  return (ws.cases = next);
}

/**
 * Writes the canonical text of the tokens into `out` and returns its length, or -1 when `narrow`
 * and a kept character does not fit in a byte. Spacing: one space between tokens, none after
 * `(` `[` `.` `::`, none before `)` `]` `,` `.` `::` `;` `[`, and none before `(` after a function
 * name (`COUNT(*)`, `UPPER(`) but one after other keywords (`IN (`, `VALUES (`).
 */
function emit(
  sql: string, bytes: Uint8Array, ascii: boolean, t: Tokens,
  out: Uint8Array | Uint16Array, narrow: boolean, ws: Workspace,
): number {
  const d = t.data;
  let count = t.count;
  // Trailing semicolons are not structure.
  while (count > 0 && (d[(count - 1) * STRIDE]! & KIND_MASK) === TK_SEMI) count--;

  let frames = ws.frames;
  for (let k = 0; k < FRAME; k++) frames[k] = 0;
  frames[F_FIRST_END] = -1;
  frames[F_ROW_FIRST_END] = -1;
  let depth = 0; // index of the current frame
  let f = 0; // depth * FRAME
  let curType = FT_PLAIN; // frames[f + F_TYPE]
  let curValues = 0; // frames[f + F_VALUES]
  let caseTop = -1;

  let o = 0;
  let prevKind = 0;
  let prevKw = 0;
  let prev2Kw = 0;

  for (let i = 0; i < count; i++) {
    const info = d[i * STRIDE]!;
    const kind = info & KIND_MASK;
    const aux = info >> AUX_SHIFT;

    // A VALUES row list ends at the first token at its level that is neither a row nor a comma.
    if (curValues === 1 && kind !== TK_LPAREN && kind !== TK_COMMA) curValues = frames[f + F_VALUES] = 0;

    // Element boundaries, before the comma or closer is written: drop repeats of the first element.
    if (kind === TK_COMMA) {
      if (curType === FT_LIST) {
        if (frames[f + F_FIRST_END] === -1) frames[f + F_FIRST_END] = o;
        else if (sameText(out, frames[f + F_ELEM_START]!, o, frames[f + F_FIRST_START]!, frames[f + F_FIRST_END]!)) {
          o = frames[f + F_SEP_START]!;
        }
        frames[f + F_SEP_START] = o;
      }
      if (curValues === 1) frames[f + F_ROW_SEP_START] = o;
    } else if (kind === TK_RPAREN || kind === TK_RBRACKET) {
      if (curType === FT_LIST && depth > 0 && frames[f + F_FIRST_END] !== -1 &&
        sameText(out, frames[f + F_ELEM_START]!, o, frames[f + F_FIRST_START]!, frames[f + F_FIRST_END]!)) {
        o = frames[f + F_SEP_START]!;
      }
    } else if (caseTop >= 0 && kind === TK_WORD && (aux === KW.WHEN || aux === KW.ELSE || aux === KW.END)) {
      const cases = ws.cases;
      const cf = caseTop * CASE_FRAME;
      if (cases[cf + C_DEPTH] === depth) {
        const arm = cases[cf + C_ARM_START]!;
        if (arm !== -1) {
          if (cases[cf + C_FIRST_END] === -1) {
            cases[cf + C_FIRST_START] = arm;
            cases[cf + C_FIRST_END] = o;
          } else if (sameText(out, arm, o, cases[cf + C_FIRST_START]!, cases[cf + C_FIRST_END]!)) {
            o = arm;
          }
        }
        cases[cf + C_ARM_START] = aux === KW.WHEN ? o : -1;
        if (aux === KW.END) caseTop--;
      }
    }

    // Space before the token.
    if (o > 0 && NO_SPACE_AFTER[prevKind] === 0 && NO_SPACE_BEFORE[kind] === 0) {
      if (kind !== TK_LPAREN || prevKind !== TK_WORD || (prevKw !== 0 && (KEYWORD_FLAGS[prevKw]! & FLAG_FUNCTION) === 0)) {
        out[o++] = 32;
      }
    }
    const tokenStart = o;

    // A verbatim run (see `verbatimRunEnd`) is copied as it is, unless a list or VALUES frame must
    // see its commas or it starts with a savepoint's name.
    // (An ASCII statement never needs the 16-bit pass, so `narrow` always holds here.)
    const runEnd = ascii && curType !== FT_LIST && curValues === 0 ? verbatimRunEnd(d, i) : i;
    if (runEnd > i && !(prevKw === KW.SAVEPOINT || prevKw === KW.RELEASE || prevKw === KW.TO)) {
      const s = d[i * STRIDE + 1]!;
      const e = d[runEnd * STRIDE + 2]!;
      ws.image.copyWithin(ws.narrowAt + o, s, e);
      o += e - s;
      const last = d[runEnd * STRIDE]!;
      const beforeLast = d[(runEnd - 1) * STRIDE]!;
      prevKind = last & KIND_MASK;
      prevKw = prevKind === TK_WORD ? last >> AUX_SHIFT : 0;
      prev2Kw = (beforeLast & KIND_MASK) === TK_WORD ? beforeLast >> AUX_SHIFT : 0;
      i = runEnd;
      continue;
    }

    // The token itself.
    switch (kind) {
      case TK_PARAM: {
        out[o++] = 63; // ?
        // A value run opening a list, `IN (%s, %s, …)`: every element repeats the first, so the
        // run leaves what its first two elements leave, `?, ?` with the second dropped at the next
        // comma or closer; the frame is set as the loop would have left it.
        const runEnd = d[i * STRIDE + 3]!;
        if (runEnd > i && curType === FT_LIST && prevKind === TK_LPAREN && frames[f + F_FIRST_END] === -1) {
          frames[f + F_FIRST_END] = o;
          frames[f + F_SEP_START] = o;
          out[o++] = 44;
          frames[f + F_ELEM_START] = o;
          out[o++] = 32;
          out[o++] = 63;
          i = runEnd;
        }
        break;
      }
      case TK_STRING:
      case TK_NUMBER:
      case TK_BOOL:
        out[o++] = 63; // ?
        break;
      case TK_COMMA:
        out[o++] = 44;
        break;
      case TK_DOT:
        out[o++] = 46;
        break;
      case TK_LPAREN:
        out[o++] = 40;
        break;
      case TK_RPAREN:
        out[o++] = 41;
        break;
      case TK_LBRACKET:
        out[o++] = 91;
        break;
      case TK_RBRACKET:
        out[o++] = 93;
        break;
      case TK_SEMI:
        out[o++] = 59;
        break;
      case TK_CAST:
        out[o++] = 58;
        out[o++] = 58;
        break;
      case TK_OP:
        if (aux === OP_PERCENT2) {
          out[o++] = 37;
          break;
        }
        o = copy(sql, bytes, ascii, i, d, out, o, narrow);
        break;
      case TK_WORD:
        if (aux !== 0) {
          const word = KEYWORD_TEXT[aux]!;
          for (let k = 0; k < word.length; k++) out[o++] = word.charCodeAt(k);
          break;
        }
      // falls through: a plain word is an identifier
      case TK_QIDENT:
        // Savepoint names vary per call (Django: "s140213_x1"), so they are values.
        if (prevKw === KW.SAVEPOINT || prevKw === KW.RELEASE || (prevKw === KW.TO && prev2Kw === KW.ROLLBACK)) {
          out[o++] = 63;
        } else {
          o = copy(sql, bytes, ascii, i, d, out, o, narrow);
        }
        break;
      default:
        o = copy(sql, bytes, ascii, i, d, out, o, narrow);
    }
    if (o < 0) return -1;

    // Frame bookkeeping after the token.
    if (kind === TK_LPAREN || kind === TK_LBRACKET) {
      let type = FT_PLAIN;
      if (kind === TK_LPAREN) {
        if (prevKw === KW.IN) type = FT_LIST;
        else if (curValues === 1) type = FT_ROW;
      } else if (prevKw === KW.ARRAY || (curType === FT_LIST && (prevKind === TK_LBRACKET || prevKind === TK_COMMA))) {
        type = FT_LIST; // ARRAY[…], and ARRAY[[…], […]]
      }
      depth++;
      f = depth * FRAME;
      if (frames.length < f + FRAME) frames = growFrames(ws, f + FRAME);
      frames[f + F_TYPE] = curType = type;
      frames[f + F_FIRST_START] = o;
      frames[f + F_FIRST_END] = -1;
      frames[f + F_ELEM_START] = o;
      frames[f + F_SEP_START] = o;
      frames[f + F_VALUES] = curValues = 0;
      frames[f + F_ROW_FIRST_START] = tokenStart - 1; // the row, from the space before its `(`
      frames[f + F_ROW_FIRST_END] = -1;
      frames[f + F_ROW_SEP_START] = -1;
    } else if ((kind === TK_RPAREN || kind === TK_RBRACKET) && depth > 0) {
      const closedType = curType;
      const rowStart = frames[f + F_ROW_FIRST_START]!;
      depth--;
      f = depth * FRAME;
      curType = frames[f + F_TYPE]!;
      curValues = frames[f + F_VALUES]!;
      if (closedType === FT_ROW && curValues === 1) {
        if (frames[f + F_ROW_FIRST_END] === -1) {
          frames[f + F_ROW_FIRST_START] = rowStart;
          frames[f + F_ROW_FIRST_END] = o;
        } else if (sameText(out, rowStart, o, frames[f + F_ROW_FIRST_START]!, frames[f + F_ROW_FIRST_END]!)) {
          o = frames[f + F_ROW_SEP_START]!; // a repeated row: VALUES (?, ?), (?, ?) is VALUES (?, ?)
        }
      }
    } else if (kind === TK_COMMA) {
      if (curType === FT_LIST) frames[f + F_ELEM_START] = o;
    } else if (kind === TK_WORD && aux !== 0) {
      if (aux === KW.VALUES) {
        frames[f + F_VALUES] = curValues = 1;
        frames[f + F_ROW_FIRST_END] = -1;
      } else if ((aux === KW.SELECT || aux === KW.WITH) && curType === FT_LIST && tokenStart === frames[f + F_FIRST_START]) {
        frames[f + F_TYPE] = curType = FT_PLAIN; // IN (SELECT …) is a subquery, not a list
      } else if (aux === KW.CASE) {
        caseTop++;
        const cases = ws.cases.length < (caseTop + 1) * CASE_FRAME ? growCases(ws, (caseTop + 1) * CASE_FRAME) : ws.cases;
        const cf = caseTop * CASE_FRAME;
        cases[cf + C_DEPTH] = depth;
        cases[cf + C_FIRST_END] = -1;
        cases[cf + C_ARM_START] = -1;
      }
    }

    prev2Kw = prevKw;
    prevKw = kind === TK_WORD ? aux : 0;
    prevKind = kind;
  }
  return o;
}

/** Copies token i as written; -1 when `narrow` and a character does not fit in a byte. */
function copy(
  sql: string, bytes: Uint8Array, ascii: boolean, i: number, d: Int32Array,
  out: Uint8Array | Uint16Array, o: number, narrow: boolean,
): number {
  const s = d[i * STRIDE + 1]!;
  const e = d[i * STRIDE + 2]!;
  if (ascii) {
    for (let k = s; k < e; k++) out[o++] = bytes[k]!;
  } else {
    for (let k = s; k < e; k++) {
      const c = sql.charCodeAt(k);
      if (c > 0xff && narrow) return -1;
      out[o++] = c;
    }
  }
  return o;
}
