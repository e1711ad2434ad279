import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createSender, whatsappTyping } from '../../../connectors/whatsapp/send.js';
import type { WaSocket } from '../../../connectors/whatsapp/socket.js';
import type { PartProgress } from '../../../core/part-progress.js';
import { plainReply, sharedProgress } from '../../helpers/part-progress.js';
import { cleanups } from '../../helpers/wait.js';

const cleanup = cleanups();

/** The part of a linked socket the sender uses: it records each text and drops the connection on call `failAt`. */
function socket(sent: string[], failAt = -1): WaSocket {
  let calls = 0;
  return {
    on() {},
    async sendMessage(_jid, content) {
      if (calls++ === failAt) throw new Error('connection closed');
      sent.push(content.text);
      return `wa-${sent.length}`;
    },
    async sendPresenceUpdate() {},
    async readMessages() {},
    end() {},
    user: { id: '15550000000@s.whatsapp.net' },
  };
}

/** The sender over `current` (the socket of the moment), with nothing else in its way. */
const senderOver = (current: () => WaSocket | undefined, progress: PartProgress, reconnectWaitMs?: number) =>
  createSender({
    socket: current,
    progress,
    loggedOut: () => false,
    limit: { max: 1_000, unit: 'utf16' },
    log: pino({ level: 'silent' }),
    quotes: { find: async () => undefined, forget: async () => undefined },
    expiration: () => undefined,
    refused: () => undefined,
    typing: whatsappTyping(current, async () => false),
    spacingMs: 0,
    ...(reconnectWaitMs !== undefined ? { reconnectWaitMs } : {}),
  });

describe('whatsapp sender across a restart', () => {
  it('a long reply cut off part-way goes on, in a new process, after the last part WhatsApp accepted', async () => {
    const shared = await sharedProgress('whatsapp');
    cleanup.push(() => shared.close());
    const sent: string[] = [];
    const sender = (s: WaSocket) => senderOver(() => s, shared.progress);
    const text = Array.from({ length: 500 }, (_, i) => `w${i}`).join(' ');
    const reply = plainReply('whatsapp', '15551234567@s.whatsapp.net', text);
    const signal = new AbortController().signal;

    await expect(sender(socket(sent, 1))(reply, signal)).rejects.toThrow(/connection closed/);
    expect(sent).toHaveLength(1);
    const ids = await sender(socket(sent))(reply, signal);
    expect(ids).toEqual(['wa-1', 'wa-2', 'wa-3']);
    expect(sent.join(' ')).toBe(text);
  });
});

describe('whatsapp sender while the connection is down', () => {
  const none: PartProgress = { sent: async () => [], record: async () => undefined };
  const reply = plainReply('whatsapp', '15551234567@s.whatsapp.net', 'waited for');

  it('waits for the connection to come back rather than spend its retries meanwhile', async () => {
    const sent: string[] = [];
    let linked: WaSocket | undefined;
    setTimeout(() => (linked = socket(sent)), 600);
    expect(await senderOver(() => linked, none, 5_000)(reply, new AbortController().signal)).toEqual(['wa-1']);
    expect(sent).toEqual(['waited for']);
  });

  it('fails for a retry once the wait is over, and at once on shutdown', async () => {
    await expect(senderOver(() => undefined, none, 300)(reply, new AbortController().signal)).rejects.toThrow(/not connected/);
    const stop = new AbortController();
    setTimeout(() => stop.abort(new Error('shutting down')), 200);
    await expect(senderOver(() => undefined, none, 60_000)(reply, stop.signal)).rejects.toThrow(/aborted/);
  });
});
