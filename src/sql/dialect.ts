/**
 * The lexical rules of a statement's database, read from its span's `db.system` (`db.system.name`):
 * whether block comments nest, whether a backslash escapes a quote in a plain string, whether
 * `"…"` is a string, and whether `#` starts a comment. Only these change where a token ends;
 * everything else is read the same for every database.
 */

/** Lexer flags (see `tokenize`); 0 is the unknown dialect. */
export type SqlDialect = number;

/** `/* a /* b *\/ c *\/` is one comment (PostgreSQL). */
export const NESTED_COMMENTS = 1;
/** A backslash escapes the next character in '…' strings from the statement's start (MySQL, MariaDB). */
export const BACKSLASH_ESCAPES = 2;
/**
 * The dialect is known, so a backtick says nothing about it. Without this flag (an unknown system) a
 * backtick identifier is taken as MySQL's, and backslashes escape in the strings after it.
 */
export const KNOWN_DIALECT = 4;
/**
 * `"…"` is a string literal, escaped like '…' (MySQL's default sql_mode, without ANSI_QUOTES;
 * Django's MySQL backend quotes names with backticks). Not guessed for an unknown system. A `"…"`
 * where only a name can stand (lexer.ts nameOnly) shows ANSI_QUOTES, and the statement is read
 * without this flag.
 */
export const DOUBLE_QUOTED_STRINGS = 8;
/** `#` starts a comment to the end of the line (MySQL, MariaDB); elsewhere it is an operator (PostgreSQL's `#>`, XOR). */
export const HASH_COMMENTS = 16;

/** Rules that need no dialect: comments do not nest, strings are standard until a backtick shows MySQL. */
export const UNKNOWN_DIALECT: SqlDialect = 0;

/** PostgreSQL: comments nest; standard_conforming_strings (a backslash is ordinary outside E'…'). */
export const POSTGRESQL: SqlDialect = NESTED_COMMENTS | KNOWN_DIALECT;
/** MySQL and MariaDB: backslash escapes in strings, `"…"` is a string (the default sql_mode), `#` comments; comments do not nest. */
export const MYSQL: SqlDialect = BACKSLASH_ESCAPES | DOUBLE_QUOTED_STRINGS | HASH_COMMENTS | KNOWN_DIALECT;
/** SQLite: neither. */
export const SQLITE: SqlDialect = KNOWN_DIALECT;

/**
 * The dialect of a `db.system` value as OpenTelemetry's instrumentations write it (both the old
 * and the stable names); any other system, or none, is the unknown dialect.
 *
 * @example dialectOf('postgresql') === POSTGRESQL; dialectOf(undefined) === UNKNOWN_DIALECT
 */
export function dialectOf(system: string | undefined): SqlDialect {
  switch (system) {
    case 'postgresql':
    case 'postgres':
      return POSTGRESQL;
    case 'mysql':
    case 'mariadb':
      return MYSQL;
    case 'sqlite':
      return SQLITE;
    default:
      return UNKNOWN_DIALECT;
  }
}
