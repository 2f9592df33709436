/** Buffer's own string slicers for the decoders' hot paths: what toString(encoding, start, end) ends in, without its argument checks. */

type Slice = (this: Buffer, start: number, end: number) => string;

/** UTF-8; invalid bytes become U+FFFD. Called as `utf8Slice.call(buffer, start, end)`. */
export const utf8Slice: Slice =
  (Buffer.prototype as unknown as { utf8Slice?: Slice }).utf8Slice ??
  function (this: Buffer, start: number, end: number): string {
    return this.toString('utf8', start, end);
  };

/** One character per byte (ASCII text such as hex digits and numbers). */
export const latin1Slice: Slice =
  (Buffer.prototype as unknown as { latin1Slice?: Slice }).latin1Slice ??
  function (this: Buffer, start: number, end: number): string {
    return this.toString('latin1', start, end);
  };
