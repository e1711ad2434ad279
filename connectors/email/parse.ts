import { createHash } from 'node:crypto';
import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import { inboundText, sentAt, type ChannelEventInput } from '../../core/event.js';
import type { EmailState, MessageRecord } from './state.js';
import { baseSubject, isReplySubject, visibleText } from './text.js';
import { largeHtmlText, MAX_HTML_TO_PARSE } from './html-text.js';

/**
 * One raw message (RFC 5322 source from IMAP) to a ChannelEvent, or the reason it is never answered. The
 * conversation is the thread: its id is the thread's root Message-ID, found through the nearest ancestor the
 * connector already knows (so a reply to the assistant's own reply joins that thread), else the first of
 * References, else In-Reply-To, else — for clients that drop both — the same sender's thread with the same base
 * subject when the subject says "Re:", else the message itself.
 */

export type ParseOutcome =
  | { kind: 'event'; event: ChannelEventInput; messageId: string; root: string; record: MessageRecord; sender: string; base: string }
  | { kind: 'ignored' | 'rejected'; reason: string; messageId?: string; from?: string };

export interface ParseContext {
  /** The connector's own address, lower-cased: the account of every event and the loop guard. */
  address: string;
  assistant?: string | undefined;
  now(): number;
  state: Pick<EmailState, 'message' | 'bySubject'>;
  /**
   * Whether access admits this address as a sender of its own: Reply-To may only name such addresses. From is
   * checked by the access plug, but a forged From with a Reply-To of strangers would make the assistant write to
   * them. Left out, every Reply-To address is used.
   */
  admits?(address: string): Promise<boolean>;
  /**
   * When the receiving server took the message in (IMAP INTERNALDATE), for the rate limit: never the Date header,
   * which the sender writes and could date back to slip past the limit.
   */
  arrivedAt?: Date | undefined;
}

/** Ends the id a message without a Message-ID is known by here: kept for threading, never sent out as its id. */
const STAND_IN_ID = '@no-message-id.invalid';
export const isStandInId = (id: string): boolean => id.endsWith(`${STAND_IN_ID}>`);
/** A Message-ID we can use as an id (<= 256 chars with brackets) and put back into In-Reply-To. */
const MESSAGE_ID = /^<[^<>\s"\\]{1,250}>$/;
const ID_TOKEN = /<[^<>\s"\\]{1,250}>/g;
/** References kept in state and sent on: the root and the nearest ancestors (RFC 5322 §3.6.4 allows trimming). */
export const MAX_REFERENCES = 20;

const PARSER_OPTIONS = {
  skipTextToHtml: true,
  skipImageLinks: true,
  keepCidLinks: true,
  checksumAlgo: false,
  // html-to-text on a giant HTML part is slow; such a part gets no text here (see largeHtmlText).
  maxHtmlLengthToParse: MAX_HTML_TO_PARSE,
} as const;

const ids = (value: string | string[] | undefined): string[] => [...new Set([value ?? []].flat().flatMap((v) => v.match(ID_TOKEN) ?? []))];

export function trimReferences(refs: string[]): string[] {
  return refs.length <= MAX_REFERENCES ? refs : [refs[0]!, ...refs.slice(refs.length - MAX_REFERENCES + 1)];
}

/** Every usable mailbox of an address header, groups opened, lower-cased, in order, once each. */
function addresses(header: AddressObject | AddressObject[] | undefined): Array<{ address: string; name?: string }> {
  const out = new Map<string, { address: string; name?: string }>();
  for (const obj of [header ?? []].flat()) {
    for (const a of obj.value.flatMap((v) => (v.group ? v.group : [v]))) {
      const address = a.address?.trim().toLowerCase();
      if (address && /^[^\s@<>]+@[^\s@<>]+$/.test(address) && address.length <= 254 && !out.has(address)) out.set(address, { address, ...(a.name ? { name: a.name } : {}) });
    }
  }
  return [...out.values()];
}

/** Unfolded raw header values by lower-case name: the never-answer rules read headers exactly as sent. */
function rawHeaders(mail: ParsedMail): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const { key, line } of mail.headerLines) {
    const value = line.slice(line.indexOf(':') + 1).replace(/\r?\n[ \t]+/g, ' ').trim();
    out.set(key, [...(out.get(key) ?? []), value]);
  }
  return out;
}

/** RFC 3834 and list conventions: mail that must never get an automatic answer, and why. */
export function neverAnswer(headers: Map<string, string[]>, from: string, contentType: string): string | undefined {
  const first = (name: string) => headers.get(name)?.[0]?.toLowerCase();
  const autoSubmitted = first('auto-submitted');
  // RFC 3834: the keyword may carry parameters (`; …`) and comments (`(…)`) around it.
  const keyword = autoSubmitted?.replace(/\([^()]*\)/g, ' ').split(';')[0]!.trim();
  if ((keyword !== undefined && keyword !== 'no') || headers.has('x-autoreply') || headers.has('x-autorespond')) {
    return 'auto-submitted';
  }
  if (/^(bulk|list|junk|auto_reply)$/.test(first('precedence') ?? '')) return 'precedence';
  if (headers.has('list-id') || headers.has('list-unsubscribe')) return 'mailing-list';
  if (headers.get('return-path')?.some((v) => v.replace(/\s/g, '') === '<>')) return 'bounce';
  if (/^mailer-daemon@/.test(from) || /^multipart\/report\b/i.test(contentType)) return 'bounce';
  return undefined;
}

