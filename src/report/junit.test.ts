import { describe, expect, it } from 'vitest';
import { endpoint, finding, report } from '../../test/report-fixture.js';
import { judge } from './gate.js';
import { renderJunit } from './junit.js';

const count = (xml: string, re: RegExp): number => xml.match(re)?.length ?? 0;

describe('JUnit XML', () => {
  it('counts failing testcases, one <failure> each, however many findings an endpoint has', () => {
    const a = finding('GET orders/');
    const b = finding('GET orders/', { table: 'shop_product', fingerprint: '7777666655554444', chain: ['lines', 'product'] });
    const r = report([endpoint('GET orders/', [a, b]), endpoint('GET health/', [])]);
    const xml = renderJunit(r, judge(r, { maxFindings: 0, today: '2026-01-01' }));
    // JUnit's failures attribute counts failed tests: it cannot exceed tests, and a testcase holds one failure.
    expect(xml).toContain('<testsuite name="n1lens" tests="2" failures="1"');
    expect(xml).toContain('<testsuites name="n1lens" tests="2" failures="1"');
    expect(count(xml, /<failure /g)).toBe(1);
    // Both findings are still in it.
    expect(xml).toContain('shop_customer');
    expect(xml).toContain('shop_product');
  });

  it("gives each service's endpoint its own findings when two services share an endpoint name", () => {
    const web = endpoint('GET health/', [finding('GET health/')], { service: 'web' });
    const api = endpoint('GET health/', [], { service: 'api' });
    const r = report([web, api]);
    const xml = renderJunit(r, judge(r, { maxFindings: 0, today: '2026-01-01' }));
    expect(xml).toContain('<testcase classname="n1lens.api" name="GET health/" time="0"/>');
    expect(count(xml, /<failure /g)).toBe(1);
    expect(xml).toContain('failures="1"');
  });

  it('writes only characters XML 1.0 can carry: no control character, U+FFFE, U+FFFF or half a surrogate pair, while whole pairs stay', () => {
    const name = 'GET caf\u00e9/\u0001\ufffe\ud800x/\udc00y/\ud83d\ude00/';
    const r = report([endpoint(name, [finding(name)])]);
    const xml = renderJunit(r, judge(r, { maxFindings: 0, today: '2026-01-01' }));
    expect(xml).toContain('name="GET caf\u00e9/x/y/\ud83d\ude00/"');
    expect(xml).not.toMatch(/[\u0001\ufffe]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/);
  });
});
