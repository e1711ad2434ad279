import { setTimeout as sleep } from 'node:timers/promises';
import { ImapFlow, type ImapFlowOptions } from 'imapflow';
import type { ConnectorLog } from '../../core/connector.js';
import type { Cursor } from './state.js';

export interface ImapSettings {
  host: string;
  port: number;
  secure: boolean;
  starttls?: boolean | undefined;
  user: string;
  password: string;
  mailbox: string;
}

/** One unseen message; `source` is absent when the message is larger than `maxSourceBytes`. */
export interface UnseenMessage {
  uid: number;
  size: number;
  source?: Buffer;
  /** When the server took the message in (IMAP INTERNALDATE): a backlog is judged at the pace it arrived. */
  arrivedAt?: Date;
}

export interface WatchOptions {
  imap: ImapSettings;
  /** The safety poll, and the polling fallback for servers without IDLE: at most 10 s (DESIGN). */
  pollMs: number;
  maxSourceBytes: number;
  log: ConnectorLog;
  cursor: { get(): Promise<Cursor | undefined>; set(value: Cursor): Promise<void> };
  /** Resolves once the message may be flagged \Seen: published, ignored or rejected. Throwing leaves it unseen. */
  onMessage(message: UnseenMessage): Promise<void>;
}

/** `secure` is implicit TLS (993); `starttls` requires the upgrade; neither is cleartext (loopback only, the schema says). */
export function imapOptions(imap: ImapSettings, log: ConnectorLog): ImapFlowOptions {
  return {
    host: imap.host,
    port: imap.port,
    secure: imap.secure,
    ...(imap.secure ? {} : { doSTARTTLS: imap.starttls === true }),
    auth: { user: imap.user, pass: imap.password },
    // Only warnings and errors, through our logger (which redacts); the protocol chatter stays out of the logs.
    logger: {
      debug: () => undefined,
      info: () => undefined,
      warn: (o: object) => log.warn({ imap: o }, 'imap warning'),
      error: (o: object) => log.error({ imap: o }, 'imap error'),
    },
    connectionTimeout: 30_000,
    greetingTimeout: 16_000,
    // The poll talks to the server every <= 10 s, so this much silence means a dead (half-open) connection.
    socketTimeout: 90_000,
    // IDLE starts soon after the last command, so new mail is reported as it arrives.
    autoIdleDelay: 500,
  };
}

/** Plain words for an IMAP failure: imapflow's own message is often just "Command failed". */
export function describeImapError(error: unknown): string {
  const e = error as { message?: string; authenticationFailed?: boolean; responseText?: string; code?: string };
  if (e.authenticationFailed) return `login refused: wrong user or password (${e.responseText ?? 'AUTHENTICATIONFAILED'})`;
  if (e.responseText) return `${e.message ?? 'command failed'}: ${e.responseText}`;
  return e.message ?? String(error);
}

const backoff = (failures: number): number => Math.min(60_000, 1_000 * 2 ** Math.min(failures - 1, 6)) * (0.5 + Math.random() / 2);

/**
 * Watches one mailbox: IMAP IDLE (imapflow starts it whenever the connection is quiet) wakes the loop on EXISTS,
 * and a poll every `pollMs` catches what IDLE missed — or is all there is on a server without IDLE. Each pass
 * takes the unseen messages above the stored UID cursor, oldest first, hands each to `onMessage`, flags it \Seen
 * only after that resolved, and advances the cursor. Nothing is moved or expunged. A lost connection is
 * re-established with capped exponential backoff and jitter, never in a tight loop.
 */
export class MailboxWatcher {
  private client: ImapFlow | undefined;
  private stopped = false;
  private dirty = false;
  private wakeUp: (() => void) | undefined;
  private stopWait: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private connectedAt = 0;

  constructor(private readonly o: WatchOptions) {}

  /** Connects and selects the mailbox (a bad password fails here), then watches in the background. */
  async start(): Promise<void> {
    try {
      this.client = await this.connect();
    } catch (error) {
      const { host, port, user, mailbox } = this.o.imap;
      throw new Error(`email: IMAP ${host}:${port} as ${user}, mailbox ${mailbox}: ${describeImapError(error)}`);
    }
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeUp?.();
    this.stopWait?.();
    // A pass in progress finishes the message in hand; a server that stalls is not waited for forever.
    if (this.loop) await Promise.race([this.loop, sleep(5_000, undefined, { ref: false })]);
    const c = this.client;
    this.client = undefined;
    if (c?.usable) await Promise.race([c.logout().catch(() => undefined), sleep(2_000, undefined, { ref: false })]);
    c?.close();
  }

