import { setTimeout as sleep } from 'node:timers/promises';
import type { WebClient } from '@slack/web-api';
import type { ConnectorDeps, ConnectorLog } from '../../core/connector.js';
import { EditRefusedError, type SendReply } from '../../core/outbound.js';
import { partProgress } from '../../core/part-progress.js';
import type { PlatformWaits } from '../../core/platform-waits.js';
import { RetryLaterError, UnrecoverableJobError } from '../../core/queue.js';
import { renderReply, type Limit } from '../../core/render/index.js';
import { PERMANENT_ERRORS, platformError, rateLimitedFor } from './client.js';

/** Slack refuses a message above 40,000 characters whatever the configuration says. */
export const SLACK_HARD_LIMIT = 40_000;

export interface SendOptions {
  client: WebClient;
  limit: Limit;
  /** chat.postMessage is limited to about one message per second per channel. */
  channelIntervalMs: number;
  name: string;
  store: ConnectorDeps['store'];
  log: ConnectorLog;
  /** Retry-After per channel, kept across restarts; the client (`rejectRateLimited`) throws each 429 it meets. */
  waits?: PlatformWaits;
}

/** chat.update's answers for a message that can no longer be edited (deleted, or past the workspace's edit window). */
const EDIT_REFUSED = new Set(['message_not_found', 'cant_update_message', 'edit_window_closed']);

/**
 * A 429: the job waits out `Retry-After` without its slot and without spending an attempt. Not marked refused: the
 * client may have retried an attempt that timed out (and posted) before Slack said 429.
 */
function throwIfRateLimited(error: unknown): void {
  const seconds = rateLimitedFor(error);
  if (seconds !== undefined) throw new RetryLaterError(seconds * 1000, `Slack asked to wait ${seconds} s`);
}

/** Key of a thread the assistant has posted in: a later message there counts as a reply to it. */
export const threadKey = (channel: string, threadTs: string): string => `thread:${channel}:${threadTs}`;

/**
 * Renders a reply as mrkdwn (user text escaped so `<@U…>`, `<!channel>` and links stay text), splits it at the
 * limit as Slack counts it, and posts the parts in order into the conversation and thread. A 429 is waited out by
 * the reply's job, without its consumer slot (`Retry-After`, kept per channel in `waits`). A multi-part reply
 * records each posted part, so a retried job resumes after the last part Slack accepted instead of posting the
 * first ones again.
 */
export function createSend(o: SendOptions): SendReply {
  const lastPost = new Map<string, number>();
  const progress = partProgress(o.store, o.name);

  async function pace(channel: string, signal: AbortSignal): Promise<void> {
    await o.waits?.ready(channel, signal);
    const wait = (lastPost.get(channel) ?? 0) + o.channelIntervalMs - Date.now();
    if (wait > 0) await sleep(wait, undefined, { signal });
  }
  // Measured from Slack's answer, so the spacing holds as Slack sees it, whatever the latency of each request.
  const posted = (channel: string) => {
    if (lastPost.size > 1_000) lastPost.clear();
    lastPost.set(channel, Date.now());
  };

  /** Replaces the text of one of our messages (a streamed reply's draft); `id` is `channel:ts` as send returns it. */
  async function update(id: string, text: string, signal: AbortSignal): Promise<void> {
    const [channel, ts] = [id.slice(0, id.indexOf(':')), id.slice(id.indexOf(':') + 1)];
    // An edit's 429 holds the channel as a post's does: the next edit waits it out too, or Slack refuses it again.
    await o.waits?.ready(channel, signal);
    try {
      await o.client.chat.update({ channel, ts, text });
    } catch (error) {
      throwIfRateLimited(error);
      const code = platformError(error);
      if (code !== undefined && EDIT_REFUSED.has(code)) throw new EditRefusedError(`chat.update: ${code}`);
      if (code !== undefined && PERMANENT_ERRORS.has(code)) throw new UnrecoverableJobError(`chat.update: ${code}`);
      throw error;
    }
  }

  return async (reply, signal, options = {}) => {
    // A plain reply is posted with mrkdwn off, exactly as typed. chat.update has no such switch, so a streamed
    // reply (its drafts and its final text edit one message) stays mrkdwn, its markers kept literal by zero-width
    // spaces. Decided by the reply alone, so a retry splits it exactly as the attempt whose parts it resumes after.
    const asText = reply.format === 'plain' && reply.stream === undefined;
    const rendered = renderReply(reply.text, reply.format, asText ? 'slack-text' : 'slack-mrkdwn', o.limit);
    const parts = options.firstPartOnly ? rendered.slice(0, 1) : rendered;
    const { id: channel, threadId, kind } = reply.address.conversation;
    const multi = parts.length > 1;
    const ids = multi ? await progress.sent(reply.idempotencyKey) : [];
    if (options.replace !== undefined && ids.length === 0) {
      await update(options.replace, parts[0]!, signal);
      ids.push(options.replace);
      if (multi) await progress.record(reply.idempotencyKey, ids);
    }
    for (let i = ids.length; i < parts.length; i++) {
      signal.throwIfAborted();
      await pace(channel, signal);
      let ts: string | undefined;
      try {
        const res = await o.client.chat.postMessage({
          channel,
          text: parts[i]!,
          ...(asText ? { mrkdwn: false } : {}),
          ...(threadId ? { thread_ts: threadId } : {}),
          unfurl_links: false,
          unfurl_media: false,
        });
        ts = res.ts;
      } catch (error) {
        throwIfRateLimited(error);
        const code = platformError(error);
        if (code !== undefined && PERMANENT_ERRORS.has(code)) {
          o.log.error({ code, channel, part: i + 1, parts: parts.length }, 'slack: chat.postMessage refused');
          throw new UnrecoverableJobError(`chat.postMessage: ${code}`);
        }
        // Never marked refused (core/outbound.ts): the client retries timeouts and 5xx itself, so even Slack's
        // final "no" may follow an attempt that posted.
        throw error;
      } finally {
        posted(channel);
      }
      ids.push(`${channel}:${ts ?? ''}`);
      if (multi) await progress.record(reply.idempotencyKey, ids);
    }
    if (threadId && kind !== 'dm') await o.store.setConnectorState(o.name, threadKey(channel, threadId), true);
    return ids;
  };
}
