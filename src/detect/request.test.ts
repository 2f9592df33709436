import { describe, expect, it } from 'vitest';
import { createSqlNormalizer } from '../sql/index.js';
import { joinedTables } from './joins.js';
import type { TableLinks } from './links.js';
import { analyseRequest } from './request.js';
import { APPLICATIONS, AUTH_USER, DASHBOARD_ROW, SESSION, loop, requestOf, type Step } from './testing.js';

const normalize = createSqlNormalizer();

const dashboard = requestOf('GET dashboard/', [SESSION, AUTH_USER, APPLICATIONS, ...loop(50, ...DASHBOARD_ROW)]);

describe('analyseRequest', () => {
  const analysis = analyseRequest(dashboard, normalize);
  const byTable = new Map(analysis.cascades.map((c) => [c.facts.table, c]));

  it('finds one cascade per relation the dashboard template touches', () => {
    expect(analysis.dbSpans).toBe(303);
    expect([...byTable.keys()].sort()).toEqual(
      ['recruit_candidate', 'recruit_company', 'recruit_interview', 'recruit_job', 'recruit_note', 'recruit_status'].sort(),
    );
    for (const c of analysis.cascades) expect(c.executions).toBe(50);
  });

  it('groups a forward-FK loop under the query whose rows it iterates, not the previous lookup', () => {
    const status = byTable.get('recruit_status');
    expect(status?.trigger?.table).toBe('recruit_application');
    expect(status?.steps).toEqual([{ kind: 'forward', fromTable: 'recruit_application', column: 'status_id', toTable: 'recruit_status' }]);
  });

  it('reports a loop inside a loop with its whole chain: application -> job -> company', () => {
    const company = byTable.get('recruit_company');
    expect(company?.trigger?.table).toBe('recruit_application');
    expect(company?.steps.map((s) => s.kind)).toEqual(['forward', 'forward']);
    expect(company?.steps[1]).toMatchObject({ fromTable: 'recruit_job', column: 'company_id' });
  });

  it('reads reverse-FK counts and first() lookups as such', () => {
    expect(byTable.get('recruit_note')?.leaf).toEqual({ kind: 'count' });
    expect(byTable.get('recruit_note')?.steps[0]).toMatchObject({ kind: 'reverse', fromTable: 'recruit_application', column: 'application_id' });
    expect(byTable.get('recruit_interview')?.leaf).toEqual({
      kind: 'first',
      orderBy: [{ column: 'recruit_interview.scheduled_at', direction: 'DESC' }],
    });
  });

  it('counts wasted time as the total minus one execution', () => {
    const c = byTable.get('recruit_candidate');
    expect(c?.totalMs).toBeCloseTo(50);
    expect(c?.wastedMs).toBeCloseTo(49);
  });

  it('never reports the per-request session and auth lookups, or a loop of 2', () => {
    const small = analyseRequest(requestOf('GET x/', [SESSION, AUTH_USER, APPLICATIONS, ...loop(2, ...DASHBOARD_ROW)]), normalize);
    expect(small.cascades).toEqual([]);
  });

  it('honours minRepeats', () => {
    expect(analyseRequest(dashboard, normalize, { minRepeats: 51 }).cascades).toEqual([]);
  });

  it('never treats transaction control as a cascade, whatever the savepoint names', () => {
    const r = requestOf('POST x/', [
      ...loop(10, (i) => `SAVEPOINT "s140_x${i}"`, (i) => `RELEASE SAVEPOINT "s140_x${i}"`),
      ...loop(6, () => 'BEGIN', () => 'COMMIT'),
    ]);
    expect(analyseRequest(r, normalize).cascades).toEqual([]);
  });

  it('reports UPDATE-by-pk and INSERT loops as repeated_write', () => {
    const r = requestOf('POST bulk/', [
      APPLICATIONS,
      ...loop(8, (i) => `UPDATE "recruit_application" SET "status_id" = ${i}, "created" = '2024-01-0${(i % 9) + 1}' WHERE "recruit_application"."id" = ${i}`),
      ...loop(6, (i) => `INSERT INTO "recruit_note" ("application_id", "body") VALUES (${i}, 'note ${i}') RETURNING "recruit_note"."id"`),
    ]);
    const writes = analyseRequest(r, normalize).cascades;
    expect(writes.map((c) => [c.kind, c.facts.operation, c.leaf.kind])).toEqual([
      ['repeated_write', 'UPDATE', 'update'],
      ['repeated_write', 'INSERT', 'insert'],
    ]);
    expect(writes[0]?.leaf).toEqual({ kind: 'update', columns: ['status_id', 'created'] });
  });

  it("never reports bulk_create's batches on PostgreSQL (UNNEST of arrays) as a write loop", () => {
    // Tag.objects.bulk_create(tags, batch_size=100) over 600 tags: six statements, each a bulk write.
    const r = requestOf('POST import/', [
      ...loop(6, () => 'INSERT INTO "shop_tag" ("name", "slug") SELECT * FROM UNNEST((%s)::varchar(50)[], (%s)::varchar(50)[]) RETURNING "shop_tag"."id"'),
      ...loop(6, () => 'INSERT INTO "shop_tag" ("name", "slug") SELECT * FROM UNNEST((%s)::varchar[], (%s)::varchar[])'),
    ]);
    expect(analyseRequest(r, normalize).cascades).toEqual([]);
  });

  it('still reports a create() loop when the same table also had one bulk_create of several rows', () => {
    // Note.objects.bulk_create([a, b]), then Note.objects.create(...) per application: the VALUES
    // rows collapse, so both share a fingerprint; the one bulk statement does not make the loop bulk.
    const r = requestOf('POST notes/', [
      APPLICATIONS,
      'INSERT INTO "recruit_note" ("application_id", "body") VALUES (%s, %s), (%s, %s) RETURNING "recruit_note"."id"',
      ...loop(6, () => 'INSERT INTO "recruit_note" ("application_id", "body") VALUES (%s, %s) RETURNING "recruit_note"."id"'),
    ]);
    const writes = analyseRequest(r, normalize).cascades;
    expect(writes.map((c) => [c.kind, c.facts.table])).toEqual([['repeated_write', 'recruit_note']]);
  });

  it("never reports bulk_update's batches as a write loop", () => {
    // Book.objects.bulk_update(books, ['price'], batch_size=2) over 12 books: six statements, each
    // setting every row of its batch through one CASE (PostgreSQL casts it for some field types).
    const r = requestOf('task reprice', [
      APPLICATIONS,
      ...loop(6, () => 'UPDATE "shop_book" SET "price" = CASE WHEN ("shop_book"."id" = %s) THEN %s WHEN ("shop_book"."id" = %s) THEN %s ELSE NULL END WHERE "shop_book"."id" IN (%s, %s)'),
      ...loop(6, () => 'UPDATE "shop_book" SET "price" = CAST(CASE WHEN ("shop_book"."id" = %s) THEN %s WHEN ("shop_book"."id" = %s) THEN %s ELSE NULL END AS numeric(10, 2)) WHERE "shop_book"."id" IN (%s, %s)'),
    ]);
    expect(analyseRequest(r, normalize).cascades).toEqual([]);
    // A save() per row is still one.
    const saves = requestOf('task reprice', [APPLICATIONS, ...loop(6, () => 'UPDATE "shop_book" SET "price" = %s WHERE "shop_book"."id" = %s')]);
    expect(analyseRequest(saves, normalize).cascades.map((c) => c.kind)).toEqual(['repeated_write']);
  });

  it("never reports Django's own delete batches as a write loop, but still a delete() per row", () => {
    // Note.objects.filter(created__lt=…).delete() of 600 notes with a post_delete receiver: the
    // collector deletes them 100 pks per statement (GET_ITERATOR_CHUNK_SIZE).
    const pks = Array.from({ length: 100 }, () => '%s').join(', ');
    const batches = requestOf('task purge_notes', [...loop(6, () => `DELETE FROM "recruit_note" WHERE "recruit_note"."id" IN (${pks})`)]);
    expect(analyseRequest(batches, normalize).cascades).toEqual([]);
    // for note in notes: note.delete(): one pk per statement.
    const perRow = requestOf('task purge_notes', [APPLICATIONS, ...loop(6, () => 'DELETE FROM "recruit_note" WHERE "recruit_note"."id" IN (%s)')]);
    expect(analyseRequest(perRow, normalize).cascades.map((c) => c.kind)).toEqual(['repeated_write']);
  });

  it('still reports a write per row that filters on a column besides its IN list: a queryset delete or update, tags.remove(a, b)', () => {
    const del = (r: number) => `DELETE FROM "recruit_interview" WHERE ("recruit_interview"."application_id" = ${r + 100} AND "recruit_interview"."status" IN ('draft', 'cancelled'))`;
    expect(analyseRequest(requestOf('POST cleanup/', [APPLICATIONS, ...loop(8, del)]), normalize).cascades.map((c) => c.kind)).toEqual(['repeated_write']);
    const upd = () => 'UPDATE "recruit_interview" SET "status" = %s WHERE ("recruit_interview"."application_id" = %s AND "recruit_interview"."status" IN (%s, %s))';
    expect(analyseRequest(requestOf('POST cancel/', [APPLICATIONS, ...loop(8, upd)]), normalize).cascades.map((c) => c.kind)).toEqual(['repeated_write']);
    const BOOKS = 'SELECT "shop_book"."id", "shop_book"."title" FROM "shop_book" WHERE "shop_book"."archived" = %s';
    const remove = () => 'DELETE FROM "shop_book_tags" WHERE ("shop_book_tags"."book_id" = %s AND "shop_book_tags"."tag_id" IN (%s, %s))';
    expect(analyseRequest(requestOf('task untag', [BOOKS, ...loop(8, remove)]), normalize).cascades.map((c) => c.kind)).toEqual(['repeated_write']);
  });

  it('links a loop over one fetched row to that row, not to an earlier list of the same table', () => {
    // recent = user.orders[:5]; order = Order.objects.get(pk=…); for line in order.lines: order.lines.count()
    const RECENT = 'SELECT "shop_order"."id", "shop_order"."user_id", "shop_order"."created" FROM "shop_order" WHERE "shop_order"."user_id" = %s ORDER BY "shop_order"."created" DESC LIMIT 5';
    const ORDER = 'SELECT "shop_order"."id", "shop_order"."user_id", "shop_order"."created" FROM "shop_order" WHERE "shop_order"."id" = %s LIMIT 21';
    const LINES = 'SELECT "shop_line"."id", "shop_line"."order_id", "shop_line"."qty" FROM "shop_line" WHERE "shop_line"."order_id" = %s';
    const count = () => 'SELECT COUNT(*) AS "__count" FROM "shop_line" WHERE "shop_line"."order_id" = %s';
    const [c] = analyseRequest(requestOf('GET orders/<int:pk>/', [SESSION, AUTH_USER, RECENT, ORDER, LINES, ...loop(8, count)]), normalize).cascades;
    expect(c?.trigger?.sql).toContain('"shop_order"."id" = ?');
  });

  it("never reports a Paginator walked page by page as an N+1, but still a per-row slice", () => {
    // for n in paginator.page_range: paginator.page(n), in a task exporting every book: Django
    // inlines LIMIT and OFFSET, and each page's OFFSET is new. A loop over rows slicing each row's
    // relation ([5:10]) repeats one OFFSET.
    const page = (r: number): string =>
      `SELECT "shop_book"."id", "shop_book"."title" FROM "shop_book" ORDER BY "shop_book"."id" ASC LIMIT 500 OFFSET ${(r + 1) * 500}`;
    expect(analyseRequest(requestOf('task export_books', loop(8, page)), normalize).cascades).toEqual([]);
    const slice = (r: number): string =>
      `SELECT "recruit_note"."id" FROM "recruit_note" WHERE "recruit_note"."application_id" = ${r} ORDER BY "recruit_note"."id" ASC LIMIT 5 OFFSET 5`;
    const [c] = analyseRequest(requestOf('GET x/', [APPLICATIONS, ...loop(8, slice)]), normalize).cascades;
    expect(c?.steps).toEqual([{ kind: 'reverse', fromTable: 'recruit_application', toTable: 'recruit_note', column: 'application_id' }]);
    // for i in range(n): qs[i]: a query per row, one row each, through the OFFSET.
    const indexed = (r: number): string => `SELECT "shop_book"."id", "shop_book"."title" FROM "shop_book" ORDER BY "shop_book"."id" ASC LIMIT 1 OFFSET ${r + 1}`;
    expect(analyseRequest(requestOf('GET x/', loop(8, indexed)), normalize).cascades.map((c) => c.kind)).toEqual(['n_plus_one']);
  });

  it('never reports a keyset walk (each page after the last id of the one before) as an N+1, but still a per-row query of its shape', () => {
    // last = 0; while page := list(Book.objects.filter(id__gt=last).order_by('id')[:500]): last = page[-1].id
    const after = (bound: string): string =>
      `SELECT "shop_book"."id", "shop_book"."title" FROM "shop_book" WHERE "shop_book"."id" > ${bound} ORDER BY "shop_book"."id" ASC LIMIT 500`;
    const cascades = (steps: Step[]) => analyseRequest(requestOf('task export_books', steps), normalize).cascades.map((c) => [c.kind, c.executions]);
    // As psycopg's spans carry it (%s), and with the values inlined, each page after the one before.
    expect(cascades(loop(8, () => after('%s')))).toEqual([]);
    expect(cascades(loop(8, (r) => after(String((r + 1) * 500 + r))))).toEqual([]);
    // On the DESC order too, each page below the one before.
    const before = (bound: number): string =>
      `SELECT "shop_book"."id" FROM "shop_book" WHERE "shop_book"."id" < ${bound} ORDER BY "shop_book"."id" DESC LIMIT 100`;
    expect(cascades(loop(6, (r) => before(10_000 - r * 100)))).toEqual([]);
    // Bounds that do not follow each other are a row's own value each time: a query per row.
    expect(cascades([APPLICATIONS, ...[7, 3, 9, 1, 4, 8].map((b) => after(String(b)))])).toEqual([['n_plus_one', 6]]);
    // One row after each row's id (the next one, per row): a query per row, however it is written.
    const next = (r: number): string =>
      `SELECT "shop_book"."id" FROM "shop_book" WHERE "shop_book"."id" > ${r} ORDER BY "shop_book"."id" ASC LIMIT 1`;
    expect(cascades(loop(6, next))).toEqual([['n_plus_one', 6]]);
    // A range on another column than the order: not a pager.
    const since = (): string =>
      `SELECT "shop_book"."id" FROM "shop_book" WHERE "shop_book"."created" > %s ORDER BY "shop_book"."title" ASC LIMIT 500`;
    expect(cascades(loop(6, since))).toEqual([['n_plus_one', 6]]);
  });

  it('still reports a per-row query bounded and ordered by one column (each application\'s latest notes since a date) though its shape is a keyset page\'s', () => {
    // for a in applications: a.note_set.filter(created__gte=since).order_by('-created')[:5]
    const latest = (): string =>
      `SELECT "recruit_note"."id", "recruit_note"."body" FROM "recruit_note" WHERE ("recruit_note"."application_id" = %s AND "recruit_note"."created" >= %s) ORDER BY "recruit_note"."created" DESC LIMIT 5`;
    const cascades = analyseRequest(requestOf('GET dashboard/', [APPLICATIONS, ...loop(8, latest)]), normalize).cascades;
    expect(cascades.map((c) => [c.kind, c.executions])).toEqual([['n_plus_one', 8]]);
    // The parent's key reached through a join (for job in jobs: Note.objects.filter(application__job=job, created__gte=since)…[:5]).
    const joined = (): string =>
      `SELECT "recruit_note"."id" FROM "recruit_note" INNER JOIN "recruit_application" ON ("recruit_note"."application_id" = "recruit_application"."id") WHERE ("recruit_application"."job_id" = %s AND "recruit_note"."created" >= %s) ORDER BY "recruit_note"."created" DESC LIMIT 5`;
    expect(analyseRequest(requestOf('GET jobs/', [APPLICATIONS, ...loop(8, joined)]), normalize).cascades.map((c) => [c.kind, c.executions])).toEqual([['n_plus_one', 8]]);
    // One application's notes walked by keyset, the bounds seen moving on: a pager still.
    const walk = (r: number): string =>
      `SELECT "recruit_note"."id" FROM "recruit_note" WHERE ("recruit_note"."application_id" = 7 AND "recruit_note"."id" > ${r * 100}) ORDER BY "recruit_note"."id" ASC LIMIT 100`;
    expect(analyseRequest(requestOf('task export_notes', loop(6, walk)), normalize).cascades).toEqual([]);
  });

  it('reports "the next N after each row" as an N+1 though its shape is a keyset page\'s, and keeps real keyset walks exempt', () => {
    // for e in Event.objects.order_by('start'): e.venue; Event.objects.filter(start__gt=e.start).order_by('start')[:3]
    const EVENTS = 'SELECT "agenda_event"."id", "agenda_event"."venue_id", "agenda_event"."start" FROM "agenda_event" ORDER BY "agenda_event"."start" ASC';
    const following = (): string =>
      `SELECT "agenda_event"."id", "agenda_event"."start" FROM "agenda_event" WHERE "agenda_event"."start" > %s ORDER BY "agenda_event"."start" ASC LIMIT 3`;
    const venue = (): string => 'SELECT "agenda_venue"."id", "agenda_venue"."name" FROM "agenda_venue" WHERE "agenda_venue"."id" = %s LIMIT 21';
    const kinds = (steps: Step[]) => analyseRequest(requestOf('GET agenda/', steps), normalize).cascades.map((c) => [c.facts.table, c.executions]);
    // Each row's venue runs once between two of its "next 3": both walk the events, one query per row.
    expect(kinds([EVENTS, ...loop(8, venue, following)])).toEqual([['agenda_venue', 8], ['agenda_event', 8]]);
    expect(kinds([EVENTS, ...loop(8, following, venue)])).toEqual([['agenda_event', 8], ['agenda_venue', 8]]);
    // Alone, after the events read whole in the order it bounds: the list it walks, one query per row.
    expect(kinds([EVENTS, ...loop(8, following)])).toEqual([['agenda_event', 8]]);
    // A walk that starts from the first row (.first(), LIMIT 1), or after a whole list of another table, is still a walk.
    const FIRST = 'SELECT "agenda_event"."id", "agenda_event"."start" FROM "agenda_event" ORDER BY "agenda_event"."start" ASC LIMIT 1';
    expect(kinds([FIRST, ...loop(8, following)])).toEqual([]);
    expect(kinds([FIRST.replace('LIMIT 1', 'LIMIT %s'), ...loop(8, following)])).toEqual([]);
    const VENUES = 'SELECT "agenda_venue"."id", "agenda_venue"."name" FROM "agenda_venue" ORDER BY "agenda_venue"."name" ASC';
    expect(kinds([VENUES, ...loop(8, following)])).toEqual([]);
    // With the bounds inlined (raw SQL): each the next id after a row's, a step below a page: a query per row.
    const after = (bound: number): string =>
      `SELECT "shop_book"."id", "shop_book"."title" FROM "shop_book" WHERE "shop_book"."id" > ${bound} ORDER BY "shop_book"."id" ASC LIMIT 3`;
    const BOOKS = 'SELECT "shop_book"."id", "shop_book"."title" FROM "shop_book" ORDER BY "shop_book"."id" ASC';
    expect(kinds([BOOKS, ...loop(8, (r) => after(r + 1))])).toEqual([['shop_book', 8]]);
    // A real walk: each page's bound a page past the one before, even with per-row work on each page.
    expect(kinds(loop(8, (r) => after(r * 3 + 3)))).toEqual([]);
    const page = (): string =>
      `SELECT "shop_book"."id", "shop_book"."author_id" FROM "shop_book" WHERE "shop_book"."id" > %s ORDER BY "shop_book"."id" ASC LIMIT 3`;
    const author = (): string => 'SELECT "shop_author"."id", "shop_author"."name" FROM "shop_author" WHERE "shop_author"."id" = %s LIMIT 21';
    const walk: Step[] = [];
    for (let p = 0; p < 6; p++) walk.push(page(), author(), author(), author());
    expect(kinds(walk)).toEqual([['shop_author', 18]]);
    // A walk that checks one row (the task's job) once per page: that row is no earlier list's.
    const JOB = 'SELECT "tasks_export"."id", "tasks_export"."job_id" FROM "tasks_export" WHERE "tasks_export"."id" = %s LIMIT 21';
    const job = (): string => 'SELECT "tasks_job"."id", "tasks_job"."cancelled" FROM "tasks_job" WHERE "tasks_job"."id" = %s LIMIT 21';
    expect(kinds([JOB, ...loop(8, page, job)])).toEqual([['tasks_job', 8]]);
    // The first 20 events (a LIMIT: not read whole), each with its venue and the next 3: the venue
    // read once between two "next 3" is a row of that list, so both walk it, one query per row.
    const FIRST_20 = `${EVENTS} LIMIT 20`;
    expect(kinds([FIRST_20, ...loop(8, venue, following)])).toEqual([['agenda_venue', 8], ['agenda_event', 8]]);
    // The walk above run for each queued export (a list of another table than the walked one): its job
    // checked once per page is a row of the exports, not of the books, so the pages stay a walk.
    const QUEUED = 'SELECT "tasks_export"."id", "tasks_export"."job_id" FROM "tasks_export" WHERE "tasks_export"."state" = %s';
    expect(kinds([QUEUED, ...loop(8, page, job)])).toEqual([['tasks_job', 8]]);
  });

  it('never reports a task that walks a Paginator again (one walk per status, the same SQL text) as an N+1, but still a slice that restarts without tiling', () => {
    // for status in ('active', 'archived'): for n in paginator.page_range[1:]: export(paginator.page(n))
    const page = (offset: number): string =>
      `SELECT "shop_book"."id", "shop_book"."title" FROM "shop_book" WHERE "shop_book"."status" = %s ORDER BY "shop_book"."id" ASC LIMIT 100 OFFSET ${offset}`;
    const walk = [100, 200, 300, 400].map(page);
    expect(analyseRequest(requestOf('task export_books', [...walk, ...walk]), normalize).cascades).toEqual([]);
    // A second walk may start below the page before it (a status with fewer rows, a later start).
    expect(analyseRequest(requestOf('task export_books', [...walk, ...[100, 200, 300].map(page), ...[100, 200].map(page)]), normalize).cascades).toEqual([]);
    // Back at the first OFFSET but never tiling again, or a "walk" of one page each time: a query per row.
    const perRow = (offsets: number[]) =>
      analyseRequest(requestOf('task export_books', [APPLICATIONS, ...offsets.map(page)]), normalize).cascades.map((c) => [c.kind, c.executions]);
    expect(perRow([100, 200, 100, 300, 100, 500])).toEqual([['n_plus_one', 6]]);
    expect(perRow([100, 200, 300, 100, 100, 100])).toEqual([['n_plus_one', 6]]);
    expect(perRow([100, 200, 300, 400, 100])).toEqual([['n_plus_one', 5]]);
  });

  it("reads each statement in its span's dialect: MySQL's backslash escapes, PostgreSQL's nested comments", () => {
    // Raw SQL on MySQL with a quote escaped before any backtick, then a.author per row.
    const BOOKS = "SELECT 'it\\'s' AS label, id, author_id FROM shop_book WHERE archived = 0";
    const author = (r: number): string => `SELECT id, name FROM shop_author WHERE id = ${r}`;
    const [mysql] = analyseRequest(requestOf('GET books/', [BOOKS, ...loop(6, author)], { system: 'mysql' }), normalize).cascades;
    expect(mysql?.linked).toBe(true);
    expect(mysql?.steps).toEqual([{ kind: 'forward', fromTable: 'shop_book', column: 'author_id', toTable: 'shop_author' }]);
    // On PostgreSQL the comment ends at its second */, so the filter after it is read.
    const commented = (r: number): string => `SELECT "shop_author"."id" /* per row /* a.author */ */ FROM "shop_author" WHERE "shop_author"."id" = ${r}`;
    const BOOKS_PG = 'SELECT "shop_book"."id", "shop_book"."author_id" FROM "shop_book"';
    const [pg] = analyseRequest(requestOf('GET books/', [BOOKS_PG, ...loop(6, commented)]), normalize).cascades;
    expect(pg?.facts.equalityFilters).toEqual(['shop_author.id']);
    expect(pg?.steps).toEqual([{ kind: 'forward', fromTable: 'shop_book', column: 'author_id', toTable: 'shop_author' }]);
  });

  it('reports a loop whose statement starts with a SET: the SELECT after it still runs per row', () => {
    // cursor.execute('SET LOCAL statement_timeout = 2000; SELECT … WHERE author_id = %s', [a.id]) per author.
    const perRow = (r: number): string =>
      `SET LOCAL statement_timeout = 2000; SELECT "shop_book"."id", "shop_book"."title" FROM "shop_book" WHERE "shop_book"."author_id" = ${r}`;
    const AUTHORS = 'SELECT "shop_author"."id", "shop_author"."name" FROM "shop_author"';
    const analysis = analyseRequest(requestOf('GET authors/', [AUTHORS, ...loop(6, perRow)]), normalize);
    expect(analysis.noise).toEqual({});
    expect(analysis.cascades.map((c) => [c.kind, c.executions, c.steps])).toEqual([
      ['n_plus_one', 6, [{ kind: 'reverse', fromTable: 'shop_author', toTable: 'shop_book', column: 'author_id' }]],
    ]);
  });

  it("never reports Django's chunked IN batches on SQLite (in_bulk, a prefetch in chunks) as an N+1, but still an IN query per row", () => {
    const values = (n: number): string => Array.from({ length: n }, () => '?').join(', ');
    const sqlite = { system: 'sqlite' };
    // Book.objects.in_bulk(ids) over 4,500 ids: SQLite's 999 parameters a statement, so five queries.
    const bulk = (n: number): string => `SELECT "shop_book"."id", "shop_book"."title" FROM "shop_book" WHERE "shop_book"."id" IN (${values(n)})`;
    const inBulk = [999, 999, 999, 999, 504].map(bulk);
    expect(analyseRequest(requestOf('task reindex', inBulk, sqlite), normalize).cascades).toEqual([]);
    // Author.objects.prefetch_related('book_set').iterator(chunk_size=2000) over 11,000 authors: a prefetch per chunk.
    const AUTHORS = 'SELECT "shop_author"."id", "shop_author"."name" FROM "shop_author"';
    const books = (n: number): string =>
      `SELECT "shop_book"."id", "shop_book"."author_id", "shop_book"."title" FROM "shop_book" WHERE "shop_book"."author_id" IN (${values(n)})`;
    const chunks = [AUTHORS, ...[2000, 2000, 2000, 2000, 2000, 1000].map(books)];
    expect(analyseRequest(requestOf('task export', chunks, sqlite), normalize).cascades).toEqual([]);
    // Per author, Tag.objects.filter(id__in=a.tag_ids): a query per row whatever its list holds.
    const TAGGED = 'SELECT "shop_author"."id", "shop_author"."tag_ids" FROM "shop_author"';
    const tags = (n: number): string => `SELECT "shop_tag"."id", "shop_tag"."name" FROM "shop_tag" WHERE "shop_tag"."id" IN (${values(n)})`;
    for (const sizes of [[2, 3, 2, 5, 4, 2], [150, 220, 180, 150, 400, 310], [999, 501, 999, 501, 999, 501]]) {
      const perRow = analyseRequest(requestOf('GET authors/', [TAGGED, ...sizes.map(tags)], sqlite), normalize).cascades;
      expect(perRow.map((c) => [c.kind, c.executions])).toEqual([['n_plus_one', 6]]);
    }
  });

  it('still reports a query per row that carries a long fixed IN list besides its own filter: only a lone IN list is a chunked batch', () => {
    // for a in applications: a.note_set.filter(author_id__in=team_ids): the same team members every
    // row, 20 or 120 of them, and the row's own application_id: a query per row either way.
    const members = (n: number): string => Array.from({ length: n }, () => '%s').join(', ');
    const notes = (n: number) => (): string =>
      `SELECT "recruit_note"."id", "recruit_note"."body" FROM "recruit_note" WHERE ("recruit_note"."application_id" = %s AND "recruit_note"."author_id" IN (${members(n)}))`;
    for (const team of [20, 120]) {
      const cascades = analyseRequest(requestOf('GET x/', [APPLICATIONS, ...loop(8, notes(team))]), normalize).cascades;
      expect(cascades.map((c) => [c.kind, c.executions])).toEqual([['n_plus_one', 8]]);
    }
  });

  it('still reports a per-row slice whose OFFSET varies by row: pages tile the rows, a per-row slice does not', () => {
    // for a in applications: a.notes.all()[a.seen:a.seen + 3], each row's own position.
    const seen = [4, 0, 7, 2, 9, 1, 4, 3];
    const window = (r: number): string =>
      `SELECT "recruit_note"."id", "recruit_note"."body" FROM "recruit_note" WHERE "recruit_note"."application_id" = ${r} ORDER BY "recruit_note"."id" ASC LIMIT 3 OFFSET ${seen[r]! + 1}`;
    const [c] = analyseRequest(requestOf('GET x/', [APPLICATIONS, ...loop(8, window)]), normalize).cascades;
    expect(c?.executions).toBe(8);
    expect(c?.steps).toEqual([{ kind: 'reverse', fromTable: 'recruit_application', toTable: 'recruit_note', column: 'application_id' }]);
    // qs[i:i+1] and related.all()[n] per row: one row each, the OFFSET varying by row.
    const nth = (r: number): string =>
      `SELECT "recruit_note"."id" FROM "recruit_note" WHERE "recruit_note"."application_id" = ${r} ORDER BY "recruit_note"."id" ASC LIMIT 1 OFFSET ${seen[r]! + 1}`;
    expect(analyseRequest(requestOf('GET x/', [APPLICATIONS, ...loop(8, nth)]), normalize).cascades.map((c) => c.executions)).toEqual([8]);
    // Pages of a Paginator in a task, also on MySQL's LIMIT offset, n and with a longer last page (orphans).
    const BOOK = 'SELECT `shop_book`.`id`, `shop_book`.`title` FROM `shop_book` ORDER BY `shop_book`.`id` ASC';
    const pages = [...Array.from({ length: 6 }, (_, r) => `${BOOK} LIMIT ${(r + 1) * 100}, 100`), `${BOOK} LIMIT 700, 130`];
    expect(analyseRequest(requestOf('task export_books', pages, { system: 'mysql' }), normalize).cascades).toEqual([]);
  });

  it('keeps a DB timeline of offsets, durations and fingerprints without SQL text', () => {
    expect(analysis.timeline).toHaveLength(303);
    expect(analysis.timeline[0]).toEqual({ offsetMs: 1, durationMs: 1, fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/) });
  });
});

