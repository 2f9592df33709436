import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RollupSet } from '../detect/rollup.js';
import { analyseRequest } from '../detect/request.js';
import { APPLICATIONS, DASHBOARD_ROW, loop, requestOf, type Step } from '../detect/testing.js';
import { reportEndpoint, type ReportEndpoint } from '../report/model.js';
import { createSqlNormalizer } from '../sql/index.js';
import { schemaNaming } from './naming.js';
import { parseSchema, type DjangoSchema, type SchemaModel, type SchemaRelation } from './schema.js';

const schemaJson = JSON.parse(readFileSync(new URL('./testdata/schema.json', import.meta.url), 'utf8')) as DjangoSchema;
const schema = parseSchema(schemaJson);
const normalize = createSqlNormalizer();

/** The test schema with more relations on some models, as `manage.py n1lens_schema` lists them (both ends of each). */
function schemaWith(extra: Record<string, SchemaRelation[]>, models: SchemaModel[] = []): DjangoSchema {
  return parseSchema({
    ...schemaJson,
    models: [...schemaJson.models.map((m) => ({ ...m, relations: [...m.relations, ...(extra[m.model] ?? [])] })), ...models],
  });
}

/** The report section for one request, with the test schema (or the one given), or without one. */
function endpointFor(steps: Step[], withSchema: boolean | DjangoSchema): ReportEndpoint {
  const request = requestOf('GET x/', steps);
  const used = withSchema === true ? schema : withSchema === false ? undefined : withSchema;
  const set = new RollupSet();
  set.add(analyseRequest(request, normalize, used === undefined ? {} : { links: schemaNaming(used) }));
  const [rollup] = set.values();
  if (rollup === undefined) throw new Error('no rollup');
  return reportEndpoint(rollup, used === undefined ? {} : { schema: used });
}

const codes = (e: ReportEndpoint): string[] => e.findings.map((f) => f.suggestion.code);

const ORDERS = 'SELECT "shop_order"."id", "shop_order"."placed" FROM "shop_order" ORDER BY "shop_order"."placed" DESC';
const BOOKS = 'SELECT "shop_book"."id", "shop_book"."title", "shop_book"."writer_id" FROM "shop_book"';
const lines = (r: number): string =>
  `SELECT "shop_orderline"."id", "shop_orderline"."order_id", "shop_orderline"."book_id", "shop_orderline"."qty" FROM "shop_orderline" WHERE "shop_orderline"."order_id" = ${r}`;
const book = (r: number): string => `SELECT "shop_book"."id", "shop_book"."title", "shop_book"."writer_id" FROM "shop_book" WHERE "shop_book"."id" = ${r} LIMIT 21`;

