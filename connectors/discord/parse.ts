import { z } from 'zod';
import { inboundText, sentAt, type ChannelEventInput, type Conversation } from '../../core/event.js';

/**
 * Discord's Message object (and the MESSAGE_CREATE / MESSAGE_UPDATE extra fields), as far as the connector reads it.
 * Unknown fields are dropped; a payload missing what we read, or with the wrong types, is refused before discord.js
 * or the gateway ever sees it.
 */
const snowflake = z.string().regex(/^\d{1,20}$/, 'must be a snowflake');
const name = z.string().max(256);

const user = z.object({
  id: snowflake,
  username: name,
  global_name: name.nullish(),
  bot: z.boolean().optional(),
});

const attachment = z.object({
  id: snowflake,
  filename: z.string().max(1024),
  content_type: z.string().max(255).optional(),
  size: z.number().int().nonnegative(),
});

export const discordMessageSchema = z.object({
  id: snowflake,
  channel_id: snowflake,
  guild_id: snowflake.optional(),
  author: user,
  content: z.string(),
  timestamp: z.string().min(1).max(64),
  edited_timestamp: z.string().max(64).nullish(),
  type: z.number().int().nonnegative(),
  mentions: z.array(user).max(1_000),
  mention_roles: z.array(snowflake).max(250).default([]),
  attachments: z.array(attachment).max(100).default([]),
  sticker_items: z.array(z.object({ id: snowflake, name })).max(10).optional(),
  webhook_id: snowflake.optional(),
  message_reference: z
    .object({ type: z.number().int().optional(), message_id: snowflake.optional(), channel_id: snowflake.optional() })
    .optional(),
  referenced_message: z.object({ id: snowflake, author: user.pick({ id: true }) }).nullish(),
  channel_type: z.number().int().nonnegative().optional(),
});
export type DiscordMessage = z.infer<typeof discordMessageSchema>;

/** Plain messages and replies are conversation; joins, pins, thread-created notices and the like are not. */
const CONVERSATIONAL_TYPES = new Set([0, 19]);
export const THREAD_TYPES = new Set([10, 11, 12]);
const DM = 1;
const GROUP_DM = 3;

/** Where a message was said: a DM, or a guild channel, a thread being its own channel. */
export interface Place {
  kind: Conversation['kind'];
  thread: boolean;
  guildId?: string;
  /** A thread's parent channel: an access entry for it covers the thread. */
  parentId?: string;
}

/** The place from the channel's type (the `channel_type` extra field or the Channel object's `type`). */
export function placeOf(channelType: number, guildId: string | undefined, parentId?: string | null): Place {
  if (channelType === DM) return { kind: 'dm', thread: false };
  if (channelType === GROUP_DM) return { kind: 'group', thread: false };
  const thread = THREAD_TYPES.has(channelType);
  return { kind: 'channel', thread, ...(guildId ? { guildId } : {}), ...(thread && parentId ? { parentId } : {}) };
}

export type Dropped = { ok: false; audit?: 'inbound.unsupported' | 'inbound.rejected'; reason: string };
export type Verdict = { ok: true; event: ChannelEventInput } | Dropped;

export interface ParseContext {
  eventId: string;
  account: string;
  botId: string;
  place: Place;
  /** The referenced message was written by this bot (looked up by the caller when the payload lacks it). */
  replyToBot: boolean;
  /**
   * The role Discord made for the bot in this guild: clients offer it beside the bot when someone types @, and a
   * mention of it is a mention of the bot.
   */
  botRoleId?: string | undefined;
  /** Names of roles and channels, as people's clients show `<@&id>` and `<#id>` (from the gateway's caches). */
  names?: { role(id: string): string | undefined; channel(id: string): string | undefined };
  edited: boolean;
  assistant?: string;
  receivedAt: string;
}

/** Checks what can be decided from the message alone: our own, a system message, an edit that is not an edit. */
export function screen(message: DiscordMessage, botId: string, edited: boolean): Dropped | undefined {
  if (message.author.id === botId) return { ok: false, reason: 'own message' };
  // MESSAGE_UPDATE also fires when Discord unfurls a link (edited_timestamp stays null): nobody edited anything.
  if (edited && !message.edited_timestamp) return { ok: false, reason: 'update without an edit' };
  if (!CONVERSATIONAL_TYPES.has(message.type)) return { ok: false, audit: 'inbound.unsupported', reason: `message type ${message.type}` };
  return undefined;
}

