import type { z } from 'zod';
import { inboundText, sentAt, type ChannelEventInput } from '../../core/event.js';
import {
  envelopeSchema,
  MESSAGE_BASE_FIELDS,
  MESSAGE_UPDATES,
  messageSchema,
  type MessageUpdate,
  type TelegramEntity,
  type TelegramMessage,
} from './schema.js';

export interface BotIdentity {
  id: number;
  username: string;
}

export interface ParseContext {
  /** The connector account (its config name), part of every event's dedupe key. */
  account: string;
  bot: BotIdentity;
  assistant?: string | undefined;
  now(): number;
}

/** What one raw update became. Every outcome but `event` is audited by the caller; all of them advance the offset. */
export type Parsed =
  | { kind: 'event'; updateId: number; event: ChannelEventInput }
  | { kind: 'unsupported'; updateId: number; type: string }
  | { kind: 'rejected'; updateId: number | undefined; issues: string[] };

/**
 * An update larger than this is refused before it is read. Telegram's own are a few kilobytes; 1 MiB still holds
 * the largest text the gateway accepts (100,000 characters of 4 UTF-8 bytes) with its entities.
 */
export const MAX_UPDATE_BYTES = 1024 * 1024;

function serializedBytes(raw: unknown): number {
  try {
    return Buffer.byteLength(JSON.stringify(raw) ?? '', 'utf8');
  } catch {
    return Infinity;
  }
}

const issuesOf = (error: z.ZodError): string[] =>
  error.issues.slice(0, 10).map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);

/** Validates one raw update (of `bytes` serialized, when known) and normalizes it; never throws. */
export function parseUpdate(raw: unknown, ctx: ParseContext, bytes = serializedBytes(raw)): Parsed {
  if (bytes > MAX_UPDATE_BYTES) {
    const id = (raw as { update_id?: unknown } | null)?.update_id;
    return { kind: 'rejected', updateId: Number.isSafeInteger(id) ? (id as number) : undefined, issues: [`(root): larger than ${MAX_UPDATE_BYTES} bytes`] };
  }
  const envelope = envelopeSchema.safeParse(raw);
  if (!envelope.success) return { kind: 'rejected', updateId: undefined, issues: issuesOf(envelope.error) };
  const updateId = envelope.data.update_id;
  const update = envelope.data as Record<string, unknown>;
  const type = MESSAGE_UPDATES.find((k) => update[k] !== undefined);
  if (!type) return { kind: 'unsupported', updateId, type: Object.keys(update).find((k) => k !== 'update_id') ?? 'empty' };
  const message = messageSchema.safeParse(update[type]);
  if (!message.success) return { kind: 'rejected', updateId, issues: issuesOf(message.error).map((i) => `${type}.${i}`) };
  return normalize(updateId, type, message.data, ctx);
}

function normalize(updateId: number, type: MessageUpdate, m: TelegramMessage, ctx: ParseContext): Parsed {
  const text = m.text ?? m.caption ?? '';
  const attachments = attachmentsOf(m);
  if (m.text === undefined && m.caption === undefined && attachments.length === 0) {
    // Service messages (members joined, pinned, topic created), polls, locations, …: nothing to answer.
    return { kind: 'unsupported', updateId, type: `${type}:${Object.keys(m).find((k) => !MESSAGE_BASE_FIELDS.has(k)) ?? 'empty'}` };
  }
  const edited = type === 'edited_message' || type === 'edited_channel_post';
  // Topics only in forums: in a plain supergroup message_thread_id names a reply chain, not a place to post into.
  const threadId = m.is_topic_message === true && m.message_thread_id !== undefined ? String(m.message_thread_id) : undefined;
  // A message in a topic "replies" to the topic's first message; that is where it is, not whom it answers.
  const reply = m.reply_to_message;
  const realReply = reply && !(threadId !== undefined && (reply.message_id === m.message_thread_id || reply.forum_topic_created !== undefined));
  const platformMessageId = edited ? `${m.message_id}:edited:${m.edit_date ?? updateId}` : String(m.message_id);
  const event: ChannelEventInput = {
    v: 1,
    id: `telegram:${m.chat.id}:${platformMessageId}`,
    platform: 'telegram',
    account: ctx.account,
    conversation: {
      id: String(m.chat.id),
      kind: m.chat.type === 'private' ? 'dm' : m.chat.type === 'channel' ? 'channel' : 'group',
      ...(threadId !== undefined ? { threadId } : {}),
    },
    sender: senderOf(m),
    ...inboundText(withLinkTargets(text, (m.text !== undefined ? m.entities : m.caption_entities) ?? [])),
    attachments,
    mentionsBot: mentionsBot(text, [...(m.entities ?? []), ...(m.caption_entities ?? [])], ctx.bot),
    ...(realReply ? { replyTo: { messageId: String(reply.message_id), toBot: reply.from?.id === ctx.bot.id } } : {}),
    edited,
    ...(ctx.assistant ? { assistant: ctx.assistant } : {}),
    platformMessageId,
    receivedAt: new Date(ctx.now()).toISOString(),
    ...sentAt(((edited ? m.edit_date : undefined) ?? m.date) * 1000),
  };
  return { kind: 'event', updateId, event };
}

