import type { Api } from 'grammy';
import type { ConnectorLog } from '../../core/connector.js';
import type { Reply } from '../../core/event.js';
import { EditRefusedError, type SendReply } from '../../core/outbound.js';
import type { PartProgress } from '../../core/part-progress.js';
import { renderReply, type Limit } from '../../core/render/index.js';
import { parsedText } from '../../core/render/telegram.js';
import { describe, isApiError, isEntityError, isNotModified, toJobError } from './errors.js';
import { grammySignal } from './signal.js';
import type { TypingIndicator } from '../../core/typing.js';
import type { TypingPlace } from './typing.js';

export interface SenderDeps {
  api: Api;
  /** Parts of a multi-part reply already sent, kept across retries and restarts. */
  progress: PartProgress;
  limit: Limit;
  log: ConnectorLog;
  typing: TypingIndicator<TypingPlace>;
  /** Told when a part had to go out as plain text, so it can be audited. */
  onPlainFallback(reply: Reply, part: number, why: string): Promise<void>;
}

/**
 * A part's HTML as the text it shows, for the resend without parse_mode: tags dropped, entities decoded, and a
 * link's address kept after its label, `label (url)`. A part is cut to fit by its shown text, so the addresses
 * written out can take it over `max`: then it goes with the labels alone, which is the text that fitted.
 */
export function htmlToPlain(html: string, max: number): string {
  const links = html.replace(/<a href="([^"]*)">([\s\S]*?)<\/a>/g, (_, href: string, label: string) =>
    parsedText(label) === parsedText(href) ? label : `${label} (${href})`,
  );
  const withUrls = parsedText(links);
  return withUrls.length <= max ? withUrls : parsedText(html);
}

/**
 * Posts a reply: rendered to Telegram HTML and split within the limit by core/render, sent part by part in order
 * into the same chat and topic. The first part quotes the message it answers in groups (in a DM that is noise).
 * Parts already sent are recorded per idempotency key in the store, so a retry after a failure (or a restart) in the
 * middle of a long reply continues where it stopped instead of posting the beginning twice. Rate limits: the
 * throttler and auto-retry transformers on `api` wait them out.
 */
export function createSender({ api, progress, limit, log, typing, onPlainFallback }: SenderDeps): SendReply {
  /** Replaces the text of one of our messages (a streamed reply's draft); an identical text is already there. */
  async function edit(chat: string, id: string, html: string, signal: AbortSignal): Promise<void> {
    try {
      await api.editMessageText(chat, Number(id), html, { parse_mode: 'HTML' }, grammySignal(signal));
    } catch (error) {
      if (isNotModified(error)) return;
      if (isApiError(error, 400) && !isEntityError(error)) throw new EditRefusedError(`Telegram would not edit message ${id}: ${describe(error)}`);
      if (!isEntityError(error)) throw error;
      try {
        await api.editMessageText(chat, Number(id), htmlToPlain(html, limit.max), {}, grammySignal(signal));
      } catch (plain) {
        if (!isNotModified(plain)) throw plain;
      }
    }
  }

  return async function send(reply, signal, options = {}) {
    const { conversation } = reply.address;
    const rendered = renderReply(reply.text, reply.format, 'telegram-html', limit).filter((p) => p.trim().length > 0);
    const parts = options.firstPartOnly ? rendered.slice(0, 1) : rendered;
    const multi = parts.length > 1;
    const sent = multi ? await progress.sent(reply.idempotencyKey) : [];
    const thread = conversation.threadId !== undefined ? Number(conversation.threadId) : undefined;
    const quote = conversation.kind !== 'dm' && reply.replyTo !== undefined && /^\d+$/.test(reply.replyTo) ? Number(reply.replyTo) : undefined;
    // A draft keeps "typing…" going; the final reply ends it.
    if (reply.kind !== 'draft') typing.stop(conversation);
    try {
      if (options.replace !== undefined && sent.length === 0 && parts.length > 0) {
        await edit(conversation.id, options.replace, parts[0]!, signal);
        sent.push(options.replace);
        if (multi) await progress.record(reply.idempotencyKey, sent);
      }
      for (let i = sent.length; i < parts.length; i++) {
        const other = {
          ...(thread !== undefined ? { message_thread_id: thread } : {}),
          // Deleted meanwhile? Then post without the quote rather than fail the reply.
          ...(i === 0 && quote !== undefined ? { reply_parameters: { message_id: quote, allow_sending_without_reply: true } } : {}),
        };
        let message: { message_id: number };
        try {
          message = await api.sendMessage(conversation.id, parts[i]!, { ...other, parse_mode: 'HTML' }, grammySignal(signal));
        } catch (error) {
          if (!isEntityError(error)) throw error;
          // Never drop a reply over markup: show it as plain text instead.
          log.warn({ chat: conversation.id, part: i, error: describe(error) }, 'Telegram refused the HTML; resending as plain text');
          await onPlainFallback(reply, i, describe(error));
          message = await api.sendMessage(conversation.id, htmlToPlain(parts[i]!, limit.max), other, grammySignal(signal));
        }
        sent.push(String(message.message_id));
        if (multi) await progress.record(reply.idempotencyKey, sent);
      }
    } catch (error) {
      throw toJobError(error);
    }
    return sent;
  };
}
