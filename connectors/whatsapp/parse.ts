import { isJidBot, isJidBroadcast, isJidGroup, isJidMetaAI, isJidNewsletter, isJidStatusBroadcast, jidNormalizedUser } from 'baileys';
import { z } from 'zod';
import { inboundText, type ChannelEventInput } from '../../core/event.js';
import type { WaKey, WaQuoted } from './socket.js';

/** The bot's own identity: a linked device has a phone-number jid and a LID, and either can appear in a message. */
export interface Self {
  ids: Set<string>;
}

export interface ParseContext {
  account: string;
  self: Self;
  /** LID ↔ phone-number jid, both ways, as WhatsApp told earlier messages: a message without the alternate address still maps. */
  aliases?: ReadonlyMap<string, string>;
  assistant?: string | undefined;
  now(): number;
}

export type Parsed =
  | { kind: 'event'; event: ChannelEventInput; key: WaKey; quoted: WaQuoted; timestamp: number; expiration: number | undefined; alias: [lid: string, number: string] | undefined }
  | { kind: 'ignored'; reason: 'own' | 'status' | 'broadcast' | 'newsletter' }
  | { kind: 'unsupported'; type: string }
  | { kind: 'rejected'; issues: string[] };

/** protobuf uint64 arrives as a number, a decimal string or a Long ({ low, high }). */
const long = z.union([
  z.number().nonnegative(),
  z.string().regex(/^\d{1,20}$/).transform(Number),
  z.looseObject({ low: z.number(), high: z.number() }).transform((l) => l.high * 2 ** 32 + (l.low >>> 0)),
]);
const jid = z.string().min(3).max(200).regex(/^[^@\s]*@[a-z.]+$/, 'must be a WhatsApp jid');
const keySchema = z.looseObject({
  remoteJid: jid,
  fromMe: z.boolean().nullish(),
  id: z.string().min(1).max(128),
  participant: jid.nullish(),
  /** The other addressing of the same chat or person (baileys 7): the phone-number jid when the key holds a LID. */
  remoteJidAlt: jid.nullish(),
  participantAlt: jid.nullish(),
});
const contextInfo = z
  .looseObject({
    stanzaId: z.string().max(128).nullish(),
    participant: jid.nullish(),
    quotedMessage: z.record(z.string(), z.unknown()).nullish(),
    mentionedJid: z.array(z.string().max(200)).max(1024).nullish(),
    /** Seconds a message lives in a chat with disappearing messages on. */
    expiration: z.number().int().nonnegative().nullish(),
  })
  .nullish();
const media = z.looseObject({
  caption: z.string().nullish(),
  mimetype: z.string().max(128).nullish(),
  fileLength: long.nullish(),
  fileName: z.string().nullish(),
  contextInfo,
});
export const upsertSchema = z.looseObject({
  type: z.enum(['notify', 'append']),
  messages: z
    .array(
      z.looseObject({
        key: keySchema,
        message: z.record(z.string(), z.unknown()).nullish(),
        messageTimestamp: long.nullish(),
        pushName: z.string().nullish(),
      }),
    )
    .max(1000),
});
export type Upsert = z.infer<typeof upsertSchema>;
export type UpsertMessage = Upsert['messages'][number];

const issuesOf = (e: z.ZodError, prefix = ''): string[] => e.issues.slice(0, 10).map((i) => `${prefix}${i.path.join('.') || '(root)'}: ${i.message}`);

const MAX_DEPTH = 24;

/**
 * baileys emits protobufjs instances (proto.Message from decode, sometimes a whole WebMessageInfo): fields it did
 * not receive are null defaults on the prototype, uint64s are Longs, bytes are Uint8Arrays. This copies what is
 * really there (own properties) into plain objects, Longs as numbers, so one schema reads both live payloads and
 * JSON fixtures. Deeper than any real message is refused.
 */
export function plain(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return value;
  if (depth > MAX_DEPTH) throw new RangeError(`nested deeper than ${MAX_DEPTH} levels`);
  if (Array.isArray(value)) return value.map((v) => plain(v, depth + 1));
  const long = value as { low?: unknown; high?: unknown; toNumber?: unknown };
  if (typeof long.low === 'number' && typeof long.high === 'number' && typeof long.toNumber === 'function') return (long.toNumber as () => number).call(value);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = plain(v, depth + 1);
  return out;
}