const name = (s: string): string => s.toWellFormed().slice(0, 256);

/**
 * Who wrote it. `sender_chat` wins when present: the message was sent on behalf of a chat (a channel post, an
 * anonymous group admin, a linked channel), and `from` then holds a placeholder bot (GroupAnonymousBot,
 * Channel_Bot) that must not make a person's message look like a bot's.
 */
function senderOf(m: TelegramMessage): ChannelEventInput['sender'] {
  if (m.sender_chat) {
    return { id: String(m.sender_chat.id), name: name(m.sender_chat.title ?? m.sender_chat.username ?? String(m.sender_chat.id)), isBot: false };
  }
  if (m.from) {
    const full = [m.from.first_name, m.from.last_name].filter(Boolean).join(' ');
    return { id: String(m.from.id), name: name(full || m.from.username || String(m.from.id)), isBot: m.from.is_bot };
  }
  // Channel posts always carry sender_chat; a message with neither is the chat speaking.
  return { id: String(m.chat.id), name: name(m.chat.title ?? String(m.chat.id)), isBot: false };
}

/**
 * Addressed by the platform's mention entity only, never by a name in the text: `@botname` (type mention), a
 * text_mention of the bot user, or a command sent to it (`/help@botname`). Offsets count UTF-16 units, as JS does.
 */
export function mentionsBot(text: string, entities: TelegramEntity[], bot: BotIdentity): boolean {
  const handle = `@${bot.username}`.toLowerCase();
  return entities.some((e) => {
    if (e.type === 'text_mention') return e.user?.id === bot.id;
    const token = text.slice(e.offset, e.offset + e.length).toLowerCase();
    if (e.type === 'mention') return token === handle;
    if (e.type === 'bot_command') return token.endsWith(handle);
    return false;
  });
}

/**
 * A text_link shows its text and hides its address; the assistant must know where a link leads, so the address
 * follows the text in brackets (`click (https://…)`), as Slack's links do. Offsets are the original text's.
 */
export function withLinkTargets(text: string, entities: TelegramEntity[]): string {
  const links = entities
    .filter((e): e is TelegramEntity & { url: string } => e.type === 'text_link' && e.url !== undefined && e.offset + e.length <= text.length)
    .filter((e) => text.slice(e.offset, e.offset + e.length) !== e.url)
    .map((e, i) => ({ end: e.offset + e.length, url: e.url, i }))
    // By where each label ends; of labels ending together, the last listed comes first (as it always did).
    .sort((a, b) => a.end - b.end || b.i - a.i);
  // Pieces joined once: rebuilding the text for each link took seconds on an update of 10,000 links.
  const parts: string[] = [];
  let from = 0;
  for (const { end, url } of links) {
    parts.push(text.slice(from, end), ` (${url})`);
    from = end;
  }
  parts.push(text.slice(from));
  return parts.join('');
}

type Attachment = NonNullable<ChannelEventInput['attachments']>[number];

/** Attachments as metadata only: the file stays on Telegram's servers, reachable by its file_id. */
function attachmentsOf(m: TelegramMessage): Attachment[] {
  const out: Attachment[] = [];
  const add = (kind: Attachment['kind'], f: { file_id: string; file_size?: number | undefined; file_name?: string | undefined; mime_type?: string | undefined }) =>
    out.push({
      kind,
      platformFileId: f.file_id,
      ...(f.file_name ? { name: name(f.file_name) } : {}),
      ...(f.mime_type ? { mimeType: f.mime_type } : {}),
      ...(f.file_size !== undefined ? { size: f.file_size } : {}),
    });
  // Telegram lists a photo in several sizes, smallest first: the largest is the photo.
  const photo = m.photo?.at(-1);
  if (photo) add('image', { ...photo, mime_type: 'image/jpeg' });
  if (m.animation) add('video', m.animation);
  // An animation also fills `document` for old clients; counting both would list one file twice.
  else if (m.document) add('file', m.document);
  if (m.audio) add('audio', m.audio);
  if (m.voice) add('audio', m.voice);
  if (m.video) add('video', m.video);
  if (m.video_note) add('video', m.video_note);
  if (m.sticker) add('sticker', m.sticker);
  return out;
}
