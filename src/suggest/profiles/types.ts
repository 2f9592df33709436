/** The contract between suggest/ and a framework profile: one trigger's fix in ORM terms in, code to paste out. */
import type { Naming } from '../naming.js';
import type { DjangoSchema } from '../schema.js';

/** Where a fix goes: the endpoint whose view evaluates the trigger's rows, and what names that view. */
export interface FixSite {
  /** `GET admin/library/book/`. */
  endpoint: string;
  /** The route alone: `admin/library/book/` (the endpoint without its method). */
  route: string;
  /** The view: a dotted path (`library.views.BookViewSet`) or a URL name (`admin:library_book_changelist`), from the location's `view` or sqlcommenter's `controller`. */
  view?: string;
  /** Where the loop runs, when known (a serializer field `BookSerializer.author`, an admin `list_display` method). */
  function?: string;
  /** The file of that code. */
  file?: string;
  naming: Naming;
  /** The app's schema file, when given: profiles read what they need from it (which models are pages…). */
  schema?: DjangoSchema;
}

/** A per-row read that the fix changes: what the loop reads now, and what it reads after the fix. */
export interface ReadInstead {
  /** After the fix, e.g. `application.notes_count`. */
  read: string;
  /** What the loop does now, e.g. `application.notes.count()`. */
  insteadOf: string;
  /**
   * True when the fix does nothing until the loop reads `read` (an annotation, a to_attr list). False
   * for select_related / prefetch_related, which plain attribute access already uses: only a loop
   * that fetches by id or filters per row must change.
   */
  required: boolean;
}

/** A value the fixed query computes per row (an annotation, a `to_attr` list): admin columns read these. */
export interface RowValue {
  /** The attribute on each row: `notes_count`, `recent_interviews`. */
  attr: string;
  /** How a row's value is read, with the row variable: `application.notes_count`. */
  read: string;
  /** The attribute is a database annotation, so the changelist can sort by it. */
  sortable: boolean;
}

/** The ORM calls that fix every loop over one trigger's rows, before a profile writes them as code. */
export interface QuerysetFix {
  /** The trigger's model class, e.g. `Book`, and its table. */
  model: string;
  table: string;
  /** The per-row variable the reads use: the model in snake_case (`order_line`). */
  rowVariable: string;
  /** Every select_related path the fixed query needs: those the trigger already joins, then the loops'. */
  selectRelated: string[];
  /** The subset of selectRelated the trigger query already joins (a pasted fix must keep them). */
  joined: string[];
  /** prefetch_related arguments, as code: `'notes'`, `Prefetch('interviews', …)`. */
  prefetch: string[];
  /** annotate arguments, as code: `notes_count=Count('notes')`. */
  annotate: string[];
  /** Further queryset calls written as code, appended in order (`.specific()`): for profiles to add. */
  extra: string[];
  /** The reads the loops must change; empty when attribute access already uses the loaded rows. */
  reads: ReadInstead[];
  /** Values computed per row (annotations, to_attr lists). */
  rowValues: RowValue[];
}

/** A profile's output: code to paste and, when it is not obvious, where it goes. */
export interface RenderedFix {
  /** Code; several lines for a class body. Empty when there is nothing to add. */
  code: string;
  /** Where to paste it, e.g. "on BookViewSet: `queryset = …`, or return it from `get_queryset()`". */
  placement?: string;
}

/**
 * A framework's idioms. Profiles are tried in order (profiles/index.ts); the first that matches a
 * trigger's fix writes it, and `django` matches everything. Adding a framework is one file and one
 * line in that list.
 */
export interface FrameworkProfile {
  /** `django`, `admin`, `drf`, `wagtail`. */
  readonly name: string;
  /** Whether this framework's machinery evaluates the trigger's rows on this endpoint. */
  matches(site: FixSite, fix: QuerysetFix): boolean;
  /** Rewrites the calls into this framework's idioms (a helper method instead of a plain prefetch…); unchanged when absent. */
  refine?(site: FixSite, fix: QuerysetFix): QuerysetFix;
  /** The fix for all of the trigger's loops, as pasted. */
  render(site: FixSite, fix: QuerysetFix): RenderedFix;
  /**
   * The fix for one loop on its own (`fix` holds only that loop's calls, plus the trigger's joins).
   * Defaults to the chained calls alone, e.g. `.select_related('job')`.
   */
  renderOne?(site: FixSite, fix: QuerysetFix): RenderedFix;
}
