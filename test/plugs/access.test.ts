import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { decideAccess, overridesFor, PAIRING_CODE, revocable } from '../../core/access.js';
import { parseConfig } from '../../core/config.js';
import { parseChannelEvent } from '../../core/event.js';
import { isOwnerDecision } from '../../core/session-worker.js';
import { startTestGateway } from '../helpers/gateway.js';
import { makeEvent } from '../helpers/tmp.js';

let gw: Awaited<ReturnType<typeof startTestGateway>> | undefined;
afterEach(async () => {
  await gw?.stop();
  gw = undefined;
});

const dm = (sender: string, text = 'hi', name = 'Someone') =>
  makeEvent({ sender: { id: sender, name, isBot: false }, conversation: { id: sender, kind: 'dm' }, text });
const group = (conv: string, sender: string, text = 'hey bot', mentionsBot = true) =>
  makeEvent({ sender: { id: sender, isBot: false }, conversation: { id: conv, kind: 'group' }, text, mentionsBot });
/** Waits until every published event has been handled, then returns what was sent. */
async function settle(g: NonNullable<typeof gw>, ms = 250) {
  await sleep(ms);
  return g.sent.map((r) => r.text);
}
const codeIn = (text: string) => /code: ([A-Z0-9]{8})/.exec(text)?.[1];

