/** Test fixtures: a Wagtail site's schema file and a report section built from statements, for the suggest/ tests. */
import { RollupSet } from '../detect/rollup.js';
import { analyseRequest } from '../detect/request.js';
import { requestOf, type Step } from '../detect/testing.js';
import { reportEndpoint, type ReportEndpoint } from '../report/model.js';
import { createSqlNormalizer } from '../sql/index.js';
import { schemaNaming } from './naming.js';
import { parseSchema } from './schema.js';

/** A Wagtail site's schema as `manage.py n1lens_schema` writes it (wagtail 7, taggit, a GenericRelation). */
export const schema = parseSchema({
  n1lensSchema: 1,
  models: [
    { model: 'contenttypes.ContentType', table: 'django_content_type', pk: 'id', relations: [] },
    {
      model: 'wagtailcore.Page', table: 'wagtailcore_page', pk: 'id', wagtailPage: true,
      relations: [
        { name: 'content_type', queryName: 'content_type', kind: 'many_to_one', target: 'contenttypes.ContentType', column: 'content_type_id' },
        { name: 'blogpage', queryName: 'blogpage', kind: 'one_to_one', target: 'blog.BlogPage', remoteColumn: 'page_ptr_id' },
      ],
    },
    {
      model: 'wagtailcore.Site', table: 'wagtailcore_site', pk: 'id',
      relations: [{ name: 'root_page', queryName: 'root_page', kind: 'many_to_one', target: 'wagtailcore.Page', column: 'root_page_id' }],
    },
    {
      model: 'blog.BlogPage', table: 'blog_blogpage', pk: 'page_ptr_id', wagtailPage: true, parents: ['wagtailcore.Page'],
      relations: [
        { name: 'image', queryName: 'image', kind: 'many_to_one', target: 'images.Image', column: 'image_id' },
        { name: 'page_ptr', queryName: 'page_ptr', kind: 'one_to_one', target: 'wagtailcore.Page', column: 'page_ptr_id' },
        { name: 'tagged_items', queryName: 'tagged_items', kind: 'one_to_many', target: 'blog.BlogPageTag', remoteColumn: 'content_object_id' },
        { name: 'tags', queryName: 'tags', kind: 'many_to_many', target: 'taggit.Tag', through: 'blog_blogpagetag', sourceColumn: 'content_object_id', targetColumn: 'tag_id' },
        { name: 'authors', queryName: 'authors', kind: 'one_to_many', target: 'blog.BlogAuthor', remoteColumn: 'page_id' },
        { name: 'comments', queryName: 'comments', kind: 'one_to_many', target: 'blog.Comment', remoteColumn: 'object_id', contentTypeColumn: 'content_type_id' },
      ],
    },
    {
      model: 'blog.BlogAuthor', table: 'blog_blogauthor', pk: 'id',
      relations: [{ name: 'page', queryName: 'page', kind: 'many_to_one', target: 'blog.BlogPage', column: 'page_id' }],
    },
    {
      model: 'blog.BlogPageTag', table: 'blog_blogpagetag', pk: 'id',
      relations: [
        { name: 'content_object', queryName: 'content_object', kind: 'many_to_one', target: 'blog.BlogPage', column: 'content_object_id' },
        { name: 'tag', queryName: 'tag', kind: 'many_to_one', target: 'taggit.Tag', column: 'tag_id' },
      ],
    },
    {
      model: 'blog.Comment', table: 'blog_comment', pk: 'id',
      relations: [{ name: 'content_type', queryName: 'content_type', kind: 'many_to_one', target: 'contenttypes.ContentType', column: 'content_type_id' }],
      genericForeignKeys: [{ name: 'content_object', contentTypeColumn: 'content_type_id', objectIdColumn: 'object_id' }],
    },
    { model: 'taggit.Tag', table: 'taggit_tag', pk: 'id', relations: [] },
    {
      model: 'images.Image', table: 'images_image', pk: 'id',
      relations: [{ name: 'renditions', queryName: 'renditions', kind: 'one_to_many', target: 'images.Rendition', remoteColumn: 'image_id' }],
    },
    {
      model: 'images.Rendition', table: 'images_rendition', pk: 'id',
      relations: [{ name: 'image', queryName: 'image', kind: 'many_to_one', target: 'images.Image', column: 'image_id' }],
    },
  ],
});
export const WAGTAIL_SCHEMA = schema;
const normalize = createSqlNormalizer();

export function endpointFor(steps: Step[], withSchema = true, endpoint = 'GET blog/'): ReportEndpoint {
  const set = new RollupSet();
  set.add(analyseRequest(requestOf(endpoint, steps), normalize, withSchema ? { links: schemaNaming(schema) } : {}));
  return reportEndpoint(set.values()[0]!, withSchema ? { schema } : {});
}

export const BLOG_PAGES =
  'SELECT "wagtailcore_page"."id", "wagtailcore_page"."title", "blog_blogpage"."page_ptr_id", "blog_blogpage"."image_id" FROM "blog_blogpage" INNER JOIN "wagtailcore_page" ON ("blog_blogpage"."page_ptr_id" = "wagtailcore_page"."id") ORDER BY "wagtailcore_page"."path"';

