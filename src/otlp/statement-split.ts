/** Splits a DB span's statement into its text and its trailing sqlcommenter comment, once per distinct statement, for every decoder that feeds the open traces. */

/**
 * Splits records' statements as the wire decoder splits them for SpanSink.dbSpan: the text before a
 * trailing block comment (sqlcommenter's carries each request's traceparent), interned so requests
 * share it, and the comment. The last two statements are remembered: an N+1 loop alternates between
 * a few, each the decoder's one string.
 */
export class StatementSplitter {
  /** After split: the statement's text before the comment, and the comment ('' when none). */
  text = '';
  comment = '';
  readonly #texts = new Map<string, string>();
  /** Comments by their text: a request's statements share one. */
  readonly #comments = new Map<string, string>();
  #last: string | undefined;
  #lastText = '';
  #lastComment = '';
  #previous: string | undefined;
  #previousText = '';
  #previousComment = '';

  split(statement: string): void {
    if (statement === this.#last) {
      this.text = this.#lastText;
      this.comment = this.#lastComment;
      return;
    }
    if (statement === this.#previous) {
      this.text = this.#previousText;
      this.comment = this.#previousComment;
    } else {
      const n = statement.length;
      const open = n >= 5 && statement.charCodeAt(n - 1) === 47 && statement.charCodeAt(n - 2) === 42 ? statement.lastIndexOf('/*', n - 3) : -1;
      if (open <= 0) {
        this.text = statement;
        this.comment = '';
      } else {
        const text = statement.slice(0, open);
        let shared = this.#texts.get(text);
        if (shared === undefined) {
          // Bounded: a text dropped here stays shared by the traces holding it, and comes back on its next miss.
          if (this.#texts.size >= 10_000) this.#texts.clear();
          this.#texts.set(text, text);
          shared = text;
        }
        this.text = shared;
        const comment = statement.slice(open);
        let own = this.#comments.get(comment);
        if (own === undefined) {
          // A slice keeps its whole statement alive: the trace keeps a copy of the comment instead.
          if (this.#comments.size >= 1_000) this.#comments.clear();
          own = JSON.parse(JSON.stringify(comment)) as string;
          this.#comments.set(own, own);
        }
        this.comment = own;
      }
    }
    this.#previous = this.#last;
    this.#previousText = this.#lastText;
    this.#previousComment = this.#lastComment;
    this.#last = statement;
    this.#lastText = this.text;
    this.#lastComment = this.comment;
  }
}
