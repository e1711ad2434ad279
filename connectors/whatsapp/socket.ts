import makeWASocket, { Browsers, DisconnectReason, makeCacheableSignalKeyStore, type AuthenticationState } from 'baileys';
import type { ConnectorLog } from '../../core/connector.js';

/**
 * The seam between the connector and baileys: only what the connector uses, so a test drives it with an
 * EventEmitter and nothing ever dials WhatsApp. Payloads stay `unknown`: parse.ts validates every one of them.
 */
export type WaEvent = 'connection.update' | 'creds.update' | 'messages.upsert';

export interface WaKey {
  remoteJid: string;
  id: string;
  fromMe: boolean;
  participant?: string | undefined;
}

/** A message to quote: baileys builds the quote (contextInfo) from its key and content. */
export interface WaQuoted {
  key: WaKey;
  message: Record<string, unknown>;
}

export interface WaSocket {
  on(event: WaEvent, handler: (payload: unknown) => void): void;
  /** Resolves with the id WhatsApp knows the sent message by (`messageId` when given). */
  sendMessage(jid: string, content: { text: string }, options?: { quoted?: WaQuoted; messageId?: string; ephemeralExpiration?: number }): Promise<string | undefined>;
  sendPresenceUpdate(type: 'composing' | 'paused' | 'available' | 'unavailable', jid?: string): Promise<void>;
  readMessages(keys: WaKey[]): Promise<void>;
  end(): void;
  /** The linked account: its phone-number jid and, once known, its LID. */
  readonly user: { id: string; lid?: string | undefined } | undefined;
}

/** baileys' logger interface (not exported by name from its entry point). */
type ILogger = NonNullable<Parameters<typeof makeWASocket>[0]['logger']>;

/** `url`: the websocket to dial instead of WhatsApp's own (`connectors.whatsapp.apiRoot`). */
export type WaSocketFactory = (auth: AuthenticationState, log: ConnectorLog, url?: string) => WaSocket;

/**
 * baileys logs a lot, and at debug/trace it logs decrypted nodes: those never reach our log. Its info is our debug.
 */
function quietLogger(log: ConnectorLog): ILogger {
  const logger: ILogger = {
    level: 'info',
    child: () => logger,
    trace: () => undefined,
    debug: () => undefined,
    info: (obj: unknown, msg?: string) => log.debug(typeof obj === 'object' && obj !== null ? { baileys: true } : {}, msg ?? (typeof obj === 'string' ? obj : undefined)),
    warn: (obj: unknown, msg?: string) => log.warn({ baileys: true }, msg ?? (typeof obj === 'string' ? obj : 'baileys warning')),
    error: (obj: unknown, msg?: string) => log.error({ baileys: true, error: (obj as { err?: Error } | null)?.err?.message }, msg ?? (typeof obj === 'string' ? obj : 'baileys error')),
  };
  return logger;
}

/** The production socket: real baileys. Constructed only by the connector process, never in tests (it dials out). */
export function createBaileysSocket(auth: AuthenticationState, log: ConnectorLog, url?: string): WaSocket {
  const logger = quietLogger(log);
  const sock = makeWASocket({
    auth: { creds: auth.creds, keys: makeCacheableSignalKeyStore(auth.keys, logger) },
    logger,
    browser: Browsers.ubuntu('MonkeyClaw'),
    // Appear offline: the owner's phone keeps its notifications, and nothing is synced that we do not answer.
    markOnlineOnConnect: false,
    syncFullHistory: false,
    ...(url ? { waWebSocketUrl: url } : {}),
  });
  // An HTTP answer to the upgrade (a 503 from a proxy, a 401) comes as ws's `unexpected-response`; baileys listens to
  // it, so ws never makes it an error, and the socket would wait for ever, never open, never closed.
  sock.ws.on('unexpected-response', (_request: unknown, response: { statusCode?: number }) => {
    const error = Object.assign(new Error(`WhatsApp answered the websocket with HTTP ${response.statusCode ?? '?'}`), {
      output: { statusCode: DisconnectReason.connectionClosed },
    });
    void sock.end(error).catch(() => undefined);
  });
  return {
    on: (event, handler) => sock.ev.on(event, handler as never),
    async sendMessage(jid, content, options) {
      const sent = await sock.sendMessage(jid, content, {
        ...(options?.quoted ? { quoted: options.quoted as never } : {}),
        ...(options?.messageId ? { messageId: options.messageId } : {}),
        ...(options?.ephemeralExpiration ? { ephemeralExpiration: options.ephemeralExpiration } : {}),
      });
      return sent?.key.id ?? undefined;
    },
    sendPresenceUpdate: (type, jid) => sock.sendPresenceUpdate(type, jid),
    readMessages: (keys) => sock.readMessages(keys),
    end: () => void sock.end(undefined).catch(() => undefined),
    get user() {
      return sock.user ? { id: sock.user.id, lid: sock.user.lid } : undefined;
    },
  };
}
