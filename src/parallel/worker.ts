/** A shard worker of n1-report --jobs: analyses its shard of every unit the main thread posts and returns the keyed requests. */
import { parentPort, workerData } from 'node:worker_threads';
import { ShardAnalysis, shardUnit } from './shard.js';
import { AnalysisPacker, asBuffer, type FromWorker, type ToWorker, type WorkerSetup } from './protocol.js';
import type { DetectOptions } from '../detect/request.js';
import { createUnitDecoders } from '../otlp/file.js';

const setup = workerData as WorkerSetup;
const port = parentPort!;
const post = (message: FromWorker): void => port.postMessage(message);


async function main(): Promise<void> {
  // suggest/ is loaded only when there is a schema: it is the largest import, and a worker's start-up is paid per run.
  const links = setup.schemaPath === undefined ? undefined : await schemaLinks(setup.schemaPath);
  const analysis = new ShardAnalysis({ ...setup.detect, ...(links === undefined ? {} : { links }) }, setup.shards);
  const decoders = createUnitDecoders();
  const packer = new AnalysisPacker();
  // Messages posted while the schema loaded wait in the port's queue until this listener starts it.
  port.on('message', (message: ToWorker) => {
    try {
      if ('finish' in message) {
        post({ finished: packer.pack(analysis.finish()), lateSpans: analysis.analyzer.assembler.counters.lateSpans });
        return;
      }
      if ('spans' in message) {
        post({ unit: message.unit, packed: packer.pack(analysis.add(message.spans)) });
        return;
      }
      const unit = asBuffer(message.raw);
      let spans;
      try {
        spans = shardUnit(unit, decoders, setup.shard, setup.shards);
      } catch {
        post({ unit: message.unit, failed: true });
        return;
      }
      post({ unit: message.unit, packed: packer.pack(analysis.add(spans)) });
    } catch (error) {
      post({ fatal: (error as Error).stack ?? String(error) });
    }
  });
}

async function schemaLinks(path: string): Promise<DetectOptions['links']> {
  const { loadSchema, schemaNaming } = await import('../suggest/index.js');
  return schemaNaming(await loadSchema(path));
}

main().catch((error: unknown) => post({ fatal: (error as Error).stack ?? String(error) }));
