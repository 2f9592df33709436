import { describe, expect, it } from 'vitest';
import type { Step } from '../detect/testing.js';
import { parseSchema } from './schema.js';
import { SchemaIndex, unknownNames } from './validate.js';
import { BLOG_PAGES, endpointFor, schema } from './wagtail-testing.js';

const index = new SchemaIndex(schema);
const rows = (n: number, f: (r: number) => string): Step => ({ sql: f, rows: n });

describe('every printed name exists on the model it is called on', () => {
  it('rejects the names the issue saw crash when pasted, accepts the real ones', () => {
    const names = (code: string, model?: string) => unknownNames(code, index, model === undefined ? undefined : index.byLabel(model)).map((u) => `${u.model}.${u.name}`);
    expect(names("Site.objects.select_related('content_type')")).toEqual(['wagtailcore.Site.content_type']);
    expect(names("BlogPage.objects.prefetch_related('blogpagetag')")).toEqual(['blog.BlogPage.blogpagetag']);
    expect(names("BlogPage.objects.prefetch_related('image__rendition_set')")).toEqual(['images.Image.rendition_set']);
    expect(names("BlogPage.objects.select_related('tags')")).toEqual(['blog.BlogPage.tags']);
    expect(names("ContentType.objects.prefetch_related(Prefetch('revision_set', queryset=Comment.objects.select_related('page')))")).toEqual([
      'contenttypes.ContentType.revision_set',
      'blog.Comment.page',
    ]);
    // Real names, a multi-table parent's relation, a GenericForeignKey, a Prefetch's inner queryset.
    expect(names("BlogPage.objects.select_related('image', 'content_type').prefetch_related('tags', 'image__renditions', 'comments')")).toEqual([]);
    expect(names("Comment.objects.prefetch_related('content_object')")).toEqual([]);
    expect(names("Page.objects.select_related('blogpage__image')")).toEqual([]);
    expect(names("BlogPage.objects.prefetch_related(Prefetch('authors', queryset=BlogAuthor.objects.select_related('page')))")).toEqual([]);
    expect(names(".select_related('image')", 'blog.BlogPage')).toEqual([]);
    expect(names(".select_related('root_page')", 'blog.BlogPage')).toEqual(['blog.BlogPage.root_page']);
    expect(names('# a comment names nothing')).toEqual([]);
  });

  it("checks subqueries over related rows (the filter on the inner model, OuterRef's path on the outer one) and distinct counts", () => {
    const names = (code: string) => unknownNames(code, index).map((u) => `${u.model}.${u.name}`);
    expect(names("BlogPage.objects.annotate(has_image_renditions=Exists(Rendition.objects.filter(image=OuterRef('image'))))")).toEqual([]);
    expect(names("BlogPage.objects.annotate(has_x=Exists(Rendition.objects.filter(image=OuterRef('picture'))))")).toEqual(['blog.BlogPage.picture']);
    expect(names("BlogPage.objects.annotate(has_x=Exists(Rendition.objects.filter(photo=OuterRef('image'))))")).toEqual(['images.Rendition.photo']);
    expect(names("BlogPage.objects.annotate(has_tags=Exists(BlogPage.tags.through.objects.filter(blogpage=OuterRef('pk'))))")).toEqual([]);
    expect(names("BlogPage.objects.annotate(has_x=Exists(BlogPage.labels.through.objects.filter(blogpage=OuterRef('pk'))))")).toEqual(['blog.BlogPage.labels']);
    expect(names("Image.objects.annotate(n=Count('renditions', distinct=True), m=Count('versions', distinct=True))")).toEqual(['images.Image.versions']);
    expect(names("Image.objects.annotate(s=Subquery(Rendition.objects.filter(image=OuterRef('pk')).order_by().values('image').annotate(total=Sum('width')).values('total')))")).toEqual([]);
    expect(names("Image.objects.annotate(s=Subquery(Rendition.objects.filter(picture=OuterRef('pk')).order_by().values('picture').annotate(total=Sum('width')).values('total')))")).toEqual(['images.Rendition.picture']);
  });

  it("checks an M2M's join table by its field (Book.tags.through), and a Prefetch's queryset against the relation's model", () => {
    const names = (code: string) => unknownNames(code, index).map((u) => `${u.model}.${u.name}`);
    expect(names('BlogPage.tags.through.objects.bulk_create(objs)')).toEqual([]);
    expect(names('BlogPage.labels.through.objects.bulk_create(objs)')).toEqual(['blog.BlogPage.labels']);
    expect(names("BlogPage.objects.prefetch_related(Prefetch('authors', queryset=BlogAuthor.objects.order_by('id'), to_attr='a'))")).toEqual([]);
    expect(names("BlogPage.objects.prefetch_related(Prefetch('authors', queryset=Rendition.objects.order_by('id'), to_attr='a'))")).toEqual(['blog.BlogPage.authors']);
    // The rows of Page's child model through the parent: BlogPage's queryset fits Page.blogpage.
    expect(names("Page.objects.prefetch_related(Prefetch('blogpage', queryset=BlogPage.objects.all()))")).toEqual([]);
    expect(names("BlogPage.objects.prefetch_related(Prefetch('tags', queryset=BlogPage.tags.through.objects.order_by('id'), to_attr='t'))")).toEqual(['blog.BlogPage.tags']);
  });

  it("prefetches a taggit manager with a custom through model by its name, 'tags'", () => {
    const tags = (r: number): string =>
      `SELECT "taggit_tag"."id", "taggit_tag"."name" FROM "taggit_tag" INNER JOIN "blog_blogpagetag" ON ("taggit_tag"."id" = "blog_blogpagetag"."tag_id") WHERE "blog_blogpagetag"."content_object_id" = ${r}`;
    const e = endpointFor([BLOG_PAGES, rows(6, tags)]);
    expect(e.findings[0]?.suggestion.code).toBe(".prefetch_related('tags')");
    expect(e.fix).toBe("BlogPage.objects.prefetch_related('tags')");
  });

  it('a relation filtered per row gets the filtered Prefetch cure, never a prefetch it would bypass', () => {
    const authors = (r: number): string =>
      `SELECT "blog_blogauthor"."id", "blog_blogauthor"."page_id" FROM "blog_blogauthor" INNER JOIN "people_person" ON ("blog_blogauthor"."person_id" = "people_person"."id") WHERE ("blog_blogauthor"."page_id" = ${r} AND "people_person"."live")`;
    const e = endpointFor([BLOG_PAGES, rows(6, authors)]);
    const s = e.findings[0]!.suggestion;
    expect(s.method).toBe('manual');
    expect(s.code).toContain("Prefetch('authors', queryset=BlogAuthor.objects.filter(<the same filter>), to_attr='authors_filtered')");
    expect(e.fix).toBe('');
  });

  it('a per-row get_parent() is to be hoisted, not select_related', () => {
    const parent = (r: number): string =>
      `SELECT "wagtailcore_page"."id", "wagtailcore_page"."path" FROM "wagtailcore_page" WHERE "wagtailcore_page"."path" = '0001000${r}' LIMIT 21`;
    const s = endpointFor([BLOG_PAGES, rows(6, parent)]).findings[0]!.suggestion;
    expect(s.method).toBe('manual');
    expect(s.code).toMatch(/get_parent\(\).*hoist it out of the loop/);
  });

  it('a generic relation read per row is prefetched by the GenericRelation the schema names, else is the cure that adds one; never a ContentType prefetch', () => {
    const comments = (r: number): string =>
      `SELECT "blog_comment"."id", "blog_comment"."text" FROM "blog_comment" WHERE ("blog_comment"."content_type_id" = 7 AND "blog_comment"."object_id" = ${r})`;
    const CONTENT_TYPE = 'SELECT "django_content_type"."id", "django_content_type"."app_label" FROM "django_content_type" WHERE "django_content_type"."id" = 7 LIMIT 21';
    // BlogPage has one (comments): the schema names it.
    const exact = endpointFor([BLOG_PAGES, CONTENT_TYPE, rows(6, comments)]);
    expect(exact.findings[0]!.suggestion).toMatchObject({ method: 'prefetch_related', code: ".prefetch_related('comments')", confidence: 'exact' });
    expect(exact.fix).toBe("BlogPage.objects.prefetch_related('comments')");
    // Without a schema nothing says whether the model has one.
    const guessed = endpointFor([BLOG_PAGES, CONTENT_TYPE, rows(6, comments)], false);
    const s = guessed.findings[0]!.suggestion;
    expect(s.method).toBe('manual');
    expect(s.code).toContain('GenericRelation(Comment)');
    for (const e of [exact, guessed]) expect(e.fix).not.toContain('ContentType.objects');
  });

  it('a select_related fix also says to read the relation instead of fetching by id (sync and async)', () => {
    const image = (r: number): string => `SELECT "images_image"."id", "images_image"."file" FROM "images_image" WHERE "images_image"."id" = ${r} LIMIT 21`;
    const s = endpointFor([BLOG_PAGES, rows(6, image)]).findings[0]!.suggestion;
    expect(s.code).toBe(".select_related('image')");
    expect(s.readInstead).toEqual({ read: 'blog_page.image', insteadOf: 'Image.objects.get(pk=blog_page.image_id)', required: false });
    expect(s.note).toContain('await Image.objects.aget(pk=blog_page.image_id) becomes blog_page.image too (after select_related, with no await)');
  });

  it('without a schema, an unlinked loop still names a model, never an empty one', () => {
    const locale = (r: number): string => `SELECT "wagtailcore_locale"."id" FROM "wagtailcore_locale" WHERE "wagtailcore_locale"."language_code" = 'l${r}' LIMIT 21`;
    const s = endpointFor([BLOG_PAGES, rows(6, locale)], false).findings[0]!.suggestion;
    expect(s.method).toBe('manual');
    expect(s.code).toMatch(/one Locale query per row/);
    expect(s.code).not.toMatch(/load\s+with/);
  });
});

