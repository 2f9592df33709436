import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RollupSet } from '../../detect/rollup.js';
import { analyseRequest } from '../../detect/request.js';
import { DASHBOARD_ROW, loop, requestOf, type Step } from '../../detect/testing.js';
import { reportEndpoint, type ReportEndpoint } from '../../report/model.js';
import { wrapCode } from '../../report/text.js';
import { createSqlNormalizer } from '../../sql/index.js';
import { combinedFix, type CascadeShape } from '../fix.js';
import { joinedPaths } from '../joins.js';
import { conventionNaming, schemaNaming } from '../naming.js';
import { parseSchema } from '../schema.js';

const schema = parseSchema(JSON.parse(readFileSync(new URL('../testdata/schema.json', import.meta.url), 'utf8')));
const naming = schemaNaming(schema);
const normalize = createSqlNormalizer();

const COLUMNS = '"recruit_application"."id", "recruit_application"."candidate_id", "recruit_application"."job_id", "recruit_application"."status_id"';
/** The trigger as a changelist (or `select_related('candidate')`) runs it: the candidate already joined. */
const JOINED_CANDIDATE =
  `SELECT ${COLUMNS}, "recruit_candidate"."id", "recruit_candidate"."name" FROM "recruit_application" ` +
  'INNER JOIN "recruit_candidate" ON ("recruit_application"."candidate_id" = "recruit_candidate"."id") ORDER BY "recruit_application"."id" DESC LIMIT 100';
const STATUS = DASHBOARD_ROW[3]!;
const NOTES_COUNT = DASHBOARD_ROW[4]!;

function endpointFor(endpoint: string, steps: Step[]): ReportEndpoint {
  const set = new RollupSet();
  set.add(analyseRequest(requestOf(endpoint, steps), normalize, { links: naming }));
  const [rollup] = set.values();
  if (rollup === undefined) throw new Error('no rollup');
  return reportEndpoint(rollup, { schema });
}

describe('joinedPaths: the select_related paths a query already has', () => {
  const facts = (sql: string) => normalize(sql).facts;

  it('reads one- and two-hop joins whose columns are selected', () => {
    const sql =
      `SELECT ${COLUMNS}, "recruit_job"."id", "recruit_job"."company_id", "recruit_company"."id", "recruit_company"."name" FROM "recruit_application" ` +
      'INNER JOIN "recruit_job" ON ("recruit_application"."job_id" = "recruit_job"."id") ' +
      'LEFT OUTER JOIN "recruit_company" ON ("recruit_job"."company_id" = "recruit_company"."id")';
    expect(joinedPaths(facts(sql), naming)).toEqual(['job', 'job__company']);
  });

  it('reads a reverse one-to-one join by its accessor', () => {
    const sql =
      'SELECT "authors"."id", "authors"."name", "shop_profile"."id", "shop_profile"."writer_ref" FROM "authors" ' +
      'LEFT OUTER JOIN "shop_profile" ON ("authors"."id" = "shop_profile"."writer_ref")';
    const withProfile = parseSchema({
      n1lensSchema: 1,
      models: [
        { model: 'shop.Author', table: 'authors', pk: 'id', relations: [{ name: 'profile', queryName: 'profile', kind: 'one_to_one', target: 'shop.Profile', remoteColumn: 'writer_ref' }] },
        { model: 'shop.Profile', table: 'shop_profile', pk: 'id', relations: [{ name: 'author', queryName: 'author', kind: 'one_to_one', target: 'shop.Author', column: 'writer_ref' }] },
      ],
    });
    expect(joinedPaths(facts(sql), schemaNaming(withProfile))).toEqual(['profile']);
  });

  it('reads a join from a multi-table-inheritance parent as the child\'s own path', () => {
    // Restaurant.objects.select_related('owner'): owner is Place's FK, reached through the parent pointer.
    const sql =
      'SELECT "shop_place"."id", "shop_place"."owner_id", "shop_restaurant"."place_ptr_id", "shop_owner"."id", "shop_owner"."name" FROM "shop_restaurant" ' +
      'INNER JOIN "shop_place" ON ("shop_restaurant"."place_ptr_id" = "shop_place"."id") ' +
      'INNER JOIN "shop_owner" ON ("shop_place"."owner_id" = "shop_owner"."id")';
    expect(joinedPaths(facts(sql), conventionNaming(['shop_restaurant', 'shop_place', 'shop_owner']))).toEqual(['owner']);
  });

  it('leaves out joins that only filter, and reverse joins', () => {
    const sql =
      `SELECT ${COLUMNS} FROM "recruit_application" ` +
      'INNER JOIN "recruit_job" ON ("recruit_application"."job_id" = "recruit_job"."id") ' +
      'INNER JOIN "recruit_note" ON ("recruit_application"."id" = "recruit_note"."application_id") ' +
      'WHERE "recruit_job"."title" = %s';
    expect(joinedPaths(facts(sql), naming)).toEqual([]);
  });
});

