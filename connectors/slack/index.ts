import { WebClientEvent } from '@slack/web-api';
import { z } from 'zod';
import type { Config } from '../../core/config.js';
import type { Connector, ConnectorDeps, ConnectorFactory, WebhookRequest, WebhookResponse } from '../../core/connector.js';
import { PlatformWaits } from '../../core/platform-waits.js';
import { PLATFORM_LIMITS } from '../../core/render/index.js';
import { platformError, RETRY, webClient } from './client.js';
import { createWebhookHandler } from './http.js';
import { createInbound, type Inbound } from './inbound.js';
import { userNames } from './names.js';
import { createSend, SLACK_HARD_LIMIT, threadKey } from './send.js';
import { SlackSocket } from './socket.js';

export type SlackConfig = NonNullable<NonNullable<Config['connectors']>['slack']>;

/** Timings a test (or a future config key) may shorten; the defaults suit Slack itself. */
export interface SlackTuning {
  pingTimeoutMs: number;
  serverPingTimeoutMs: number;
  /** A socket with no frame for this long is replaced: the "connected but deaf" failure. */
  idleReconnectMs: number;
  helloTimeoutMs: number;
  channelIntervalMs: number;
  maxFrameBytes: number;
}

export const DEFAULT_TUNING: SlackTuning = {
  pingTimeoutMs: 5_000,
  serverPingTimeoutMs: 30_000,
  idleReconnectMs: 15 * 60_000,
  helloTimeoutMs: 15_000,
  channelIntervalMs: 1_000,
  maxFrameBytes: 1024 * 1024,
};

const envelopeSchema = z.object({
  type: z.string().max(64),
  envelope_id: z.string().min(1).max(128).optional(),
  payload: z.unknown().optional(),
});

/**
 * The Slack connector: Socket Mode (SocketModeClient driven directly, so an envelope is acked only after its event
 * is enqueued; Bolt acks on receipt) or the HTTP Events API (webhooks handed over by the gateway's HTTP server).
 * Outbound is chat.postMessage through the Web API client, in the message's thread.
 */
