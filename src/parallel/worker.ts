/** A shard worker of n1-report --jobs: reads every file itself, decodes its share of the units for every shard, analyses its shard of the traces and posts its rollups. */
import { parentPort, workerData } from 'node:worker_threads';
import { Peers } from './exchange.js';
import { analyseShard, ShardAnalysis } from './shard.js';
import type { FromWorker, WorkerSetup } from './protocol.js';
import type { DetectOptions } from '../detect/request.js';

const setup = workerData as WorkerSetup;
const port = parentPort!;
const post = (message: FromWorker): void => port.postMessage(message);

async function main(): Promise<void> {
  // suggest/ is loaded only when there is a schema: it is the largest import, and a worker's start-up is paid per run.
  const links = setup.schemaPath === undefined ? undefined : await schemaLinks(setup.schemaPath);
  const detect = { ...setup.detect, ...(links === undefined ? {} : { links }) };
  post(await analyseShard(setup.files, new ShardAnalysis(detect, setup.shard, setup.shards, setup.openBytes), new Peers(setup.peers), setup.reading));
}

async function schemaLinks(path: string): Promise<DetectOptions['links']> {
  const { loadSchema, schemaNaming } = await import('../suggest/index.js');
  return schemaNaming(await loadSchema(path));
}

main().catch((error: unknown) => post({ fatal: (error as Error).stack ?? String(error) }));
