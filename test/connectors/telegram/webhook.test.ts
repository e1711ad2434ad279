import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { createTelegram, type TelegramConfig } from '../../../connectors/telegram/index.js';
import { ConfigError, parseConfig } from '../../../core/config.js';
import { dm, setup, type Env, type Json } from './helpers.js';
import { noSealedState } from '../../../core/sealed-state.js';
import { NO_ACCESS_CHANGES } from '../../helpers/connector-harness.js';
const NO_SEALED_STATE = noSealedState('not used by this test');

const SECRET = 'wh-secret_0123456789abcdefABCDEF';
const URL_ = 'https://gateway.example.org/webhooks/telegram';

let env: Env | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

const webhookSetup = () =>
  setup({ telegram: { mode: 'webhook', webhook: { url: URL_, secretToken: 'env:TG_WEBHOOK_SECRET' } }, secrets: { 'env:TG_WEBHOOK_SECRET': SECRET } });

const post = (e: Env, body: unknown, headers: Record<string, string>) =>
  e.h.connector.handleWebhook!({
    method: 'POST',
    path: '/webhooks/telegram',
    headers,
    body: Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
  });

const received = async (e: Env) => (await e.h.auditKinds()).filter((k) => k === 'inbound.received').length;

describe('telegram connector in webhook mode', () => {
  it('sets the webhook with its secret at start and never polls', async () => {
    env = await webhookSetup();
    expect(env.fake.webhook).toEqual({ url: URL_, secret_token: SECRET, allowed_updates: ['message', 'edited_message', 'channel_post', 'edited_channel_post'] });
    await sleep(200);
    expect(env.fake.callsOf('getUpdates')).toHaveLength(0);
    expect(env.fake.droppedPending).toBe(false);
    expect(await env.h.connector.check!()).toEqual(
      expect.arrayContaining([{ ok: true, what: 'telegram webhook', detail: expect.stringContaining(`set to ${URL_}`) }]),
    );
    // Someone else's gateway took the bot over: Telegram now delivers elsewhere.
    env.fake.webhook = { url: 'https://elsewhere.example.org/hook' };
    expect(await env.h.connector.check!()).toContainEqual({ ok: false, what: 'telegram webhook', detail: expect.stringContaining('delivers to https://elsewhere.example.org/hook, not to') });
  });

  it('refuses a missing or wrong secret token with 401 and publishes nothing', async () => {
    env = await webhookSetup();
    const update = { update_id: 1, ...dm('let me in') };
    expect((await post(env, update, {})).status).toBe(401);
    expect((await post(env, update, { 'x-telegram-bot-api-secret-token': 'wrong' })).status).toBe(401);
    expect((await post(env, update, { 'x-telegram-bot-api-secret-token': SECRET.slice(0, -1) })).status).toBe(401);
    expect((await post(env, update, { 'x-telegram-bot-api-secret-token': `${SECRET}x` })).status).toBe(401);
    await sleep(300);
    expect(await received(env)).toBe(0);
    expect(await env.h.queue.depth('inbound')).toMatchObject({ waiting: 0, active: 0 });
    expect(env.fake.sent).toHaveLength(0);
    // Audited, once for the first forgery of the minute: a flood of them is not a flood of entries.
    expect((await env.h.auditKinds()).filter((k) => k === 'webhook.refused')).toHaveLength(1);
  });

  it('publishes and answers an update with the right secret (200 after publish); a redelivery gets one reply', async () => {
    env = await webhookSetup();
    const update: Json = { ...dm('via webhook'), update_id: 77 };
    const headers = { 'x-telegram-bot-api-secret-token': SECRET, 'content-type': 'application/json' };
    const answer = await post(env, update, headers);
    expect(answer.status).toBe(200);
    // 200 means durably enqueued: the event is already in the queue or handled.
    const [reply] = await env.replies(update.message.chat.id);
    expect(reply!.visible).toBe('via webhook');
    expect((await post(env, update, headers)).status).toBe(200);
    await sleep(600);
    expect(env.fake.sentTo(update.message.chat.id)).toHaveLength(1);
  });

  it('answers 400/413 for bodies that are not updates, 405 for other methods, and survives arbitrary bodies', async () => {
    env = await webhookSetup();
    const headers = { 'x-telegram-bot-api-secret-token': SECRET };
    expect((await post(env, '{not json', headers)).status).toBe(400);
    expect((await post(env, { hello: 'world' }, headers)).status).toBe(400);
    expect((await post(env, Buffer.alloc(2 * 1024 * 1024, 0x20), headers)).status).toBe(413);
    expect((await env.h.connector.handleWebhook!({ method: 'GET', path: '/webhooks/telegram', headers, body: Buffer.alloc(0) })).status).toBe(405);
    // A well-formed envelope with a bad message is audited and acknowledged: Telegram retrying it cannot help.
    expect((await post(env, { update_id: 5, message: { message_id: 'x' } }, headers)).status).toBe(200);
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (value) => {
        const status = (await post(env!, value, headers)).status;
        expect([200, 400]).toContain(status);
      }),
      { numRuns: 100 },
    );
    const kinds = await env.h.auditKinds();
    expect(kinds.filter((k) => k === 'inbound.rejected').length).toBeGreaterThanOrEqual(4);
    expect(env.fake.sent).toHaveLength(0);
  });

  it('without a configured secret every webhook request is refused (fail closed), and webhook mode needs one', async () => {
    env = await setup();
    expect((await post(env, { update_id: 1, ...dm('x') }, { 'x-telegram-bot-api-secret-token': '' })).status).toBe(401);
    expect((await post(env, { update_id: 1, ...dm('x') }, {})).status).toBe(401);
    // A config error, found before any network call.
    const deps = {
      name: 'telegram',
      config: { enabled: true, token: 'env:T', mode: 'webhook', streamEdits: false } as TelegramConfig,
      gateway: env.h.config,
      resolve: () => 'token',
      sealed: NO_SEALED_STATE, access: NO_ACCESS_CHANGES, store: env.h.store,
      log: pino({ level: 'silent' }),
      dataDir: '/nonexistent',
      now: Date.now,
    };
    expect(() => createTelegram(deps)).toThrow(ConfigError);
    expect(() => createTelegram({ ...deps, config: { ...deps.config, webhook: { url: URL_, secretToken: 'env:S' } }, resolve: (ref) => (ref === 'env:S' ? 'bad secret!' : 't') })).toThrow(/secretToken/);
    // Telegram itself delivers only over HTTPS to four ports; a local Bot API server (another apiRoot) also over HTTP.
    // A config error like any other: every command, start included, refuses it (exit 2), naming the field.
    const withUrl = (url: string, apiRoot?: string) => () =>
      parseConfig({ connectors: { telegram: { enabled: true, token: 'env:T', mode: 'webhook', ...(apiRoot ? { apiRoot } : {}), webhook: { url, secretToken: 'env:S' } } } });
    expect(withUrl('http://gateway.example.org/webhooks/telegram')).toThrow(/connectors\.telegram\.webhook\.url: Telegram delivers webhooks only over HTTPS/);
    expect(withUrl('http://gateway.example.org/webhooks/telegram', 'https://api.telegram.org')).toThrow(ConfigError);
    expect(withUrl('https://gateway.example.org:7420/webhooks/telegram')).toThrow(/only to ports 443, 80, 88 or 8443, not 7420/);
    expect(withUrl('https://gateway.example.org:8443/webhooks/telegram')).not.toThrow();
    expect(withUrl('http://127.0.0.1:7420/webhooks/telegram', 'http://127.0.0.1:8081')).not.toThrow();
  });
});
