import { setTimeout as sleep } from 'node:timers/promises';
import type { AuditInput } from '../../core/audit.js';
import type { ConnectorDeps, ConnectorIO } from '../../core/connector.js';
import { dedupeKey, InvalidPayloadError, parseChannelEvent, type ChannelEvent } from '../../core/event.js';
import { admittedNow } from '../../core/access.js';
import { parseMessage, parseUpsert, type ParseContext } from './parse.js';
import type { TypingIndicator } from '../../core/typing.js';
import type { WaKey, WaQuoted, WaSocket } from './socket.js';
import { LidAliases } from './aliases.js';
import type { Quotes } from './quotes.js';

export const WATERMARK_KEY = 'inbound:watermark';
export const ALIAS_PREFIX = 'lid:';
export const EXPIRATION_PREFIX = 'expiration:';

export interface InboundDeps {
  deps: Pick<ConnectorDeps, 'name' | 'store' | 'access' | 'log' | 'gateway' | 'now'>;
  io: ConnectorIO;
  parse: ParseContext;
  typing: TypingIndicator;
  socket(): WaSocket | undefined;
  /** Where the messages a reply will quote are kept. */
  quotes: Quotes;
  /** Seconds: history-sync (`append`) messages older than this were handled before (or predate the link). */
  watermark: number;
  /** LID → number pairs learnt before (connector state `lid:<lid>`), oldest first, loaded at start. */
  aliases: Iterable<[string, string]>;
  /** Chats with disappearing messages on (connector state `expiration:<jid>`, seconds), loaded at start. */
  expirations: Iterable<[string, number]>;
}

export interface InboundCounts {
  published: number;
  ignored: number;
  history: number;
  rejected: number;
  unsupported: number;
}

/** Senders' clocks run a little apart from ours: `append` messages this much older than the watermark still count. */
const CLOCK_MARGIN_S = 5 * 60;

/**
 * `messages.upsert` to published events, one payload at a time in arrival order. `notify` is live; `append` is what
 * arrived while offline, and history: only those at or after the cutoff are published, so what arrived while the
 * gateway was down is answered and nothing older is. The cutoff is the watermark as it stood at start (when this
 * connector last handled a message, by our clock and no later than it) less a margin, and it does not move while
 * the connector runs: a live message between offline ones, or one from a sender whose clock runs ahead, must not
 * hide the rest. The gateway's dedupe (platformMessageId = the message key id) makes a redelivered message one
 * reply. Read receipts follow the durable publish, never precede it.
 */
