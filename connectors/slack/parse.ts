import { z } from 'zod';
import { inboundText, sentAt, type ChannelEventInput } from '../../core/event.js';

/**
 * Slack Events API payloads (the `event_callback` wrapper, identical over Socket Mode and HTTP) to ChannelEvents.
 * Pure: what is not a ChannelEvent comes back as a reason to audit, never as an exception.
 */

const ts = z.string().regex(/^\d{1,12}\.\d{1,9}$/, 'must be a Slack timestamp');
const slackId = z.string().regex(/^[A-Za-z0-9]{1,64}$/, 'must be a Slack id');
const channelTypes = z.enum(['im', 'mpim', 'channel', 'group', 'app_home']);

const file = z.object({
  id: slackId,
  name: z.string().max(256).nullish(),
  mimetype: z.string().max(128).nullish(),
  size: z.number().int().nonnegative().nullish(),
});

/** The fields of a message we read; Slack sends many more, which are dropped. */
const messageFields = {
  user: slackId.optional(),
  bot_id: z.string().max(64).optional(),
  text: z.string().optional(),
  ts,
  thread_ts: ts.optional(),
  parent_user_id: slackId.optional(),
  blocks: z.array(z.unknown()).max(100).optional(),
  files: z.array(file).max(32).optional(),
  edited: z.object({ user: slackId.optional(), ts }).optional(),
  user_profile: z.object({ display_name: z.string().max(256).optional(), real_name: z.string().max(256).optional() }).optional(),
};

const innerMessage = z.object({ type: z.literal('message').optional(), subtype: z.string().max(64).optional(), ...messageFields });

const messageEvent = z.object({
  type: z.literal('message'),
  subtype: z.string().max(64).optional(),
  channel: slackId,
  channel_type: channelTypes.optional(),
  hidden: z.boolean().optional(),
  ...messageFields,
  /** Only on `message_changed`: the message as it is now. */
  message: innerMessage.optional(),
});

// `user` as on any message: another app's mention of ours has none, only its `bot_id`, and is a bot's, not malformed.
const appMentionEvent = z.object({ type: z.literal('app_mention'), channel: slackId, ...messageFields });

export const callbackSchema = z.object({
  type: z.literal('event_callback'),
  team_id: z.string().max(64).optional(),
  event_id: z.string().min(1).max(128),
  event: z.looseObject({ type: z.string().max(64) }),
});

export const urlVerificationSchema = z.object({ type: z.literal('url_verification'), challenge: z.string().min(1).max(1024) });

export interface ParseContext {
  /** The connector's name: the ChannelEvent account. */
  account: string;
  /** The bot's own user id and bot id (auth.test): its own messages are never answered. */
  botUserId: string;
  botId?: string | undefined;
  assistant?: string | undefined;
  now(): number;
  /** Whether the assistant has posted in this thread: a message there counts as a reply to it. */
  botInThread(channel: string, threadTs: string): Promise<boolean>;
  /** A person's name, for a message that does not carry its sender's profile. */
  userName?(userId: string): Promise<string | undefined>;
}

export type Normalized =
  | { kind: 'event'; eventId: string; event: ChannelEventInput }
  | { kind: 'ignored'; eventId?: string; audit: 'inbound.ignored' | 'inbound.unsupported'; reason: string }
  | { kind: 'rejected'; eventId?: string; issues: string[] };

/** Message subtypes that carry something a person said; the rest (joins, topics, deletions, …) are not answered. */
const SPOKEN_SUBTYPES = new Set(['file_share', 'thread_broadcast', 'me_message']);

const issuesOf = (error: z.ZodError): string[] =>
  error.issues.slice(0, 10).map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);

