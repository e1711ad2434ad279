import { z } from 'zod';

/** Inbound text limit every connector accepts (DESIGN: longer is rejected with a notice). */
export const MAX_TEXT_CHARS = 100_000;
/**
 * An inbound text as a connector puts it in its event: a text over the limit is left out and only its length kept,
 * so the sender hears that it was too long rather than nothing.
 */
export const inboundText = (text: string): { text: string; tooLongChars?: number } =>
  text.length > MAX_TEXT_CHARS ? { text: '', tooLongChars: text.length } : { text };

export const tooLongNotice = (chars: number): string =>
  `Your message is too long (${chars.toLocaleString('en-US')} characters): the limit is ${MAX_TEXT_CHARS.toLocaleString('en-US')}. ` +
  'Please send it in shorter parts.';

/** A serialized event or reply larger than this is refused before it is even parsed. */
export const MAX_PAYLOAD_BYTES = 2 * 1024 * 1024;
/** All of a stateless request's earlier messages together. */
export const MAX_CONTEXT_CHARS = 400_000;
/** How many earlier messages a stateless request may bring: a long chat client's history, within the characters above. */
export const MAX_CONTEXT_MESSAGES = 1_000;
const MAX_ID = 256;
export const MAX_ATTACHMENTS = 32;
const MAX_ATTACHMENT_BYTES = 2 * 1024 * 1024 * 1024;

/** A string that is valid UTF-16: a lone surrogate would corrupt history, audit hashes and platform sends. */
const wellFormed = (max: number) =>
  z
    .string()
    .max(max)
    .refine((s) => s.isWellFormed(), { message: 'contains an unpaired UTF-16 surrogate' });

/** No platform's ids hold control characters; a NUL in one could make two messages' dedupe keys one (see dedupeKey). */
const id = wellFormed(MAX_ID)
  .min(1)
  .refine((s) => !/\p{Cc}/u.test(s), { message: 'contains a control character' });
/**
 * Control characters and line separators in a display name become spaces: a name is printed on one line (`pair
 * list`, logs, owner notices), and a newline or an escape sequence in it could forge a line or a terminal state.
 * (Bidi overrides stay: the guard plug reports them.)
 */
const SPOOFING = /[\p{Cc}\u2028\u2029]/gu;
const displayName = wellFormed(MAX_ID).transform((s) => s.replace(SPOOFING, ' '));

/**
 * A display name set among text that must read as it is meant to: an owner's pairing notice, `pair list`. Format
 * characters go too, above all bidi overrides: "Mallory U+202E…" would show the id and code after it reversed.
 */
export const oneLineName = (name: string): string => name.replace(/[\p{Cc}\p{Cf}\u2028\u2029]/gu, ' ');
export const platformName = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'must be a lower-case platform name');

export const conversationSchema = z
  .object({
    id,
    kind: z.enum(['dm', 'group', 'channel']),
    threadId: id.optional(),
    /** Enclosing scopes, outermost first (a Discord guild): an access entry for one of them covers the conversation. */
    within: z.array(id).max(4).optional(),
  })
  .strict();

export const senderSchema = z
  .object({
    id,
    name: displayName.optional(),
    isBot: z.boolean(),
    /**
     * Other ids the platform says this same person has (WhatsApp: the phone-number jid of a LID, and back): access
     * rules and run-time changes made under any of them apply. Sessions and replies stay keyed on `id`.
     */
    aliases: z.array(id).max(4).optional(),
  })
  .strict();

export const attachmentSchema = z
  .object({
    kind: z.enum(['image', 'audio', 'video', 'file', 'sticker', 'other']),
    name: displayName.optional(),
    mimeType: z.string().max(128).optional(),
    size: z.number().int().nonnegative().max(MAX_ATTACHMENT_BYTES).optional(),
    platformFileId: id.optional(),
  })
  .strict();

