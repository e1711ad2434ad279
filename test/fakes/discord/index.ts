import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeGateway } from './gateway.js';
import { handleRest } from './rest.js';
import { FakeDiscordState, fixture, type DiscordUser, type FakeChannel, type Json } from './state.js';

export { fixture, type DiscordUser, type FakeChannel, type Json, type RecordedPost } from './state.js';

export const GUILD_ID = '197038439483310086';

/** People in the tests, shaped like the documented User object. */
export const USERS = {
  alice: { id: '82198898841029460', username: 'alice', global_name: 'Alice', discriminator: '0', avatar: null },
  bob: { id: '53908099506183680', username: 'bob', global_name: null, discriminator: '0', avatar: null },
  otherBot: { id: '159985870458322944', username: 'MEE6', discriminator: '0', avatar: null, bot: true },
} satisfies Record<string, DiscordUser & Json>;

export interface UserMessage {
  channelId: string;
  author: DiscordUser;
  content: string;
  mentions?: DiscordUser[];
  /** Roles mentioned (`<@&id>` in the content). */
  mentionRoles?: string[];
  /** The id of the message this one replies to (a type 19 reply with referenced_message). */
  replyTo?: string;
  attachments?: Json[];
  /** Include the documented `channel_type` extra field (default true). */
  withChannelType?: boolean;
  /** false: only stored (posted while the connector was away); true: also dispatched on the gateway. */
  dispatch?: boolean;
}

export type FakeDiscord = Awaited<ReturnType<typeof startFakeDiscord>>;

/**
 * A loopback Discord: REST under /api/v10 and a gateway WebSocket on the same 127.0.0.1 port. The connector is pointed
 * at it with `apiRoot: <url>/api`; GET /gateway/bot hands out the gateway URL, READY the resume URL.
 */
