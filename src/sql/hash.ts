/** FNV-1a 64 over UTF-8, computed with 32-bit integer arithmetic (no BigInt) so it stays fast and portable. */

/**
 * The FNV-1a 64-bit hash of the UTF-8 encoding of `codes[0, len)` (UTF-16 code units, or bytes that
 * are Latin-1 code points), as 16 lowercase hex characters. Lone surrogates hash as U+FFFD, as
 * `TextEncoder` would encode them. Any standard FNV-1a 64 over the same UTF-8 bytes gives the same
 * value: the text `a` hashes to `af63dc4c8601ec8c`, the empty text to `cbf29ce484222325`.
 */
export function fnv1a64(codes: Uint8Array | Uint16Array, len: number): string {
  // offset basis 0xcbf29ce484222325 in two halves; prime 0x100000001b3 = 2^40 + 435
  let hi = 0xcbf29ce4 | 0;
  let lo = 0x84222325 | 0;
  // (hi:lo) * (2^40 + 435) mod 2^64 per byte. The low word is Math.imul's low 32 bits, so the
  // chain from one byte to the next is an xor and a multiply. The high word is 435 * hi plus a
  // term from that byte's low word alone (highWordTerm), so two bytes fold into hi at once,
  // hi * 435^2 + term0 * 435 + term1: the high word's chain is then half as long as the low one's.
  let i = 0;
  for (; i + 1 < len; i += 2) {
    const c0 = codes[i]!;
    const c1 = codes[i + 1]!;
    if ((c0 | c1) >= 0x80) return fnv1a64Utf8(codes, len); // rare: canonical text is almost always ASCII
    const lo0 = lo ^ c0;
    const m0 = Math.imul(lo0, 435);
    const lo1 = m0 ^ c1;
    // highWordTerm(lo0) * 435 + highWordTerm(lo1), with (lo0 << 8) * 435 taken from m0.
    hi = (Math.imul(hi, PRIME_LOW_SQUARED) + Math.imul(carry(lo0), 435) + carry(lo1) + ((m0 + lo1) << 8)) | 0;
    lo = Math.imul(lo1, 435);
  }
  if (i < len) {
    const c = codes[i]!;
    if (c >= 0x80) return fnv1a64Utf8(codes, len);
    lo ^= c;
    hi = (Math.imul(hi, 435) + highWordTerm(lo)) | 0;
    lo = Math.imul(lo, 435);
  }
  return hex16(hi, lo);
}

const PRIME_LOW_SQUARED = Math.imul(435, 435);

/** The FNV-1a 64 state of the empty text: `state` of `fnv1a64Run` before any byte. */
export const FNV_OFFSET_HI = 0xcbf29ce4 | 0;
export const FNV_OFFSET_LO = 0x84222325 | 0;

/**
 * Runs FNV-1a 64 on from `state` (hi, lo) over the ASCII bytes `codes[from, to)`, leaving the new
 * state in `state`: the hash of a text can then go on from the state after a prefix hashed before.
 * Returns false, `state` undefined, at a byte of 0x80 or more (hash such a text with `fnv1a64`).
 * The same steps as `fnv1a64`.
 */
export function fnv1a64Run(codes: Uint8Array, from: number, to: number, state: Int32Array): boolean {
  let hi = state[0]!;
  let lo = state[1]!;
  let i = from;
  for (; i + 1 < to; i += 2) {
    const c0 = codes[i]!;
    const c1 = codes[i + 1]!;
    if ((c0 | c1) >= 0x80) return false;
    const lo0 = lo ^ c0;
    const m0 = Math.imul(lo0, 435);
    const lo1 = m0 ^ c1;
    hi = (Math.imul(hi, PRIME_LOW_SQUARED) + Math.imul(carry(lo0), 435) + carry(lo1) + ((m0 + lo1) << 8)) | 0;
    lo = Math.imul(lo1, 435);
  }
  if (i < to) {
    const c = codes[i]!;
    if (c >= 0x80) return false;
    lo ^= c;
    hi = (Math.imul(hi, 435) + highWordTerm(lo)) | 0;
    lo = Math.imul(lo, 435);
  }
  state[0] = hi;
  state[1] = lo;
  return true;
}