describe('fixes for each row of the DESIGN fix table', () => {
  it('forward FK: select_related with the field name', () => {
    const e = endpointFor([APPLICATIONS, ...loop(10, DASHBOARD_ROW[0]!)], true);
    expect(codes(e)).toEqual([".select_related('candidate')"]);
    expect(e.findings[0]?.suggestion.confidence).toBe('exact');
    expect(e.fix).toBe("Application.objects.select_related('candidate')");
  });

  it('two and three hops: select_related through the whole path', () => {
    const country = (r: number): string => `SELECT "recruit_country"."id", "recruit_country"."name" FROM "recruit_country" WHERE "recruit_country"."id" = ${r} LIMIT 21`;
    const company = (r: number): string =>
      `SELECT "recruit_company"."id", "recruit_company"."name", "recruit_company"."country_id" FROM "recruit_company" WHERE "recruit_company"."id" = ${r} LIMIT 21`;
    const e = endpointFor([APPLICATIONS, ...loop(10, DASHBOARD_ROW[1]!, company, country)], true);
    expect(e.fix).toBe("Application.objects.select_related('job__company__country')");
    expect(e.findings.find((f) => f.table === 'recruit_country')?.chain).toEqual(['job', 'company', 'country']);
  });

  it('custom db_table and db_column: the field name comes from the schema', () => {
    const author = (r: number): string => `SELECT "authors"."id", "authors"."name" FROM "authors" WHERE "authors"."id" = ${r} LIMIT 21`;
    const withSchema = endpointFor([BOOKS, ...loop(6, author)], true);
    expect(withSchema.fix).toBe("Book.objects.select_related('author')");
    const without = endpointFor([BOOKS, ...loop(6, author)], false);
    expect(without.findings[0]?.suggestion.confidence).toBe('inferred');
    expect(without.findings[0]?.suggestion.note).toMatch(/--schema/);
  });

  it('reverse FK: prefetch_related by the real accessor, or <model>_set when inferred', () => {
    const note = (r: number): string => `SELECT "recruit_note"."id", "recruit_note"."application_id", "recruit_note"."body" FROM "recruit_note" WHERE "recruit_note"."application_id" = ${r}`;
    expect(endpointFor([APPLICATIONS, ...loop(8, note)], true).fix).toBe("Application.objects.prefetch_related('notes')");
    const inferred = endpointFor([APPLICATIONS, ...loop(8, note)], false);
    expect(inferred.fix).toBe("Application.objects.prefetch_related('note_set')");
    expect(inferred.findings[0]?.suggestion.confidence).toBe('inferred');
  });

  it('M2M through an auto table: prefetch_related by the field name', () => {
    const tags = (r: number): string =>
      `SELECT "shop_tag"."id", "shop_tag"."name" FROM "shop_tag" INNER JOIN "shop_book_tags" ON ("shop_tag"."id" = "shop_book_tags"."tag_id") WHERE "shop_book_tags"."book_id" = ${r}`;
    expect(endpointFor([BOOKS, ...loop(7, tags)], true).fix).toBe("Book.objects.prefetch_related('tags')");
    expect(endpointFor([BOOKS, ...loop(7, tags)], false).fix).toBe("Book.objects.prefetch_related('tags')");
  });

  it('M2M through a custom through model: the M2M field, not the through table', () => {
    const shelves = (r: number): string =>
      `SELECT "shop_shelf"."id", "shop_shelf"."name" FROM "shop_shelf" INNER JOIN "shop_placement" ON ("shop_shelf"."id" = "shop_placement"."shelf_id") WHERE "shop_placement"."book_id" = ${r}`;
    expect(endpointFor([BOOKS, ...loop(7, shelves)], true).fix).toBe("Book.objects.prefetch_related('shelves')");
  });

  it('M2M through a custom through model, without a schema: both readings, never the through table as a name', () => {
    // shop_placement is Placement's own table: Book.shelves, Shelf.books (Book's shelf_set) or any other name.
    const join = 'FROM "shop_shelf" INNER JOIN "shop_placement" ON ("shop_shelf"."id" = "shop_placement"."shelf_id") WHERE "shop_placement"."book_id" =';
    const shelves = (r: number): string => `SELECT "shop_shelf"."id", "shop_shelf"."name" ${join} ${r}`;
    const shelfCount = (r: number): string => `SELECT COUNT(*) AS "__count" ${join} ${r}`;
    for (const [sql, ifShelf, ifBook] of [
      [shelves, "prefetch_related('shelf_set') if Shelf declares", "prefetch_related('<its name on Book>') if Book declares"],
      [shelfCount, "Count('shelf') if Shelf declares", "Count('<its name on Book>') if Book declares"],
    ] as const) {
      const e = endpointFor([BOOKS, ...loop(7, sql)], false);
      expect(e.fix).toBe('');
      const f = e.findings[0]!;
      expect(f.chain).toEqual(['shelf_set|?']);
      expect(f.suggestion).toMatchObject({ method: 'manual', confidence: 'inferred' });
      expect(f.suggestion.code).toContain(ifShelf);
      expect(f.suggestion.code).toContain(ifBook);
      expect(f.suggestion.code).toContain('through Placement');
      expect(f.suggestion.code).not.toMatch(/'placement'/);
    }
  });

  it('M2M through an auto table, without a schema: named from either end as before', () => {
    const tagged = (r: number): string =>
      `SELECT "shop_book"."id" FROM "shop_book" INNER JOIN "shop_book_tags" ON ("shop_book"."id" = "shop_book_tags"."book_id") WHERE "shop_book_tags"."tag_id" = ${r}`;
    const TAGS = 'SELECT "shop_tag"."id", "shop_tag"."name" FROM "shop_tag"';
    expect(endpointFor([TAGS, ...loop(7, tagged)], false).fix).toBe("Tag.objects.prefetch_related('book_set')");
  });

  it('COUNT per row: annotate with Count over the query name', () => {
    expect(endpointFor([APPLICATIONS, ...loop(9, DASHBOARD_ROW[4]!)], true).fix.split('\n')).toEqual([
      "Application.objects.annotate(notes_count=Count('notes'))",
      '# then read application.notes_count, not application.notes.count()',
    ]);
    expect(endpointFor([APPLICATIONS, ...loop(9, DASHBOARD_ROW[4]!)], false).fix.split('\n')).toEqual([
      "Application.objects.annotate(note_count=Count('note'))",
      '# then read application.note_count, not application.note_set.count()',
    ]);
  });

  it('AVG per row: annotate with Avg over <query name>__<column>', () => {
    const avg = (r: number): string => `SELECT AVG("shop_review"."stars") AS "stars__avg" FROM "shop_review" WHERE "shop_review"."book_id" = ${r}`;
    expect(endpointFor([BOOKS, ...loop(9, avg)], true).fix.split('\n')).toEqual([
      "Book.objects.annotate(reviews_stars_avg=Avg('reviews__stars'))",
      "# then read book.reviews_stars_avg, not book.reviews.aggregate(Avg('stars'))['stars__avg']",
    ]);
  });

  it('first() per row: a Prefetch with the ordering and to_attr', () => {
    expect(endpointFor([APPLICATIONS, ...loop(9, DASHBOARD_ROW[5]!)], true).fix.split('\n')).toEqual([
      "Application.objects.prefetch_related(Prefetch('interviews', queryset=Interview.objects.order_by('-scheduled_at'), to_attr='recent_interviews'))",
      "# then read application.recent_interviews[0] if application.recent_interviews else None, not application.interviews.order_by('-scheduled_at').first()",
    ]);
  });

  it('exists() per row: annotate with Exists over the child model', () => {
    const exists = (r: number): string => `SELECT 1 AS "a" FROM "shop_review" WHERE "shop_review"."book_id" = ${r} LIMIT 1`;
    expect(endpointFor([BOOKS, ...loop(9, exists)], true).fix.split('\n')).toEqual([
      "Book.objects.annotate(has_reviews=Exists(Review.objects.filter(book=OuterRef('pk'))))",
      '# then read book.has_reviews, not book.reviews.exists()',
    ]);
  });

  it('a loop inside a loop over a relation: Prefetch with a select_related queryset', () => {
    const steps: Step[] = [ORDERS];
    for (let o = 0; o < 6; o++) {
      steps.push(lines(o));
      for (let l = 0; l < 3; l++) steps.push(book(o * 3 + l));
    }
    const e = endpointFor(steps, true);
    expect(e.fix).toBe("Order.objects.prefetch_related(Prefetch('lines', queryset=OrderLine.objects.select_related('book')))");
    expect(e.findings.find((f) => f.table === 'shop_book')?.chain).toEqual(['lines', 'book']);
  });

  it('a loop over an already prefetched relation: the fix goes inside that Prefetch', () => {
    const prefetchLines =
      'SELECT "shop_orderline"."id", "shop_orderline"."order_id", "shop_orderline"."book_id" FROM "shop_orderline" WHERE "shop_orderline"."order_id" IN (1, 2, 3, 4, 5, 6)';
    const e = endpointFor([ORDERS, prefetchLines, ...loop(18, book)], true);
    expect(e.fix).toBe("Order.objects.prefetch_related(Prefetch('lines', queryset=OrderLine.objects.select_related('book')))");
    expect(e.findings[0]?.trigger?.table).toBe('shop_order');
  });

  it('write loops: bulk_update with field names, bulk_create', () => {
    const e = endpointFor(
      [
        APPLICATIONS,
        ...loop(6, (i) => `UPDATE "recruit_application" SET "status_id" = ${i} WHERE "recruit_application"."id" = ${i}`),
        ...loop(6, (i) => `INSERT INTO "recruit_note" ("application_id", "body") VALUES (${i}, 'x') RETURNING "recruit_note"."id"`),
      ],
      true,
    );
    expect(codes(e)).toEqual(["Application.objects.bulk_update(objs, ['status'])", 'Note.objects.bulk_create(objs)']);
    expect(e.findings.map((f) => f.suggestion.method)).toEqual(['bulk_update', 'bulk_create']);
  });
});

describe('the combined per-endpoint fix', () => {
  it("reproduces the seed's dashboard queryset exactly with the schema", () => {
    const e = endpointFor([APPLICATIONS, ...loop(50, ...DASHBOARD_ROW)], true);
    expect(e.fix.split('\n')).toEqual([
      "Application.objects.select_related('candidate', 'job__company', 'status')" +
        ".prefetch_related(Prefetch('interviews', queryset=Interview.objects.order_by('-scheduled_at'), to_attr='recent_interviews'))" +
        ".annotate(notes_count=Count('notes'))",
      '# then read application.notes_count, not application.notes.count()',
      "# then read application.recent_interviews[0] if application.recent_interviews else None, not application.interviews.order_by('-scheduled_at').first()",
    ]);
    expect(e.findings.every((f) => f.suggestion.confidence === 'exact')).toBe(true);
  });

  it('gives two querysets of one model a fix each, not one line that merges them', () => {
    const author = (r: number): string => `SELECT "authors"."id", "authors"."name" FROM "authors" WHERE "authors"."id" = ${r} LIMIT 21`;
    const tags = (r: number): string =>
      `SELECT "shop_tag"."id", "shop_tag"."name" FROM "shop_tag" INNER JOIN "shop_book_tags" ON ("shop_tag"."id" = "shop_book_tags"."tag_id") WHERE "shop_book_tags"."book_id" = ${r}`;
    const e = endpointFor([BOOKS, ...loop(6, author), `${BOOKS} WHERE "shop_book"."title" = 'x'`, ...loop(6, tags)], true);
    expect(e.fix.split('\n')).toEqual(["Book.objects.select_related('author')", "Book.objects.prefetch_related('tags')"]);
  });

  it('infers the same shape from SQL alone, with Django default names', () => {
    const e = endpointFor([APPLICATIONS, ...loop(50, ...DASHBOARD_ROW)], false);
    expect(e.fix).toContain("select_related('candidate', 'job__company', 'status')");
    expect(e.fix).toContain("Count('note')");
    expect(e.findings.every((f) => f.suggestion.confidence === 'inferred')).toBe(true);
  });
});