  private async connect(): Promise<ImapFlow> {
    const c = new ImapFlow(imapOptions(this.o.imap, this.o.log));
    // Without an 'error' listener a dropped socket would crash the process; 'close' is what the loop acts on.
    c.on('error', (error: Error) => this.o.log.warn({ error: error.message }, 'email: IMAP connection error'));
    c.on('exists', () => c === this.client && this.wake());
    c.on('close', () => c === this.client && this.wake());
    try {
      await c.connect();
      await c.mailboxOpen(this.o.imap.mailbox);
    } catch (error) {
      c.close();
      throw error;
    }
    this.connectedAt = Date.now();
    return c;
  }

  private wake(): void {
    this.dirty = true;
    this.wakeUp?.();
  }

  /** Waits `ms`; a wake-able pause ends early on new mail or a dropped connection, every pause on stop. */
  private pause(ms: number, wakeable: boolean): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        this.stopWait = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      if (wakeable) this.wakeUp = done;
      this.stopWait = done;
    });
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        if (!this.client?.usable) {
          const dropped = this.client !== undefined;
          this.client?.close();
          this.client = undefined;
          // A connection that died young counts as a failure, so a server that accepts and drops is not hammered.
          if (dropped && Date.now() - this.connectedAt < 60_000) {
            failures++;
            await this.pause(backoff(failures), false);
            if (this.stopped) break;
          }
          const fresh = await this.connect();
          if (this.stopped) {
            fresh.close();
            break;
          }
          this.client = fresh;
          this.o.log.info({ mailbox: this.o.imap.mailbox }, 'email: IMAP reconnected');
        }
        this.dirty = false;
        await this.drain(this.client);
        if (Date.now() - this.connectedAt >= 60_000) failures = 0;
        if (!this.dirty && !this.stopped) await this.pause(this.o.pollMs, true);
      } catch (error) {
        if (this.stopped) break;
        failures++;
        this.o.log.warn({ error: describeImapError(error), failures }, 'email: mailbox pass failed; retrying');
        this.client?.close();
        this.client = undefined;
        await this.pause(backoff(failures), false);
      }
    }
  }

  private async drain(c: ImapFlow): Promise<void> {
    const lock = await c.getMailboxLock(this.o.imap.mailbox);
    try {
      // NOOP is how IMAP polls: a server need not show new messages to a SEARCH before it has announced them, and
      // without IDLE nothing else makes it announce them.
      await c.noop();
      if (!c.mailbox) throw new Error('mailbox not selected');
      const uidValidity = String(c.mailbox.uidValidity);
      const stored = await this.o.cursor.get();
      // A new UIDVALIDITY makes stored UIDs meaningless: start over; the \Seen flags and dedupe prevent repeats.
      const lastUid = stored && stored.uidValidity === uidValidity ? stored.lastUid : 0;
      const found = (await c.search({ seen: false, uid: `${lastUid + 1}:*` }, { uid: true })) || [];
      // "N:*" also matches the highest UID when it is below N (RFC 3501), hence the filter.
      const uids = found.filter((u) => u > lastUid).sort((a, b) => a - b);
      for (const uid of uids) {
        if (this.stopped) break;
        const meta = await c.fetchOne(String(uid), { uid: true, flags: true, size: true, internalDate: true }, { uid: true });
        if (meta && !meta.flags?.has('\\Seen')) {
          const size = meta.size ?? 0;
          const full = size <= this.o.maxSourceBytes ? await c.fetchOne(String(uid), { source: true }, { uid: true }) : undefined;
          const arrivedAt = meta.internalDate instanceof Date ? { arrivedAt: meta.internalDate } : {};
          await this.o.onMessage({ uid, size, ...arrivedAt, ...(full && full.source ? { source: full.source } : {}) });
          await c.messageFlagsAdd(String(uid), ['\\Seen'], { uid: true });
        }
        await this.o.cursor.set({ uidValidity, lastUid: uid });
      }
    } finally {
      lock.release();
    }
  }
}