/** The fingerprint (16 hex digits) of an FNV-1a 64 state. */
export function fnv1a64Hex(state: Int32Array): string {
  return hex16(state[0]!, state[1]!);
}

/**
 * What a byte adds to the high word besides 435 * hi, given the low word after its xor: the
 * 2^40 part of the prime (lo << 8) and the carry of lo * 435 (its bits 32 and up, from 16-bit
 * pieces so every product is exact).
 */
function highWordTerm(lo: number): number {
  return (carry(lo) + (lo << 8)) | 0;
}

/** Bits 32 and up of lo * 435 (lo unsigned). */
function carry(lo: number): number {
  return ((lo >>> 16) * 435 + (((lo & 0xffff) * 435) >>> 16)) >>> 16;
}

/** The general case: encodes each code unit (or surrogate pair) as UTF-8 on the fly. */
function fnv1a64Utf8(codes: Uint8Array | Uint16Array, len: number): string {
  let hi = 0xcbf29ce4 | 0;
  let lo = 0x84222325 | 0;
  for (let i = 0; i < len; i++) {
    let c = codes[i]!;
    let bytes: number; // up to 4 UTF-8 bytes, first byte in the low 8 bits
    let nbytes: number;
    if (c < 0x80) {
      bytes = c;
      nbytes = 1;
    } else if (c < 0x800) {
      bytes = (0xc0 | (c >> 6)) | ((0x80 | (c & 63)) << 8);
      nbytes = 2;
    } else {
      if (c >= 0xd800 && c <= 0xdfff) {
        const next = i + 1 < len ? codes[i + 1]! : 0;
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
          i++;
        } else c = 0xfffd;
      }
      if (c < 0x10000) {
        bytes = (0xe0 | (c >> 12)) | ((0x80 | ((c >> 6) & 63)) << 8) | ((0x80 | (c & 63)) << 16);
        nbytes = 3;
      } else {
        bytes =
          (0xf0 | (c >> 18)) | ((0x80 | ((c >> 12) & 63)) << 8) |
          ((0x80 | ((c >> 6) & 63)) << 16) | ((0x80 | (c & 63)) << 24);
        nbytes = 4;
      }
    }
    for (let k = 0; k < nbytes; k++) {
      lo ^= (bytes >>> (k * 8)) & 0xff;
      const a = (lo & 0xffff) * 435;
      const m = (lo >>> 16) * 435 + (a >>> 16);
      hi = (Math.imul(hi, 435) + (m >>> 16) + (lo << 8)) | 0;
      lo = (m << 16) | (a & 0xffff);
    }
  }
  return hex16(hi, lo);
}

const HEX: Readonly<Uint8Array> = new Uint8Array([48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 97, 98, 99, 100, 101, 102]);

/** 16 lowercase hex digits in one call: Number#toString(16) plus padding costs ten times more. */
function hex16(hi: number, lo: number): string {
  return String.fromCharCode(
    HEX[hi >>> 28]!, HEX[(hi >>> 24) & 15]!, HEX[(hi >>> 20) & 15]!, HEX[(hi >>> 16) & 15]!,
    HEX[(hi >>> 12) & 15]!, HEX[(hi >>> 8) & 15]!, HEX[(hi >>> 4) & 15]!, HEX[hi & 15]!,
    HEX[lo >>> 28]!, HEX[(lo >>> 24) & 15]!, HEX[(lo >>> 20) & 15]!, HEX[(lo >>> 16) & 15]!,
    HEX[(lo >>> 12) & 15]!, HEX[(lo >>> 8) & 15]!, HEX[(lo >>> 4) & 15]!, HEX[lo & 15]!,
  );
}

/** FNV-1a 64 of a string's UTF-8, as 16 hex digits (the same function the fingerprint uses). */
export function fnv1a64Text(text: string): string {
  const codes = new Uint16Array(text.length);
  for (let i = 0; i < text.length; i++) codes[i] = text.charCodeAt(i);
  return fnv1a64(codes, text.length);
}