describe('a loop over a relation of a table the trigger already joins', () => {
  // Application.objects.select_related('job'), then {{ a.job.company.name }} per row.
  const APPS_JOB =
    'SELECT "recruit_application"."id", "recruit_application"."job_id", "recruit_job"."id", "recruit_job"."company_id", "recruit_job"."title" ' +
    'FROM "recruit_application" INNER JOIN "recruit_job" ON ("recruit_application"."job_id" = "recruit_job"."id")';
  const company = (r: number): string =>
    `SELECT "recruit_company"."id", "recruit_company"."name", "recruit_company"."country_id" FROM "recruit_company" WHERE "recruit_company"."id" = ${r} LIMIT 21`;

  it('extends the joined path (job__company), with the schema and without', () => {
    for (const withSchema of [true, false]) {
      const e = endpointFor([APPS_JOB, ...loop(8, company)], withSchema);
      expect(e.fix).toBe("Application.objects.select_related('job__company')");
      expect(e.findings[0]?.suggestion.code).toBe(".select_related('job__company')");
      expect(e.findings[0]?.suggestion.readInstead?.read).toBe('application.job.company');
      expect(e.findings[0]?.chain).toEqual(['job', 'company']);
    }
  });
});

describe('a reverse one-to-one read per row', () => {
  // for a in Author.objects.all(): a.profile  ->  Profile.objects.get(author=a) per row
  const withProfile = schemaWith(
    { 'shop.Author': [{ name: 'profile', queryName: 'profile', kind: 'one_to_one', target: 'shop.Profile', remoteColumn: 'author_id' }] },
    [{ model: 'shop.Profile', table: 'shop_profile', pk: 'id', relations: [{ name: 'author', queryName: 'author', kind: 'one_to_one', target: 'shop.Author', column: 'author_id' }] }],
  );
  const AUTHORS = 'SELECT "authors"."id", "authors"."name" FROM "authors"';
  const profile = (r: number): string => `SELECT "shop_profile"."id", "shop_profile"."author_id" FROM "shop_profile" WHERE "shop_profile"."author_id" = ${r} LIMIT 21`;

  it('is single-valued with the schema: select_related, read author.profile', () => {
    const e = endpointFor([AUTHORS, ...loop(8, profile)], withProfile);
    expect(e.fix).toBe("Author.objects.select_related('profile')");
    expect(e.findings[0]?.suggestion).toMatchObject({
      method: 'select_related',
      path: 'profile',
      code: ".select_related('profile')",
      readInstead: { read: 'author.profile', insteadOf: 'Profile.objects.get(author=author)', required: false },
    });
  });

  // Django's default table name, which the conventions link shop_profile.author_id to.
  const DEFAULT_AUTHORS = 'SELECT "shop_author"."id", "shop_author"."name" FROM "shop_author"';

  it('without a schema, names both cures rather than guess one that raises for the other kind', () => {
    const e = endpointFor([DEFAULT_AUTHORS, ...loop(8, profile)], false);
    const s = e.findings[0]!.suggestion;
    expect(s.method).toBe('manual');
    expect(s.code).toContain("if Profile.author is a OneToOneField, select_related('profile') and read author.profile");
    expect(s.code).toContain("if it is a ForeignKey, prefetch_related('profile_set')");
    expect(s.note).toMatch(/--schema/);
    expect(e.fix).toBe('');
  });

  it('a reverse foreign key read with all() stays a prefetch', () => {
    const profiles = (r: number): string => `SELECT "shop_profile"."id", "shop_profile"."author_id" FROM "shop_profile" WHERE "shop_profile"."author_id" = ${r}`;
    expect(endpointFor([DEFAULT_AUTHORS, ...loop(8, profiles)], false).fix).toBe("Author.objects.prefetch_related('profile_set')");
  });
});

describe('exists() per row: Exists() over a queryset tied to the right outer column', () => {
  const LINES = 'SELECT "shop_orderline"."id", "shop_orderline"."order_id", "shop_orderline"."book_id", "shop_orderline"."qty" FROM "shop_orderline"';
  const reviewExists = (r: number): string => `SELECT 1 AS "a" FROM "shop_review" WHERE "shop_review"."book_id" = ${r} LIMIT 1`;
  const tagExists = (r: number): string =>
    `SELECT 1 AS "a" FROM "shop_tag" INNER JOIN "shop_book_tags" ON ("shop_tag"."id" = "shop_book_tags"."tag_id") WHERE "shop_book_tags"."book_id" = ${r} LIMIT 1`;
  // Tag's end of Book.tags, as `manage.py n1lens_schema` lists it.
  const withTagEnd = schemaWith({
    'shop.Tag': [{ name: 'book_set', queryName: 'book', kind: 'many_to_many', target: 'shop.Book', through: 'shop_book_tags', sourceColumn: 'tag_id', targetColumn: 'book_id' }],
  });

  it("through a forward FK: OuterRef('book'), the related row's id, not the outer row's own pk", () => {
    // for line in OrderLine.objects.all(): line.book.reviews.exists()
    const e = endpointFor([LINES, ...loop(8, book, reviewExists)], true);
    expect(e.fix.split('\n')[0]).toBe("OrderLine.objects.select_related('book').annotate(has_book_reviews=Exists(Review.objects.filter(book=OuterRef('book'))))");
    expect(e.findings.find((f) => f.table === 'shop_review')?.suggestion.readInstead?.read).toBe('order_line.has_book_reviews');
  });

  it("over an M2M: Exists(Tag.objects.filter(book=OuterRef('pk'))), never Exists('tags')", () => {
    // for b in Book.objects.all(): b.tags.exists()
    for (const used of [withTagEnd, false] as const) {
      const e = endpointFor([BOOKS, ...loop(8, tagExists)], used);
      expect(e.fix.split('\n')[0]).toBe("Book.objects.annotate(has_tags=Exists(Tag.objects.filter(book=OuterRef('pk'))))");
    }
  });

  it('over an M2M read from its join table alone (what Django runs for tags.exists() and count()): the M2M by name', () => {
    const throughExists = (r: number): string => `SELECT 1 AS "a" FROM "shop_book_tags" WHERE "shop_book_tags"."book_id" = ${r} LIMIT 1`;
    const throughCount = (r: number): string => `SELECT COUNT(*) AS "__count" FROM "shop_book_tags" WHERE "shop_book_tags"."book_id" = ${r}`;
    for (const withSchema of [true, false]) {
      const exists = endpointFor([BOOKS, ...loop(8, throughExists)], withSchema);
      expect(exists.fix.split('\n')[0]).toBe("Book.objects.annotate(has_tags=Exists(Book.tags.through.objects.filter(book=OuterRef('pk'))))");
      expect(exists.findings[0]?.chain).toEqual(['tags']);
      const count = endpointFor([BOOKS, ...loop(8, throughCount)], withSchema);
      expect(count.fix.split('\n')).toEqual(["Book.objects.annotate(tags_count=Count('tags'))", '# then read book.tags_count, not book.tags.count()']);
    }
  });
});

