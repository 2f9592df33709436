/** Lexer edge cases, checked both as tokens and as the canonical text they produce. */

import { describe, expect, test } from 'vitest';
import {
  BYTE_IMAGE_PADDING, KIND_MASK, STRIDE,
  TK_BOOL, TK_CAST, TK_COMMA, TK_DOT, TK_LBRACKET, TK_LPAREN, TK_NUMBER, TK_OP, TK_OTHER, TK_PARAM,
  TK_QIDENT, TK_RBRACKET, TK_RPAREN, TK_SEMI, TK_STRING, TK_WORD,
  createTokens, tokenize, verbatimRunEnd, writeByteImage,
} from './lexer.js';
import { normalizeSql } from './normalize.js';

const NAMES: Record<number, string> = {
  [TK_WORD]: 'word', [TK_QIDENT]: 'qident', [TK_STRING]: 'string', [TK_NUMBER]: 'number',
  [TK_PARAM]: 'param', [TK_BOOL]: 'bool', [TK_LPAREN]: '(', [TK_RPAREN]: ')', [TK_COMMA]: ',',
  [TK_DOT]: '.', [TK_SEMI]: ';', [TK_LBRACKET]: '[', [TK_RBRACKET]: ']', [TK_CAST]: 'cast',
  [TK_OP]: 'op', [TK_OTHER]: 'other',
};

/** `kind:text` for every token of sql. */
function lex(sql: string): string[] {
  const bytes = Buffer.alloc(sql.length + BYTE_IMAGE_PADDING);
  writeByteImage(sql, bytes);
  const t = createTokens(4);
  tokenize(sql, bytes, sql.length, t);
  const out: string[] = [];
  for (let i = 0; i < t.count; i++) {
    const kind = t.data[i * STRIDE]! & KIND_MASK;
    out.push(`${NAMES[kind]}:${sql.slice(t.data[i * STRIDE + 1], t.data[i * STRIDE + 2])}`);
  }
  return out;
}

const canon = (sql: string) => normalizeSql(sql).sql;

/** The raw text of every verbatim run of sql, and the top-level keywords. */
function runs(sql: string): { runs: string[]; topKeywords: string[] } {
  const bytes = Buffer.alloc(sql.length + BYTE_IMAGE_PADDING);
  writeByteImage(sql, bytes);
  const t = createTokens(4);
  tokenize(sql, bytes, sql.length, t);
  const found: string[] = [];
  for (let i = 0; i < t.count; i++) {
    const end = verbatimRunEnd(t.data, i);
    if (end > i) found.push(sql.slice(t.data[i * STRIDE + 1], t.data[end * STRIDE + 2]));
    i = end;
  }
  const topKeywords: string[] = [];
  for (let k = 0; k < t.topKeywordCount; k++) {
    const i = t.topKeywords[k]!;
    topKeywords.push(sql.slice(t.data[i * STRIDE + 1], t.data[i * STRIDE + 2]));
  }
  return { runs: found, topKeywords };
}

