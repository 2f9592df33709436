/**
 * A finding's signature: its identity across runs and commits, for baselines, diffs and SARIF
 * `partialFingerprints`. It is the FNV-1a 64 hash (hex) of the UTF-8 text
 * `n1lens-signature-v1\n<endpoint>\n<kind>\n<table>\n<fingerprint>`, so other tools can reproduce it.
 * Durations, counts, trace ids and the fix text stay out: they change from run to run. So does
 * warm-up: a warm_up loop is signed with the kind of loop it is (n_plus_one for a SELECT,
 * repeated_write for a write), as whether a loop runs in most requests depends on the run's traffic.
 */
import type { FindingKind } from '../detect/types.js';
import { fnv1a64Text } from '../sql/hash.js';

/** The kinds a signature names: every kind but warm_up, which is signed as its loop (signedKind). */
export type SignedKind = Exclude<FindingKind, 'warm_up'>;

export interface SignatureParts {
  endpoint: string;
  kind: SignedKind;
  table: string;
  fingerprint: string;
}

/** The kind a finding is signed with: a warm_up loop's is its loop's (`loop`, the cascade's kind). */
export const signedKind = (kind: FindingKind, loop: 'n_plus_one' | 'repeated_write'): SignedKind => (kind === 'warm_up' ? loop : kind);

/** @example findingSignature({ endpoint: 'GET dashboard/', kind: 'n_plus_one', table: 'recruit_candidate', fingerprint: '9f2c…' }) */
export function findingSignature(p: SignatureParts): string {
  return fnv1a64Text(`n1lens-signature-v1\n${p.endpoint}\n${p.kind}\n${p.table}\n${p.fingerprint}`);
}

/**
 * The signature told apart by service, since two services may serve one endpoint name and query:
 * FNV-1a 64 (hex) of the UTF-8 text `n1lens-signature-v1-service\n<service>\n<signature>`. SARIF
 * `partialFingerprints` are it (sarif.ts), since code scanning takes results with one fingerprint
 * for one alert.
 */
export function serviceSignature(signature: string, service: string): string {
  return fnv1a64Text(`n1lens-signature-v1-service\n${service}\n${signature}`);
}