describe('aggregates over two to-many relations in one annotate()', () => {
  // Each join repeats the other's rows: 2 reviews × 3 tags gives 6 and 6 with plain Counts.
  const notes = (r: number): string => `SELECT COUNT(*) AS "__count" FROM "recruit_note" WHERE "recruit_note"."application_id" = ${r}`;
  const interviews = (r: number): string => `SELECT COUNT(*) AS "__count" FROM "recruit_interview" WHERE "recruit_interview"."application_id" = ${r}`;
  const tagCount = (r: number): string => `SELECT COUNT(*) AS "__count" FROM "shop_book_tags" WHERE "shop_book_tags"."book_id" = ${r}`;
  const starSum = (r: number): string => `SELECT SUM("shop_review"."stars") AS "stars__sum" FROM "shop_review" WHERE "shop_review"."book_id" = ${r}`;
  const starAvg = (r: number): string => `SELECT AVG("shop_review"."stars") AS "stars__avg" FROM "shop_review" WHERE "shop_review"."book_id" = ${r}`;
  const reviewCount = (r: number): string => `SELECT COUNT(*) AS "__count" FROM "shop_review" WHERE "shop_review"."book_id" = ${r}`;

  it('counts each related row once: Count(…, distinct=True)', () => {
    expect(endpointFor([APPLICATIONS, ...loop(8, notes, interviews)], true).fix.split('\n')[0]).toBe(
      "Application.objects.annotate(notes_count=Count('notes', distinct=True), interviews_count=Count('interviews', distinct=True))",
    );
  });

  it('sums in a subquery, since the repeats multiply a sum; an average stays a join', () => {
    expect(endpointFor([BOOKS, ...loop(8, tagCount, starSum, starAvg)], true).fix.split('\n')[0]).toBe(
      "Book.objects.annotate(tags_count=Count('tags', distinct=True), " +
        "reviews_stars_sum=Subquery(Review.objects.filter(book=OuterRef('pk')).order_by().values('book').annotate(total=Sum('stars')).values('total')), " +
        "reviews_stars_avg=Avg('reviews__stars'))",
    );
  });

  describe('next to one to-many join, an aggregate over a to-one relation', () => {
    // Author.objects.annotate(book_count=Count('book'), profile_count=Count('profile')) joins the books,
    // and the one profile row comes once per book: an author with 3 books gets profile_count=3.
    const withProfile = schemaWith(
      {
        'shop.Author': [
          { name: 'book_set', queryName: 'book', kind: 'one_to_many', target: 'shop.Book', remoteColumn: 'writer_id' },
          { name: 'profile', queryName: 'profile', kind: 'one_to_one', target: 'shop.Profile', remoteColumn: 'author_id' },
        ],
      },
      [{ model: 'shop.Profile', table: 'shop_profile', pk: 'id', relations: [{ name: 'author', queryName: 'author', kind: 'one_to_one', target: 'shop.Author', column: 'author_id' }] }],
    );
    const AUTHORS = 'SELECT "authors"."id", "authors"."name" FROM "authors"';
    const bookCount = (r: number): string => `SELECT COUNT(*) AS "__count" FROM "shop_book" WHERE "shop_book"."writer_id" = ${r}`;
    const profileOf = (select: string) => (r: number): string => `SELECT ${select} FROM "shop_profile" WHERE "shop_profile"."author_id" = ${r}`;
    const profileCount = profileOf('COUNT(*) AS "__count"');
    const pointsSum = profileOf('SUM("shop_profile"."points") AS "points__sum"');
    const pointsAvg = profileOf('AVG("shop_profile"."points") AS "points__avg"');
    const authorCount = (r: number): string => `SELECT COUNT(*) AS "__count" FROM "authors" WHERE "authors"."id" = ${r}`;

    it('counts its one row once (distinct=True) and sums it in a subquery; the to-many count and an average stay as they are', () => {
      expect(endpointFor([AUTHORS, ...loop(8, bookCount, profileCount, pointsSum, pointsAvg)], withProfile).fix.split('\n')[0]).toBe(
        "Author.objects.annotate(book_count=Count('book'), profile_count=Count('profile', distinct=True), " +
          "profile_points_sum=Subquery(Profile.objects.filter(author=OuterRef('pk')).order_by().values('author').annotate(total=Sum('points')).values('total')), " +
          "profile_points_avg=Avg('profile__points'))",
      );
    });

    it("says what the loop ran instead: the related model's query, as a to-one relation has no manager", () => {
      const reads = endpointFor([AUTHORS, ...loop(8, bookCount, profileCount, pointsSum)], withProfile).findings.map((f) => f.suggestion.readInstead?.insteadOf);
      expect(reads.sort()).toEqual([
        "Profile.objects.filter(author=author).aggregate(Sum('points'))['points__sum']",
        'Profile.objects.filter(author=author).count()',
        'author.book_set.count()',
      ]);
    });

    it('through a forward FK too: Count(author, distinct=True) beside Count(reviews)', () => {
      const reviewCount = (r: number): string => `SELECT COUNT(*) AS "__count" FROM "shop_review" WHERE "shop_review"."book_id" = ${r}`;
      const BOOKS_BY = 'SELECT "shop_book"."id", "shop_book"."title", "shop_book"."writer_id" FROM "shop_book"';
      expect(endpointFor([BOOKS_BY, ...loop(8, reviewCount, authorCount)], true).fix.split('\n')[0]).toBe(
        "Book.objects.annotate(reviews_count=Count('reviews'), author_count=Count('author', distinct=True))",
      );
    });

    it('with no to-many join beside it, nothing repeats it', () => {
      expect(endpointFor([AUTHORS, ...loop(8, profileCount, pointsSum)], withProfile).fix.split('\n')[0]).toBe(
        "Author.objects.annotate(profile_count=Count('profile'), profile_points_sum=Sum('profile__points'))",
      );
    });
  });

  it('leaves aggregates over one relation as they are: one join repeats nothing', () => {
    expect(endpointFor([BOOKS, ...loop(8, reviewCount, starSum)], true).fix.split('\n')[0]).toBe(
      "Book.objects.annotate(reviews_count=Count('reviews'), reviews_stars_sum=Sum('reviews__stars'))",
    );
  });
});

