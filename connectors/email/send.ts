import { createHash } from 'node:crypto';
import nodemailer from 'nodemailer';
import { z } from 'zod';
import type { ConnectorLog } from '../../core/connector.js';
import type { Reply } from '../../core/event.js';
import { refused } from '../../core/outbound.js';
import type { PartProgress } from '../../core/part-progress.js';
import { UnrecoverableJobError } from '../../core/queue.js';
import { PLATFORM_LIMITS, renderReply, type Limit } from '../../core/render/index.js';
import { isStandInId, trimReferences } from './parse.js';
import type { EmailState, MessageRecord } from './state.js';
import { replySubject } from './text.js';

export interface SmtpSettings {
  host: string;
  port: number;
  secure: boolean;
  starttls?: boolean | undefined;
  user: string;
  password: string;
}

export interface SenderOptions {
  smtp: SmtpSettings;
  /** From, and the domain of every Message-ID the assistant mints. */
  address: string;
  state: EmailState;
  /** Parts of a multi-part reply already accepted, kept across retries and restarts. */
  progress: PartProgress;
  log: ConnectorLog;
  maxMessageChars?: number | undefined;
}

/**
 * The assistant's own Message-ID for a reply part: derived from the idempotency key, so a retried send carries the
 * same id and a client that got the first attempt shows the second as the same message.
 */
export function replyMessageId(idempotencyKey: string, part: number, address: string): string {
  const digest = createHash('sha256').update(`${idempotencyKey}\u0000${part}`).digest('hex').slice(0, 32);
  return `<${digest}.mc@${address.slice(address.lastIndexOf('@') + 1)}>`;
}

/** SMTP transport options: `secure` is implicit TLS (465); `starttls` requires the upgrade (587); neither is cleartext (loopback only, the schema says). */
export function transportOptions(smtp: SmtpSettings) {
  return {
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    requireTLS: !smtp.secure && smtp.starttls === true,
    ignoreTLS: !smtp.secure && smtp.starttls !== true,
    auth: { user: smtp.user, pass: smtp.password },
    connectionTimeout: 30_000,
    greetingTimeout: 15_000,
    socketTimeout: 60_000,
    // Nothing in a reply may make the transport read a file or fetch a URL.
    disableFileAccess: true,
    disableUrlAccess: true,
    logger: false,
  };
}

/** The subject of a message that starts a thread (an owner's notice): its first line, as far as a subject reads. */
function noticeSubject(text: string): string {
  const line = text.trim().split('\n', 1)[0]!.trim();
  const points = [...line];
  return points.length > 78 ? `${points.slice(0, 77).join('').trimEnd()}…` : line || 'A message from your assistant';
}

/** In-Reply-To and References; a parent that came without a Message-ID has none to point at, so it is left out. */
function threadHeaders(parentId: string, parentReferences: string[]): { inReplyTo?: string; references?: string[] } {
  const references = trimReferences(isStandInId(parentId) ? parentReferences : [...parentReferences, parentId]);
  return { ...(isStandInId(parentId) ? {} : { inReplyTo: parentId }), ...(references.length > 0 ? { references } : {}) };
}

/**
 * 5xx is permanent (a refused recipient, a rejected message, bad credentials): retrying the same job cannot help.
 * A 4xx is not, at RCPT TO too: greylisting servers answer 451 to every first-time sender. An envelope nodemailer
 * refuses itself (no server code: no recipient at all) stays refused.
 */
function isPermanent(error: unknown): boolean {
  const e = error as { responseCode?: unknown; code?: unknown };
  if (typeof e.responseCode === 'number') return e.responseCode >= 500 && e.responseCode < 600;
  return e.code === 'EENVELOPE';
}

/**
 * Sends replies by SMTP into the thread: To is the parent's Reply-To (else From), Subject gets one "Re: ",
 * In-Reply-To is the parent's Message-ID and References the parent's References plus it, and every reply is marked
 * `Auto-Submitted: auto-replied` (RFC 3834) so other robots do not answer it. A reply counts as sent on the server's
 * 250 after DATA; `drain()` waits for sends in flight, so shutdown never cuts one off mid-DATA.
 */
