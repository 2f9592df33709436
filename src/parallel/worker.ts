/** A shard worker of n1-report --jobs: reads every file itself, analyses its shard of the traces and posts its rollups. */
import { parentPort, workerData } from 'node:worker_threads';
import { ShardAnalysis } from './shard.js';
import { errorData, type FromWorker, type WorkerSetup } from './protocol.js';
import type { DetectOptions } from '../detect/request.js';
import { createUnitDecoders, decodeUnit, isRawUnit, readTraceUnits, type TraceUnit } from '../otlp/file.js';

const setup = workerData as WorkerSetup;
const port = parentPort!;
const post = (message: FromWorker): void => port.postMessage(message);

async function main(): Promise<void> {
  // suggest/ is loaded only when there is a schema: it is the largest import, and a worker's start-up is paid per run.
  const links = setup.schemaPath === undefined ? undefined : await schemaLinks(setup.schemaPath);
  const analysis = new ShardAnalysis({ ...setup.detect, ...(links === undefined ? {} : { links }) }, setup.shard, setup.shards);
  let unit = 0;
  try {
    for (const file of setup.files) {
      const decoders = createUnitDecoders();
      for await (const next of readTraceUnits(file)) {
        try {
          analysis.addUnit(next, decoders);
        } catch (error) {
          post({ failed: { unit, error: errorData(wholeUnitError(next, error)) } });
          return;
        }
        unit++;
      }
    }
  } catch (error) {
    // A reading error comes after every unit already read.
    post({ failed: { unit, error: errorData(error) } });
    return;
  }
  post({ done: analysis.finish() });
}

/** The error --jobs 1 reports for a unit this shard could not decode: the unit decoded whole, as it is there. */
function wholeUnitError(unit: TraceUnit, shardError: unknown): unknown {
  if (!isRawUnit(unit)) return shardError;
  try {
    decodeUnit(unit, createUnitDecoders());
  } catch (error) {
    return error;
  }
  return shardError;
}

async function schemaLinks(path: string): Promise<DetectOptions['links']> {
  const { loadSchema, schemaNaming } = await import('../suggest/index.js');
  return schemaNaming(await loadSchema(path));
}

main().catch((error: unknown) => post({ fatal: (error as Error).stack ?? String(error) }));