describe('a relation filtered per row, whatever the loop does with it', () => {
  // {{ a.notes.filter(private=False).count }}: a plain Count('notes') would count the private notes too.
  const where = (r: number): string => `WHERE ("recruit_note"."application_id" = ${r} AND "recruit_note"."private" = false)`;
  const publicCount = (r: number): string => `SELECT COUNT(*) AS "__count" FROM "recruit_note" ${where(r)}`;
  const publicExists = (r: number): string => `SELECT 1 AS "a" FROM "recruit_note" ${where(r)} LIMIT 1`;
  const publicFirst = (r: number): string => `SELECT "recruit_note"."id", "recruit_note"."body" FROM "recruit_note" ${where(r)} ORDER BY "recruit_note"."id" ASC LIMIT 1`;
  const longNotes = (r: number): string =>
    `SELECT COUNT(*) AS "__count" FROM "recruit_note" WHERE ("recruit_note"."application_id" = ${r} AND "recruit_note"."length" > 100)`;
  const suggestion = (sql: (r: number) => string) => {
    const e = endpointFor([APPLICATIONS, ...loop(8, sql)], true);
    expect(e.fix).toBe('');
    expect(e.findings[0]?.suggestion.method).toBe('manual');
    return e.findings[0]!.suggestion;
  };

  it('a count keeps the filter: Count(…, filter=Q(…)), never a plain Count', () => {
    const s = suggestion(publicCount);
    expect(s.code).toContain("annotate(notes_count=Count('notes', filter=Q(notes__private=…)))");
    expect(s.code).toContain('read application.notes_count');
  });

  it('exists() and first() keep it too', () => {
    expect(suggestion(publicExists).code).toContain("annotate(has_notes=Exists(Note.objects.filter(application=OuterRef('pk'), private=…)))");
    expect(suggestion(publicFirst).code).toContain(
      "Prefetch('notes', queryset=Note.objects.filter(private=…).order_by(<the same order>), to_attr='notes_filtered')",
    );
  });

  it('names no fields it cannot read from the SQL', () => {
    expect(suggestion(longNotes).code).toContain("Count('notes', filter=Q(<the same filter, as notes__… lookups>))");
  });
});

describe('first() ordered by a column of another table', () => {
  it('through an M2M: the through model\'s column as its lookup (placement__position)', () => {
    // for b in books: b.shelves.order_by('placement__position').first()
    const firstShelf = (r: number): string =>
      `SELECT "shop_shelf"."id", "shop_shelf"."name" FROM "shop_shelf" INNER JOIN "shop_placement" ON ("shop_shelf"."id" = "shop_placement"."shelf_id") WHERE "shop_placement"."book_id" = ${r} ORDER BY "shop_placement"."position" ASC LIMIT 1`;
    expect(endpointFor([BOOKS, ...loop(8, firstShelf)], true).fix.split('\n')).toEqual([
      "Book.objects.prefetch_related(Prefetch('shelves', queryset=Shelf.objects.order_by('placement__position'), to_attr='ordered_shelves'))",
      "# then read book.ordered_shelves[0] if book.ordered_shelves else None, not book.shelves.order_by('placement__position').first()",
    ]);
  });

  it('through a join of the per-row query: the join\'s path (interviewer__name)', () => {
    const firstInterview = (r: number): string =>
      'SELECT "recruit_interview"."id", "recruit_interview"."application_id" FROM "recruit_interview" ' +
      'INNER JOIN "recruit_interviewer" ON ("recruit_interview"."interviewer_id" = "recruit_interviewer"."id") ' +
      `WHERE "recruit_interview"."application_id" = ${r} ORDER BY "recruit_interviewer"."name" DESC LIMIT 1`;
    expect(endpointFor([APPLICATIONS, ...loop(8, firstInterview)], false).fix.split('\n')[0]).toBe(
      "Application.objects.prefetch_related(Prefetch('interview_set', queryset=Interview.objects.order_by('-interviewer__name'), to_attr='recent_interview_set'))",
    );
  });

  it('a table no lookup reaches: the manual cure, never a bare column the model lacks', () => {
    const firstNote = (r: number): string =>
      `SELECT "recruit_note"."id" FROM "recruit_note" WHERE "recruit_note"."application_id" = ${r} ORDER BY "recruit_audit"."at" DESC LIMIT 1`;
    const e = endpointFor([APPLICATIONS, ...loop(8, firstNote)], true);
    expect(e.fix).toBe('');
    expect(e.findings[0]?.suggestion.method).toBe('manual');
    expect(e.findings[0]?.suggestion.code).toContain("queryset=Note.objects.order_by(<the same order, as Note lookups>), to_attr='ordered_notes')");
  });
});

describe("rows of an auto-created M2M join table read per row: the join table is Book.tags.through, never a 'Book_tags' model", () => {
  // for b in Book.objects.all(): list(Book.tags.through.objects.filter(book=b)), or .first() of them.
  const JOIN_ROWS = 'SELECT "shop_book_tags"."id", "shop_book_tags"."book_id", "shop_book_tags"."tag_id" FROM "shop_book_tags"';
  const joinRows = (r: number): string => `${JOIN_ROWS} WHERE "shop_book_tags"."book_id" = ${r}`;
  const firstJoinRow = (r: number): string => `${JOIN_ROWS} WHERE "shop_book_tags"."book_id" = ${r} ORDER BY "shop_book_tags"."id" ASC LIMIT 1`;
  const printed = (e: ReportEndpoint): string => JSON.stringify(e);

  it('a fetch: prefetch the M2M, and read its rows instead of querying Book.tags.through', () => {
    for (const withSchema of [true, false]) {
      const e = endpointFor([BOOKS, ...loop(8, joinRows)], withSchema);
      expect(printed(e)).not.toContain('Book_tags');
      expect(e.fix.split('\n')).toEqual([
        "Book.objects.prefetch_related('tags')",
        '# then read book.tags.all(), not Book.tags.through.objects.filter(book=book)',
      ]);
      expect(e.findings[0]?.suggestion.readInstead).toEqual({ read: 'book.tags.all()', insteadOf: 'Book.tags.through.objects.filter(book=book)', required: true });
    }
  });

  it('first(): the join rows loaded once by Book.tags.through, since a Prefetch of tags cannot order by the join rows', () => {
    for (const withSchema of [true, false]) {
      const e = endpointFor([BOOKS, ...loop(8, firstJoinRow)], withSchema);
      expect(printed(e)).not.toContain('Book_tags');
      expect(e.fix).toBe('');
      const s = e.findings[0]!.suggestion;
      expect(s.method).toBe('manual');
      expect(s.code).toContain("Book.tags.through.objects.filter(book__in=<the Book rows>).order_by('book', 'id')");
    }
  });

  it('a write loop into the join table bulk-creates through Book.tags.through', () => {
    const insert = (r: number): string => `INSERT INTO "shop_book_tags" ("book_id", "tag_id") VALUES (${r}, 1)`;
    for (const withSchema of [true, false]) {
      expect(codes(endpointFor([BOOKS, ...loop(6, insert)], withSchema))).toEqual(['Book.tags.through.objects.bulk_create(objs)']);
    }
  });
});