/** Normalizes one Events API payload (the outer `event_callback`). */
export async function normalize(payload: unknown, ctx: ParseContext): Promise<Normalized> {
  const outer = callbackSchema.safeParse(payload);
  if (!outer.success) return { kind: 'rejected', issues: issuesOf(outer.error) };
  const { event_id: eventId, event } = outer.data;
  if (event.type === 'app_mention') {
    const e = appMentionEvent.safeParse(event);
    return e.success ? fromMessage(eventId, e.data, e.data, { mention: true, edited: false }, ctx) : { kind: 'rejected', eventId, issues: issuesOf(e.error) };
  }
  if (event.type !== 'message') return { kind: 'ignored', eventId, audit: 'inbound.unsupported', reason: `event type ${event.type}` };
  const parsed = messageEvent.safeParse(event);
  if (!parsed.success) return { kind: 'rejected', eventId, issues: issuesOf(parsed.error) };
  const e = parsed.data;
  if (e.subtype === 'message_changed') {
    // An edit is normalized (the worker audits and ignores it); other changes (unfurls, reply counts) are not edits.
    if (!e.message) return { kind: 'rejected', eventId, issues: ['event.message: required for message_changed'] };
    if (!e.message.edited) return { kind: 'ignored', eventId, audit: 'inbound.unsupported', reason: 'message_changed without an edit' };
    return fromMessage(eventId, e, e.message, { mention: false, edited: true }, ctx);
  }
  if (e.subtype === 'bot_message') return { kind: 'ignored', eventId, audit: 'inbound.ignored', reason: 'bot message' };
  if (e.subtype !== undefined && !SPOKEN_SUBTYPES.has(e.subtype)) {
    return { kind: 'ignored', eventId, audit: 'inbound.unsupported', reason: `message subtype ${e.subtype}` };
  }
  if (e.hidden) return { kind: 'ignored', eventId, audit: 'inbound.unsupported', reason: 'hidden message' };
  return fromMessage(eventId, e, e, { mention: false, edited: false }, ctx);
}

type Where = { channel: string; channel_type?: z.infer<typeof channelTypes> | undefined };
const messageShape = z.object(messageFields);
type Message = z.infer<typeof messageShape>;

async function fromMessage(eventId: string, where: Where, m: Message, how: { mention: boolean; edited: boolean }, ctx: ParseContext): Promise<Normalized> {
  if (m.user === ctx.botUserId || (ctx.botId !== undefined && m.bot_id === ctx.botId)) {
    return { kind: 'ignored', eventId, audit: 'inbound.ignored', reason: 'own message' };
  }
  if (m.bot_id !== undefined) return { kind: 'ignored', eventId, audit: 'inbound.ignored', reason: 'bot message' };
  if (m.user === undefined) return { kind: 'rejected', eventId, issues: ['event.user: required'] };
  const raw = m.text ?? '';
  const channel = where.channel;
  const kind = kindOf(where.channel_type, channel);
  const inThread = m.thread_ts !== undefined && m.thread_ts !== m.ts;
  // A channel message is answered in its own thread, a threaded one in its thread; a top-level DM at top level.
  const threadId = m.thread_ts ?? (kind === 'dm' ? undefined : m.ts);
  const toBot = inThread && (m.parent_user_id === ctx.botUserId || (await ctx.botInThread(channel, m.thread_ts!)));
  const name = m.user_profile?.display_name || m.user_profile?.real_name || (await ctx.userName?.(m.user));
  // channel + ts names the message, whichever event (message or app_mention) brought it: one reply, never two.
  const messageId = how.edited ? `${channel}:${m.ts}:edit:${m.edited?.ts ?? ''}` : `${channel}:${m.ts}`;
  const event: ChannelEventInput = {
    v: 1,
    id: `slack:${messageId}`,
    platform: 'slack',
    account: ctx.account,
    conversation: { id: channel, kind, ...(threadId ? { threadId } : {}) },
    sender: { id: m.user, isBot: false, ...(name ? { name } : {}) },
    // Measured as the user typed it: Slack's `&amp;` is one character.
    ...inboundText(readableText(stripLeadingMention(raw, ctx.botUserId))),
    attachments: (m.files ?? []).map(attachment),
    mentionsBot: how.mention || mentions(m, ctx.botUserId),
    ...(inThread ? { replyTo: { messageId: `${channel}:${m.thread_ts}`, toBot } } : {}),
    edited: how.edited,
    ...(ctx.assistant ? { assistant: ctx.assistant } : {}),
    platformMessageId: messageId,
    receivedAt: new Date(ctx.now()).toISOString(),
    ...sentAt(Number((how.edited ? m.edited?.ts : undefined) ?? m.ts) * 1000),
  };
  return { kind: 'event', eventId, event };
}

