/** Posts digest messages with Slack's official IncomingWebhook client, honouring 429 Retry-After, and never lets the webhook URL into an error. */
import { IncomingWebhook, IncomingWebhookHTTPError, IncomingWebhookRequestError, type FetchFunction } from '@slack/webhook';
import { outboundFetch } from '../proxy.js';
import type { SlackMessage } from './blocks.js';

export interface SendOptions {
  /** Retries per message after a 429, a 5xx or a network failure. Default 3. */
  maxRetries?: number;
  /** A 429 asking to wait longer than this fails instead of holding the caller. Default 120 s. */
  maxRetryAfterMs?: number;
  /** Wait after a 5xx or network failure, doubled on each retry. Default 1 s. */
  backoffMs?: number;
  /** Per-request timeout. Default 10 s. */
  timeoutMs?: number;
  /** How to wait; tests pass a recorder. Default setTimeout. */
  sleep?: (ms: number) => Promise<void>;
}

export interface SendResult {
  messages: number;
  /** HTTP requests made, retries included. */
  attempts: number;
}

/**
 * Slack refused the digest or could not be reached. The message says what to do and never contains
 * the webhook URL (a bearer secret): it is built here, not copied from the HTTP client.
 */
export class SlackSendError extends Error {
  override name = 'SlackSendError';
  constructor(
    message: string,
    /** Slack's error token (`invalid_payload`, `channel_not_found`, …), `rate_limited`, or `request_failed`. */
    readonly code: string,
    /** The HTTP status, when Slack answered. */
    readonly status: number | undefined,
  ) {
    super(message);
  }
}

/** What Slack's incoming-webhook error tokens mean to the person running the command. */
const ADVICE: Record<string, string> = {
  invalid_payload: 'the message is not valid Block Kit; run with --dry-run to see it',
  invalid_blocks: 'the message is not valid Block Kit; run with --dry-run to see it',
  invalid_blocks_format: 'the message is not valid Block Kit; run with --dry-run to see it',
  no_text: 'the message has no text',
  channel_not_found: "the webhook's channel no longer exists; create a new webhook URL for an existing channel",
  channel_is_archived: "the webhook's channel is archived; unarchive it or create a webhook for another channel",
  no_service: 'the webhook URL is revoked or wrong; create a new one (Slack app -> Incoming Webhooks)',
  no_service_id: 'the webhook URL is malformed; copy it again from the Slack app',
  no_team: 'the Slack workspace is gone or the webhook URL is wrong',
  team_disabled: 'the Slack workspace is disabled',
  invalid_token: 'the webhook URL is revoked or wrong; create a new one (Slack app -> Incoming Webhooks)',
  action_prohibited: "a workspace admin restricted this webhook's channel",
  posting_to_general_channel_denied: 'only admins may post to this channel; pick another channel for the webhook',
  user_not_found: "the webhook's user is gone; create a new webhook URL",
};

/** Slack answers with a bare token; anything else (a proxy's HTML page) is not repeated. */
function slackToken(body: string): string | undefined {
  const t = body.trim();
  return /^[a-z_]{1,80}$/.test(t) ? t : undefined;
}

/** Retry-After is seconds or an HTTP date; absent or unreadable means one second. */
export function retryAfterMs(header: string | null, nowMs = Date.now()): number {
  if (header === null || header.trim() === '') return 1000;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? 1000 : Math.max(0, at - nowMs);
}

/** A network error's code (ECONNREFUSED, ENOTFOUND, TimeoutError), never its message, which may quote the URL. */
function networkReason(error: IncomingWebhookRequestError): string {
  const original = error.original as Error & { cause?: { code?: unknown; name?: unknown } };
  const code = original.cause?.code ?? (original.name === 'TimeoutError' || original.name === 'AbortError' ? 'timeout' : undefined);
  return typeof code === 'string' && /^[\w.-]{1,40}$/.test(code) ? code : 'network error';
}

const wait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Checks a webhook URL without echoing it: an http(s) URL, or an error naming where it came from.
 *
 * @example checkWebhookUrl(process.env.N1LENS_SLACK_WEBHOOK_URL ?? '', 'N1LENS_SLACK_WEBHOOK_URL')
 */
export function checkWebhookUrl(url: string, from = 'the webhook URL'): void {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')) {
    throw new SlackSendError(`${from} is not an http(s) URL (expected https://hooks.slack.com/services/…)`, 'bad_url', undefined);
  }
}