describe('a multi-table-inheritance child read from its parent (place.restaurant)', () => {
  // for p in Place.objects.all(): p.restaurant  ->  the child's row, by its parent pointer, with the parent joined
  const PLACES = 'SELECT "shop_place"."id", "shop_place"."owner_id" FROM "shop_place"';
  const restaurant = (r: number): string =>
    'SELECT "shop_place"."id", "shop_place"."owner_id", "shop_restaurant"."place_ptr_id", "shop_restaurant"."chef_id" FROM "shop_restaurant" ' +
    `INNER JOIN "shop_place" ON ("shop_restaurant"."place_ptr_id" = "shop_place"."id") WHERE "shop_restaurant"."place_ptr_id" = ${r} LIMIT 21`;
  const withPlaces = schemaWith({}, [
    { model: 'shop.Place', table: 'shop_place', pk: 'id', relations: [{ name: 'restaurant', queryName: 'restaurant', kind: 'one_to_one', target: 'shop.Restaurant', remoteColumn: 'place_ptr_id' }] },
    {
      model: 'shop.Restaurant', table: 'shop_restaurant', pk: 'place_ptr_id', parents: ['shop.Place'],
      relations: [{ name: 'place_ptr', queryName: 'place_ptr', kind: 'one_to_one', target: 'shop.Place', column: 'place_ptr_id' }],
    },
    { model: 'shop.Booking', table: 'shop_booking', pk: 'id', relations: [{ name: 'restaurant', queryName: 'restaurant', kind: 'many_to_one', target: 'shop.Restaurant', column: 'restaurant_id' }] },
  ]);

  it('is the parent link, a one-to-one: select_related(restaurant), with the schema and without', () => {
    for (const used of [withPlaces, false] as const) {
      const e = endpointFor([PLACES, ...loop(8, restaurant)], used);
      expect(e.fix).toBe("Place.objects.select_related('restaurant')");
      expect(e.findings[0]?.chain).toEqual(['restaurant']);
      expect(e.findings[0]?.suggestion).toMatchObject({
        method: 'select_related',
        confidence: used === false ? 'inferred' : 'exact',
        readInstead: { read: 'place.restaurant', insteadOf: 'Restaurant.objects.get(place_ptr=place)', required: false },
      });
    }
  });

  it('a foreign key to the child is still a forward step (booking.restaurant)', () => {
    const BOOKINGS = 'SELECT "shop_booking"."id", "shop_booking"."restaurant_id" FROM "shop_booking"';
    for (const used of [withPlaces, false] as const) {
      expect(endpointFor([BOOKINGS, ...loop(8, restaurant)], used).fix).toBe("Booking.objects.select_related('restaurant')");
    }
  });
});

describe('a trigger that selects two foreign keys to the table the loop reads (created_by, assignee)', () => {
  // for t in Ticket.objects.all(): t.assignee.name  ->  the same SELECT … FROM authors WHERE id = ? for either FK
  const withTickets = schemaWith({}, [
    {
      model: 'shop.Ticket', table: 'shop_ticket', pk: 'id',
      relations: [
        { name: 'assignee', queryName: 'assignee', kind: 'many_to_one', target: 'shop.Author', column: 'assignee_id' },
        { name: 'created_by', queryName: 'created_by', kind: 'many_to_one', target: 'shop.Author', column: 'created_by_id' },
      ],
    },
  ]);
  const TICKETS = 'SELECT "shop_ticket"."id", "shop_ticket"."created_by_id", "shop_ticket"."assignee_id" FROM "shop_ticket"';
  const author = (r: number): string => `SELECT "authors"."id", "authors"."name" FROM "authors" WHERE "authors"."id" = ${r} LIMIT 21`;

  it('names both candidates and loads both, never one of them with confidence', () => {
    const e = endpointFor([TICKETS, ...loop(8, author)], withTickets);
    expect(e.fix).toBe("Ticket.objects.select_related('created_by', 'assignee')");
    const f = e.findings[0]!;
    expect(f.chain).toEqual(['created_by|assignee']);
    expect(f.suggestion).toMatchObject({ method: 'select_related', path: 'created_by|assignee', code: ".select_related('created_by', 'assignee')", confidence: 'inferred' });
    expect(f.suggestion.note).toContain('created_by, assignee');
    expect(f.suggestion.readInstead).toBeUndefined();
  });

  it('one already joined by the trigger (select_related) is not the loop: the other is, exactly', () => {
    const joined =
      'SELECT "shop_ticket"."id", "shop_ticket"."created_by_id", "shop_ticket"."assignee_id", "authors"."id", "authors"."name" FROM "shop_ticket" ' +
      'INNER JOIN "authors" ON ("shop_ticket"."created_by_id" = "authors"."id")';
    const e = endpointFor([joined, ...loop(8, author)], withTickets);
    expect(e.fix).toBe("Ticket.objects.select_related('created_by', 'assignee')");
    expect(e.findings[0]?.chain).toEqual(['assignee']);
    expect(e.findings[0]?.suggestion).toMatchObject({ code: ".select_related('created_by', 'assignee')", confidence: 'exact' });
  });

  it('a count through one of them is left to a manual cure naming both', () => {
    const books = (r: number): string => `SELECT COUNT(*) AS "__count" FROM "shop_book" WHERE "shop_book"."writer_id" = ${r}`;
    const withBooks = schemaWith({ 'shop.Author': [{ name: 'book_set', queryName: 'book', kind: 'one_to_many', target: 'shop.Book', remoteColumn: 'writer_id' }] }, withTickets.models.slice(-1));
    const e = endpointFor([TICKETS, ...loop(8, author, books)], withBooks);
    const s = e.findings.find((f) => f.table === 'shop_book')!.suggestion;
    expect(s.method).toBe('manual');
    expect(s.code).toContain('created_by, assignee');
    expect(e.fix).toBe("Ticket.objects.select_related('created_by', 'assignee')");
  });
});

describe('a self-referential FK followed per row (e.manager, e.manager.manager)', () => {
  // Every level runs the same SELECT … FROM shop_employee WHERE id = ?: one fingerprint for all of them.
  const withEmployees = schemaWith({}, [
    {
      model: 'shop.Employee', table: 'shop_employee', pk: 'id',
      relations: [
        { name: 'department', queryName: 'department', kind: 'many_to_one', target: 'shop.Department', column: 'department_id' },
        { name: 'manager', queryName: 'manager', kind: 'many_to_one', target: 'shop.Employee', column: 'manager_id' },
        { name: 'reports', queryName: 'reports', kind: 'one_to_many', target: 'shop.Employee', remoteColumn: 'manager_id' },
      ],
    },
    { model: 'shop.Department', table: 'shop_department', pk: 'id', relations: [] },
  ]);
  const EMPLOYEES = 'SELECT "shop_employee"."id", "shop_employee"."manager_id", "shop_employee"."department_id" FROM "shop_employee"';
  const employee = (r: number): string => `SELECT "shop_employee"."id", "shop_employee"."manager_id", "shop_employee"."department_id" FROM "shop_employee" WHERE "shop_employee"."id" = ${r} LIMIT 21`;
  const department = (r: number): string => `SELECT "shop_department"."id", "shop_department"."name" FROM "shop_department" WHERE "shop_department"."id" = ${r} LIMIT 21`;

  it('two levels per row, told apart by another per-row query: select_related(manager__manager)', () => {
    // {{ e.department.name }} {{ e.manager.name }} {{ e.manager.manager.name }}
    const e = endpointFor([EMPLOYEES, ...loop(8, department, employee, employee)], withEmployees);
    expect(e.fix).toBe("Employee.objects.select_related('department', 'manager__manager')");
    const f = e.findings.find((x) => x.table === 'shop_employee')!;
    expect(f.chain).toEqual(['manager', 'manager']);
    expect(f.suggestion).toMatchObject({ code: ".select_related('manager__manager')", confidence: 'exact' });
    expect(f.suggestion.note ?? '').not.toMatch(/deeper/);
  });

  it('one level per row, told apart the same way: select_related(manager), nothing more said', () => {
    const e = endpointFor([EMPLOYEES, ...loop(8, department, employee)], withEmployees);
    expect(e.fix).toBe("Employee.objects.select_related('department', 'manager')");
    expect(e.findings.find((x) => x.table === 'shop_employee')?.suggestion.note ?? '').not.toMatch(/deeper/);
  });

  it('no other per-row query: the depth cannot be read, and the suggestion says so', () => {
    const e = endpointFor([EMPLOYEES, ...loop(8, employee, employee)], withEmployees);
    expect(e.fix).toBe("Employee.objects.select_related('manager')");
    const s = e.findings[0]!.suggestion;
    expect(s.note).toContain('deeper');
    expect(s.note).toContain("select_related('manager__manager')");
  });
});

