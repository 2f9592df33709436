/** The benchmarks' one reader of a recorded file: its length-prefixed OTLP protobuf messages, in order, as views of it. */
export function framedMessages(file) {
  const messages = [];
  for (let at = 0; at + 4 <= file.length; ) {
    const n = file.readUInt32BE(at);
    messages.push(file.subarray(at + 4, at + 4 + n));
    at += 4 + n;
  }
  return messages;
}
