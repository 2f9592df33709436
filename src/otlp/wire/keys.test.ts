/** keyCode against a plain map of the keys: every key found wherever it sits, every near miss refused. */
import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { KEYS, keyCode } from './keys.js';

const CODES = new Map(KEYS.map(([key, code]) => [key, code]));
const expected = (key: string): number => CODES.get(key) ?? -1;
const codeAt = (key: string, pad: number): number => {
  const b = Buffer.concat([Buffer.alloc(pad, 0x61), Buffer.from(key, 'latin1'), Buffer.from('xyz')]);
  return keyCode(b, pad, pad + key.length);
};

describe('keyCode', () => {
  test('finds every key at any offset', () => {
    for (const [key, code] of KEYS) for (const pad of [0, 1, 2, 3, 7]) expect(codeAt(key, pad)).toBe(code);
  });

  test('refuses every key changed in one byte, cut short or made longer (unless that is another key)', () => {
    for (const [key] of KEYS) {
      for (let i = 0; i < key.length; i++) {
        for (const c of [0x00, 0x2e, 0x5f, 0x61, 0x7a, 0xff, key.charCodeAt(i) ^ 0x20, key.charCodeAt(i) + 1]) {
          const changed = key.slice(0, i) + String.fromCharCode(c & 0xff) + key.slice(i + 1);
          expect(codeAt(changed, 1)).toBe(expected(changed));
        }
        expect(codeAt(key.slice(0, i), 2)).toBe(expected(key.slice(0, i)));
      }
      expect(codeAt(key + '.', 3)).toBe(expected(key + '.'));
      expect(codeAt('x' + key, 0)).toBe(expected('x' + key));
    }
  });

  test('agrees with the map on arbitrary keys', () => {
    const alphabet = fc.constantFrom(...'abcdeilmnoprstuy._'.split(''));
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: alphabet, maxLength: 30 }), fc.constantFrom(...KEYS.map(([k]) => k))), fc.nat(5), (key, pad) => {
        expect(codeAt(key, pad)).toBe(expected(key));
      }),
      { numRuns: 3000 },
    );
  });
});