describe('a loop over a relation of a table the trigger already joins', () => {
  // Application.objects.select_related('job'), then a.job.company / a.job.openings per row.
  const APPS_JOB =
    'SELECT "recruit_application"."id", "recruit_application"."job_id", "recruit_job"."id", "recruit_job"."company_id", "recruit_job"."title" ' +
    'FROM "recruit_application" INNER JOIN "recruit_job" ON ("recruit_application"."job_id" = "recruit_job"."id")';
  const company = (r: number): string => `SELECT "recruit_company"."id", "recruit_company"."name" FROM "recruit_company" WHERE "recruit_company"."id" = ${r} LIMIT 21`;
  const openings = (r: number): string => `SELECT "recruit_opening"."id", "recruit_opening"."job_id" FROM "recruit_opening" WHERE "recruit_opening"."job_id" = ${r}`;
  const JOB_STEP = { kind: 'forward', fromTable: 'recruit_application', column: 'job_id', toTable: 'recruit_job' };

  it('starts the path with the join that reaches the table: job, then company', () => {
    const [c] = analyseRequest(requestOf('GET x/', [APPS_JOB, ...loop(8, company)]), normalize).cascades;
    expect(c?.trigger?.table).toBe('recruit_application');
    expect(c?.steps).toEqual([JOB_STEP, { kind: 'forward', fromTable: 'recruit_job', column: 'company_id', toTable: 'recruit_company' }]);
  });

  it('does the same for a reverse relation of the joined table', () => {
    const [c] = analyseRequest(requestOf('GET x/', [APPS_JOB, ...loop(8, openings)]), normalize).cascades;
    expect(c?.steps).toEqual([JOB_STEP, { kind: 'reverse', fromTable: 'recruit_job', toTable: 'recruit_opening', column: 'job_id' }]);
  });

  it('adds no step for a multi-table-inheritance parent: the child has its fields', () => {
    // Restaurant(Place): Place's columns come through the parent pointer join.
    const RESTAURANTS =
      'SELECT "shop_place"."id", "shop_place"."owner_id", "shop_restaurant"."place_ptr_id" FROM "shop_restaurant" ' +
      'INNER JOIN "shop_place" ON ("shop_restaurant"."place_ptr_id" = "shop_place"."id")';
    const owner = (r: number): string => `SELECT "shop_owner"."id", "shop_owner"."name" FROM "shop_owner" WHERE "shop_owner"."id" = ${r} LIMIT 21`;
    const [c] = analyseRequest(requestOf('GET x/', [RESTAURANTS, ...loop(8, owner)]), normalize).cascades;
    expect(c?.trigger?.table).toBe('shop_restaurant');
    expect(c?.steps).toEqual([{ kind: 'forward', fromTable: 'shop_place', column: 'owner_id', toTable: 'shop_owner' }]);
  });
});

