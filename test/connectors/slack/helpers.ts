import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSlackConnector, type SlackConfig, type SlackTuning } from '../../../connectors/slack/index.js';
import pino from 'pino';
import type { ConnectorDeps, WebhookRequest } from '../../../core/connector.js';
import { NO_ACCESS_CHANGES, startConnectorHarness, type HarnessOptions } from '../../helpers/connector-harness.js';
import { startSlackFake, type SlackFake, type SlackFakeOptions } from '../../fakes/slack/server.js';
import { noSealedState } from '../../../core/sealed-state.js';
const NO_SEALED_STATE = noSealedState('not used by this test');

export const TOKENS = { bot: 'xoxb-fake-bot-token', app: 'xapp-1-fake-app-token', signing: '8f742231b10e8888abcd99yyyzzz85a5' };
export const SECRETS = { 'env:SLACK_BOT_TOKEN': TOKENS.bot, 'env:SLACK_APP_TOKEN': TOKENS.app, 'env:SLACK_SIGNING_SECRET': TOKENS.signing };

/** Fast timings for tests; the pacing between posts to one channel stays real unless a test says otherwise. */
export const FAST: Partial<SlackTuning> = { pingTimeoutMs: 600, serverPingTimeoutMs: 2_000, helloTimeoutMs: 2_000, channelIntervalMs: 50 };

/** A documented payload from test/fixtures/slack, with its event's fields overridden. */
export function fixture(name: string, event: Record<string, unknown> = {}, outer: Record<string, unknown> = {}): Record<string, any> {
  const p = JSON.parse(readFileSync(new URL(`../../fixtures/slack/${name}.json`, import.meta.url), 'utf8')) as Record<string, any>;
  return { ...p, ...outer, event: { ...p.event, ...event } };
}

let tsSeq = 0;
/** A fresh Slack timestamp, so each test's messages are new to the gateway. */
export const freshTs = (): string => `${1_700_000_000 + Math.floor(Date.now() / 1000) % 100_000}.${String(++tsSeq).padStart(6, '0')}`;

export async function startSlack(options: {
  mode?: 'socket' | 'http';
  tuning?: Partial<SlackTuning>;
  slack?: Partial<SlackConfig>;
  secrets?: Record<string, string>;
  echoBotPosts?: boolean;
  pingIntervalMs?: number;
  /** More of the gateway config (backends, assistants). */
  gateway?: Record<string, unknown>;
  people?: Record<string, string>;
  /** Socket Mode timings of the fake (ack timeout and retries, the close after a `disconnect` message). */
  fake?: Pick<SlackFakeOptions, 'ackTimeoutMs' | 'maxRetries' | 'disconnectCloseMs'>;
  /** Wraps the durable publish the connector is given (to slow it down, or note when it finished). */
  wrapPublish?: HarnessOptions<SlackConfig>['wrapPublish'];
} = {}) {
  const fake = await startSlackFake({
    botToken: TOKENS.bot,
    appToken: TOKENS.app,
    echoBotPosts: options.echoBotPosts ?? false,
    pingIntervalMs: options.pingIntervalMs ?? 300,
    ...(options.people ? { people: options.people } : {}),
    ...options.fake,
  });
  const slack = {
    enabled: true,
    botToken: 'env:SLACK_BOT_TOKEN',
    appToken: 'env:SLACK_APP_TOKEN',
    signingSecret: 'env:SLACK_SIGNING_SECRET',
    mode: options.mode ?? 'socket',
    apiRoot: fake.url,
    ...options.slack,
  };
  let harness: Awaited<ReturnType<typeof startConnectorHarness<SlackConfig>>>;
  try {
    harness = await startConnectorHarness<SlackConfig>({
      config: { access: { dm: 'open', groups: 'open' }, connectors: { slack }, ...options.gateway },
      name: 'slack',
      create: (deps) => createSlackConnector(deps, { ...FAST, ...options.tuning }),
      secrets: options.secrets ?? SECRETS,
      ...(options.wrapPublish ? { wrapPublish: options.wrapPublish } : {}),
    });
  } catch (error) {
    await fake.close();
    throw error;
  }
  return {
    fake,
    harness,
    /** Dependencies for a second connector instance on the same gateway (e.g. with other credentials). */
    deps: (): ConnectorDeps<SlackConfig> => ({
      name: 'slack',
      config: harness.config.connectors.slack as SlackConfig,
      gateway: harness.config,
      resolve: (ref: string) => SECRETS[ref as keyof typeof SECRETS],
      sealed: NO_SEALED_STATE, access: NO_ACCESS_CHANGES, store: harness.store,
      log: pino({ level: 'silent' }),
      dataDir: '/nonexistent',
      now: Date.now,
    }),
    /** Posts so far to one channel, as the fake recorded them. */
    postsIn: (channel: string) => fake.posts.filter((p) => p.channel === channel),
    async waitPosts(channel: string, n: number, timeoutMs = 10_000) {
      return harness.until(() => fake.posts.filter((p) => p.channel === channel).length >= n && fake.posts.filter((p) => p.channel === channel), timeoutMs);
    },
    async stop() {
      await harness.stop();
      await fake.close();
    },
  };
}
export type SlackRig = Awaited<ReturnType<typeof startSlack>>;
export type { SlackFake };

/** A webhook request as the gateway's HTTP server hands it over, signed like Slack signs it. */
export function signedRequest(payload: unknown, options: { secret?: string; timestamp?: number; headers?: Record<string, string>; raw?: string } = {}): WebhookRequest {
  const body = Buffer.from(options.raw ?? JSON.stringify(payload));
  const ts = String(options.timestamp ?? Math.floor(Date.now() / 1000));
  const sig = `v0=${createHmac('sha256', options.secret ?? TOKENS.signing).update(`v0:${ts}:`).update(body).digest('hex')}`;
  return {
    method: 'POST',
    path: '/webhooks/slack',
    headers: { 'content-type': 'application/json', 'x-slack-request-timestamp': ts, 'x-slack-signature': sig, ...options.headers },
    body,
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