describe('the combined fix keeps the trigger query’s joins', () => {
  it('names the already joined path with the loop’s, in the queryset and in the finding', () => {
    const e = endpointFor('GET applications/', [JOINED_CANDIDATE, ...loop(8, STATUS)]);
    expect(e.fix).toBe("Application.objects.select_related('candidate', 'status')");
    expect(e.findings[0]?.suggestion.code).toBe(".select_related('candidate', 'status')");
  });

  it('keeps the joins when the loops only need a prefetch or an annotation', () => {
    const e = endpointFor('GET applications/', [JOINED_CANDIDATE, ...loop(8, NOTES_COUNT)]);
    expect(e.fix.split('\n')[0]).toBe("Application.objects.select_related('candidate').annotate(notes_count=Count('notes'))");
    expect(e.findings[0]?.suggestion.code).toBe(".annotate(notes_count=Count('notes'))");
  });
});

describe('read instead', () => {
  it('says what each loop reads after the fix, and whether the loop must change', () => {
    const e = endpointFor('GET dashboard/', [JOINED_CANDIDATE, ...loop(8, STATUS, NOTES_COUNT, DASHBOARD_ROW[5]!)]);
    const byTable = Object.fromEntries(e.findings.map((f) => [f.table, f.suggestion.readInstead]));
    expect(byTable['recruit_status']).toEqual({
      read: 'application.status',
      insteadOf: 'Status.objects.get(pk=application.status_id)',
      required: false,
    });
    expect(byTable['recruit_note']).toEqual({ read: 'application.notes_count', insteadOf: 'application.notes.count()', required: true });
    expect(byTable['recruit_interview']).toEqual({
      read: 'application.recent_interviews[0] if application.recent_interviews else None',
      insteadOf: "application.interviews.order_by('-scheduled_at').first()",
      required: true,
    });
  });
});