describe('a trigger that joins one table twice (two foreign keys to it, or a self-join)', () => {
  // user_id and reviewer_id both point at auth_user, as a schema file says.
  const links: TableLinks = {
    foreignKeyTarget: (table, column) =>
      table === 'recruit_application' && (column === 'user_id' || column === 'reviewer_id') ? 'auth_user'
        : table === 'auth_user' && column === 'manager_id' ? 'auth_user'
          : undefined,
    primaryKey: () => 'id',
  };
  const user = (r: number): string => `SELECT "auth_user"."id", "auth_user"."username" FROM "auth_user" WHERE "auth_user"."id" = ${r} LIMIT 21`;

  it('names the foreign key the loop follows, not the one the trigger already loads', () => {
    // Application.objects.select_related('user').filter(reviewer__username=…), then a.reviewer per row.
    const APPS =
      'SELECT "recruit_application"."id", "recruit_application"."user_id", "recruit_application"."reviewer_id", "auth_user"."id", "auth_user"."username" ' +
      'FROM "recruit_application" INNER JOIN "auth_user" ON ("recruit_application"."user_id" = "auth_user"."id") ' +
      'INNER JOIN "auth_user" T3 ON ("recruit_application"."reviewer_id" = T3."id") WHERE T3."username" = %s';
    const [c] = analyseRequest(requestOf('GET x/', [APPS, ...loop(8, user)]), normalize, { links }).cascades;
    expect(c?.steps).toEqual([{ kind: 'forward', fromTable: 'recruit_application', column: 'reviewer_id', toTable: 'auth_user' }]);
  });

  it('never reads a self-join to the rows that point back (reports) as the forward key (manager)', () => {
    // User.objects.filter(reports__is_active=True): its join only filters; u.manager per row is the loop.
    const BOSSES =
      'SELECT DISTINCT "auth_user"."id", "auth_user"."manager_id", "auth_user"."username" FROM "auth_user" ' +
      'INNER JOIN "auth_user" T2 ON ("auth_user"."id" = T2."manager_id") WHERE T2."is_active"';
    expect(joinedTables(normalize(BOSSES).facts, links)).toEqual([]);
    const [c] = analyseRequest(requestOf('GET x/', [BOSSES, ...loop(8, user)]), normalize, { links }).cascades;
    expect(c?.steps).toEqual([{ kind: 'forward', fromTable: 'auth_user', column: 'manager_id', toTable: 'auth_user', deeper: true }]);
  });
});

