import { DisconnectReason, type AuthenticationState } from 'baileys';
import type { ConnectorLog } from '../../core/connector.js';
import type { WaSocket, WaSocketFactory } from './socket.js';

export interface Backoff {
  baseMs: number;
  maxMs: number;
  /** 0..1; injected by tests for exact delays. */
  random(): number;
}

export const DEFAULT_BACKOFF: Backoff = { baseMs: 2_000, maxMs: 120_000, random: Math.random };

/** Where the link is, persisted so that `doctor` (another process) can tell. */
export type LinkStatus =
  | { state: 'connecting' | 'open' | 'qr' | 'stopped'; at: string }
  | { state: 'reconnecting'; at: string; code: number | undefined; attempt: number; delayMs: number; reason?: string }
  | { state: 'logged_out'; at: string }
  /** Another client took the link over (440), or WhatsApp refused the account (403): reconnecting would fight it. */
  | { state: 'refused'; at: string; code: number };

export interface LinkDeps {
  auth: AuthenticationState;
  saveCreds(): Promise<void>;
  factory: WaSocketFactory;
  /** The websocket to dial instead of WhatsApp's own; undefined: WhatsApp's. */
  url?: string | undefined;
  log: ConnectorLog;
  backoff: Backoff;
  /** See CONNECT_DEADLINE_MS; tests shorten it. */
  connectDeadlineMs?: number;
  onStatus(status: LinkStatus): Promise<void>;
  onQr(qr: string): Promise<void>;
  onUpsert(payload: unknown): void;
  onLoggedOut(): Promise<void>;
}

/** The status code of a disconnect and why: baileys closes with a Boom whose output carries the code. */
export function disconnectCause(update: unknown): { code: number | undefined; reason: string | undefined } {
  const error = (update as { lastDisconnect?: { error?: { message?: unknown; output?: { statusCode?: unknown } } } }).lastDisconnect?.error;
  const code = error?.output?.statusCode;
  const reason = typeof error?.message === 'string' && error.message ? error.message.slice(0, 200) : undefined;
  return { code: typeof code === 'number' ? code : undefined, reason };
}

/** How long a connection may stay neither open nor showing a QR code before it is given up and made again. */
export const CONNECT_DEADLINE_MS = 60_000;

/**
 * One WhatsApp link kept alive. baileys' socket is single-use: after `close` a new one is made with the same auth
 * state, after a capped exponential backoff with jitter (never a tight loop). A logout (401) is final: WhatsApp
 * revoked this device, and only a new QR scan links it again.
 */
export class WaLink {
  socket: WaSocket | undefined;
  loggedOut = false;
  /** 440 or 403: this link gave way and is not reconnected. */
  refused: number | undefined;
  reconnects = 0;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private deadline: NodeJS.Timeout | undefined;
  private stopped = false;
  private saving: Promise<void> = Promise.resolve();

  constructor(private readonly d: LinkDeps) {}

  start(): void {
    this.stopped = false;
    this.connect();
  }

  /** Resolves once pending credential writes are stored. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.deadline);
    const s = this.socket;
    this.socket = undefined;
    s?.end();
    await this.saving;
  }

  private connect(): void {
    void this.d.onStatus({ state: 'connecting', at: new Date().toISOString() });
    const socket = this.d.factory(this.d.auth, this.d.log, this.d.url);
    this.socket = socket;
    // Events of a socket that was replaced are stale: only the current one speaks.
    const live = () => this.socket === socket && !this.stopped;
    // Whatever keeps a socket from opening without closing it (an answer baileys does not expect), it is made anew.
    clearTimeout(this.deadline);
    this.deadline = setTimeout(() => {
      if (!live()) return;
      this.d.log.warn({ afterMs: this.d.connectDeadlineMs ?? CONNECT_DEADLINE_MS }, 'whatsapp connection neither opened nor closed; making it again');
      // Closed here first: the socket's own close event, if ending it sends one, is then a stale one.
      this.whenClosed({ code: undefined, reason: 'the connection neither opened nor closed' });
      socket.end();
    }, this.d.connectDeadlineMs ?? CONNECT_DEADLINE_MS);
    socket.on('creds.update', (update) => {
      if (!live() || typeof update !== 'object' || update === null) return;
      Object.assign(this.d.auth.creds, update);
      this.saving = this.saving.then(this.d.saveCreds).catch((error: Error) => this.d.log.error({ error: error.message }, 'could not store WhatsApp credentials'));
    });
    socket.on('messages.upsert', (payload) => {
      if (live()) this.d.onUpsert(payload);
    });
    socket.on('connection.update', (update) => {
      if (!live() || typeof update !== 'object' || update === null) return;
      const u = update as { connection?: unknown; qr?: unknown };
      if (typeof u.qr === 'string') {
        clearTimeout(this.deadline);
        void this.d.onQr(u.qr);
      }
      if (u.connection === 'open') {
        clearTimeout(this.deadline);
        this.attempt = 0;
        void this.d.onStatus({ state: 'open', at: new Date().toISOString() });
      }
      if (u.connection === 'close') this.whenClosed(disconnectCause(update));
    });
  }

  /** A status that cannot be stored (the store closing on shutdown) is logged, never left unhandled. */
  private whenClosed(how: { code: number | undefined; reason: string | undefined }): void {
    this.closed(how).catch((error: Error) => this.d.log.warn({ error: error.message }, 'whatsapp: a closed connection could not be recorded'));
  }

  private async closed({ code, reason }: { code: number | undefined; reason: string | undefined }): Promise<void> {
    clearTimeout(this.deadline);
    this.socket = undefined;
    if (code === DisconnectReason.loggedOut) {
      this.loggedOut = true;
      await this.saving;
      await this.d.onStatus({ state: 'logged_out', at: new Date().toISOString() });
      await this.d.onLoggedOut();
      return;
    }
    // Two gateways on one link kick each other off for ever: the one replaced gives way, and says so.
    if (code === DisconnectReason.connectionReplaced || code === DisconnectReason.forbidden) {
      this.refused = code;
      this.d.log.error({ code }, code === DisconnectReason.forbidden ? 'WhatsApp refused this account' : 'another client took this WhatsApp link over');
      await this.d.onStatus({ state: 'refused', at: new Date().toISOString(), code });
      return;
    }
    // After a QR scan WhatsApp asks for a restart (515): that is the link completing, not a failure.
    const delayMs = code === DisconnectReason.restartRequired ? 0 : this.nextDelay();
    this.reconnects++;
    this.d.log.warn({ code, reason, delayMs, attempt: this.attempt }, 'whatsapp connection closed; reconnecting');
    await this.d.onStatus({ state: 'reconnecting', at: new Date().toISOString(), code, attempt: this.attempt, delayMs, ...(reason ? { reason } : {}) });
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      if (!this.stopped) this.connect();
    }, delayMs);
  }

  /** base·2^attempt capped at max, jittered to 50–100 % so many gateways never reconnect in step. */
  private nextDelay(): number {
    const { baseMs, maxMs, random } = this.d.backoff;
    const ceiling = Math.min(maxMs, baseMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    return Math.round(ceiling * (0.5 + 0.5 * random()));
  }
}