describe('strings and comments', () => {
  test('a -- inside a string is not a comment', () => {
    expect(lex("SELECT '--not a comment' FROM t")).toEqual(['word:SELECT', "string:'--not a comment'", 'word:FROM', 'word:t']);
  });

  test('a /* inside a string is not a comment', () => {
    expect(canon("SELECT '/* no */', x FROM t")).toBe('SELECT ?, x FROM t');
  });

  test("doubled quotes escape a quote: 'it''s' is one string", () => {
    expect(lex("x = 'it''s' AND y")).toEqual(['word:x', 'op:=', "string:'it''s'", 'word:AND', 'word:y']);
  });

  test("E'…' strings honour backslash escapes", () => {
    expect(lex("E'a\\'b' x")).toEqual(["string:E'a\\'b'", 'word:x']);
    expect(lex("e'a\\\\' x")).toEqual(["string:e'a\\\\'", 'word:x']);
  });

  test('a plain string ends at a quote even after a backslash (standard_conforming_strings)', () => {
    expect(lex("'C:\\' x")).toEqual(["string:'C:\\'", 'word:x']);
  });

  test('after a backtick identifier (MySQL), backslashes escape quotes in plain strings', () => {
    const n = normalizeSql("SELECT `t`.`id` FROM `t` WHERE `t`.`name` = 'O\\'Brien' AND `t`.`x` = 1");
    expect(n.sql).toBe('SELECT `t`.`id` FROM `t` WHERE `t`.`name` = ? AND `t`.`x` = ?');
    expect(n.facts.equalityFilters).toEqual(['t.name', 't.x']);
  });

  test('N, X, B and U& prefixed strings are strings', () => {
    expect(canon("SELECT N'x', X'ff', B'0101', U&'d\\0061t' FROM t")).toBe('SELECT ?, ?, ?, ? FROM t');
  });

  test('dollar quoting, with and without a tag, may hold quotes and other tags', () => {
    expect(lex("$$it's$$ $fn$ body $$ 'q' $fn$ x")).toEqual(["string:$$it's$$", "string:$fn$ body $$ 'q' $fn$", 'word:x']);
  });

  test('comments anywhere are dropped, including between a name and its dot', () => {
    expect(canon('SELECT /* a */ "t"/* b */."id" -- trailing\nFROM "t" # kept')).toBe('SELECT "t"."id" FROM "t" # kept'); // # is an operator, not a MySQL comment
    expect(canon('SELECT 1 -- only a comment till the end')).toBe('SELECT ?');
    expect(canon('SELECT 1 --\r\nFROM t')).toBe('SELECT ? FROM t');
  });

  test('a sqlcommenter comment with %% escapes is dropped', () => {
    const sql = "SELECT 1 /*db_driver='psycopg%%3A3.1',framework='django%%3A5.0',traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'*/";
    expect(canon(sql)).toBe('SELECT ?');
  });

  test('unterminated strings, identifiers, dollar quotes and comments run to the end', () => {
    expect(lex("SELECT 'abc")).toEqual(['word:SELECT', "string:'abc"]);
    expect(lex('SELECT "abc')).toEqual(['word:SELECT', 'qident:"abc']);
    expect(lex('SELECT $x$ abc')).toEqual(['word:SELECT', 'string:$x$ abc']);
    expect(lex("SELECT E'abc\\")).toEqual(['word:SELECT', "string:E'abc\\"]);
    expect(canon('SELECT 1 /* never closed')).toBe('SELECT ?');
    expect(canon("SELECT 'it''")).toBe('SELECT ?');
  });
});