describe('an annotation or to_attr named like a field of the model gets a name of its own', () => {
  // A denormalised Application.notes_count column: annotate(notes_count=…) raises "The annotation
  // 'notes_count' conflicts with a field on the model." when pasted.
  const withFields = (fields: string[]): DjangoSchema =>
    parseSchema({
      ...schemaJson,
      models: schemaJson.models.map((m) => (m.model === 'recruit.Application' ? { ...m, fields: fields.map((name) => ({ name, attname: name })) } : m)),
    });
  const COUNT = DASHBOARD_ROW[4]!;
  const FIRST = DASHBOARD_ROW[5]!;

  it('a count: notes_count_annotated, read by that name', () => {
    const e = endpointFor([APPLICATIONS, ...loop(9, COUNT)], withFields(['id', 'notes_count']));
    expect(e.fix.split('\n')).toEqual([
      "Application.objects.annotate(notes_count_annotated=Count('notes'))",
      '# then read application.notes_count_annotated, not application.notes.count()',
    ]);
    expect(e.findings[0]?.suggestion.readInstead?.read).toBe('application.notes_count_annotated');
  });

  it('past every name taken, attnames included', () => {
    const taken = withFields(['notes_count', 'notes_count_annotated']);
    expect(endpointFor([APPLICATIONS, ...loop(9, COUNT)], taken).fix.split('\n')[0]).toBe(
      "Application.objects.annotate(notes_count_annotated_2=Count('notes'))",
    );
    const fk = parseSchema({
      ...schemaJson,
      models: schemaJson.models.map((m) => (m.model === 'recruit.Application' ? { ...m, fields: [{ name: 'notes', attname: 'notes_count' }] } : m)),
    });
    expect(endpointFor([APPLICATIONS, ...loop(9, COUNT)], fk).fix.split('\n')[0]).toBe("Application.objects.annotate(notes_count_annotated=Count('notes'))");
  });

  it("a to_attr list: recent_interviews_prefetched when the model has a field 'recent_interviews'", () => {
    const e = endpointFor([APPLICATIONS, ...loop(9, FIRST)], withFields(['recent_interviews']));
    expect(e.fix.split('\n')[0]).toBe(
      "Application.objects.prefetch_related(Prefetch('interviews', queryset=Interview.objects.order_by('-scheduled_at'), to_attr='recent_interviews_prefetched'))",
    );
  });

  it('a filtered count\'s manual cure names the annotation the same way', () => {
    const publicCount = (r: number): string =>
      `SELECT COUNT(*) AS "__count" FROM "recruit_note" WHERE ("recruit_note"."application_id" = ${r} AND "recruit_note"."private" = false)`;
    const s = endpointFor([APPLICATIONS, ...loop(8, publicCount)], withFields(['notes_count'])).findings[0]!.suggestion;
    expect(s.code).toContain("annotate(notes_count_annotated=Count('notes', filter=Q(notes__private=…)))");
    expect(s.code).toContain('read application.notes_count_annotated');
  });

  // Job.notes (JobNote) and Application.job_notes (Remark): job__notes and job_notes both count as job_notes_count.
  const withRemarks = (): DjangoSchema =>
    parseSchema({
      ...schemaJson,
      models: [
        ...schemaJson.models.map((m) =>
          m.model === 'recruit.Job'
            ? { ...m, relations: [...m.relations, { name: 'notes', queryName: 'notes', kind: 'one_to_many', target: 'recruit.JobNote', remoteColumn: 'job_id' }] }
            : m.model === 'recruit.Application'
              ? { ...m, relations: [...m.relations, { name: 'job_notes', queryName: 'job_notes', kind: 'one_to_many', target: 'recruit.Remark', remoteColumn: 'application_id' }] }
              : m,
        ),
        { model: 'recruit.JobNote', table: 'recruit_jobnote', pk: 'id', relations: [{ name: 'job', queryName: 'job', kind: 'many_to_one', target: 'recruit.Job', column: 'job_id' }] },
        { model: 'recruit.Remark', table: 'recruit_remark', pk: 'id', relations: [{ name: 'application', queryName: 'application', kind: 'many_to_one', target: 'recruit.Application', column: 'application_id' }] },
      ],
    });
  const jobNotes = (r: number): string => `SELECT COUNT(*) AS "__count" FROM "recruit_jobnote" WHERE "recruit_jobnote"."job_id" = ${r % 7}`;
  const remarks = (r: number): string => `SELECT COUNT(*) AS "__count" FROM "recruit_remark" WHERE "recruit_remark"."application_id" = ${r + 100}`;

  it("two annotations under one name (job__notes and job_notes both give job_notes_count): the second gets a name of its own", () => {
    expect(endpointFor([APPLICATIONS, ...loop(9, DASHBOARD_ROW[1]!, jobNotes, remarks)], withRemarks()).fix.split('\n')).toEqual([
      "Application.objects.select_related('job').annotate(job_notes_count=Count('job__notes', distinct=True), job_notes_count_annotated=Count('job_notes', distinct=True))",
      '# then read application.job_notes_count, not application.job.notes.count()',
      '# then read application.job_notes_count_annotated, not application.job_notes.count()',
    ]);
  });

  it("a finding's own fix uses the name the endpoint's combined fix gives it, so the two printed fixes agree", () => {
    const counts = endpointFor([APPLICATIONS, ...loop(9, DASHBOARD_ROW[1]!, jobNotes, remarks)], withRemarks());
    const remark = counts.findings.find((f) => f.table === 'recruit_remark')!.suggestion;
    expect(counts.fix).toContain('job_notes_count_annotated=Count(');
    expect(remark.code).toContain('job_notes_count_annotated=Count(');
    expect(remark.readInstead?.read).toBe('application.job_notes_count_annotated');

    // Two first() loops over one relation in two orders: two to_attr lists, the second named apart.
    const byCreated = (r: number): string =>
      `SELECT "recruit_interview"."id", "recruit_interview"."application_id", "recruit_interview"."scheduled_at" FROM "recruit_interview" WHERE "recruit_interview"."application_id" = ${r + 100} ORDER BY "recruit_interview"."id" DESC LIMIT 1`;
    const firsts = endpointFor([APPLICATIONS, ...loop(9, FIRST, byCreated)], schema);
    expect(firsts.fix).toContain("to_attr='recent_interviews_prefetched'");
    const second = firsts.findings.find((f) => f.sql.includes('ORDER BY "recruit_interview"."id"'))!.suggestion;
    expect(second.code).toContain("to_attr='recent_interviews_prefetched'");
    expect(second.readInstead?.read).toBe('application.recent_interviews_prefetched[0] if application.recent_interviews_prefetched else None');
  });

  it('keeps the name when nothing takes it, when the schema lists no fields (an older file), and without a schema', () => {
    for (const [used, first] of [
      [withFields(['id', 'status']), "Application.objects.annotate(notes_count=Count('notes'))"],
      [schema, "Application.objects.annotate(notes_count=Count('notes'))"],
      [false, "Application.objects.annotate(note_count=Count('note'))"],
    ] as const) {
      expect(endpointFor([APPLICATIONS, ...loop(9, COUNT)], used).fix.split('\n')[0]).toBe(first);
    }
  });
});

