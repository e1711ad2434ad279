import { ImapFlow } from 'imapflow';
import { admittedNow } from '../../core/access.js';
import { ConfigError, type Config } from '../../core/config.js';
import type { Connector, ConnectorDeps, ConnectorFactory, ConnectorIO } from '../../core/connector.js';
import { InvalidPayloadError } from '../../core/event.js';
import { partProgress } from '../../core/part-progress.js';
import { parseMail, type ParseOutcome } from './parse.js';
import { createSender, type SmtpSettings } from './send.js';
import { EmailState } from './state.js';
import { withTimeout } from '../../core/deadline.js';
import { describeMailServerError } from './net-errors.js';
import { describeImapError, imapOptions, MailboxWatcher, type ImapSettings, type UnseenMessage } from './watch.js';

export type EmailConfig = NonNullable<NonNullable<Config['connectors']>['email']>;

/** DESIGN: IMAP IDLE, falling back to polling every <= 10 s. */
export const POLL_MS = 10_000;
/** Larger messages are not downloaded: rejected (audited) and flagged \Seen, so they never block the mailbox. */
export const MAX_SOURCE_BYTES = 32 * 1024 * 1024;
/** How long `check()` waits for each server. */
const CHECK_MS = 8_000;

/** The config with its credentials resolved; a missing field is a config error naming it, before any network call. */
function settings(deps: ConnectorDeps<EmailConfig>): { address: string; imap: ImapSettings; smtp: SmtpSettings } {
  const c = deps.config;
  if (c.streamEdits) deps.log.warn({}, `connectors.${deps.name}.streamEdits: mail cannot be edited; replies are sent once, finished`);
  const field = `connectors.${deps.name}`;
  if (!c.address) throw new ConfigError(`${field}.address: required (the assistant's mailbox address; replies are sent from it)`);
  if (!c.imap) throw new ConfigError(`${field}.imap: required ({ host, port, secure, user, password, mailbox })`);
  if (!c.smtp) throw new ConfigError(`${field}.smtp: required ({ host, port, secure, user, password })`);
  if (c.imap.secure && c.imap.starttls) throw new ConfigError(`${field}.imap.starttls: use either secure (TLS, port 993) or starttls, not both`);
  if (c.smtp.secure && c.smtp.starttls) throw new ConfigError(`${field}.smtp.starttls: use either secure (TLS, port 465) or starttls (port 587), not both`);
  const server = (s: NonNullable<EmailConfig['imap']>, which: 'imap' | 'smtp') => ({
    host: s.host,
    port: s.port,
    secure: s.secure,
    starttls: s.starttls,
    user: s.user,
    password: deps.resolve(s.password, `${field}.${which}.password`),
  });
  return {
    address: c.address.toLowerCase(),
    imap: { ...server(c.imap, 'imap'), mailbox: c.imap.mailbox ?? 'INBOX' },
    smtp: server(c.smtp, 'smtp'),
  };
}

/**
 * The email connector: a thread is a conversation (kind `dm`, id = the thread's root Message-ID), the sender is
 * the lower-cased From address. Inbound comes from one IMAP mailbox (watch.ts), is parsed and filtered (parse.ts),
 * published, and only then flagged \Seen; replies go out by SMTP (send.ts). `tuning` exists for tests.
 */
