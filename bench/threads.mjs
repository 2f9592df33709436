/**
 * Runs one `node` process under GNU time and splits its CPU by thread, polling
 * /proc/<pid>/task/<tid>/stat every 5 ms (Linux only): the main thread, V8's platform threads
 * (the delayed-task scheduler and the worker pool, which run concurrent marking, parallel
 * scavenges, concurrent sweeping *and* TurboFan's concurrent compile jobs) and every other thread
 * (`--jobs` workers, libuv's pool). Node creates its platform's threads before any other, so they
 * are the five lowest thread ids after the main thread's. Thread names do not help: Node 20 leaves
 * them all `node`. A thread that ends between two polls loses at most 5 ms.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Node's platform: one delayed-task scheduler and four workers (`--v8-pool-size`, default 4). */
const PLATFORM_THREADS = 5;

/** User + system seconds of each thread of `pid` so far, by thread id. */
function threadSeconds(pid, into) {
  let tids;
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      // Fields after the command name, which may hold spaces: utime and stime are the 12th and 13th.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      into.set(Number(tid), (Number(fields[11]) + Number(fields[12])) / 100);
    } catch {
      // The thread ended between the listing and the read: its last poll stands.
    }
  }
}

/** The node process GNU time started (time forks it; taskset execs into it). */
function childOf(pid) {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ').filter(Boolean);
    return children.length > 0 ? Number(children[0]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `argv` (a node command, optionally behind taskset) under GNU time: wall, CPU, peak RSS, stdout,
 * and the CPU split as { main, platform, other } seconds.
 */
export function timedWithThreads(argv, { cwd, env } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', '%e %U %S %M', ...argv], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    const seconds = new Map();
    let node;
    const poll = setInterval(() => {
      node ??= childOf(child.pid);
      if (node !== undefined) threadSeconds(node, seconds);
    }, 5);
    child.on('error', reject);
    child.on('close', (status) => {
      clearInterval(poll);
      const stderr = Buffer.concat(err).toString('utf8');
      // n1-report exits 1 when findings exceed the budget (the corpora's N+1s do).
      if (status !== 0 && status !== 1) return reject(new Error(`${argv.join(' ')} failed (${status}): ${stderr}`));
      const [wall, user, sys, rssKb] = stderr.trim().split('\n').pop().split(' ').map(Number);
      const tids = [...seconds.keys()].sort((a, b) => a - b);
      const main = seconds.get(node) ?? 0;
      const platform = tids.filter((t) => t !== node).slice(0, PLATFORM_THREADS).reduce((s, t) => s + seconds.get(t), 0);
      const all = tids.reduce((s, t) => s + seconds.get(t), 0);
      resolve({
        wall,
        cpu: user + sys,
        rssMB: Math.round(rssKb / 1024),
        stdout: Buffer.concat(out).toString('utf8'),
        threads: { main: +main.toFixed(2), platform: +platform.toFixed(2), other: +(all - main - platform).toFixed(2) },
      });
    });
  });
}
