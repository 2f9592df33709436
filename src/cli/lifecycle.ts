/**
 * When a long-running command should stop: SIGTERM, SIGINT, or the death of the process that
 * started it. npm/npx do not always pass SIGTERM on to their child, so `npx n1lens serve` would
 * outlive a stopped npx; watching the parent closes that gap. Only under npm/npx (which set
 * `npm_command`): a `nohup n1lens serve &` must survive its shell. A second signal exits at once.
 */

import { readFileSync } from 'node:fs';
import { isMainThread, parentPort } from 'node:worker_threads';

/** The message the main thread sends the serve thread (serve-thread.ts) to stop it. */
interface ShutdownMessage {
  type: 'n1lens-shutdown';
  why: string;
}

export function shutdownMessage(why: string): ShutdownMessage {
  return { type: 'n1lens-shutdown', why };
}

function isShutdownMessage(m: unknown): m is ShutdownMessage {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'n1lens-shutdown';
}

/** The parent at start-up, read when the CLI loads: by the time a server has bound, it may be gone. */
const STARTED_BY = process.ppid;

/** How often the parent is checked. */
const PARENT_POLL_MS = 500;

/** Calls `stop` once, with why; later signals force exit code 130 (Ctrl-C twice). */
export function onShutdown(stop: (why: string) => void): void {
  const parent = STARTED_BY;
  let stopping = false;
  let watch: NodeJS.Timeout | undefined;
  const trigger = (why: string): void => {
    if (stopping) {
      process.stderr.write(`n1lens: ${why} again: exiting without waiting\n`);
      process.exit(130);
    }
    stopping = true;
    if (watch !== undefined) clearInterval(watch);
    stop(why);
  };
  if (!isMainThread && parentPort !== null) {
    // On the serve thread (serve-thread.ts) signals reach only the main thread, which passes them on.
    const port = parentPort;
    port.on('message', (m: unknown) => {
      if (isShutdownMessage(m)) trigger(m.why);
    });
    port.unref(); // the thread ends once the server has closed
    return;
  }
  process.on('SIGTERM', () => trigger('SIGTERM'));
  process.on('SIGINT', () => trigger('SIGINT'));
  process.on('SIGHUP', () => trigger('SIGHUP'));
  watch = setInterval(() => {
    if (parentAlive(parent)) return;
    // The terminal or pipe that read our stderr may have gone with the parent.
    process.stderr.on('error', () => undefined);
    trigger('npm/npx parent exited');
  }, PARENT_POLL_MS);
  watch.unref();
  if (process.env['npm_command'] === undefined || parent <= 1) clearInterval(watch);
}

/**
 * Node's process.ppid is fixed at start, so ask the OS: on Linux the live parent in /proc (a dead
 * parent's child is re-parented to init or a subreaper); elsewhere whether the pid still exists.
 */
function parentAlive(parent: number): boolean {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === parent;
  } catch {
    try {
      process.kill(parent, 0);
      return true;
    } catch {
      return false;
    }
  }
}
