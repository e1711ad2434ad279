import { randomUUID } from 'node:crypto';
import type { EmailConfig } from '../../../connectors/email/index.js';
import { createEmailConnector } from '../../../connectors/email/index.js';
import { startConnectorHarness } from '../../helpers/connector-harness.js';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { startDovecot, type Dovecot, type MailAccount } from '../../fakes/email/dovecot.js';
import { startSmtpFake, type CapturedMail, type SmtpFake } from '../../fakes/email/smtp.js';

/** A raw RFC 5322 message as a mail client would write it (CRLF line ends). */
export function mail(o: {
  from: string;
  to: string;
  subject?: string;
  body?: string;
  messageId?: string | null;
  inReplyTo?: string;
  references?: string[];
  headers?: Record<string, string>;
  date?: Date;
}): { raw: string; messageId: string } {
  const messageId = o.messageId === undefined ? `<${randomUUID()}@mail.example.com>` : (o.messageId ?? '');
  const lines = [
    `From: ${o.from}`,
    `To: ${o.to}`,
    `Subject: ${o.subject ?? 'Hello'}`,
    `Date: ${(o.date ?? new Date()).toUTCString()}`,
    ...(o.messageId === null ? [] : [`Message-ID: ${messageId}`]),
    ...(o.inReplyTo ? [`In-Reply-To: ${o.inReplyTo}`] : []),
    ...(o.references?.length ? [`References: ${o.references.join(' ')}`] : []),
    ...Object.entries(o.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
  ];
  return { raw: `${lines.join('\r\n')}\r\n\r\n${(o.body ?? 'Hi there').replace(/\r?\n/g, '\r\n')}\r\n`, messageId };
}

/** A header of a captured message, raw (unfolded), by name. */
export function header(m: CapturedMail, name: string): string | undefined {
  const line = m.parsed.headerLines.find((h) => h.key === name.toLowerCase())?.line;
  return line?.slice(line.indexOf(':') + 1).replace(/\r?\n[ \t]+/g, ' ').trim();
}

/** The connector around a fresh mailbox of the shared Dovecot and the shared SMTP fake, inside the whole gateway. */
export async function emailHarness(dovecot: Dovecot, smtp: SmtpFake, o: { account?: MailAccount; pollMs?: number; access?: unknown } = {}) {
  const account = o.account ?? (await dovecot.newAccount());
  const h = await startConnectorHarness<EmailConfig>({
    name: 'email',
    create: (deps) => createEmailConnector(deps, o.pollMs ? { pollMs: o.pollMs } : {}),
    config: {
      access: o.access ?? { dm: 'open' },
      connectors: {
        email: {
          enabled: true,
          address: account.user,
          imap: { host: '127.0.0.1', port: dovecot.port, secure: false, user: account.user, password: 'env:IMAP_PASSWORD', mailbox: 'INBOX' },
          smtp: { host: '127.0.0.1', port: smtp.port, secure: false, user: smtp.user, password: 'env:SMTP_PASSWORD' },
        },
      },
    },
    secrets: { 'env:IMAP_PASSWORD': account.password, 'env:SMTP_PASSWORD': smtp.password },
  });
  /** Replies this connector sent (From its address), optionally only those to `to`. */
  const sent = (to?: string) => smtp.captured.filter((m) => m.from === account.user && (!to || m.to.includes(to)));
  return { ...h, account, sent, nextReply: (to: string, count = 1, timeoutMs = 10_000) => h.until(() => sent(to).length >= count && sent(to)[count - 1], timeoutMs) };
}

/**
 * A test file's mail servers: one real Dovecot and one fake SMTP server for all its tests, and a gateway per test
 * (`harness`), stopped after that test with anything else it `defer`s.
 */
export function useMailServers(options: { afterEach?: (smtp: SmtpFake) => void } = {}) {
  const servers = {} as { dovecot: Dovecot; smtp: SmtpFake };
  let cleanup: Array<() => Promise<void> | void> = [];
  beforeAll(async () => {
    [servers.dovecot, servers.smtp] = await Promise.all([startDovecot(), startSmtpFake()]);
  });
  afterAll(async () => {
    await Promise.all([servers.dovecot?.stop(), servers.smtp?.stop()]);
  });
  afterEach(async () => {
    options.afterEach?.(servers.smtp);
    for (const f of cleanup.reverse()) await f();
    cleanup = [];
  });
  return {
    get dovecot() {
      return servers.dovecot;
    },
    get smtp() {
      return servers.smtp;
    },
    defer(f: () => Promise<void> | void) {
      cleanup.push(f);
    },
    async harness(o: Parameters<typeof emailHarness>[2] = {}) {
      const h = await emailHarness(servers.dovecot, servers.smtp, o);
      cleanup.push(() => h.stop());
      return h;
    },
  };
}