describe('a loop whose query filters on two foreign keys', () => {
  // for a in applications: Note.objects.filter(user=request.user, application=a): the user is the
  // same every row (loaded once per request); the rows looped over are the applications.
  const note = (r: number): string =>
    `SELECT "recruit_note"."id", "recruit_note"."body" FROM "recruit_note" WHERE ("recruit_note"."user_id" = 7 AND "recruit_note"."application_id" = ${r})`;

  it('links it to the nearest query whose rows explain a filter, not to the first filter column', () => {
    const [c] = analyseRequest(requestOf('GET x/', [SESSION, AUTH_USER, APPLICATIONS, ...loop(8, note)]), normalize).cascades;
    expect(c?.linked).toBe(true);
    expect(c?.trigger?.table).toBe('recruit_application');
    expect(c?.steps).toEqual([{ kind: 'reverse', fromTable: 'recruit_application', toTable: 'recruit_note', column: 'application_id' }]);
  });

  it('never links it to a single-row lookup run once, however near (request.user read after the list)', () => {
    // Either filter first: Note.objects.filter(user=…, application=a) or a.notes.filter(user=…).
    const swapped = (r: number): string =>
      `SELECT "recruit_note"."id", "recruit_note"."body" FROM "recruit_note" WHERE ("recruit_note"."application_id" = ${r} AND "recruit_note"."user_id" = 7)`;
    for (const perRow of [note, swapped]) {
      const [c] = analyseRequest(requestOf('GET x/', [SESSION, APPLICATIONS, AUTH_USER, ...loop(8, perRow)]), normalize).cascades;
      expect(c?.trigger?.table).toBe('recruit_application');
      expect(c?.steps).toEqual([{ kind: 'reverse', fromTable: 'recruit_application', toTable: 'recruit_note', column: 'application_id' }]);
    }
  });

  it('reads a filter on a joined table that is no foreign key as a filter, not as an m2m through table', () => {
    // a.notes.filter(user__username='ann') per application: the join to auth_user only filters.
    const byAuthor = (r: number): string =>
      'SELECT "recruit_note"."id", "recruit_note"."body" FROM "recruit_note" INNER JOIN "auth_user" ON ("recruit_note"."user_id" = "auth_user"."id") ' +
      `WHERE ("recruit_note"."application_id" = ${r} AND "auth_user"."username" = 'ann')`;
    const [c] = analyseRequest(requestOf('GET x/', [SESSION, AUTH_USER, APPLICATIONS, ...loop(8, byAuthor)]), normalize).cascades;
    expect(c?.linked).toBe(true);
    expect(c?.steps).toEqual([{ kind: 'reverse', fromTable: 'recruit_application', toTable: 'recruit_note', column: 'application_id' }]);
  });

  it('still links a query repeated for one row to that row when nothing else explains it', () => {
    // {{ user.notes.count }} written five times in a template: one user, the same count each time.
    const count = (): string => 'SELECT COUNT(*) AS "__count" FROM "recruit_note" WHERE "recruit_note"."user_id" = %s';
    const [c] = analyseRequest(requestOf('GET x/', [SESSION, AUTH_USER, ...loop(6, count)]), normalize).cascades;
    expect(c?.trigger?.table).toBe('auth_user');
    expect(c?.linked).toBe(true);
  });
});