/**
 * Posts each message in order. A 429 waits the Retry-After Slack sends and tries again, up to
 * `maxRetries` times; 5xx and network failures back off and retry the same way; any other answer
 * (`invalid_payload`, `channel_not_found`, `channel_is_archived`, …) fails at once with a
 * SlackSendError that says which message failed and what to do.
 *
 * @example await sendDigest(process.env.N1LENS_SLACK_WEBHOOK_URL!, buildDigest(input))
 */
export async function sendDigest(webhookUrl: string, messages: readonly SlackMessage[], options: SendOptions = {}): Promise<SendResult> {
  checkWebhookUrl(webhookUrl);
  const maxRetries = options.maxRetries ?? 3;
  const maxRetryAfterMs = options.maxRetryAfterMs ?? 120_000;
  const backoffMs = options.backoffMs ?? 1000;
  const sleep = options.sleep ?? wait;

  // @slack/webhook 8 reports a failed status with its body but not its headers, so the fetch it uses
  // is wrapped to keep the last Retry-After.
  let retryAfter: string | null = null;
  // Through HTTPS_PROXY (or HTTP_PROXY) unless NO_PROXY lists Slack's host (proxy.ts).
  const viaEnv = await outboundFetch();
  const fetchFn: FetchFunction = async (url, init) => {
    const response = await viaEnv(url, init as RequestInit);
    retryAfter = response.headers.get('retry-after');
    return response;
  };
  // The client's own retry (p-retry) is off: it never retries a 429, and the policy here must.
  const webhook = new IncomingWebhook(webhookUrl, { fetch: fetchFn, timeout: options.timeoutMs ?? 10_000, retryConfig: { retries: 0 } });

  let attempts = 0;
  for (const [index, message] of messages.entries()) {
    const which = messages.length > 1 ? `message ${index + 1} of ${messages.length}` : 'the digest';
    const sent = index > 0 ? ` (${index} of ${messages.length} already posted)` : '';
    for (let retry = 0; ; retry++) {
      attempts++;
      retryAfter = null;
      try {
        await webhook.send({ text: message.text, blocks: message.blocks });
        break;
      } catch (error) {
        let failure: SlackSendError;
        let delay: number;
        if (error instanceof IncomingWebhookHTTPError) {
          const token = slackToken(error.body);
          if (error.statusCode === 429) {
            delay = retryAfterMs(retryAfter);
            failure = new SlackSendError(`Slack rate-limited the webhook (HTTP 429) while posting ${which}${sent}; gave up after ${retry + 1} attempts`, 'rate_limited', 429);
            if (delay > maxRetryAfterMs) {
              throw new SlackSendError(
                `Slack rate-limited the webhook (HTTP 429) and asked to wait ${Math.round(delay / 1000)} s, more than ${Math.round(maxRetryAfterMs / 1000)} s, while posting ${which}${sent}`,
                'rate_limited',
                429,
              );
            }
          } else if (error.statusCode >= 500) {
            delay = backoffMs * 2 ** retry;
            failure = new SlackSendError(`Slack answered HTTP ${error.statusCode}${token ? ` ${token}` : ''} while posting ${which}${sent}; gave up after ${retry + 1} attempts`, token ?? 'server_error', error.statusCode);
          } else {
            const advice = token === undefined ? undefined : ADVICE[token];
            throw new SlackSendError(
              `Slack refused ${which}${sent}: HTTP ${error.statusCode}${token ? ` ${token}` : ''}${advice ? `: ${advice}` : ''}`,
              token ?? 'http_error',
              error.statusCode,
            );
          }
        } else if (error instanceof IncomingWebhookRequestError) {
          delay = backoffMs * 2 ** retry;
          failure = new SlackSendError(`could not reach Slack (${networkReason(error)}) while posting ${which}${sent}; gave up after ${retry + 1} attempts`, 'request_failed', undefined);
        } else {
          // Not from the client: report the kind only, since any message could quote the request.
          throw new SlackSendError(`posting ${which} failed${sent}: ${error instanceof Error ? error.name : 'unknown error'}`, 'request_failed', undefined);
        }
        if (retry >= maxRetries) throw failure;
        await sleep(delay);
      }
    }
  }
  return { messages: messages.length, attempts };
}
