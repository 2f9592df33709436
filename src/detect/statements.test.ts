/** The statement memo in front of the normaliser: the normaliser's answers, fewer calls. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createSqlNormalizer, normalizeSql } from '../sql/index.js';
import { connectionSetupOf } from './connections.js';
import { createStatementMemo, type Normalizer } from './statements.js';

const TEXTS = [
  'SELECT "recruit_note"."id", "recruit_note"."body" FROM "recruit_note" WHERE "recruit_note"."application_id" = %s LIMIT 21',
  'SELECT "t"."id" FROM "t" WHERE "t"."name" = \'abc', // an unterminated string runs into any comment
  'SELECT "t"."id" FROM "t" WHERE "t"."id" = %(id)s ',
  'SELECT 1 -- a line comment ',
  'UPDATE "t" SET "n" = %s WHERE "t"."id" = %s',
  "SELECT set_config('TimeZone', %s, false)",
  'SET ROLE',
  '/* leading */ SELECT "a" FROM "b" ',
  'SELECT "x" FROM "y" /* a ',
  'SELECT "x" FROM "y" /* a /* b */ ', // open where comments nest (PostgreSQL), closed elsewhere
  "SELECT 'it\\'s', \"x\" FROM \"y\" ", // one string on MySQL, an open one elsewhere
  'SELECT "x" FROM "y" WHERE "y"."q" = "',
  '',
];
const COMMENTS = [
  '',
  "/*controller='dashboard',traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'*/",
  "/*controller='dashboard',traceparent='00-1af7651916cd43dd8448eb211c80319c-c7ad6b7169203331-01'*/",
  "/*controller='jobs%%2Flist',route='jobs/'*/",
  '/* line\nbreak */',
  '/* x /*/',
  '/**/',
  '/*/',
  '/* a */ /* b */',
  ' */',
];

/** A normaliser that counts its calls. */
function counted(): { normalize: Normalizer; calls: () => number } {
  const inner = createSqlNormalizer();
  let calls = 0;
  return {
    normalize: (statement, system) => {
      calls++;
      return inner(statement, system);
    },
    calls: () => calls,
  };
}

describe('createStatementMemo', () => {
  it('gives what the normaliser gives the whole statement, for any sequence of texts and comments', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.constantFrom(...TEXTS),
            fc.oneof(fc.constantFrom(...COMMENTS), fc.string({ maxLength: 12 }).map((s) => `/*${s}*/`)),
            fc.constantFrom(undefined, 'postgresql', 'mysql', 'sqlite'),
          ),
          { maxLength: 40 },
        ),
        fc.integer({ min: 0, max: 4 }),
        (calls, maxEntries) => {
          const memo = createStatementMemo(maxEntries);
          const { normalize } = counted();
          for (const [text, comment, system] of calls) {
            const whole = text + comment;
            const facts = memo.facts(text, comment, normalize, system);
            expect(facts.n).toEqual(normalizeSql(whole, system));
            expect(facts.setup).toBe(connectionSetupOf(whole));
          }
        },
      ),
      { numRuns: 600 },
    );
  });

  it("stops calling the normaliser for a text once the normaliser's prefix memo answered it for two comments", () => {
    const memo = createStatementMemo();
    const { normalize, calls } = counted();
    const text = TEXTS[0]!;
    for (let i = 0; i < 50; i++) memo.facts(text, `/*controller='dashboard',traceparent='00-${String(i).padStart(32, '0')}-b7ad6b7169203331-01'*/`, normalize);
    expect(calls()).toBe(2);
    // The same text with a comment of another form (or none) goes to the normaliser.
    memo.facts(text, '/* line\nbreak */', normalize);
    memo.facts(text, '', normalize);
    expect(calls()).toBe(4);
  });

  it('keeps calling the normaliser where a comment can matter (an unterminated string, %( before it)', () => {
    for (const text of [TEXTS[1]!, TEXTS[2]!]) {
      const memo = createStatementMemo();
      const { normalize, calls } = counted();
      for (let i = 0; i < 5; i++) memo.facts(text, `/*traceparent='00-${i}'*/`, normalize);
      expect(calls()).toBe(5);
    }
  });
});
