import { createHash } from 'node:crypto';
import { DiscordAPIError, Routes, type REST } from 'discord.js';
import { EditRefusedError, refused, type SendOptions } from '../../core/outbound.js';
import type { Reply } from '../../core/event.js';
import type { PartProgress } from '../../core/part-progress.js';
import { UnrecoverableJobError } from '../../core/queue.js';
import { PLATFORM_LIMITS, renderReply, type Limit } from '../../core/render/index.js';
import { type SilentTurn, TypingIndicator } from '../../core/typing.js';

/** Discord refuses content over 2,000 characters from bots, Nitro or not. */
export const DISCORD_MAX_CHARS = 2_000;
export const SNOWFLAKE = /^\d{1,20}$/;

/** The split limit: `maxMessageChars` may lower Discord's, never raise it past what Discord accepts. */
export function limitFor(maxMessageChars: number | undefined): Limit {
  const max = Math.min(maxMessageChars ?? PLATFORM_LIMITS.discord.max, DISCORD_MAX_CHARS);
  return { max, unit: 'utf16' };
}

/**
 * Discord's idempotency key for one part of one reply: at most 25 characters, the same on every retry of the job.
 * With `enforce_nonce` Discord answers a repeated nonce (within a few minutes) with the message it already created.
 */
export const nonceFor = (idempotencyKey: string, part: number): string =>
  createHash('sha256').update(`${idempotencyKey}\u0000${part}`).digest('base64url').slice(0, 25);

/** The JSON body of one part; user text never pings anyone (no @everyone, roles, users, nor the replied-to author). */
export function messageBody(reply: Reply, content: string, part: number): Record<string, unknown> {
  const { conversation } = reply.address;
  const quote = part === 0 && conversation.kind !== 'dm' && reply.replyTo !== undefined && SNOWFLAKE.test(reply.replyTo);
  return {
    content,
    nonce: nonceFor(reply.idempotencyKey, part),
    enforce_nonce: true,
    allowed_mentions: { parse: [] },
    // In a guild channel the first part answers the message it replies to; a deleted original does not fail it.
    ...(quote ? { message_reference: { message_id: reply.replyTo, fail_if_not_exists: false } } : {}),
  };
}

/** Where a reply goes: a thread is its own channel, so the thread's id is the channel to post in. */
export const targetChannel = (reply: Reply): string => reply.address.conversation.threadId ?? reply.address.conversation.id;

/**
 * Renders, splits and posts a reply, parts in order, through discord.js's REST manager: it keeps per-route buckets
 * and the global limit from the first request, and waits out a 429's retry-after before trying again. The nonces
 * make a repeat within minutes harmless; the parts of a long reply are also recorded as they go, so a retry after
 * a longer break (a restart) goes on after the last part posted.
 */
export async function postReply(rest: REST, progress: PartProgress, reply: Reply, limit: Limit, signal: AbortSignal, options: SendOptions = {}): Promise<string[]> {
  const rendered = renderReply(reply.text, reply.format, 'discord', limit);
  const parts = options.firstPartOnly ? rendered.slice(0, 1) : rendered;
  const channel = targetChannel(reply);
  const multi = parts.length > 1;
  const ids = multi ? await progress.sent(reply.idempotencyKey) : [];
  if (options.replace !== undefined && parts.length > 0 && ids.length === 0) {
    await editMessage(rest, channel, options.replace, parts[0]!, signal);
    ids.push(options.replace);
    if (multi) await progress.record(reply.idempotencyKey, ids);
  }
  for (let i = ids.length; i < parts.length; i++) {
    const message = (await ownSignal(signal, (s) => rest.post(Routes.channelMessages(channel), { body: messageBody(reply, parts[i]!, i), signal: s })).catch(
      toJobError,
    )) as { id?: unknown };
    if (typeof message?.id !== 'string') throw new Error('Discord answered a message post without a message id');
    ids.push(message.id);
    if (multi) await progress.record(reply.idempotencyKey, ids);
  }
  return ids;
}

/**
 * A 4xx other than a rate limit is Discord's final word: no access to the channel, an unknown channel, a message it
 * will not take. Retrying cannot change it, so the reply is dead-lettered at once instead of holding its
 * conversation through every retry. A 429 discord.js did not wait out goes back to the queue. Both are refusals:
 * nothing was posted (and the nonce would have made a retry of a posted message answer with that message).
 */
function toJobError(error: unknown): never {
  if (!(error instanceof DiscordAPIError && error.status >= 400 && error.status < 500)) throw error;
  if (error.status === 429) throw refused(error);
  throw refused(new UnrecoverableJobError(`Discord refused the message (${error.status} ${error.code}): ${error.message}`));
}

/**
 * Runs one REST request under a signal of its own that follows the send's. @discordjs/rest adds an abort listener
 * to the signal it is given and never removes it, so the parts of a long reply sharing one signal piled up
 * listeners (a MaxListenersExceededWarning from the eleventh part on); ours is removed when the request ends.
 */
async function ownSignal<T>(signal: AbortSignal, request: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const own = new AbortController();
  const forward = () => own.abort(signal.reason);
  if (signal.aborted) forward();
  else signal.addEventListener('abort', forward, { once: true });
  try {
    return await request(own.signal);
  } finally {
    signal.removeEventListener('abort', forward);
  }
}

/** Replaces the text of one of our messages (a streamed reply's draft). */
async function editMessage(rest: REST, channel: string, id: string, content: string, signal: AbortSignal): Promise<void> {
  try {
    await ownSignal(signal, (s) => rest.patch(Routes.channelMessage(channel, id), { body: { content, allowed_mentions: { parse: [] } }, signal: s }));
  } catch (error) {
    // 404 Unknown Message (deleted meanwhile), 403 (not ours to edit any more): post the text anew instead.
    if (error instanceof DiscordAPIError && (error.status === 404 || error.status === 403)) throw new EditRefusedError(`Discord would not edit message ${id}: ${error.message}`);
    throw error;
  }
}

/** "Bot is typing…" in a channel: Discord shows one request for about 10 s. */
export function discordTyping(rest: REST, silent: SilentTurn, now: () => number, onError: (error: unknown) => void): TypingIndicator {
  return new TypingIndicator({ show: (channelId) => rest.post(Routes.channelTyping(channelId)), silent, refreshMs: 8_000, now, onError });
}
