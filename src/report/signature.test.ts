import { describe, expect, it } from 'vitest';
import { analyseFiles } from '../cli/report.js';
import { buildReport } from './model.js';
import { findingSignature, serviceSignature } from './signature.js';

const testdata = (name: string) => new URL(`../otlp/testdata/${name}`, import.meta.url).pathname;

/** Plain FNV-1a 64 with BigInt over UTF-8, written from the definition. */
function referenceFnv(text: string): string {
  let h = 0xcbf29ce484222325n;
  for (const b of new TextEncoder().encode(text)) h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return h.toString(16).padStart(16, '0');
}

async function signatures(file: string): Promise<Map<string, string>> {
  const { rollups } = await analyseFiles([file], { minRepeats: 5 });
  const report = buildReport(rollups.values());
  const out = new Map<string, string>();
  for (const e of report.endpoints) for (const f of e.findings) out.set(`${e.endpoint} ${f.kind} ${f.table} ${f.fingerprint}`, f.signature);
  return out;
}

describe('finding signature', () => {
  it('is FNV-1a 64 of the documented text, reproducible by other tools', () => {
    const parts = { endpoint: 'GET dashboard/', kind: 'n_plus_one', table: 'recruit_candidate', fingerprint: '9f2c0000aaaabbbb' } as const;
    expect(findingSignature(parts)).toBe(referenceFnv('n1lens-signature-v1\nGET dashboard/\nn_plus_one\nrecruit_candidate\n9f2c0000aaaabbbb'));
    expect(findingSignature({ ...parts, endpoint: 'GET café/' })).toBe(referenceFnv('n1lens-signature-v1\nGET café/\nn_plus_one\nrecruit_candidate\n9f2c0000aaaabbbb'));
  });

  it('told apart by service (SARIF, where two services share one) is FNV-1a 64 of the documented text too', () => {
    expect(serviceSignature('9ece2add66ed6280', 'worker')).toBe(referenceFnv('n1lens-signature-v1-service\nworker\n9ece2add66ed6280'));
  });

  it('changes with each of endpoint, kind, table and fingerprint', () => {
    const base = { endpoint: 'GET a/', kind: 'n_plus_one', table: 't', fingerprint: '0000000000000001' } as const;
    const all = new Set([
      findingSignature(base),
      findingSignature({ ...base, endpoint: 'GET b/' }),
      findingSignature({ ...base, kind: 'repeated_write' }),
      findingSignature({ ...base, table: 'u' }),
      findingSignature({ ...base, fingerprint: '0000000000000002' }),
    ]);
    expect(all.size).toBe(5);
  });

  it('is the same for the same findings in two separate recordings of the app (old and stable semconv)', async () => {
    const [a, b] = await Promise.all([signatures(testdata('django-sqlite-old-semconv.otlp.pb')), signatures(testdata('django-sqlite-stable-semconv.otlp.pb'))]);
    expect(a.size).toBeGreaterThanOrEqual(6);
    expect([...a.entries()].sort()).toEqual([...b.entries()].sort());
    for (const [key, sig] of a) {
      const [method, route, kind, table, fingerprint] = key.split(' ') as [string, string, 'n_plus_one', string, string];
      expect(sig).toBe(findingSignature({ endpoint: `${method} ${route}`, kind, table, fingerprint }));
    }
  });
});
