import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { header, mail, useMailServers } from './helpers.js';

const servers = useMailServers();
const harness = servers.harness;

const ignoredReasons = async (h: Awaited<ReturnType<typeof harness>>, kind: string) =>
  (await h.store.auditTail(10_000)).filter((e) => e.kind === kind).map((e) => (JSON.parse(e.data) as { reason: string }).reason);

describe('email inbound: what is answered, what is not, and when', () => {
  it('never answers auto-replies, bulk, lists, bounces or its own mail, and flags them \\Seen', async () => {
    const account = await servers.dovecot.newAccount();
    const to = account.user;
    const robots = [
      mail({ from: 'bob@example.com', to, subject: 'Out of office', headers: { 'Auto-Submitted': 'auto-replied' } }),
      mail({ from: 'news@example.com', to, subject: 'Deals', headers: { Precedence: 'bulk' } }),
      mail({ from: 'someone@lists.example.com', to, subject: '[dev] release', headers: { 'List-Id': 'Developers <dev.lists.example.com>' } }),
      mail({ from: 'MAILER-DAEMON@mx.example.com', to, subject: 'Undelivered Mail Returned to Sender', headers: { 'Return-Path': '<>' } }),
      mail({ from: `Assistant <${to.toUpperCase()}>`, to, subject: 'loop?' }),
    ];
    const uids = [];
    for (const m of robots) uids.push(await account.append(m.raw));
    // A real person's mail after them: once it is answered, every robot before it has been looked at.
    const sentinel = await account.append(mail({ from: 'carol@example.com', to, subject: 'Question', body: 'Is this thing on?' }).raw);
    const h = await harness({ account });

    await h.nextReply('carol@example.com');
    expect(h.sent()).toHaveLength(1);
    for (const uid of [...uids, sentinel]) await h.until(async () => (await account.flags(uid)).has('\\Seen'));
    expect((await ignoredReasons(h, 'inbound.ignored')).sort()).toEqual(['auto-submitted', 'bounce', 'mailing-list', 'own-address', 'precedence']);
    expect(await account.uids()).toEqual([...uids, sentinel]);
  });

  it('ignores mail already \\Seen and answers unseen mail that was there before the first start', async () => {
    const account = await servers.dovecot.newAccount();
    const read = await account.append(mail({ from: 'dave@example.com', to: account.user, subject: 'old', body: 'already read' }).raw, ['\\Seen']);
    const waiting = mail({ from: 'dave@example.com', to: account.user, subject: 'new', body: 'not read yet' });
    await account.append(waiting.raw);
    const h = await harness({ account });
    const reply = await h.nextReply('dave@example.com');
    expect(header(reply, 'in-reply-to')).toBe(waiting.messageId);
    await sleep(500);
    expect(h.sent('dave@example.com')).toHaveLength(1);
    expect(await account.flags(read)).toEqual(new Set(['\\Seen']));
  });

  it('answers mail that arrived while the connector was stopped exactly once, also across further restarts', async () => {
    const h = await harness();
    await h.stopConnector();
    const missed = mail({ from: 'erin@example.com', to: h.account.user, subject: 'while you were out', body: 'hello?' });
    await h.account.append(missed.raw);
    await h.startConnector();
    const reply = await h.nextReply('erin@example.com');
    expect(header(reply, 'in-reply-to')).toBe(missed.messageId);
    await h.stopConnector();
    await h.startConnector();
    await sleep(1_000);
    expect(h.sent('erin@example.com')).toHaveLength(1);
  });

  it('judges a backlog at the pace the server took it in: 25 mails from one sender over 3 hours are all answered', async () => {
    const h = await harness();
    await h.stopConnector();
    const start = Date.now() - 3 * 3600_000;
    for (let i = 0; i < 25; i++) {
      const at = new Date(start + i * 7 * 60_000);
      await h.account.append(mail({ from: 'frank@example.com', to: h.account.user, subject: `note ${i}`, body: `note ${i}`, date: at }).raw, [], at);
    }
    await h.startConnector();
    // The default limit is 20 a minute per sender: read at once and counted at read time, the last five were refused.
    await h.nextReply('frank@example.com', 25, 30_000);
    expect(h.sent('frank@example.com').map((m) => header(m, 'subject'))).toEqual(Array.from({ length: 25 }, (_, i) => `Re: note ${i}`));
  }, 45_000);

  it('survives malformed mail: no Message-ID is answered, an oversized body gets a notice, binary junk is rejected, all flagged', async () => {
    const h = await harness();
    const noId = mail({ from: 'frank@example.com', to: h.account.user, subject: 'no id', body: 'anyone?', messageId: null });
    const noIdUid = await h.account.append(noId.raw);
    const huge = await h.account.append(mail({ from: 'frank@example.com', to: h.account.user, subject: 'huge', body: 'x'.repeat(100_001) }).raw);
    const junk = await h.account.append(Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131 + 7) % 256)));
    await h.account.append(mail({ from: 'frank@example.com', to: h.account.user, subject: 'after', body: 'still alive?' }).raw);

    // Three threads, answered in any order.
    await h.nextReply('frank@example.com', 3);
    const replies = h.sent('frank@example.com');
    const byText = new Map(replies.map((r) => [r.parsed.text?.trim(), r]));
    expect([...byText.keys()].sort()).toEqual(['Your message is too long (100,001 characters): the limit is 100,000. Please send it in shorter parts.', 'anyone?', 'still alive?']);
    // Answered, but pointing at no made-up id: the mail had none.
    expect(header(byText.get('anyone?')!, 'in-reply-to')).toBeUndefined();
    for (const uid of [noIdUid, huge, junk]) expect((await h.account.flags(uid)).has('\\Seen')).toBe(true);
    expect(await ignoredReasons(h, 'inbound.rejected')).toEqual(['no-sender']);
    await sleep(300);
    expect(h.sent('frank@example.com')).toHaveLength(3);
  });

  it('answers only admitted senders: an allowlisted address is answered, anyone else is dropped silently', async () => {
    const h = await harness({ access: { dm: 'allowlist', allow: ['email:grace@example.com'] } });
    await h.account.append(mail({ from: 'mallory@example.com', to: h.account.user, subject: 'hi', body: 'let me in' }).raw);
    await h.account.append(mail({ from: 'Grace <Grace@Example.com>', to: h.account.user, subject: 'hi', body: 'hello' }).raw);
    await h.nextReply('grace@example.com');
    await sleep(300);
    expect(h.sent('mallory@example.com')).toHaveLength(0);
  });

  it("never sends one sender's answer to another who reused their Message-ID: the second mail is refused and audited", async () => {
    const account = await servers.dovecot.newAccount();
    const id = '<reused-1@mail.example.com>';
    await account.append(mail({ from: 'cat@example.com', to: account.user, subject: 'secret', body: 'cat secret question', messageId: id }).raw);
    await account.append(mail({ from: 'mal@example.com', to: account.user, subject: 'secret', body: 'mine now', messageId: id }).raw);
    // A later mail from someone else: once it is answered, both before it have been looked at.
    await account.append(mail({ from: 'carol@example.com', to: account.user, subject: 'later' }).raw);
    const h = await harness({ account });
    const answer = await h.nextReply('cat@example.com');
    expect(answer.parsed.text?.trim()).toBe('cat secret question');
    await h.nextReply('carol@example.com');
    await sleep(300);
    expect(h.sent('mal@example.com')).toHaveLength(0);
    expect(await ignoredReasons(h, 'inbound.rejected')).toContain('message-id-reused');
  });

  it('answers a mail whose record was kept before senders were (a redelivery after a crash), as before', async () => {
    const h = await harness();
    const id = '<kept-before@mail.example.com>';
    await h.store.setConnectorState('email', `msg:${id}`, { root: id, to: 'ada@example.com', subject: 'old' });
    // Someone else's mail under an old record's id is refused; the same mail again is answered.
    await h.account.append(mail({ from: 'mal@example.com', to: h.account.user, subject: 'old', body: 'mine now', messageId: id }).raw);
    await h.account.append(mail({ from: 'ada@example.com', to: h.account.user, subject: 'old', body: 'still waiting', messageId: id }).raw);
    expect((await h.nextReply('ada@example.com')).parsed.text?.trim()).toBe('still waiting');
    expect(h.sent('mal@example.com')).toHaveLength(0);
    expect(await ignoredReasons(h, 'inbound.rejected')).toContain('message-id-reused');
  });
});
