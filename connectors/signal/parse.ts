import { createHash } from 'node:crypto';
import { z } from 'zod';
import { inboundText, type ChannelEventInput } from '../../core/event.js';

/**
 * signal-cli `receive` notification → ChannelEvent (shapes from signal-cli's JsonMessageEnvelope and friends).
 * Objects are not strict: signal-cli adds fields release by release, and an unknown field must not cost a message.
 */

const str = (max = 256) => z.string().max(max).nullish();
/** Display text (names, file names) is shortened, never a reason to lose the message it came with. */
const label = z
  .string()
  .max(65_536)
  .nullish()
  .transform((v) => (v ? v.slice(0, 128).toWellFormed() : undefined));
const mentionSchema = z.object({ uuid: str(), number: str(), name: str(), start: z.number().int().min(0), length: z.number().int().min(0) });
const dataMessageSchema = z.object({
  timestamp: z.number().int().positive(),
  // The limit (100,000 characters) is checked below so that an oversized message is told apart from a malformed one.
  message: z.string().nullish(),
  mentions: z.array(mentionSchema).max(200).nullish(),
  quote: z.object({ id: z.number().int().positive(), author: str(), authorNumber: str(), authorUuid: str() }).nullish(),
  attachments: z
    .array(z.object({ contentType: str(128), filename: str(), id: str(), size: z.number().int().min(0).nullish() }))
    .max(32)
    .nullish(),
  sticker: z.object({ packId: str(), stickerId: z.number().int().nullish() }).nullish(),
  groupInfo: z.object({ groupId: z.string().min(1).max(256), type: str() }).nullish(),
  reaction: z.unknown().optional(),
  remoteDelete: z.unknown().optional(),
  isExpirationUpdate: z.boolean().nullish(),
});
const envelopeSchema = z.object({
  source: str(),
  sourceNumber: str(),
  sourceUuid: str(),
  sourceName: label,
  timestamp: z.number().int().positive(),
  dataMessage: dataMessageSchema.nullish(),
  editMessage: z.object({ targetSentTimestamp: z.number().int(), dataMessage: dataMessageSchema }).nullish(),
  syncMessage: z.unknown().optional(),
  typingMessage: z.unknown().optional(),
  receiptMessage: z.unknown().optional(),
  callMessage: z.unknown().optional(),
  storyMessage: z.unknown().optional(),
});
const paramsSchema = z.object({
  account: str(),
  envelope: envelopeSchema.nullish(),
  exception: z.object({ message: str(2000), type: str() }).nullish(),
});

export type IgnoredReason =
  | 'sync'
  | 'typing'
  | 'receipt'
  | 'self'
  | 'other-account'
  | 'reaction'
  | 'delete'
  | 'group-update'
  | 'empty'
  | 'undecryptable';

export type Parsed =
  | { kind: 'event'; event: ChannelEventInput & { conversation: { id: string; kind: 'dm' | 'group' } }; addressed: boolean }
  /** Never answered by design: counted, not audited (typing and receipts arrive all day). */
  | { kind: 'ignored'; reason: IgnoredReason; selfUuid?: string; other?: string }
  /** Something we do not handle (calls, stories, other methods): audited as inbound.unsupported. */
  | { kind: 'unsupported'; what: string }
  /** Malformed or oversized: audited as inbound.rejected. */
  | { kind: 'rejected'; issues: string[] };

