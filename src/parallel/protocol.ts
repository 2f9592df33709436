/** The messages between n1-report's main thread and its shard workers (parallel/files.ts, parallel/worker.ts). */
import type { DetectOptions } from '../detect/request.js';
import type { RawUnit } from '../otlp/file.js';
import type { SqlFacts } from '../sql/types.js';
import type { KeyedAnalysis, ShardSpans } from './shard.js';

export interface WorkerSetup {
  shard: number;
  shards: number;
  /** Cloneable detection options; the schema is loaded from `schemaPath` in the worker. */
  detect: Omit<DetectOptions, 'links' | 'noiseFilter'>;
  schemaPath?: string;
}

/** A raw unit whose bytes sit on a SharedArrayBuffer every worker reads. */
export type SharedRawUnit = RawUnit<Uint8Array>;

/** The unit with its shared bytes seen as a Buffer (no copy). */
export function asBuffer(unit: SharedRawUnit): RawUnit {
  const bytes = Buffer.from(unit.bytes.buffer, unit.bytes.byteOffset, unit.bytes.byteLength);
  return unit.raw === 'protobuf' ? { ...unit, bytes } : { ...unit, bytes };
}

export type ToWorker =
  | { unit: number; raw: SharedRawUnit }
  | { unit: number; spans: ShardSpans }
  | { finish: true };

export type FromWorker =
  | { unit: number; packed: PackedKeyed }
  /** The unit did not decode: the main thread decodes it whole to report the exact error. */
  | { unit: number; failed: true }
  | { finished: PackedKeyed; lateSpans: number }
  | { fatal: string };

/**
 * A unit's keyed requests as they cross from a worker: most of an analysis is its statements' SQL
 * text and facts, the same request after request, so each string and facts object is sent once per
 * worker and then by index. The per-span timeline, which rollups do not read, is dropped.
 */
export interface PackedKeyed {
  keyed: KeyedAnalysis[];
  /** Strings and facts first sent with this message, appended to the receiver's tables in order. */
  sql: string[];
  facts: SqlFacts[];
}

/** The fields holding SQL text and facts, which travel as table indexes. */
interface WithSql {
  sql: string;
}
interface WithFacts {
  facts: SqlFacts;
}

export class AnalysisPacker {
  readonly #sql = new Map<string, number>();
  readonly #facts = new Map<SqlFacts, number>();

  pack(keyed: KeyedAnalysis[]): PackedKeyed {
    const sql: string[] = [];
    const facts: SqlFacts[] = [];
    const sqlRef = (x: WithSql): void => {
      let id = this.#sql.get(x.sql);
      if (id === undefined) {
        id = this.#sql.size;
        this.#sql.set(x.sql, id);
        sql.push(x.sql);
      }
      (x as unknown as { sql: number }).sql = id;
    };
    const factsRef = (x: WithFacts): void => {
      let id = this.#facts.get(x.facts);
      if (id === undefined) {
        id = this.#facts.size;
        this.#facts.set(x.facts, id);
        facts.push(x.facts);
      }
      (x as unknown as { facts: number }).facts = id;
    };
    for (const { analysis } of keyed) {
      analysis.timeline = [];
      for (const c of analysis.cascades) {
        sqlRef(c);
        factsRef(c);
        if (c.trigger !== null) sqlRef(c.trigger);
      }
      for (const u of analysis.uses) {
        sqlRef(u);
        factsRef(u);
      }
    }
    return { keyed, sql, facts };
  }
}

export class AnalysisUnpacker {
  readonly #sql: string[] = [];
  readonly #facts: SqlFacts[] = [];

  unpack(packed: PackedKeyed): KeyedAnalysis[] {
    this.#sql.push(...packed.sql);
    this.#facts.push(...packed.facts);
    const sql = (x: WithSql): void => {
      x.sql = this.#sql[x.sql as unknown as number]!;
    };
    const facts = (x: WithFacts): void => {
      x.facts = this.#facts[x.facts as unknown as number]!;
    };
    for (const { analysis } of packed.keyed) {
      for (const c of analysis.cascades) {
        sql(c);
        facts(c);
        if (c.trigger !== null) sql(c.trigger);
      }
      for (const u of analysis.uses) {
        sql(u);
        facts(u);
      }
    }
    return packed.keyed;
  }
}
