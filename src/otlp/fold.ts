/**
 * The byte decoders' attribute fold: which span attributes n1lens reads, by key code (wire/keys.ts),
 * and which source wins when a span has several (a stable name beats an old one, the best-ranked
 * peer and client sources win) — to-span.ts's rules, shared by the protobuf and the JSON-lines reader.
 */
import { newLocationParts } from './location.js';
import { emptyFolded, urlHost, type FoldedFields } from './to-span.js';
import {
  K_CLIENT_ADDRESS, K_DB_STATEMENT_OLD, K_DB_STATEMENT_STABLE, K_DB_SYSTEM_OLD, K_DB_SYSTEM_STABLE, K_HTTP_CLIENT_IP,
  K_HTTP_METHOD_OLD, K_HTTP_METHOD_STABLE, K_HTTP_ROUTE, K_HTTP_STATUS_OLD, K_HTTP_STATUS_STABLE, K_HTTP_TARGET_OLD, K_HTTP_URL, K_LOCATION, K_MESSAGING_SYSTEM,
  K_NET_PEER_IP, K_NET_PEER_NAME, K_RPC_SYSTEM, K_SERVER_ADDRESS, K_URL_FULL, K_URL_PATH, K_USER_AGENT_OLD,
  K_USER_AGENT_STABLE,
} from './wire/keys.js';

/** Where a decoder's current attribute value is read from, as a string only when it is folded. */
export interface AttributeSource {
  /** The value as text; statementLike: a DB statement, its trailing sqlcommenter comment split off into `comment`. */
  value(statementLike: boolean): string | undefined;
  /** After value(true): the comment split off the statement, '' when none. */
  readonly comment: string;
}

/** One span's folded attributes, reset per span by the decoder that owns it. */
export class AttributeFolder {
  /** The span's fields (to-span.ts's buildRecord makes a record from them). */
  readonly fields: FoldedFields = emptyFolded();
  /** The comment split off the span's statement, '' when none. */
  dbComment = '';
  /** Rank of the source fields.peer came from (1 best); 5 while there is none. */
  #peerRank = 5;
  /** Rank of the source fields.clientAddress came from (1 best); 4 while there is none. */
  #clientRank = 4;

  reset(): void {
    const f = this.fields;
    f.httpMethod = f.httpRoute = f.httpTarget = f.httpStatus = f.dbSystem = f.dbStatement = f.messagingSystem = f.rpcSystem = f.peer = undefined;
    f.clientAddress = f.userAgent = undefined;
    f.location = undefined;
    this.dbComment = '';
    this.#peerRank = 5;
    this.#clientRank = 4;
  }

  /** Folds the attribute with key code `code` (≥ 0), reading its value from `source` only when it is kept. */
  fold(code: number, source: AttributeSource): void {
    const f = this.fields;
    let value: string | undefined;
    switch (code) {
      case K_HTTP_METHOD_OLD:
        if (f.httpMethod !== undefined) return;
      // falls through
      case K_HTTP_METHOD_STABLE:
        value = source.value(false);
        if (value !== undefined) f.httpMethod = value;
        return;
      case K_HTTP_ROUTE:
        value = source.value(false);
        if (value !== undefined) f.httpRoute = value;
        return;
      case K_HTTP_TARGET_OLD:
        if (f.httpTarget !== undefined) return;
      // falls through
      case K_URL_PATH:
        value = source.value(false);
        if (value !== undefined) f.httpTarget = value;
        return;
      case K_HTTP_STATUS_OLD:
        if (f.httpStatus !== undefined) return;
      // falls through
      case K_HTTP_STATUS_STABLE:
        value = source.value(false);
        if (value !== undefined) f.httpStatus = value;
        return;
      case K_DB_SYSTEM_OLD:
        if (f.dbSystem !== undefined) return;
      // falls through
      case K_DB_SYSTEM_STABLE:
        value = source.value(false);
        if (value !== undefined) f.dbSystem = value;
        return;
      case K_DB_STATEMENT_OLD:
        if (f.dbStatement !== undefined) return;
      // falls through
      case K_DB_STATEMENT_STABLE:
        value = source.value(true);
        if (value !== undefined) {
          f.dbStatement = value;
          this.dbComment = source.comment;
        }
        return;
      case K_MESSAGING_SYSTEM:
        value = source.value(false);
        if (value !== undefined) f.messagingSystem = value;
        return;
      case K_RPC_SYSTEM:
        value = source.value(false);
        if (value !== undefined) f.rpcSystem = value;
        return;
      case K_SERVER_ADDRESS:
      case K_NET_PEER_NAME:
      case K_URL_FULL:
      case K_HTTP_URL: {
        const rank = code - K_SERVER_ADDRESS + 1;
        if (rank >= this.#peerRank) return;
        const raw = source.value(false);
        const peer = rank <= 2 ? raw : urlHost(raw);
        if (peer) {
          f.peer = peer;
          this.#peerRank = rank;
        }
        return;
      }
      case K_CLIENT_ADDRESS:
      case K_HTTP_CLIENT_IP:
      case K_NET_PEER_IP: {
        const rank = code - K_CLIENT_ADDRESS + 1;
        if (rank >= this.#clientRank) return;
        value = source.value(false);
        if (value) {
          f.clientAddress = value;
          this.#clientRank = rank;
        }
        return;
      }
      case K_USER_AGENT_OLD:
        if (f.userAgent !== undefined) return;
      // falls through
      case K_USER_AGENT_STABLE:
        value = source.value(false);
        if (value) f.userAgent = value;
        return;
      default:
        if (code >= K_LOCATION) (f.location ??= newLocationParts())[code - K_LOCATION] = source.value(false);
        return; // resource keys on a span are just attributes
    }
  }
}