describe('admin profile', () => {
  it('on a changelist: list_select_related with every path, get_queryset + the list_display method for a count', () => {
    const e = endpointFor('GET admin/recruit/application/', [JOINED_CANDIDATE, ...loop(8, STATUS, NOTES_COUNT)]);
    expect(e.fix.split('\n')).toEqual([
      '# merge into the ModelAdmin registered for Application (its changelist builds this queryset)',
      'class ApplicationAdmin(admin.ModelAdmin):',
      "    list_select_related = ('candidate', 'status')",
      '',
      '    def get_queryset(self, request):',
      "        return super().get_queryset(request).annotate(notes_count=Count('notes'))",
      '',
      "    @admin.display(ordering='notes_count')",
      '    def notes_count(self, obj):',
      '        return obj.notes_count',
      "# list_display: 'notes_count' in place of the column that reads application.notes.count()",
    ]);
    const status = e.findings.find((f) => f.table === 'recruit_status');
    expect(status?.suggestion.code).toBe("class ApplicationAdmin(admin.ModelAdmin):\n    list_select_related = ('candidate', 'status')");
    expect(status?.suggestion.placement).toMatch(/ModelAdmin registered for Application/);
  });

  it('a to_attr list becomes a display method that reads the list', () => {
    const e = endpointFor('GET admin/recruit/application/', [JOINED_CANDIDATE, ...loop(8, DASHBOARD_ROW[5]!)]);
    expect(e.fix).toContain("return super().get_queryset(request).prefetch_related(Prefetch('interviews'");
    expect(e.fix).toContain('    @admin.display()\n    def recent_interviews(self, obj):\n        return obj.recent_interviews[0] if obj.recent_interviews else None');
  });

  it('only where the route is the admin changelist of the trigger’s model', () => {
    expect(endpointFor('GET recruit/application/', [JOINED_CANDIDATE, ...loop(8, STATUS)]).fix).toBe(
      "Application.objects.select_related('candidate', 'status')",
    );
    expect(endpointFor('GET admin/recruit/job/', [JOINED_CANDIDATE, ...loop(8, STATUS)]).fix).toBe(
      "Application.objects.select_related('candidate', 'status')",
    );
  });

  it('keeps the app’s ModelAdmin and list_display method names when the location gives them', () => {
    const count: CascadeShape = {
      kind: 'n_plus_one',
      table: 'recruit_note',
      trigger: { fingerprint: '1', table: 'recruit_application', sql: '' },
      steps: [{ kind: 'reverse', fromTable: 'recruit_application', toTable: 'recruit_note', column: 'application_id' }],
      linked: true,
      leaf: { kind: 'count' },
      firstIndex: 1,
      location: { view: 'django.contrib.admin.options.ModelAdmin.changelist_view', function: 'recruit.admin.JobApplicationAdmin.note_total' },
    };
    const fix = combinedFix([count], naming, { endpoint: 'GET staff/recruit/application/', route: 'staff/recruit/application/', schema });
    expect(fix.split('\n')).toEqual([
      '# merge into the ModelAdmin registered for Application (its changelist builds this queryset)',
      'class JobApplicationAdmin(admin.ModelAdmin):',
      '    def get_queryset(self, request):',
      "        return super().get_queryset(request).annotate(notes_count=Count('notes'))",
      '',
      "    @admin.display(ordering='notes_count')",
      '    def note_total(self, obj):',
      '        return obj.notes_count',
    ]);
  });

  it('names the model, not a proxy listed before it, and knows both changelists', () => {
    // A proxy shares its model's table, and the schema lists models by label: ArchivedApplication first.
    const application = schema.models.find((m) => m.model === 'recruit.Application')!;
    const withProxy = parseSchema({ ...schema, models: [{ ...application, model: 'recruit.ArchivedApplication', proxyFor: 'recruit.Application' }, ...schema.models] });
    const fixOn = (route: string): string => {
      const set = new RollupSet();
      set.add(analyseRequest(requestOf(`GET ${route}`, [JOINED_CANDIDATE, ...loop(8, STATUS)]), normalize, { links: schemaNaming(withProxy) }));
      return reportEndpoint(set.values()[0]!, { schema: withProxy }).fix;
    };
    expect(fixOn('recruit/application/')).toBe("Application.objects.select_related('candidate', 'status')");
    expect(fixOn('admin/recruit/application/')).toContain("list_select_related = ('candidate', 'status')");
    expect(fixOn('admin/recruit/archivedapplication/')).toContain("list_select_related = ('candidate', 'status')");
    // The proxy's changelist is its own ModelAdmin's, whose queryset its manager builds.
    expect(fixOn('admin/recruit/archivedapplication/')).toMatch(/^# merge into the ModelAdmin registered for ArchivedApplication .*\nclass ArchivedApplicationAdmin\(admin\.ModelAdmin\):/);
    expect(fixOn('admin/recruit/application/')).toMatch(/^# merge into the ModelAdmin registered for Application .*\nclass ApplicationAdmin\(admin\.ModelAdmin\):/);
  });

  it('recognises the changelist by sqlcommenter’s controller too', () => {
    const shape: CascadeShape = {
      kind: 'n_plus_one',
      table: 'recruit_status',
      trigger: { fingerprint: '1', table: 'recruit_application', sql: '' },
      steps: [{ kind: 'forward', fromTable: 'recruit_application', column: 'status_id', toTable: 'recruit_status' }],
      linked: true,
      leaf: { kind: 'fetch' },
      firstIndex: 1,
    };
    const fix = combinedFix([shape], naming, { endpoint: 'GET backoffice/x/', route: 'backoffice/x/', view: 'admin:recruit_application_changelist', schema });
    expect(fix).toContain("list_select_related = ('status',)");
  });
});

describe('drf profile', () => {
  const shape: CascadeShape = {
    kind: 'n_plus_one',
    table: 'recruit_note',
    trigger: { fingerprint: '1', table: 'recruit_application', sql: '' },
    steps: [{ kind: 'reverse', fromTable: 'recruit_application', toTable: 'recruit_note', column: 'application_id' }],
    linked: true,
    leaf: { kind: 'count' },
    firstIndex: 1,
  };

  it('puts the queryset on the view and the annotation in a read-only serializer field', () => {
    const fix = combinedFix([shape], naming, { endpoint: 'GET api/applications/', route: 'api/applications/', view: 'recruit.api.ApplicationViewSet' });
    expect(fix.split('\n')).toEqual([
      '# on ApplicationViewSet: as its queryset attribute, or return it from get_queryset() (keep any filtering there)',
      "queryset = Application.objects.annotate(notes_count=Count('notes'))",
      '# serializer: notes_count = serializers.ReadOnlyField() in place of a field that calls application.notes.count()',
    ]);
  });

  it('keeps the serializer field the location names, reading the annotation', () => {
    const located = { ...shape, location: { view: 'recruit.api.ApplicationViewSet', function: 'ApplicationSerializer.note_count' } };
    const fix = combinedFix([located], naming, { endpoint: 'GET api/applications/', route: 'api/applications/' });
    expect(fix).toContain("# ApplicationSerializer: note_count = serializers.ReadOnlyField(source='notes_count')");
    expect(fix).toContain('# on ApplicationViewSet:');
  });

  it('recognises a router’s view name and a serializer on the stack', () => {
    for (const where of [{ view: 'application-list' }, { function: 'ApplicationSerializer.notes' }]) {
      const fix = combinedFix([shape], naming, { endpoint: 'GET api/x/', route: 'api/x/', ...where });
      expect(fix).toContain('queryset = Application.objects');
    }
  });
});

describe('wrapCode keeps printed fixes valid Python', () => {
  it('wraps a comment as comment lines and a long return in parentheses', () => {
    expect(wrapCode(`# then read ${'x'.repeat(30)} instead of ${'y'.repeat(30)}`, 40)).toEqual([
      '# then read',
      `#   ${'x'.repeat(30)}`,
      '#   instead of',
      `#   ${'y'.repeat(30)}`,
    ]);
    expect(wrapCode("        return super().get_queryset(request).annotate(notes_count=Count('notes'))", 60)).toEqual([
      '        return (',
      '            super().get_queryset(request)',
      "            .annotate(notes_count=Count('notes'))",
      '        )',
    ]);
  });
});
