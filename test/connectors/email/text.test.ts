import { describe, expect, it } from 'vitest';
import { replyMessageId } from '../../../connectors/email/send.js';
import { baseSubject, replySubject, visibleText } from '../../../connectors/email/text.js';

describe('visibleText', () => {
  it('keeps inline answers between quotes, in order', () => {
    const body = ['On Mon, 1 Jan 2024, Bob wrote:', '> first question?', 'First answer.', '', '> second question?', 'Second answer.'].join('\n');
    expect(visibleText(body)).toBe('First answer.\n\nSecond answer.');
  });

  it('drops an attribution wrapped over two lines', () => {
    const body = ['Sure.', '', 'On Mon, Jan 1, 2024 at 10:00 AM Bob Smith <', 'bob@example.com> wrote:', '', '> old'].join('\r\n');
    expect(visibleText(body)).toBe('Sure.');
  });

  it('cuts at the signature delimiter, with or without its trailing space', () => {
    expect(visibleText('Hi\n-- \nBob\n> quoted under the signature')).toBe('Hi');
    expect(visibleText('Hi\n--\nBob')).toBe('Hi');
    expect(visibleText('a -- b\n---\nkept')).toBe('a -- b\n---\nkept');
  });

  it("keeps the user's own sentence that ends in \"wrote:\" when no quote follows", () => {
    expect(visibleText('On Monday the manager wrote:\nthe report is late.')).toBe('On Monday the manager wrote:\nthe report is late.');
  });

  it('cuts at Outlook history markers and localized attributions', () => {
    expect(visibleText('Yes.\n\n-----Original Message-----\nFrom: Bob\nold')).toBe('Yes.');
    expect(visibleText('Ja.\n\nAm 01.01.2024 um 10:00 schrieb Bob <bob@example.com>:\n> alt')).toBe('Ja.');
    expect(visibleText('Oui.\n\nLe lun. 1 janv. 2024, Bob a écrit :\n> vieux')).toBe('Oui.');
  });

  it('cuts at a quoted header block without the rule above it (Outlook, in English and French)', () => {
    const outlook = 'Sure, Friday works.\n\nFrom: Assistant <a@example.org>\nSent: Monday, 1 January 2024 10:00\nTo: Ada <ada@example.com>\nSubject: Re: lunch\n\nAre you free on Friday?';
    expect(visibleText(outlook)).toBe('Sure, Friday works.');
    expect(visibleText('Oui.\n\nDe : Assistant <a@example.org>\nEnvoyé : lundi 1 janvier 2024 10:00\nÀ : Ada\nObjet : Re: déjeuner\n\nVieux')).toBe('Oui.');
    // One header-like line of the user's own is kept: a block needs the lines that follow From.
    expect(visibleText('From: the desk of Ada\nplease see below')).toBe('From: the desk of Ada\nplease see below');
    // A memo pasted to be proofread (no Sent or Date) is kept; so is a forwarded mail, which is there to be read.
    const memo = 'Please proofread:\n\nFrom: Ada\nTo: Staff\nSubject: Friday\n\nThe office is closed.';
    expect(visibleText(memo)).toBe(memo);
    const forward = 'Summarise this.\n\n---------- Forwarded message ---------\nFrom: Bob <bob@example.com>\nDate: Mon, 1 Jan 2024\nSubject: Q3\nTo: Ada\n\nRevenue is up.';
    expect(visibleText(forward)).toBe(forward);
    const inoltrato = 'Riassumi.\n\n---------- Messaggio inoltrato ---------\nDa: Bob <bob@example.com>\nDate: lun 1 gen 2024\nSubject: Q3\nTo: Ada\n\nRicavi in crescita.';
    expect(visibleText(inoltrato)).toBe(inoltrato);
  });

  it('reads a hostile body in one pass: a wall of header-like or blank lines', () => {
    const wall = 'From: x\n'.repeat(200_000);
    expect(visibleText(`hi\n${wall}`)).toBe(`hi\n${wall.trimEnd()}`);
    expect(visibleText(`${'\n'.repeat(500_000)}hello`)).toBe('hello');
  });
});

describe('subjects', () => {
  it.each([
    ['Lunch', 'Re: Lunch'],
    ['Re: Lunch', 'Re: Lunch'],
    ['RE: Re: re:Lunch', 'Re: Lunch'],
    ['Aw: SV: Antw: Lunch', 'Re: Lunch'],
    ['Re[2]: Lunch', 'Re: Lunch'],
    ['Fwd: Lunch', 'Re: Fwd: Lunch'],
    ['  Re:   lots   of   space ', 'Re: lots of space'],
    ['', 'Re:'],
    ['Re: ', 'Re:'],
  ])('%j gets exactly one "Re: " → %j', (subject, expected) => {
    expect(replySubject(subject)).toBe(expected);
  });

  it('a subject word that merely starts like a prefix is kept', () => {
    expect(baseSubject('Reminder: dentist')).toBe('Reminder: dentist');
    expect(baseSubject('Regarding: x')).toBe('Regarding: x');
  });
});

describe('replyMessageId', () => {
  it('is stable per idempotency key and part, and in the assistant\'s domain', () => {
    expect(replyMessageId('k1', 0, 'a@example.org')).toBe(replyMessageId('k1', 0, 'a@example.org'));
    expect(replyMessageId('k1', 1, 'a@example.org')).not.toBe(replyMessageId('k1', 0, 'a@example.org'));
    expect(replyMessageId('k2', 0, 'a@example.org')).not.toBe(replyMessageId('k1', 0, 'a@example.org'));
    expect(replyMessageId('k1', 0, 'a@example.org')).toMatch(/^<[0-9a-f]{32}\.mc@example\.org>$/);
  });
});
