import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseMail, type ParseContext } from '../../../connectors/email/parse.js';
import { EmailState } from '../../../connectors/email/state.js';
import { parseChannelEvent } from '../../../core/event.js';
import { mail } from './helpers.js';

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/email/${name}`, import.meta.url));
const ME = 'assistant@example.org';

function memoryState(): EmailState {
  const data = new Map<string, unknown>();
  return new EmailState(
    {
      appendAudit: async () => undefined,
      getConnectorState: async (_c, key) => data.get(key),
      setConnectorState: async (_c, key, value) => void data.set(key, value),
      listConnectorState: async () => [], deleteConnectorState: async () => undefined, handledTurn: async () => null,
    },
    'email',
  );
}

const ctx = (state = memoryState()): ParseContext & { state: EmailState } => ({ address: ME, now: () => Date.parse('2024-05-14T10:00:00Z'), state });

/** Parses and, for an event, records it the way the connector does before publishing. */
async function receive(source: Buffer | string, c = ctx()) {
  const out = await parseMail(Buffer.from(source), c);
  if (out.kind === 'event') {
    await c.state.remember(out.messageId, out.record);
    if (out.base) await c.state.setBySubject(out.sender, out.base, out.root);
  }
  return out;
}

describe('email parse: never answered', () => {
  it.each([
    ['vacation.eml', 'auto-submitted'],
    ['bounce.eml', 'auto-submitted'],
    ['list.eml', 'precedence'],
  ])('%s is ignored (%s)', async (file, reason) => {
    expect(await receive(fixture(file))).toMatchObject({ kind: 'ignored', reason });
  });

  it.each([
    [{ 'Auto-Submitted': 'auto-generated' }, 'auto-submitted'],
    [{ 'Auto-Submitted': 'auto-notified; owner-email="x@example.com"' }, 'auto-submitted'],
    [{ Precedence: 'junk' }, 'precedence'],
    [{ Precedence: 'LIST' }, 'precedence'],
    [{ 'List-Id': '<announce.example.com>' }, 'mailing-list'],
    [{ 'Return-Path': '< >' }, 'bounce'],
  ])('%o is ignored as %s', async (headers, reason) => {
    expect(await receive(mail({ from: 'x@example.com', to: ME, headers }).raw)).toMatchObject({ kind: 'ignored', reason });
  });

  it('answers Auto-Submitted: no, and ignores MAILER-DAEMON and its own address in any case', async () => {
    expect(await receive(mail({ from: 'x@example.com', to: ME, headers: { 'Auto-Submitted': 'No' } }).raw)).toMatchObject({ kind: 'event' });
    // RFC 3834 allows comments around the keyword.
    expect(await receive(mail({ from: 'x@example.com', to: ME, headers: { 'Auto-Submitted': 'no (typed by a person)' } }).raw)).toMatchObject({ kind: 'event' });
    expect(await receive(mail({ from: 'x@example.com', to: ME, headers: { 'Auto-Submitted': '(robot) auto-replied' } }).raw)).toMatchObject({ kind: 'ignored', reason: 'auto-submitted' });
    expect(await receive(mail({ from: 'mailer-daemon@example.net', to: ME }).raw)).toMatchObject({ kind: 'ignored', reason: 'bounce' });
    expect(await receive(mail({ from: 'Me <Assistant@Example.ORG>', to: ME }).raw)).toMatchObject({ kind: 'ignored', reason: 'own-address' });
  });
});

describe('email parse: what the assistant sees', () => {
  it('a Gmail reply: the quote and its attribution are gone, the sender is the lower-cased From', async () => {
    const out = await receive(fixture('gmail-reply.eml'));
    if (out.kind !== 'event') throw new Error(out.reason);
    const event = parseChannelEvent(out.event);
    expect(event.text).toBe('Thanks, that helps. Could you also summarise note G?');
    expect(event.sender).toEqual({ id: 'ada.lovelace@gmail.com', name: 'Ada Lovelace', isBot: false });
    expect(event.conversation).toEqual({ id: '<CAJ7q3nWbK9x0P1Yx@mail.gmail.com>', kind: 'dm' });
    expect(event.platformMessageId).toBe('<CAJ7q3nX2mY8uQ4Zt@mail.gmail.com>');
    expect(event.replyTo).toEqual({ messageId: '<0c9e4f2a1b7d3e5f6a8b9c0d1e2f3a4b.mc@example.org>', toBot: false });
    expect(out.record.references).toEqual(['<CAJ7q3nWbK9x0P1Yx@mail.gmail.com>', '<0c9e4f2a1b7d3e5f6a8b9c0d1e2f3a4b.mc@example.org>']);
  });

  it('keeps a message\'s own References for the reply, and only those: In-Reply-To alone adds nothing', async () => {
    const out = await receive(mail({ from: 'x@example.com', to: ME, subject: 'Re: hi', inReplyTo: '<p@x>', body: 'yes' }).raw);
    if (out.kind !== 'event') throw new Error(out.reason);
    expect(out.record.references).toEqual([]);
  });

  it('an HTML-only reply too big for the parser (a screenshot pasted inline) still says its sentence; one still too big gets the notice', async () => {
    const html = (inner: string) =>
      ['From: ada@example.com', `To: ${ME}`, 'Subject: Re: plan', 'Message-ID: <big@x>', 'In-Reply-To: <m01@x>', 'References: <m01@x>',
        'MIME-Version: 1.0', 'Content-Type: text/html; charset=utf-8', '', inner].join('\r\n');
    const screenshot = `<img src="data:image/png;base64,${'A'.repeat(2_100_000)}">`;
    const out = await receive(html(`<p>Follow-up question in the thread, with a pasted screenshot.</p>${screenshot}`));
    if (out.kind !== 'event') throw new Error(out.reason);
    expect(out.event.text).toBe('Follow-up question in the thread, with a pasted screenshot.');
    const wall = await receive(html(`<p>${'word '.repeat(500_000)}</p>`).replace('<big@x>', '<big2@x>'));
    if (wall.kind !== 'event') throw new Error(wall.reason);
    expect(parseChannelEvent(wall.event)).toMatchObject({ text: '', tooLongChars: expect.any(Number) });
  });

  it('HTML nested far too deep says nothing, at once, whether or not it is big (conversion time grows faster than the depth)', async () => {
    const html = (id: string, inner: string) =>
      ['From: ada@example.com', `To: ${ME}`, 'Subject: deep', `Message-ID: <${id}@x>`, 'MIME-Version: 1.0', 'Content-Type: text/html; charset=utf-8', '', inner].join('\r\n');
    const deep = `<p>Hello there</p>${'<b>'.repeat(400_000)}hi`;
    // Its body gives nothing: a new thread with no body asks its question in the subject.
    expect(await receive(html('deep', deep))).toMatchObject({ kind: 'event', event: { text: 'deep' } });
    const screenshot = `<img src="data:image/png;base64,${'A'.repeat(2_100_000)}">`;
    expect(await receive(html('deep-big', `${deep}${screenshot}`))).toMatchObject({ kind: 'event', event: { text: 'deep' } });
  });

  it('an Outlook reply: the history under the rule and the mobile footer are gone', async () => {
    const out = await receive(fixture('outlook-reply.eml'));
    if (out.kind !== 'event') throw new Error(out.reason);
    expect(out.event.text).toBe('Please round the figures to thousands.\n\nKind regards,\nCharles');
  });

  it('a new thread with no body asks its question in the subject; a reply with none says nothing', async () => {
    expect(await receive(mail({ from: 'x@example.com', to: ME, subject: 'Is the office open today?', body: '' }).raw)).toMatchObject({
      kind: 'event',
      event: { text: 'Is the office open today?' },
    });
    expect(await receive(mail({ from: 'x@example.com', to: ME, subject: 'Re: thanks', inReplyTo: '<p@x>', body: '' }).raw)).toMatchObject({
      kind: 'ignored',
      reason: 'empty',
    });
  });

  it('a new thread: the body as written, attachments as metadata, replies go to Reply-To', async () => {
    const out = await receive(fixture('attachment.eml'));
    if (out.kind !== 'event') throw new Error(out.reason);
    expect(out.event.text).toBe('Please check the attached invoice — the total looks wrong.');
    expect(out.event.attachments).toEqual([{ kind: 'file', name: 'invoice-may.pdf', mimeType: 'application/pdf', size: 85 }]);
    expect(out.event.sender.id).toBe('grace.hopper@example.net');
    expect(out.record.to).toBe('desk@example.net');
    expect(out.event.conversation.id).toBe('<invoice-2024-05@example.net>');
  });

  it('replies to every mailbox Reply-To names, but never to the assistant itself', async () => {
    const headers = { 'Reply-To': `x1@example.net, Team <X2@example.net>, ${ME}` };
    const out = await receive(mail({ from: 'ada@example.com', to: ME, headers }).raw);
    expect(out.kind === 'event' && out.record.to).toBe('x1@example.net, x2@example.net');
    const onlyMe = await receive(mail({ from: 'ada@example.com', to: ME, headers: { 'Reply-To': ME } }).raw);
    expect(onlyMe.kind === 'event' && onlyMe.record.to).toBe('ada@example.com');
  });

  it('leaves out text over 100,000 characters, keeping its length, but not a long quote around a short answer', async () => {
    const long = await receive(mail({ from: 'x@example.com', to: ME, body: 'y'.repeat(100_001) }).raw);
    expect(long).toMatchObject({ kind: 'event', event: { text: '', tooLongChars: 100_001 } });
    const quoted = await receive(
      mail({ from: 'x@example.com', to: ME, inReplyTo: '<p@x>', body: `Short answer.\n\nOn Mon, X wrote:\n${'> old\n'.repeat(30_000)}` }).raw,
    );
    expect(quoted).toMatchObject({ kind: 'event', event: { text: 'Short answer.' } });
  });

  it('binary junk and a mail without From are rejected; a mail without Message-ID gets a stable one', async () => {
    expect(await receive(Buffer.from(Array.from({ length: 2048 }, (_, i) => (i * 97) % 256)))).toMatchObject({ kind: 'rejected' });
    const noFrom = mail({ from: '', to: ME }).raw.replace(/^From: \r\n/, '');
    expect(await receive(noFrom)).toMatchObject({ kind: 'rejected', reason: 'no-sender' });
    const noId = mail({ from: 'x@example.com', to: ME, messageId: null }).raw;
    const [a, b] = [await receive(noId), await receive(noId)];
    expect(a.kind === 'event' && b.kind === 'event' && a.messageId === b.messageId && a.event.id === b.event.id).toBe(true);
  });
});

describe('email parse: threads', () => {
  it('a reply to the assistant that carries only In-Reply-To joins the thread through the stored mapping', async () => {
    const c = ctx();
    const first = mail({ from: 'ada@example.com', to: ME, subject: 'Plan' });
    await receive(first.raw, c);
    await c.state.remember('<ours.mc@example.org>', { root: first.messageId, own: true });
    const out = await receive(mail({ from: 'ada@example.com', to: ME, subject: 'Re: Plan', inReplyTo: '<ours.mc@example.org>', body: 'ok' }).raw, c);
    expect(out).toMatchObject({ kind: 'event', root: first.messageId, event: { text: 'ok', replyTo: { toBot: true } } });
    // Without the mapping the parent itself would have been taken for the root.
    const fresh = await receive(mail({ from: 'ada@example.com', to: ME, inReplyTo: '<ours.mc@example.org>', body: 'ok' }).raw);
    expect(fresh).toMatchObject({ root: '<ours.mc@example.org>' });
  });

  it('a "Re:" without any references joins the same sender\'s thread with that subject, and only that sender\'s', async () => {
    const c = ctx();
    const first = mail({ from: 'ada@example.com', to: ME, subject: 'Budget' });
    await receive(first.raw, c);
    expect(await receive(mail({ from: 'ada@example.com', to: ME, subject: 'RE: budget' }).raw, c)).toMatchObject({ root: first.messageId });
    const other = mail({ from: 'eve@example.com', to: ME, subject: 'Re: Budget' });
    expect(await receive(other.raw, c)).toMatchObject({ root: other.messageId });
    const plain = mail({ from: 'ada@example.com', to: ME, subject: 'Budget' });
    expect(await receive(plain.raw, c)).toMatchObject({ root: plain.messageId });
    // A forged From with a guessed subject must not have ada's thread answered elsewhere: a Reply-To starts anew.
    const redirected = mail({ from: 'ada@example.com', to: ME, subject: 'Re: Budget', headers: { 'Reply-To': 'mallory@evil.example' } });
    expect(await receive(redirected.raw, c)).toMatchObject({ root: redirected.messageId });
  });

  it('a redelivered message keeps its thread, whatever was learnt since', async () => {
    const c = ctx();
    const m = mail({ from: 'ada@example.com', to: ME, subject: 'Re: x', references: ['<root@x>'] });
    const a = await receive(m.raw, c);
    await c.state.remember('<root@x>', { root: '<elsewhere@x>' });
    expect(await receive(m.raw, c)).toMatchObject({ root: a.kind === 'event' ? a.root : 'n/a' });
  });
});
