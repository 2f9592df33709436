/** The messages between n1-report's main thread and its shard workers (parallel/files.ts, parallel/worker.ts). */
import type { MessagePort } from 'node:worker_threads';
import type { DetectOptions } from '../detect/request.js';
import type { ShardReading, ShardResult } from './shard.js';

export interface WorkerSetup {
  shard: number;
  shards: number;
  /** The trace files, each read whole by every worker. */
  files: string[];
  /** A port to each other shard (none at its own index): the packs of the units it decodes go out, theirs come in. */
  peers: (MessagePort | undefined)[];
  /** How every shard reads the files (their sizes at the start, the JSON lines' range size). */
  reading: ShardReading;
  /** Cloneable detection options; the schema is loaded from `schemaPath` in the worker. */
  detect: Omit<DetectOptions, 'links' | 'noiseFilter'>;
  schemaPath?: string;
  /** analyzer.ts OFFLINE_OPEN_BYTES for all shards together, when a test lowers it. */
  openBytes?: number;
}

/** An error as it crosses threads: the CLI tells input errors by name (cli/errors.ts). */
export interface ErrorData {
  name: string;
  message: string;
  stack?: string;
}

/** Each worker posts exactly one message. */
export type FromWorker =
  | { done: ShardResult }
  /** The input failed at unit `unit` (counted over every file): a unit that did not decode, or reading that failed before it. */
  | { failed: { unit: number; error: ErrorData } }
  | { fatal: string };

export function errorData(error: unknown): ErrorData {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  return { name: error.name, message: error.message, ...(error.stack === undefined ? {} : { stack: error.stack }) };
}

export function errorFrom(data: ErrorData): Error {
  const error = new Error(data.message);
  error.name = data.name;
  if (data.stack !== undefined) error.stack = data.stack;
  return error;
}
