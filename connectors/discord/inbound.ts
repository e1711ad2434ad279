import { setTimeout as sleep } from 'node:timers/promises';
import { newEventId } from '../../core/ids.js';
import { Routes, type Client } from 'discord.js';
import { z } from 'zod';
import type { ConnectorDeps, ConnectorIO } from '../../core/connector.js';
import { dedupeKey, InvalidPayloadError, type ChannelEvent, type ChannelEventInput } from '../../core/event.js';
import { admittedNow } from '../../core/access.js';
import { CATCH_UP_LIMIT, Lanes, oldestFirst, type ChannelMemory } from './catchup.js';
import { discordMessageSchema, placeOf, repliedMessageId, screen, THREAD_TYPES, toChannelEvent, type DiscordMessage, type ParseContext, type Place } from './parse.js';
import type { TypingIndicator } from '../../core/typing.js';

/** A place as complete as access needs: a thread known without its parent is not (its parent's entry admits it). */
const whole = (p: Place | undefined): boolean => p !== undefined && !(p.kind === 'channel' && p.thread && !p.parentId);

export interface InboundDeps {
  deps: ConnectorDeps<{ assistant?: string | undefined }>;
  client: Client;
  memory: ChannelMemory;
  typing: TypingIndicator;
  io: () => ConnectorIO | undefined;
  botId: () => string | undefined;
  /** Aborted when the connector stops: a retried publish or catch-up gives up, leaving its channel's memory as it was. */
  halting: AbortSignal;
}

/** Longest wait between two tries of a publish or a catch-up page. */
const MAX_RETRY_WAIT_MS = 60_000;

/** Discord refused for good (a channel we may not read): trying again changes nothing. Server errors and the network pass. */
const refusedForGood = (error: unknown): boolean => {
  const status = (error as { status?: unknown }).status;
  return typeof status === 'number' && status >= 400 && status < 500 && status !== 429;
};

const channelSchema = z.object({ type: z.number().int().nonnegative(), parent_id: z.string().nullish() });
const authoredSchema = z.object({ author: z.object({ id: z.string() }) });

/**
 * From a validated Discord message to a published ChannelEvent: where it was said, whether it answers the bot,
 * then publish, and only after that remember it (for catch-up) and show "typing…" if the assistant is addressed.
 */
export class Inbound {
  private readonly lanes = new Lanes();
  private readonly actor: string;
  /**
   * Channels where the stop cut a publish or a catch-up short: what is still queued there must not move the channel's
   * memory past what was never stored. The next start's catch-up fetches all of it.
   */
  private readonly unstored = new Set<string>();

  constructor(private readonly d: InboundDeps) {
    this.actor = `connector:${d.deps.name}`;
  }

  /** A live MESSAGE_CREATE / MESSAGE_UPDATE, already validated; queued behind its channel's earlier messages. */
  accept(message: DiscordMessage, edited: boolean): void {
    this.inLane(message.channel_id, () => this.handle(message, edited, (turn) => this.d.typing.start(message.channel_id, [turn])), (e) => this.failed(e, message));
  }

  /** After a fresh session (READY): what was said while we were away, in each channel we talk in. */
  catchUp(): void {
    for (const { channelId, after, place } of this.d.memory.recent()) {
      this.inLane(channelId, () => this.catchUpChannel(channelId, after, place), (e) => this.d.deps.log.warn({ channel: channelId, error: String(e) }, 'catch-up failed'));
    }
  }

  private inLane(channelId: string, task: () => Promise<void>, onError: (error: unknown) => void): void {
    this.lanes.run(
      channelId,
      async () => {
        if (this.unstored.has(channelId)) throw new Error('left for the next catch-up: an earlier message of this channel was not stored');
        try {
          await task();
        } catch (error) {
          if (this.d.halting.aborted && !(error instanceof InvalidPayloadError)) this.unstored.add(channelId);
          throw error;
        }
      },
      onError,
    );
  }

  idle(): Promise<void> {
    return this.lanes.idle();
  }

  async audit(kind: string, subject: string, data: Record<string, unknown>): Promise<void> {
    await this.d.deps.store.appendAudit([{ kind, actor: this.actor, subject, data }]);
  }