describe('dialects, from the span\'s db.system', () => {
  const on = (system: string, sql: string) => normalizeSql(sql, system);

  test('PostgreSQL nests block comments: the comment ends at the */ that closes the first /*', () => {
    const n = on('postgresql', 'SELECT "t"."id" /* a /* b */ c */ FROM "t" WHERE "t"."x" = 1');
    expect(n.sql).toBe('SELECT "t"."id" FROM "t" WHERE "t"."x" = ?');
    expect(n.facts).toMatchObject({ table: 't', equalityFilters: ['t.x'] });
    expect(on('postgres', 'SELECT 1 /* /* /* x */ */ */ FROM "t"').sql).toBe('SELECT ? FROM "t"');
    // Unclosed at any depth, it runs to the end, as the server reads it.
    expect(on('postgresql', 'SELECT 1 /* a /* b */ FROM "t"').sql).toBe('SELECT ?');
    // A */ inside a string in the comment still closes a level: comments hold no strings.
    expect(on('postgresql', "SELECT 1 /* ' */ FROM \"t\"").sql).toBe('SELECT ? FROM "t"');
  });

  test('MySQL and SQLite do not nest them: the first */ ends the comment', () => {
    for (const system of ['mysql', 'sqlite']) expect(on(system, 'SELECT 1 /* a /* b */ FROM t').sql).toBe('SELECT ? FROM t');
  });

  test('MySQL escapes quotes with backslashes from the first string on, before any backtick', () => {
    const n = on('mysql', "SELECT id, name FROM users WHERE name = 'O\\'Brien' AND org_id = 5");
    expect(n.sql).toBe('SELECT id, name FROM users WHERE name = ? AND org_id = ?');
    expect(n.facts).toMatchObject({ table: 'users', equalityFilters: ['users.name', 'users.org_id'] });
    expect(on('mariadb', "INSERT INTO t (a, b) VALUES ('C:\\\\', 'x')").facts.writtenColumns).toEqual(['a', 'b']);
  });

  test('MySQL reads "…" as a string (its default sql_mode has no ANSI_QUOTES): the value never reaches the text', () => {
    for (const system of ['mysql', 'mariadb']) {
      const n = on(system, 'SELECT `t`.`id` FROM `t` WHERE `t`.`name` = "O\\"Brien" AND `t`.`nick` = "say ""hi""" AND `t`.`x` = 1');
      expect(n.sql).toBe('SELECT `t`.`id` FROM `t` WHERE `t`.`name` = ? AND `t`.`nick` = ? AND `t`.`x` = ?');
      expect(n.facts).toMatchObject({ table: 't', equalityFilters: ['t.name', 't.nick', 't.x'] });
      // One fingerprint whatever the value.
      expect(on(system, 'SELECT `t`.`id` FROM `t` WHERE `t`.`name` = "Smith" AND `t`.`nick` = "" AND `t`.`x` = 2').fingerprint).toBe(n.fingerprint);
      expect(on(system, 'INSERT INTO `t` (`a`) VALUES ("secret")').sql).toBe('INSERT INTO `t` (`a`) VALUES (?)');
    }
  });

  test('MySQL with ANSI_QUOTES: a "…" where only a name can stand (after FROM, JOIN, UPDATE, INTO, or around a dot) makes every "…" of the statement a name', () => {
    for (const system of ['mysql', 'mariadb']) {
      const n = on(system, 'SELECT "t"."id", "t"."name" FROM "t" WHERE "t"."x" = 1');
      expect(n.sql).toBe('SELECT "t"."id", "t"."name" FROM "t" WHERE "t"."x" = ?');
      expect(n.facts).toMatchObject({ table: 't', equalityFilters: ['t.x'] });
      // A name seen only after FROM: the select list's "name" and the filter's "nick" are names too.
      expect(on(system, 'SELECT "name" FROM "shop_book" WHERE "nick" = \'x\' AND "y" = 2').sql).toBe('SELECT "name" FROM "shop_book" WHERE "nick" = ? AND "y" = ?');
      expect(on(system, 'SELECT a.id FROM t a INNER JOIN "u" ON a.u_id = "u".id').facts.joins).toHaveLength(1);
      expect(on(system, 'UPDATE "t" SET "n" = 5 WHERE "t"."id" = 3').facts).toMatchObject({ operation: 'UPDATE', table: 't', writtenColumns: ['n'] });
      expect(on(system, 'INSERT INTO "t" ("a", "b") VALUES (1, \'x\')').facts).toMatchObject({ operation: 'INSERT', table: 't', writtenColumns: ['a', 'b'] });
      expect(on(system, 'SELECT x."id" FROM t x').sql).toBe('SELECT x."id" FROM t x');
      // The column list of INSERT INTO t (…) holds names only.
      expect(on(system, 'INSERT INTO t ("a", "b") VALUES (1, \'x\')').facts.writtenColumns).toEqual(['a', 'b']);
      expect(on(system, 'INSERT INTO app.t ("a") VALUES (1)').sql).toBe(normalizeSql('INSERT INTO app.t ("a") VALUES (1)').sql);
    }
  });

  test('MySQL keeps "…" a string where a string can stand, and where a function reads FROM', () => {
    const on = (sql: string) => normalizeSql(sql, 'mysql').sql;
    expect(on('SELECT id FROM t WHERE name = "Smith"')).toBe('SELECT id FROM t WHERE name = ?');
    expect(on('SELECT "label", id FROM t')).toBe('SELECT ?, id FROM t');
    expect(on('INSERT INTO t VALUES ("secret", 1)')).toBe('INSERT INTO t VALUES (?, ?)');
    expect(on('SELECT id FROM t WHERE a IN ("x") AND b = CONCAT("y", "z")')).toBe('SELECT id FROM t WHERE a IN (?) AND b = CONCAT(?, ?)');
    // TRIM(… FROM "…"), EXTRACT(… FROM "…"), SUBSTRING("…" FROM n): strings after a FROM inside brackets.
    expect(on('SELECT TRIM(BOTH "x" FROM "xxsecret"), EXTRACT(YEAR FROM "2024-01-01") FROM t')).toBe('SELECT TRIM(BOTH ? FROM ?), EXTRACT(YEAR FROM ?) FROM t');
    // A dot inside a string, or after an escaped quote in it, qualifies nothing.
    expect(on('SELECT id FROM t WHERE a IN ("x.y", "z") AND b = "say \\".x"')).toBe('SELECT id FROM t WHERE a IN (?) AND b = ?');
    // Django's own statements quote names with backticks: their "…" are values.
    expect(on('SELECT `t`.`id` FROM `t` WHERE `t`.`name` = "O\\"Brien"')).toBe('SELECT `t`.`id` FROM `t` WHERE `t`.`name` = ?');
  });

  test('PostgreSQL, SQLite and an unknown system keep "…" an identifier', () => {
    for (const system of ['postgresql', 'sqlite', undefined]) {
      expect(normalizeSql('SELECT "t"."id" FROM "t" WHERE "t"."x" = 1', system).sql).toBe('SELECT "t"."id" FROM "t" WHERE "t"."x" = ?');
    }
  });

  test('PostgreSQL and SQLite keep a backslash ordinary in plain strings, backticks or not', () => {
    expect(on('postgresql', "SELECT \"t\".\"id\" FROM \"t\" WHERE \"t\".\"p\" = 'C:\\' AND \"t\".\"x\" = 1").facts.equalityFilters).toEqual(['t.p', 't.x']);
    expect(on('sqlite', "SELECT `t`.`id` FROM `t` WHERE `t`.`p` = 'C:\\' AND `t`.`x` = 1").facts.equalityFilters).toEqual(['t.p', 't.x']);
    // E'…' is still PostgreSQL's escape string.
    expect(on('postgresql', "SELECT E'a\\'b', x FROM t").sql).toBe('SELECT ?, x FROM t');
  });

  test('MySQL and MariaDB read # to the end of the line as a comment, but not inside strings or names', () => {
    for (const system of ['mysql', 'mariadb']) {
      const n = on(system, 'SELECT `t`.`id` FROM `t` # the books\nWHERE `t`.`x` = 1 #trailing');
      expect(n.sql).toBe('SELECT `t`.`id` FROM `t` WHERE `t`.`x` = ?');
      expect(n.facts).toMatchObject({ table: 't', equalityFilters: ['t.x'] });
      // The text after # never reaches the canonical text, whatever it holds.
      expect(on(system, "SELECT 1 FROM t WHERE a = 1 # it's 'open\r AND b = 2").sql).toBe('SELECT ? FROM t WHERE a = ? AND b = ?');
      // An operator run stops at #: `=#` is `=` then a comment.
      expect(on(system, 'SELECT 1 FROM t WHERE a =# c\n 5').sql).toBe('SELECT ? FROM t WHERE a = ?');
      // # inside a string, a backtick name or a double-quoted string stays as it is.
      const kept = on(system, "SELECT `a#b` FROM `t#1` WHERE `x` = '#1' AND `y` = \"#2\"");
      expect(kept.sql).toBe('SELECT `a#b` FROM `t#1` WHERE `x` = ? AND `y` = ?');
    }
  });

  test('PostgreSQL, SQLite and an unknown system keep # an operator (jsonb #>, bitwise XOR)', () => {
    for (const system of ['postgresql', 'sqlite', undefined]) {
      expect(normalizeSql('SELECT "t"."data" #> %s, 5 # 3 FROM "t" WHERE "t"."x" = 1', system).sql).toBe('SELECT "t"."data" #> ?, ? # ? FROM "t" WHERE "t"."x" = ?');
      expect(normalizeSql('SELECT "t"."data" #>> \'{a,b}\' FROM "t"', system).sql).toBe('SELECT "t"."data" #>> ? FROM "t"');
    }
  });

  test('an unknown system keeps the rules that need no dialect: no nesting, backslashes after a backtick', () => {
    expect(on('oracle', 'SELECT 1 /* a /* b */ FROM t').sql).toBe('SELECT ? FROM t');
    expect(normalizeSql("SELECT `t`.`id` FROM `t` WHERE `t`.`name` = 'O\\'Brien' AND `t`.`x` = 1").facts.equalityFilters).toEqual(['t.name', 't.x']);
  });
});