describe('the subqueries and managers a printed fix names exist', () => {
  it("checks a GenericRelation's Exists() over the row's own model, with the relation's isnull lookup", () => {
    const names = (code: string) => unknownNames(code, index).map((u) => `${u.model}.${u.name}`);
    expect(names("BlogPage.objects.annotate(has_comments=Exists(BlogPage.objects.filter(pk=OuterRef('pk'), comments__isnull=False)))")).toEqual([]);
    expect(names("BlogPage.objects.annotate(has_notes=Exists(BlogPage.objects.filter(pk=OuterRef('pk'), notes__isnull=False)))")).toEqual(['blog.BlogPage.notes']);
    expect(names("BlogAuthor.objects.annotate(has_c=Exists(BlogPage.objects.filter(pk=OuterRef('page'), comments__isnull=False)))")).toEqual([]);
    expect(names("BlogAuthor.objects.annotate(has_c=Exists(BlogPage.objects.filter(pk=OuterRef('post'), comments__isnull=False)))")).toEqual(['blog.BlogAuthor.post']);
  });

  const managed = new SchemaIndex(
    parseSchema({
      n1lensSchema: 1,
      models: [
        { model: 'shop.Catalogue', table: 'shop_catalogue', pk: 'id', manager: 'listed', relations: [{ name: 'publisher', queryName: 'publisher', kind: 'many_to_one', target: 'shop.Publisher', column: 'publisher_id' }] },
        { model: 'shop.Publisher', table: 'shop_publisher', pk: 'id', relations: [{ name: 'catalogues', queryName: 'catalogues', kind: 'one_to_many', target: 'shop.Catalogue', remoteColumn: 'publisher_id' }] },
      ],
    }),
  );

  it("checks the manager a queryset starts from: the default one of a model with no objects, and what is chained on it", () => {
    const names = (code: string) => unknownNames(code, managed).map((u) => `${u.model}.${u.name} (${u.call})`);
    expect(names("Catalogue.listed.select_related('publisher')")).toEqual([]);
    expect(names("Catalogue.objects.select_related('publisher')")).toEqual(['shop.Catalogue.objects (manager)']);
    expect(names("Catalogue.listed.select_related('printer')")).toEqual(['shop.Catalogue.printer (select_related)']);
    expect(names("Publisher.objects.prefetch_related(Prefetch('catalogues', queryset=Catalogue.listed.order_by('-year'), to_attr='recent'))")).toEqual([]);
    expect(names("Publisher.objects.prefetch_related(Prefetch('catalogues', queryset=Catalogue.objects.order_by('-year'), to_attr='recent'))")).toEqual(['shop.Catalogue.objects (manager)']);
    expect(names("Publisher.objects.prefetch_related(Prefetch('catalogues', queryset=Catalogue.listed.select_related('printer')))")).toEqual(['shop.Catalogue.printer (select_related)']);
    expect(names("Publisher.objects.annotate(has_c=Exists(Catalogue.listed.filter(publisher=OuterRef('pk'))))")).toEqual([]);
    expect(names("Publisher.objects.annotate(has_c=Exists(Catalogue.objects.filter(publisher=OuterRef('pk'))))")).toEqual(['shop.Catalogue.objects (manager)']);
    expect(names("Publisher.objects.annotate(has_c=Exists(Catalogue.listed.filter(printer=OuterRef('pk'))))")).toEqual(['shop.Catalogue.printer (filter)']);
    expect(names('Publisher.listed.all()')).toEqual(['shop.Publisher.listed (manager)']);
  });
});
