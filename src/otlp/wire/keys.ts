/**
 * The attribute keys the wire decoder reads (to-span.ts's folded keys, the resource keys, and the
 * location keys), each with a code, matched against the raw key bytes four bytes at a time.
 */
import { LOCATION_KEYS } from '../location.js';
import { wordAt } from '../memo.js';

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
export const K_HTTP_STATUS_STABLE = 24;
export const K_HTTP_STATUS_OLD = 25;
/** code.* and n1lens.* location keys: K_LOCATION + their otlp/location.ts slot. */
export const K_LOCATION = 32;

/** Every key the wire decoder reads, with its code. */
export const KEYS: readonly (readonly [string, number])[] = [
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
  ['http.response.status_code', K_HTTP_STATUS_STABLE],
  ['http.status_code', K_HTTP_STATUS_OLD],
  ...LOCATION_KEYS.map((key, slot) => [key, K_LOCATION + slot] as const),
];
const MAX_KEY = 28;
/** 32-bit words per key in KEY_WORD_TABLE: MAX_KEY bytes. */
const KEY_WORDS_EACH = MAX_KEY / 4;
/**
 * The keys as little-endian 32-bit words (the last word zero-padded) in KEY_WORD_TABLE, KEY_CODE
 * their codes. A key is looked up by its length and one byte: KEY_PROBE[n] is the position, among
 * keys of length n, whose byte tells them apart best (-1: no key that long); KEY_FIRST[n × 256 + that
 * byte] the first candidate (-1: none), KEY_NEXT the next one with the same length and byte. So a key
 * n1lens does not read is usually refused without reading more than that byte.
 */
const KEY_PROBE = new Int32Array(MAX_KEY + 1).fill(-1);
const KEY_FIRST = new Int32Array((MAX_KEY + 1) * 256).fill(-1);
const KEY_NEXT: number[] = [];
const KEY_CODE: number[] = [];
const KEY_WORDS: number[] = [];
for (let n = 4; n <= MAX_KEY; n++) {
  const ofLength = KEYS.filter(([key]) => key.length === n);
  if (ofLength.length === 0) continue;
  // The position whose byte splits the keys of this length into the most groups.
  let probe = 0;
  let groups = 0;
  for (let p = n - 1; p >= 0; p--) {
    const distinct = new Set(ofLength.map(([key]) => key.charCodeAt(p))).size;
    if (distinct > groups) {
      probe = p;
      groups = distinct;
    }
  }
  KEY_PROBE[n] = probe;
  for (const [key, code] of ofLength) {
    const k = KEY_CODE.length;
    const bytes = Buffer.alloc(MAX_KEY);
    bytes.write(key, 'latin1');
    for (let w = 0; w < KEY_WORDS_EACH; w++) KEY_WORDS.push(bytes.readInt32LE(w * 4));
    KEY_CODE.push(code);
    const bucket = n * 256 + key.charCodeAt(probe);
    KEY_NEXT.push(KEY_FIRST[bucket]!);
    KEY_FIRST[bucket] = k;
  }
}
const KEY_WORD_TABLE = Int32Array.from(KEY_WORDS);

/** The code of the key in b[start, end), or -1 when n1lens does not read it. */
export function keyCode(b: Buffer, start: number, end: number): number {
  const n = end - start;
  if (n > MAX_KEY || n < 4) return -1;
  const probe = KEY_PROBE[n]!;
  if (probe < 0) return -1;
  let k = KEY_FIRST[n * 256 + b[start + probe]!]!;
  if (k < 0) return -1;
  // The whole words, then the last one masked to the bytes that belong to the key.
  const tailAt = (n - 1) & ~3;
  let tail = b[start + tailAt]!;
  if (n - tailAt > 1) tail |= b[start + tailAt + 1]! << 8;
  if (n - tailAt > 2) tail |= b[start + tailAt + 2]! << 16;
  if (n - tailAt > 3) tail |= b[start + tailAt + 3]! << 24;
  const words = KEY_WORD_TABLE;
  do {
    const base = k * KEY_WORDS_EACH;
    let w = 0;
    while (w < tailAt >> 2 && words[base + w] === wordAt(b, start + w * 4)) w++;
    if (w === tailAt >> 2 && words[base + w] === tail) return KEY_CODE[k]!;
    k = KEY_NEXT[k]!;
  } while (k >= 0);
  return -1;
}
