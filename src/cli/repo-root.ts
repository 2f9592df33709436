/** Finds the repository a directory is in, for the outputs that name files from the repository root (SARIF, GitHub annotations). */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * The nearest directory from `dir` upwards holding a `.git` (a directory, or the file a worktree or
 * submodule has): git's top level, read without running git. Undefined outside any repository.
 *
 * @example gitTopLevel('/work/shop/backend') // '/work/shop'
 */
export function gitTopLevel(dir: string): string | undefined {
  for (let d = resolve(dir); ; d = dirname(d)) {
    if (existsSync(join(d, '.git'))) return d;
    if (dirname(d) === d) return undefined;
  }
}
