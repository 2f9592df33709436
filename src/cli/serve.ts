/** `n1lens serve`: the live collector. Parses flags, starts the server, and stops it cleanly on SIGTERM/SIGINT. */
import { Command } from 'commander';
import { startServer } from '../server/serve.js';
import { loadSchema } from '../suggest/schema.js';
import { addDetectorOptions, endpointDetectOptions, requestDetectOptions, wholeNumber, type DetectorCliOptions } from './detector-options.js';

interface ServeCliOptions extends DetectorCliOptions {
  host: string;
  httpPort: number;
  grpcPort: number;
  db: string;
  traceWaitMs: number;
  maxTraces: number;
  maxBodyMib: number;
  grpcMaxReceiveMib: number;
  schema?: string;
  record?: string;
}

const MIB = 1024 * 1024;

export function serveCommand(): Command {
  const command = new Command('serve')
    .description('Receive OTLP traces (HTTP :4318, gRPC :4317), find N+1 cascades live, keep them in SQLite')
    .option('--host <addr>', 'address to listen on (0.0.0.0 exposes it to the network)', '127.0.0.1')
    .option('--http-port <port>', 'OTLP/HTTP, API and /metrics port', wholeNumber('--http-port'), 4318)
    .option('--grpc-port <port>', 'OTLP/gRPC port', wholeNumber('--grpc-port'), 4317)
    .option('--db <file>', 'SQLite store', './n1lens.db')
    .option('--trace-wait-ms <ms>', 'analyse a trace once its root has ended and it was quiet this long', wholeNumber('--trace-wait-ms'), 2000)
    .option('--max-traces <n>', 'open traces buffered before exports are refused with 503/UNAVAILABLE', wholeNumber('--max-traces'), 50_000)
    .option('--max-body-mib <n>', 'OTLP/HTTP body limit after decompression', wholeNumber('--max-body-mib'), 20)
    .option('--grpc-max-receive-mib <n>', 'OTLP/gRPC message limit', wholeNumber('--grpc-max-receive-mib'), 4)
    .option('--schema <file>', 'schema file from `manage.py n1lens_schema`, for exact names')
    .option('--record <file>', 'append every accepted export as OTLP/JSON lines (replayable with n1-report)');
  return addDetectorOptions(command).action(async function (this: Command) {
      const o = this.opts<ServeCliOptions>();
      const schema = o.schema === undefined ? undefined : await loadSchema(o.schema);
      const server = await startServer({
        host: o.host,
        httpPort: o.httpPort,
        grpcPort: o.grpcPort,
        db: o.db,
        traceWaitMs: o.traceWaitMs,
        maxTraces: o.maxTraces,
        maxBodyBytes: o.maxBodyMib * MIB,
        grpcMaxReceiveBytes: o.grpcMaxReceiveMib * MIB,
        detect: requestDetectOptions(o),
        report: endpointDetectOptions(o),
        ...(schema === undefined ? {} : { schema }),
        ...(o.record === undefined ? {} : { recordPath: o.record }),
      });
      process.stderr.write(
        `n1lens serve: OTLP/HTTP http://${o.host}:${server.httpPort}/v1/traces · OTLP/gRPC ${o.host}:${server.grpcPort} · ` +
          `report http://${o.host}:${server.httpPort}/api/report · db ${o.db}\n`,
      );
      await new Promise<void>((resolve) => {
        const stop = (signal: string): void => {
          process.stderr.write(`n1lens serve: ${signal}: analysing buffered traces and closing\n`);
          void server.close().then(resolve);
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
    });
}