function attachmentsOf(mail: ParsedMail): NonNullable<ChannelEventInput['attachments']> {
  return mail.attachments
    .filter((a) => !a.related)
    .slice(0, 32)
    .map((a) => {
      const type = a.contentType.toLowerCase().slice(0, 128);
      const kind = type.startsWith('image/') ? 'image' : type.startsWith('audio/') ? 'audio' : type.startsWith('video/') ? 'video' : 'file';
      return { kind, mimeType: type, size: a.size, ...(a.filename ? { name: a.filename.slice(0, 256).toWellFormed() } : {}) } as const;
    });
}

/**
 * `bySubject`: whether a "Re:" subject alone may join the sender's thread of that subject. Not when the reply would
 * go elsewhere (Reply-To): From is easily forged, and a subject easily guessed, so a stranger could have a thread's
 * history answered to an address of their own. Joining by References or In-Reply-To needs an id nobody can guess.
 */
async function threadRoot(ctx: ParseContext, messageId: string, inReplyTo: string | undefined, references: string[], sender: string, subject: string, bySubject: boolean) {
  // Nearest known ancestor first; the message itself first of all, so a redelivery keeps its thread.
  for (const id of [messageId, inReplyTo, ...[...references].reverse()]) {
    if (!id) continue;
    const known = await ctx.state.message(id);
    if (known) return known.root;
  }
  if (references[0]) return references[0];
  if (inReplyTo) return inReplyTo;
  if (bySubject && isReplySubject(subject) && baseSubject(subject)) {
    const known = await ctx.state.bySubject(sender, baseSubject(subject));
    if (known) return known;
  }
  return messageId;
}

export async function parseMail(source: Buffer, ctx: ParseContext): Promise<ParseOutcome> {
  let mail: ParsedMail;
  try {
    mail = await simpleParser(source, PARSER_OPTIONS);
  } catch {
    return { kind: 'rejected', reason: 'unparsable' };
  }
  const declared = mail.messageId?.trim();
  // A message without a usable Message-ID still gets one that is stable across redeliveries: its content's hash.
  const messageId =
    declared && MESSAGE_ID.test(declared) ? declared : `<${createHash('sha256').update(source).digest('hex').slice(0, 40)}${STAND_IN_ID}>`;
  const sender = addresses(mail.from)[0];
  if (!sender) return { kind: 'rejected', reason: 'no-sender', messageId };
  const from = sender.address;
  if (from === ctx.address) return { kind: 'ignored', reason: 'own-address', messageId, from };
  const contentType = mail.headerLines.find((h) => h.key === 'content-type')?.line.slice('content-type:'.length).trim() ?? '';
  const never = neverAnswer(rawHeaders(mail), from, contentType);
  if (never) return { kind: 'ignored', reason: never, messageId, from };

  const inReplyTo = ids(mail.inReplyTo)[0];
  const references = trimReferences(ids(mail.references).filter((r) => r !== messageId));
  const subject = (mail.subject ?? '').replace(/[\r\n]+/g, ' ').slice(0, 998).toWellFormed();
  // Every mailbox Reply-To names (RFC 5322 §3.6.3), but never the assistant itself, whatever Reply-To says, and only
  // addresses access would answer themselves; with none left the reply goes to From.
  const named = addresses(mail.replyTo).filter((a) => a.address !== ctx.address);
  const admitted = ctx.admits ? await Promise.all(named.map((a) => ctx.admits!(a.address))) : named.map(() => true);
  const replyTo = named.filter((_, i) => admitted[i]);
  const to = replyTo.length > 0 ? replyTo.map((a) => a.address).join(', ') : from;
  const root = await threadRoot(ctx, messageId, inReplyTo, references, from, subject, to === from);
  // An HTML-only mail too big for the parser (a pasted screenshot inline) still says what it says.
  const large = !mail.text?.trim() && typeof mail.html === 'string' && mail.html.length > MAX_HTML_TO_PARSE ? await largeHtmlText(mail.html) : undefined;
  const tooLong = large && 'tooLongChars' in large ? { text: '', tooLongChars: large.tooLongChars } : undefined;
  const body = visibleText(((large && 'text' in large ? large.text : undefined) ?? mail.text ?? '').toWellFormed());
  // The body is what was said; a new thread with none asks its question in the subject.
  const text = body || (root === messageId ? subject.trim() : '');
  const attachments = attachmentsOf(mail);
  if (!text && attachments.length === 0 && !tooLong) return { kind: 'ignored', reason: 'empty', messageId, from };

  const parent = inReplyTo ? await ctx.state.message(inReplyTo) : undefined;
  const event: ChannelEventInput = {
    v: 1,
    id: `email-${createHash('sha256').update(`${ctx.address}\u0000${messageId}`).digest('base64url').slice(0, 32)}`,
    platform: 'email',
    account: ctx.address,
    conversation: { id: root, kind: 'dm' },
    sender: { id: from, isBot: false, ...(sender.name ? { name: sender.name.slice(0, 256).toWellFormed() } : {}) },
    ...(tooLong ?? inboundText(text)),
    attachments,
    ...(inReplyTo ? { replyTo: { messageId: inReplyTo, toBot: parent?.own === true } } : {}),
    ...(ctx.assistant ? { assistant: ctx.assistant } : {}),
    platformMessageId: messageId,
    receivedAt: new Date(ctx.now()).toISOString(),
    ...sentAt(ctx.arrivedAt?.getTime()),
  };
  // A reply's References are this message's References plus its id (the design's rule, taken to the letter: a message
  // with In-Reply-To but no References does not lend its In-Reply-To, as RFC 5322 would have it).
  const record: MessageRecord = { root, to, from, subject, references };
  return { kind: 'event', event, messageId, root, record, sender: from, base: baseSubject(subject) };
}
