import { describe, expect, it } from 'vitest';
import { anyGlob, endpointMatcher } from './model.js';

/** The glob as the regular expression it stands for: the reference, on inputs too short to backtrack for long. */
const reference = (glob: string) => new RegExp(`^${glob.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);

describe('endpointMatcher', () => {
  it('matches `*` as anything and everything else literally', () => {
    const m = endpointMatcher('GET dashboard/*');
    expect(['GET dashboard/', 'GET dashboard/applications/', 'GET dashboard/a/b/'].map(m)).toEqual([true, true, true]);
    expect(['GET dashboard', 'POST dashboard/', 'xGET dashboard/'].map(m)).toEqual([false, false, false]);
    expect(endpointMatcher('GET api/(?P<pk>[0-9]+)/')('GET api/(?P<pk>[0-9]+)/')).toBe(true);
    expect(endpointMatcher('GET a.b/')('GET axb/')).toBe(false);
    expect(endpointMatcher('*/jobs/*/notes/')('GET api/jobs/7/notes/')).toBe(true);
    expect(endpointMatcher('*ab*ab')('abab')).toBe(true);
    expect(endpointMatcher('*ab*ab')('aba')).toBe(false); // the two parts may not overlap
    expect(endpointMatcher('a*a')('a')).toBe(false);
    expect(endpointMatcher(undefined)('anything')).toBe(true);
    expect(anyGlob(['GET admin/*', '*/health/'])('GET admin/login/')).toBe(true);
  });

  it('agrees with the regular expression the glob stands for on every short glob and name', () => {
    const letters = ['a', 'b', '*'];
    const all = (n: number): string[] => (n === 0 ? [''] : all(n - 1).flatMap((s) => letters.map((l) => s + l)));
    const globs = [1, 2, 3, 4, 5].flatMap(all);
    const names = [0, 1, 2, 3, 4, 5].flatMap(all).filter((s) => !s.includes('*'));
    const wrong: string[] = [];
    for (const glob of globs) {
      const m = endpointMatcher(glob);
      const re = reference(glob);
      for (const name of names) if (m(name) !== re.test(name)) wrong.push(`${glob} ~ ${name}`);
    }
    expect(wrong).toEqual([]);
  });

  it('never backtracks: 10,000 stars, or parts that almost match everywhere, take a pass over the name', () => {
    // As a regular expression, 12 stars before an X blocked the event loop for minutes (?endpoint=************X).
    const started = performance.now();
    const stars = endpointMatcher(`${'*'.repeat(10_000)}X`);
    const name = 'GET dashboard/applications/'.repeat(400);
    for (let i = 0; i < 100; i++) expect(stars(name)).toBe(false);
    expect(stars(`${name}X`)).toBe(true);
    const parts = endpointMatcher(`${'*a'.repeat(5_000)}*b`);
    expect(parts('a'.repeat(20_000))).toBe(false);
    expect(parts(`${'a'.repeat(20_000)}b`)).toBe(true);
    // Microseconds here; a backtracking matcher would not return at all. The bound only catches that.
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
