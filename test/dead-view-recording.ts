/** The recording and URLconf the dead-view tests judge: four routes, one of them never asked for. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DjangoSchema } from '../src/suggest/schema.js';
import { root } from './support.js';

/** A real recording, one OTLP/JSON export a line: login, 2 × dashboard/optimised/, 2 × webhooks/ats/ (src/detect/testdata/README.md). */
export const recording = readFileSync(join(root, 'src/detect/testdata/connections/pg-psycopg-age0.jsonl'), 'utf8').split('\n').filter((l) => l.trim() !== '');

/** Its project's routes: reports/legacy-export/ is the one no request reached. */
export const schema: DjangoSchema = {
  n1lensSchema: 1,
  models: [],
  urls: [
    { route: 'dashboard/optimised/', view: 'recruit.views.dashboard_optimised' },
    { route: 'webhooks/ats/', view: 'recruit.views.ats_webhook', methods: ['POST'] },
    { route: 'login/', view: 'recruit.views.login_demo' },
    { route: 'reports/legacy-export/', view: 'recruit.views.legacy_export', file: 'recruit/views.py', line: 105 },
  ],
};
