/** Turns findings into the Django fix: exact names from the app's schema file, Django's conventions otherwise. */
export { combinedFix, suggestCascade } from './fix.js';
export type { CascadeShape, FixWhere, Suggestion, SuggestionMethod } from './fix.js';
export { joinedPaths } from './joins.js';
export { PROFILES, profileFor } from './profiles/index.js';
export type { FixSite, FrameworkProfile, QuerysetFix, ReadInstead, RenderedFix, RowValue } from './profiles/index.js';
export { conventionNaming, schemaNaming } from './naming.js';
export type { Naming, RelationName } from './naming.js';
export { loadSchema, parseSchema, SchemaError } from './schema.js';
export type { DjangoSchema, SchemaModel, SchemaRelation } from './schema.js';
export { indexColumns, suggestCache, suggestIndex, suggestTaskQueue } from './operational.js';
