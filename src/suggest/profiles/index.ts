/** The framework profiles suggest/ writes fixes with, most specific first: `django` matches everything and stays last. */
import { admin } from './admin.js';
import { django } from './django.js';
import { drf } from './drf.js';
import type { FixSite, FrameworkProfile, QuerysetFix } from './types.js';

export const PROFILES: readonly FrameworkProfile[] = [admin, drf, django];

/** The first profile that matches the trigger's fix on this endpoint. */
export function profileFor(site: FixSite, fix: QuerysetFix, profiles: readonly FrameworkProfile[] = PROFILES): FrameworkProfile {
  return profiles.find((p) => p.matches(site, fix)) ?? django;
}

export { admin, django, drf };
export type { FixSite, FrameworkProfile, QuerysetFix, ReadInstead, RenderedFix, RowValue } from './types.js';
