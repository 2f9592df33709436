/**
 * Acknowledged and ignored findings: a person's decision about a finding (by signature), with a
 * reason and an optional expiry. Until it expires the finding leaves the report's lists and the
 * digest; it can be exported as a baseline file (issue 9's format) for CI.
 */
import type { FindingKind } from '../detect/types.js';
import type { Report, ReportFinding } from './model.js';
import { findingSignature, type SignedKind } from './signature.js';
import { compareText } from '../detect/order.js';

/** `acknowledged`: known, a fix is planned. `ignored`: accepted as it is. Both mute the finding until `expires`. */
export type AcknowledgementState = 'acknowledged' | 'ignored';

export interface Acknowledgement {
  signature: string;
  service: string;
  endpoint: string;
  kind: FindingKind;
  table: string;
  state: AcknowledgementState;
  reason: string;
  /** `YYYY-MM-DD` (UTC): from that day on the finding counts again. */
  expires?: string;
  createdMs: number;
}

/** A finding as a report lists it, muted or not: the decision rides along when one applies. */
export type AcknowledgedFinding = ReportFinding & { acknowledgement?: Pick<Acknowledgement, 'state' | 'reason' | 'expires'> };

/** The signature of a stored finding (DESIGN "Signature"): a stored loop's kind is never warm_up, which is the report's call. */
export const signatureOf = (endpoint: string, f: { kind: SignedKind; table: string; fingerprint: string }): string =>
  findingSignature({ endpoint, kind: f.kind, table: f.table, fingerprint: f.fingerprint });

/** Whether a decision still applies at `nowMs`. */
export function isActive(a: Pick<Acknowledgement, 'expires'>, nowMs: number): boolean {
  return a.expires === undefined || nowMs < Date.parse(`${a.expires}T00:00:00Z`);
}

/**
 * Takes muted findings out of a report (the summary's finding count follows), or with `include`
 * keeps them and marks each with its decision. Expired decisions are ignored.
 */
export function applyAcknowledgements<R extends Pick<Report, 'summary'> & { endpoints: { endpoint: string; findings: Pick<ReportFinding, 'signature'>[] }[] }>(
  report: R,
  acks: readonly Acknowledgement[],
  nowMs: number,
  include = false,
): R {
  type Finding = R['endpoints'][number]['findings'][number];
  const active = new Map(acks.filter((a) => isActive(a, nowMs)).map((a) => [a.signature, a]));
  if (active.size === 0) return report;
  let removed = 0;
  const endpoints = report.endpoints.map((e) => {
    const findings: (Finding & { acknowledgement?: AcknowledgedFinding['acknowledgement'] })[] = [];
    for (const f of e.findings) {
      const a = active.get(f.signature);
      if (a === undefined) findings.push(f);
      else if (include) findings.push({ ...f, acknowledgement: { state: a.state, reason: a.reason, ...(a.expires === undefined ? {} : { expires: a.expires }) } });
      else removed++;
    }
    return findings.length === e.findings.length && findings.every((f, i) => f === e.findings[i]) ? e : { ...e, findings };
  });
  return { ...report, summary: { ...report.summary, findings: report.summary.findings - removed }, endpoints };
}

/** The decisions as a baseline file (`--baseline`), so CI accepts what the team accepted here. */
export function acknowledgementsBaseline(acks: readonly Acknowledgement[], nowMs: number): { n1lensBaseline: 1; findings: object[] } {
  const findings = acks
    .filter((a) => isActive(a, nowMs))
    .map((a) => ({
      signature: a.signature,
      endpoint: a.endpoint,
      kind: a.kind,
      table: a.table,
      reason: `${a.state}: ${a.reason}`.replace(/: $/, ''),
      ...(a.expires === undefined ? {} : { expires: a.expires }),
    }))
    .sort((a, b) => compareText(a.endpoint, b.endpoint) || compareText(a.kind, b.kind) || compareText(a.table, b.table) || compareText(a.signature, b.signature));
  return { n1lensBaseline: 1, findings };
}
