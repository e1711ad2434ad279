import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import { createEmailConnector, type EmailConfig } from '../../../connectors/email/index.js';
import { ConfigError, parseConfig } from '../../../core/config.js';
import type { ConnectorDeps } from '../../../core/connector.js';
import { header, mail, useMailServers } from './helpers.js';
import { noSealedState } from '../../../core/sealed-state.js';
import { NO_ACCESS_CHANGES } from '../../helpers/connector-harness.js';
const NO_SEALED_STATE = noSealedState('not used by this test');

const servers = useMailServers({ afterEach: (smtp) => (servers.smtp.failNext(0), servers.smtp.failRcpt(0), servers.smtp.delayData(0)) });
const harness = servers.harness;

describe('email outbound', () => {
  it('a retried send carries the same Message-ID, and "Re:" is never doubled', async () => {
    const h = await harness();
    const before = servers.smtp.attempts.length;
    servers.smtp.failNext(1, 451);
    const original = mail({ from: 'heidi@example.com', to: h.account.user, subject: 'RE: Re: Aw: quarterly numbers', body: 'see above' });
    await h.account.append(original.raw);
    const reply = await h.nextReply('heidi@example.com');
    const attempts = await Promise.all(servers.smtp.attempts.slice(before).map((raw) => simpleParser(raw)));
    expect(attempts).toHaveLength(2);
    expect(attempts[0]!.messageId).toBe(header(reply, 'message-id'));
    expect(attempts[1]!.messageId).toBe(header(reply, 'message-id'));
    expect(header(reply, 'subject')).toBe('Re: quarterly numbers');
    expect(header(reply, 'in-reply-to')).toBe(original.messageId);
    // The 451 after DATA was a refusal: the retry resent nothing the server had taken.
    const sends = (await h.store.auditTail(100)).filter((e) => e.kind === 'outbound.sent').map((e) => JSON.parse(e.data) as { resent: boolean });
    expect(sends.map((s) => s.resent)).toEqual([false]);
  });

  it('a recipient refused for now (451 at RCPT TO: greylisting) is tried again; one refused for good (550) is not', async () => {
    const h = await harness();
    servers.smtp.failRcpt(1, 451);
    await h.account.append(mail({ from: 'ivan@example.com', to: h.account.user, subject: 'greylisted', body: 'hello' }).raw);
    const reply = await h.nextReply('ivan@example.com');
    expect(header(reply, 'subject')).toBe('Re: greylisted');
    expect(servers.smtp.rcpts.filter((r) => r === 'ivan@example.com')).toHaveLength(2);
    servers.smtp.failRcpt(1, 550, 'No such user here');
    await h.account.append(mail({ from: 'judy@example.com', to: h.account.user, subject: 'gone', body: 'hello' }).raw);
    await h.until(() => servers.smtp.rcpts.includes('judy@example.com'));
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(servers.smtp.rcpts.filter((r) => r === 'judy@example.com')).toHaveLength(1);
    expect(h.sent('judy@example.com')).toHaveLength(0);
  });

  it('a reply goes to Reply-To rather than From, never to the assistant itself', async () => {
    const h = await harness();
    await h.account.append(mail({ from: 'ivan@example.com', to: h.account.user, subject: 'a', body: 'one', headers: { 'Reply-To': 'Ivan Desk <desk@example.com>' } }).raw);
    await h.account.append(mail({ from: 'judy@example.com', to: h.account.user, subject: 'b', body: 'two', headers: { 'Reply-To': h.account.user } }).raw);
    expect((await h.nextReply('desk@example.com')).to).toEqual(['desk@example.com']);
    expect((await h.nextReply('judy@example.com')).to).toEqual(['judy@example.com']);
    expect(h.sent('ivan@example.com')).toHaveLength(0);
  });

  it('a reply to several Reply-To mailboxes goes to all of them; one to a mail without Message-ID points at no made-up id', async () => {
    const h = await harness();
    await h.account.append(mail({ from: 'kim@example.com', to: h.account.user, subject: 'c', body: 'three', headers: { 'Reply-To': 'one@example.com, two@example.com' } }).raw);
    expect((await h.nextReply('one@example.com')).to).toEqual(['one@example.com', 'two@example.com']);
    await h.account.append(mail({ from: 'lee@example.com', to: h.account.user, subject: 'd', body: 'four', messageId: null }).raw);
    const reply = await h.nextReply('lee@example.com');
    expect(header(reply, 'in-reply-to')).toBeUndefined();
    expect(header(reply, 'references')).toBeUndefined();
    expect(header(reply, 'message-id')).toMatch(/^<.+@example\.org>$/);
  });

  it('under an allowlist, Reply-To names only addresses access admits: a forged From cannot aim replies at strangers', async () => {
    const h = await harness({ access: { dm: 'allowlist', allow: ['email:mia@example.com', 'email:mia.desk@example.com'] } });
    const forged = { from: 'mia@example.com', to: h.account.user, body: 'buy now' };
    await h.account.append(mail({ ...forged, subject: 'e', headers: { 'Reply-To': 'victim@elsewhere.example, mia.desk@example.com' } }).raw);
    expect((await h.nextReply('mia.desk@example.com')).to).toEqual(['mia.desk@example.com']);
    await h.account.append(mail({ ...forged, subject: 'f', headers: { 'Reply-To': 'victim@elsewhere.example' } }).raw);
    expect((await h.nextReply('mia@example.com')).to).toEqual(['mia@example.com']);
    expect(servers.smtp.rcpts).not.toContain('victim@elsewhere.example');
  });

  it("tells an email owner of a pairing request in a mail of its own, and the owner's answer to it threads", async () => {
    const h = await servers.harness({ access: { dm: 'pairing', owners: ['email:boss@example.com'] } });
    await h.account.append(mail({ from: 'stranger@example.com', to: h.account.user, subject: 'hi', body: 'let me in' }).raw);
    const notice = await h.nextReply('boss@example.com');
    expect(notice.parsed.text).toMatch(/^Pairing request from .*stranger@example\.com.*, code [A-Z0-9]{8}\./);
    expect(notice.parsed.subject).toMatch(/^Pairing request from /);
    // No mail caused it: auto-generated (RFC 3834), and it answers nothing.
    expect(header(notice, 'auto-submitted')).toBe('auto-generated');
    expect(header(notice, 'in-reply-to')).toBeUndefined();
    const answer = mail({ from: 'boss@example.com', to: h.account.user, subject: `Re: ${notice.parsed.subject}`, body: 'noted', inReplyTo: header(notice, 'message-id')!, references: [header(notice, 'message-id')!] });
    await h.account.append(answer.raw);
    const reply = await h.nextReply('boss@example.com', 2);
    expect(header(reply, 'in-reply-to')).toBe(answer.messageId);
    expect(header(reply, 'references')).toBe(`${header(notice, 'message-id')} ${answer.messageId}`);
  });

  it('stop() waits for a send in flight to get its 250', async () => {
    const h = await harness();
    const before = servers.smtp.attempts.length;
    servers.smtp.delayData(1_000);
    await h.account.append(mail({ from: 'kim@example.com', to: h.account.user, subject: 'slow', body: 'take your time' }).raw);
    // DATA is on the wire; the server holds its answer.
    await h.until(() => servers.smtp.attempts.length > before);
    expect(h.sent('kim@example.com')).toHaveLength(0);
    await h.connector.stop();
    expect(h.sent('kim@example.com')).toHaveLength(1);
  });

  it('check() logs in to both servers and says plainly when a password is wrong', async () => {
    const h = await harness();
    const ok = await h.connector.check!();
    expect(ok.map((r) => [r.what, r.ok])).toEqual([
      ['email IMAP', true],
      ['email SMTP', true],
    ]);
    expect(ok[0]!.detail).toContain(`as ${h.account.user}`);

    const config = parseConfig({
      connectors: {
        email: {
          enabled: true,
          address: h.account.user,
          imap: { host: '127.0.0.1', port: servers.dovecot.port, secure: false, user: h.account.user, password: 'env:IMAP', mailbox: 'INBOX' },
          smtp: { host: '127.0.0.1', port: servers.smtp.port, secure: false, user: servers.smtp.user, password: 'env:SMTP' },
        },
      },
    });
    const deps = depsFor(config, { 'env:IMAP': 'S3cret-not-this', 'env:SMTP': 'S3cret-not-this' });
    const bad = await createEmailConnector(deps).check!();
    expect(bad.map((r) => [r.what, r.ok])).toEqual([
      ['email IMAP', false],
      ['email SMTP', false],
    ]);
    expect(bad[0]!.detail).toContain('login refused: wrong user or password');
    expect(bad[1]!.detail).toContain('535');
    expect(bad.map((r) => r.detail).join(' ')).not.toContain('S3cret-not-this');
  });

  it('check() names a silent server, a refused connection and a TLS mismatch in plain words, each on its own', async () => {
    const h = await harness();
    const silent = createServer(() => undefined).listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const closed = createServer().listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const closedPort = (closed.address() as AddressInfo).port;
    closed.close();
    try {
      const connector = (imap: Record<string, unknown>, smtp: Record<string, unknown>) => {
        const config = parseConfig({
          connectors: {
            email: {
              enabled: true,
              address: h.account.user,
              imap: { host: '127.0.0.1', port: servers.dovecot.port, secure: false, user: h.account.user, password: 'env:IMAP', mailbox: 'INBOX', ...imap },
              smtp: { host: '127.0.0.1', port: servers.smtp.port, secure: false, user: servers.smtp.user, password: 'env:SMTP', ...smtp },
            },
          },
        });
        return createEmailConnector(depsFor(config, { 'env:IMAP': h.account.password, 'env:SMTP': servers.smtp.password }));
      };
      const started = Date.now();
      const [hung, refused] = await connector({ port: (silent.address() as AddressInfo).port }, { port: closedPort }).check!();
      expect(Date.now() - started).toBeLessThan(12_000);
      expect(hung).toMatchObject({ ok: false, what: 'email IMAP' });
      expect(hung!.detail).toMatch(/no answer from 127\.0\.0\.1:\d+ in time/);
      expect(refused).toMatchObject({ ok: false, what: 'email SMTP' });
      expect(refused!.detail).toContain(`connection refused: nothing is listening at 127.0.0.1:${closedPort}`);

      const [tlsImap, tlsSmtp] = await connector({ secure: true }, { secure: true }).check!();
      expect(tlsImap!.detail).toContain('TLS failed: 127.0.0.1');
      expect(tlsImap!.detail).toContain('answered in plain text');
      expect(tlsSmtp!.detail).toContain('answered in plain text');
    } finally {
      silent.close();
    }
  }, 30_000);

  it('refuses a config without address, imap or smtp before any network call, naming the field', () => {
    // The schema refuses it at load, naming the field; the factory checks again for configs built in code.
    expect(() => parseConfig({ connectors: { email: { enabled: true, address: 'a@example.org' } } })).toThrow(/connectors\.email\.imap: required/);
    const config = parseConfig({ connectors: { email: { enabled: false, address: 'a@example.org' } } });
    const enabled = { ...config.connectors.email!, enabled: true };
    expect(() => createEmailConnector({ ...depsFor(config, {}), config: enabled })).toThrow(ConfigError);
    // secure: false towards another host is refused by the schema itself.
    expect(() =>
      parseConfig({ connectors: { email: { enabled: true, imap: { host: 'imap.example.org', port: 143, secure: false, user: 'u', password: 'env:P' } } } }),
    ).toThrow(/connectors\.email\.imap\.secure/);
  });
});

function depsFor(config: ReturnType<typeof parseConfig>, secrets: Record<string, string>): ConnectorDeps<EmailConfig> {
  const noop = () => undefined;
  return {
    name: 'email',
    config: config.connectors.email!,
    gateway: config,
    resolve: (ref) => secrets[ref] ?? '',
    sealed: NO_SEALED_STATE, access: NO_ACCESS_CHANGES, store: { appendAudit: async () => undefined, getConnectorState: async () => undefined, setConnectorState: async () => undefined, listConnectorState: async () => [], deleteConnectorState: async () => undefined, handledTurn: async () => null },
    log: { debug: noop, info: noop, warn: noop, error: noop },
    dataDir: '/nonexistent',
    now: Date.now,
  };
}