/** Validates a `messages.upsert` payload's envelope; each message is then parsed on its own. */
export function parseUpsert(raw: unknown): { ok: true; upsert: Upsert } | { ok: false; issues: string[] } {
  let copy: unknown;
  try {
    copy = plain(raw);
  } catch (error) {
    return { ok: false, issues: [`(root): ${(error as Error).message}`] };
  }
  const r = upsertSchema.safeParse(copy);
  return r.success ? { ok: true, upsert: r.data } : { ok: false, issues: issuesOf(r.error) };
}

// editedMessage: newer clients wrap an edit's protocolMessage in it.
const WRAPPERS = ['ephemeralMessage', 'viewOnceMessage', 'viewOnceMessageV2', 'viewOnceMessageV2Extension', 'documentWithCaptionMessage', 'editedMessage'];
const MEDIA: Record<string, NonNullable<ChannelEventInput['attachments']>[number]['kind']> = {
  imageMessage: 'image',
  videoMessage: 'video',
  audioMessage: 'audio',
  documentMessage: 'file',
  stickerMessage: 'sticker',
};
/** Carried next to the content; never content themselves. */
const SIDECARS = new Set(['messageContextInfo', 'senderKeyDistributionMessage']);
const MESSAGE_EDIT = 14;
const MAX_QUOTE_CHARS = 16_384;

/** Disappearing-message and view-once wrappers hold the real message one level down (at most a few levels). */
function unwrap(message: Record<string, unknown>): Record<string, unknown> {
  for (let depth = 0; depth < 4; depth++) {
    const wrapper = WRAPPERS.find((w) => message[w] != null);
    const inner = wrapper ? (message[wrapper] as { message?: unknown }).message : undefined;
    if (!inner || typeof inner !== 'object') return message;
    message = inner as Record<string, unknown>;
  }
  return message;
}

const norm = (j: string): string => jidNormalizedUser(j);

/** baileys' isJidBot knows official bots only in their `@c.us` form, which normalizing turns into `@s.whatsapp.net`. */
const isBotJid = (j: string): boolean => !!isJidBot(j.replace(/@s\.whatsapp\.net$/, '@c.us')) || !!isJidMetaAI(j);
const name = (s: string): string => s.toWellFormed().slice(0, 256);