export function createInbound(d: InboundDeps) {
  const actor = `connector:${d.deps.name}`;
  const counts: InboundCounts = { published: 0, ignored: 0, history: 0, rejected: 0, unsupported: 0 };
  /** Chats with disappearing messages on, as their latest message says: the replies there disappear too. */
  const expirations = new Map<string, number>(d.expirations);
  const changedExpirations = new Map<string, number | null>();
  const cutoff = d.watermark - CLOCK_MARGIN_S;
  let watermark = d.watermark;
  const aliases = new LidAliases(d.aliases);
  let chain: Promise<void> = Promise.resolve();

  const addressed = (e: ChannelEvent): boolean => {
    if (e.edited || e.sender.isBot) return false;
    if (e.conversation.kind === 'dm') return true;
    const requireMention = d.deps.gateway.channels[`whatsapp:${e.conversation.id}`]?.requireMention ?? true;
    return !requireMention || e.mentionsBot || e.replyTo?.toBot === true;
  };

  /**
   * baileys has already acknowledged these to WhatsApp at the protocol level: publish is the only copy left, so a
   * transient store failure is retried a few times before the message is given up (and logged).
   */
  async function publish(events: ChannelEvent[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await d.io.publish(events);
        return;
      } catch (error) {
        if (error instanceof InvalidPayloadError) return; // the valid ones are enqueued, the rest audited
        if (attempt >= 4) throw error;
        d.deps.log.warn({ error: (error as Error).message, attempt }, 'storing WhatsApp messages failed; retrying');
        await sleep(200 * 2 ** attempt);
      }
    }
  }

  async function handle(raw: unknown): Promise<void> {
    const audits: AuditInput[] = [];
    const reject = (issues: string[]) => (counts.rejected++, audits.push({ kind: 'inbound.rejected', actor, data: { issues } }));
    const parsedUpsert = parseUpsert(raw);
    const batch: Array<{ event: ChannelEvent; key: WaKey; quoted: WaQuoted; timestamp: number; expiration: number | undefined }> = [];
    if (!parsedUpsert.ok) reject(parsedUpsert.issues);
    else {
      const { type, messages } = parsedUpsert.upsert;
      for (const m of messages) {
        const p = parseMessage(m, { ...d.parse, aliases: aliases.view });
        // Learnt at once, so the next message of this batch maps too; written (after the publish) for after a restart.
        if (p.kind === 'event' && p.alias) aliases.learn(...p.alias);
        if (p.kind === 'ignored') counts.ignored++;
        else if (p.kind === 'unsupported') (counts.unsupported++, audits.push({ kind: 'inbound.unsupported', actor, subject: m.key.id, data: { type: p.type } }));
        else if (p.kind === 'rejected') reject(p.issues);
        else if (type === 'append' && p.timestamp < cutoff) counts.history++;
        else {
          try {
            batch.push({ ...p, event: parseChannelEvent(p.event) });
          } catch (error) {
            if (!(error instanceof InvalidPayloadError)) throw error;
            reject(error.issues);
          }
        }
      }
    }
    if (batch.length > 0) {
      // Remembered before the publish, so that a fast reply (which quotes) finds it.
      for (const b of batch) {
        d.quotes.remember(b.event.conversation.id, b.event.platformMessageId, b.quoted);
        // An edit carries no expiration of its own: only a new message says what the chat's setting is.
        const chat = b.event.conversation.id;
        if (!b.event.edited && (expirations.get(chat) ?? null) !== (b.expiration ?? null)) {
          if (b.expiration) expirations.set(chat, b.expiration);
          else expirations.delete(chat);
          changedExpirations.set(chat, b.expiration ?? null);
        }
      }
      // Stored first: WhatsApp will not send them again, so nothing (not even a database read) comes before the store.
      // Typing follows, unless a reply has already gone out: a fast reply stops what would otherwise type on after it.
      const chats = new Set(batch.map((b) => b.event.conversation.id));
      for (const jid of chats) d.typing.expect(jid);
      try {
        await publish(batch.map((b) => b.event));
      } catch (error) {
        for (const jid of chats) d.typing.startExpected(jid, false);
        throw error;
      }
      const typing = new Map<string, string[]>();
      // Blue ticks only for senders access admits: anyone else sees no sign of life.
      const read: typeof batch = [];
      for (const b of batch) {
        if (!(await admittedNow(d.deps.gateway.access, d.deps.access, b.event))) continue;
        read.push(b);
        if (addressed(b.event)) typing.set(b.event.conversation.id, [...(typing.get(b.event.conversation.id) ?? []), dedupeKey(b.event)]);
      }
      // A group reply quotes what it answers: kept for a reply still queued when the connector restarts.
      for (const b of read) {
        if (b.event.conversation.kind !== 'dm' && addressed(b.event)) await d.quotes.keep(b.event.conversation.id, b.event.platformMessageId, b.quoted, b.event.text);
      }
      for (const jid of chats) d.typing.startExpected(jid, typing.has(jid), typing.get(jid));
      counts.published += batch.length;
      // By our clock at the latest: a sender's clock ahead of ours must not set the next start's cutoff.
      const newest = Math.min(Math.max(...batch.map((b) => b.timestamp)), Math.floor(d.deps.now() / 1000));
      if (newest > watermark) {
        watermark = newest;
        await d.deps.store.setConnectorState(d.deps.name, WATERMARK_KEY, watermark);
      }
      for (const [lid, number] of aliases.changes()) await d.deps.store.setConnectorState(d.deps.name, `${ALIAS_PREFIX}${lid}`, number);
      // Kept for replies still queued when the connector restarts.
      for (const [chat, seconds] of changedExpirations) await d.deps.store.setConnectorState(d.deps.name, `${EXPIRATION_PREFIX}${chat}`, seconds);
      changedExpirations.clear();
      // Durable now: tell the sender's phone it was read (blue ticks).
      if (read.length > 0) await d.socket()?.readMessages(read.map((b) => b.key)).catch((error: Error) => d.deps.log.warn({ error: error.message }, 'whatsapp read receipt failed'));
    }
    if (audits.length > 0) {
      await d.deps.store.appendAudit(audits);
      d.deps.log.warn({ rejected: counts.rejected, unsupported: counts.unsupported }, 'whatsapp messages skipped (audited)');
    }
  }

  /** Queued in arrival order; a failure is logged, never thrown into baileys' event emitter. */
  const enqueue = (raw: unknown): void => {
    chain = chain.then(() => handle(raw)).catch((error: unknown) => d.deps.log.error({ error: (error as Error).message }, 'whatsapp upsert failed'));
  };

  return {
    enqueue,
    counts,
    idle: () => chain,
    expiration: (conversationId: string) => expirations.get(conversationId),
  };
}
