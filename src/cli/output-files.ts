/** The files n1-report writes (outputs, baseline, GitHub step summary): checked before the analysis, then written so that a failure leaves none of them changed or half written. */
import { accessSync, appendFileSync, closeSync, constants, fchmodSync, fsyncSync, mkdirSync, openSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import { CliError } from './errors.js';

/** One file to write; `doing` starts its error, e.g. "cannot write the sarif output". */
export interface OutputFile {
  file: string;
  text: string;
  doing: string;
  /** Appended to (GITHUB_STEP_SUMMARY, which other steps write too), not replaced. */
  append?: boolean;
}

/** A file-system error as the CLI's one line (cli/errors.ts); anything else is rethrown as the bug it is. */
export function fileError(error: unknown, file: string, doing: string): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code !== 'string') return error;
  const why: Record<string, string> = {
    EISDIR: 'it is a directory',
    ENOTDIR: 'a part of its path is not a directory',
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EPERM: 'permission denied',
    EROFS: 'a read-only file system',
    ENOSPC: 'no space left on the device',
    EEXIST: 'a part of its path is not a directory',
  };
  return new CliError(`${file}: ${doing}: ${why[code] ?? (error as Error).message}`);
}

/**
 * Refuses, before the analysis, a file it could not write: a directory, under a path part that is
 * not a directory, or where it may not create or write a file. Writing it still reports what fails then.
 */
export function checkWritable(file: string, doing: string): void {
  const cannot = (why: string) => new CliError(`${file}: ${doing}: ${why}`);
  let stat: ReturnType<typeof statSync> | undefined;
  try {
    stat = statSync(file);
  } catch {
    // Not there (or not reachable): what decides is the nearest directory above it that is.
  }
  if (stat !== undefined) {
    if (stat.isDirectory()) throw cannot('it is a directory');
    try {
      accessSync(file, constants.W_OK);
    } catch {
      throw cannot('permission denied');
    }
    return;
  }
  for (let dir = dirname(resolve(file)); ; dir = dirname(dir)) {
    let above: ReturnType<typeof statSync>;
    try {
      above = statSync(dir);
    } catch {
      if (dir === dirname(dir)) return; // nothing above exists: let writing say why
      continue;
    }
    if (!above.isDirectory()) throw cannot(`${dir} is not a directory`);
    try {
      accessSync(dir, constants.W_OK);
    } catch {
      throw cannot(`permission denied in ${dir}`);
    }
    return;
  }
}

/**
 * How a file is written: `replace`d through a temp file beside `path` (a regular file, or none yet;
 * `path` is a symlink's target, so the link stays), or in place (a FIFO or a device such as
 * /dev/stdout, which cannot be replaced, or a file in a directory where no temp file can go).
 */
function howToWrite(file: string): { path: string; replace: boolean; mode?: number } {
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(file);
  } catch {
    return { path: resolve(file), replace: true };
  }
  if (!stat.isFile()) return { path: file, replace: false };
  const path = realpathSync(file);
  try {
    accessSync(dirname(path), constants.W_OK);
  } catch {
    return { path, replace: false };
  }
  return { path, replace: true, mode: stat.mode & 0o7777 };
}

/**
 * Writes every file, so that a failure leaves none of them changed where the file system allows it:
 * first each replaceable file is written whole (and synced) to a temp file in its directory, keeping
 * an existing file's mode; then the files written in place, in order; then the temp files are renamed
 * over their files, in order (the caller puts the one that matters most to keep intact, the baseline,
 * last); the appends come last. A failure before the renames removes the temp files; directories made
 * for new files stay, and an append that fails leaves the renamed files in place.
 */
export function writeOutputFiles(files: readonly OutputFile[]): void {
  const staged: { temp: string; path: string; out: OutputFile }[] = [];
  const removeStaged = (): void => {
    for (const { temp } of staged.splice(0)) rmSync(temp, { force: true });
  };
  let writing: OutputFile | undefined;
  try {
    const inPlace: OutputFile[] = [];
    for (const out of files) {
      writing = out;
      const how = out.append ? undefined : howToWrite(out.file);
      if (how === undefined || !how.replace) {
        inPlace.push(out);
        continue;
      }
      mkdirSync(dirname(how.path), { recursive: true });
      const temp = join(dirname(how.path), `.${basename(how.path)}.${randomBytes(6).toString('hex')}.tmp`);
      const fd = openSync(temp, 'wx');
      staged.push({ temp, path: how.path, out });
      try {
        writeFileSync(fd, out.text);
        if (how.mode !== undefined) fchmodSync(fd, how.mode);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
    for (const out of inPlace) {
      if (out.append) continue;
      writing = out;
      writeFileSync(out.file, out.text);
    }
    while (staged.length > 0) {
      const { temp, path, out } = staged[0]!;
      writing = out;
      renameSync(temp, path);
      staged.shift();
    }
    // Appends last: a step summary that is also one of the files (--format markdown=$GITHUB_STEP_SUMMARY)
    // gets its verdict after the file is in place, not in the file the rename replaces.
    for (const out of inPlace) {
      if (!out.append) continue;
      writing = out;
      appendFileSync(out.file, out.text);
    }
  } catch (error) {
    removeStaged();
    throw writing === undefined ? error : fileError(error, writing.file, writing.doing);
  }
}
