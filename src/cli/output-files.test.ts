/** writeOutputFiles: every file written whole, or, when one fails, none of them changed. */
import { lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/support.js';
import { CliError } from './errors.js';
import { writeOutputFiles } from './output-files.js';

/** Every file under `dir` (recursively) with its text. */
function contents(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const path = join(dir, name);
    if (lstatSync(path).isFile()) files[name] = readFileSync(path, 'utf8');
  }
  return files;
}

describe('writeOutputFiles', () => {
  it('writes new files in new directories, replaces existing ones keeping their mode, writes through a symlink, and appends', () => {
    const dir = tempDir('outputs');
    writeFileSync(join(dir, 'kept-mode.json'), 'old', { mode: 0o600 });
    writeFileSync(join(dir, 'target.sarif'), 'old');
    symlinkSync(join(dir, 'target.sarif'), join(dir, 'link.sarif'));
    writeFileSync(join(dir, 'summary.md'), 'earlier step\n');
    writeOutputFiles([
      { file: join(dir, 'new/deeper/report.json'), text: 'new json', doing: 'cannot write the json output' },
      { file: join(dir, 'kept-mode.json'), text: 'new', doing: 'cannot write the json output' },
      { file: join(dir, 'link.sarif'), text: 'new sarif', doing: 'cannot write the sarif output' },
      { file: join(dir, 'summary.md'), text: 'this run\n', doing: 'cannot append the GitHub step summary', append: true },
    ]);
    expect(contents(dir)).toEqual({
      'new/deeper/report.json': 'new json',
      'kept-mode.json': 'new',
      'target.sarif': 'new sarif',
      'summary.md': 'earlier step\nthis run\n',
    });
    expect(statSync(join(dir, 'kept-mode.json')).mode & 0o777).toBe(0o600);
    expect(lstatSync(join(dir, 'link.sarif')).isSymbolicLink()).toBe(true);
  });

  it('changes none of the files, appends nothing and leaves no temp file when one of them cannot be written', () => {
    const dir = tempDir('outputs-failing');
    writeFileSync(join(dir, 'out.sarif'), 'old sarif');
    writeFileSync(join(dir, 'summary.md'), 'earlier step\n');
    writeFileSync(join(dir, 'baseline.json'), 'old baseline');
    // A directory where a file should go: what the check before the analysis refuses, here met only when writing.
    mkdirSync(join(dir, 'taken.json'));
    const before = contents(dir);
    let error: unknown;
    try {
      writeOutputFiles([
        { file: join(dir, 'out.sarif'), text: 'new sarif', doing: 'cannot write the sarif output' },
        { file: join(dir, 'new.xml'), text: 'new junit', doing: 'cannot write the junit output' },
        { file: join(dir, 'taken.json'), text: 'new json', doing: 'cannot write the json output' },
        { file: join(dir, 'summary.md'), text: 'this run\n', doing: 'cannot append the GitHub step summary', append: true },
        { file: join(dir, 'baseline.json'), text: 'new baseline', doing: 'cannot write the baseline' },
      ]);
    } catch (e) {
      error = e;
    }
    expect(error).toEqual(new CliError(`${join(dir, 'taken.json')}: cannot write the json output: it is a directory`));
    expect(contents(dir)).toEqual(before);
    expect(readdirSync(dir).sort()).toEqual(['baseline.json', 'out.sarif', 'summary.md', 'taken.json']);
  });
});
