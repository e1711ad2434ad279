import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ConnectorLog } from '../../core/connector.js';
import type { SendReply } from '../../core/outbound.js';
import type { PartProgress } from '../../core/part-progress.js';
import { UnrecoverableJobError } from '../../core/queue.js';
import { renderReply, type Limit } from '../../core/render/index.js';
import { type SilentTurn, TypingIndicator } from '../../core/typing.js';
import type { Quotes } from './quotes.js';
import type { WaSocket } from './socket.js';

export interface SenderDeps {
  socket(): WaSocket | undefined;
  /** Parts of a multi-part reply already sent, kept across retries and restarts. */
  progress: PartProgress;
  loggedOut(): boolean;
  /** Why the link gave way and will not come back by itself (another client took it over), if it did. */
  refused(): string | undefined;
  limit: Limit;
  log: ConnectorLog;
  /** The inbound message a reply quotes, if it is still remembered (see Quotes), and forgetting it once quoted. */
  quotes: Pick<Quotes, 'find' | 'forget'>;
  /** Seconds messages live in the chat, when disappearing messages are on there: a reply disappears like the rest. */
  expiration(conversationId: string): number | undefined;
  typing: TypingIndicator;
  /** Minimum gap between any two messages this account sends: bursts get WhatsApp accounts banned. */
  spacingMs: number;
  /** How long a send waits for a lost connection to come back before it fails (and is retried by the queue). */
  reconnectWaitMs?: number;
}

/** Reconnects back off up to two minutes: a reply waits out a few of them rather than spend its retries meanwhile. */
const RECONNECT_WAIT_MS = 10 * 60_000;

/**
 * A part's WhatsApp message id, the same on every attempt: a part sent again after WhatsApp's answer was lost goes
 * out under the id the first one had (in the `3EB0…` form baileys gives its own), which the chat already holds.
 */
export const waMessageId = (idempotencyKey: string, part: number): string =>
  `3EB0${createHash('sha256').update(`${idempotencyKey}\u0000${part}`).digest('hex').slice(0, 18).toUpperCase()}`;

/**
 * Posts a reply: rendered to WhatsApp markup and split within the limit by core/render, sent in order into the same
 * chat, the first part quoting the message it answers in a group (in a DM that is noise). Sends are serialized and
 * spaced. Parts already sent are recorded per idempotency key in the store, so a retry (or a restart) continues where
 * it stopped.
 */
export function createSender(d: SenderDeps): SendReply {
  let last = 0;
  let chain: Promise<unknown> = Promise.resolve();

  /** One message at a time across all replies, at least spacingMs apart. */
  const paced = <T>(step: () => Promise<T>): Promise<T> => {
    const run = chain.then(async () => {
      const wait = last + d.spacingMs - Date.now();
      if (wait > 0) await sleep(wait);
      try {
        return await step();
      } finally {
        last = Date.now();
      }
    });
    chain = run.catch(() => undefined);
    return run;
  };

  /** Resolves once connected, or after the wait (the send then fails as before); a logout or refusal ends it too. */
  async function connected(signal: AbortSignal): Promise<void> {
    const until = Date.now() + (d.reconnectWaitMs ?? RECONNECT_WAIT_MS);
    while (!d.socket() && !d.loggedOut() && !d.refused() && Date.now() < until) await sleep(250, undefined, { signal });
  }

  return async function send(reply, signal) {
    const { conversation } = reply.address;
    await connected(signal);
    // A link that will not come back by itself: the reply is dead-lettered with the reason, not retried.
    const refused = d.refused();
    const gone = d.loggedOut() ? 'WhatsApp logged this device out: re-link required (scan a new QR)' : refused && `${refused}: not sending until the connector is restarted`;
    if (gone) {
      d.typing.stop(conversation.id);
      throw new UnrecoverableJobError(gone);
    }
    const parts = renderReply(reply.text, reply.format, 'whatsapp', d.limit).filter((p) => p.trim().length > 0);
    const multi = parts.length > 1;
    const sent = multi ? await d.progress.sent(reply.idempotencyKey) : [];
    const quoting = conversation.kind !== 'dm' ? reply.replyTo : undefined;
    const quoted = quoting ? await d.quotes.find(conversation.id, quoting) : undefined;
    try {
      for (let i = sent.length; i < parts.length; i++) {
        const id = await paced(async () => {
          const socket = d.socket();
          if (!socket) throw new Error('WhatsApp is not connected (reconnecting); the reply is retried');
          const expiration = d.expiration(conversation.id);
          return socket.sendMessage(conversation.id, { text: parts[i]! }, {
            messageId: waMessageId(reply.idempotencyKey, i),
            ...(i === 0 && quoted ? { quoted } : {}),
            ...(expiration ? { ephemeralExpiration: expiration } : {}),
          });
        });
        sent.push(id ?? `${reply.idempotencyKey}:${i}`);
        if (multi) await d.progress.record(reply.idempotencyKey, sent);
      }
    } catch (error) {
      d.log.warn({ chat: conversation.id, sent: sent.length, parts: parts.length, error: (error as Error).message }, 'whatsapp send failed');
      throw error instanceof UnrecoverableJobError ? error : new Error(`WhatsApp send failed: ${(error as Error).message}`);
    } finally {
      d.typing.stop(conversation.id);
    }
    if (quoting) await d.quotes.forget(conversation.id, quoting);
    return sent;
  };
}

/** WhatsApp shows `composing` for a while: refreshed until the reply goes out, then `paused` at once. */
export function whatsappTyping(socket: () => WaSocket | undefined, silent: SilentTurn, refreshMs = 10_000): TypingIndicator {
  const presence = (type: 'composing' | 'paused') => async (jid: string) => socket()?.sendPresenceUpdate(type, jid);
  return new TypingIndicator({ show: presence('composing'), hide: presence('paused'), silent, refreshMs });
}