const kindOf = (contentType: string | undefined): 'image' | 'audio' | 'video' | 'file' => {
  const top = contentType?.split('/')[0];
  return top === 'image' || top === 'audio' || top === 'video' ? top : 'file';
};

/** Cuts to at most `max` UTF-16 units without splitting a surrogate pair. */
const clip = (s: string, max: number): string => {
  if (s.length <= max) return s;
  const cut = s.slice(0, max);
  return /[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut;
};

/**
 * The text as people saw it in their client: `<@id>` as `@name` for the mentions the message carries as entities,
 * `<@&id>` as `@role` and `<#id>` as `#channel` where their names are known; anything else as written.
 */
function readable(m: DiscordMessage, names: ParseContext['names']): string {
  const people = new Map(m.mentions.map((u) => [u.id, u.global_name ?? u.username]));
  return m.content.replace(/<(@!?|@&|#)(\d{1,20})>/g, (token, kind: string, id: string) => {
    const name = kind === '@&' ? names?.role(id) : kind === '#' ? names?.channel(id) : people.get(id);
    return name === undefined ? token : `${kind === '#' ? '#' : '@'}${name}`;
  });
}

/** A reply counts as a reply only for a default reference: a forward (type 1) quotes, it does not answer. */
export const repliedMessageId = (m: DiscordMessage): string | undefined =>
  m.type === 19 && (m.message_reference?.type ?? 0) === 0 ? m.message_reference?.message_id : undefined;

/** The validated message as a ChannelEvent; mentions of the bot come from the mention entities, never the text. */
export function toChannelEvent(m: DiscordMessage, ctx: ParseContext): Verdict {
  const screened = screen(m, ctx.botId, ctx.edited);
  if (screened) return screened;
  const attachments = [
    ...m.attachments.map((a) => ({
      kind: kindOf(a.content_type),
      name: clip(a.filename, 256),
      ...(a.content_type ? { mimeType: clip(a.content_type, 128) } : {}),
      size: a.size,
      platformFileId: a.id,
    })),
    ...(m.sticker_items ?? []).map((s) => ({ kind: 'sticker' as const, name: s.name, platformFileId: s.id })),
  ].slice(0, 32);
  if (m.content === '' && attachments.length === 0) return { ok: false, audit: 'inbound.unsupported', reason: 'message without text or attachments' };
  const replyTo = repliedMessageId(m);
  const within = [ctx.place.guildId, ctx.place.parentId].filter((s): s is string => s !== undefined);
  const conversation: Conversation = {
    id: m.channel_id,
    kind: ctx.place.kind,
    ...(ctx.place.thread ? { threadId: m.channel_id } : {}),
    // An allowlisted guild admits its channels and threads, an allowlisted channel its threads.
    ...(within.length ? { within } : {}),
  };
  return {
    ok: true,
    event: {
      v: 1,
      id: ctx.eventId,
      platform: 'discord',
      account: ctx.account,
      conversation,
      // Webhook posts carry a made-up author; like bots they are never answered.
      sender: { id: m.author.id, name: m.author.global_name ?? m.author.username, isBot: m.author.bot === true || m.webhook_id !== undefined },
      ...inboundText(readable(m, ctx.names)),
      attachments,
      mentionsBot: m.mentions.some((u) => u.id === ctx.botId) || (ctx.botRoleId !== undefined && m.mention_roles.includes(ctx.botRoleId)),
      ...(replyTo ? { replyTo: { messageId: replyTo, toBot: ctx.replyToBot } } : {}),
      edited: ctx.edited,
      ...(ctx.assistant ? { assistant: ctx.assistant } : {}),
      // An edit is its own update: keyed by when it was made, so it is neither lost to the original's dedupe
      // mark nor published twice when Discord redelivers it.
      platformMessageId: ctx.edited ? `${m.id}:edited:${m.edited_timestamp}` : m.id,
      receivedAt: ctx.receivedAt,
      ...sentAt(Date.parse((ctx.edited ? m.edited_timestamp : undefined) ?? m.timestamp)),
    },
  };
}
