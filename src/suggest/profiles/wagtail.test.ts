import { describe, expect, it } from 'vitest';
import type { Step } from '../../detect/testing.js';
import { BLOG_PAGES, endpointFor } from '../wagtail-testing.js';

const rows = (n: number, f: (r: number) => string): Step => ({ sql: f, rows: n });
const PAGES = 'SELECT "wagtailcore_page"."id", "wagtailcore_page"."title", "wagtailcore_page"."content_type_id" FROM "wagtailcore_page" WHERE "wagtailcore_page"."depth" = 3 ORDER BY "wagtailcore_page"."path"';

describe('Wagtail profile', () => {
  it('per-row page.specific: .specific() on the queryset, with for_specific_subqueries and defer_streamfields()', () => {
    const specific = (r: number): string =>
      `SELECT "wagtailcore_page"."id", "blog_blogpage"."page_ptr_id", "blog_blogpage"."body" FROM "blog_blogpage" INNER JOIN "wagtailcore_page" ON ("blog_blogpage"."page_ptr_id" = "wagtailcore_page"."id") WHERE "blog_blogpage"."page_ptr_id" = ${r} LIMIT 21`;
    for (const withSchema of [true, false]) {
      const e = endpointFor([PAGES, rows(6, specific)], withSchema);
      const s = e.findings[0]!.suggestion;
      expect(s.method).toBe('manual');
      expect(s.code).toContain('.specific()');
      expect(s.code).toContain('for_specific_subqueries=True');
      expect(s.code).toContain('.defer_streamfields()');
      expect(s.code).not.toContain("select_related('content_type')");
    }
  });

  it("image renditions: prefetch_related('image__renditions'), never rendition_set, and prefetch_renditions()", () => {
    const image = (r: number): string => `SELECT "images_image"."id", "images_image"."file" FROM "images_image" WHERE "images_image"."id" = ${r} LIMIT 21`;
    const rendition = (r: number): string =>
      `SELECT "images_rendition"."id", "images_rendition"."file" FROM "images_rendition" WHERE ("images_rendition"."image_id" = ${r} AND "images_rendition"."filter_spec" = 'fill-100x100') LIMIT 21`;
    for (const withSchema of [true, false]) {
      const e = endpointFor([BLOG_PAGES, ...Array.from({ length: 6 }, (_, r) => [image(r), rendition(r)]).flat()], withSchema);
      const s = e.findings.find((f) => f.table === 'images_rendition')!.suggestion;
      expect(s.code).toBe(".prefetch_related('image__renditions')");
      expect(s.note).toContain('prefetch_renditions(');
      expect(e.fix).toMatch(/^Blog[pP]age\.objects\.select_related\('image'\)\.prefetch_related\('image__renditions'\)$/);
      expect(e.fix).not.toContain('rendition_set');
    }
  });

  it("taggit tags: 'tags' without a schema too (marked a guess)", () => {
    const tags = (r: number): string =>
      `SELECT "taggit_tag"."id", "taggit_tag"."name" FROM "taggit_tag" INNER JOIN "blog_blogpagetag" ON ("taggit_tag"."id" = "blog_blogpagetag"."tag_id") WHERE "blog_blogpagetag"."content_object_id" = ${r}`;
    const s = endpointFor([BLOG_PAGES, rows(6, tags)], false).findings[0]!.suggestion;
    expect(s.code).toBe(".prefetch_related('tags')");
    expect(s.confidence).toBe('inferred');
    expect(s.note).toMatch(/guess/);
  });

  it("GenericForeignKey: prefetch_related('content_object') over the rows that hold it", () => {
    const COMMENTS = 'SELECT "blog_comment"."id", "blog_comment"."content_type_id", "blog_comment"."object_id" FROM "blog_comment" ORDER BY "blog_comment"."id" DESC LIMIT 20';
    const target = (r: number): string => `SELECT "blog_blogpage"."page_ptr_id" FROM "blog_blogpage" WHERE "blog_blogpage"."title" = 'p${r}' LIMIT 21`;
    for (const withSchema of [true, false]) {
      const e = endpointFor([COMMENTS, rows(6, target)], withSchema);
      const s = e.findings[0]!.suggestion;
      expect(s.code).toBe(".prefetch_related('content_object')");
      expect(e.fix).toBe("Comment.objects.prefetch_related('content_object')");
    }
  });

  it('an admin listing viewset: the fix goes in get_base_queryset()', () => {
    const SNIPPETS = 'SELECT "blog_blogauthor"."id", "blog_blogauthor"."page_id" FROM "blog_blogauthor" ORDER BY "blog_blogauthor"."id"';
    const page = (r: number): string =>
      `SELECT "wagtailcore_page"."id", "blog_blogpage"."page_ptr_id" FROM "blog_blogpage" INNER JOIN "wagtailcore_page" ON ("blog_blogpage"."page_ptr_id" = "wagtailcore_page"."id") WHERE "blog_blogpage"."page_ptr_id" = ${r} LIMIT 21`;
    const e = endpointFor([SNIPPETS, rows(6, page)], true, 'GET admin/snippets/blog/blogauthor/');
    const s = e.findings[0]!.suggestion;
    expect(s.code).toBe(".select_related('page')");
    expect(s.placement).toContain("def get_queryset(self, request): return BlogAuthor.objects.all().select_related('page')");
    expect(s.placement).toContain("def get_base_queryset(self): return super().get_base_queryset().select_related('page')");
  });
});
