import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { migrate, openDb } from '../../core/db.js';
import { SqliteLimiter } from '../../core/sqlite/limiter.js';
import { runPipeline, type PlugServices } from '../../core/plug.js';
import { MemoryLimiter, type LimiterStore } from '../../core/rate-limiter.js';
import { accessPlug } from '../../plugs/access.js';
import { RATE_LIMIT_NOTICE, rateLimitPlug } from '../../plugs/rate-limit.js';
import { initPlug, initState, makeContext, makeEvent, makeServices } from './helpers.js';

const ALLOWED = { dm: 'allowlist', allow: ['telegram:42', 'telegram:-100'] };

/** Services with a fresh limiter and a clock the test moves. */
function setup(access: unknown = ALLOWED, extra: Partial<PlugServices> & { configInput?: Record<string, unknown> } = {}) {
  const clock = { now: 1_700_000_000_000 };
  const { configInput, ...rest } = extra;
  const services = makeServices({ configInput: { access, ...configInput }, now: () => clock.now, limiter: new MemoryLimiter(), ...rest });
  return { clock, services };
}

const dm = (sender = '42') => makeEvent({ sender: { id: sender, isBot: false }, conversation: { id: sender, kind: 'dm' } });
const group = (sender: string, addressed = true) =>
  makeEvent({ sender: { id: sender, isBot: false }, conversation: { id: '-100', kind: 'group' }, mentionsBot: addressed });

describe('rate-limit plug: init', () => {
  it('refuses to start without a limiter store, saying what is missing', () => {
    expect(() => initState(rateLimitPlug, {}, makeServices())).toThrow(/limiter/);
  });

  it('refuses unknown or non-positive options', () => {
    const { services } = setup();
    expect(() => initState(rateLimitPlug, { perSecond: 5 }, services)).toThrow(/perSecond|unrecognized/i);
    expect(() => initState(rateLimitPlug, { perSender: 0 }, services)).toThrow(/perSender/);
    expect(() => initState(rateLimitPlug, { perSender: 1.5 }, services)).toThrow(/perSender/);
  });

  it('defaults to 20 per sender per minute', async () => {
    const { services } = setup();
    const call = initPlug(rateLimitPlug, {}, services);
    for (let i = 0; i < 20; i++) expect((await call(dm())).halted).toBe(false);
    expect((await call(dm())).halted).toBe(true);
  });
});

