/**
 * The built spool against a real kernel's short write: with the file size limit (RLIMIT_FSIZE)
 * reached part-way, pwritev returns the bytes it wrote and no error, as on a disk that fills. What
 * the spool acknowledged must replay whole; the export the kernel cut short must be refused.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Spool } from '../src/spool/index.js';
import { tempDir } from './support.js';

/** A child process (its own limit), the built Spool: three 5,000-byte exports, each awaited. */
function appendUnderLimit(dir: string, limitKiB: number): string[] {
  const spool = JSON.stringify(new URL('../dist/spool/index.js', import.meta.url).pathname);
  const script = `
    import { Spool } from ${spool};
    const spool = Spool.open({ dir: ${JSON.stringify(dir)} });
    const answers = [];
    for (const fill of [1, 2, 3]) {
      try { await spool.append('protobuf', Buffer.alloc(5000, fill)).durable; answers.push('ok'); }
      catch (e) { answers.push(e.message); }
    }
    await spool.close();
    console.log(JSON.stringify(answers));`;
  const out = execFileSync('bash', ['-c', `ulimit -f ${limitKiB}; exec "${process.execPath}" --input-type=module -e "$0"`, script], { encoding: 'utf8' });
  return JSON.parse(out) as string[];
}

describe('spool at a full disk (the file size limit)', () => {
  it('refuses the export a short write cut, and replays every one it acknowledged', async () => {
    const dir = join(tempDir('spool-fsize'), 'spool');
    // 8 KiB: the first record fits (5,009 bytes), the second stops 3,183 bytes in.
    const answers = appendUnderLimit(dir, 8);
    expect(answers[0]).toBe('ok');
    expect(answers[1]).toMatch(/^spool write failed: EFBIG/);
    // The next goes to a new segment, behind no torn record.
    expect(answers[2]).toBe('ok');
    const spool = Spool.open({ dir });
    expect([...spool.replay()].map((r) => [r.body.length, r.body[0]])).toEqual([[5000, 1], [5000, 3]]);
    await spool.close();
  });
});