describe('access plug', () => {
  it('sends an unknown DM sender one pairing code, then silence for the hour', async () => {
    gw = await startTestGateway({ config: { access: { dm: 'pairing' } } });
    await gw.publish([dm('42', 'hello?')]);
    const [notice] = await gw.waitForReplies(1);
    const code = codeIn(notice!.text);
    expect(code).toMatch(PAIRING_CODE);
    expect(code).not.toMatch(/[01OIL]/);
    await gw.publish([dm('42', 'hello again')]);
    expect(await settle(gw)).toHaveLength(1);
    const pending = await gw.store.accessStore().pendingPairings(Date.now());
    expect(pending).toEqual([expect.objectContaining({ code, identity: 'telegram:42', name: 'Someone' })]);
  });

  it('never sends a code in a group, nor in allowlist mode', async () => {
    gw = await startTestGateway({ config: { access: { dm: 'allowlist' } } });
    await gw.publish([dm('7'), group('-100', '7')]);
    expect(await settle(gw)).toEqual([]);
    expect(await gw.store.accessStore().pendingPairings(Date.now())).toEqual([]);
  });

  it('keeps at most 3 pending codes per connector', async () => {
    gw = await startTestGateway({ config: { access: { dm: 'pairing' } } });
    await gw.publish(['a', 'b', 'c', 'd', 'e'].map((s) => dm(s)));
    expect(await settle(gw, 400)).toHaveLength(3);
  });

  it('approve admits from the next message on; deny blocks silently until access allow', async () => {
    gw = await startTestGateway({ config: { access: { dm: 'pairing' } } });
    const access = gw.store.accessStore();
    await gw.publish([dm('1'), dm('2')]);
    await gw.waitForReplies(2);
    const [one, two] = await access.pendingPairings(Date.now());
    expect(await access.decidePairing(one!.code, 'approved', Date.now(), () => [])).toEqual({ ok: true, identity: one!.identity });
    expect(await access.decidePairing(two!.code, 'denied', Date.now(), () => [])).toEqual({ ok: true, identity: two!.identity });
    expect(await access.decidePairing(one!.code, 'denied', Date.now(), () => [])).toEqual({ ok: false, reason: 'decided' });
    expect(await access.decidePairing('ZZZZZZZZ', 'approved', Date.now(), () => [])).toEqual({ ok: false, reason: 'unknown' });
    await gw.publish([dm(one!.identity.split(':')[1]!, 'approved one'), dm(two!.identity.split(':')[1]!, 'denied one')]);
    expect(await settle(gw)).toEqual([expect.stringContaining('code'), expect.stringContaining('code'), 'approved one']);
    await access.setOverride(two!.identity, 'allow', 'cli', []);
    await gw.publish([dm(two!.identity.split(':')[1]!, 'lifted')]);
    expect((await settle(gw)).at(-1)).toBe('lifted');
  });

  it('an access allow answers the sender\'s open request: its code can no longer block them, nor hold a pending slot', async () => {
    gw = await startTestGateway({ config: { access: { dm: 'pairing' } } });
    const access = gw.store.accessStore();
    await gw.publish([dm('5')]);
    await gw.waitForReplies(1);
    const [request] = await access.pendingPairings(Date.now());
    await access.setOverride('telegram:5', 'allow', 'cli', []);
    expect(await access.pendingPairings(Date.now())).toEqual([]);
    expect(await access.decidePairing(request!.code, 'denied', Date.now(), () => [])).toEqual({ ok: false, reason: 'decided' });
    await gw.publish([dm('5', 'allowed now')]);
    expect((await settle(gw)).at(-1)).toBe('allowed now');
  });

  it('refuses an expired code', async () => {
    let now = Date.now();
    gw = await startTestGateway({ config: { access: { dm: 'pairing' } }, now: () => now });
    await gw.publish([dm('9')]);
    await gw.waitForReplies(1);
    const [req] = await gw.store.accessStore().pendingPairings(now);
    now += 61 * 60 * 1000;
    expect(await gw.store.accessStore().decidePairing(req!.code, 'approved', now, () => [])).toEqual({ ok: false, reason: 'expired' });
  });

  it('a revoked sender is refused from the next message, even when the config allows it', async () => {
    gw = await startTestGateway({ config: { access: { dm: 'allowlist', allow: ['telegram:5'] } } });
    await gw.publish([dm('5', 'first')]);
    await gw.waitForReplies(1);
    await gw.store.accessStore().setOverride('telegram:5', 'revoke', 'cli', []);
    await gw.publish([dm('5', 'second')]);
    expect(await settle(gw)).toEqual(['first']);
  });

  it('the config deny list beats a run-time allow; a display name never counts as an identity', async () => {
    gw = await startTestGateway({ config: { access: { dm: 'allowlist', allow: ['telegram:4242'], deny: ['telegram:6'] } } });
    await gw.store.accessStore().setOverride('telegram:6', 'allow', 'cli', []);
    await gw.publish([dm('6', 'denied'), dm('77', 'impostor', '4242')]);
    expect(await settle(gw)).toEqual([]);
  });

  it('ignores a group not on the allowlist even when mentioned; an allowed group admits its members when addressed', async () => {
    gw = await startTestGateway({ config: { access: { allow: ['telegram:-200'] } } });
    await gw.publish([group('-100', '1', 'not listed'), group('-200', '1', 'listed'), group('-200', '2', 'not addressed', false)]);
    expect(await settle(gw)).toEqual(['listed']);
  });

  it('never answers bots, even in open mode', async () => {
    gw = await startTestGateway({ config: { access: { dm: 'open', groups: 'open' } } });
    await gw.publish([makeEvent({ sender: { id: 'b', isBot: true }, conversation: { id: 'b', kind: 'dm' } })]);
    expect(await settle(gw)).toEqual([]);
  });
});