export interface ParseContext {
  platform: string;
  /** The account's number, as configured (`+1555…`). */
  account: string;
  /** The account's own ACI (uuid), once learned; mentions and quotes of it address the assistant. */
  selfUuid: string | undefined;
  assistant: string | undefined;
  /** Groups where the assistant answers without being mentioned (`channels[…].requireMention: false`). */
  answersUnmentioned(groupId: string): boolean;
  now(): number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The platform message id: sender and sent timestamp, which is also what a quote of the message carries. */
export const messageId = (uuid: string, timestamp: number): string => `${uuid}:${timestamp}`;

export function parseNotification(method: string, rawParams: unknown, ctx: ParseContext): Parsed {
  if (method !== 'receive') return { kind: 'unsupported', what: `method ${method.slice(0, 64)}` };
  // Manual receive mode wraps the payload: {subscription, result: {envelope, account}}.
  const unwrapped = rawParams && typeof rawParams === 'object' && 'result' in rawParams && 'subscription' in rawParams ? (rawParams as { result: unknown }).result : rawParams;
  const parsed = paramsSchema.safeParse(unwrapped);
  if (!parsed.success) {
    return { kind: 'rejected', issues: parsed.error.issues.slice(0, 10).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`) };
  }
  const { account, envelope, exception } = parsed.data;
  if (account && account !== ctx.account) return { kind: 'ignored', reason: 'other-account', other: account };
  if (!envelope) return exception ? { kind: 'ignored', reason: 'undecryptable' } : { kind: 'rejected', issues: ['envelope: missing'] };
  const uuid = envelope.sourceUuid ?? undefined;
  const fromSelf = (uuid !== undefined && uuid === ctx.selfUuid) || (!!envelope.sourceNumber && envelope.sourceNumber === ctx.account);
  const selfUuid = fromSelf ? uuid : undefined;
  // Sync messages are the owner's own devices (Note to Self, transcripts of what they sent): never answered.
  if (envelope.syncMessage != null) return { kind: 'ignored', reason: 'sync', ...(selfUuid ? { selfUuid } : {}) };
  if (envelope.typingMessage != null) return { kind: 'ignored', reason: 'typing' };
  if (envelope.receiptMessage != null) return { kind: 'ignored', reason: 'receipt' };
  if (envelope.callMessage != null) return { kind: 'unsupported', what: 'call' };
  if (envelope.storyMessage != null) return { kind: 'unsupported', what: 'story' };
  const edited = !!envelope.editMessage;
  const data = envelope.editMessage?.dataMessage ?? envelope.dataMessage;
  if (!data) return exception ? { kind: 'ignored', reason: 'undecryptable' } : { kind: 'unsupported', what: 'envelope without a message' };
  if (fromSelf) return { kind: 'ignored', reason: 'self', ...(selfUuid ? { selfUuid } : {}) };
  if (data.reaction != null) return { kind: 'ignored', reason: 'reaction' };
  if (data.remoteDelete != null) return { kind: 'ignored', reason: 'delete' };
  if (data.isExpirationUpdate || data.groupInfo?.type === 'UPDATE') return { kind: 'ignored', reason: 'group-update' };
  // A person is their ACI: the number can be hidden (usernames) or change, so it never identifies anyone.
  if (!uuid || !UUID.test(uuid)) return { kind: 'rejected', issues: ['envelope.sourceUuid: missing or not a uuid'] };

  const attachments = [
    ...(data.attachments ?? []).map((a) => ({
      kind: attachmentKind(a.contentType ?? undefined),
      ...(a.filename ? { name: a.filename } : {}),
      ...(a.contentType ? { mimeType: a.contentType } : {}),
      ...(a.size != null ? { size: a.size } : {}),
      ...(a.id ? { platformFileId: a.id } : {}),
    })),
    ...(data.sticker ? [{ kind: 'sticker' as const, ...(data.sticker.packId ? { platformFileId: `${data.sticker.packId}:${data.sticker.stickerId ?? 0}` } : {}) }] : []),
  ];
  const rawText = data.message ?? '';
  if (!rawText.trim() && attachments.length === 0) return { kind: 'ignored', reason: 'empty' };
  const isSelf = (m: { uuid?: string | null | undefined; number?: string | null | undefined }) =>
    (!!m.uuid && m.uuid === ctx.selfUuid) || (!!m.number && m.number === ctx.account);
  // A mention is its placeholder: an entry pointing at ordinary text (a modified client) addresses no one.
  const mentions = placedMentions(rawText, data.mentions ?? []);
  const mentionsBot = mentions.some(isSelf);
  const text = replaceMentions(rawText, mentions, isSelf);

  const quote = data.quote;
  const quoted = quote ? (quote.authorUuid ?? quote.authorNumber ?? quote.author) : undefined;
  const replyTo = quote && quoted ? { messageId: messageId(quoted, quote.id), toBot: isSelf({ uuid: quote.authorUuid, number: quote.authorNumber ?? quote.author }) } : undefined;
  const group = data.groupInfo?.groupId;
  // An edit keeps its own envelope timestamp, so it never collides with the original it edits.
  const platformMessageId = messageId(uuid, edited ? envelope.timestamp : data.timestamp);
  const conversation = group ? { id: group, kind: 'group' as const } : { id: uuid, kind: 'dm' as const };
  const addressed = !group || mentionsBot || replyTo?.toBot === true || ctx.answersUnmentioned(group);
  return {
    kind: 'event',
    addressed,
    event: {
      v: 1,
      id: `signal-${createHash('sha256').update(`${ctx.account}\0${platformMessageId}`).digest('hex').slice(0, 32)}`,
      platform: ctx.platform,
      account: ctx.account,
      conversation,
      sender: { id: uuid, ...(envelope.sourceName ? { name: envelope.sourceName } : {}), isBot: false },
      ...inboundText(text),
      attachments,
      mentionsBot,
      ...(replyTo ? { replyTo } : {}),
      edited,
      ...(ctx.assistant ? { assistant: ctx.assistant } : {}),
      platformMessageId,
      receivedAt: new Date(ctx.now()).toISOString(),
    },
  };
}

function attachmentKind(mime: string | undefined): 'image' | 'audio' | 'video' | 'file' {
  if (mime?.startsWith('image/')) return 'image';
  if (mime?.startsWith('audio/')) return 'audio';
  if (mime?.startsWith('video/')) return 'video';
  return 'file';
}

type Mention = z.infer<typeof mentionSchema>;

/** The mentions whose span in the text is U+FFFC placeholders, as Signal clients write them. */
export const placedMentions = (text: string, mentions: readonly Mention[]): Mention[] =>
  mentions.filter((m) => m.length > 0 && m.start + m.length <= text.length && /^\uFFFC+$/.test(text.slice(m.start, m.start + m.length)));

/**
 * How someone else's mention reads: their name where signal-cli gives one, else a short id. Never their number:
 * the sender saw a name, and the text goes to the backend (signal-cli's `name` is the number when it has one).
 */
function mentionLabel(m: Mention): string {
  const name = m.name?.trim();
  if (name && !/^[+\d\s().-]+$/.test(name) && !UUID_TEXT.test(name)) return name;
  return m.uuid ? m.uuid.slice(0, 8) : 'someone';
}
const UUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-/i;

/**
 * Mentions are U+FFFC (object replacement) placeholders in the text, located by start/length in UTF-16 units. Someone else's becomes
 * `@<name or short id>`; the assistant's own is dropped where it merely addresses (at the start or end) and reads
 * `@assistant` mid-sentence, so the model sees what the person meant, not a placeholder.
 */
export function replaceMentions(
  text: string,
  mentions: ReadonlyArray<z.infer<typeof mentionSchema>>,
  isSelf: (m: z.infer<typeof mentionSchema>) => boolean,
): string {
  let out = text;
  const valid = placedMentions(text, mentions).sort((a, b) => b.start - a.start);
  let last = Infinity;
  for (const m of valid) {
    if (m.start + m.length > last) continue; // overlapping spans: keep the later one
    last = m.start;
    const before = out.slice(0, m.start);
    const after = out.slice(m.start + m.length);
    if (!isSelf(m)) {
      out = `${before}@${mentionLabel(m)}${after}`;
    } else if (!before.trim()) {
      out = before + after.replace(/^[\s,:]+/, '');
    } else if (!after.trim()) {
      out = before.replace(/\s+$/, '') + after;
    } else {
      out = `${before}@assistant${after}`;
    }
  }
  return out;
}
