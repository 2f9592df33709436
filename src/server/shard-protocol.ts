/** The messages between the serving thread and its shard threads (`serve --workers N`): calls by id, each answered once. */
import type { SpoolEncoding } from '../spool/index.js';
import type { DjangoSchema } from '../suggest/schema.js';
import type { IntakeOptions, ReplayTotals, Transport } from './intake.js';
import type { MetricsJson } from './metrics.js';
import type { WarmUpPlan } from './warm-up.js';

/** What a shard's analysis is set up with, as it crosses threads (the schema, not the naming built from it). */
export type ShardAnalysisSettings = Pick<IntakeOptions, 'traceWaitMs' | 'traceSettleMs' | 'maxTraceAgeMs' | 'maxGrowingTraceAgeMs' | 'maxGrowingTracePauseMs' | 'minRepeats' | 'fanoutMinCalls' | 'fanoutMinShare' | 'ignoreSql'>;

/** A shard's share of the server's admission limits. */
export type ShardLimits = Pick<IntakeOptions, 'maxOpenTraces' | 'maxBufferBytes' | 'memoryLimitBytes' | 'replayWaitMs'>;

export interface ShardThreadData {
  index: number;
  db: string;
  storeWriterThread: boolean;
  analysis: ShardAnalysisSettings;
  limits: ShardLimits;
  schema?: DjangoSchema;
  /** The serving thread spools each export: pieces are pinned to its segments (shard-spool.ts). */
  spooled: boolean;
  warmUp?: WarmUpPlan;
  /** An Int32Array of one open-trace count per shard, each written by its shard. */
  openTraces: SharedArrayBuffer;
  /**
   * An Int32Array of one value per shard, each written by its shard: 0, or while the shard is past its
   * memory limit with traces open (Intake.pastMemory), its buffer's fullness in thousandths (at least 1).
   */
  pastMemory: SharedArrayBuffer;
}

/** Accepted piece `piece`'s export is in spool segment `segment` (undefined: it was refused after all). */
export type Settle = [piece: number, segment: number | undefined];

/** Any call may carry the settles waiting for its shard: one message, one wake-up, instead of one each. */
export type ShardCall = ShardOp & { settles?: Settle[] };

type ShardOp =
  | {
      id: number;
      op: 'accept';
      encoding: SpoolEncoding;
      transport: Transport;
      /** The shard's piece of the export, uncompressed. */
      body: Uint8Array;
      /** The serving thread's spool has no room for the export. */
      spoolFull: boolean;
    }
  /** Only settles (none of the other calls came soon enough to carry them). */
  | { id: number; op: 'settle' }
  /** Another shard refused an export: hold this shard's traces for its retry (Intake.holdForRetry). */
  | { id: number; op: 'hold'; retryAfterMs: number }
  | { id: number; op: 'replayPiece'; segment: number; encoding: SpoolEncoding; body: Uint8Array }
  /** The serving thread's spool's oldest segment changed (ShardSpool.spoolFloor). */
  | { id: 0; op: 'spoolFloor'; oldestSegmentMs: number }
  /** The answer to the shard's copyApart `request` (CopiedApart: on disk already). */
  | { id: 0; op: 'copiedApart'; request: number; from: number[]; segment?: number }
  /** Some shard's replay brought traces back: hold every trace for the senders' retries (Intake.holdAfterReplay). */
  | { id: number; op: 'replayStart' | 'replayEnd' | 'holdAfterReplay' | 'tick' | 'metrics' | 'close' };

/** An accepted piece's answer. */
export type PieceResult =
  | { ok: true; accepted: number; rejected: number; message: string }
  | { ok: false; reason: string; retryAfterMs: number; message: string; heldQueue?: boolean };

export type ShardAnswer =
  | { id: 0; op: 'ready' }
  | { id: number; op: 'accepted'; result?: PieceResult; decodeError?: string; error?: string }
  /** The shard no longer needs these pieces of `segment` (ShardSpool). */
  | { id: 0; op: 'giveBack'; segment: number; pieces: number }
  /** Copy these traces' spans in `segments` apart (server/spool-compaction.ts); answered by `copiedApart`. */
  | { id: 0; op: 'copyApart'; request: number; segments: number[]; traceIds: string[] }
  | { id: number; op: 'done'; value: ShardReplayed | ReplayTotals | boolean | MetricsJson | undefined };

/** A shard's replay: its totals, and how many traces it opened again. */
export type ShardReplayed = ReplayTotals & { reopened: number };
