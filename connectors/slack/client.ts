import { LogLevel, WebClient, type Logger, type RetryOptions } from '@slack/web-api';
import type { ConnectorLog } from '../../core/connector.js';

/** The SDK's logger interface over the connector's: SDK chatter stays at debug, so message text never reaches info logs. */
export function sdkLogger(log: ConnectorLog): Logger {
  let level = LogLevel.WARN;
  const line = (msg: unknown[]) => ({ sdk: msg.map((m) => (m instanceof Error ? m.message : String(m))).join(' ').slice(0, 500) });
  return {
    debug: (...msg) => log.debug(line(msg)),
    info: (...msg) => log.debug(line(msg)),
    warn: (...msg) => log.warn(line(msg)),
    error: (...msg) => log.error(line(msg)),
    setLevel: (l) => (level = l),
    getLevel: () => level,
    setName: () => undefined,
  };
}

/**
 * Retries as the Web API client does them: network errors and 5xx, with this backoff. Kept short so a reply is not
 * held long.
 */
export const RETRY: RetryOptions = { retries: 5, factor: 2, minTimeout: 200, maxTimeout: 5_000 };

/**
 * A Web API client. By default it waits out a 429's `Retry-After` itself, pausing every request it has meanwhile.
 * `rejectRateLimited` throws the 429 instead (a WebAPIRateLimitedError): the client that posts replies uses it, so
 * one channel's wait holds neither the other channels nor the consumer slot (see send.ts).
 */
export function webClient(token: string, apiRoot: string, log: ConnectorLog, retryConfig: RetryOptions = RETRY, rejectRateLimited = false): WebClient {
  return new WebClient(token, { slackApiUrl: apiRoot, logger: sdkLogger(log), retryConfig, timeout: 30_000, rejectRateLimitedCalls: rejectRateLimited });
}

/** The seconds a 429 the client threw asks for (`rejectRateLimited`), else undefined. */
export function rateLimitedFor(error: unknown): number | undefined {
  const e = error as { code?: unknown; retryAfter?: unknown } | null;
  return e && e.code === 'slack_webapi_rate_limited_error' && typeof e.retryAfter === 'number' ? e.retryAfter : undefined;
}

/** The `error` code of a Web API platform error (`{ok: false, error}`), else undefined. */
export function platformError(error: unknown): string | undefined {
  const e = error as { code?: unknown; data?: { error?: unknown } } | null;
  return e && e.code === 'slack_webapi_platform_error' && typeof e.data?.error === 'string' ? e.data.error : undefined;
}

/** Errors that no retry fixes: a wrong token, a channel the bot is not in, a message Slack refuses. */
export const PERMANENT_ERRORS = new Set([
  'invalid_auth',
  'not_authed',
  'account_inactive',
  'token_revoked',
  'token_expired',
  'not_allowed_token_type',
  'missing_scope',
  'channel_not_found',
  'not_in_channel',
  'is_archived',
  'msg_too_long',
  'no_text',
  'restricted_action',
  'invalid_arguments',
]);
