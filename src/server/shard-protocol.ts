/** The messages between the serving thread and its shard threads (`serve --workers N`): calls by id, each answered once (an accepted export twice). */
import type { SpoolCompression, SpoolEncoding, SpoolOptions } from '../spool/index.js';
import type { DjangoSchema } from '../suggest/schema.js';
import type { IntakeOptions, ReplayTotals, Transport } from './intake.js';
import type { MetricsJson } from './metrics.js';
import type { WarmUpPlan } from './warm-up.js';

/** The settings a shard's Intake is made with that cross threads (the schema, not the naming built from it). */
export type ShardIntakeSettings = Omit<IntakeOptions, 'store' | 'metrics' | 'spool' | 'recordPath' | 'now' | 'random' | 'memoryUsed' | 'links' | 'noiseFilter' | 'statements' | 'onRelease'>;

export interface ShardThreadData {
  index: number;
  count: number;
  db: string;
  storeWriterThread: boolean;
  intake: ShardIntakeSettings;
  schema?: DjangoSchema;
  spool?: Pick<SpoolOptions, 'dir' | 'maxBytes' | 'commitMs'>;
  warmUp?: WarmUpPlan;
  /** An Int32Array of one open-trace count per shard, each written by its shard. */
  openTraces: SharedArrayBuffer;
}

export type ShardCall =
  | {
      id: number;
      op: 'accept';
      encoding: SpoolEncoding;
      transport: Transport;
      /** The shard's piece of the export, uncompressed. */
      body: Uint8Array;
      /** The export as it arrived, when the piece is all of it and it came compressed (the spool keeps it so). */
      compressed?: { bytes: Uint8Array; compression: SpoolCompression };
    }
  | { id: number; op: 'replay' | 'tick' | 'metrics' | 'close' };

/** An accepted piece's answer without its durability, which a later 'durable' answer gives. */
export type PieceResult =
  | { ok: true; rejected: number; message: string }
  | { ok: false; reason: string; retryAfterMs: number; message: string };

export type ShardAnswer =
  | { id: 0; op: 'ready' }
  | { id: number; op: 'accepted'; result?: PieceResult; decodeError?: string; error?: string }
  | { id: number; op: 'durable'; error?: string }
  | { id: number; op: 'done'; value: ReplayTotals | boolean | MetricsJson | undefined };