export function createSlackConnector(deps: ConnectorDeps<SlackConfig>, tuning: Partial<SlackTuning> = {}): Connector {
  const t = { ...DEFAULT_TUNING, ...tuning };
  const cfg = deps.config;
  const field = (f: string) => `connectors.${deps.name}.${f}`;
  if (!cfg.botToken) throw new Error(`${field('botToken')} is required`);
  if (cfg.mode === 'socket' && !cfg.appToken) throw new Error(`${field('appToken')} is required in socket mode`);
  const botToken = deps.resolve(cfg.botToken, field('botToken'));
  const appToken = cfg.mode === 'socket' && cfg.appToken ? deps.resolve(cfg.appToken, field('appToken')) : undefined;
  // Without a signing secret the HTTP mode refuses every request (fail closed), it never accepts them unchecked.
  const signingSecret = cfg.signingSecret ? deps.resolve(cfg.signingSecret, field('signingSecret')) : undefined;
  const apiRoot = cfg.apiRoot ?? 'https://slack.com/api/';
  // Posts and edits only: their 429s are thrown, and held per channel by the listener below.
  const client = webClient(botToken, apiRoot, deps.log, RETRY, true);
  const waits = new PlatformWaits(deps);
  // Only posting is limited per channel; other methods' 429s are per method and workspace, and hold no channel.
  client.on(WebClientEvent.RATE_LIMITED, (seconds: number, request: { url?: string; body?: { channel?: unknown } }) => {
    if (/chat\.(postMessage|update)$/.test(request.url ?? '') && typeof request.body?.channel === 'string') void waits.hold(request.body.channel, seconds);
  });
  const send = createSend({
    waits,
    client,
    limit: { max: Math.min(cfg.maxMessageChars ?? PLATFORM_LIMITS.slack.max, SLACK_HARD_LIMIT), unit: 'utf16' },
    channelIntervalMs: t.channelIntervalMs,
    name: deps.name,
    store: deps.store,
    log: deps.log,
  });
  let socket: SlackSocket | undefined;
  let webhook: ((r: WebhookRequest) => Promise<WebhookResponse>) | undefined;

  const onFrame = (inbound: Inbound) => async (frame: unknown, ack: (id: string) => Promise<void>) => {
    const env = envelopeSchema.safeParse(frame);
    if (!env.success) return void (await inbound.audit('inbound.rejected', { issues: ['socket mode envelope: malformed'] }));
    const { type, envelope_id: id } = env.data;
    if (type !== 'events_api') {
      await inbound.audit('inbound.unsupported', { reason: `socket mode ${type}` });
      if (id) await ack(id);
      return;
    }
    if (!id) return void (await inbound.audit('inbound.rejected', { issues: ['envelope_id: required'] }));
    await inbound.handle(env.data.payload); // throws when not enqueued: no ack, Slack delivers it again
    await ack(id);
  };

  return {
    platform: 'slack',
    async start(io) {
      const auth = await webClient(botToken, apiRoot, deps.log).auth.test().catch((error: unknown) => {
        // A refused token is said in plain words naming its field; a network error stays retryable as it is.
        throw platformError(error) ? new Error(tokenProblem(error, field('botToken'), 'a bot token (xoxb-…)', apiRoot)) : error;
      });
      const botUserId = z.string().regex(/^[A-Za-z0-9]{1,64}$/).parse(auth.user_id);
      deps.log.info({ user: auth.user, team: auth.team, mode: cfg.mode }, 'slack: authorized');
      const inbound = createInbound(deps, io, {
        account: deps.name,
        botUserId,
        botId: auth.bot_id,
        assistant: cfg.assistant,
        now: deps.now,
        botInThread: async (channel, ts) => (await deps.store.getConnectorState(deps.name, threadKey(channel, ts))) !== undefined,
        userName: userNames(webClient(botToken, apiRoot, deps.log, { retries: 0 }), deps.log, deps.now),
      });
      if (cfg.mode === 'http') {
        if (!signingSecret) deps.log.error({}, `slack: no ${field('signingSecret')}: every webhook will be refused`);
        webhook = createWebhookHandler({ signingSecret, inbound, log: deps.log, now: deps.now });
        return;
      }
      socket = new SlackSocket({
        appToken: appToken!,
        apiRoot,
        log: deps.log,
        onFrame: onFrame(inbound),
        onBadFrame: (reason) => void inbound.audit('inbound.rejected', { issues: [reason] }).catch(() => undefined),
        ...t,
      });
      await socket.start();
    },
    edits: true,
    send,
    async handleWebhook(request) {
      // Not started yet: 503 makes Slack retry; in socket mode nothing should be posted here at all.
      if (!webhook) return cfg.mode === 'http' ? { status: 503, body: 'starting' } : { status: 404, body: 'slack is in socket mode' };
      return webhook(request);
    },
    async check() {
      const results: Array<{ ok: boolean; what: string; detail: string }> = [];
      try {
        const a = await webClient(botToken, apiRoot, deps.log, { retries: 0 }).auth.test();
        results.push({ ok: true, what: 'slack bot token', detail: `authorized as ${a.user} in ${a.team}` });
      } catch (e) {
        results.push({ ok: false, what: 'slack bot token', detail: tokenProblem(e, field('botToken'), 'a bot token (xoxb-…)', apiRoot) });
      }
      if (cfg.mode === 'socket') {
        try {
          await webClient(appToken!, apiRoot, deps.log, { retries: 0 }).apps.connections.open();
          results.push({ ok: true, what: 'slack app token', detail: 'apps.connections.open accepts it (Socket Mode is on)' });
        } catch (e) {
          results.push({ ok: false, what: 'slack app token', detail: tokenProblem(e, field('appToken'), 'an app-level token (xapp-…) with connections:write', apiRoot) });
        }
      } else {
        results.push(
          signingSecret
            ? { ok: true, what: 'slack signing secret', detail: 'set: webhooks are verified' }
            : { ok: false, what: 'slack signing secret', detail: 'missing: every webhook is refused' },
        );
      }
      results.push(await eventsCheck());
      return results;
    },
    async stop() {
      await socket?.stop();
      socket = undefined;
    },
  };

  /** Whether events arrive: the live socket's state when running here, else what the running connector recorded. */
  async function eventsCheck() {
    const stored = (await deps.store.getConnectorState(deps.name, 'lastEventAt')) as string | undefined;
    const last = socket?.lastEnvelopeAt ? new Date(socket.lastEnvelopeAt).toISOString() : stored;
    const seen = last ? `last event ${last}` : 'no event received yet';
    if (socket && !socket.connected) return { ok: false, what: 'slack events', detail: `socket not connected (reconnecting); ${seen}` };
    return { ok: true, what: 'slack events', detail: socket ? `socket connected (${socket.connections} connection(s) so far); ${seen}` : seen };
  }
}

/** What Slack's answer to a token check means, in plain words naming the field to fix (doctor prints it). */
function tokenProblem(error: unknown, field: string, kind: string, apiRoot: string): string {
  const code = platformError(error);
  if (code === 'invalid_auth' || code === 'not_authed') return `Slack refused the token in ${field} (${code}): check it is ${kind} of this workspace`;
  if (code === 'token_revoked' || code === 'token_expired' || code === 'account_inactive') return `the token in ${field} is no longer valid (${code}): create a new one`;
  if (code === 'not_allowed_token_type') return `${field} holds the wrong kind of token (${code}): it must be ${kind}`;
  if (code) return `Slack answered ${code} for the token in ${field}`;
  return `cannot reach Slack at ${apiRoot}: ${(error as Error).message}`;
}

export const create: ConnectorFactory<SlackConfig> = (deps) => createSlackConnector(deps);
