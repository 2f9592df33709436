/**
 * Files as the repository names them, for the outputs that place findings in a checkout (SARIF for
 * code scanning, GitHub annotations): forward slashes, relative to the repository root. Traces name
 * application files relative to Django's BASE_DIR (the Django integration), which is the repository
 * root only when manage.py is at the top of it: a project in `backend/` names `backend/shop/views.py`
 * as `shop/views.py`.
 */
import type { CodeLocation } from '../detect/types.js';

/** Where the outputs' paths are taken from and made relative to. */
export interface RepoPaths {
  /**
   * The repository root (`%SRCROOT%`, GitHub's workspace): paths are made relative to it, and a path
   * outside it (a library's file) is dropped. Without it, relative paths are kept as they are and
   * every absolute one is dropped.
   */
  root?: string;
  /** The directory the traces' relative paths are relative to (Django's BASE_DIR); the root when absent. */
  base?: string;
}

const slashes = (path: string): string => path.replaceAll('\\', '/');
const isAbsolute = (path: string): boolean => /^(\/|[A-Za-z]:\/)/.test(path);

/** `a/./b/../c` → `a/c`; undefined when `..` climbs above its start. */
function normalise(path: string): string | undefined {
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part !== '..') out.push(part);
    else if (out.length === 0 || out[out.length - 1] === '..') return undefined;
    else out.pop();
  }
  return out.join('/');
}

/** `path` relative to the directory `dir` (both absolute, forward slashes), or undefined when outside it. */
function under(path: string, dir: string): string | undefined {
  const lead = /^[A-Za-z]:/.test(path) ? path.slice(0, 2) : '';
  const leadDir = /^[A-Za-z]:/.test(dir) ? dir.slice(0, 2) : '';
  if (lead.toLowerCase() !== leadDir.toLowerCase()) return undefined;
  const p = normalise(path.slice(lead.length));
  const d = normalise(dir.slice(leadDir.length));
  if (p === undefined || d === undefined) return undefined;
  if (d === '') return p === '' ? undefined : p;
  return p.startsWith(`${d}/`) ? p.slice(d.length + 1) : undefined;
}

/**
 * A file as the repository names it: forward slashes, relative to `root`; undefined for a path
 * outside it. A relative path is taken from `base` (Django's BASE_DIR) when both are given.
 *
 * @example repoPath('shop/views.py', { root: '/w/app', base: '/w/app/backend' }) // 'backend/shop/views.py'
 */
export function repoPath(file: string, { root, base }: RepoPaths = {}): string | undefined {
  const path = slashes(file);
  if (!isAbsolute(path)) {
    const relative = path.replace(/^(\.\/)+/, '');
    if (root === undefined || base === undefined) return relative;
    return under(`${slashes(base).replace(/\/+$/, '')}/${relative}`, slashes(root));
  }
  return root === undefined || root === '' ? undefined : under(path, slashes(root));
}

/** The location with its file and template as repoPath gives them; a path outside the checkout is dropped with its line. */
export function repoLocation(l: CodeLocation | undefined, paths: RepoPaths): CodeLocation | undefined {
  if (l === undefined) return undefined;
  const { file, line, template, templateLine, ...rest } = l;
  const f = file === undefined ? undefined : repoPath(file, paths);
  const t = template === undefined ? undefined : repoPath(template, paths);
  return {
    ...rest,
    ...(f === undefined ? {} : { file: f, ...(line === undefined ? {} : { line }) }),
    ...(t === undefined ? {} : { template: t, ...(templateLine === undefined ? {} : { templateLine }) }),
  };
}