export function createSender(o: SenderOptions) {
  const transport = nodemailer.createTransport(transportOptions(o.smtp));
  const limit: Limit = o.maxMessageChars ? { max: o.maxMessageChars, unit: 'utf16' } : PLATFORM_LIMITS.email;
  const inFlight = new Set<Promise<unknown>>();

  /** The message being answered: the reply's parent, else the thread's latest inbound mail. */
  async function parentOf(reply: Reply): Promise<{ id: string; record: MessageRecord & { to: string } } | undefined> {
    const root = reply.address.conversation.id;
    for (const id of [reply.replyTo, await o.state.latest(root)]) {
      if (!id) continue;
      const record = await o.state.message(id);
      if (record?.to && !record.own) return { id, record: { ...record, to: record.to } };
    }
    return undefined;
  }

  /**
   * Where a reply goes and how it threads: into its thread, or, for a message to an owner in their own DM (a
   * pairing request, a tool approval: the conversation is their address, not a thread's root `<Message-ID>`), a
   * thread of its own that their answer (`/approve ID`) joins.
   */
  async function headersFor(reply: Reply): Promise<{ to: string; root?: string; subject: string; thread: ReturnType<typeof threadHeaders>; auto: string } | undefined> {
    const parent = await parentOf(reply);
    if (parent) {
      const thread = threadHeaders(parent.id, parent.record.references ?? []);
      return { to: parent.record.to, root: parent.record.root, subject: replySubject(parent.record.subject ?? ''), thread, auto: 'auto-replied' };
    }
    const owner = reply.address.conversation.id;
    if (owner.startsWith('<') || !z.email().safeParse(owner).success) return undefined;
    // RFC 3834: a message no mail caused is auto-generated, not auto-replied.
    return { to: owner, subject: noticeSubject(reply.text), thread: {}, auto: 'auto-generated' };
  }

  async function sendOne(reply: Reply, signal: AbortSignal): Promise<string[]> {
    signal.throwIfAborted();
    const where = await headersFor(reply);
    if (!where) throw new UnrecoverableJobError(`no recipient known for thread ${reply.address.conversation.id}`);
    const root = where.root ?? replyMessageId(reply.idempotencyKey, 0, o.address);
    const parts = renderReply(reply.text, reply.format, 'plain', limit);
    const multi = parts.length > 1;
    const ids = multi ? await o.progress.sent(reply.idempotencyKey) : [];
    for (let i = ids.length; i < parts.length; i++) {
      signal.throwIfAborted();
      const messageId = replyMessageId(reply.idempotencyKey, i, o.address);
      // Known before it exists, so the user's answer to it threads even if we crash between 250 and the record.
      await o.state.remember(messageId, { root, own: true });
      try {
        await transport.sendMail({
          from: o.address,
          to: where.to,
          subject: where.subject,
          text: parts[i]!,
          messageId,
          date: new Date(),
          ...where.thread,
          headers: { 'Auto-Submitted': where.auto },
        });
      } catch (error) {
        const detail = { code: (error as { code?: unknown }).code, responseCode: (error as { responseCode?: unknown }).responseCode };
        if (isPermanent(error)) {
          o.log.error({ ...detail, thread: reply.address.conversation.id }, 'email: the SMTP server refused the reply');
          throw refused(new UnrecoverableJobError(`SMTP refused the reply: ${(error as Error).message}`));
        }
        // A 4xx answer (greylisting, a full queue) took nothing; a dropped connection after DATA may have.
        throw typeof detail.responseCode === 'number' ? refused(error as Error) : error;
      }
      ids.push(messageId);
      if (multi) await o.progress.record(reply.idempotencyKey, ids);
    }
    return ids;
  }

  return {
    send(reply: Reply, signal: AbortSignal): Promise<string[]> {
      const p = sendOne(reply, signal);
      inFlight.add(p);
      void p.catch(() => undefined).finally(() => inFlight.delete(p));
      return p;
    },
    /** Resolves once every send in flight has its answer from the server. */
    async drain(): Promise<void> {
      await Promise.allSettled([...inFlight]);
    },
    verify: () => transport.verify(),
    close: () => transport.close(),
  };
}
export type Sender = ReturnType<typeof createSender>;
