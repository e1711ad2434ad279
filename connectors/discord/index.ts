import { setMaxListeners } from 'node:events';
import { Client, Events, GatewayIntentBits, Partials, RESTEvents, Routes } from 'discord.js';
import { z } from 'zod';
import type { Config } from '../../core/config.js';
import type { Connector, ConnectorFactory, ConnectorIO } from '../../core/connector.js';
import { plainNetError } from '../../core/net-errors.js';
import { partProgress } from '../../core/part-progress.js';
import { PlatformWaits } from '../../core/platform-waits.js';
import { ChannelMemory } from './catchup.js';
import { guardedStrategy, type DispatchGuard } from './gateway.js';
import { gatewayHello } from './health.js';
import { Inbound } from './inbound.js';
import { discordMessageSchema } from './parse.js';
import { discordTyping, limitFor, postReply, SNOWFLAKE, targetChannel } from './send.js';
import { silentTurn } from '../../core/typing.js';

export type DiscordConfig = NonNullable<Config['connectors']['discord']>;

export const DEFAULT_API_ROOT = 'https://discord.com/api';
/** GUILDS, GUILD_MESSAGES, DIRECT_MESSAGES and the privileged MESSAGE_CONTENT (without it guild text arrives empty). */
export const INTENTS = [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.DirectMessages, GatewayIntentBits.MessageContent];

