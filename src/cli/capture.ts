/**
 * `n1lens capture [--out FILE] -- <command…>`: runs any test command with its OpenTelemetry SDK
 * pointed at an in-process OTLP receiver (HTTP and gRPC, ephemeral loopback ports), records what it
 * exports, then prints the report. The exit status is the command's failure, else the report's.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Command, Option } from 'commander';
import { startServer } from '../server/serve.js';
import { milliseconds } from './detector-options.js';
import { CliError, EXIT } from './errors.js';
import { fileError } from './output-files.js';
import { addReportOptions, checkReportOutputs, resolveReportOptions, runReport, type ReportCliOptions } from './report.js';

export type CaptureProtocol = 'http/protobuf' | 'grpc';

export interface CaptureOptions {
  out: string;
  protocol: CaptureProtocol;
  /** Quiet time after the command exits before the recording is closed (late exports, child processes). */
  settleMs: number;
}

const MIB = 1024 * 1024;

/** Exporter settings that would send the command's spans elsewhere. */
const OVERRIDDEN = ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_SDK_DISABLED'];

const size = (file: string): number => {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
};

/** Waits until the recording has not grown for `quietMs` (at most ten times that). */
async function settle(file: string, quietMs: number): Promise<void> {
  const step = Math.max(25, Math.floor(quietMs / 4));
  let last = size(file);
  let quiet = 0;
  for (let waited = 0; quiet < quietMs && waited < quietMs * 10; waited += step) {
    await new Promise((r) => setTimeout(r, step));
    const now = size(file);
    quiet = now === last ? quiet + step : 0;
    last = now;
  }
}

function runCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit', env });
    child.once('error', (e: NodeJS.ErrnoException) =>
      reject(new CliError(e.code === 'ENOENT' ? `${argv[0]}: command not found` : `${argv[0]}: ${e.message}`)),
    );
    // As a shell reports it: 128 + the signal's number (143 for SIGTERM, 137 for SIGKILL).
    child.once('exit', (code, signal) => resolve(code ?? (signal === null ? 1 : 128 + (constants.signals[signal] ?? 0))));
  });
}

/** Runs the command under the receiver, writes the recording, prints the report; returns the exit code. */
export async function runCapture(argv: string[], capture: CaptureOptions, report: ReportCliOptions): Promise<number> {
  if (argv.length === 0) throw new CliError('nothing to run: n1lens capture [--out FILE] -- <command …>');
  // Before the command, which may be a long test suite: a typo in --baseline or an output it cannot
  // write must not cost a whole run thrown away.
  checkReportOutputs(report);
  try {
    mkdirSync(dirname(capture.out), { recursive: true });
    writeFileSync(capture.out, '');
  } catch (error) {
    throw fileError(error, capture.out, 'cannot write the recording');
  }
  const work = mkdtempSync(join(tmpdir(), 'n1lens-capture-'));
  const server = await startServer({
    host: '127.0.0.1',
    httpPort: 0,
    grpcPort: 0,
    db: join(work, 'capture.db'),
    traceWaitMs: 500,
    maxTraces: 50_000,
    maxBodyBytes: 64 * MIB,
    grpcMaxReceiveBytes: 64 * MIB,
    recordPath: capture.out,
  });
  let commandCode: number;
  try {
    const port = capture.protocol === 'grpc' ? server.grpcPort : server.httpPort;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_PROTOCOL: capture.protocol,
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
    };
    for (const key of OVERRIDDEN) delete env[key];
    process.stderr.write(`n1lens capture: OTLP ${capture.protocol} on 127.0.0.1:${port}, recording to ${capture.out}\n`);
    commandCode = await runCommand(argv, env);
    await settle(capture.out, capture.settleMs);
  } finally {
    await server.close();
    rmSync(work, { recursive: true, force: true });
  }
  if (size(capture.out) === 0) {
    process.stderr.write(
      `n1lens capture: ${argv[0]} exported no spans: set up the OpenTelemetry SDK with the OTLP exporter in it (it reads OTEL_EXPORTER_OTLP_ENDPOINT)\n`,
    );
    return commandCode !== 0 ? commandCode : EXIT.usage;
  }
  // capture reads its own recording, never --from: it has none of the pull flags.
  const reportCode = await runReport([capture.out], report, 'n1lens capture');
  if (commandCode !== 0) process.stderr.write(`n1lens capture: ${argv[0]} exited with status ${commandCode}\n`);
  return commandCode !== 0 ? commandCode : reportCode;
}

export function captureCommand(): Command {
  const command = new Command('capture')
    .description('Run a command (a test suite) with its OTLP exporter pointed at n1lens, then report; e.g. n1lens capture -- python manage.py test')
    .argument('<command...>', 'the command and its arguments, after --')
    .option('-o, --out <file>', 'where the recording is written (OTLP JSON lines, readable by n1-report)', '.n1lens/capture.jsonl')
    .addOption(new Option('--protocol <protocol>', 'OTEL_EXPORTER_OTLP_PROTOCOL given to the command').choices(['http/protobuf', 'grpc']).default('http/protobuf'))
    .option('--settle-ms <ms>', 'wait this long without new exports after the command ends', milliseconds('--settle-ms'), 500);
  addReportOptions(command);
  return command.action(async function (this: Command, argv: string[]) {
    // The config file first: capture's own flags (out, protocol, settle-ms) are keys of it too.
    const report = resolveReportOptions(this);
    const o = this.opts<{ out: string; protocol: CaptureProtocol; settleMs: number }>();
    process.exitCode = await runCapture(argv, { out: o.out, protocol: o.protocol, settleMs: o.settleMs }, report);
  });
}