describe('a per-row query that reads no table', () => {
  // A custom save() taking a sequence value per object, and a per-row SELECT NOW(): real round trips,
  // but no relation leads to them, so no select_related / prefetch_related / in_bulk can be the fix.
  const NEXTVAL = "SELECT nextval('shop_invoice_number_seq')";
  const insert = (r: number): string => `INSERT INTO "shop_invoice" ("order_id", "number") VALUES (${r}, ${r + 1000})`;

  it('is still reported, with a manual cure that names the call and no relation', () => {
    for (const withSchema of [false, true]) {
      const e = endpointFor([ORDERS, ...loop(8, () => NEXTVAL, insert), ...loop(6, () => 'SELECT NOW()')], withSchema);
      const perRow = e.findings.filter((f) => f.table === '');
      expect(perRow.map((f) => [f.kind, f.sql, f.suggestion.method, f.suggestion.path])).toEqual([
        ['n_plus_one', 'SELECT nextval(?)', 'manual', ''],
        ['n_plus_one', 'SELECT NOW()', 'manual', ''],
      ]);
      const [nextval, now] = perRow.map((f) => f.suggestion);
      expect(nextval?.code).toContain('nextval');
      expect(nextval?.code).toContain('generate_series');
      expect(now?.code).toContain('NOW()');
      expect(now?.code).toContain('once before the loop');
      for (const s of [nextval, now]) {
        expect(`${s?.code} ${s?.note}`).not.toMatch(/in_bulk|select_related|prefetch_related|relation of|--schema|the repeated query (query|rows)/);
        expect(s?.note).toContain('no table');
      }
      // Only the write loop has a line in the endpoint's combined fix.
      expect(e.fix).not.toMatch(/nextval|NOW/);
    }
  });
});

describe('a foreign key to a unique field other than the primary key (to_field)', () => {
  // Invoice.currency = ForeignKey(Currency, to_field='code'), Currency.code in column iso_code; Rate.currency a plain key.
  const withCurrencies = parseSchema({
    ...schemaJson,
    models: [
      ...schemaJson.models,
      {
        model: 'shop.Currency', table: 'shop_currency', pk: 'id', fields: [{ name: 'id', attname: 'id' }, { name: 'code', attname: 'code' }],
        relations: [
          { name: 'invoice_set', queryName: 'invoice', kind: 'one_to_many', target: 'shop.Invoice', remoteColumn: 'currency_id', toField: 'code', toFieldColumn: 'iso_code' },
          { name: 'rate_set', queryName: 'rate', kind: 'one_to_many', target: 'shop.Rate', remoteColumn: 'currency_id' },
        ],
      },
      { model: 'shop.Invoice', table: 'shop_invoice', pk: 'id', relations: [{ name: 'currency', queryName: 'currency', kind: 'many_to_one', target: 'shop.Currency', column: 'currency_id', toField: 'code', toFieldColumn: 'iso_code' }] },
      { model: 'shop.Rate', table: 'shop_rate', pk: 'id', relations: [{ name: 'currency', queryName: 'currency', kind: 'many_to_one', target: 'shop.Currency', column: 'currency_id' }] },
      // Stamp.currency: to_field='code' and related_name='+', so Currency lists no reverse of it.
      { model: 'shop.Stamp', table: 'shop_stamp', pk: 'id', relations: [{ name: 'currency', queryName: 'currency', kind: 'many_to_one', target: 'shop.Currency', column: 'currency_id', toField: 'code', toFieldColumn: 'iso_code' }] },
    ],
  });
  const INVOICES = 'SELECT "shop_invoice"."id", "shop_invoice"."currency_id", "shop_invoice"."total" FROM "shop_invoice"';
  const currency = (r: number): string => `SELECT "shop_currency"."id", "shop_currency"."iso_code", "shop_currency"."name" FROM "shop_currency" WHERE "shop_currency"."iso_code" = 'C${r}' LIMIT 21`;

  it('is a forward step read by that field: select_related, instead of get(code=…), never get(pk=…)', () => {
    const e = endpointFor([INVOICES, ...loop(6, currency)], withCurrencies);
    expect(e.fix).toBe("Invoice.objects.select_related('currency')");
    expect(e.findings[0]!.suggestion.readInstead).toEqual({ read: 'invoice.currency', insteadOf: 'Currency.objects.get(code=invoice.currency_id)', required: false });
  });

  it("compares a subquery with that field: Exists(…filter(currency=OuterRef('code')))", () => {
    const CURRENCIES = 'SELECT "shop_currency"."id", "shop_currency"."iso_code", "shop_currency"."name" FROM "shop_currency"';
    const exists = (r: number): string => `SELECT 1 AS "a" FROM "shop_invoice" WHERE "shop_invoice"."currency_id" = 'C${r}' LIMIT 1`;
    expect(endpointFor([CURRENCIES, ...loop(6, exists)], withCurrencies).fix.split('\n')[0]).toBe(
      "Currency.objects.annotate(has_invoice=Exists(Invoice.objects.filter(currency=OuterRef('code'))))",
    );
  });

  it('follows a join by that field (select_related in the trigger) to the loops past it', () => {
    const JOINED =
      'SELECT "shop_invoice"."id", "shop_invoice"."currency_id", "shop_currency"."id", "shop_currency"."iso_code" FROM "shop_invoice" INNER JOIN "shop_currency" ON ("shop_invoice"."currency_id" = "shop_currency"."iso_code")';
    const rates = (r: number): string => `SELECT COUNT(*) AS "__count" FROM "shop_rate" WHERE "shop_rate"."currency_id" = ${r}`;
    const e = endpointFor([JOINED, ...loop(6, rates)], withCurrencies);
    expect(e.findings[0]!.chain).toEqual(['currency', 'rate_set']);
    expect(e.fix.split('\n')[0]).toBe("Invoice.objects.select_related('currency').annotate(currency_rate_count=Count('currency__rate'))");
  });

  it("with no reverse accessor (related_name='+'), the cure's subquery compares that field too", () => {
    const CURRENCIES = 'SELECT "shop_currency"."id", "shop_currency"."iso_code", "shop_currency"."name" FROM "shop_currency"';
    const count = (r: number): string => `SELECT COUNT(*) AS "__count" FROM "shop_stamp" WHERE "shop_stamp"."currency_id" = 'C${r}'`;
    const s = endpointFor([CURRENCIES, ...loop(6, count)], withCurrencies).findings[0]!.suggestion;
    expect(s.method).toBe('manual');
    expect(s.code).toContain("Stamp.objects.filter(currency=OuterRef('code')).order_by().values('currency')");
  });

  it('without a schema, is no relation Django\'s conventions know: a manual cure, never a pk lookup', () => {
    const s = endpointFor([INVOICES, ...loop(6, currency)], false).findings[0]!.suggestion;
    expect(s.method).toBe('manual');
    expect(s.readInstead).toBeUndefined();
  });
});
