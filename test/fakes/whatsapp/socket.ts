import { EventEmitter } from 'node:events';
import type { AuthenticationState } from 'baileys';
import type { WaEvent, WaKey, WaQuoted, WaSocket } from '../../../connectors/whatsapp/socket.js';

export const SELF = { id: '15550001111:7@s.whatsapp.net', lid: '98765432109876:7@lid' };

export interface SentMessage {
  jid: string;
  text: string;
  quoted?: WaQuoted | undefined;
  messageId?: string | undefined;
  ephemeralExpiration?: number | undefined;
  at: number;
}

/** A baileys socket the test drives: it emits what WhatsApp would, and records what the connector asks of it. */
export class FakeWaSocket extends EventEmitter implements WaSocket {
  readonly sent: SentMessage[] = [];
  readonly presence: Array<{ type: string; jid: string | undefined; at: number }> = [];
  readonly reads: WaKey[][] = [];
  ended = false;
  failSends = 0;
  private seq = 0;

  constructor(
    readonly auth: AuthenticationState,
    readonly createdAt = Date.now(),
    public user: WaSocket['user'] = SELF,
  ) {
    super();
  }

  override on(event: WaEvent, handler: (payload: unknown) => void): this {
    return super.on(event, handler);
  }

  /** Sends that reach WhatsApp, then lose its answer (a timeout after delivery). */
  loseAnswers = 0;

  async sendMessage(jid: string, content: { text: string }, options?: { quoted?: WaQuoted; messageId?: string; ephemeralExpiration?: number }): Promise<string> {
    if (this.failSends > 0) {
      this.failSends--;
      throw new Error('Connection Closed');
    }
    this.sent.push({ jid, text: content.text, quoted: options?.quoted, messageId: options?.messageId, ephemeralExpiration: options?.ephemeralExpiration, at: Date.now() });
    if (this.loseAnswers > 0) {
      this.loseAnswers--;
      throw new Error('Timed Out');
    }
    return options?.messageId ?? `3EB0SENT${String(++this.seq).padStart(4, '0')}`;
  }

  async sendPresenceUpdate(type: string, jid?: string): Promise<void> {
    this.presence.push({ type, jid, at: Date.now() });
  }

  async readMessages(keys: WaKey[]): Promise<void> {
    this.reads.push(keys);
  }

  end(): void {
    this.ended = true;
  }

  open(): void {
    this.emit('connection.update', { connection: 'open', receivedPendingNotifications: true });
  }

  /** baileys closes with a Boom whose output.statusCode says why. */
  close(statusCode: number): void {
    this.emit('connection.update', { connection: 'close', lastDisconnect: { error: { output: { statusCode } }, date: new Date() } });
  }

  upsert(payload: unknown): void {
    this.emit('messages.upsert', payload);
  }
}