export function createEmailConnector(deps: ConnectorDeps<EmailConfig>, tuning: { pollMs?: number } = {}): Connector {
  const { address, imap, smtp } = settings(deps);
  const actor = `connector:${deps.name}`;
  const state = new EmailState(deps.store, deps.name);
  const sender = createSender({ smtp, address, state, progress: partProgress(deps.store, deps.name), log: deps.log, maxMessageChars: deps.config.maxMessageChars });
  let watcher: MailboxWatcher | undefined;

  const audit = (kind: string, data: Record<string, unknown>, subject?: string) =>
    deps.store.appendAudit([{ kind, actor, ...(subject ? { subject } : {}), data }]);

  async function onMessage(io: ConnectorIO, m: UnseenMessage): Promise<void> {
    if (!m.source) {
      deps.log.warn({ uid: m.uid, size: m.size }, 'email: message too large; not answered');
      return audit('inbound.rejected', { reason: 'too-large', uid: m.uid, size: m.size });
    }
    let outcome: ParseOutcome;
    // A failing store is retried (the message stays unseen); anything else that throws is about this message.
    let storeFailed = false;
    const guard = <T>(p: Promise<T>): Promise<T> =>
      p.catch((error: unknown) => {
        storeFailed = true;
        throw error;
      });
    const admits = (to: string) =>
      admittedNow(deps.gateway.access, deps.access, { platform: 'email', sender: { id: to, isBot: false }, conversation: { id: to, kind: 'dm' } });
    const lookups = { message: (id: string) => guard(state.message(id)), bySubject: (s: string, b: string) => guard(state.bySubject(s, b)) };
    try {
      outcome = await parseMail(m.source, { address, assistant: deps.config.assistant, now: deps.now, state: lookups, arrivedAt: m.arrivedAt, admits });
    } catch (error) {
      if (storeFailed) throw error;
      // A bug or a pathological message must not hold up the mailbox: audited, flagged \Seen, never retried.
      deps.log.error({ uid: m.uid, error: (error as Error).message }, 'email: message could not be parsed');
      return audit('inbound.rejected', { reason: 'parse-failed', uid: m.uid });
    }
    if (outcome.kind !== 'event') {
      deps.log.info({ uid: m.uid, reason: outcome.reason }, `email: message ${outcome.kind}`);
      return audit(`inbound.${outcome.kind}`, { reason: outcome.reason, uid: m.uid, ...(outcome.from ? { from: outcome.from } : {}) }, outcome.messageId);
    }
    // A Message-ID names one mail. The same mail again keeps its first record (and the dedupe drops its event); a mail
    // from anyone else under that id (or under one of the assistant's own) must never take over where the first
    // one's reply goes: it is refused and audited.
    const known = await state.message(outcome.messageId);
    // (A record from before senders were kept has no `from`: the same mail again has the same reply address.)
    const another = known && (known.from === undefined ? known.to !== outcome.record.to : known.from !== outcome.sender);
    if (known && (known.own || another)) {
      deps.log.warn({ uid: m.uid }, 'email: a Message-ID already used by another mail; not answered');
      return audit('inbound.rejected', { reason: 'message-id-reused', uid: m.uid, from: outcome.sender }, outcome.messageId);
    }
    // Stored before publishing: the reply may be sent the moment the event is enqueued.
    if (!known) await state.remember(outcome.messageId, outcome.record);
    await state.setLatest(outcome.root, outcome.messageId);
    if (outcome.base) await state.setBySubject(outcome.sender, outcome.base, outcome.root);
    try {
      await io.publish([outcome.event]);
    } catch (error) {
      // publish audited it as inbound.rejected; it can never become valid, so it is flagged \Seen like the rest.
      if (!(error instanceof InvalidPayloadError)) throw error;
    }
  }

  return {
    platform: 'email',
    async start(io) {
      watcher = new MailboxWatcher({
        imap,
        pollMs: Math.min(tuning.pollMs ?? POLL_MS, POLL_MS),
        maxSourceBytes: MAX_SOURCE_BYTES,
        log: deps.log,
        cursor: { get: () => state.cursor(imap.mailbox), set: (v) => state.setCursor(imap.mailbox, v) },
        onMessage: (m) => onMessage(io, m),
      });
      await watcher.start();
      deps.log.info({ mailbox: imap.mailbox, host: imap.host }, 'email: watching mailbox');
    },
    send: (reply, signal) => sender.send(reply, signal),
    async check() {
      // Both servers side by side, each within its own deadline, so one that hangs never hides the other's verdict
      // (doctor gives the whole check 15 s).
      const within = <T>(work: Promise<T>, onLate: () => void) => withTimeout(work, CHECK_MS, 'timed out', onLate);
      const imapCheck = async () => {
        const client = new ImapFlow({ ...imapOptions(imap, deps.log), disableAutoIdle: true });
        client.on('error', () => undefined);
        try {
          const box = await within(
            client.connect().then(() => client.mailboxOpen(imap.mailbox, { readOnly: true })),
            () => client.close(),
          );
          return { ok: true, what: 'email IMAP', detail: `logged in to ${imap.host}:${imap.port} as ${imap.user}; ${imap.mailbox} has ${box.exists} messages` };
        } catch (error) {
          const why = (error as { authenticationFailed?: boolean; responseText?: string }).responseText ? describeImapError(error) : describeMailServerError(error, imap);
          return { ok: false, what: 'email IMAP', detail: `${imap.host}:${imap.port} as ${imap.user}, mailbox ${imap.mailbox}: ${why}` };
        } finally {
          await client.logout().catch(() => client.close());
        }
      };
      const smtpCheck = async () => {
        try {
          await within(sender.verify(), () => sender.close());
          return { ok: true, what: 'email SMTP', detail: `logged in to ${smtp.host}:${smtp.port} as ${smtp.user}` };
        } catch (error) {
          const e = error as { responseCode?: unknown; message?: string };
          const why = typeof e.responseCode === 'number' ? (e.message ?? String(error)) : describeMailServerError(error, smtp);
          return { ok: false, what: 'email SMTP', detail: `${smtp.host}:${smtp.port} as ${smtp.user}: ${why}` };
        }
      };
      return Promise.all([imapCheck(), smtpCheck()]);
    },
    async stop() {
      await watcher?.stop();
      watcher = undefined;
      // SIGTERM finishes sends in flight first: a reply cut off mid-DATA would be sent again, under the same id.
      await sender.drain();
      sender.close();
    },
  };
}

export const create: ConnectorFactory<EmailConfig> = (deps) => createEmailConnector(deps);