function kindOf(channelType: Where['channel_type'], channel: string): 'dm' | 'group' | 'channel' {
  if (channelType === 'im' || channelType === 'app_home') return 'dm';
  if (channelType === 'mpim' || channelType === 'group') return 'group';
  if (channelType === 'channel') return 'channel';
  // app_mention carries no channel_type; Slack's id prefixes say D for a DM, G for a private channel or group DM.
  return channel.startsWith('D') ? 'dm' : channel.startsWith('G') ? 'group' : 'channel';
}

/** The platform's mention entity: `<@BOT>` in the text (Slack's encoding) or a `user` element of a rich_text block. */
function mentions(m: Message, botUserId: string): boolean {
  if (m.text !== undefined && new RegExp(`<@${botUserId}(?:\\|[^>]*)?>`).test(m.text)) return true;
  return hasUserElement(m.blocks, botUserId, 0);
}

function hasUserElement(node: unknown, botUserId: string, depth: number): boolean {
  if (depth > 8 || node === null || typeof node !== 'object') return false;
  if (Array.isArray(node)) return node.some((n) => hasUserElement(n, botUserId, depth + 1));
  const o = node as Record<string, unknown>;
  if (o.type === 'user' && o.user_id === botUserId) return true;
  return hasUserElement(o.elements, botUserId, depth + 1);
}

/**
 * Slack's wire text to what the user typed and saw. A bare `<` only ever opens Slack's own markup (a typed one
 * arrives as `&lt;`): `<@U1|ada>` and `<#C1|general>` are shown as @ada and #general, `<!here>` as @here, a link as
 * what was typed (a bare domain typed becomes `<http://example.com|example.com>`), and a link whose label hides its
 * address as both, `click (https://…)`: the assistant must know where a link leads. Then the three entities Slack
 * escapes are decoded.
 */
export const readableText = (text: string): string =>
  text
    .replace(/<([^<>]*)>/g, (_m, inner: string) => {
      const bar = inner.indexOf('|');
      // An empty label (`<#C1|>`, as Slack sends some channel links) is no label: the id is all there is to show.
      const [target, label] = bar < 0 ? [inner, undefined] : [inner.slice(0, bar), inner.slice(bar + 1) || undefined];
      if (target.startsWith('@')) return `@${label ?? target.slice(1)}`;
      if (target.startsWith('#')) return `#${label ?? target.slice(1)}`;
      if (target.startsWith('!')) return label ?? `@${target.slice(1).split('^')[0]}`;
      return label === undefined || label === target.replace(/^(https?:\/\/|mailto:)/, '') ? (label ?? target) : `${label} (${target})`;
    })
    .replace(/&(amp|lt|gt);/g, (_m, e: string) => (e === 'amp' ? '&' : e === 'lt' ? '<' : '>'));

/** "@assistant what's up" reaches the assistant as "what's up": the mention addresses, it is not content. */
const stripLeadingMention = (text: string, botUserId: string): string =>
  text.replace(new RegExp(`^\\s*<@${botUserId}(?:\\|[^>]*)?>[\\s:,]*`), '');

function attachment(f: z.infer<typeof file>) {
  const mime = f.mimetype ?? undefined;
  const kind = mime?.startsWith('image/') ? 'image' : mime?.startsWith('audio/') ? 'audio' : mime?.startsWith('video/') ? 'video' : 'file';
  return {
    kind,
    platformFileId: f.id,
    ...(f.name ? { name: f.name.slice(0, 256) } : {}),
    ...(mime ? { mimeType: mime } : {}),
    ...(typeof f.size === 'number' ? { size: f.size } : {}),
  } as const;
}