export async function startFakeDiscord(options: { token?: string; heartbeatInterval?: number } = {}) {
  const state = new FakeDiscordState(options.token ?? 'fake-discord-token');
  let base = '';
  const server = createServer((req, res) => {
    const arrived = Date.now();
    handleRest(state, `${base.replace('http', 'ws')}/gateway`, req, res)
      .then((status) => state.requests.push({ method: req.method ?? 'GET', path: req.url ?? '', arrived, at: Date.now(), status }))
      .catch(() => res.destroy());
  });
  const gateway = new FakeGateway(state, server, () => `${base.replace('http', 'ws')}/resume`, options.heartbeatInterval);
  state.onBotMessage = (message) => void gateway.dispatch('MESSAGE_CREATE', { ...message, mentions: [] });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const channelTypeOf = (id: string) => state.channels.get(id)?.type;

  return {
    state,
    gateway,
    token: state.token,
    bot: state.bot,
    apiRoot: `${base}/api`,
    posts: state.posts,
    typing: state.typing,
    addDm(id: string, recipient: DiscordUser): FakeChannel {
      return state.addChannel({ ...fixture<Json>('dm-channel'), id, type: 1, last_message_id: null, recipients: [recipient] });
    },
    addTextChannel(id: string): FakeChannel {
      return state.addChannel({ ...fixture<Json>('guild-text-channel'), id, guild_id: GUILD_ID, type: 0, last_message_id: null });
    },
    addThread(id: string, parentId: string): FakeChannel {
      return state.addChannel({ ...fixture<Json>('thread-channel'), id, guild_id: GUILD_ID, parent_id: parentId, owner_id: USERS.alice.id, type: 11 });
    },
    /** GUILD_CREATE for the test guild, with the role Discord manages for the bot (and @everyone). */
    joinGuild(botRoleId: string): void {
      const role = (id: string, name: string, extra: Json = {}) => ({ id, name, color: 0, hoist: false, position: 0, permissions: '0', managed: false, mentionable: false, flags: 0, ...extra });
      gateway.dispatch('GUILD_CREATE', {
        id: GUILD_ID, name: 'Fake Guild', icon: null, owner_id: USERS.alice.id, afk_channel_id: null, afk_timeout: 300, verification_level: 0,
        default_message_notifications: 0, explicit_content_filter: 0, mfa_level: 0, system_channel_id: null, system_channel_flags: 0,
        rules_channel_id: null, vanity_url_code: null, description: null, banner: null, premium_tier: 0, preferred_locale: 'en-US',
        public_updates_channel_id: null, nsfw_level: 0, premium_progress_bar_enabled: false, features: [], emojis: [], stickers: [],
        roles: [role(GUILD_ID, '@everyone'), role(botRoleId, state.bot.username, { position: 1, managed: true, tags: { bot_id: state.bot.id } })],
        joined_at: '2021-04-12T23:40:39.855793+00:00', large: false, unavailable: false, member_count: 2,
        members: [], channels: [], threads: [], presences: [], voice_states: [], stage_instances: [], guild_scheduled_events: [],
      });
    },
    /** A message as a person posts it: stored in the channel's history and (by default) dispatched as MESSAGE_CREATE. */
    say(m: UserMessage): Json {
      const channel = state.channels.get(m.channelId);
      if (!channel) throw new Error(`fake discord: unknown channel ${m.channelId}`);
      const referenced = m.replyTo ? state.find(m.channelId, m.replyTo) : undefined;
      const message: Json = {
        ...fixture<Json>('message'),
        reactions: [],
        id: state.snowflake(),
        channel_id: m.channelId,
        author: m.author,
        content: m.content,
        timestamp: new Date().toISOString(),
        mentions: m.mentions ?? [],
        mention_roles: m.mentionRoles ?? [],
        attachments: m.attachments ?? [],
        type: m.replyTo ? 19 : 0,
        ...(m.replyTo ? { message_reference: { type: 0, message_id: m.replyTo, channel_id: m.channelId, guild_id: channel.guild_id }, referenced_message: referenced ?? null } : {}),
      };
      state.store(message);
      if (m.dispatch !== false) gateway.dispatch('MESSAGE_CREATE', this.gatewayShape(message, m.withChannelType !== false));
      return message;
    },
    /** The MESSAGE_CREATE form of a stored message: guild_id, member and channel_type extra fields. */
    gatewayShape(message: Json, withChannelType = true): Json {
      const channel = state.channels.get(message.channel_id as string);
      return {
        ...message,
        ...(channel?.guild_id ? { guild_id: channel.guild_id, member: { roles: [], joined_at: '2021-04-12T23:40:39.855793+00:00', deaf: false, mute: false, flags: 0 } } : {}),
        ...(withChannelType && channelTypeOf(message.channel_id as string) !== undefined ? { channel_type: channelTypeOf(message.channel_id as string) } : {}),
      };
    },
    /** Edits a stored message and dispatches MESSAGE_UPDATE with the full message, as Discord does. */
    edit(channelId: string, messageId: string, content: string): Json {
      const message = state.find(channelId, messageId);
      if (!message) throw new Error(`fake discord: unknown message ${messageId}`);
      Object.assign(message, { content, edited_timestamp: new Date().toISOString() });
      gateway.dispatch('MESSAGE_UPDATE', this.gatewayShape(message));
      return message;
    },
    /** The next request matching method and path (after /api/v10) gets a 429 with retry_after seconds. */
    rateLimitNext(method: string, pattern: RegExp, retryAfter: number, global = false): void {
      state.rateLimits.push({ method, pattern, retryAfter, global });
    },
    /** The next `times` requests matching method and path (after /api/v10) get `status`, as a Discord outage would. */
    failNext(method: string, pattern: RegExp, times: number, status = 500): void {
      for (let i = 0; i < times; i++) state.failures.push({ method, pattern, status });
    },
    /** The outage is over: the failures still queued by failNext are dropped. */
    recover(): void {
      state.failures.length = 0;
    },
    /** Messages the bot actually created (nonce duplicates excluded), optionally in one channel. */
    sent(channelId?: string) {
      return state.posts.filter((p) => !p.deduped && (channelId === undefined || p.channelId === channelId));
    },
    requests: state.requests,
    async close(): Promise<void> {
      gateway.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
