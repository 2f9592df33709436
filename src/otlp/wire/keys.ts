/**
 * The attribute keys the wire decoder reads (to-span.ts's folded keys, the resource keys, and the
 * location keys), each with a code, matched against the raw key bytes four bytes at a time.
 */
import { LOCATION_KEYS } from '../location.js';

export const K_HTTP_METHOD_STABLE = 0;
export const K_HTTP_METHOD_OLD = 1;
export const K_HTTP_ROUTE = 2;
export const K_DB_SYSTEM_STABLE = 3;
export const K_DB_SYSTEM_OLD = 4;
export const K_DB_STATEMENT_STABLE = 5;
export const K_DB_STATEMENT_OLD = 6;
export const K_MESSAGING_SYSTEM = 7;
export const K_RPC_SYSTEM = 8;
/** The four peer sources, best first: their codes are consecutive (rank = code - K_SERVER_ADDRESS + 1). */
export const K_SERVER_ADDRESS = 9;
export const K_NET_PEER_NAME = 10;
export const K_URL_FULL = 11;
export const K_HTTP_URL = 12;
export const K_SERVICE_NAME = 13;
/** The three client-address sources, best first (rank = code - K_CLIENT_ADDRESS + 1). */
export const K_CLIENT_ADDRESS = 14;
export const K_HTTP_CLIENT_IP = 15;
export const K_NET_PEER_IP = 16;
export const K_USER_AGENT_STABLE = 17;
export const K_USER_AGENT_OLD = 18;
export const K_SERVICE_INSTANCE_ID = 19;
export const K_HOST_NAME = 20;
export const K_PROCESS_PID = 21;
export const K_URL_PATH = 22;
export const K_HTTP_TARGET_OLD = 23;
/** code.* and n1lens.* location keys: K_LOCATION + their otlp/location.ts slot. */
export const K_LOCATION = 32;

const KEYS: readonly (readonly [string, number])[] = [
  ['http.request.method', K_HTTP_METHOD_STABLE],
  ['http.method', K_HTTP_METHOD_OLD],
  ['http.route', K_HTTP_ROUTE],
  ['db.system.name', K_DB_SYSTEM_STABLE],
  ['db.system', K_DB_SYSTEM_OLD],
  ['db.query.text', K_DB_STATEMENT_STABLE],
  ['db.statement', K_DB_STATEMENT_OLD],
  ['messaging.system', K_MESSAGING_SYSTEM],
  ['rpc.system', K_RPC_SYSTEM],
  ['server.address', K_SERVER_ADDRESS],
  ['net.peer.name', K_NET_PEER_NAME],
  ['url.full', K_URL_FULL],
  ['http.url', K_HTTP_URL],
  ['service.name', K_SERVICE_NAME],
  ['client.address', K_CLIENT_ADDRESS],
  ['http.client_ip', K_HTTP_CLIENT_IP],
  ['net.peer.ip', K_NET_PEER_IP],
  ['user_agent.original', K_USER_AGENT_STABLE],
  ['http.user_agent', K_USER_AGENT_OLD],
  ['service.instance.id', K_SERVICE_INSTANCE_ID],
  ['host.name', K_HOST_NAME],
  ['process.pid', K_PROCESS_PID],
  ['url.path', K_URL_PATH],
  ['http.target', K_HTTP_TARGET_OLD],
  ...LOCATION_KEYS.map((key, slot) => [key, K_LOCATION + slot] as const),
];
const MAX_KEY = 28;
/** 32-bit words per key in KEY_WORD_TABLE: MAX_KEY bytes. */
const KEY_WORDS_EACH = MAX_KEY / 4;
/**
 * The keys as little-endian 32-bit words (the last word zero-padded), grouped by length: KEY_WORDS
 * holds each key's words, KEY_CODE its code, KEY_AT[n]..KEY_AT[n + 1] the keys of length n.
 */
const KEY_AT = new Int32Array(MAX_KEY + 2);
const KEY_CODE: number[] = [];
const KEY_WORDS: number[] = [];
{
  const sorted = [...KEYS].sort((a, b) => a[0].length - b[0].length);
  let k = 0;
  for (let n = 0; n <= MAX_KEY + 1; n++) {
    KEY_AT[n] = k;
    while (k < sorted.length && sorted[k]![0].length === n) {
      const bytes = Buffer.alloc(MAX_KEY);
      bytes.write(sorted[k]![0], 'latin1');
      for (let w = 0; w < KEY_WORDS_EACH; w++) KEY_WORDS.push(bytes.readInt32LE(w * 4));
      KEY_CODE.push(sorted[k]![1]);
      k++;
    }
  }
}
const KEY_WORD_TABLE = Int32Array.from(KEY_WORDS);

/** The little-endian 32-bit word of b at p (signed). */
function word(b: Buffer, p: number): number {
  return b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24);
}

/** The code of the key in b[start, end), or -1 when n1lens does not read it. */
export function keyCode(b: Buffer, start: number, end: number): number {
  const n = end - start;
  if (n > MAX_KEY || n < 4) return -1;
  const first = word(b, start);
  // The last word, from the key's own bytes, masked to the bytes that belong to it.
  const tailAt = (n - 1) & ~3;
  const tailBytes = n - tailAt;
  let tail = b[start + tailAt]!;
  if (tailBytes > 1) tail |= b[start + tailAt + 1]! << 8;
  if (tailBytes > 2) tail |= b[start + tailAt + 2]! << 16;
  if (tailBytes > 3) tail |= b[start + tailAt + 3]! << 24;
  const words = KEY_WORD_TABLE;
  for (let k = KEY_AT[n]!; k < KEY_AT[n + 1]!; k++) {
    const base = k * KEY_WORDS_EACH;
    if (words[base] !== first || words[base + (tailAt >> 2)] !== tail) continue;
    let w = 1;
    while (w < tailAt >> 2 && words[base + w] === word(b, start + w * 4)) w++;
    if (w >= tailAt >> 2) return KEY_CODE[k]!;
  }
  return -1;
}
