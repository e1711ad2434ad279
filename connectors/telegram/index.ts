import { setTimeout as sleep } from 'node:timers/promises';
import { autoRetry } from '@grammyjs/auto-retry';
import { apiThrottler, type APIThrottlerOptions } from '@grammyjs/transformer-throttler';
import { Bot, type Transformer } from 'grammy';
import { ConfigError, type Config } from '../../core/config.js';
import type { Connector, ConnectorDeps, ConnectorFactory } from '../../core/connector.js';
import { TELEGRAM_SECRET_TOKEN } from '../../core/credential-forms.js';
import { partProgress } from '../../core/part-progress.js';
import { PLATFORM_LIMITS, type Limit } from '../../core/render/index.js';
import { runChecks } from './check.js';
import { describe, isBadToken } from './errors.js';
import { PlatformWaits } from '../../core/platform-waits.js';
import { floodWait } from './flood-wait.js';
import { createInbound } from './inbound.js';
import type { BotIdentity } from './parse.js';
import { startPoller, type PollerOptions } from './poller.js';
import { MESSAGE_UPDATES } from './schema.js';
import { createSender } from './send.js';
import { silentTurn } from '../../core/typing.js';
import { telegramTyping } from './typing.js';
import { createWebhookHandler } from './webhook.js';

export type TelegramConfig = NonNullable<Config['connectors']['telegram']>;

/** Knobs a test turns; production uses the defaults. */
export interface TelegramOptions {
  poller?: Partial<PollerOptions>;
  /** How long any Bot API request may take before it is given up (and retried by the queue); default poll + 30 s. */
  requestTimeoutSeconds?: number;
  /** Bottleneck settings per chat/group/global (transformer-throttler's defaults are Telegram's documented limits). */
  throttle?: APIThrottlerOptions;
  typingRefreshMs?: number;
}

const DEFAULT_POLLER: PollerOptions = { timeoutSeconds: 25, conflictBackoffMs: 30_000, errorBackoffMs: 1_000, maxBackoffMs: 60_000 };
const REQUEST_TIMEOUT_MARGIN_S = 30;

/** Everything a wrong config can be is found here, before any network call (DESIGN). */
function settings(deps: ConnectorDeps<TelegramConfig>) {
  const c = deps.config;
  const field = (f: string) => `connectors.${deps.name}.${f}`;
  if (!c.token) throw new ConfigError(`${field('token')}: required (the token from @BotFather, e.g. secret:TELEGRAM_TOKEN)`);
  const token = deps.resolve(c.token, field('token'));
  if (c.mode === 'webhook' && !c.webhook) throw new ConfigError(`${field('webhook')}: mode webhook needs webhook.url and webhook.secretToken`);
  const secret = c.webhook ? deps.resolve(c.webhook.secretToken, field('webhook.secretToken')) : undefined;
  // `start` refuses it first (core/credential-forms.ts); a connector run by hand still says so before any call.
  if (secret !== undefined && !TELEGRAM_SECRET_TOKEN.form.test(secret)) throw new ConfigError(`${field('webhook.secretToken')}: ${TELEGRAM_SECRET_TOKEN.says}`);
  const telegramMax = PLATFORM_LIMITS.telegram.max;
  if (c.maxMessageChars && c.maxMessageChars > telegramMax) deps.log.warn({ maxMessageChars: c.maxMessageChars }, `Telegram refuses messages over ${telegramMax} characters; using ${telegramMax}`);
  const limit: Limit = { ...PLATFORM_LIMITS.telegram, max: Math.min(c.maxMessageChars ?? telegramMax, telegramMax) };
  // grammy refuses a trailing slash; a URL written with one is still the same API root.
  const apiRoot = c.apiRoot?.replace(/\/+$/, '');
  return { token, secret, limit, apiRoot, mode: c.mode, webhookUrl: c.webhook?.url };
}

/**
 * Telegram's global limit, about 30 messages a second, as a minimum gap between any two: the throttler's default
 * (30 per fixed one-second window) let 60 go out within 0.75 s across a window's edge. 36 ms, not 34: a send that
 * starts late on a busy event loop shortens the gap after it, and at 34 a loaded host let 31 start within a second.
 */
export const GLOBAL_THROTTLE: NonNullable<APIThrottlerOptions['global']> = { minTime: 36 };

/** The throttler for messages only: a chat action is not a message, and must not delay the reply behind it. */
export function throttleMessages(options: APIThrottlerOptions | undefined): Transformer {
  const throttled = apiThrottler({ global: GLOBAL_THROTTLE, ...options });
  return (prev, method, payload, signal) => (method === 'sendChatAction' ? prev(method, payload, signal) : throttled(prev, method, payload, signal));
}