const readySchema = z.object({ user: z.object({ id: z.string().regex(/^\d{1,20}$/), username: z.string() }) });
const meSchema = z.object({ id: z.string(), username: z.string() });
const gatewayBotSchema = z.object({
  url: z.string().min(1),
  session_start_limit: z.object({ total: z.number(), remaining: z.number() }),
});

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** The set-up mistakes people make most, in plain words (the gateway's close codes 4004 and 4014, a 401). */
function loginFailure(error: unknown): string {
  const text = describe(error);
  if (/disallowed intents/i.test(text)) {
    return 'Discord refused the gateway intents: enable "Message Content Intent" for this bot (Developer Portal → your application → Bot → Privileged Gateway Intents)';
  }
  if (/authentication failed|token|401/i.test(text)) return `Discord refused the bot token (${text}): copy it again from Developer Portal → Bot → Reset Token`;
  return `could not connect to Discord: ${text}`;
}

/** A gateway close code discord.js does not reconnect after, in words that say what to fix. */
function closedForGood(code: number): string {
  if (code === 4004) return 'Discord closed the gateway (4004): it refused the bot token; copy it again from Developer Portal → Bot → Reset Token';
  if (code === 4014) return 'Discord closed the gateway (4014): enable "Message Content Intent" for this bot (Developer Portal → your application → Bot → Privileged Gateway Intents)';
  return `Discord closed the gateway for good (code ${code}): the token, intents or sharding were refused`;
}

/** What Discord's answer to a request of `check` says, when Discord answered it (an HTTP status), else undefined. */
function refusal(error: unknown, request: string): string | undefined {
  const status = (error as { status?: unknown }).status;
  if (status === 401) return 'Discord refused the bot token: copy it again from Developer Portal → Bot → Reset Token';
  if (typeof status === 'number') return `Discord answered ${status} to ${request}: ${describe(error)}`;
  return undefined;
}

/** Why the token could not be checked: refused by Discord, or Discord never reached (nothing was refused then). */
function tokenCheckFailure(error: unknown, apiRoot: string): string {
  const refused = refusal(error, 'the token check');
  if (refused) return refused;
  const root = new URL(apiRoot);
  const plain = plainNetError(error, { host: root.hostname, port: Number(root.port) || (root.protocol === 'https:' ? 443 : 80) });
  return `could not reach Discord at ${apiRoot}: ${plain ?? describe(error)}`;
}

/**
 * The Discord connector: discord.js's gateway client (intents, heartbeats, reconnect and resume) and its REST
 * manager (per-route buckets, the global limit, 429 retry-after), with every dispatch validated before use.
 */
/** discord.js's bucket routes of the requests a reply makes: posting a message, editing one. */
const MESSAGE_ROUTE = /^\/channels\/:id\/messages(?:\/:id)?$/;

export const create: ConnectorFactory<DiscordConfig> = (deps) => {
  const { config, log } = deps;
  const actor = `connector:${deps.name}`;
  // The config checked it: https (or loopback http), no version.
  const apiRoot = (config.apiRoot ?? DEFAULT_API_ROOT).replace(/\/+$/, '');
  const limit = limitFor(config.maxMessageChars);
  if (config.maxMessageChars !== undefined && config.maxMessageChars > limit.max) {
    log.warn({ maxMessageChars: config.maxMessageChars, used: limit.max }, 'Discord accepts at most 2,000 characters per message; splitting at 2,000');
  }
  let token: string | undefined;
  const tokenOf = (): string => {
    if (!config.token) throw new Error(`connectors.${deps.name}.token is not set (write secret:DISCORD_TOKEN or env:DISCORD_TOKEN)`);
    return (token ??= deps.resolve(config.token, `connectors.${deps.name}.token`));
  };

  let io: ConnectorIO | undefined;
  let botId: string | undefined;
  let closing = false;
  let lastDispatchAt: number | undefined;
  const audit = (kind: string, data: Record<string, unknown>) =>
    void deps.store.appendAudit([{ kind, actor, data }]).catch((error: unknown) => log.error({ error: describe(error) }, 'audit append failed'));

  const guard: DispatchGuard = {
    admit(packet) {
      lastDispatchAt = deps.now();
      const p = (typeof packet === 'object' && packet !== null ? packet : {}) as { t?: unknown; d?: unknown };
      if (typeof p.t !== 'string') return (audit('inbound.rejected', { reason: 'gateway dispatch without an event name' }), false);
      // An update without edited_timestamp is Discord adding embeds (possibly a partial object): no edit, nothing for us.
      if (p.t === 'MESSAGE_UPDATE' && !(p.d as { edited_timestamp?: unknown } | null)?.edited_timestamp) return true;
      if (p.t === 'MESSAGE_CREATE' || p.t === 'MESSAGE_UPDATE') {
        const parsed = discordMessageSchema.safeParse(p.d);
        if (!parsed.success) {
          const issues = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
          log.warn({ event: p.t, issues }, 'malformed dispatch dropped');
          return (audit('inbound.rejected', { event: p.t, issues }), false);
        }
        if (!closing) inbound.accept(parsed.data, p.t === 'MESSAGE_UPDATE');
        return true;
      }
      if (p.t === 'READY') {
        const ready = readySchema.safeParse(p.d);
        if (ready.success) botId = ready.data.user.id;
        else log.error({}, 'READY without a usable bot user');
        // A fresh session (not a resume): what was said meanwhile was never dispatched to us, so fetch it.
        queueMicrotask(() => inbound.catchUp());
        return true;
      }
      if (p.t !== 'RESUMED' && (typeof p.d !== 'object' || p.d === null)) return (audit('inbound.rejected', { event: p.t, reason: 'dispatch without data' }), false);
      return true;
    },
    failed(error, packet) {
      log.error({ error: describe(error), event: (packet as { t?: unknown } | undefined)?.t }, 'discord.js failed on a dispatch; ignored');
    },
  };

  const client = new Client({
    intents: INTENTS,
    // Without the Channel partial discord.js drops DMs from channels it has not cached yet.
    partials: [Partials.Channel],
    rest: { api: apiRoot },
    allowedMentions: { parse: [] },
    ws: { buildStrategy: (manager) => guardedStrategy(manager, guard) },
  });
  const memory = new ChannelMemory(deps.store, deps.name, deps.now);
  const progress = partProgress(deps.store, deps.name);
  const typing = discordTyping(client.rest, silentTurn(deps.store), deps.now, (error) => log.debug({ error: describe(error) }, 'typing indicator not shown'));
  const halting = new AbortController();
  // Every channel retrying at once listens on it: no cap, hence no false leak warning.
  setMaxListeners(0, halting.signal);
  const inbound = new Inbound({ deps, client, memory, typing, io: () => io, botId: () => botId, halting: halting.signal });

  client.on(Events.Error, (error) => log.error({ error: describe(error) }, 'discord client error'));
  // destroy() at stop fires this too: only a connection lost while running is news.
  client.on(Events.ShardReconnecting, () => void (closing || log.info({}, 'gateway connection lost; reconnecting')));
  client.on(Events.ShardResume, (_id, replayed) => log.info({ replayed }, 'gateway session resumed'));
  // discord.js gives up on a close code no reconnect can fix (a reset token, an intent switched off): the process
  // exits with why, so the supervisor restarts it with backoff and doctor says so, instead of running deaf.
  client.on(Events.ShardDisconnect, (event) => {
    if (closing) return;
    log.error({ code: event.code }, 'gateway closed for good (token, intents or sharding refused)');
    io?.fail(new Error(closedForGood(event.code)));
  });
  // discord.js waits a route's limit out in memory; kept per channel too, a restart during the wait does not post at
  // once into another 429 (Discord counts those against the bot).
  const waits = new PlatformWaits(deps);
  client.rest.on(RESTEvents.RateLimited, (info) => {
    log.info({ route: info.route, retryAfter: info.retryAfter, global: info.global, scope: info.scope }, 'rate limit reached; waiting before the next request');
    // Only the requests replies make (posting and editing messages): a typing bucket spent must not hold replies.
    const reply = MESSAGE_ROUTE.test(info.route) && (info.method === 'POST' || info.method === 'PATCH');
    if (!info.global && reply && SNOWFLAKE.test(info.majorParameter)) void waits.hold(info.majorParameter, info.timeToReset / 1000);
  });

  const connector: Connector = {
    platform: 'discord',
    async start(connectorIo) {
      io = connectorIo;
      closing = false;
      await memory.load();
      await client.login(tokenOf()).catch((error: unknown) => {
        throw new Error(loginFailure(error));
      });
      log.info({ user: client.user?.username, id: botId }, 'connected to the Discord gateway');
    },
    edits: true,
    async send(reply, signal, options) {
      const channel = targetChannel(reply);
      await waits.ready(channel, signal);
      try {
        const ids = await postReply(client.rest, progress, reply, limit, signal, options);
        await memory.talked(channel);
        return ids;
      } finally {
        // A draft keeps "typing…" going; the final reply ends it.
        if (reply.kind !== 'draft') typing.stop(channel);
      }
    },
    async check() {
      const results: Array<{ ok: boolean; what: string; detail: string }> = [];
      try {
        client.rest.setToken(tokenOf());
      } catch (error) {
        return [{ ok: false, what: 'discord token', detail: describe(error) }];
      }
      try {
        const me = meSchema.parse(await client.rest.get(Routes.user()));
        results.push({ ok: true, what: 'discord token', detail: `authorized as ${me.username} (${me.id})` });
      } catch (error) {
        return [{ ok: false, what: 'discord token', detail: tokenCheckFailure(error, apiRoot) }];
      }
      try {
        const info = gatewayBotSchema.parse(await client.rest.get(Routes.gatewayBot()));
        const heartbeat = await gatewayHello(info.url);
        const left = `${info.session_start_limit.remaining} of ${info.session_start_limit.total} session starts left today`;
        results.push({ ok: true, what: 'discord gateway', detail: `reachable at ${info.url} (heartbeat every ${heartbeat} ms); ${left}` });
      } catch (error) {
        results.push({ ok: false, what: 'discord gateway', detail: refusal(error, 'GET /gateway/bot') ?? `not reachable: ${describe(error)}` });
      }
      if (io) {
        const ago = lastDispatchAt === undefined ? 'no event yet' : `last event ${Math.round((deps.now() - lastDispatchAt) / 1000)} s ago`;
        results.push({ ok: client.isReady(), what: 'discord events', detail: `${client.isReady() ? 'connected' : 'not connected'}, ping ${client.ws.ping} ms, ${ago}` });
      }
      return results;
    },
    async stop() {
      // Stop taking new messages, let the ones being published finish (publish is the durable hand-off), then close.
      closing = true;
      halting.abort();
      await Promise.race([inbound.idle(), new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
      typing.stopAll();
      await client.destroy();
      io = undefined;
    },
  };
  return connector;
};
