/** The README's sample outputs are what the commands print today on the bundled recording. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const SAMPLE = ['samples/traces/recruit.jsonl.gz', '--schema', 'samples/traces/recruit-schema.json'];

/** The first fenced block after `heading` in the README. */
function blockAfter(heading: string): string {
  const at = readme.indexOf(heading);
  if (at < 0) throw new Error(`README has no "${heading}"`);
  const m = /```[a-z]*\n([\s\S]*?)```/.exec(readme.slice(at));
  if (m === null) throw new Error(`README has no code block after "${heading}"`);
  return m[1]!;
}

function run(bin: string, args: string[]): string {
  const r = spawnSync(process.execPath, [join(root, 'bin', bin), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', COLUMNS: '80' } });
  if (r.status !== 0 && r.status !== 1) throw new Error(`${bin} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

describe('README sample outputs', () => {
  it('"What you get": every line not shortened with … is printed, in that order', () => {
    const printed = run('n1-report.js', SAMPLE).split('\n');
    let from = 0;
    for (const line of blockAfter('## What you get').split('\n')) {
      if (line.trim() === '' || line.includes('…')) continue;
      const at = printed.indexOf(line, from);
      expect(at, `README line not printed (or out of order): ${JSON.stringify(line)}`).toBeGreaterThanOrEqual(0);
      from = at + 1;
    }
  });

  it("the digest's text is the dry run's", () => {
    const messages = JSON.parse(run('n1lens.js', ['digest', ...SAMPLE, '--service', 'recruit', '--dry-run'])) as { text: string; blocks: unknown[] }[];
    expect(messages).toHaveLength(1);
    expect(blockAfter('Here is the text of `n1lens digest samples/traces/recruit.jsonl.gz').trim()).toBe(messages[0]!.text);
    expect(readme).toContain(`message of ${messages[0]!.blocks.length} blocks`);
  });
});
