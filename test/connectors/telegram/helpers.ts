import { createTelegram, type TelegramConfig, type TelegramOptions } from '../../../connectors/telegram/index.js';
import { startConnectorHarness } from '../../helpers/connector-harness.js';
import { startFakeTelegram } from '../../fakes/telegram/server.js';

import type { Json } from './fixtures.js';

export * from './fixtures.js';

export interface Setup {
  telegram?: Partial<TelegramConfig> & Json;
  options?: TelegramOptions;
  secrets?: Record<string, string>;
  access?: Json;
  channels?: Json;
  /** More of the gateway config (backends, assistants). */
  gateway?: Json;
}

/** The fake Telegram plus the whole gateway around the real connector (echo backend: the reply is the text). */
export async function setup(s: Setup = {}) {
  const fake = await startFakeTelegram();
  const h = await startConnectorHarness<TelegramConfig>({
    name: 'telegram',
    config: {
      access: s.access ?? { dm: 'open', groups: 'open' },
      ...(s.channels ? { channels: s.channels } : {}),
      ...s.gateway,
      connectors: { telegram: { enabled: true, token: 'env:TELEGRAM_TOKEN', apiRoot: fake.url, ...s.telegram } },
    },
    create: (deps) => createTelegram(deps, { ...s.options, poller: { timeoutSeconds: 5, conflictBackoffMs: 1_500, errorBackoffMs: 100, maxBackoffMs: 1_000, ...s.options?.poller } }),
    secrets: { 'env:TELEGRAM_TOKEN': fake.token, ...s.secrets },
  });
  return {
    fake,
    h,
    /** Waits for `count` messages in a chat and returns them. */
    replies: (chat: number | string, count = 1, timeoutMs?: number) =>
      h.until(() => (fake.sentTo(chat).length >= count ? fake.sentTo(chat) : undefined), timeoutMs),
    async close() {
      await h.stop();
      await fake.close();
    },
  };
}

export type Env = Awaited<ReturnType<typeof setup>>;
