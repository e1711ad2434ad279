import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createTelegram, type TelegramConfig } from '../../../connectors/telegram/index.js';
import { parseConfig } from '../../../core/config.js';
import { startFakeTelegram } from '../../fakes/telegram/server.js';
import { dm, setup, type Env } from './helpers.js';
import { noSealedState } from '../../../core/sealed-state.js';
import { NO_ACCESS_CHANGES } from '../../helpers/connector-harness.js';
const NO_SEALED_STATE = noSealedState('not used by this test');

let env: Env | undefined;
let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  await env?.close();
  env = undefined;
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

const verdict = async (e: Env, what: string) => (await e.h.connector.check!()).find((v) => v.what === what);
/** The connector's own polls (the competitor's carry no allowed_updates). */
const polls = (e: Env) => e.fake.callsOf('getUpdates').filter((c) => c.payload.allowed_updates !== undefined);
const conflicts = (e: Env) => polls(e).filter((c) => c.status === 409).length;

describe('telegram connector: one poller per bot token', () => {
  it('a second poller: 409 is logged and audited once, backed off (no busy loop), reported by check(), and recovers', async () => {
    env = await setup();
    const { fake, h } = env;
    await h.until(() => fake.longPolling);
    expect(await verdict(env, 'telegram token')).toEqual({ ok: true, what: 'telegram token', detail: 'authorized as @monkeyclaw_test_bot (id 7012345678)' });

    // Another instance starts polling with the same token: Telegram ends our long poll with 409.
    const competitor = fetch(`${fake.url}/bot${fake.token}/getUpdates`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ timeout: 1 }),
    }).then((r) => r.json());
    await h.until(async () => (await h.auditKinds()).includes('connector.conflict'));
    const polling = await verdict(env, 'telegram polling');
    expect(polling).toMatchObject({ ok: false, detail: expect.stringContaining('another poller or a webhook is using this bot token') });
    // Backed off: within the 1.5 s backoff no new request was made.
    const during = polls(env).length;
    await sleep(1_000);
    expect(polls(env).length).toBe(during);
    expect(await competitor).toMatchObject({ ok: true });

    // The other instance is gone: the next poll succeeds, messages flow again, the conflict is over.
    const update = dm('are you back?');
    fake.push(update);
    await env.replies(update.message.chat.id);
    await h.until(async () => (await h.auditKinds()).includes('connector.conflict_resolved'));
    expect((await h.auditKinds()).filter((k) => k === 'connector.conflict')).toHaveLength(1);
    expect(await verdict(env, 'telegram polling')).toMatchObject({ ok: true });
    expect(conflicts(env)).toBe(1);
  });

  it('a webhook still set: polling gets 409, check() names the webhook in plain words; removing it resumes', async () => {
    env = await setup({ options: { poller: { conflictBackoffMs: 300 } } });
    const { fake, h } = env;
    await h.until(() => fake.longPolling);
    fake.webhook = { url: 'https://old.example.org/hook' };
    fake.push(dm('waiting behind the webhook'));
    await h.until(async () => (await h.auditKinds()).includes('connector.conflict'));
    const checks = await h.connector.check!();
    expect(checks).toContainEqual({ ok: false, what: 'telegram webhook', detail: expect.stringMatching(/a webhook is set \(https:\/\/old\.example\.org\/hook\).*another poller or a webhook is using this bot token/) });
    expect(checks).toContainEqual({ ok: false, what: 'telegram polling', detail: expect.stringContaining('a webhook is set for this bot token') });
    await sleep(1_000);
    // Backoff, not a busy loop: about three tries a second at a 300 ms backoff.
    expect(conflicts(env)).toBeLessThanOrEqual(5);
    expect(fake.droppedPending).toBe(false);

    fake.webhook = undefined;
    await h.until(() => (fake.sent.length > 0 ? fake.sent : undefined));
    expect(fake.sent[0]!.visible).toBe('waiting behind the webhook');
  });

  it('a token Telegram refuses: check() says so plainly and start() fails with a clear error', async () => {
    const fake = await startFakeTelegram();
    cleanup.push(() => fake.close());
    const config = parseConfig({ connectors: { telegram: { enabled: true, token: 'env:TELEGRAM_TOKEN', apiRoot: fake.url } } });
    const state = new Map<string, unknown>();
    const connector = createTelegram({
      name: 'telegram',
      config: config.connectors.telegram as TelegramConfig,
      gateway: config,
      resolve: () => '123:revoked-token',
      sealed: NO_SEALED_STATE, access: NO_ACCESS_CHANGES, store: {
        appendAudit: async () => undefined,
        getConnectorState: async (_c, k) => state.get(k),
        setConnectorState: async (_c, k, v) => void state.set(k, v),
        listConnectorState: async () => [], deleteConnectorState: async () => undefined, handledTurn: async () => null,
      },
      log: pino({ level: 'silent' }),
      dataDir: '/nonexistent',
      now: Date.now,
    });
    expect(await connector.check!()).toEqual([{ ok: false, what: 'telegram token', detail: expect.stringContaining('Telegram refused the token (getMe: 401 Unauthorized)') }]);
    await expect(connector.start({ publish: async () => [], fail: () => undefined })).rejects.toThrow(/refused the bot token.*connectors\.telegram\.token/);
    // Nothing leaks the token into the message.
    await expect(connector.start({ publish: async () => [], fail: () => undefined })).rejects.not.toThrow(/revoked-token/);
  });
});
