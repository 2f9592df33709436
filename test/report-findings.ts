/** Test helper: what a report finds, without the millisecond figures that a microsecond clock (Jaeger, Zipkin) may round differently. */
import type { Report } from '../src/report/model.js';

export function findings(report: Report) {
  return {
    requests: report.summary.requests,
    dbSpans: report.summary.dbSpans,
    findings: report.summary.findings,
    endpoints: report.endpoints.map((e) => ({
      endpoint: e.endpoint,
      requests: e.requests,
      queriesPerRequest: e.queriesPerRequest,
      fix: e.fix,
      findings: e.findings.map((f) => ({
        kind: f.kind,
        table: f.table,
        fingerprint: f.fingerprint,
        repeatsPerRequest: f.repeatsPerRequest,
        requestsAffected: f.requestsAffected,
        trigger: f.trigger,
        suggestion: f.suggestion,
      })),
    })),
  };
}