describe('identifiers', () => {
  test('double-quoted identifiers keep their case and "" escapes', () => {
    expect(lex('"My ""Table"""."Id"')).toEqual(['qident:"My ""Table"""', '.:.', 'qident:"Id"']);
    expect(canon('select "T"."Id" from "T"')).toBe('SELECT "T"."Id" FROM "T"');
  });

  test('backtick identifiers (MySQL) are identifiers', () => {
    expect(lex('`shop_book`.`id`')).toEqual(['qident:`shop_book`', '.:.', 'qident:`id`']);
  });

  test('unquoted non-keywords are kept as written, keywords are uppercased', () => {
    expect(canon('select MyCol, count(*) from Some_Table where x in (1,2) and y is not null')).toBe(
      'SELECT MyCol, COUNT(*) FROM Some_Table WHERE x IN (?) AND y IS NOT NULL',
    );
  });

  test('unicode in strings and identifiers is fine', () => {
    expect(canon(`SELECT "naïve_table"."名前" FROM "naïve_table" WHERE "naïve_table"."x" = 'café ☕'`)).toBe(
      'SELECT "naïve_table"."名前" FROM "naïve_table" WHERE "naïve_table"."x" = ?',
    );
    expect(canon('SELECT naïve, ☕col, "😀" FROM t')).toBe('SELECT naïve, ☕col, "😀" FROM t');
    expect(lex('a\u00a0b\u3000c')).toEqual(['word:a', 'word:b', 'word:c']); // non-ASCII spaces separate
  });

  test('TRUE and FALSE are values, NULL is structure', () => {
    expect(lex('TRUE false NULL')).toEqual(['bool:TRUE', 'bool:false', 'word:NULL']);
    expect(canon('SELECT * FROM t WHERE a = true AND b IS NULL AND c = FALSE')).toBe('SELECT * FROM t WHERE a = ? AND b IS NULL AND c = ?');
  });
});