describe('owner notification', () => {
  it('tells each owner on the same platform, in their own DM, of a new pairing request', async () => {
    gw = await startTestGateway({ config: { access: { dm: 'pairing', owners: ['telegram:900', 'slack:U1'] } } });
    await gw.publish([dm('31', 'hi', 'Alan')]);
    const replies = await gw.waitForReplies(2);
    const toOwner = replies.find((r) => r.address.conversation.id === '900')!;
    const code = codeIn(replies.find((r) => r.address.conversation.id === '31')!.text);
    expect(toOwner.text).toContain(`code ${code}`);
    expect(toOwner.text).toContain('Alan (telegram:31)');
    expect(toOwner.address).toEqual({ platform: 'telegram', account: 'bot1', conversation: { id: '900', kind: 'dm' } });
    expect(await settle(gw)).toHaveLength(2);
    // A sender whose platform gave no name is named by id alone, not by an empty name and a parenthesis.
    await gw.publish([makeEvent({ sender: { id: '32', isBot: false }, conversation: { id: '32', kind: 'dm' }, text: 'hi' })]);
    const later = await gw.waitForReplies(4);
    expect(later.filter((r) => r.address.conversation.id === '900').at(-1)!.text).toMatch(/^Pairing request from telegram:32, code /);
  });

  it('names the sender on one line with no bidi override, and tells no owner who was revoked or blocked', async () => {
    gw = await startTestGateway({ config: { access: { dm: 'pairing', owners: ['telegram:900', 'telegram:901', 'telegram:902'] } } });
    await gw.store.accessStore().setOverride('telegram:901', 'revoke', 'cli', []);
    await gw.store.accessStore().setOverride('telegram:902', 'deny', 'cli', []);
    await gw.publish([dm('33', 'hi', 'Mallory \u202eevil\u2066')]);
    expect(await settle(gw)).toHaveLength(2);
    const toOwners = gw.sent.filter((r) => r.address.conversation.id !== '33');
    expect(toOwners.map((r) => r.address.conversation.id)).toEqual(['900']);
    expect(toOwners[0]!.text).toMatch(/^Pairing request from Mallory  evil  \(telegram:33\), code /);
  });
});

describe('owners', () => {
  it('admits an owner in a DM without pairing or an allow entry, but not a group the owner writes in', async () => {
    gw = await startTestGateway({ config: { access: { dm: 'pairing', owners: ['telegram:900'] } } });
    await gw.publish([dm('900', 'it is me'), group('-100', '900', 'in a group')]);
    expect(await settle(gw)).toEqual(['it is me']);
    expect(await gw.store.accessStore().pendingPairings(Date.now())).toEqual([]);
  });

  it('a run-time revoke refuses an owner listed in allow until access allow; one only in owners is not revocable', async () => {
    const access = { dm: 'allowlist', allow: ['telegram:901'], owners: ['telegram:900', 'telegram:901'] } as const;
    gw = await startTestGateway({ config: { access } });
    const configured = { ...access, allow: [...access.allow], owners: [...access.owners], groups: 'allowlist' as const, deny: [] };
    expect(['telegram:900', 'telegram:901', 'telegram:902'].map((id) => revocable(configured, id, undefined))).toEqual([false, true, false]);
    await gw.store.accessStore().setOverride('telegram:901', 'revoke', 'cli', []);
    await gw.publish([dm('900', 'unlisted owner'), dm('901', 'listed owner')]);
    expect(await settle(gw)).toEqual(['unlisted owner']);
    await gw.store.accessStore().setOverride('telegram:901', 'allow', 'cli', []);
    await gw.publish([dm('901', 'back')]);
    expect(await settle(gw)).toEqual(['unlisted owner', 'back']);
  });
});

describe('enclosing scopes (a Discord guild)', () => {
  const inGuild = (channel: string, sender: string) =>
    makeEvent({ platform: 'discord', sender: { id: sender, isBot: false }, conversation: { id: channel, kind: 'channel', within: ['81'] }, text: `in ${channel}`, mentionsBot: true });

  it('an allowlisted guild admits its channels; a revoked channel inside it stays refused; a denied guild refuses all', async () => {
    gw = await startTestGateway({ config: { access: { allow: ['discord:81'], deny: ['discord:9'] } }, platform: 'discord' });
    await gw.store.accessStore().setOverride('discord:72', 'revoke', 'cli', []);
    await gw.publish([inGuild('71', '1'), inGuild('72', '1'), inGuild('73', '9')]);
    expect(await settle(gw)).toEqual(['in 71']);
  });
});

