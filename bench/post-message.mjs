#!/usr/bin/env node
/**
 * What one postMessage round trip between two threads costs this machine: a tiny message (a call of
 * `serve --workers`, its piece elsewhere) posted to a worker that echoes its id, 2,000 times, with 0,
 * 1 and 3 ms between them (a thread that sleeps in between must be woken each time). Prints the
 * process's CPU per round trip (both threads), and its system share, as one JSON line.
 *
 *   node bench/post-message.mjs [--rounds 2000]
 */
import { Worker } from 'node:worker_threads';

const i = process.argv.indexOf('--rounds');
const rounds = i < 0 ? 2000 : Number(process.argv[i + 1]);
const worker = new Worker(`const { parentPort } = require('node:worker_threads'); parentPort.on('message', (m) => parentPort.postMessage(m.id));`, { eval: true });
await new Promise((resolve) => worker.once('online', resolve));
const results = [];
for (const gapMs of [0, 1, 3]) {
  const cpu0 = process.cpuUsage();
  for (let n = 0; n < rounds; n++) {
    worker.postMessage({ id: n, op: 'accept', piece: { offset: 1, length: 2 } });
    await new Promise((resolve) => worker.once('message', resolve));
    if (gapMs > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
  }
  const cpu = process.cpuUsage(cpu0);
  results.push({ gapMs, cpuUsPerRoundTrip: +((cpu.user + cpu.system) / rounds).toFixed(1), systemUsPerRoundTrip: +(cpu.system / rounds).toFixed(1) });
}
await worker.terminate();
process.stdout.write(`${JSON.stringify({ bench: 'post-message', rounds, results, node: process.version })}\n`);