describe('placeholders and casts', () => {
  test('every driver placeholder style is a placeholder', () => {
    expect(lex('%s %(name)s %b %t ? ?3 $1 $12 :name :x_1')).toEqual([
      'param:%s', 'param:%(name)s', 'param:%b', 'param:%t', 'param:?', 'param:?3', 'param:$1', 'param:$12', 'param::name', 'param::x_1',
    ]);
  });

  test(':: casts are not :name placeholders', () => {
    expect(lex('"x"::text')).toEqual(['qident:"x"', 'cast:::', 'word:text']);
    expect(canon('SELECT %s::integer[], "x"::text, a::"char" FROM t WHERE y = :name')).toBe(
      'SELECT ?::integer[], "x"::text, a::"char" FROM t WHERE y = ?',
    );
  });

  test('%% is the escaped modulo operator and reads as %', () => {
    expect(lex('"a" %% 2')).toEqual(['qident:"a"', 'op:%%', 'number:2']);
    expect(canon('SELECT "a" %% 2 FROM t')).toBe(canon('SELECT "a" % 2 FROM t'));
    expect(canon('SELECT "a" %% 2 FROM t')).toBe('SELECT "a" % ? FROM t');
  });

  test('jsonb ?| and ?& are operators, not placeholders', () => {
    expect(lex('"d" ?| %s')).toEqual(['qident:"d"', 'op:?|', 'param:%s']);
  });
});

