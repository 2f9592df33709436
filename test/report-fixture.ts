/** Test helper: hand-built reports for the renderers, with realistic names, SQL and locations. */
import type { FindingKind } from '../src/detect/types.js';
import type { Report, ReportEndpoint, ReportFinding } from '../src/report/model.js';
import { findingSignature, signedKind } from '../src/report/signature.js';

/** A finding of `endpoint`, its signature computed as the report computes it. */
export function finding(endpoint: string, over: Partial<ReportFinding> & { kind?: FindingKind } = {}): ReportFinding {
  const base: Omit<ReportFinding, 'signature'> = {
    kind: 'n_plus_one',
    operation: 'SELECT',
    table: 'shop_customer',
    fingerprint: '9f2c4e1a00b3d7c1',
    sql: 'SELECT "shop_customer"."id", "shop_customer"."name" FROM "shop_customer" WHERE "shop_customer"."id" = %s LIMIT 21',
    repeatsPerRequest: { p50: 20, max: 20 },
    requestsAffected: 5,
    wastedMs: 42,
    trigger: { fingerprint: '00aa11bb22cc33dd', table: 'shop_order' },
    chain: ['customer'],
    suggestion: { method: 'select_related', path: 'customer', code: "Order.objects.select_related('customer')", confidence: 'exact' },
    exampleTraceId: '0af7651916cd43dd8448eb211c80319c',
    location: { file: 'shop/views.py', line: 42, function: 'shop.views.orders' },
    ...over,
  };
  const kind = signedKind(base.kind, base.operation === 'SELECT' ? 'n_plus_one' : 'repeated_write');
  return { ...base, signature: findingSignature({ endpoint, kind, table: base.table, fingerprint: base.fingerprint }) };
}

export function endpoint(name: string, findings: ReportFinding[], over: Partial<ReportEndpoint> = {}): ReportEndpoint {
  return {
    endpoint: name,
    service: 'shop',
    requests: 5,
    queriesPerRequest: { p50: 23, max: 23 },
    wastedMsPerRequest: findings.reduce((s, f) => s + f.wastedMs, 0) / 5,
    requestsAffected: 5,
    fix: '',
    findings,
    ...over,
  };
}

export function report(endpoints: ReportEndpoint[]): Report {
  return {
    n1lensReport: 1,
    summary: { requests: endpoints.reduce((s, e) => s + e.requests, 0), dbSpans: 100, findings: endpoints.reduce((s, e) => s + e.findings.length, 0), wastedMs: 0 },
    endpoints,
  };
}