/** One message of an upsert to a ChannelEvent (or why not); never throws. */
export function parseMessage(m: UpsertMessage, ctx: ParseContext): Parsed {
  const { key } = m;
  if (isJidStatusBroadcast(key.remoteJid)) return { kind: 'ignored', reason: 'status' };
  if (isJidBroadcast(key.remoteJid)) return { kind: 'ignored', reason: 'broadcast' };
  if (isJidNewsletter(key.remoteJid)) return { kind: 'ignored', reason: 'newsletter' };
  if (key.fromMe) return { kind: 'ignored', reason: 'own' };
  if (!m.message) return { kind: 'unsupported', type: 'no content (stub)' };
  let content = unwrap(m.message);
  let edited: string | undefined;
  const protocol = content.protocolMessage as { type?: unknown; key?: { id?: unknown }; editedMessage?: unknown } | undefined;
  if (protocol && protocol.type === MESSAGE_EDIT && protocol.editedMessage && typeof protocol.key?.id === 'string') {
    // An edit names the message it changes; the worker audits edits and never answers them.
    edited = protocol.key.id;
    content = unwrap(protocol.editedMessage as Record<string, unknown>);
  }
  const type = Object.keys(content).find((k) => !SIDECARS.has(k) && content[k] != null);
  if (!type) return { kind: 'unsupported', type: 'empty' };

  let text: string | undefined;
  let ctxInfo: z.infer<typeof contextInfo>;
  const attachments: NonNullable<ChannelEventInput['attachments']> = [];
  if (typeof content.conversation === 'string') text = content.conversation;
  else if (content.extendedTextMessage != null) {
    const ext = z.looseObject({ text: z.string().nullish(), contextInfo }).safeParse(content.extendedTextMessage);
    if (!ext.success) return { kind: 'rejected', issues: issuesOf(ext.error, 'extendedTextMessage.') };
    text = ext.data.text ?? '';
    ctxInfo = ext.data.contextInfo;
  } else {
    const mediaType = Object.keys(MEDIA).find((k) => content[k] != null);
    if (!mediaType) return { kind: 'unsupported', type };
    const md = media.safeParse(content[mediaType]);
    if (!md.success) return { kind: 'rejected', issues: issuesOf(md.error, `${mediaType}.`) };
    text = md.data.caption ?? '';
    ctxInfo = md.data.contextInfo;
    attachments.push({
      kind: MEDIA[mediaType]!,
      ...(md.data.fileName ? { name: name(md.data.fileName) } : {}),
      ...(md.data.mimetype ? { mimeType: md.data.mimetype } : {}),
      ...(md.data.fileLength != null ? { size: md.data.fileLength } : {}),
    });
  }

  const group = isJidGroup(key.remoteJid) === true;
  // The chat keeps the address it came from (a reply goes back there); the person is known by number where possible.
  const conversationId = group ? key.remoteJid : norm(key.remoteJid);
  if (group && !key.participant) return { kind: 'rejected', issues: ['key.participant: required in a group'] };
  // A person is known by the id the message was addressed from (a LID or a number, as the chat goes: the session
  // follows it), and by the other one where WhatsApp says it, now or in an earlier message: access rules and
  // run-time changes under either apply (a deny by number holds under the LID).
  const [rawSender, alt] = group ? [key.participant!, key.participantAlt] : [key.remoteJid, key.remoteJidAlt];
  const senderId = norm(rawSender);
  const other = alt ? norm(alt) : ctx.aliases?.get(senderId);
  const senderAliases = other && other !== senderId ? [other] : [];
  // What this message teaches: which number a LID stands for, for later messages that do not say.
  const lid = [senderId, other].find((j) => j?.endsWith('@lid'));
  const number = [senderId, other].find((j) => j?.endsWith('@s.whatsapp.net'));
  const alias: [string, string] | undefined = alt && lid && number ? [lid, number] : undefined;
  const mine = (j: string | null | undefined) => !!j && ctx.self.ids.has(norm(j));
  // fromMe is baileys' word for it; a message under our own jid or LID is ours whatever that flag says.
  if (mine(senderId)) return { kind: 'ignored', reason: 'own' };
  const platformMessageId = edited ? `${edited}:edited:${key.id}` : key.id;
  const timestamp = m.messageTimestamp ?? Math.floor(ctx.now() / 1000);
  const event: ChannelEventInput = {
    v: 1,
    id: `whatsapp:${conversationId}:${platformMessageId}`,
    platform: 'whatsapp',
    account: ctx.account,
    conversation: { id: conversationId, kind: group ? 'group' : 'dm' },
    sender: { id: senderId, ...(m.pushName ? { name: name(m.pushName) } : {}), isBot: [rawSender, alt, other].some((j) => !!j && isBotJid(j)), ...(senderAliases.length ? { aliases: senderAliases } : {}) },
    ...inboundText(text),
    attachments,
    mentionsBot: (ctxInfo?.mentionedJid ?? []).some(mine),
    ...(ctxInfo?.stanzaId ? { replyTo: { messageId: ctxInfo.stanzaId, toBot: mine(ctxInfo.participant) } } : {}),
    edited: edited !== undefined,
    ...(ctx.assistant ? { assistant: ctx.assistant } : {}),
    platformMessageId,
    receivedAt: new Date(ctx.now()).toISOString(),
  };
  const waKey: WaKey = { remoteJid: key.remoteJid, id: key.id, fromMe: false, ...(key.participant ? { participant: key.participant } : {}) };
  const expiration = ctxInfo?.expiration ? ctxInfo.expiration : undefined;
  return { kind: 'event', event, key: waKey, quoted: { key: waKey, message: quotable(m.message, text) }, timestamp, expiration, alias };
}

/** Kept in memory until the reply quotes it: a large message is quoted by (the start of) its text alone. */
function quotable(message: Record<string, unknown>, text: string): Record<string, unknown> {
  let size = Infinity;
  try {
    size = JSON.stringify(message).length;
  } catch {
    // not serializable: use the stand-in
  }
  return size <= MAX_QUOTE_CHARS ? message : { conversation: text.slice(0, 1_000) };
}