describe('rate-limit plug: per sender', () => {
  it('allows the burst, then halts with a notice once per limited period', async () => {
    const { services } = setup();
    const call = initPlug(rateLimitPlug, { perSender: 3 }, services);
    for (let i = 0; i < 3; i++) expect((await call(dm())).halted).toBe(false);
    const first = await call(dm());
    expect(first.halted).toBe(true);
    expect(first.halt).toEqual({ plug: 'rate-limit', reason: 'sender-limit', notice: RATE_LIMIT_NOTICE, retryAfterMs: 20_000 });
    const again = await call(dm());
    expect(again.halted).toBe(true);
    expect(again.halt?.notice).toBeUndefined();
  });

  it('refills over time and notices again in a new limited period', async () => {
    const { services, clock } = setup();
    const call = initPlug(rateLimitPlug, { perSender: 3 }, services);
    for (let i = 0; i < 4; i++) await call(dm());
    clock.now += 19_000; // 3/min refills one token every 20 s
    expect((await call(dm())).halted).toBe(true);
    clock.now += 1_000;
    expect((await call(dm())).halted).toBe(false);
    expect((await call(dm())).halt?.notice).toBe(RATE_LIMIT_NOTICE);
  });

  it('gives a person one bucket whichever of their ids a message comes under (a WhatsApp LID and its number)', async () => {
    const { services } = setup({ dm: 'open' });
    const call = initPlug(rateLimitPlug, { perSender: 2 }, services);
    const lid = '123456789012345@lid';
    const number = '15551234567@s.whatsapp.net';
    const from = (id: string, alias: string) => makeEvent({ platform: 'whatsapp', sender: { id, isBot: false, aliases: [alias] }, conversation: { id, kind: 'dm' } });
    expect((await call(from(lid, number))).halted).toBe(false);
    expect((await call(from(number, lid))).halted).toBe(false);
    expect((await call(from(lid, number))).halt?.reason).toBe('sender-limit');
  });

  it('gives each sender a bucket of their own', async () => {
    const { services } = setup({ dm: 'open' });
    const call = initPlug(rateLimitPlug, { perSender: 1 }, services);
    expect((await call(dm('1'))).halted).toBe(false);
    expect((await call(dm('1'))).halted).toBe(true);
    expect((await call(dm('2'))).halted).toBe(false);
  });

  it('an assistant with a stricter limit, spent, does not throttle the same sender on another; one with the same limit shares it', async () => {
    const { services } = setup({ dm: 'open' });
    const tight = initPlug(rateLimitPlug, { perSender: 2 }, services);
    const alike = initPlug(rateLimitPlug, { perSender: 2 }, services);
    const roomy = initPlug(rateLimitPlug, {}, services);
    expect((await tight(dm('1'))).halted).toBe(false);
    expect((await tight(dm('1'))).halted).toBe(false);
    expect((await tight(dm('1'))).halted).toBe(true);
    expect((await alike(dm('1'))).halted).toBe(true);
    expect((await roomy(dm('1'))).halted).toBe(false);
  });

  it('drops an unadmitted sender silently: halted, never a notice', async () => {
    const { services } = setup({ dm: 'pairing' });
    const call = initPlug(rateLimitPlug, { perSender: 2 }, services);
    const results = [];
    for (let i = 0; i < 6; i++) results.push(await call(dm('999')));
    expect(results.map((r) => r.halted)).toEqual([false, false, true, true, true, true]);
    expect(results.some((r) => r.halt?.notice)).toBe(false);
  });

  it('never notices a bot, a denied sender or an unlisted group', async () => {
    const { services } = setup({ dm: 'open', groups: 'allowlist', deny: ['telegram:7'] });
    const call = initPlug(rateLimitPlug, { perSender: 1 }, services);
    const bot = makeEvent({ sender: { id: '5', isBot: true }, conversation: { id: '5', kind: 'dm' } });
    const denied = dm('7');
    const unlisted = makeEvent({ sender: { id: '8', isBot: false }, conversation: { id: '-555', kind: 'group' }, mentionsBot: true });
    for (const e of [bot, denied, unlisted]) {
      await call(e);
      const limited = await call(e);
      expect(limited.halted).toBe(true);
      expect(limited.halt?.notice).toBeUndefined();
    }
  });

  it('floods from an unknown sender stop before access: no pairing halts pile up in the audit', async () => {
    const { services } = setup({ dm: 'pairing' });
    const steps = [
      { plug: rateLimitPlug, state: initState(rateLimitPlug, { perSender: 2 }, services) },
      { plug: accessPlug, state: initState(accessPlug, {}, services) },
    ];
    const halts = [];
    for (let i = 0; i < 5; i++) {
      const ctx = await runPipeline(steps, makeContext(dm('999'), services.config));
      halts.push(ctx.halt?.plug);
      const entry = ctx.private.audit.find((a) => a.kind === 'plug.halted');
      expect(entry?.data).toMatchObject({ notice: false });
    }
    expect(halts).toEqual(['access', 'access', 'rate-limit', 'rate-limit', 'rate-limit']);
  });
});

describe('rate-limit plug: a backlog after downtime', () => {
  const sentAgo = (sender: string, agoMs: number, now: number) => ({ ...dm(sender), sentAt: new Date(now - agoMs).toISOString() });

  it('counts messages at the pace their platform stamped them, not all at once', async () => {
    const { clock, services } = setup({ dm: 'allowlist', allow: ['telegram:42', 'telegram:43'] });
    const call = initPlug(rateLimitPlug, { perSender: 3 }, services);
    // Ten messages sent 30 s apart while the gateway was down, read in one go: each came at an allowed pace.
    for (let i = 10; i > 0; i--) expect((await call(sentAgo('42', i * 30_000, clock.now))).halted).toBe(false);
    // Ten sent within the same second were a burst then, and are limited now.
    const burst = [];
    for (let i = 0; i < 10; i++) burst.push(await call(sentAgo('43', 60_000, clock.now)));
    expect(burst.filter((r) => r.halted)).toHaveLength(7);
  });

  it('a time stamped ahead of ours refills nothing', async () => {
    const { clock, services } = setup();
    const call = initPlug(rateLimitPlug, { perSender: 2 }, services);
    const results = [];
    for (let i = 1; i <= 4; i++) results.push(await call(sentAgo('42', -i * 3_600_000, clock.now)));
    expect(results.map((r) => r.halted)).toEqual([false, false, true, true]);
  });
});

