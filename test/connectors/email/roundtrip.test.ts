import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { ChannelEvent } from '../../../core/event.js';
import { startDovecot } from '../../fakes/email/dovecot.js';
import { emailHarness, header, mail, useMailServers } from './helpers.js';

const servers = useMailServers();
const harness = servers.harness;

const ADA = 'Ada Lovelace <ada@example.com>';

describe('email connector against Dovecot and an SMTP server', () => {
  it('answers a mail in its thread with correct headers, and a follow-up joins the same thread and session', async () => {
    const h = await harness();
    const first = mail({ from: ADA, to: h.account.user, subject: 'Lunch?', body: 'Are you free on Friday?' });
    const uid = await h.account.append(first.raw);

    const reply = await h.nextReply('ada@example.com');
    expect(reply.to).toEqual(['ada@example.com']);
    expect(reply.parsed.from?.value[0]?.address).toBe(h.account.user);
    expect(header(reply, 'subject')).toBe('Re: Lunch?');
    expect(header(reply, 'in-reply-to')).toBe(first.messageId);
    expect(header(reply, 'references')).toBe(first.messageId);
    expect(header(reply, 'auto-submitted')).toBe('auto-replied');
    const date = header(reply, 'date');
    expect(date && Math.abs(Date.parse(date) - Date.now())).toBeLessThan(60_000);
    const ours = header(reply, 'message-id')!;
    expect(ours).toMatch(/^<[0-9a-f]{32}\.mc@example\.org>$/);
    // The echo backend returns what the assistant saw: the body, verbatim.
    expect(reply.parsed.text?.trim()).toBe('Are you free on Friday?');
    // Flagged \Seen only after publishing, and left where it was.
    await h.until(async () => (await h.account.flags(uid)).has('\\Seen'));
    expect(await h.account.uids()).toEqual([uid]);

    // Ada answers the assistant's reply: quoted history and signature must not reach the assistant.
    const followUp = mail({
      from: ADA,
      to: h.account.user,
      subject: 'Re: Re: Lunch?',
      inReplyTo: ours,
      references: [first.messageId, ours],
      body: [
        'Yes, at noon.',
        '',
        `On Mon, 1 Jan 2024 at 10:00, Assistant <${h.account.user}> wrote:`,
        '> Are you free on Friday?',
        '',
        '-- ',
        'Ada Lovelace',
        'Analytical Engines Ltd.',
      ].join('\n'),
    });
    await h.account.append(followUp.raw);
    const second = await h.nextReply('ada@example.com', 2);
    expect(second.parsed.text?.trim()).toBe('Yes, at noon.');
    expect(header(second, 'subject')).toBe('Re: Lunch?');
    expect(header(second, 'in-reply-to')).toBe(followUp.messageId);
    expect(header(second, 'references')).toBe([first.messageId, ours, followUp.messageId].join(' '));
    expect(header(second, 'message-id')).not.toBe(ours);

    // One conversation (the thread root), one session: its history holds both turns.
    const { session, channel } = await h.store.ensureSession({
      platform: 'email',
      conversation: { id: first.messageId, kind: 'dm' },
      sender: { id: 'ada@example.com', isBot: false },
    } as ChannelEvent);
    expect(channel.conversationId).toBe(first.messageId);
    const history = await h.store.history(session.id, 50);
    expect(history.map((m) => [m.role, m.text])).toEqual([
      ['user', 'Are you free on Friday?'],
      ['assistant', 'Are you free on Friday?'],
      ['user', 'Yes, at noon.'],
      ['assistant', 'Yes, at noon.'],
    ]);
  });

  it('is woken by IDLE: mail appended while connected is answered well before the 10 s poll', async () => {
    const h = await harness();
    // Let the first pass finish and the connection go idle.
    await sleep(1_500);
    const at = Date.now();
    await h.account.append(mail({ from: 'grace@example.com', to: h.account.user, subject: 'ping', body: 'ping' }).raw);
    await h.nextReply('grace@example.com', 1, 9_000);
    // The next poll is ~8.5 s after the append; only IDLE answers sooner (with room for a loaded machine).
    expect(Date.now() - at).toBeLessThan(5_000);
  });

  it('polls when the server has no IDLE: new mail is still answered, within the poll interval', async () => {
    const plain = await startDovecot({ idle: false, accounts: 1 });
    servers.defer(() => plain.stop());
    const h = await emailHarness(plain, servers.smtp, { account: await plain.newAccount(), pollMs: 1_000 });
    servers.defer(() => h.stop());
    await sleep(1_500);
    const at = Date.now();
    await h.account.append(mail({ from: 'hal@example.com', to: h.account.user, subject: 'poll', body: 'poll' }).raw);
    await h.nextReply('hal@example.com', 1, 8_000);
    // Without the connector's own poll the next look would be imapflow's NOOP fallback, minutes away.
    expect(Date.now() - at).toBeLessThan(5_000);
  });

  it('reconnects after the server drops the connection, and answers what arrived meanwhile', async () => {
    const h = await harness();
    await sleep(500);
    servers.dovecot.kick(h.account.user);
    const dropped = mail({ from: 'ivy@example.com', to: h.account.user, subject: 'after the drop', body: 'still there?' });
    await h.account.append(dropped.raw);
    const reply = await h.nextReply('ivy@example.com', 1, 9_000);
    expect(header(reply, 'in-reply-to')).toBe(dropped.messageId);
  });
});