describe('numbers and operators', () => {
  test('numbers: integers, decimals, exponents, leading dot, hex', () => {
    expect(lex('1 1.5 1e10 1.5E-3 .5 0x1F 7.')).toEqual([
      'number:1', 'number:1.5', 'number:1e10', 'number:1.5E-3', 'number:.5', 'number:0x1F', 'number:7.',
    ]);
  });

  test('a minus after an operator, (, comma or keyword is a sign', () => {
    expect(lex('x = -5')).toEqual(['word:x', 'op:=', 'number:-5']);
    expect(lex('x=-5')).toEqual(['word:x', 'op:=', 'number:-5']);
    expect(lex('(-1, -2.5)')).toEqual(['(:(', 'number:-1', ',:,', 'number:-2.5', '):)']);
    expect(lex('THEN -1')).toEqual(['word:THEN', 'number:-1']);
    expect(lex('LIMIT -1')).toEqual(['word:LIMIT', 'number:-1']);
  });

  test('a minus after a value, name, ) or END is subtraction', () => {
    expect(lex('a - 5')).toEqual(['word:a', 'op:-', 'number:5']);
    expect(lex('a-5')).toEqual(['word:a', 'op:-', 'number:5']);
    expect(lex('"a" -1')).toEqual(['qident:"a"', 'op:-', 'number:1']);
    expect(lex('(a) -1')).toEqual(['(:(', 'word:a', '):)', 'op:-', 'number:1']);
    expect(lex('END -1')).toEqual(['word:END', 'op:-', 'number:1']);
  });

  test('negative and positive literals share a fingerprint; subtraction differs', () => {
    expect(normalizeSql('SELECT * FROM t WHERE a = -5').fingerprint).toBe(normalizeSql('SELECT * FROM t WHERE a = 5').fingerprint);
    expect(normalizeSql('SELECT a - 5 FROM t').fingerprint).not.toBe(normalizeSql('SELECT a FROM t').fingerprint);
  });

  test('multi-character operators stay whole, and never swallow a comment', () => {
    expect(lex('a <> b != c <= d >= e || f ->> g @> h')).toEqual([
      'word:a', 'op:<>', 'word:b', 'op:!=', 'word:c', 'op:<=', 'word:d', 'op:>=', 'word:e', 'op:||', 'word:f', 'op:->>', 'word:g', 'op:@>', 'word:h',
    ]);
    expect(lex('a =-- c\n b')).toEqual(['word:a', 'op:=', 'word:b']);
    expect(lex('a =/* c */b')).toEqual(['word:a', 'op:=', 'word:b']);
  });

  test('unknown characters pass through as written', () => {
    expect(lex('SELECT {x} \\ $ FROM t')).toEqual(['word:SELECT', 'other:{', 'word:x', 'other:}', 'other:\\', 'other:$', 'word:FROM', 'word:t']);
    expect(canon('SELECT {x} \\ $ FROM t')).toBe('SELECT { x } \\ $ FROM t');
  });
});

