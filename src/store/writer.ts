/**
 * The SQLite store's writer thread, seen from the thread that owns the store: each write's rows
 * (a RowBatch, computed where the requests were analysed) cross as one message, and the thread,
 * which holds a connection of its own to the same file, merges them in one transaction. The SQL
 * merge then never holds the event loop that answers exports and /healthz.
 */
import { Worker } from 'node:worker_threads';
import type { RowBatch } from './rows.js';
import type { AwaitedEntry } from './store.js';
import type { OutsideQueries } from '../traces/assemble.js';

/** Traces a write notes as committed (the spool's exactly-once), as they cross threads. */
export interface CommittedIds {
  traceIds: string[];
  nowMs: number;
  awaited: readonly AwaitedEntry[];
}

/** What the thread is asked to do; each call is answered once, by id. */
export type WriterCall =
  | { id: number; op: 'write'; rows: RowBatch | undefined; committed: CommittedIds | undefined; known: string[]; outside: readonly OutsideQueries[] }
  | { id: number; op: 'pruneCommitted'; beforeMs: number }
  | { id: number; op: 'pruneBefore'; beforeMs: number }
  | { id: number; op: 'close' };

export type WriterAnswer = { id: number; value: unknown } | { id: number; error: string };

export interface StoreWriterOptions {
  /** The thread's module; tests running the TypeScript sources point it at the build. */
  script?: URL;
}

/** The writer thread's heap: a batch is a few hundred KB of rollups; what it keeps is prepared statements. */
const WRITER_HEAP = { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 6 };

/** A write the thread could not make: the transaction failed (nothing of it was written) or the thread stopped. */
export class StoreWriteError extends Error {
  override name = 'StoreWriteError';
}

/**
 * One writer thread for one SQLite file, started on the first call and again after it stops (a
 * crash, its heap limit): a call that was in flight then fails, and the caller retries it, as it
 * would a failed transaction.
 */
export class StoreWriter {
  readonly #path: string;
  readonly #script: URL;
  #worker: Worker | undefined;
  #nextId = 1;
  /** Closing keeps the thread referenced until it has exited. */
  #closing = false;
  readonly #calls = new Map<number, { resolve: (value: unknown) => void; reject: (e: Error) => void }>();

  constructor(path: string, options: StoreWriterOptions = {}) {
    this.#path = path;
    this.#script = options.script ?? new URL('./writer-thread.js', import.meta.url);
  }

  /**
   * Merges `rows` and `outside` (but for the traces in `known`) and notes `committed` in one
   * transaction. Resolves with the traces another write had already committed (not in `known`): then
   * nothing was written, and the caller recounts its batch without them.
   */
  write(rows: RowBatch | undefined, committed: CommittedIds | undefined, known: string[], outside: readonly OutsideQueries[]): Promise<string[]> {
    return this.#call({ op: 'write', rows, committed, known, outside }) as Promise<string[]>;
  }

  async pruneCommitted(beforeMs: number): Promise<void> {
    await this.#call({ op: 'pruneCommitted', beforeMs });
  }

  pruneBefore(beforeMs: number): Promise<number> {
    return this.#call({ op: 'pruneBefore', beforeMs }) as Promise<number>;
  }

  /** Waits for the writes in flight, then closes the thread's connection. */
  async close(): Promise<void> {
    if (this.#worker === undefined) return;
    const worker = this.#worker;
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    this.#closing = true;
    await this.#call({ op: 'close' }).catch(() => undefined);
    await exited;
  }

  /** Stops the thread at once (writes in flight fail; SQLite rolls them back). */
  terminate(): void {
    void this.#worker?.terminate();
  }

  #call(call: DistributiveOmit<WriterCall, 'id'>): Promise<unknown> {
    const worker = this.#worker ?? this.#start();
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#calls.set(id, { resolve, reject });
      // Only a call in flight keeps the process alive (a shutdown waits for its last write).
      worker.ref();
      worker.postMessage({ ...call, id } as WriterCall);
    });
  }

  #start(): Worker {
    const worker = new Worker(this.#script, { workerData: { path: this.#path }, resourceLimits: WRITER_HEAP });
    worker.unref();
    worker.on('message', (answer: WriterAnswer) => {
      const call = this.#calls.get(answer.id);
      if (call === undefined) return;
      this.#calls.delete(answer.id);
      if (this.#calls.size === 0 && !this.#closing) worker.unref();
      if ('error' in answer) call.reject(new StoreWriteError(answer.error));
      else call.resolve(answer.value);
    });
    const stopped = (why: string): void => {
      if (this.#worker === worker) this.#worker = undefined;
      for (const call of this.#calls.values()) call.reject(new StoreWriteError(`the store's writer thread stopped: ${why}`));
      this.#calls.clear();
    };
    worker.on('error', (e) => stopped(e.message.split('\n')[0] ?? String(e)));
    worker.on('exit', (code) => stopped(`exit code ${code}`));
    this.#worker = worker;
    return worker;
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