describe('overridesFor', () => {
  it('reads once per message and store, shared by the plugs that ask; the next message reads afresh', async () => {
    const reads: string[][] = [];
    let action: 'allow' | 'revoke' = 'allow';
    const store = { overrides: async (ids: string[]) => (reads.push(ids), new Map(ids.slice(0, 1).map((id) => [id, action] as const))) };
    const first = dm('9');
    const [a, b] = await Promise.all([overridesFor(store, first), overridesFor(store, first)]);
    expect(reads).toHaveLength(1);
    expect(a).toBe(b);
    action = 'revoke';
    expect((await overridesFor(store, dm('9'))).get('telegram:9')).toBe('revoke');
    const other = { overrides: store.overrides };
    await overridesFor(other, first);
    expect(reads).toHaveLength(3);
  });
});

describe('a sender known by more than one id (a WhatsApp LID and its number)', () => {
  const lid = '123456789012345@lid';
  const number = '15551234567@s.whatsapp.net';
  const from = (aliases?: string[]) =>
    parseChannelEvent(makeEvent({ platform: 'whatsapp', sender: { id: lid, isBot: false, ...(aliases ? { aliases } : {}) }, conversation: { id: lid, kind: 'dm' } }));
  const access = (extra: Record<string, unknown>) => parseConfig({ access: { dm: 'allowlist', ...extra } }).access;

  it('a deny, an allow or an owner entry under either id applies', () => {
    expect(decideAccess(access({ deny: [`whatsapp:${number}`] }), from([number]))).toMatchObject({ admitted: false, rule: 'deny' });
    expect(decideAccess(access({ allow: [`whatsapp:${number}`] }), from([number]))).toMatchObject({ admitted: true, rule: 'allow' });
    expect(decideAccess(access({ owners: [`whatsapp:${number}`] }), from([number]))).toMatchObject({ admitted: true, rule: 'owner' });
    // Without the alias, an entry under the number says nothing about the LID.
    expect(decideAccess(access({ allow: [`whatsapp:${number}`] }), from())).toMatchObject({ admitted: false });
    // A revoke under one id holds whatever the other is allowed by.
    expect(decideAccess(access({ allow: [`whatsapp:${number}`] }), from([number]), new Map([[`whatsapp:${lid}`, 'revoke' as const]]))).toMatchObject({ admitted: false, rule: 'revoked' });
    // An owner listed by number decides approvals from the LID chat, on the control queue.
    const approve = parseChannelEvent(makeEvent({ platform: 'whatsapp', sender: { id: lid, isBot: false, aliases: [number] }, conversation: { id: lid, kind: 'dm' }, text: '/approve K7QXM2' }));
    expect(isOwnerDecision(parseConfig({ access: { owners: [`whatsapp:${number}`] } }))(approve)).toBe(true);
  });

  it('so do run-time changes: a pair deny under the number blocks the LID, and is read for both ids', async () => {
    const asked: string[][] = [];
    const store = { overrides: async (ids: string[]) => (asked.push(ids), new Map([[`whatsapp:${number}`, 'deny' as const]])) };
    const event = from([number]);
    expect(decideAccess(access({ dm: 'open' }), event, await overridesFor(store, event))).toMatchObject({ admitted: false, rule: 'blocked' });
    expect(asked[0]).toEqual(expect.arrayContaining([`whatsapp:${lid}`, `whatsapp:${number}`]));
  });

  it('sends one pairing code an hour to a person, whichever of their ids they write under', async () => {
    gw = await startTestGateway({ config: { access: { dm: 'pairing' } } });
    const wa = (id: string, aliases: string[], text: string) =>
      makeEvent({ platform: 'whatsapp', sender: { id, isBot: false, aliases }, conversation: { id, kind: 'dm' }, text });
    const pending = () => gw!.store.accessStore().pendingPairings(Date.now());
    await gw.publish([wa(number, [], 'by number')]);
    for (let i = 0; i < 100 && (await pending()).length === 0; i++) await sleep(50);
    await gw.publish([wa(lid, [number], 'by LID')]);
    await settle(gw, 500);
    expect((await pending()).map((p) => p.identity)).toEqual([`whatsapp:${number}`]);
    expect((await gw.store.auditTail(50)).filter((e) => e.kind === 'plug.halted').map((e) => JSON.parse(e.data).reason)).toContain('pairing-suppressed:recent-code');
  });
});
