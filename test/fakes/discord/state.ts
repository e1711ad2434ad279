import { readFileSync } from 'node:fs';

/** Loads a documented payload from test/fixtures/discord as a fresh, mutable copy. */
export function fixture<T = Record<string, unknown>>(name: string): T {
  return JSON.parse(readFileSync(new URL(`../../fixtures/discord/${name}.json`, import.meta.url), 'utf8')) as T;
}

export type Json = Record<string, unknown>;

export interface DiscordUser {
  id: string;
  username: string;
  global_name?: string | null;
  discriminator?: string;
  bot?: boolean;
}

export interface FakeChannel extends Json {
  id: string;
  type: number;
  guild_id?: string;
  parent_id?: string;
}

/** One POST /channels/:id/messages as the fake saw it, before nonce dedupe decided anything. */
export interface RecordedPost {
  channelId: string;
  body: Json;
  /** The message id answered: a duplicate nonce answers the original's id. */
  messageId: string;
  deduped: boolean;
  at: number;
}

const DISCORD_EPOCH = 1_420_070_400_000n;

/**
 * What the fake platform knows: channels, every channel's messages in id order, posts, typing, and the 429s the test
 * asked for. Snowflakes are real ones (time in the high bits), so "after <id>" means what it means on Discord.
 */
export class FakeDiscordState {
  readonly bot: DiscordUser = { id: '80351110224678912', username: 'MonkeyClaw', global_name: null, discriminator: '0', bot: true };
  readonly channels = new Map<string, FakeChannel>();
  readonly messages = new Map<string, Json[]>();
  /** Every successful PATCH of a message, in order. */
  readonly edits: Array<{ channelId: string; messageId: string; content: string; at: number }> = [];
  readonly posts: RecordedPost[] = [];
  readonly typing: Array<{ channelId: string; at: number }> = [];
  /** Every REST request: when it arrived, when it was answered, with what status. */
  readonly requests: Array<{ method: string; path: string; arrived: number; at: number; status: number }> = [];
  readonly rateLimits: Array<{ method: string; pattern: RegExp; retryAfter: number; global: boolean }> = [];
  /** Requests answered with a server error instead, each entry once. */
  readonly failures: Array<{ method: string; pattern: RegExp; status: number }> = [];
  readonly nonces = new Map<string, { messageId: string; at: number }>();
  /** Intents the application may not use (e.g. 1 << 15, Message Content, not enabled in the portal): IDENTIFY gets 4014. */
  disallowedIntents = 0;
  /** Called for every message the bot posts: real Discord echoes the bot's own messages on the gateway. */
  onBotMessage: (message: Json) => void = () => undefined;
  private counter = 0n;

  constructor(readonly token: string) {}

  snowflake(at = Date.now()): string {
    this.counter = (this.counter + 1n) & 0xfffn;
    return (((BigInt(at) - DISCORD_EPOCH) << 22n) | this.counter).toString();
  }

  addChannel(channel: FakeChannel): FakeChannel {
    this.channels.set(channel.id, channel);
    if (!this.messages.has(channel.id)) this.messages.set(channel.id, []);
    return channel;
  }

  /** Stores a message in its channel's history (kept in id order), as Discord would once it is posted. */
  store(message: Json): Json {
    const list = this.messages.get(message.channel_id as string) ?? [];
    list.push(message);
    list.sort((a, b) => (BigInt(a.id as string) < BigInt(b.id as string) ? -1 : 1));
    this.messages.set(message.channel_id as string, list);
    return message;
  }

  find(channelId: string, messageId: string): Json | undefined {
    return this.messages.get(channelId)?.find((m) => m.id === messageId);
  }

  /** The message object Discord returns for a bot post (the documented example with this post's fields). */
  botMessage(channelId: string, body: Json): Json {
    const base = fixture<Json>('message');
    const channel = this.channels.get(channelId);
    const reference = body.message_reference as Json | undefined;
    const referenced = reference ? this.find(channelId, reference.message_id as string) : undefined;
    return {
      ...base,
      reactions: [],
      id: this.snowflake(),
      channel_id: channelId,
      ...(channel?.guild_id ? { guild_id: channel.guild_id } : {}),
      author: { ...this.bot },
      content: body.content,
      timestamp: new Date().toISOString(),
      mentions: [],
      nonce: body.nonce,
      type: referenced ? 19 : 0,
      ...(referenced ? { message_reference: { type: 0, message_id: referenced.id, channel_id: channelId }, referenced_message: referenced } : {}),
    };
  }
}
