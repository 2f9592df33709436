/** Errors the otlp stage throws: one for an undecodable payload, one for a bad saved trace file. */

/** A request body (protobuf or JSON) that is not a valid ExportTraceServiceRequest. */
export class OtlpDecodeError extends Error {
  override readonly name = 'OtlpDecodeError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Where in a trace file a problem is: a 1-based line (JSON) or a 0-based byte offset (protobuf). */
export interface TraceFilePosition {
  line?: number;
  byte?: number;
}

/**
 * A saved trace file that cannot be read: the message starts with the file name and says what is
 * wrong and where, e.g. `samples/x.jsonl: line 3: invalid JSON (Unexpected end of JSON input)`.
 */
export class TraceFileError extends Error {
  override readonly name = 'TraceFileError';
  readonly file: string;
  readonly line: number | undefined;
  readonly byte: number | undefined;

  constructor(file: string, detail: string, position: TraceFilePosition = {}, options?: { cause?: unknown }) {
    super(`${file}: ${position.line === undefined ? '' : `line ${position.line}: `}${detail}`, options);
    this.file = file;
    this.line = position.line;
    this.byte = position.byte;
  }
}
