/** The store's writer thread (see writer.ts): one SQLite connection that applies the owning thread's writes in order. */
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteStore } from './sqlite.js';
import type { WriterAnswer, WriterCall } from './writer.js';

const port = parentPort!;
const store = SqliteStore.open((workerData as { path: string }).path);

port.on('message', (call: WriterCall) => {
  let answer: WriterAnswer;
  try {
    answer = { id: call.id, value: run(call) };
  } catch (e) {
    answer = { id: call.id, error: ((e as Error).message ?? String(e)).split('\n')[0]! };
  }
  port.postMessage(answer);
  if (call.op === 'close') port.close();
});

function run(call: WriterCall): unknown {
  switch (call.op) {
    case 'write':
      return store.writeRowsSync(call.rows, call.committed, call.known, call.outside);
    case 'pruneCommitted':
      return store.pruneCommittedSync(call.beforeMs);
    case 'pruneBefore':
      return store.pruneBeforeSync(call.beforeMs);
    case 'close':
      store.closeSync();
      return undefined;
  }
}
