/** The README's GitHub Actions workflow is complete and valid: actionlint (built by scripts/actionlint.sh) accepts it. */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'n1lens-workflow-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The YAML block after the README's `<!-- n1lens-workflow: … -->` marker. */
function readmeWorkflow(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const m = /<!-- n1lens-workflow: \.github\/workflows\/n1lens\.yml -->\n```yaml\n([\s\S]*?)```/.exec(readme);
  if (m === null) throw new Error('README has no n1lens workflow block');
  return m[1]!;
}

function actionlint(workflow: string, name: string) {
  const repo = join(dir, name);
  mkdirSync(join(repo, '.github/workflows'), { recursive: true });
  const file = join(repo, '.github/workflows/n1lens.yml');
  writeFileSync(file, workflow);
  // -shellcheck= / -pyflakes= : lint the workflow itself, whatever else this machine has installed.
  const r = spawnSync('bash', [join(root, 'scripts/actionlint.sh'), '-no-color', '-shellcheck=', '-pyflakes=', file], { cwd: repo, encoding: 'utf8' });
  return { code: r.status, out: r.stdout + r.stderr };
}

describe('README GitHub Actions workflow', () => {
  it('sets up Node and Python, runs pytest --n1lens with the baseline, uploads SARIF and writes the step summary', () => {
    const w = readmeWorkflow();
    expect(w).toContain('uses: actions/setup-node@v4');
    expect(w).toContain('uses: actions/setup-python@v5');
    expect(w).toMatch(/pytest --n1lens\n\s+--n1lens-baseline=\.n1lens\/baseline\.json\n\s+--n1lens-format=github\n\s+--n1lens-format=sarif=n1lens\.sarif/);
    expect(w).toContain('uses: github/codeql-action/upload-sarif@v3');
    expect(w).toContain('sarif_file: n1lens.sarif');
    expect(w).toContain('security-events: write');
  });

  it('passes actionlint', { timeout: 600_000 }, () => {
    const r = actionlint(readmeWorkflow(), 'good');
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
  });

  it('is linted for real: actionlint rejects a broken copy', { timeout: 600_000 }, () => {
    const broken = readmeWorkflow().replace('runs-on: ubuntu-latest', 'runs-on: ubuntu-latest\n    timeout: 10').replace("${{ !cancelled() && hashFiles('n1lens.sarif') != '' }}", '${{ steps.nope.outputs.x }}');
    const r = actionlint(broken, 'broken');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/unexpected key "timeout"/);
    expect(r.out).toMatch(/property "nope" is not defined/);
  });
});
