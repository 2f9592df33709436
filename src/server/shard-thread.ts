/**
 * One shard thread of `serve --workers N` (shards.ts): a whole Intake (admission, open traces,
 * analysis, store writes over its own connection) for the traces whose id falls to this shard, fed
 * the pieces of each export that the serving thread split out for it and spools.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { OtlpDecodeError } from '../otlp/errors.js';
import { openStore } from '../store/open.js';
import { schemaNaming } from '../suggest/naming.js';
import { Intake, type AcceptResult, type ReplaySession } from './intake.js';
import { createMetrics } from './metrics.js';
import type { ShardAnswer, ShardCall, ShardThreadData } from './shard-protocol.js';
import { ShardSpool } from './shard-spool.js';
import { warmUpIntake } from './warm-up.js';

const data = workerData as ShardThreadData;
const port = parentPort!;
const answer = (a: ShardAnswer): void => port.postMessage(a);
/** A cloned Buffer arrives as a plain Uint8Array. */
const asBuffer = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

const store = await openStore(data.db, { writerThread: data.storeWriterThread });
const metrics = createMetrics();
// As the serving thread of one intake does at start; each write refreshes it.
metrics.findings.set(await store.findingCount());
const spool = data.spooled
  ? new ShardSpool({
      giveBack: (segment, pieces) => answer({ id: 0, op: 'giveBack', segment, pieces }),
      copyApart: (request, segments, traceIds) => answer({ id: 0, op: 'copyApart', request, segments, traceIds }),
    })
  : undefined;
const analysis = { ...data.analysis, ...(data.schema === undefined ? {} : { links: schemaNaming(data.schema) }) };
// The analysis settings only (the shard's share of --max-traces may be below what the warm-up sends),
// noting committed traces as the shard does.
if (data.warmUp !== undefined) await warmUpIntake({ ...analysis, trackCommitted: true }, data.warmUp).catch(() => undefined);
// Committed traces are noted even without a spool: a piece may be taken while another shard refuses its export, which then comes again.
const intake = new Intake({
  ...analysis, ...data.limits, store, metrics, trackCommitted: true,
  ...(spool === undefined ? {} : { spool, copyApart: (segments, traceIds) => spool.copyApart(segments, traceIds) }),
});
const openTraces = new Int32Array(data.openTraces);
const pastMemory = new Int32Array(data.pastMemory);
const publish = (): void => void Atomics.store(openTraces, data.index, intake.openTraces);
/** Measured on every round, not only when a piece comes: the serving thread refuses exports at their headers while this says so. */
const publishMemory = (): void => {
  const full = intake.pastMemory();
  Atomics.store(pastMemory, data.index, full === undefined ? 0 : Math.max(1, Math.round(full * 1000)));
};
// The serving thread's /healthz reads every shard's count without asking, and its edges this shard's memory.
setInterval(() => {
  publish();
  publishMemory();
}, 100).unref();
let replay: ReplaySession | undefined;

/** One piece of an export through this shard's intake; the serving thread spools the export once every shard took its piece. */
async function accept(call: Extract<ShardCall, { op: 'accept' }>): Promise<void> {
  let result: AcceptResult;
  const body = asBuffer(call.body);
  const spooled = spool === undefined ? undefined : { pending: -call.id, full: call.spoolFull };
  try {
    result = call.encoding === 'protobuf' ? await intake.acceptProtobuf(body, call.transport, undefined, undefined, spooled) : await intake.acceptJson(body, call.transport, undefined, undefined, spooled);
  } catch (e) {
    answer({ id: call.id, op: 'accepted', ...(e instanceof OtlpDecodeError ? { decodeError: e.message } : { error: (e as Error).message ?? String(e) }) });
    return;
  } finally {
    publish();
  }
  answer({ id: call.id, op: 'accepted', result: result.ok ? { ok: true, accepted: result.accepted, rejected: result.rejected, message: result.message } : result });
}

/** Runs `work` and answers call `id` with its value. */
function run(id: number, work: () => Promise<Extract<ShardAnswer, { op: 'done' }>['value']>): void {
  void work().then((value) => {
    publish();
    answer({ id, op: 'done', value });
  });
}

port.on('message', (call: ShardCall) => {
  for (const [piece, segment] of call.settles ?? []) {
    if (segment !== undefined) spool?.took(segment);
    intake.settleSpooled(-piece, segment);
  }
  switch (call.op) {
    case 'accept':
      void accept(call);
      return;
    case 'settle':
      return;
    case 'copiedApart':
      spool?.copied(call.request, call.from, call.segment);
      return;
    case 'spoolFloor':
      spool?.spoolFloor(call.oldestSegmentMs);
      return;
    case 'hold':
      intake.holdForRetry(call.retryAfterMs);
      return;
    case 'replayStart':
      replay = intake.startReplay();
      return;
    case 'replayPiece':
      spool?.took(call.segment);
      run(call.id, () => replay!.add({ segment: call.segment, encoding: call.encoding, body: asBuffer(call.body) }));
      return;
    case 'replayEnd':
      run(call.id, async () => {
        const totals = { ...(replay?.finish() ?? { exports: 0, spans: 0, skipped: 0 }), reopened: replay?.reopened ?? 0 };
        replay = undefined;
        return totals;
      });
      return;
    case 'holdAfterReplay':
      intake.holdAfterReplay();
      return;
    case 'tick':
      run(call.id, () => intake.tick());
      return;
    case 'metrics':
      run(call.id, () => metrics.registry.getMetricsAsJSON());
      return;
    case 'close':
      run(call.id, async () => {
        await intake.close();
        await store.close();
        return undefined;
      });
      return;
  }
});
answer({ id: 0, op: 'ready' });
