/**
 * A finding's signature: its identity across runs and commits, for baselines, diffs and SARIF
 * `partialFingerprints`. It is the FNV-1a 64 hash (hex) of the UTF-8 text
 * `n1lens-signature-v1\n<endpoint>\n<kind>\n<table>\n<fingerprint>`, so other tools can reproduce it.
 * Durations, counts, trace ids and the fix text stay out: they change from run to run.
 */
import type { FindingKind } from '../detect/types.js';
import { fnv1a64Text } from '../sql/hash.js';

export interface SignatureParts {
  endpoint: string;
  kind: FindingKind;
  table: string;
  fingerprint: string;
}

/** @example findingSignature({ endpoint: 'GET dashboard/', kind: 'n_plus_one', table: 'recruit_candidate', fingerprint: '9f2c…' }) */
export function findingSignature(p: SignatureParts): string {
  return fnv1a64Text(`n1lens-signature-v1\n${p.endpoint}\n${p.kind}\n${p.table}\n${p.fingerprint}`);
}

/**
 * The signature told apart by service, for where one report holds the same signature in two
 * services (one endpoint name and query served by both): FNV-1a 64 (hex) of the UTF-8 text
 * `n1lens-signature-v1-service\n<service>\n<signature>`. SARIF `partialFingerprints` use it there,
 * since code scanning takes results with one fingerprint for one alert.
 */
export function serviceSignature(signature: string, service: string): string {
  return fnv1a64Text(`n1lens-signature-v1-service\n${service}\n${signature}`);
}