describe('robustness', () => {
  test('empty, blank and comment-only input give empty text', () => {
    for (const sql of ['', '   \n\t ', '/* just a comment */', '-- nothing']) {
      const n = normalizeSql(sql);
      expect(n.sql).toBe('');
      expect(n.fingerprint).toBe('cbf29ce484222325');
      expect(n.facts.operation).toBe('OTHER');
    }
  });

  test('brackets pair up, and unclosed ones pair with the end', () => {
    const sql = 'f((a), [b]';
    const bytes = Buffer.alloc(sql.length + BYTE_IMAGE_PADDING);
    writeByteImage(sql, bytes);
    const t = createTokens();
    tokenize(sql, bytes, sql.length, t);
    const pair = (i: number) => t.data[i * STRIDE + 3];
    // f ( ( a ) , [ b ]
    expect(pair(1)).toBe(t.count); // unclosed
    expect(pair(2)).toBe(4);
    expect(pair(4)).toBe(2);
    expect(pair(6)).toBe(8);
  });

  test('a 1 MB statement with a 100 000-element IN list normalises quickly', () => {
    const sql = `SELECT "t"."id" FROM "t" WHERE "t"."id" IN (${Array.from({ length: 100_000 }, (_, i) => String(i)).join(', ')})`;
    expect(sql.length).toBeGreaterThan(500_000);
    const started = performance.now();
    const n = normalizeSql(sql);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(n.sql).toBe('SELECT "t"."id" FROM "t" WHERE "t"."id" IN (?)');
    expect(n.facts.equalityFilters).toEqual(['t.id']);
  });

  test('1 MB of arbitrary text never throws', () => {
    let seed = 7;
    const chars = "abcXYZ019 \n\t'\"`$%?:;.,()[]{}+-*/<>=~!@#^&|\\é☕😀";
    let sql = '';
    while (sql.length < 1 << 20) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      sql += chars[seed % chars.length];
    }
    const n = normalizeSql(sql);
    expect(n.fingerprint).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('verbatim runs and top-level keywords', () => {
  test('Django spacing makes most of a statement one run, stopping at values and stateful keywords', () => {
    const sql = 'SELECT "t"."a", "t"."b" FROM "t" WHERE "t"."id" = %s AND "t"."k" IN (%s, %s) LIMIT 21';
    expect(runs(sql)).toEqual({
      runs: ['"t"."a", "t"."b" FROM "t" WHERE "t"."id" =', 'AND "t"."k" IN'],
      topKeywords: ['SELECT', 'FROM', 'WHERE', 'AND', 'IN', 'LIMIT'],
    });
  });

  test('a lower-case keyword, other spacing, a comment or %% ends a run', () => {
    expect(runs('SELECT a, b from t').runs).toEqual(['a, b']);
    expect(runs('SELECT a ,b,  c FROM t').runs).toEqual(['b,', 'c FROM t']);
    expect(runs('SELECT a /* x */ FROM t.b').runs).toEqual(['FROM t.b']);
    expect(runs('SELECT a %% b FROM t').runs).toEqual(['b FROM t']);
  });

  test('keywords inside brackets are not top-level', () => {
    expect(runs('SELECT a FROM t WHERE x IN (SELECT y FROM u) ORDER BY a').topKeywords)
      .toEqual(['SELECT', 'FROM', 'WHERE', 'IN', 'ORDER', 'BY']);
  });

  test('runs are copied as written, and give the same text as token by token', () => {
    expect(canon('SELECT "t"."a", "t"."b" FROM "t" WHERE "t"."id" = %s')).toBe('SELECT "t"."a", "t"."b" FROM "t" WHERE "t"."id" = ?');
    // A savepoint's name is a value even where it would start a run.
    expect(canon('SAVEPOINT "s1_x" , "y"')).toBe('SAVEPOINT ?, "y"');
    // In an IN list the commas matter: `IN (a, a)` collapses.
    expect(canon('SELECT x FROM t WHERE y IN ("a", "a")')).toBe('SELECT x FROM t WHERE y IN ("a")');
    expect(canon('INSERT INTO "t" ("a", "b") VALUES (%s, %s), (%s, %s)')).toBe('INSERT INTO "t" ("a", "b") VALUES (?, ?)');
  });
});
