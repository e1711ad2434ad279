import { GrammyError, HttpError } from 'grammy';
import { plainNetError } from '../../core/net-errors.js';
import { EditRefusedError, refused } from '../../core/outbound.js';
import { RetryLaterError, UnrecoverableJobError } from '../../core/queue.js';

/** Telegram's answers, mapped to what core understands: retry later, or never. */

export const isApiError = (e: unknown, code?: number): e is GrammyError =>
  e instanceof GrammyError && (code === undefined || e.error_code === code);

/** The seconds a 429 asks to wait (`parameters.retry_after`), or undefined for any other error. */
export const retryAfterSeconds = (e: unknown): number | undefined => (isApiError(e, 429) ? e.parameters.retry_after : undefined);

/** 409 from getUpdates: a second poller took over the long poll, or a webhook is set. */
export const isConflict = (e: unknown): e is GrammyError => isApiError(e, 409);

/** Telegram's 400 for HTML it cannot read; the text is then resent without parse_mode. */
export const isEntityError = (e: unknown): boolean => isApiError(e, 400) && /can't parse entities/i.test(e.description);

/** Telegram's 400 for an edit to the text the message already has: the edit's goal is met. */
export const isNotModified = (e: unknown): boolean => isApiError(e, 400) && /message is not modified/i.test(e.description);

/** 401 Unauthorized, or 404 for a token that names no bot: retrying cannot help until the token is fixed. */
export const isBadToken = (e: unknown): boolean => isApiError(e, 401) || isApiError(e, 404);

export function conflictInWords(e: GrammyError): string {
  const webhook = /webhook/i.test(e.description);
  return webhook
    ? 'a webhook is set for this bot token, so Telegram refuses polling (409); another poller or a webhook is using this bot token. ' +
        'Remove the webhook (deleteWebhook, keeping pending updates) or set connectors.telegram.mode: webhook'
    : 'another poller or a webhook is using this bot token: Telegram ended our getUpdates because another one started (409). ' +
        'Run only one gateway per bot token';
}

/** The message to log: never the request (it can hold user text), never the token (grammy keeps it out). */
export function describe(e: unknown): string {
  if (e instanceof GrammyError) return `${e.method}: ${e.error_code} ${e.description}`;
  if (e instanceof HttpError) return `network: ${e.message}${httpCause(e.error)}`;
  return e instanceof Error ? e.message : String(e);
}

/**
 * Why grammy's request failed, in plain words: refused, reset and a proxy's error page all read "Network request
 * failed" otherwise. The fetch error's own message is never shown: it quotes the request URL, token included; only
 * its origin is read from it, for the host and port.
 */
function httpCause(inner: unknown): string {
  const e = inner as { type?: unknown; message?: unknown } | null;
  if (e?.type === 'invalid-json') return ' (the answer was not Telegram\'s JSON: a proxy\'s error page, or an apiRoot that is not a Bot API server?)';
  const origin = typeof e?.message === 'string' ? /\b(https?:\/\/[^/\s]+)/.exec(e.message)?.[1] : undefined;
  let at: { host: string; port: number } | undefined;
  try {
    const url = origin ? new URL(origin) : undefined;
    if (url) at = { host: url.hostname, port: Number(url.port) || (url.protocol === 'https:' ? 443 : 80) };
  } catch {
    // No origin to name: the cause is said without it.
  }
  const plain = at && plainNetError(inner, at);
  return plain ? ` (${plain})` : '';
}

/**
 * A failed send as the outbound queue should see it. 400 (bad request: chat or topic gone, text refused) and 403
 * (blocked by the user, removed from the group) will fail the same way every time: dead-letter at once. Everything
 * else (network, 5xx, a 429 the retry plugin gave up on) is retried by the queue with backoff. Any 4xx is a refusal:
 * Telegram answered, and posted nothing.
 */
export function toJobError(e: unknown): Error {
  if (e instanceof EditRefusedError || e instanceof RetryLaterError) return e;
  // A 429 auto-retry left to us (over its 2 s): the job waits out retry_after without its slot, no attempt spent.
  const after = retryAfterSeconds(e);
  if (after !== undefined) return refused(new RetryLaterError(after * 1000, `Telegram asked to wait ${after} s`));
  if (isApiError(e, 400) || isApiError(e, 403)) return refused(new UnrecoverableJobError(`Telegram refused the message: ${describe(e)}`));
  const error = new Error(`Telegram send failed: ${describe(e)}`);
  return e instanceof GrammyError && e.error_code >= 400 && e.error_code < 500 ? refused(error) : error;
}