describe('a multi-table child filtered by a key its parents hold', () => {
  // for a in authors: Pizzeria.objects.filter(owner=a), Pizzeria(Restaurant(Place)): the owner is on
  // the grandparent, joined through the parent; neither parent is an M2M's through table.
  const AUTHORS = 'SELECT "shop_author"."id", "shop_author"."name" FROM "shop_author"';
  const pizzerias = (r: number): string =>
    'SELECT "shop_place"."id", "shop_place"."owner_id" FROM "shop_pizzeria" ' +
    'INNER JOIN "shop_restaurant" ON ("shop_pizzeria"."restaurant_ptr_id" = "shop_restaurant"."place_ptr_id") ' +
    `INNER JOIN "shop_place" ON ("shop_restaurant"."place_ptr_id" = "shop_place"."id") WHERE "shop_place"."owner_id" = ${r}`;

  it('links it through the inherited key, naming the table that holds it', () => {
    const pks: Record<string, string> = { shop_pizzeria: 'restaurant_ptr_id', shop_restaurant: 'place_ptr_id' };
    const links = {
      foreignKeyTarget: (t: string, c: string) => (c === 'owner_id' ? 'shop_author' : c === pks[t] ? (t === 'shop_pizzeria' ? 'shop_restaurant' : 'shop_place') : undefined),
      primaryKey: (t: string) => pks[t] ?? 'id',
    };
    const [c] = analyseRequest(requestOf('GET x/', [AUTHORS, ...loop(6, pizzerias)]), normalize, { links }).cascades;
    expect(c?.trigger?.table).toBe('shop_author');
    // The grandparent's pointer is the parent's, not the queried table's: no column names it.
    expect(c?.steps).toEqual([{ kind: 'reverse', fromTable: 'shop_author', toTable: 'shop_pizzeria', column: 'owner_id', inherited: { table: 'shop_place', pointer: '' } }]);
  });
});