/** Version 1 of the one shape every connector normalizes its platform's updates into. */
export const channelEventSchema = z
  .object({
    v: z.literal(1),
    id,
    platform: platformName,
    account: id,
    conversation: conversationSchema,
    sender: senderSchema,
    text: wellFormed(MAX_TEXT_CHARS),
    /**
     * The length of a text longer than MAX_TEXT_CHARS, which is then left out (`text` empty): the worker answers with
     * a notice, once the inbound plugs have admitted the sender, instead of calling the backend.
     */
    tooLongChars: z.number().int().gt(MAX_TEXT_CHARS).optional(),
    attachments: z.array(attachmentSchema).max(MAX_ATTACHMENTS).default([]),
    mentionsBot: z.boolean().default(false),
    replyTo: z
      .object({ messageId: id, toBot: z.boolean() })
      .strict()
      .optional(),
    edited: z.boolean().default(false),
    /**
     * Stateless surfaces (the OpenAI-compatible API) bring the conversation so far with the message; the worker
     * then uses it instead of the session's stored history. Its system messages follow the assistant's own prompt.
     */
    context: z
      .array(z.object({ role: z.enum(['system', 'user', 'assistant']), content: wellFormed(MAX_TEXT_CHARS) }).strict())
      .max(MAX_CONTEXT_MESSAGES)
      .refine((c) => c.reduce((n, m) => n + m.content.length, 0) <= MAX_CONTEXT_CHARS, { message: `longer than ${MAX_CONTEXT_CHARS} characters in all` })
      .optional(),
    /** The assistant the connector was configured (or asked) for; a channel's own setting wins over it. */
    assistant: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).optional(),
    platformMessageId: id,
    receivedAt: z.iso.datetime(),
    /**
     * When the platform's server took the message (or the edit), where the server stamps it and not the sender's
     * device (Telegram, Discord, Slack): rate limits count a backlog read after downtime at the pace it was sent.
     */
    sentAt: z.iso.datetime().optional(),
  })
  .strict()
  .refine((e) => e.tooLongChars === undefined || e.text === '', { message: 'a text that is too long is left out', path: ['text'] });

export type ChannelEvent = z.infer<typeof channelEventSchema>;

/** `sentAt` from a platform's timestamp in milliseconds; nothing when the platform gave none that makes sense. */
export function sentAt(ms: number | undefined): { sentAt?: string } {
  const time = ms === undefined ? NaN : new Date(ms).getTime();
  return Number.isNaN(time) ? {} : { sentAt: new Date(time).toISOString() };
}
export type ChannelEventInput = z.input<typeof channelEventSchema>;
export type Conversation = z.infer<typeof conversationSchema>;

/** Where a reply goes: the originating connector account and conversation. */
export const addressSchema = z
  .object({
    platform: platformName,
    account: id,
    conversation: conversationSchema,
  })
  .strict();
export type Address = z.infer<typeof addressSchema>;

export const replySchema = z
  .object({
    v: z.literal(1),
    /** Stable across retries: the connector sends a reply with a given key at most once. */
    idempotencyKey: id,
    eventId: id,
    address: addressSchema,
    replyTo: id.optional(),
    text: wellFormed(1_000_000),
    format: z.enum(['plain', 'markdown']),
    /**
     * A notice (rate limit, pairing code, unavailable) rather than the assistant's answer; `haltedBy` names the plug.
     * A draft is the text of a reply still being written, shown growing where the connector can edit its messages.
     */
    kind: z.enum(['reply', 'notice', 'draft']).default('reply'),
    haltedBy: z.string().max(64).optional(),
    /** The streamed reply this belongs to: drafts and the final reply or notice share it, so the final replaces the drafts. */
    stream: id.optional(),
    /**
     * A draft: the least time between two drafts the connector shows (its `streamEditMs`). Drafts that queued up
     * while a send waited (a 429 sat out) would otherwise go out back to back; one due sooner waits its turn.
     */
    paceMs: z.number().int().min(0).max(600_000).optional(),
    /** A notice from a limit: when trying again can succeed (the API's Retry-After). */
    retryAfterMs: z.number().int().min(0).max(86_400_000).optional(),
    /** The tokens the backend reported for the turn this reply answers (what the API tells its caller). */
    usage: z.object({ inputTokens: z.number().int().min(0), outputTokens: z.number().int().min(0) }).strict().optional(),
  })
  .strict();