export function createTelegram(deps: ConnectorDeps<TelegramConfig>, options: TelegramOptions = {}): Connector {
  const s = settings(deps);
  const pollerOptions = { ...DEFAULT_POLLER, ...options.poller };
  // grammY waits 500 s for an answer by default: one request lost on the way held its chat's replies (and, on
  // BullMQ, its partition's) that long. A long poll is answered within its own timeout, so it gets that and more.
  const timeoutSeconds = options.requestTimeoutSeconds ?? pollerOptions.timeoutSeconds + REQUEST_TIMEOUT_MARGIN_S;
  const bot = new Bot(s.token, { client: { timeoutSeconds, ...(s.apiRoot ? { apiRoot: s.apiRoot } : {}) } });
  // Order matters: the flood wait is innermost (it sees every 429 and waits out what a restart left of one),
  // auto-retry wraps the throttler, so a request retried after a 429 queues for its slot again.
  bot.api.config.use(floodWait(new PlatformWaits(deps)));
  bot.api.config.use(throttleMessages(options.throttle));
  // Only 429s of up to 2 s are waited out here. A longer one becomes the wait it asks for (toJobError), done by the
  // reply's job without its outbound slot; a 5xx fails the attempt and the queue's retry schedule decides (an inner
  // retry of its own, 3 s doubling, made each attempt last minutes and a dead letter take half an hour).
  bot.api.config.use(autoRetry({ maxRetryAttempts: 5, maxDelaySeconds: 2, rethrowHttpErrors: true, rethrowInternalServerErrors: true }));
  const actor = `connector:${deps.name}`;
  const audit = (kind: string, data: Record<string, unknown>, subject?: string) =>
    deps.store.appendAudit([{ kind, actor, ...(subject ? { subject } : {}), data }]);
  const typing = telegramTyping(bot.api, silentTurn(deps.store), options.typingRefreshMs);
  let inbound: ReturnType<typeof createInbound> | undefined;
  let poller: ReturnType<typeof startPoller> | undefined;

  /** getMe with a few retries: a network blip at boot should not cost a supervisor restart; a bad token fails at once. */
  async function identify(): Promise<BotIdentity> {
    for (let attempt = 1; ; attempt++) {
      try {
        const info = await bot.api.getMe();
        return { id: info.id, username: info.username };
      } catch (error) {
        if (isBadToken(error)) throw new Error(`Telegram refused the bot token (${describe(error)}): check connectors.${deps.name}.token`);
        if (attempt >= 5) throw new Error(`cannot reach Telegram at start: ${describe(error)}`);
        deps.log.warn({ error: describe(error), attempt }, 'telegram getMe failed; retrying');
        await sleep(1_000 * 2 ** (attempt - 1));
      }
    }
  }

  return {
    platform: 'telegram',
    async start(io) {
      const me = await identify();
      inbound = createInbound({ deps, io, typing, parse: { account: deps.name, bot: me, assistant: deps.config.assistant, now: deps.now } });
      if (s.mode === 'webhook') {
        // Telegram keeps what arrived meanwhile and delivers it here: pending updates are never dropped.
        await bot.api.setWebhook(s.webhookUrl!, { secret_token: s.secret!, allowed_updates: [...MESSAGE_UPDATES] });
        deps.log.info({ bot: `@${me.username}`, url: s.webhookUrl }, 'telegram webhook set');
      } else {
        const handle = inbound.handle;
        poller = startPoller(bot.api, deps, (updates) => handle(updates), pollerOptions);
        deps.log.info({ bot: `@${me.username}` }, 'telegram polling started');
      }
    },
    edits: true,
    send: createSender({
      api: bot.api,
      progress: partProgress(deps.store, deps.name),
      limit: s.limit,
      log: deps.log,
      typing,
      onPlainFallback: (reply, part, why) => audit('outbound.plain_fallback', { part, why }, reply.eventId),
    }),
    handleWebhook: createWebhookHandler({
      secret: s.secret,
      log: deps.log,
      ready: () => inbound !== undefined,
      handle: (updates, sizes) => inbound!.handle(updates, sizes),
      audit: (kind, data) => audit(kind, data),
    }),
    check: () => runChecks(bot.api, deps, s.mode, s.webhookUrl),
    async stop() {
      typing.stopAll();
      await poller?.stop();
      poller = undefined;
      if (inbound) deps.log.info({ ...inbound.counts }, 'telegram connector stopped');
    },
  };
}

export const create: ConnectorFactory<TelegramConfig> = (deps) => createTelegram(deps);
