/**
 * One shard thread of `serve --workers N` (shards.ts): a whole Intake (admission, spool, open
 * traces, analysis, store writes) for the traces whose id falls to this shard, fed the pieces of
 * each export that the serving thread split out for it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { OtlpDecodeError } from '../otlp/errors.js';
import { Spool } from '../spool/index.js';
import { openStore } from '../store/open.js';
import { schemaNaming } from '../suggest/naming.js';
import { Intake, type AcceptResult } from './intake.js';
import { createMetrics } from './metrics.js';
import type { ShardAnswer, ShardCall, ShardThreadData } from './shard-protocol.js';
import { warmUpIntake } from './warm-up.js';

const data = workerData as ShardThreadData;
const port = parentPort!;
const store = await openStore(data.db, { writerThread: data.storeWriterThread });
const spool = data.spool === undefined ? undefined : Spool.open(data.spool);
const metrics = createMetrics();
const settings = { ...data.intake, ...(data.schema === undefined ? {} : { links: schemaNaming(data.schema) }) };
if (data.warmUp !== undefined) await warmUpIntake(settings, data.warmUp, spool !== undefined).catch(() => undefined);
const intake = new Intake({ ...settings, store, metrics, ...(spool === undefined ? {} : { spool }) });
const openTraces = new Int32Array(data.openTraces);
const publish = (): void => void Atomics.store(openTraces, data.index, intake.openTraces);
// The serving thread's /healthz reads every shard's count without asking.
setInterval(publish, 100).unref();

const answer = (a: ShardAnswer): void => port.postMessage(a);
/** A cloned Buffer arrives as a plain Uint8Array. */
const asBuffer = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

/** One piece of an export through this shard's intake; its durability is answered separately, when the spool has it. */
async function accept(call: Extract<ShardCall, { op: 'accept' }>): Promise<void> {
  let result: AcceptResult;
  try {
    const body = asBuffer(call.body);
    const compressed = call.compressed === undefined ? undefined : { bytes: asBuffer(call.compressed.bytes), compression: call.compressed.compression };
    result = call.encoding === 'protobuf' ? await intake.acceptProtobuf(body, call.transport, undefined, compressed) : await intake.acceptJson(body, call.transport, undefined, compressed);
  } catch (e) {
    answer({ id: call.id, op: 'accepted', ...(e instanceof OtlpDecodeError ? { decodeError: e.message } : { error: (e as Error).message ?? String(e) }) });
    return;
  } finally {
    publish();
  }
  if (!result.ok) {
    answer({ id: call.id, op: 'accepted', result });
    return;
  }
  answer({ id: call.id, op: 'accepted', result: { ok: true, rejected: result.rejected, message: result.message } });
  result.durable.then(
    () => answer({ id: call.id, op: 'durable' }),
    (e: unknown) => answer({ id: call.id, op: 'durable', error: (e as Error).message ?? String(e) }),
  );
}

port.on('message', (call: ShardCall) => {
  switch (call.op) {
    case 'accept':
      void accept(call);
      return;
    case 'replay':
      void intake.replay().then((totals) => {
        publish();
        answer({ id: call.id, op: 'done', value: totals });
      });
      return;
    case 'tick':
      void intake.tick().then((value) => {
        publish();
        answer({ id: call.id, op: 'done', value });
      });
      return;
    case 'metrics':
      void metrics.registry.getMetricsAsJSON().then((value) => answer({ id: call.id, op: 'done', value }));
      return;
    case 'close':
      void (async () => {
        await intake.close();
        await store.close();
        publish();
        answer({ id: call.id, op: 'done', value: undefined });
        port.close();
      })();
      return;
  }
});
answer({ id: 0, op: 'ready' });