export type Reply = z.infer<typeof replySchema>;

/**
 * Notices that answer the caller rather than refuse it: a chat command's (`/help`), and `fallback: ask`'s question,
 * which the caller must answer. Every other notice (a limit, an unavailable backend, a refusal) says there is no answer.
 */
const ANSWERING_NOTICES = new Set(['commands', 'fallback']);
export const answersCaller = (reply: Reply): boolean => reply.kind !== 'notice' || ANSWERING_NOTICES.has(reply.haltedBy ?? '');

/** The one error every boundary raises for a payload it refuses; `issues` names the bad fields. */
export class InvalidPayloadError extends Error {
  override readonly name = 'InvalidPayloadError';
  constructor(
    readonly what: string,
    readonly issues: string[],
  ) {
    super(`invalid ${what}: ${issues.join('; ')}`);
  }
}

function describe(error: z.ZodError): string[] {
  return error.issues.slice(0, 10).map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
}

function parseWith<T>(schema: z.ZodType<T>, what: string, input: unknown): T {
  if (typeof input === 'string') {
    if (Buffer.byteLength(input, 'utf8') > MAX_PAYLOAD_BYTES) {
      throw new InvalidPayloadError(what, [`(root): larger than ${MAX_PAYLOAD_BYTES} bytes`]);
    }
    try {
      input = JSON.parse(input);
    } catch {
      throw new InvalidPayloadError(what, ['(root): not valid JSON']);
    }
  }
  const result = schema.safeParse(input);
  if (!result.success) throw new InvalidPayloadError(what, describe(result.error));
  return result.data;
}

/** Validates an event from an object or its JSON text; throws InvalidPayloadError naming each bad field. */
export const parseChannelEvent = (input: unknown): ChannelEvent => parseWith(channelEventSchema, 'channel event', input);
export const parseReply = (input: unknown): Reply => parseWith(replySchema, 'reply', input);

/** The identity access rules speak of: `platform:sender-id`. */
export const senderIdentity = (e: Pick<ChannelEvent, 'platform' | 'sender'>): string => `${e.platform}:${e.sender.id}`;

/** The sender's identity and those of its aliases: what access rules about this person may be written under. */
export const senderIdentities = (e: Pick<ChannelEvent, 'platform' | 'sender'>): string[] => [e.sender.id, ...(e.sender.aliases ?? [])].map((id) => `${e.platform}:${id}`);
export const conversationIdentity = (e: ChannelEvent): string => `${e.platform}:${e.conversation.id}`;
/** The conversation and every scope enclosing it, innermost first, as access identities. */
export const conversationScopes = (e: Pick<ChannelEvent, 'platform' | 'conversation'>): string[] => [e.conversation.id, ...[...(e.conversation.within ?? [])].reverse()].map((id) => `${e.platform}:${id}`);

/** Key under which a redelivered platform message is recognized. */
export const dedupeKey = (e: Pick<ChannelEvent, 'platform' | 'account' | 'platformMessageId'> & { conversation: { id: string } }): string =>
  [e.platform, e.account, e.conversation.id, e.platformMessageId].join('\u0000');

/** Session scope: one per DM sender, one shared per group/channel (thread). */
export function sessionScope(e: ChannelEvent): string {
  const c = e.conversation;
  if (c.kind === 'dm') return `dm:${e.sender.id}`;
  return c.threadId ? `thread:${c.threadId}` : 'main';
}

/** Replies for ephemeral loopback accounts (a terminal chat) go to that terminal's own queue. */
export function outboundQueue(address: Pick<Address, 'platform' | 'account'>): string {
  return address.platform === 'loopback' ? `outbound:loopback-${address.account}` : `outbound:${address.platform}`;
}