describe('rate-limit plug: per conversation and workspace', () => {
  it('limits a group as a whole across its members, with one notice', async () => {
    const { services } = setup();
    const call = initPlug(rateLimitPlug, { perSender: 100, perConversation: 3 }, services);
    const results = [];
    for (const s of ['1', '2', '3', '4', '5']) results.push(await call(group(s)));
    expect(results.map((r) => r.halt?.reason)).toEqual([undefined, undefined, undefined, 'conversation-limit', 'conversation-limit']);
    expect(results.filter((r) => r.halt?.notice === RATE_LIMIT_NOTICE)).toHaveLength(1);
  });

  it('charges neither the sender nor the group for chatter that does not address the assistant', async () => {
    const { services } = setup();
    const call = initPlug(rateLimitPlug, { perSender: 3 }, services);
    for (let i = 0; i < 10; i++) expect((await call(group('7', false))).halted).toBe(false);
    // A chatty member can still address the assistant.
    expect((await call(group('7'))).halted).toBe(false);
  });

  it('does not charge the group for chatter that does not address the assistant', async () => {
    const { services } = setup();
    const call = initPlug(rateLimitPlug, { perSender: 100, perConversation: 2 }, services);
    for (let i = 0; i < 10; i++) expect((await call(group(String(i), false))).halted).toBe(false);
    expect((await call(group('a'))).halted).toBe(false);
    expect((await call(group('b'))).halted).toBe(false);
    expect((await call(group('c'))).halted).toBe(true);
  });

  it('counts unaddressed messages where the channel lifts requireMention', async () => {
    const { services } = setup(ALLOWED, { configInput: { channels: { 'telegram:-100': { requireMention: false } } } });
    const call = initPlug(rateLimitPlug, { perSender: 100, perConversation: 2 }, services);
    expect((await call(group('1', false))).halted).toBe(false);
    expect((await call(group('2', false))).halted).toBe(false);
    expect((await call(group('3', false))).halt?.reason).toBe('conversation-limit');
  });

  it('shares the workspace bucket across conversations, but not with unknown senders', async () => {
    const { services } = setup({ dm: 'allowlist', allow: ['telegram:1', 'telegram:2', 'telegram:3'] });
    const call = initPlug(rateLimitPlug, { perSender: 100, perConversation: 100, perWorkspace: 2 }, services);
    for (let i = 0; i < 5; i++) expect((await call(dm(`stranger-${i}`))).halted).toBe(false);
    expect((await call(dm('1'))).halted).toBe(false);
    expect((await call(dm('2'))).halted).toBe(false);
    const limited = await call(dm('3'));
    expect(limited.halt).toEqual({ plug: 'rate-limit', reason: 'workspace-limit', notice: RATE_LIMIT_NOTICE, retryAfterMs: 30_000 });
  });

  it('keys the workspace by channels.<id>.workspace', async () => {
    const { services } = setup({ dm: 'open' }, { configInput: { channels: { 'telegram:1': { workspace: 'team' } } } });
    const call = initPlug(rateLimitPlug, { perSender: 100, perWorkspace: 1 }, services);
    expect((await call(dm('1'))).halted).toBe(false); // workspace "team"
    expect((await call(dm('2'))).halted).toBe(false); // workspace "default"
    expect((await call(dm('3'))).halt?.reason).toBe('workspace-limit');
  });

  it('uses the keys sender: (with its limit), conversation: and workspace: in the store', async () => {
    const keys: string[] = [];
    const limiter: LimiterStore = {
      async take(key, capacity, refillPerMs) {
        keys.push(`${key} ${capacity} ${Math.round(refillPerMs * 60_000)}`);
        return { allowed: true, firstDenial: false };
      },
    };
    const { services } = setup(ALLOWED, { limiter });
    await initPlug(rateLimitPlug, { perSender: 7, perConversation: 8, perWorkspace: 9 }, services)(group('42'));
    expect(keys).toEqual(['sender:telegram:42@7 7 7', 'conversation:telegram:-100 8 8', 'workspace:default 9 9']);
  });

  it('fails closed when the store fails: the runner halts and audits the error', async () => {
    const limiter: LimiterStore = { take: async () => Promise.reject(new Error('redis down')) };
    const { services } = setup(ALLOWED, { limiter });
    const ctx = await runPipeline([{ plug: rateLimitPlug, state: initState(rateLimitPlug, {}, services) }], makeContext(dm(), services.config));
    expect(ctx.halted).toBe(true);
    expect(ctx.halt?.notice).toBeUndefined();
    expect(ctx.private.audit.map((a) => a.kind)).toEqual(['plug.error']);
  });
});

describe('rate-limit plug: two workers on one data dir', () => {
  it('share one limit and one notice through SqliteLimiter', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mc-rlp-'));
    const file = join(dir, 'monkeyclaw.db');
    const db = openDb(file);
    migrate(db);
    db.close();
    const limiters = [new SqliteLimiter(file), new SqliteLimiter(file)];
    try {
      const workers = limiters.map((limiter) => initPlug(rateLimitPlug, { perSender: 4 }, setup(ALLOWED, { limiter }).services));
      const results = [];
      for (let i = 0; i < 10; i++) results.push(await workers[i % 2]!(dm()));
      expect(results.filter((r) => !r.halted)).toHaveLength(4);
      expect(results.filter((r) => r.halt?.notice)).toHaveLength(1);
    } finally {
      for (const l of limiters) await l.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