  private async catchUpChannel(channelId: string, after: string, place: Place): Promise<void> {
    const query = new URLSearchParams({ after, limit: String(CATCH_UP_LIMIT) });
    // Tried until it answers: later messages of the channel wait behind the catch-up, and moving on without it would
    // move the channel's memory past what was missed, for good.
    const page = await this.retried('fetching missed messages', channelId, () => this.d.client.rest.get(Routes.channelMessages(channelId), { query }));
    const valid: DiscordMessage[] = [];
    for (const raw of Array.isArray(page) ? page : []) {
      const parsed = discordMessageSchema.safeParse(raw);
      if (parsed.success) valid.push(parsed.data);
      else await this.audit('inbound.rejected', `discord:${channelId}`, { reason: 'malformed message in history', issues: parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.')}: ${i.message}`) });
    }
    if (valid.length) this.d.deps.log.info({ channel: channelId, messages: valid.length }, 'catching up on missed messages');
    // DESIGN caps a catch-up at 100 per channel: a full page may mean more were missed, and that is said, not silent.
    if (Array.isArray(page) && page.length >= CATCH_UP_LIMIT) {
      this.d.deps.log.warn({ channel: channelId, fetched: CATCH_UP_LIMIT }, 'a catch-up takes at most 100 messages: any missed after them stay unanswered');
      await this.audit('inbound.catchup_truncated', `discord:${channelId}`, { fetched: CATCH_UP_LIMIT, after });
    }
    // A message edited while we were away is answered as it reads now: it was never seen in its first form.
    // "typing…" once for the channel, at the first message that will be answered, not once a message (up to 100);
    // the others' turns join it, so it stops only once all of them are answered.
    let shown = false;
    const show = (turn: string) => (shown ? this.d.typing.join(channelId, [turn]) : ((shown = true), this.d.typing.start(channelId, [turn])));
    for (const m of oldestFirst(valid)) await this.handle(m, false, show, place);
  }

  /** The bot's managed role in a guild, once discord.js has the guild (GUILD_CREATE, just after READY). */
  private botRole(guildId: string | undefined, botId: string): string | undefined {
    return guildId ? this.d.client.guilds.cache.get(guildId)?.roles.botRoleFor(botId)?.id : undefined;
  }

  private names(guildId: string | undefined): ParseContext['names'] {
    const { client } = this.d;
    const guild = guildId ? client.guilds.cache.get(guildId) : undefined;
    return {
      role: (id) => guild?.roles.cache.get(id)?.name,
      channel: (id) => {
        const channel = client.channels.cache.get(id);
        return channel && 'name' in channel && typeof channel.name === 'string' ? channel.name : undefined;
      },
    };
  }

  /**
   * Publishes a message. When an answer will come (addressed, and access admits the sender), `showTyping` runs first:
   * before the publish, so that a fast reply, which stops the indicator, never comes before it starts.
   */
  private async handle(m: DiscordMessage, edited: boolean, showTyping: (turn: string) => void, known?: Place): Promise<void> {
    const botId = this.d.botId();
    if (!botId) throw new Error('message before READY');
    const dropped = screen(m, botId, edited);
    if (dropped) {
      if (dropped.audit) await this.audit(dropped.audit, `discord:${m.channel_id}/${m.id}`, { reason: dropped.reason });
      // Handled: a catch-up need not fetch it again. Only channels we already talk in are remembered.
      const p = known ?? this.d.memory.place(m.channel_id);
      if (p) await this.d.memory.seen(m.channel_id, m.id, p, false);
      return;
    }
    const place = known && whole(known) ? known : await this.locate(m, known);
    const verdict = toChannelEvent(m, {
      eventId: newEventId(),
      account: this.d.deps.name,
      botId,
      place,
      replyToBot: await this.repliesToBot(m, botId),
      // Messages fetched for a catch-up carry no guild_id: the place knows it.
      botRoleId: this.botRole(m.guild_id ?? place.guildId, botId),
      names: this.names(m.guild_id ?? place.guildId),
      edited,
      ...(this.d.deps.config.assistant ? { assistant: this.d.deps.config.assistant } : {}),
      receivedAt: new Date(this.d.deps.now()).toISOString(),
    });
    if (verdict.ok === false) {
      if (verdict.audit) await this.audit(verdict.audit, `discord:${m.channel_id}/${m.id}`, { reason: verdict.reason });
      await this.d.memory.seen(m.channel_id, m.id, place, false);
      return;
    }
    const io = this.d.io();
    if (!io) throw new Error('connector stopped');
    const addressed = !edited && this.addressed(verdict.event);
    // A duplicate is published (the worker dedupes it) but shows no "typing…": no second answer will end it.
    const again = this.d.memory.handled(m.channel_id, m.id);
    if (addressed && !again && (await admittedNow(this.d.deps.gateway.access, this.d.deps.access, verdict.event))) showTyping(dedupeKey(verdict.event));
    let published: ChannelEvent | undefined;
    try {
      // Tried until stored (the database locked past its deadline): the message exists nowhere else in this process,
      // and the channel's later messages, which wait behind it, would move its memory past it.
      [published] = await this.retried('publishing a message', m.channel_id, () => io.publish([verdict.event]));
    } catch (error) {
      // Refused by the event schema: already audited by publish. A stop meanwhile leaves the channel's memory where
      // it was, so the next catch-up fetches this message again.
      if (!(error instanceof InvalidPayloadError)) {
        this.d.typing.stop(m.channel_id);
        throw error;
      }
    }
    await this.d.memory.seen(m.channel_id, m.id, place, published !== undefined && addressed);
  }

  /**
   * DM or guild channel, thread or not: from the payload's channel_type, else what we know, else the Channel object.
   * A thread's parent is not in the payload: it comes from what we know or the Channel object. A thread known
   * without its parent (a partial channel in the cache, a lookup that failed) is looked up again: its parent's
   * allowlist entry admits it, and one bad lookup must not refuse it for good. What we know of a channel is never
   * downgraded: a message fetched for a catch-up carries no guild_id, and must not make a guild thread a DM.
   */
  private async locate(m: DiscordMessage, remembered?: Place): Promise<Place> {
    if (m.channel_type !== undefined && !THREAD_TYPES.has(m.channel_type)) return placeOf(m.channel_type, m.guild_id);
    const known = remembered ?? this.d.memory.place(m.channel_id);
    if (known && whole(known)) return known;
    const guildId = m.guild_id ?? known?.guildId;
    if (!guildId) return { kind: 'dm', thread: false };
    const channel = this.d.client.channels.cache.get(m.channel_id);
    const cached = channel ? placeOf(channel.type, guildId, 'parentId' in channel ? channel.parentId : undefined) : undefined;
    if (cached && whole(cached)) return cached;
    const fetched = channelSchema.safeParse(await this.d.client.rest.get(Routes.channel(m.channel_id)).catch(() => undefined));
    if (fetched.success) return placeOf(fetched.data.type, guildId, fetched.data.parent_id);
    return known ?? cached ?? (m.channel_type !== undefined ? placeOf(m.channel_type, guildId) : { kind: 'channel', thread: false, guildId });
  }

  /** Whether the message replies to one of the bot's own: the payload's referenced_message, else cache, else REST. */
  private async repliesToBot(m: DiscordMessage, botId: string): Promise<boolean> {
    const id = repliedMessageId(m);
    if (!id) return false;
    if (m.referenced_message !== undefined) return m.referenced_message?.author.id === botId; // null: deleted
    const channel = this.d.client.channels.cache.get(m.channel_id);
    const cached = channel?.isTextBased() ? channel.messages.cache.get(id) : undefined;
    if (cached) return cached.author.id === botId;
    const fetched = authoredSchema.safeParse(await this.d.client.rest.get(Routes.channelMessage(m.channel_id, id)).catch(() => undefined));
    return fetched.success && fetched.data.author.id === botId;
  }

  /** The group gate's rule (DESIGN "Groups, every platform"): a DM, a mention entity, a reply to the bot, or requireMention off. */
  private addressed(e: Pick<ChannelEventInput, 'sender' | 'conversation' | 'mentionsBot' | 'replyTo'>): boolean {
    if (e.sender.isBot) return false;
    if (e.conversation.kind === 'dm') return true;
    return e.mentionsBot || e.replyTo?.toBot === true || this.d.deps.gateway.channels[`discord:${e.conversation.id}`]?.requireMention === false;
  }

  /** `attempt` until it succeeds, waiting longer after each failure; not a refusal for good, nor past a stop. */
  private async retried<T>(what: string, channelId: string, attempt: () => Promise<T>): Promise<T> {
    for (let n = 0; ; n++) {
      try {
        return await attempt();
      } catch (error) {
        if (error instanceof InvalidPayloadError || refusedForGood(error) || this.d.halting.aborted) throw error;
        this.d.deps.log.warn({ channel: channelId, attempt: n + 1, error: String(error) }, `${what} failed; retrying`);
        await sleep(Math.min(MAX_RETRY_WAIT_MS, 250 * 2 ** n), undefined, { signal: this.d.halting }).catch(() => undefined);
        if (this.d.halting.aborted) throw error;
      }
    }
  }

  private failed(error: unknown, m: DiscordMessage): void {
    this.d.deps.log.error({ channel: m.channel_id, message: m.id, error: String(error) }, 'inbound message not published');
  }
}
